/**
 * `dfly control`: configuration from the environment (flags override), the
 * parts, the servers, and a drain on SIGTERM/SIGINT.
 */
import { createTransport, DEFAULT_CLUSTER } from "@dfly/transport";
import { ListenerPolicy } from "@dfly/core";
import { startControl, type ControlHandle } from "./control.js";
import { parseListenerPolicy } from "./listeners.js";

export interface ControlConfig {
  cluster: string;
  natsUrl: string | undefined;
  grpcHost: string;
  grpcPort: number;
  metricsPort: number;
  heartbeatMs: number;
  cpuTimeoutMs: number;
  /** DFLY_LISTENER_POLICY: dragonfly (default) | linux | linux_migrate_req. */
  listenerPolicy: ListenerPolicy;
}

function int(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined || v === "") return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535 * 1000) throw new Error(`${name}=${v} is not a non-negative integer`);
  return n;
}

export function controlConfigFromEnv(env: NodeJS.ProcessEnv = process.env): ControlConfig {
  return {
    cluster: env.DFLY_CLUSTER || DEFAULT_CLUSTER,
    natsUrl: env.DFLY_NATS_URL || undefined,
    grpcHost: env.DFLY_GRPC_HOST || "0.0.0.0",
    grpcPort: int("DFLY_GRPC_PORT", env.DFLY_GRPC_PORT, 50051),
    metricsPort: int("DFLY_METRICS_PORT", env.DFLY_METRICS_PORT, 9463),
    heartbeatMs: int("DFLY_HEARTBEAT_MS", env.DFLY_HEARTBEAT_MS, 1000),
    cpuTimeoutMs: int("DFLY_CPU_TIMEOUT_MS", env.DFLY_CPU_TIMEOUT_MS, 5000),
    listenerPolicy: parseListenerPolicy(env.DFLY_LISTENER_POLICY, ListenerPolicy.DRAGONFLY),
  };
}

/** Runs the control service until SIGTERM/SIGINT; resolves after the drain. */
export async function main(cfg: ControlConfig = controlConfigFromEnv(), log: (s: string) => void = (s) => console.error(s)): Promise<void> {
  const transport = await createTransport({ natsUrl: cfg.natsUrl ?? "", name: "dfly-control" });
  let handle: ControlHandle;
  try {
    handle = await startControl({
      transport,
      cluster: cfg.cluster,
      grpcHost: cfg.grpcHost,
      grpcPort: cfg.grpcPort,
      metricsHost: cfg.grpcHost,
      metricsPort: cfg.metricsPort,
      heartbeatMs: cfg.heartbeatMs,
      cpuTimeoutMs: cfg.cpuTimeoutMs,
      listenerPolicy: cfg.listenerPolicy,
    });
  } catch (err) {
    await transport.close();
    throw err;
  }
  log(`dfly control: gRPC ${handle.grpcAddr}, metrics ${handle.metricsAddr ?? "off"}, transport ${transport.kind}, cluster ${cfg.cluster}`);
  await new Promise<void>((res) => {
    const stop = (sig: string) => {
      log(`dfly control: ${sig}, draining`);
      process.off("SIGTERM", onTerm);
      process.off("SIGINT", onInt);
      res();
    };
    const onTerm = () => stop("SIGTERM");
    const onInt = () => stop("SIGINT");
    process.on("SIGTERM", onTerm);
    process.on("SIGINT", onInt);
  });
  await handle.stop(5000);
  await transport.close();
  log("dfly control: stopped");
}
