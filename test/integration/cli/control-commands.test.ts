// dfly route/netstat/ifconfig against a real control (gRPC on 127.0.0.1) in embedded mode:
// the in-process transport, fake netisr CPUs with the real ControlAgent.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dispatch, type CliIO } from "@dfly/cli";
import { ControlClient, InterfaceMode, startControl, type ControlHandle } from "@dfly/control";
import { InprocHub, type InprocTransport } from "@dfly/transport";
import { startFakeCpu, type FakeCpu } from "../../support/fake-netisr.js";

function io() {
  const out: string[] = [];
  const err: string[] = [];
  const cli: CliIO = { stdout: (s) => void out.push(s), stderr: (s) => void err.push(s), stdin: async () => "" };
  return { cli, out: () => out.join(""), err: () => err.join("") };
}

async function run(...argv: string[]) {
  const o = io();
  const code = await dispatch(argv, o.cli);
  return { code, out: o.out(), err: o.err() };
}

describe("dfly route / netstat / ifconfig (embedded control)", () => {
  let hub: InprocHub;
  let control: ControlHandle;
  let ctl: string;
  const cpus: FakeCpu[] = [];
  const ts: InprocTransport[] = [];

  beforeAll(async () => {
    hub = new InprocHub();
    const t = await hub.connect();
    ts.push(t);
    control = await startControl({ transport: t, grpcPort: 0, heartbeatMs: 200, applyTimeoutMs: 500 });
    ctl = control.grpcAddr;
    const c = new ControlClient(ctl);
    await c.registerInterface({ ifname: "ix0", model: "82576", mode: InterfaceMode.INTERFACE_MODE_INTERRUPT, rings: 8, unit: 0, addresses: ["192.0.2.2/24"], pollhz: 0, redirectEntries: 0 });
    c.close();
    for (const cpu of [0, 1]) {
      const ct = await hub.connect();
      ts.push(ct);
      cpus.push(await startFakeCpu({ cpu, transport: ct, controlAddr: ctl }));
    }
  });
  afterAll(async () => {
    for (const c of cpus) await c.stop();
    await control.stop(500);
    for (const t of ts) await t.close();
    hub.close();
  });

  it("route add / show / verify / delete", async () => {
    let r = await run("route", "add", "10.0.0.0/8", "192.0.2.1", "--metric", "3", "--control", ctl);
    expect(r).toMatchObject({ code: 0, err: "" });
    expect(r.out).toMatch(/^add net 10\.0\.0\.0\/8: gateway 192\.0\.2\.1 \(stored, applied on CPUs 0,1; revision \d+\)\n$/);
    r = await run("route", "add", "198.51.100.0/24", "-interface", "ix0", "--mtu", "1400", "--iw", "10", "--json", "--control", ctl);
    expect(JSON.parse(r.out)).toMatchObject({ op: "add", appliedCpus: [0, 1], route: { prefix: "198.51.100.0/24", ifname: "ix0", mtu: 1400, iw: 10 } });
    for (const c of cpus) expect(c.routes.has("198.51.100.0/24")).toBe(true);

    r = await run("route", "show", "--control", ctl);
    const lines = r.out.trim().split("\n");
    expect(lines[2]).toMatch(/^Destination\s+Gateway\s+Interface\s+Metric\s+MTU\s+IW$/);
    expect(lines[3]).toMatch(/^10\.0\.0\.0\/8\s+192\.0\.2\.1\s+ix0\s+3\s+-\s+-$/);
    expect(lines[4]).toMatch(/^198\.51\.100\.0\/24\s+-\s+ix0\s+0\s+1400\s+10$/);
    const shown = JSON.parse((await run("route", "show", "--json", "--control", ctl)).out);
    expect(shown.routes).toHaveLength(2);

    r = await run("route", "verify", "--control", ctl);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/all 2 CPUs agree/);
    const v = JSON.parse((await run("route", "verify", "--json", "--control", ctl)).out);
    expect(v.cpus.map((c: { digest: string }) => c.digest)).toEqual([v.expectedDigest, v.expectedDigest]);

    // A CPU whose table diverges: verify says so and exits 1.
    cpus[1].routes.add("203.0.113.0/24", { ifname: "ix0" });
    r = await run("route", "verify", "--control", ctl);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^1\s+\w+\s+3\s+NO$/m);
    expect(r.out).toMatch(/CPUs differ/);
    cpus[1].routes.delete("203.0.113.0/24");

    r = await run("route", "delete", "10.0.0.0/8", "--control", ctl);
    expect(r.code).toBe(0);
    for (const c of cpus) expect(c.routes.has("10.0.0.0/8")).toBe(false);
  });

  it("errors: usage (exit 2) and typed control errors (exit 1)", async () => {
    expect((await run("route", "add", "10.0.0.0/8", "--control", ctl)).code).toBe(2);
    expect((await run("route", "add", "10.0.0.0/8", "192.0.2.1", "--mtu", "x", "--control", ctl)).code).toBe(2);
    let r = await run("route", "add", "10.0.0.0/33", "192.0.2.1", "--control", ctl);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/INVALID_ARGUMENT: bad prefix "10\.0\.0\.0\/33"/);
    r = await run("route", "add", "10.0.0.0/8", "-interface", "em0", "--control", ctl);
    expect(r.err).toMatch(/NOT_FOUND: unknown interface "em0" \(known: ix0\)/);
    await run("route", "add", "10.9.0.0/16", "192.0.2.1", "--control", ctl);
    r = await run("route", "add", "10.9.0.0/16", "192.0.2.1", "--control", ctl);
    expect(r.err).toMatch(/ALREADY_EXISTS/);
    r = await run("route", "delete", "10.8.0.0/16", "--control", ctl);
    expect(r.err).toMatch(/NOT_FOUND/);
    cpus[0].mode = "silent";
    r = await run("route", "add", "10.7.0.0/16", "192.0.2.1", "--control", ctl);
    cpus[0].mode = "ok";
    // Stored: never UNAVAILABLE; the answer names who has it and who is pending (repaired later).
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/stored, applied on CPUs 1, pending on CPU 0 \(timeout after 500 ms\)/);
  });

  it("netstat -s sums the CPUs; --per-cpu shows each", async () => {
    let r = await run("netstat", "-s", "--control", ctl);
    expect(r.out).toContain("ip:\n\t3 forward\n\t30 total\n");
    expect(r.out).toContain("icmp:\n\t1 error\n");
    r = await run("netstat", "-s", "--per-cpu", "--control", ctl);
    expect(r.out).toContain("cpu 0:\n  icmp:\n  \t0 error\n  ip:\n  \t1 forward\n  \t10 total\n");
    expect(r.out).toContain("cpu 1:\n");
    const j = JSON.parse((await run("netstat", "-s", "--per-cpu", "--json", "--control", ctl)).out);
    expect(j.total.ip.total).toBe(30);
    expect(j.cpus[1].ip.forward).toBe(2);
    expect((await run("netstat", "--control", ctl)).code).toBe(2);
  });

  it("ifconfig shows rings, ring->CPU and mode", async () => {
    const r = await run("ifconfig", "--control", ctl);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^ix0: model 82576 mode interrupt unit 0$/m);
    expect(r.out).toMatch(/inet 192\.0\.2\.2\/24/);
    expect(r.out).toMatch(/rings 2 \(offered 8\) ring->cpu 0:0 1:1/);
    const j = JSON.parse((await run("ifconfig", "ix0", "--json", "--control", ctl)).out);
    expect(j.cpus).toEqual([0, 1]);
    expect(j.interfaces[0]).toMatchObject({ ifname: "ix0", rings: 2, ringToCpu: [0, 1], mode: "interrupt" });
    expect(j.interfaces[0].redirect).toHaveLength(128);
    expect((await run("ifconfig", "em9", "--control", ctl)).code).toBe(1);
  });

  it("an unreachable control is a clear error", async () => {
    const r = await run("route", "show", "--control", "127.0.0.1:1");
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/(UNAVAILABLE|DEADLINE_EXCEEDED).*control 127\.0\.0\.1:1/);
  }, 15_000);
});
