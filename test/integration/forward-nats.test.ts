/**
 * The packet path over a real NATS server (a container from test/support/nats.ts) and a
 * real gRPC control: every service runs as modules in this test process, each with its own
 * NATS connection — the control (JetStream KV), the NIC, 4 netisr CPUs with /metrics on
 * HTTP, pktgen and the sink.
 *
 * It shows: zero loss at a moderate rate; every packet of a flow processed by exactly the
 * CPU netisr_hashcpu names (per-CPU counters equal the prediction, with unequal flow sizes
 * so a misplaced flow shows); /metrics of every CPU scraped over HTTP add up to the pktgen
 * and sink totals; with fewer rings than CPUs the redispatch counters equal what the
 * ringmap predicts; malformed frames from the fuzzer are dropped and counted by reason while
 * forwarding goes on; a route added under load is on every CPU when the call returns; a CPU
 * started later loads the whole table.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FlowSet, Pktgen, Sink } from "@dfly/apps";
import { ControlClient, startControl, type ControlHandle } from "@dfly/control";
import type { InterfaceSpecT, TopologyMsg } from "@dfly/wire";
import { ipPacketHash, netisrHashcpu, toeplitzHash } from "@dfly/core";
import { startNetisr, type NetisrHandle } from "@dfly/netisr/internal";
import { nicInterfaceSpec, startNic, type NicHandle } from "@dfly/nic";
import { createTransport, encodeFrameBatch, subjects, type Transport } from "@dfly/transport";
import { FuzzRng, mutateFrame, seedFrames } from "../support/fuzz.js";
import { startNats, type NatsContainer } from "../support/nats.js";

let nats: NatsContainer;
beforeAll(async () => {
  nats = await startNats();
});
afterAll(async () => {
  await nats?.stop();
});

const DST = ["10.0.0.0/8"];
const ROUTES = [
  { prefix: "198.18.0.0/24", ifname: "ix0" },
  { prefix: "198.18.1.0/24", ifname: "ix1" },
  { prefix: "10.0.0.0/8", gateway: "198.18.1.2" },
];

interface Cluster {
  name: string;
  control: ControlHandle;
  nic: NicHandle;
  cpus: NetisrHandle[];
  apps: Transport;
  transports: Transport[];
  addCpu(cpu: number): Promise<NetisrHandle>;
  converge(): Promise<TopologyMsg>;
  stop(): Promise<void>;
}

async function startCluster(name: string, ncpus: number, rings?: number): Promise<Cluster> {
  const transports: Transport[] = [];
  const conn = async (who: string) => {
    const t = await createTransport({ natsUrl: nats.url, name: `${name}-${who}` });
    transports.push(t);
    return t;
  };
  const specs: InterfaceSpecT[] = ["ix0", "ix1"].map((ifname) =>
    nicInterfaceSpec({ ifname, model: "82599", mode: "interrupt", ...(rings !== undefined ? { rings } : {}) }),
  );
  const control = await startControl({ transport: await conn("control"), cluster: name, grpcHost: "127.0.0.1", grpcPort: 0, interfaces: specs });
  for (const r of ROUTES) await control.parts.routes.add(r);
  const nic = await startNic({ transport: await conn("nic"), cluster: name, specs, controlAddr: control.grpcAddr, metricsPort: 0 });
  const cpus: NetisrHandle[] = [];
  const addCpu = async (cpu: number) => {
    const h = await startNetisr({ transport: await conn(`cpu${cpu}`), cluster: name, cpu, controlAddr: control.grpcAddr, metricsPort: 0 });
    await h.whenReady();
    cpus.push(h);
    return h;
  };
  for (let c = 0; c < ncpus; c++) await addCpu(c);
  const apps = await conn("apps");
  const c: Cluster = {
    name,
    control,
    nic,
    cpus,
    apps,
    transports,
    addCpu,
    converge: async () => {
      const end = Date.now() + 15_000;
      for (;;) {
        const t = control.parts.cluster.topology();
        if (t.cpus.length === cpus.length && nic.epoch() === t.epoch && cpus.every((h) => h.service.netisr.epoch === t.epoch)) return t;
        if (Date.now() > end) throw new Error(`no convergence: control epoch ${t.epoch}, NIC ${nic.epoch()}, CPUs ${cpus.map((h) => h.service.netisr.epoch)}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    stop: async () => {
      for (const h of cpus) await h.stop();
      await nic.stop();
      await control.stop(500);
      for (const t of transports) await t.close();
    },
  };
  await c.converge();
  return c;
}

/** Scrapes one /metrics endpoint over HTTP: `name{labels}` → value. */
async function scrape(addr: string): Promise<Map<string, number>> {
  const r = await fetch(`http://${addr}/metrics`);
  expect(r.status).toBe(200);
  const out = new Map<string, number>();
  for (const line of (await r.text()).split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const i = line.lastIndexOf(" ");
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

function sumOf(m: Map<string, number>, name: string, filter = ""): number {
  let n = 0;
  for (const [k, v] of m) if ((k === name || k.startsWith(`${name}{`)) && k.includes(filter)) n += v;
  return n;
}

/** Sends `count` packets round robin over `flows` flows and waits until the sink has them all (or 10 s passed). */
async function offer(c: Cluster, sink: Sink, flows: number, count: number, rate: number): Promise<Pktgen> {
  const gen = new Pktgen({ transport: c.apps, cluster: c.name, ifname: "ix0", flows, dst: DST, rate, count, batch: 64 });
  const before = sink.counter.pktgen;
  await gen.run();
  const end = Date.now() + 10_000;
  while (sink.counter.pktgen - before < gen.sent && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  return gen;
}

/** Waits until the sink has seen nothing new for 300 ms (in-flight frames have arrived). */
async function quiet(sink: Sink): Promise<void> {
  let last = -1;
  let since = Date.now();
  const end = Date.now() + 10_000;
  while (Date.now() - since < 300 && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 25));
    if (sink.counter.received !== last) {
      last = sink.counter.received;
      since = Date.now();
    }
  }
}

/** The CPU id netisr_hashcpu names for each flow of a FlowSet. */
function owners(fs: FlowSet, cpus: readonly number[]): number[] {
  return Array.from({ length: fs.count }, (_, f) => cpus[netisrHashcpu(toeplitzHash(fs.hashes[f]), cpus.length)]);
}

describe("forwarding over NATS: 4 CPUs, 4 rings", () => {
  let c: Cluster;
  let sink: Sink;
  beforeAll(async () => {
    c = await startCluster("fwd4", 4);
    sink = new Sink({ transport: c.apps, cluster: c.name, ifnames: ["ix1"], flows: 256 });
    await sink.start();
  });
  afterAll(async () => {
    sink?.stop();
    await c?.stop();
  });

  it("forwards every packet, each flow on exactly the CPU netisr_hashcpu names, and /metrics add up", async () => {
    const topo = c.control.parts.cluster.topology();
    expect(topo.interfaces.find((i) => i.ifname === "ix0")?.rings).toBe(4);
    // Two offers with different flow sets: flow sizes differ, so a flow on the wrong CPU changes a CPU's total.
    const a = await offer(c, sink, 256, 4000, 20_000);
    expect(sink.counter.pktgen).toBe(a.sent);
    expect(sink.counter.duplicates).toBe(0);
    const b = await offer(c, sink, 37, 1500, 20_000);
    const sent = a.sent + b.sent;
    expect(sink.counter.pktgen).toBe(sent);
    expect(sink.counter.other).toBe(0);

    const own = owners(a.flows, topo.cpus);
    const expected = new Map<number, number>(topo.cpus.map((cpu) => [cpu, 0]));
    for (let f = 0; f < a.flows.count; f++) expected.set(own[f], expected.get(own[f])! + a.sentPerFlow[f] + (f < 37 ? b.sentPerFlow[f] : 0));
    expect(new Set(own).size).toBe(4); // the flow set spreads over all CPUs

    let fwd = 0;
    let rx = 0;
    let tx = 0;
    for (const h of c.cpus) {
      const m = await scrape(h.metricsAddr!);
      const cpu = String(h.service.cpu);
      const forwarded = sumOf(m, "dfly_ip_forwarded_total", `cpu="${cpu}"`);
      expect(forwarded, `cpu ${cpu}`).toBe(expected.get(h.service.cpu));
      expect(sumOf(m, "dfly_netisr_redispatched_total")).toBe(0);
      expect(sumOf(m, "dfly_ip_dropped_total")).toBe(0);
      fwd += forwarded;
      rx += sumOf(m, "dfly_netisr_rx_packets_total");
      tx += sumOf(m, "dfly_netisr_tx_packets_total", 'ifname="ix1"');
    }
    expect(fwd).toBe(sent);
    expect(rx).toBe(sent);
    expect(tx).toBe(sent);
    const nicM = await scrape(c.nic.metricsAddr!);
    expect(sumOf(nicM, "dfly_nic_rx_frames_total", 'ifname="ix0"')).toBe(sent);
    expect(sumOf(nicM, "dfly_nic_tx_frames_total", 'ifname="ix1"')).toBe(sent);
  });

  it("drops malformed frames from the fuzzer with counted reasons while forwarding goes on", async () => {
    const rng = new FuzzRng(7);
    const seeds = seedFrames(rng);
    const bad = Array.from({ length: 400 }, () => mutateFrame(rng.pick(seeds), rng)).filter((f) => f.length > 0 && f.length <= 9000);
    const before = await Promise.all(c.cpus.map((h) => scrape(h.metricsAddr!)));
    const nicBefore = await scrape(c.nic.metricsAddr!);
    const good = new Pktgen({ transport: c.apps, cluster: c.name, ifname: "ix0", flows: 256, dst: DST, rate: 20_000, count: 2000, batch: 64 });
    const base = sink.counter.pktgen;
    const run = good.run();
    for (let i = 0; i < bad.length; i += 50) {
      c.apps.publish(subjects.wireIn(c.name, "ix0"), encodeFrameBatch(bad.slice(i, i + 50).map((data) => ({ data, hash: 0 }))));
      await new Promise((r) => setTimeout(r, 5));
    }
    // Something that is not a frame batch at all is refused by the NIC.
    c.apps.publish(subjects.wireIn(c.name, "ix0"), new Uint8Array([1, 2, 3, 4]));
    await run;
    const end = Date.now() + 10_000;
    while (sink.counter.pktgen - base < good.sent && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    expect(sink.counter.pktgen - base).toBe(good.sent); // the good traffic lost nothing

    // Every malformed frame is accounted for: the NIC steered it (the netisr forwarded,
    // delivered or dropped it with a reason) — nothing vanished, nothing crashed.
    const rxNow = () => c.cpus.reduce((n, h) => n + h.service.snapshot().rx, 0);
    const rxBefore = before.reduce((n, m) => n + sumOf(m, "dfly_netisr_rx_packets_total"), 0);
    const until = Date.now() + 10_000;
    while (rxNow() - rxBefore < good.sent + bad.length && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
    const settled = (h: (typeof c.cpus)[number]) => {
      const s = h.service.snapshot();
      return s.forwarded + s.delivered + s.droppedTotal;
    };
    let prev = -1;
    while (c.cpus.reduce((n, h) => n + settled(h), 0) !== prev && Date.now() < until) {
      prev = c.cpus.reduce((n, h) => n + settled(h), 0);
      await new Promise((r) => setTimeout(r, 50));
    }
    const after = await Promise.all(c.cpus.map((h) => scrape(h.metricsAddr!)));
    const nicAfter = await scrape(c.nic.metricsAddr!);
    const d = (name: string, f = "") => after.reduce((n, m, i) => n + sumOf(m, name, f) - sumOf(before[i], name, f), 0);
    const rx = d("dfly_netisr_rx_packets_total");
    expect(sumOf(nicAfter, "dfly_nic_rx_frames_total") - sumOf(nicBefore, "dfly_nic_rx_frames_total")).toBe(good.sent + bad.length);
    expect(rx).toBe(good.sent + bad.length);
    expect(d("dfly_ip_forwarded_total") + d("dfly_ip_delivered_total") + d("dfly_ip_dropped_total")).toBe(rx);
    const dropped = d("dfly_ip_dropped_total");
    expect(dropped).toBeGreaterThan(bad.length / 4);
    const reasons = new Set<string>();
    for (let i = 0; i < after.length; i++) {
      for (const [k, v] of after[i]) {
        if (k.startsWith("dfly_ip_dropped_total{") && v > (before[i].get(k) ?? 0)) reasons.add(/reason="([^"]+)"/.exec(k)![1]);
      }
    }
    expect(reasons.size).toBeGreaterThanOrEqual(3);
    expect([...reasons].some((r) => ["badsum", "badhlen", "tooshort", "badvers", "badlen", "rcvshort", "rcvbadoff", "hdrops"].includes(r))).toBe(true);
    expect(sumOf(nicAfter, "dfly_nic_dropped_total", 'reason="badbatch"')).toBe(1);
  });

  it("a route added under load is on every CPU when the call returns; a CPU started later has the whole table", async () => {
    const client = new ControlClient(c.control.grpcAddr, 10_000);
    try {
      const gen = new Pktgen({ transport: c.apps, cluster: c.name, ifname: "ix0", flows: 64, dst: DST, rate: 20_000, batch: 64 });
      const run = gen.run();
      await new Promise((r) => setTimeout(r, 100));
      const res = await client.addRoute({ prefix: "172.20.0.0/16", gateway: "198.18.1.3" });
      // Returned: every CPU's /metrics (scraped now, over HTTP) shows the control's digest and route count.
      const expectedDigest = c.control.parts.routes.digest();
      for (const h of c.cpus) {
        const m = await scrape(h.metricsAddr!);
        expect(m.get(`dfly_route_digest_info{cpu="${h.service.cpu}",digest="${expectedDigest}"}`), `cpu ${h.service.cpu}`).toBe(1);
        expect(m.get(`dfly_route_entries{cpu="${h.service.cpu}"}`)).toBe(ROUTES.length + 1);
      }
      expect([...res.appliedCpus].sort()).toEqual([0, 1, 2, 3]);
      gen.stop();
      await run;
      await quiet(sink);

      // Traffic to the new prefix is forwarded at once (no noroute drop on any CPU).
      const s2 = new Sink({ transport: c.apps, cluster: c.name, ifnames: ["ix1"], flows: 32 });
      await s2.start();
      const g2 = new Pktgen({ transport: c.apps, cluster: c.name, ifname: "ix0", flows: 32, dst: ["172.20.0.0/16"], rate: 10_000, count: 500, batch: 32 });
      await g2.run();
      const end = Date.now() + 10_000;
      while (s2.counter.pktgen < g2.sent && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      expect(s2.counter.pktgen).toBe(g2.sent);
      s2.stop();

      // A fifth CPU joins: it registers, loads the whole table, and the NIC and CPUs move to the new epoch.
      const late = await c.addCpu(4);
      expect(late.service.routes.digest()).toBe(expectedDigest);
      expect(late.service.routes.size).toBe(ROUTES.length + 1);
      const t = await c.converge();
      expect(t.cpus).toEqual([0, 1, 2, 3, 4]);
      const v = await client.verifyRoutes();
      expect(v.consistent).toBe(true);
      expect(v.cpus.map((x) => x.cpu).sort()).toEqual([0, 1, 2, 3, 4]);
    } finally {
      client.close();
    }
  });
});

describe("forwarding over NATS: 4 CPUs, 2 rings (redispatch)", () => {
  let c: Cluster;
  beforeAll(async () => {
    c = await startCluster("fwd2", 4, 2);
  });
  afterAll(async () => {
    await c?.stop();
  });

  it("redispatches exactly the frames the ringmap receives on a CPU that does not own them", async () => {
    const topo = c.control.parts.cluster.topology();
    const ix0 = topo.interfaces.find((i) => i.ifname === "ix0")!;
    expect(ix0.rings).toBe(2);
    const sink = new Sink({ transport: c.apps, cluster: c.name, ifnames: ["ix1"], flows: 200 });
    await sink.start();
    const gen = await offer(c, sink, 200, 3000, 20_000);
    sink.stop();
    expect(sink.counter.pktgen).toBe(gen.sent);

    // Prediction: a flow's frames arrive on ringToCpu[redirect[hash & 127]]; its owner is netisr_hashcpu.
    const own = owners(gen.flows, topo.cpus);
    const predOut = new Map<number, number>(topo.cpus.map((x) => [x, 0]));
    const predIn = new Map<number, number>(topo.cpus.map((x) => [x, 0]));
    const predFwd = new Map<number, number>(topo.cpus.map((x) => [x, 0]));
    for (let f = 0; f < gen.flows.count; f++) {
      const h = ipPacketHash(gen.flows.templates[f]);
      const rcv = ix0.ringToCpu[ix0.redirect[h & (ix0.redirect.length - 1)]];
      const n = gen.sentPerFlow[f];
      predFwd.set(own[f], predFwd.get(own[f])! + n);
      if (rcv !== own[f]) {
        predOut.set(rcv, predOut.get(rcv)! + n);
        predIn.set(own[f], predIn.get(own[f])! + n);
      }
    }
    expect([...predOut.values()].reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    for (const h of c.cpus) {
      const m = await scrape(h.metricsAddr!);
      const cpu = h.service.cpu;
      expect(sumOf(m, "dfly_netisr_redispatched_total"), `cpu ${cpu} redispatched`).toBe(predOut.get(cpu));
      expect(sumOf(m, "dfly_netisr_redispatch_received_total"), `cpu ${cpu} received`).toBe(predIn.get(cpu));
      expect(sumOf(m, "dfly_ip_forwarded_total"), `cpu ${cpu} forwarded`).toBe(predFwd.get(cpu));
    }
  });
});
