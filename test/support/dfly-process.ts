/**
 * A dfly service (`dfly control|nic|netisr`) as a local process of the built CLI
 * (services/cli/dist/main.js), configured through the services' DFLY_* contract, metrics on a free
 * 127.0.0.1 port. `start` waits for /readyz (or /healthz with `until: "healthz"`).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { freePort, repoRoot } from "./docker.js";

export interface DflyProcess {
  readonly kind: string;
  readonly metricsPort: number;
  readonly metricsUrl: string;
  readonly pid: number;
  log(): string;
  running(): boolean;
  /** SIGTERM (default) or SIGKILL; resolves once it exited. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

async function waitHttp(url: string, ok: () => boolean, timeoutMs: number, log: () => string): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (!ok()) throw new Error(`process exited before ${url} answered:\n${log()}`);
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (r.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > end) throw new Error(`${url} did not answer 200 within ${timeoutMs} ms:\n${log()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function startDfly(kind: "control" | "nic" | "netisr", env: Record<string, string>, o: { until?: "readyz" | "healthz"; timeoutMs?: number } = {}): Promise<DflyProcess> {
  const metricsPort = env.DFLY_METRICS_PORT ? Number(env.DFLY_METRICS_PORT) : await freePort();
  let out = "";
  const child: ChildProcess = spawn(process.execPath, [join(repoRoot, "services/cli/dist/main.js"), kind], {
    env: { ...process.env, DFLY_METRICS_HOST: "127.0.0.1", ...env, DFLY_METRICS_PORT: String(metricsPort) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const onData = (d: Buffer) => {
    out = (out + d.toString()).slice(-16_000);
  };
  child.stdout!.on("data", onData);
  child.stderr!.on("data", onData);
  const running = () => child.exitCode === null && child.signalCode === null;
  const p: DflyProcess = {
    kind,
    metricsPort,
    metricsUrl: `http://127.0.0.1:${metricsPort}`,
    pid: child.pid!,
    log: () => out,
    running,
    stop: (signal: NodeJS.Signals = "SIGTERM") =>
      new Promise<void>((res) => {
        if (!running()) return res();
        child.once("exit", () => res());
        child.kill(signal);
      }),
  };
  try {
    await waitHttp(`${p.metricsUrl}/${o.until ?? "readyz"}`, running, o.timeoutMs ?? 30_000, p.log);
  } catch (err) {
    await p.stop("SIGKILL");
    throw err;
  }
  return p;
}
