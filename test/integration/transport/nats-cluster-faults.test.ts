/**
 * The distributed engine under a NATS fault, as the chart's cluster mode runs it: three nats-server
 * processes clustered with JetStream (test/support/nats-cluster.ts), the KV buckets at R3, and the
 * control, a NIC (ix0 → ix1) and two netisr CPUs each with its own connection given all three URLs.
 * Under forwarding load, the server that holds the control's connection is stopped; routes are
 * changed through the control while it is down; then it is started again. Routes, listeners and
 * topology are kept, the routes between the servers come back, the restarted server's KV replicas
 * catch up, every CPU holds the same table (`dfly route verify`), traffic resumes, and every frame
 * lost was sent during the outage: each gap in a flow's sequence lies between two received frames
 * whose send stamps enclose part of the outage window.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Pktgen, PKTGEN_MAGIC, stampNowUs } from "@dfly/apps";
import { ControlClient, startControl, type ControlHandle } from "@dfly/control";
import { startNetisr, type NetisrHandle } from "@dfly/netisr/internal";
import { nicInterfaceSpec, startNic, type NicHandle } from "@dfly/nic";
import { createTransport, FrameBatchCursor, subjects, type Transport } from "@dfly/transport";
import { runCli } from "../../support/cli.js";
import { startNatsCluster, type NatsCluster } from "../../support/nats-cluster.js";

const CL = "day2r3";
const FLOWS = 64;
const RATE = 2000;
const SECONDS = 14;
const ROUTES = [
  { prefix: "198.18.0.0/24", ifname: "ix0" },
  { prefix: "198.18.1.0/24", ifname: "ix1" },
  { prefix: "10.0.0.0/8", gateway: "198.18.1.2" },
];

/** Every pktgen frame seen on ix1's wire: send stamp (µs, 32-bit) per flow and sequence. */
class WireLog {
  readonly seen: Map<number, number>[] = Array.from({ length: FLOWS }, () => new Map());
  duplicates = 0;
  private readonly cursor = new FrameBatchCursor();
  batch(data: Uint8Array): void {
    const c = this.cursor;
    if (c.reset(data) !== null) return;
    while (c.next()) {
      const b = c.buf;
      const o = c.offset + 28;
      if (c.length < 44) continue;
      const u32 = (i: number) => ((b[o + i] << 24) | (b[o + i + 1] << 16) | (b[o + i + 2] << 8) | b[o + i + 3]) >>> 0;
      if (u32(0) !== PKTGEN_MAGIC) continue;
      const flow = u32(4);
      if (flow >= FLOWS) continue;
      if (this.seen[flow]!.has(u32(8))) this.duplicates++;
      this.seen[flow]!.set(u32(8), u32(12));
    }
  }
}

interface Conn {
  cid: number;
  name: string;
}

describe("a 3-server NATS cluster with JetStream at R3: one server stopped under load and route changes, then started", () => {
  let nats: NatsCluster;
  let control: ControlHandle;
  let nic: NicHandle;
  const cpus: NetisrHandle[] = [];
  const transports: Transport[] = [];
  let client: ControlClient;

  const conn = async (who: string, url = nats.url) => {
    const t = await createTransport({ natsUrl: url, name: `${CL}-${who}`, kvReplicas: 3 });
    transports.push(t);
    return t;
  };
  const connsOn = async (i: number) => (await nats.monitor<{ connections: Conn[] | null }>(i, "/connz")).connections ?? [];
  const serviceNames = [`${CL}-control`, `${CL}-nic`, `${CL}-cpu0`, `${CL}-cpu1`];

  /** A setup failure, rethrown by the test so that it fails (vitest would only mark it skipped). */
  let setupError: unknown;

  beforeAll(async () => {
    try {
      await setup();
    } catch (err) {
      setupError = err;
    }
  }, 120_000);

  const setup = async () => {
    nats = await startNatsCluster({ size: 3, name: "day2-r3" });
    await nats.waitHealthy();
    const specs = ["ix0", "ix1"].map((ifname) => nicInterfaceSpec({ ifname, model: "82599", mode: "interrupt", rings: 2 }));
    control = await startControl({ transport: await conn("control"), cluster: CL, grpcHost: "127.0.0.1", grpcPort: 0, interfaces: specs, heartbeatMs: 250, cpuTimeoutMs: 5000 });
    for (const r of ROUTES) await control.parts.routes.add(r);
    nic = await startNic({ transport: await conn("nic"), cluster: CL, specs, controlAddr: control.grpcAddr, metricsPort: 0 });
    for (const cpu of [0, 1]) {
      const h = await startNetisr({ transport: await conn(`cpu${cpu}`), cluster: CL, cpu, controlAddr: control.grpcAddr, metricsPort: 0 });
      await h.whenReady();
      cpus.push(h);
    }
    client = new ControlClient(control.grpcAddr);
  };

  afterAll(async () => {
    client?.close();
    for (const h of cpus) await h.stop().catch(() => undefined);
    await nic?.stop().catch(() => undefined);
    await control?.stop(500).catch(() => undefined);
    for (const t of transports) await t.close().catch(() => undefined);
    await nats?.close();
  });

  it("keeps routes, listeners, topology and the cluster's routes; traffic resumes; losses fall in the outage", async () => {
    if (setupError) throw setupError;
    // Every KV bucket is a stream with 3 replicas, one on each server.
    type Jsz = { account_details?: { stream_detail?: { name: string; config?: { num_replicas: number }; cluster?: { leader?: string; replicas?: { name: string; current: boolean }[] } }[] }[] };
    const streams = async (i: number) => ((await nats.monitor<Jsz>(i, "/jsz?accounts=true&streams=true&config=true")).account_details ?? []).flatMap((a) => a.stream_detail ?? []);
    const kv = (await streams(0)).filter((s) => s.name.startsWith(`KV_${CL}-`));
    // The control's buckets (services/control/src/control.ts): ipfw, listeners, routes, sysctl, topology.
    expect(kv.map((s) => s.name).sort()).toEqual([`KV_${CL}-ipfw`, `KV_${CL}-listeners`, `KV_${CL}-routes`, `KV_${CL}-sysctl`, `KV_${CL}-topology`]);
    for (const s of kv) expect(s.config?.num_replicas, s.name).toBe(3);

    const listener = await client.listen({ port: 8080, reuseport: true, owner: "day2" });
    const topoBefore = control.parts.cluster.topology();
    expect(topoBefore.cpus).toEqual([0, 1]);

    // The server holding the control's connection goes down; the load and its observer use another one.
    let victim = -1;
    for (let i = 0; i < 3; i++) if ((await connsOn(i)).some((c) => c.name === `${CL}-control`)) victim = i;
    expect(victim).toBeGreaterThanOrEqual(0);
    const survivor = (victim + 1) % 3;
    const apps = await conn("apps", nats.servers[survivor]!.url);
    const log = new WireLog();
    apps.subscribe(subjects.wireOut(CL, "ix1"), (m) => log.batch(m.data));
    await apps.flush();
    const base = stampNowUs();
    const rel = (stamp: number) => ((stamp - base) >>> 0) / 1000; // ms since base
    const gen = new Pktgen({ transport: apps, cluster: CL, ifname: "ix0", flows: FLOWS, dst: ["10.0.0.0/8"], rate: RATE, count: RATE * SECONDS, batch: 32 });
    const running = gen.run();

    await new Promise((r) => setTimeout(r, 3000));
    const stopAt = rel(stampNowUs());
    await nats.stop(victim);
    // Route changes while the server is down (the control reconnects; KV writes need 2 of 3 replicas).
    const added: string[] = [];
    const addRoute = async (prefix: string) => {
      const end = Date.now() + 15_000;
      for (;;) {
        try {
          await client.addRoute({ prefix, gateway: "198.18.1.2" });
          added.push(prefix);
          return;
        } catch (err) {
          if (Date.now() > end) throw err;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    };
    await addRoute("10.77.0.0/16");
    // Every service reconnected to the two other servers.
    const end = Date.now() + 20_000;
    for (;;) {
      const names = new Set([...(await connsOn((victim + 1) % 3)), ...(await connsOn((victim + 2) % 3))].map((c) => c.name));
      if (serviceNames.every((n) => names.has(n))) break;
      if (Date.now() > end) throw new Error(`services not reconnected: ${[...names].join(", ")}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const reconnectedAt = rel(stampNowUs());
    await addRoute("10.78.0.0/16");
    await new Promise((r) => setTimeout(r, 1500));
    await nats.start(victim);
    const startedAt = rel(stampNowUs());
    await addRoute("10.79.0.0/16");
    await running;
    const last = Date.now() + 10_000;
    let n = -1;
    while (Date.now() < last) {
      await new Promise((r) => setTimeout(r, 300));
      const now = log.seen.reduce((a, m) => a + m.size, 0);
      if (now === n) break;
      n = now;
    }

    // The cluster is whole again: every server has its 2 routes, the restarted one's KV replicas are current.
    await nats.waitHealthy();
    for (let i = 0; i < 3; i++) expect((await nats.monitor<{ num_routes: number }>(i, "/routez")).num_routes, `server ${i} routes`).toBe(2);
    const caughtUp = Date.now() + 20_000;
    for (;;) {
      const h = await fetch(`${nats.servers[victim]!.monitorUrl}/healthz`);
      if (h.status === 200) break;
      if (Date.now() > caughtUp) throw new Error(`restarted server not current: ${await h.text()}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    // Each KV stream: a leader and two current replicas, on all three servers (as its leader reports them).
    const replicasCurrent = async () => {
      const bad: string[] = [];
      const views = await Promise.all([0, 1, 2].map(async (i) => ({ server: nats.servers[i]!.name, streams: await streams(i) })));
      const leaderViews = views.flatMap((v) => v.streams.filter((x) => x.name.startsWith(`KV_${CL}-`) && x.cluster?.leader === v.server));
      if (leaderViews.length !== kv.length) bad.push(`leaders of ${leaderViews.map((x) => x.name).join(", ")} only`);
      for (const s of leaderViews) {
        const peers = [s.cluster?.leader ?? "", ...(s.cluster?.replicas ?? []).filter((r) => r.current).map((r) => r.name)].filter(Boolean);
        if (new Set(peers).size !== 3) bad.push(`${s.name}: ${JSON.stringify(s.cluster)}`);
      }
      return bad;
    };
    let notCurrent = await replicasCurrent();
    while (notCurrent.length && Date.now() < caughtUp) {
      await new Promise((r) => setTimeout(r, 250));
      notCurrent = await replicasCurrent();
    }
    expect(notCurrent).toEqual([]);

    // Routes, listeners, topology kept; every CPU holds the same table (the helm test's command).
    const routes = (await client.listRoutes()).routes.map((r) => r.prefix);
    for (const p of [...ROUTES.map((r) => r.prefix), ...added]) expect(routes).toContain(p);
    expect(added).toEqual(["10.77.0.0/16", "10.78.0.0/16", "10.79.0.0/16"]);
    const v = await runCli("route", "verify", "--control", control.grpcAddr, "--expect-cpus", "2");
    expect(v.code, v.out + v.err).toBe(0);
    const listeners = (await client.listListeners()).listeners;
    expect(listeners.map((l) => [l.listenerId, l.port, l.owner])).toEqual([[listener.listenerId, 8080, "day2"]]);
    expect(control.parts.cluster.topology().cpus).toEqual([0, 1]);

    // Every frame accounted for: received, or lost inside the outage (stop → services reconnected, plus 1 s).
    expect(log.duplicates).toBe(0);
    const windowFrom = stopAt - 100;
    const windowTo = reconnectedAt + 1000;
    let lost = 0;
    let received = 0;
    const outside: string[] = [];
    for (let f = 0; f < FLOWS; f++) {
      const m = log.seen[f]!;
      received += m.size;
      const seqs = [...m.keys()].sort((a, b) => a - b);
      const sent = gen.sentPerFlow[f]!;
      // Gaps: between consecutive received sequences, and before the first / after the last.
      let prevSeq = -1;
      let prevAt = 0;
      const check = (from: number, to: number, lo: number, hi: number) => {
        if (to <= from) return;
        lost += to - from;
        if (hi < windowFrom || lo > windowTo) outside.push(`flow ${f} seq ${from}..${to - 1} sent between ${lo.toFixed(0)} and ${hi.toFixed(0)} ms`);
      };
      for (const s of seqs) {
        const at = rel(m.get(s)!);
        check(prevSeq + 1, s, prevSeq < 0 ? 0 : prevAt, at);
        prevSeq = s;
        prevAt = at;
      }
      check(prevSeq + 1, sent, prevAt, Infinity);
    }
    expect(received + lost).toBe(gen.sent);
    expect(outside, `losses outside the outage ${windowFrom.toFixed(0)}..${windowTo.toFixed(0)} ms`).toEqual([]);
    // Traffic resumed: frames sent after the restart arrived.
    const afterStart = log.seen.reduce((a, m) => a + [...m.values()].filter((ts) => rel(ts) > startedAt + 500).length, 0);
    expect(afterStart).toBeGreaterThan(RATE);
    console.log(`nats fault: stopped server ${victim} at ${stopAt.toFixed(0)} ms, services reconnected at ${reconnectedAt.toFixed(0)} ms, restarted at ${startedAt.toFixed(0)} ms; sent ${gen.sent}, received ${received}, lost ${lost} (all in the outage)`);
  }, 120_000);
});
