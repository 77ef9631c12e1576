/**
 * The `dfly up` context: `up` records where its control and NATS are, `route`, `netstat`,
 * `ifconfig` and `down` find them without --control or an export, and `down` removes it.
 * A control command that cannot reach its control says so in one line within 2 s, naming
 * the address it tried. The README's operating examples run here as written.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../support/docker.js";
import { running } from "../../support/proc.js";
import { runCli as run } from "../../support/cli.js";

const saved: Record<string, string | undefined> = {};
function setEnv(k: string, v: string | undefined): void {
  if (!(k in saved)) saved[k] = process.env[k];
  if (v === undefined) delete process.env[k];
  else process.env[k] = v;
}

describe("a control command that cannot reach its control", () => {
  const dir = mkdtempSync(join(tmpdir(), "dfly-ctx-"));
  let silent: Server;
  const sockets: Socket[] = [];
  beforeAll(async () => {
    setEnv("DFLY_CONTEXT", join(dir, "context.json"));
    setEnv("DFLY_CONTROL_ADDR", undefined);
    // Accepts connections and never answers (no HTTP/2 handshake): a control that hangs.
    silent = createServer((s) => void sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => silent.close(r));
    for (const [k, v] of Object.entries(saved)) setEnv(k, v);
    rmSync(dir, { recursive: true, force: true });
  });

  it("nothing listens: one line naming the address, exit 1, well within 2 s", async () => {
    const port = await freePort();
    for (const argv of [["route", "show"], ["netstat", "-s"], ["ifconfig"], ["netstat", "-an"]]) {
      const r = await run(...argv, "--control", `127.0.0.1:${port}`);
      expect(r.code).toBe(1);
      expect(r.out).toBe("");
      expect(r.err.trimEnd().split("\n"), r.err).toHaveLength(1);
      expect(r.err).toContain(`127.0.0.1:${port}`);
      expect(r.err).toMatch(/cannot reach the control/);
      expect(r.ms).toBeLessThan(2000);
    }
  });

  it("a control that accepts and never answers: the same within 2 s", async () => {
    const addr = `127.0.0.1:${(silent.address() as { port: number }).port}`;
    const r = await run("route", "show", "--control", addr);
    expect(r.code).toBe(1);
    expect(r.err.trimEnd().split("\n")).toHaveLength(1);
    expect(r.err).toContain(addr);
    expect(r.ms).toBeLessThan(2000);
  });

  it("without --control, DFLY_CONTROL_ADDR or a context it tries the default and says so", async () => {
    const r = await run("route", "show");
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/127\.0\.0\.1:50051 \(the default; no dfly up context\)/);
  });
});

describe("dfly up records its context; route/netstat/ifconfig/down find it", () => {
  const dir = mkdtempSync(join(tmpdir(), "dfly-ctx-up-"));
  const ctxFile = join(dir, "state", "context.json");
  const stateDir = join(dir, "stack");
  beforeAll(() => {
    setEnv("DFLY_CONTEXT", ctxFile);
    setEnv("DFLY_CONTROL_ADDR", undefined);
    setEnv("DFLY_STATE_DIR", undefined);
    setEnv("DFLY_DRAIN_LINGER_MS", "0"); // nothing scrapes these CPUs: no linger after the drain
  });
  afterAll(async () => {
    await run("down", "--state-dir", stateDir);
    for (const [k, v] of Object.entries(saved)) setEnv(k, v);
    rmSync(dir, { recursive: true, force: true });
  });

  it("up → context file; the README's commands without --control; down removes the context", { timeout: 90_000 }, async () => {
    const up = await run("up", "--cpus", "2", "--state-dir", stateDir);
    expect(up.code, up.err).toBe(0);
    expect(up.out).toContain(ctxFile);
    const ctx = JSON.parse(readFileSync(ctxFile, "utf8"));
    const st = JSON.parse(readFileSync(join(stateDir, "state.json"), "utf8"));
    expect(ctx).toMatchObject({ controlAddr: st.controlAddr, natsUrl: st.natsUrl, stateDir });

    // The README's "Operating it" lines, as written (no --control, no export).
    let r = await run("route", "add", "10.0.0.0/8", "198.18.0.2");
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^add net 10\.0\.0\.0\/8: gateway 198\.18\.0\.2 \(stored, applied on CPUs 0,1; revision \d+\)\n$/);
    r = await run("route", "show");
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^10\.0\.0\.0\/8\s+198\.18\.0\.2\s+ix0\s/m);
    r = await run("route", "verify");
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/all 2 CPUs agree/);
    r = await run("netstat", "-s", "--per-cpu");
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^cpu 0:/m);
    r = await run("netstat", "-an");
    expect(r.code, r.err).toBe(0);
    r = await run("ifconfig");
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^ix0: .*\n\tinet 198\.18\.0\.1\/24$/m);
    r = await run("route", "delete", "10.0.0.0/8");
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^delete net 10\.0\.0\.0\/8 \(stored, applied on CPUs 0,1; revision \d+\)\n$/);

    // --control and DFLY_CONTROL_ADDR win over the context.
    const closed = `127.0.0.1:${await freePort()}`;
    r = await run("route", "show", "--control", closed);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${closed} (--control)`);
    setEnv("DFLY_CONTROL_ADDR", closed);
    r = await run("route", "show");
    expect(r.err).toContain(`${closed} (DFLY_CONTROL_ADDR)`);
    setEnv("DFLY_CONTROL_ADDR", undefined);

    // down without --state-dir: the context's stack; the processes are gone (the process
    // table says so) and so is the context.
    const down = await run("down");
    expect(down.code).toBe(0);
    expect(down.out).toMatch(/stopped netisr-0, netisr-1, nic, control, nats/);
    for (const p of st.processes as { name: string; pid: number }[]) expect(running(p.pid), p.name).toBe(false);
    expect(existsSync(ctxFile)).toBe(false);
    r = await run("route", "show");
    expect(r.err).toMatch(/no dfly up context/);
  });
});
