/**
 * nats-server processes (Debian's binary) with JetStream on free 127.0.0.1 ports: one server, or a
 * cluster of N with routes to each other, as the chart's bundled StatefulSet configures them (server
 * names, a monitor port each, a store dir each). `stop(i)` / `start(i)` take one server down and back
 * with its store kept; `waitHealthy()` waits for the monitor's full /healthz (JetStream included).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./docker.js";

export interface NatsServer {
  readonly name: string;
  readonly port: number;
  readonly clusterPort: number;
  readonly monitorPort: number;
  readonly url: string;
  readonly monitorUrl: string;
}

export interface NatsCluster {
  readonly servers: readonly NatsServer[];
  /** Every server's client URL, comma-separated (what DFLY_NATS_URL takes). */
  readonly url: string;
  start(i: number): Promise<void>;
  /** SIGTERM (default) or SIGKILL; resolves once the process exited. */
  stop(i: number, signal?: NodeJS.Signals): Promise<void>;
  running(i: number): boolean;
  /** GET <monitor>/<path> as JSON. */
  monitor<T = Record<string, unknown>>(i: number, path: string): Promise<T>;
  /**
   * Resolves once every running server's full /healthz answers 200 and, in a cluster, its /jsz names a
   * JetStream meta leader; throws after timeoutMs with what each server said. `js-enabled-only` is not
   * enough: it answers 200 before the meta group has elected a leader, and until then every JetStream
   * API call (a KV bucket's create) times out.
   */
  waitHealthy(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

function bin(): string {
  const r = spawnSync("sh", ["-c", "command -v nats-server || ls /usr/sbin/nats-server"], { encoding: "utf8" });
  const p = r.stdout.trim().split("\n")[0];
  if (!p) throw new Error("nats-server is not installed: run scripts/setup-machine.sh (apt-get install nats-server)");
  return p;
}

export async function startNatsCluster(o: { size?: number; name?: string } = {}): Promise<NatsCluster> {
  const exe = bin();
  const size = o.size ?? 1;
  const cname = o.name ?? "dfly-test";
  const dir = mkdtempSync(join(tmpdir(), "dfly-natsc-"));
  const servers: NatsServer[] = [];
  for (let i = 0; i < size; i++) {
    const port = await freePort();
    const clusterPort = await freePort();
    const monitorPort = await freePort();
    servers.push({ name: `${cname}-${i}`, port, clusterPort, monitorPort, url: `nats://127.0.0.1:${port}`, monitorUrl: `http://127.0.0.1:${monitorPort}` });
  }
  const procs: (ChildProcess | undefined)[] = servers.map(() => undefined);
  const confs = servers.map((s, i) => {
    const lines = [
      `server_name: ${s.name}`,
      `listen: 127.0.0.1:${s.port}`,
      `http: 127.0.0.1:${s.monitorPort}`,
      `jetstream { store_dir: "${join(dir, s.name)}" }`,
    ];
    if (size > 1)
      lines.push(`cluster { name: ${cname}, listen: 127.0.0.1:${s.clusterPort}, connect_retries: 120, routes: [${servers.map((r) => `nats://127.0.0.1:${r.clusterPort}`).join(", ")}] }`);
    const f = join(dir, `s${i}.conf`);
    writeFileSync(f, lines.join("\n") + "\n");
    return f;
  });

  const start = async (i: number) => {
    if (procs[i] && procs[i]!.exitCode === null) return;
    const c = spawn(exe, ["-c", confs[i]!], { stdio: ["ignore", "pipe", "pipe"] });
    procs[i] = c;
    let log = "";
    await new Promise<void>((res, rej) => {
      const onData = (d: Buffer) => {
        log = (log + d.toString()).slice(-8000);
        if (log.includes("Server is ready")) res();
      };
      c.stdout!.on("data", onData);
      c.stderr!.on("data", onData);
      c.once("exit", (code) => rej(new Error(`nats-server ${servers[i]!.name} exited (${code}) before ready:\n${log}`)));
      setTimeout(() => rej(new Error(`nats-server ${servers[i]!.name} not ready within 15 s:\n${log}`)), 15_000).unref();
    });
  };
  const stop = async (i: number, signal: NodeJS.Signals = "SIGTERM") => {
    const c = procs[i];
    procs[i] = undefined;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((res) => {
      c.once("exit", () => res());
      c.kill(signal);
    });
  };
  const monitor = async <T>(i: number, path: string): Promise<T> => {
    const r = await fetch(`${servers[i]!.monitorUrl}${path}`, { signal: AbortSignal.timeout(10_000) });
    return (await r.json()) as T;
  };
  const cluster: NatsCluster = {
    servers,
    url: servers.map((s) => s.url).join(","),
    start,
    stop,
    running: (i) => procs[i] !== undefined && procs[i]!.exitCode === null,
    monitor,
    waitHealthy: async (timeoutMs = 60_000) => {
      const end = Date.now() + timeoutMs;
      let last = "";
      for (;;) {
        const bad: string[] = [];
        for (let i = 0; i < size; i++) {
          if (!cluster.running(i)) continue;
          try {
            const r = await fetch(`${servers[i]!.monitorUrl}/healthz`, { signal: AbortSignal.timeout(2000) });
            if (r.status !== 200) bad.push(`${servers[i]!.name}: /healthz ${r.status} ${await r.text()}`);
            else if (size > 1) {
              const jsz = (await (await fetch(`${servers[i]!.monitorUrl}/jsz`, { signal: AbortSignal.timeout(2000) })).json()) as { meta_cluster?: { leader?: string } };
              if (!jsz.meta_cluster?.leader) bad.push(`${servers[i]!.name}: no JetStream meta leader yet`);
            }
          } catch (err) {
            bad.push(`${servers[i]!.name}: ${(err as Error).message}`);
          }
        }
        if (bad.length === 0) return;
        last = bad.join("; ");
        if (Date.now() > end) throw new Error(`NATS (JetStream) not ready within ${timeoutMs} ms: ${last}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    },
    close: async () => {
      await Promise.all(servers.map((_, i) => stop(i)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await Promise.all(servers.map((_, i) => start(i)));
  return cluster;
}
