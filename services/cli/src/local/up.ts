/**
 * `dfly up` / `dfly down`: the services as separate processes on this machine — a
 * nats-server with JetStream (unless a URL is given), the control, the NIC and N netisr
 * CPUs — all on 127.0.0.1. State (pids, ports, logs) lives in a state directory (default
 * `.dfly/` in the working directory); `down` stops exactly the processes `up` recorded
 * there (checking each pid still runs what was started), the netisr CPUs first, NATS last.
 */
import { spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { freePort } from "./freeport.js";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { ControlClient } from "@dfly/control";
import { readContext, removeContext } from "./context.js";
import { makeSecure, NatsRoles, secureEnv, type SecureFiles } from "./secure.js";

export interface UpOptions {
  cpus: number;
  natsUrl?: string;
  stateDir?: string;
  cluster?: string;
  ifnames?: string[];
  model?: string;
  mode?: "interrupt" | "polling";
  rings?: number;
  /** Add the connected route of each interface (198.18.<unit>.0/24 dev ixU). Default true. */
  connectedRoutes?: boolean;
  timeoutMs?: number;
  /** NATS users with per-role permissions, a control token and TLS (generated into `<state>/secure`). */
  secure?: boolean;
  log?: (s: string) => void;
}

export interface ProcRecord {
  name: string;
  pid: number;
  /** Words the process's command line must contain (checked before signalling it). */
  match: string;
  log: string;
  metrics?: string;
}

export interface UpState {
  cluster: string;
  natsUrl: string;
  controlAddr: string;
  cpus: number;
  startedAt: string;
  processes: ProcRecord[];
  /** `--secure`: the directory of its credentials. */
  secureDir?: string;
}

export class LocalClusterError extends Error {
  override readonly name = "LocalClusterError";
}

const STATE_FILE = "state.json";

export function stateDirOf(dir?: string): string {
  return resolve(dir ?? process.env.DFLY_STATE_DIR ?? ".dfly");
}

export function readState(dir: string): UpState | undefined {
  const f = join(dir, STATE_FILE);
  if (!existsSync(f)) return undefined;
  try {
    return JSON.parse(readFileSync(f, "utf8")) as UpState;
  } catch (err) {
    throw new LocalClusterError(`${f} is not valid JSON (${(err as Error).message}); remove it after checking no process of it runs`);
  }
}

/** True when `pid` runs and its command line contains `match`. */
export function isOurs(pid: number, match: string): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").includes(match);
  } catch {
    return false; // no /proc: refuse to signal what cannot be identified
  }
}

/** The compiled CLI (services/cli/dist/main.js) the service processes run. */
function cliMain(): string {
  const p = join(dirname(createRequire(import.meta.url).resolve("@dfly/cli")), "main.js");
  if (!existsSync(p)) throw new LocalClusterError(`${p} is missing: run "make build"`);
  return p;
}

async function waitHttp(url: string, deadline: number, what: string, logFile: string): Promise<void> {
  for (;;) {
    try {
      const r = await fetch(url);
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new LocalClusterError(`${what} not ready at ${url}; see ${logFile}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function up(o: UpOptions): Promise<UpState> {
  const log = o.log ?? (() => undefined);
  if (!Number.isInteger(o.cpus) || o.cpus < 1 || o.cpus > 64) throw new LocalClusterError(`--cpus ${o.cpus}: want 1..64`);
  const dir = stateDirOf(o.stateDir);
  const prev = readState(dir);
  if (prev) {
    const live = prev.processes.filter((p) => isOurs(p.pid, p.match));
    if (live.length > 0) throw new LocalClusterError(`already up (${live.map((p) => `${p.name} pid ${p.pid}`).join(", ")}); run "dfly down" first`);
  }
  mkdirSync(join(dir, "logs"), { recursive: true });
  const cluster = o.cluster ?? "dfly";
  const deadline = Date.now() + (o.timeoutMs ?? 30_000);
  const procs: ProcRecord[] = [];
  const state: UpState = { cluster, natsUrl: "", controlAddr: "", cpus: o.cpus, startedAt: new Date().toISOString(), processes: procs };
  const save = () => writeFileSync(join(dir, STATE_FILE), JSON.stringify(state, null, 2) + "\n");
  const start = (name: string, cmd: string, args: string[], env: NodeJS.ProcessEnv, match: string): ProcRecord => {
    const logFile = join(dir, "logs", `${name}.log`);
    const fd = openSync(logFile, "a");
    const child = spawn(cmd, args, { detached: true, stdio: ["ignore", fd, fd], env });
    closeSync(fd);
    child.unref();
    if (child.pid === undefined) throw new LocalClusterError(`could not start ${name} (${cmd})`);
    const rec: ProcRecord = { name, pid: child.pid, match, log: logFile };
    procs.push(rec);
    save();
    return rec;
  };
  let sec: SecureFiles | undefined;
  if (o.secure) {
    if (o.natsUrl) throw new LocalClusterError("--secure starts its own nats-server with the generated users; drop --nats");
    sec = makeSecure(join(dir, "secure"), cluster);
    state.secureDir = sec.dir;
  }
  const role = (r: keyof typeof NatsRoles) => (sec ? secureEnv(sec, NatsRoles[r]) : {});
  try {
    let natsUrl = o.natsUrl;
    if (!natsUrl) {
      const which = spawnSync("sh", ["-c", "command -v nats-server || ls /usr/sbin/nats-server 2>/dev/null"], { encoding: "utf8" });
      const exe = which.stdout.trim().split("\n")[0];
      if (!exe) throw new LocalClusterError("nats-server is not installed: run scripts/setup-machine.sh, or pass --nats URL");
      const port = await freePort();
      const monitor = await freePort();
      const conf = sec ? ["-c", sec.natsConf] : [];
      start("nats", exe, [...conf, "-js", "-a", "127.0.0.1", "-p", String(port), "-m", String(monitor), "-sd", join(dir, "nats")], process.env, "nats-server");
      natsUrl = `nats://127.0.0.1:${port}`;
      await waitHttp(`http://127.0.0.1:${monitor}/healthz`, deadline, "nats-server", join(dir, "logs", "nats.log"));
      log(`nats-server: ${natsUrl}`);
    }
    state.natsUrl = natsUrl;
    // No Prometheus scrapes a local stack: a leaving CPU lingers only to forward the frames
    // still steered to it by the old epoch (500 ms), not for a last scrape (the user's own
    // DFLY_DRAIN_LINGER_MS still wins).
    const base = { DFLY_DRAIN_LINGER_MS: "500", ...process.env, DFLY_NATS_URL: natsUrl, DFLY_CLUSTER: cluster, DFLY_METRICS_HOST: "127.0.0.1" };
    const grpcPort = await freePort();
    const controlMetrics = await freePort();
    state.controlAddr = `127.0.0.1:${grpcPort}`;
    const c = start(
      "control",
      process.execPath,
      [cliMain(), "control"],
      { ...base, ...role("control"), DFLY_GRPC_HOST: "127.0.0.1", DFLY_GRPC_PORT: String(grpcPort), DFLY_METRICS_PORT: String(controlMetrics) },
      "main.js control",
    );
    c.metrics = `127.0.0.1:${controlMetrics}`;
    await waitHttp(`http://${c.metrics}/healthz`, deadline, "control", c.log);
    const withControl = { ...base, DFLY_CONTROL_ADDR: state.controlAddr };
    const nicMetrics = await freePort();
    const nic = start(
      "nic",
      process.execPath,
      [cliMain(), "nic"],
      {
        ...withControl,
        ...role("nic"),
        DFLY_METRICS_PORT: String(nicMetrics),
        DFLY_IFNAME: (o.ifnames ?? ["ix0", "ix1"]).join(","),
        ...(o.model ? { DFLY_NIC_MODEL: o.model } : {}),
        ...(o.mode ? { DFLY_NIC_MODE: o.mode } : {}),
        ...(o.rings ? { DFLY_NIC_RINGS: String(o.rings) } : {}),
      },
      "main.js nic",
    );
    nic.metrics = `127.0.0.1:${nicMetrics}`;
    for (let cpu = 0; cpu < o.cpus; cpu++) {
      const port = await freePort();
      const p = start(`netisr-${cpu}`, process.execPath, [cliMain(), "netisr"], { ...withControl, ...role("netisr"), DFLY_CPU: String(cpu), DFLY_METRICS_PORT: String(port) }, "main.js netisr");
      p.metrics = `127.0.0.1:${port}`;
    }
    save();
    for (const p of procs.filter((x) => x.name.startsWith("netisr-") || x.name === "nic")) {
      await waitHttp(`http://${p.metrics}/readyz`, deadline, p.name, p.log);
    }
    if (o.connectedRoutes ?? true) {
      const client = new ControlClient(state.controlAddr, 10_000, sec ? { ca: readFileSync(sec.controlCa), token: readFileSync(sec.controlToken, "utf8") } : {});
      try {
        const have = new Set((await client.listRoutes()).routes.map((r) => r.prefix));
        for (const ifname of o.ifnames ?? ["ix0", "ix1"]) {
          const unit = Number(/(\d+)$/.exec(ifname)?.[1] ?? 0);
          const prefix = `198.18.${unit & 0xff}.0/24`;
          if (!have.has(prefix)) await client.addRoute({ prefix, ifname });
        }
      } finally {
        client.close();
      }
    }
    return state;
  } catch (err) {
    await down({ stateDir: dir, log });
    throw err;
  }
}

export interface DownResult {
  stopped: string[];
  gone: string[];
}

/**
 * Stops what `up` recorded: SIGTERM, then SIGKILL after `graceMs`. The state directory is
 * `stateDir`, else $DFLY_STATE_DIR, else the current context's (./context.ts), else `.dfly`;
 * the context goes with the stack.
 */
export async function down(o: { stateDir?: string; graceMs?: number; log?: (s: string) => void }): Promise<DownResult> {
  const dir = o.stateDir || process.env.DFLY_STATE_DIR ? stateDirOf(o.stateDir) : stateDirOf(readContext()?.stateDir);
  const st = readState(dir);
  const res: DownResult = { stopped: [], gone: [] };
  if (!st) {
    removeContext(dir);
    return res;
  }
  const order = [...st.processes].sort((a, b) => rank(a.name) - rank(b.name));
  for (const p of order) {
    if (!isOurs(p.pid, p.match)) {
      res.gone.push(p.name);
      continue;
    }
    process.kill(p.pid, "SIGTERM");
    const end = Date.now() + (o.graceMs ?? 5000);
    while (isOurs(p.pid, p.match) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    if (isOurs(p.pid, p.match)) process.kill(p.pid, "SIGKILL");
    res.stopped.push(p.name);
    o.log?.(`stopped ${p.name} (pid ${p.pid})`);
  }
  rmSync(join(dir, STATE_FILE), { force: true });
  removeContext(dir);
  return res;
}

function rank(name: string): number {
  if (name.startsWith("netisr-")) return 0;
  if (name === "nic") return 1;
  if (name === "control") return 2;
  return 3;
}
