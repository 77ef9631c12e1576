/**
 * A real NATS server in a container (testcontainers 11.9.0) from the local `nats:2.9` image that
 * scripts/build-base-images.sh makes from Debian's nats-server (built here on demand; never pulled).
 * Host networking: free 127.0.0.1 ports are picked first and passed on the command line (client and
 * monitoring). Waits for "Server is ready". Fails with a clear message naming scripts/setup-machine.sh
 * when Docker is not available.
 *
 *   const nats = await startNats({ jetstream: true });   // nats.url = nats://127.0.0.1:<port>
 *   ...; await nats.stop();
 */
import { GenericContainer, Wait, type StartedTestContainer } from "testcontainers";
import { ensureBaseImage, freePort, requireDocker } from "./docker.js";

export const NATS_IMAGE = process.env.DFLY_NATS_IMAGE ?? "nats:2.9";

export interface NatsOptions {
  /** Enable JetStream (storage inside the container, kept across restart()). Default true. */
  readonly jetstream?: boolean;
  /** Server name (-n). Default dfly-nats-<port>. */
  readonly name?: string;
  /** Extra nats-server arguments. */
  readonly args?: readonly string[];
}

export interface NatsContainer {
  readonly url: string;
  readonly port: number;
  /** http://127.0.0.1:<monitorPort> (/varz, /jsz, /healthz). */
  readonly monitorUrl: string;
  readonly monitorPort: number;
  readonly container: StartedTestContainer;
  /** Restarts the same container (JetStream state survives) and waits until /healthz is ok. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startNats(opts: NatsOptions = {}): Promise<NatsContainer> {
  await requireDocker();
  await ensureBaseImage(NATS_IMAGE, "nats");
  const port = await freePort();
  const monitorPort = await freePort();
  const jetstream = opts.jetstream ?? true;
  const args = ["-a", "127.0.0.1", "-p", String(port), "-m", String(monitorPort), "-n", opts.name ?? `dfly-nats-${port}`];
  if (jetstream) args.push("-js", "-sd", "/tmp/nats-js");
  args.push(...(opts.args ?? []));
  const container = await new GenericContainer(NATS_IMAGE)
    .withNetworkMode("host")
    .withCommand(args)
    .withWaitStrategy(Wait.forLogMessage(/Server is ready/))
    .withStartupTimeout(30_000)
    .start();
  const monitorUrl = `http://127.0.0.1:${monitorPort}`;
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    monitorUrl,
    monitorPort,
    container,
    restart: async () => {
      await container.restart({ timeout: 5_000 });
      await waitHealthy(monitorUrl, 20_000);
    },
    stop: async () => {
      await container.stop({ timeout: 5_000 });
    },
  };
}

async function waitHealthy(monitorUrl: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const r = await fetch(`${monitorUrl}/healthz`);
      if (r.ok) return;
      last = `HTTP ${r.status} ${await r.text()}`;
    } catch (e) {
      last = String(e);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`NATS at ${monitorUrl} not healthy within ${ms} ms: ${last}`);
}
