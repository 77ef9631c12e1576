/** Picks the transport from configuration: NATS when a URL is given (`natsUrl` or DFLY_NATS_URL), else the in-process mesh. */
import { readFileSync } from "node:fs";
import { kvReplicasFromEnv, MAX_KV_REPLICAS, ServiceEnvError } from "@dfly/service";
import { connectInproc, InprocHub, type InprocLink } from "./inproc.js";
import { NatsTransport } from "./nats.js";
import type { Transport } from "./transport.js";

export interface TransportConfig {
  /** `nats://host:port`; default `process.env.DFLY_NATS_URL`. Empty string forces in-process. */
  natsUrl?: string;
  /** Connection name (NATS). */
  name?: string;
  /** NATS: replicas of the KV buckets this transport creates (1..5); default DFLY_KV_REPLICAS, else 1. */
  kvReplicas?: number;
  /** In-process: the link a worker received from the hub (workerData). */
  link?: InprocLink;
  /** In-process: the hub to join from this thread (default: `defaultHub()`). */
  hub?: InprocHub;
}

let processHub: InprocHub | undefined;

/** The main thread's hub for embedded mode (one per process, created on first use). */
export function defaultHub(): InprocHub {
  return (processHub ??= new InprocHub());
}

/** NATS credentials from the environment: DFLY_NATS_USER with DFLY_NATS_PASSWORD or DFLY_NATS_PASSWORD_FILE (a mounted Secret), DFLY_NATS_CA (TLS). */
export function natsAuthFromEnv(env: NodeJS.ProcessEnv = process.env): { user?: string; pass?: string; tlsCa?: string } {
  const pass = env.DFLY_NATS_PASSWORD || (env.DFLY_NATS_PASSWORD_FILE ? readSecretFile("DFLY_NATS_PASSWORD_FILE", env.DFLY_NATS_PASSWORD_FILE) : undefined);
  return {
    ...(env.DFLY_NATS_USER ? { user: env.DFLY_NATS_USER, pass: pass ?? "" } : {}),
    ...(env.DFLY_NATS_CA ? { tlsCa: env.DFLY_NATS_CA } : {}),
  };
}

function readSecretFile(name: string, path: string): string {
  try {
    return readFileSync(path, "utf8").trim();
  } catch (err) {
    throw new ServiceEnvError(`${name}=${path}: ${(err as Error).message}`);
  }
}

export async function createTransport(config: TransportConfig = {}): Promise<Transport> {
  const url = config.natsUrl ?? process.env.DFLY_NATS_URL ?? "";
  if (url !== "") {
    const kvReplicas = config.kvReplicas ?? kvReplicasFromEnv(process.env);
    if (!Number.isInteger(kvReplicas) || kvReplicas < 1 || kvReplicas > MAX_KV_REPLICAS)
      throw new ServiceEnvError(`kvReplicas ${kvReplicas} is not an integer in 1..${MAX_KV_REPLICAS}`);
    return NatsTransport.connect({ url, kvReplicas, ...natsAuthFromEnv(), ...(config.name ? { name: config.name } : {}) });
  }
  if (config.link) return connectInproc(config.link);
  return (config.hub ?? defaultHub()).connect();
}
