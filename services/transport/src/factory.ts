/**
 * Picks the transport from configuration (STYLE.md §2): NATS when a URL is
 * given (`natsUrl`, else DFLY_NATS_URL), the in-process mesh otherwise.
 */
import { connectInproc, InprocHub, type InprocLink } from "./inproc.js";
import { NatsTransport } from "./nats.js";
import type { Transport } from "./transport.js";

export interface TransportConfig {
  /** `nats://host:port`; default `process.env.DFLY_NATS_URL`. Empty string forces in-process. */
  natsUrl?: string;
  /** Connection name (NATS). */
  name?: string;
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

export async function createTransport(config: TransportConfig = {}): Promise<Transport> {
  const url = config.natsUrl ?? process.env.DFLY_NATS_URL ?? "";
  if (url !== "") return NatsTransport.connect({ url, ...(config.name ? { name: config.name } : {}) });
  if (config.link) return connectInproc(config.link);
  return (config.hub ?? defaultHub()).connect();
}
