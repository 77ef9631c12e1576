/**
 * A real nats-server (Debian's binary) with JetStream on a free 127.0.0.1 port,
 * storage in a temp dir. `restart()` keeps the storage (JetStream state survives).
 * Fails with a clear message when nats-server is not installed
 * (scripts/setup-machine.sh installs it).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./docker.js";

export interface NatsProcess {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
  restart(): Promise<void>;
}

/** Re-exported: tests import it from here next to startNatsProcess. */
export { freePort };

function bin(): string {
  const r = spawnSync("sh", ["-c", "command -v nats-server || ls /usr/sbin/nats-server"], { encoding: "utf8" });
  const path = r.stdout.trim().split("\n")[0];
  if (!path) throw new Error("nats-server is not installed: run scripts/setup-machine.sh (apt-get install nats-server)");
  return path;
}

export async function startNatsProcess(): Promise<NatsProcess> {
  const exe = bin();
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "dfly-nats-"));
  let child: ChildProcess | undefined;

  const start = async () => {
    const c = spawn(exe, ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", dir], { stdio: ["ignore", "pipe", "pipe"] });
    child = c;
    let log = "";
    await new Promise<void>((res, rej) => {
      const onData = (d: Buffer) => {
        log += d.toString();
        if (log.includes("Server is ready")) res();
      };
      c.stdout!.on("data", onData);
      c.stderr!.on("data", onData);
      c.once("exit", (code) => rej(new Error(`nats-server exited (${code}) before ready:\n${log}`)));
      setTimeout(() => rej(new Error(`nats-server not ready within 10 s:\n${log}`)), 10_000).unref();
    });
  };
  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((res) => {
      c.once("exit", () => res());
      c.kill("SIGTERM");
    });
  };
  await start();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    restart: async () => {
      await stop();
      await start();
    },
    stop: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
