/** An in-process transport for one test (no nats-server), closed with its hub by the test's cleanups. */
import { InprocHub } from "@dfly/transport";

export type InprocTransport = Awaited<ReturnType<InprocHub["connect"]>>;

export async function inprocTransport(cleanups: (() => Promise<void>)[]): Promise<InprocTransport> {
  const hub = new InprocHub();
  const t = await hub.connect();
  cleanups.push(async () => {
    await t.close();
    hub.close();
  });
  return t;
}
