/**
 * The run loop every service process (`dfly control|nic|netisr`) shares: connect the transport,
 * start the parts, wait for SIGTERM/SIGINT, stop, close. Configuration: service_env.ts.
 */
import { createTransport } from "./factory.js";
import type { ServiceBaseConfig } from "./service_env.js";
import type { Transport } from "./transport.js";

/** Resolves with the name of the first SIGTERM or SIGINT received, then stops listening. */
export function untilStopSignal(): Promise<NodeJS.Signals> {
  return new Promise((res) => {
    const stop = (sig: NodeJS.Signals) => {
      process.off("SIGTERM", stop);
      process.off("SIGINT", stop);
      res(sig);
    };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
  });
}

export interface RunServiceOptions<H> {
  base: Pick<ServiceBaseConfig, "natsUrl" | "kvReplicas">;
  /** NATS connection name, e.g. `dfly-netisr-3`. */
  connName: string;
  /** Starts the service's parts over the transport (the transport is closed if this throws). */
  start(transport: Transport): Promise<H>;
  /** Called once started (log what runs where). */
  started(h: H, transport: Transport): void;
  /** Called with the signal received, before `stop`. */
  stopping(sig: NodeJS.Signals): void;
  /** Stops the parts; the transport is closed afterwards. */
  stop(h: H): Promise<void>;
}

/** The service process's life: transport, start, wait for SIGTERM/SIGINT, stop, close the transport. */
export async function runService<H>(o: RunServiceOptions<H>): Promise<void> {
  const transport = await createTransport({ natsUrl: o.base.natsUrl ?? "", name: o.connName, kvReplicas: o.base.kvReplicas });
  let h: H;
  try {
    h = await o.start(transport);
  } catch (err) {
    await transport.close();
    throw err;
  }
  o.started(h, transport);
  o.stopping(await untilStopSignal());
  await o.stop(h);
  await transport.close();
}
