// Routes at scale over a real nats-server and real gRPC, 4 CPUs (ControlAgents on their NATS ports):
// a bulk load of the shared Internet prefix file's first 20,000 IPv4 prefixes, `route show`
// paging against the file itself, a restarted CPU loading the table as a stream, a CPU lost
// during adds (every answer stored-with-CPUs or failed), and a poisoned routes KV bucket.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gunzipSync } from "node:zlib";
import { existsSync, readFileSync } from "node:fs";
import { ControlClient, startControl, type ControlHandle } from "@dfly/control";
import { NatsTransport, type Transport } from "@dfly/transport";
import { encodeRouteRecs } from "@dfly/wire";
import { startNatsProcess, type NatsProcess } from "../../support/nats-process.js";
import { startFakeCpu, type FakeCpu } from "../../support/fake-netisr.js";

// The shared data sits next to the repository (../shared; ../../shared from a worktree).
const FILE = ["../../../../shared/", "../../../../../shared/"].map((d) => new URL(`${d}testdata/ipv4-ipv6-prefixes.txt.gz`, import.meta.url)).find((u) => existsSync(u))!;
const N = 20_000;

/** The file's first N IPv4 prefixes, as its text has them (the reference, not our parser). */
function filePrefixes(): string[] {
  const lines = gunzipSync(readFileSync(FILE)).toString("latin1").split("\r\n");
  return lines.filter((l) => l !== "" && !l.includes(":")).slice(0, N);
}

const quad = (s: string) => s.split(".").reduce((a, o) => a * 256 + Number(o), 0);
function inside(p: string, outer: string): boolean {
  const [a, l] = p.split("/");
  const [oa, ol] = outer.split("/");
  return Number(l) >= Number(ol) && Math.floor(quad(a) / 2 ** (32 - Number(ol))) === Math.floor(quad(oa) / 2 ** (32 - Number(ol)));
}

describe("routes at scale (nats-server, 4 CPUs)", () => {
  let nats: NatsProcess;
  let control: ControlHandle;
  let client: ControlClient;
  const ts: Transport[] = [];
  const cpus: FakeCpu[] = [];
  const prefixes = filePrefixes();
  const conn = async () => {
    const t = await NatsTransport.connect({ url: nats.url });
    ts.push(t);
    return t;
  };
  const start = async (t: Transport) => startControl({ transport: t, grpcPort: 0, heartbeatMs: 200, cpuTimeoutMs: 3000, applyTimeoutMs: 1000 });

  beforeAll(async () => {
    nats = await startNatsProcess();
    control = await start(await conn());
    client = new ControlClient(control.grpcAddr, 60_000);
    for (const cpu of [0, 1, 2, 3]) cpus.push(await startFakeCpu({ cpu, transport: await conn(), controlAddr: control.grpcAddr }));
  }, 60_000);
  afterAll(async () => {
    for (const c of cpus) await c.stop().catch(() => undefined);
    client?.close();
    await control?.stop(200);
    for (const t of ts) await t.close();
    await nats?.stop();
  });

  it("loads 20,000 prefixes in one streamed call, chained to CPUs 0-3; show pages by prefix; digests equal", async () => {
    const text = new TextEncoder().encode(prefixes.join("\r\n") + "\r\n2001:db8::/32\r\n");
    const pieces = [text.subarray(0, 100_001), text.subarray(100_001)]; // a line split between messages
    const r = await client.loadRoutes(pieces, { gateway: "198.18.0.1" });
    expect(r).toMatchObject({ loaded: N, skippedIpv6: 1, appliedCpus: [0, 1, 2, 3], pendingCpus: [], tableSize: N });
    expect(r.status).toBe("stored, applied on CPUs 0,1,2,3");
    for (const c of cpus) expect(c.routes.size).toBe(N);
    expect((await client.verifyRoutes()).consistent).toBe(true);

    const within = "1.0.0.0/8";
    const want = prefixes.filter((p) => inside(p, within));
    const got: string[] = [];
    let total = 0;
    await client.streamRoutes({ prefix: within }, (c) => {
      total = c.total;
      got.push(...c.routes.map((x) => x.prefix));
    });
    expect(total).toBe(want.length);
    expect(new Set(got)).toEqual(new Set(want));
    const first = await client.listRoutes(5, within);
    expect(first.routes).toHaveLength(5);
    expect(first.total).toBe(want.length);

    // A prefix twice in one load: the last line wins, stored and sent once.
    const dup = await client.loadRoutes([new TextEncoder().encode("100.99.0.0/16 198.18.0.1\n100.99.0.0/16 198.18.0.2\n")]);
    expect(dup).toMatchObject({ loaded: 1, tableSize: N + 1 });
    expect((await client.getRoute({ prefix: "100.99.0.0/16" })).route?.gateway).toBe("198.18.0.2");
    await client.deleteRoute("100.99.0.0/16");

    // A bad line: nothing stored, the line named.
    await expect(client.loadRoutes([new TextEncoder().encode("10.1.0.0/8 198.18.0.1\n")])).rejects.toMatchObject({ details: expect.stringContaining("line 1") });
    await expect(client.loadRoutes([new TextEncoder().encode("10.0.0.0/8\n10.1.2.3/33\n")], { gateway: "198.18.0.1" })).rejects.toMatchObject({ details: expect.stringContaining("line 2") });
    expect((await client.listRoutes(1)).total).toBe(N);
  }, 60_000);

  it("a CPU that restarts loads the whole table as a stream before it is ready", async () => {
    const old = cpus[3];
    await old.stop();
    const fresh = await startFakeCpu({ cpu: 3, transport: await conn(), controlAddr: control.grpcAddr });
    cpus[3] = fresh;
    expect(fresh.agent.ready).toBe(true);
    expect(fresh.routes.size).toBe(N);
    expect((await client.verifyRoutes()).consistent).toBe(true);
  }, 30_000);

  it("a CPU lost during 200 adds: every answer stored with its CPUs or failed; equal digests once it is back", async () => {
    const lost = cpus[2];
    const answers: { ok: boolean; applied: number[]; pending: number[] }[] = [];
    for (let i = 0; i < 200; i++) {
      if (i === 50) await lost.crash(); // gone without a word to the control (no responders on its port)
      try {
        const r = await client.addRoute({ prefix: `100.64.${i}.0/24`, gateway: "198.18.0.1" });
        answers.push({ ok: true, applied: r.appliedCpus, pending: r.pendingCpus });
      } catch {
        answers.push({ ok: false, applied: [], pending: [] });
      }
    }
    expect(answers.every((a) => a.ok)).toBe(true); // the store is up: every add is stored
    expect(answers.slice(0, 50).every((a) => a.applied.join() === "0,1,2,3")).toBe(true);
    // After the loss: stored, applied on 0,1,3, pending on 2 (until it expires from the cluster).
    for (const a of answers.slice(50)) expect([...a.applied, ...a.pending].sort().join()).toMatch(/^0,1,(2,)?3$/);
    expect(answers.slice(50).some((a) => a.pending.includes(2))).toBe(true);
    cpus[2] = await startFakeCpu({ cpu: 2, transport: await conn(), controlAddr: control.grpcAddr });
    expect((await client.verifyRoutes()).consistent).toBe(true);
    expect(cpus[2].routes.size).toBe(N + 200);
  }, 60_000);

  it("a poisoned routes KV value: the control starts, the entry counted and named, the rest served", async () => {
    const t = await conn();
    const kv = await t.kv("dfly-routes");
    await kv.put("10.9.9.0/24", new TextEncoder().encode("not json{"));
    // A chunk whose second record has host bits set, and one that is not records at all.
    const gw = quad("198.18.0.1");
    await kv.put("bulk.999.0", encodeRouteRecs([{ addr: quad("10.8.0.0"), len: 16, gateway: gw }, { addr: quad("10.8.1.0"), len: 16, gateway: gw }]));
    await kv.put("bulk.999.1", new TextEncoder().encode("10.8.0.0/16 198.18.0.1"));
    client.close();
    await control.stop(200);
    const logs: string[] = [];
    const orig = console.error;
    console.error = (s: string) => void logs.push(s);
    try {
      control = await start(await conn());
    } finally {
      console.error = orig;
    }
    client = new ControlClient(control.grpcAddr, 60_000);
    const bad = control.parts.routes.badEntries;
    expect(bad.map((b) => `${b.key}:${b.line}`).sort()).toEqual(["10.9.9.0/24:0", "bulk.999.0:2", "bulk.999.1:0"]);
    expect(logs.join("\n")).toContain('KV bucket dfly-routes key "10.9.9.0/24": skipped: not JSON');
    expect((await client.listRoutes(1)).total).toBe(N + 200 + 1); // the good record of the bad chunk too
    const m = await (await fetch(`http://${control.metricsAddr ?? "none"}/metrics`).catch(() => undefined))?.text();
    if (control.metricsAddr) expect(m).toMatch(/^dfly_control_route_kv_bad 3$/m);
    await kv.delete("10.9.9.0/24");
  }, 60_000);
});
