/** The run loop of every service process: connect the transport, start the parts, wait for SIGTERM/SIGINT, stop, close. */
import type { ServiceBaseConfig } from "./env.js";

/** What runService needs of a transport: `@dfly/transport`'s createTransport and Transport. */
export interface ServiceTransport {
  close(): Promise<void>;
}
export type ConnectTransport<T extends ServiceTransport> = (config: { natsUrl: string; name: string; kvReplicas: number }) => Promise<T>;

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

export interface RunServiceOptions<T extends ServiceTransport, H> {
  base: Pick<ServiceBaseConfig, "natsUrl" | "kvReplicas">;
  connect: ConnectTransport<T>;
  connName: string;
  /** Starts the service's parts over the transport (the transport is closed if this throws). */
  start(transport: T): Promise<H>;
  started(h: H, transport: T): void;
  stopping(sig: NodeJS.Signals): void;
  /** Stops the parts; the transport is closed afterwards. */
  stop(h: H): Promise<void>;
}

/** Runs one service process until SIGTERM/SIGINT; resolves once it has stopped and closed its transport. */
export async function runService<T extends ServiceTransport, H>(o: RunServiceOptions<T, H>): Promise<void> {
  const transport = await o.connect({ natsUrl: o.base.natsUrl ?? "", name: o.connName, kvReplicas: o.base.kvReplicas });
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
