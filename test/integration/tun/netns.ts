/**
 * Network namespaces for the TUN tests: every real client or server and the TUN device live
 * in a namespace the test creates and deletes (nothing reaches the host's interfaces). The
 * stack runs as `ip netns exec NS dfly run --tun dfly0 …`, so its device is born there.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const DFLY = fileURLToPath(new URL("../../../services/cli/dist/main.js", import.meta.url));
export const STACK = "198.18.0.1";
export const LINUX = "198.18.0.2";

/** The /bytes/N body from the text: `dfly-netstack\n` repeated and cut at N. */
export function expectedBytes(n: number): Buffer {
  return Buffer.alloc(n, "dfly-netstack\n", "latin1");
}
export const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

function need(cmd: string, pkg: string): void {
  const r = spawnSync("sh", ["-c", `command -v ${cmd}`]);
  if (r.status !== 0) throw new Error(`${cmd} is not installed: scripts/setup-machine.sh installs it (Debian package ${pkg})`);
}

export function requireTools(...tools: [string, string][]): void {
  if (process.getuid?.() !== 0) throw new Error("the TUN tests create network namespaces and TUN devices: run them as root (CI does)");
  if (!existsSync(DFLY)) throw new Error(`${DFLY} is missing: run make build`);
  for (const [cmd, pkg] of [["ip", "iproute2"], ["socat", "socat"], ...tools] as [string, string][]) need(cmd, pkg);
}

let seq = 0;

export class Netns {
  readonly name: string;
  private readonly procs = new Set<ChildProcess>();

  constructor(tag: string) {
    this.name = `dflytun-${tag}-${process.pid}-${seq++}`;
    run("ip", ["netns", "add", this.name]);
    run("ip", ["netns", "exec", this.name, "ip", "link", "set", "lo", "up"]);
  }

  /** Runs a command in the namespace to its end (bounded by `timeoutMs`). */
  exec(cmd: string[], timeoutMs = 60_000, maxBuffer = 256 << 20): { status: number | null; stdout: Buffer; stderr: string } {
    const r = spawnSync("ip", ["netns", "exec", this.name, ...cmd], { timeout: timeoutMs, maxBuffer });
    return { status: r.status, stdout: r.stdout ?? Buffer.alloc(0), stderr: r.stderr?.toString() ?? String(r.error ?? "") };
  }

  /** Starts a command in the namespace; `ready` resolves when its stderr or stdout shows `readyRe`. */
  start(cmd: string[], readyRe?: RegExp, timeoutMs = 60_000): Proc {
    const p = spawn("ip", ["netns", "exec", this.name, ...cmd], { stdio: ["ignore", "pipe", "pipe"] });
    this.procs.add(p);
    return new Proc(p, readyRe, timeoutMs, () => this.procs.delete(p));
  }

  /** Kills what is left and deletes the namespace (its TUN devices go with their processes). */
  async close(): Promise<void> {
    for (const p of this.procs) {
      if (p.exitCode === null && p.signalCode === null) {
        p.kill("SIGKILL");
        await new Promise((r) => p.once("exit", r));
      }
    }
    const pids = spawnSync("ip", ["netns", "pids", this.name], { encoding: "utf8" }).stdout.split(/\s+/).filter(Boolean);
    for (const pid of pids) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {
        // gone
      }
    }
    spawnSync("ip", ["netns", "del", this.name]);
  }
}

export class Proc {
  stdout = "";
  stderr = "";
  readonly ready: Promise<void>;
  readonly exited: Promise<number | null>;

  constructor(
    readonly p: ChildProcess,
    readyRe: RegExp | undefined,
    timeoutMs: number,
    gone: () => void,
  ) {
    this.exited = new Promise((res) =>
      p.once("exit", (code) => {
        gone();
        res(code);
      }),
    );
    this.ready = new Promise<void>((res, rej) => {
      if (!readyRe) return res();
      const t = setTimeout(() => rej(new Error(`not ready in ${timeoutMs} ms: ${this.stderr.slice(-2000)}`)), timeoutMs);
      const check = () => {
        if (readyRe.test(this.stderr) || readyRe.test(this.stdout)) {
          clearTimeout(t);
          res();
        }
      };
      p.stdout!.on("data", (d: Buffer) => {
        this.stdout += d.toString();
        check();
      });
      p.stderr!.on("data", (d: Buffer) => {
        this.stderr += d.toString();
        check();
      });
      void this.exited.then((code) => {
        clearTimeout(t);
        rej(new Error(`exited (${code}) before ready: ${this.stderr.slice(-2000)}`));
      });
    });
    if (!readyRe) {
      p.stdout!.on("data", (d: Buffer) => (this.stdout += d.toString()));
      p.stderr!.on("data", (d: Buffer) => (this.stderr += d.toString()));
    }
  }

  /** SIGTERM and the exit code. */
  async stop(): Promise<number | null> {
    if (this.p.exitCode === null && this.p.signalCode === null) this.p.kill("SIGTERM");
    return this.exited;
  }
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr || r.error}`);
}

/** `dfly run --tun dfly0 …` in `ns`, resolved once it serves. */
export async function startServe(ns: Netns, args: string[] = []): Promise<Proc> {
  const p = ns.start([process.execPath, DFLY, "run", "--tun", "dfly0", "--json", ...args], /dfly serve: 198\.18\.0\.1/);
  await p.ready;
  return p;
}
