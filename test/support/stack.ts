/**
 * dfly services as containers of the project's image (test/support/image.ts), the way the chart runs
 * them: `dfly <service>` entrypoint, uid 1000, read-only root filesystem with a tmpfs /tmp, and here
 * host networking (every port on 127.0.0.1, picked free first and passed through the config contract's
 * env vars). `startService` waits until /healthz answers on the metrics port. A netisr container
 * gets DFLY_DRAIN_LINGER_MS=500 unless `env` sets it.
 */
import { GenericContainer, type StartedTestContainer } from "testcontainers";
import { freePort } from "./docker.js";

export type ServiceKind = "control" | "nic" | "netisr";

/** GenericContainer with a read-only root filesystem (no builder method for it in testcontainers 11). */
class ReadOnlyContainer extends GenericContainer {
  constructor(image: string) {
    super(image);
    this.hostConfig.ReadonlyRootfs = true;
  }
}

export interface ServiceContainer {
  readonly kind: ServiceKind;
  readonly name: string;
  readonly container: StartedTestContainer;
  readonly metricsPort: number;
  readonly metricsUrl: string;
  /** The container's output so far (last 64 KiB). */
  logs(): string;
  /** SIGTERM, wait for the exit (the service drains / deregisters). */
  stop(): Promise<void>;
}

export interface ServiceOptions {
  readonly image: string;
  readonly kind: ServiceKind;
  /** Shown in errors; default the kind. */
  readonly name?: string;
  readonly env: Record<string, string>;
  /** Default: a free port (passed as DFLY_METRICS_PORT). */
  readonly metricsPort?: number;
  readonly args?: readonly string[];
  /** Default 30 s. */
  readonly readyTimeoutMs?: number;
}

export async function startService(o: ServiceOptions): Promise<ServiceContainer> {
  const metricsPort = o.metricsPort ?? (await freePort());
  let log = "";
  const name = o.name ?? o.kind;
  const container = await new ReadOnlyContainer(o.image)
    .withNetworkMode("host")
    .withTmpFs({ "/tmp": "rw,size=64m" })
    // netisr: a 500 ms linger after a drain unless the test asks for another (DFLY_DRAIN_LINGER_MS
    // in o.env) — long enough to forward the frames still steered to it by the old epoch (with 0
    // the e2e scale test's moved connections lost them and stalled in retransmission backoff),
    // short of the 20 s kept for a last Prometheus scrape.
    .withEnvironment({
      DFLY_METRICS_HOST: "127.0.0.1",
      ...(o.kind === "netisr" ? { DFLY_DRAIN_LINGER_MS: "500" } : {}),
      ...o.env,
      DFLY_METRICS_PORT: String(metricsPort),
    })
    .withCommand([o.kind, ...(o.args ?? [])])
    .withLogConsumer((s) => {
      s.on("data", (d: Buffer | string) => {
        log = (log + d.toString()).slice(-65536);
      });
    })
    .withStartupTimeout(30_000)
    .start();
  const metricsUrl = `http://127.0.0.1:${metricsPort}`;
  const svc: ServiceContainer = {
    kind: o.kind,
    name,
    container,
    metricsPort,
    metricsUrl,
    logs: () => log,
    stop: async () => {
      await container.stop({ timeout: 10_000 });
    },
  };
  const deadline = Date.now() + (o.readyTimeoutMs ?? 30_000);
  for (;;) {
    try {
      if ((await fetch(`${metricsUrl}/healthz`)).ok) return svc;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      await container.stop({ timeout: 1_000 }).catch(() => undefined);
      throw new Error(`${name} (${o.image} ${o.kind}) did not serve /healthz on ${metricsUrl}; output:\n${log.slice(-4000)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Polls `url` until it answers 200 (e.g. a netisr /readyz). */
export async function waitHttpOk(url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const r = await fetch(url);
      if (r.ok) return;
      last = `HTTP ${r.status}`;
    } catch (e) {
      last = String(e);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} not OK within ${timeoutMs} ms (${last})`);
}
