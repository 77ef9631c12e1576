/**
 * Ctrl-C stops what a command started: `dfly run --workload http-short --transport nats`
 * interrupted (SIGINT, and SIGTERM) leaves no nats-server and no temporary JetStream store;
 * `dfly bench forward --transport nats` no nats-server.
 * The CLI runs as a process (the compiled CLI; `make test` builds first); its nats-server and
 * store are found in the process table (/proc), not from the code under test.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../../support/docker.js";
import { childrenOf, running } from "../../support/proc.js";

async function until<T>(f: () => T | undefined, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const exited = (c: ChildProcess) => new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => c.once("exit", (code, signal) => r({ code, signal })));

describe("an interrupted dfly run --transport nats", () => {
  for (const [sig, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    it(`${sig}: its nats-server is gone and its store removed; exit ${code}`, { timeout: 60_000 }, async () => {
      const cli = spawn(process.execPath, [join(repoRoot, "services/cli/dist/main.js"), "run", "--workload", "http-short", "--transport", "nats", "--cpus", "1", "--clients", "4", "--duration", "60s"], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      let err = "";
      cli.stderr!.on("data", (d: Buffer) => void (err += d.toString()));
      const done = exited(cli);
      // Running: its nats-server answered and the CPUs registered.
      await until(() => (/registered/.test(err) ? true : undefined), 30_000, `the run to start (stderr: ${err})`);
      const [nats] = childrenOf(cli.pid!, "nats-server");
      expect(nats, "a nats-server child").toBeDefined();
      const args = readFileSync(`/proc/${nats}/cmdline`, "utf8").split("\0");
      const store = args[args.indexOf("-sd") + 1];
      expect(store).toMatch(/dfly-nats-/);
      expect(existsSync(store)).toBe(true);

      cli.kill(sig); // the CLI only, as `kill`; Ctrl-C would signal its nats-server too
      const r = await done;
      expect(r.code, err).toBe(code);
      await until(() => (running(nats) ? undefined : true), 5000, `nats-server ${nats} to exit`);
      expect(existsSync(store)).toBe(false);
    });
  }
});

describe("an interrupted dfly bench forward --transport nats", () => {
  it("SIGINT: its nats-server is gone; exit 130", { timeout: 60_000 }, async () => {
    const cli = spawn(process.execPath, [join(repoRoot, "services/cli/dist/main.js"), "bench", "forward", "--transport", "nats", "--duration", "30s", "--runs", "1"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let err = "";
    cli.stderr!.on("data", (d: Buffer) => void (err += d.toString()));
    const done = exited(cli);
    await until(() => (/nats-server: nats:/.test(err) ? true : undefined), 30_000, `the bench to start its nats-server (stderr: ${err})`);
    const [nats] = childrenOf(cli.pid!, "nats-server");
    expect(nats, "a nats-server child").toBeDefined();
    cli.kill("SIGINT");
    expect((await done).code, err).toBe(130);
    await until(() => (running(nats) ? undefined : true), 5000, `nats-server ${nats} to exit`);
  });
});
