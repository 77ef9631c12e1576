/**
 * The packet-path commands end to end: `dfly run` (embedded: control + NIC in this
 * process, one worker_thread per netisr CPU), `dfly bench forward` (JSON shape only — no
 * timing is asserted), and `dfly up` / `dfly down` (separate processes over a local
 * nats-server). Workers and processes run the compiled services (services/*\/dist):
 * `make test` builds first.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli as run } from "../../support/cli.js";

describe("dfly run --workload forward (embedded)", () => {
  it("forwards every packet with per-CPU counters that add up", async () => {
    const r = await run("run", "--cpus", "2", "--duration", "1s", "--rate", "20000", "--flows", "256", "--json");
    expect(r.code, r.err).toBe(0);
    const rep = JSON.parse(r.out);
    expect(rep.perCpu).toHaveLength(2);
    expect(rep.pktgen.sent).toBeGreaterThan(0);
    expect(rep.loss.lost).toBe(0);
    expect(rep.sink.pktgen).toBe(rep.pktgen.sent);
    expect(rep.totals.rx).toBe(rep.pktgen.sent);
    expect(rep.totals.forwarded).toBe(rep.pktgen.sent);
    expect(rep.totals.redispatched).toBe(0);
    for (const c of rep.perCpu) expect(c.forwarded).toBeGreaterThan(0); // RSS spread the flows
    expect(new Set(rep.routeDigests).size).toBe(1);
  });

  it("polling mode with fewer rings than CPUs: frames redispatched to their owner are all forwarded", async () => {
    const r = await run("run", "--cpus", "2", "--duration", "500ms", "--rate", "10000", "--mode", "polling", "--rings", "1", "--json");
    expect(r.code, r.err).toBe(0);
    const rep = JSON.parse(r.out);
    expect(rep.interfaces[0]).toMatchObject({ mode: "polling", rings: 1 });
    expect(rep.loss.lost).toBe(0);
    expect(rep.totals.redispatched).toBeGreaterThan(0);
    expect(rep.totals.redispatchReceived).toBe(rep.totals.redispatched);
    expect(rep.totals.forwarded).toBe(rep.pktgen.sent);
  });

  it("loss on the link (a NIC impairment) is exactly what the sink misses", async () => {
    const r = await run("run", "--cpus", "1", "--duration", "500ms", "--rate", "20000", "--loss", "0.02", "--json");
    expect(r.code, r.err).toBe(0);
    const rep = JSON.parse(r.out);
    expect(rep.totals.forwarded).toBe(rep.pktgen.sent);
    expect(rep.loss.lost).toBeGreaterThan(0);
    expect(rep.loss.lost).toBe(rep.nic.ix1.dropped.impair_loss);
  });

  it("refuses bad arguments with a usage error", async () => {
    expect((await run("run", "--workload", "http")).code).toBe(2);
    expect((await run("run", "--duration", "soon")).code).toBe(2);
    expect((await run("run", "--cpus", "0")).code).toBe(2);
    expect((await run("run", "--loss", "1.5")).code).toBe(2);
  });
});

describe("dfly bench forward", () => {
  it("prints pps, the raw-transport baseline measured in the same run, and their ratio", async () => {
    const r = await run("bench", "forward", "--cpus", "1", "--duration", "200ms", "--warmup", "100ms", "--runs", "1", "--batch", "128", "--json");
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out);
    expect(j).toMatchObject({ bench: "forward", transport: "embedded", cpus: 1, batchFrames: 128 });
    expect(j.pps).toBeGreaterThan(0);
    expect(j.baselinePps).toBeGreaterThan(0);
    expect(j.ratio).toBeCloseTo(j.pps / j.baselinePps, 2);
    expect(j.perCpuForwarded[0]).toBeGreaterThan(0);
    expect(j.baseline).toEqual(expect.any(String));
    // The sampled phase forwarded frames and measured the CPUs' heap per frame.
    expect(j.alloc.packets).toBeGreaterThan(0);
    expect(j.allocBytesPerPacket).toBeGreaterThanOrEqual(0);
  });
});

describe("dfly up / dfly down (processes over NATS)", () => {
  const dir = mkdtempSync(join(tmpdir(), "dfly-up-"));
  // The netisr processes inherit this environment: no linger after their drain (nothing scrapes
  // them here; with the 20 s default `dfly down` would wait out its 5 s grace per CPU).
  const linger = process.env.DFLY_DRAIN_LINGER_MS;
  beforeAll(() => {
    process.env.DFLY_DRAIN_LINGER_MS = "0";
  });
  afterAll(async () => {
    await run("down", "--state-dir", dir);
    rmSync(dir, { recursive: true, force: true });
    if (linger === undefined) delete process.env.DFLY_DRAIN_LINGER_MS;
    else process.env.DFLY_DRAIN_LINGER_MS = linger;
  });

  it("starts nats-server, control, NIC and 2 netisr processes, serves the control API, and stops them all", { timeout: 90_000 }, async () => {
    const up = await run("up", "--cpus", "2", "--state-dir", dir, "--json");
    expect(up.code, up.err).toBe(0);
    const st = JSON.parse(up.out);
    expect(st.processes.map((p: { name: string }) => p.name)).toEqual(["nats", "control", "nic", "netisr-0", "netisr-1"]);
    expect(JSON.parse(readFileSync(join(dir, "state.json"), "utf8")).controlAddr).toBe(st.controlAddr);
    for (const p of st.processes) if (p.metrics) expect((await fetch(`http://${p.metrics}/metrics`)).status).toBe(200);
    const add = await run("route", "add", "10.0.0.0/8", "198.18.1.2", "--control", st.controlAddr);
    expect(add.code, add.err).toBe(0);
    const verify = await run("route", "verify", "--control", st.controlAddr, "--json");
    expect(verify.code, verify.err).toBe(0);
    expect(JSON.parse(verify.out).consistent).toBe(true);
    expect((await run("up", "--cpus", "1", "--state-dir", dir)).code).toBe(1); // already up

    const down = await run("down", "--state-dir", dir);
    expect(down.code).toBe(0);
    expect(down.out).toMatch(/stopped netisr-0, netisr-1, nic, control, nats/);
    for (const p of st.processes) {
      let alive = true;
      try {
        alive = readFileSync(`/proc/${p.pid}/cmdline`, "utf8").length > 0;
      } catch {
        alive = false;
      }
      expect(alive, p.name).toBe(false);
    }
    expect(existsSync(join(dir, "state.json"))).toBe(false);
  });
});
