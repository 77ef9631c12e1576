import { afterEach, describe, expect, it } from "vitest";
import { buildUdpPacket, ipAddr, ipPacketHash } from "@dfly/core";
import { ifnetTopology, Nic, NicDrop, nicInterfaceSpec } from "@dfly/nic";
import { decodeFrameBatch, encodeFrameBatch, InprocHub, subjects, type Msg, type Transport } from "@dfly/transport";

const hubs: InprocHub[] = [];
afterEach(() => {
  for (const h of hubs.splice(0)) h.close();
});

async function bus(): Promise<[Transport, Transport]> {
  const hub = new InprocHub();
  hubs.push(hub);
  return [await hub.connect(), await hub.connect()];
}

const frames = (n: number) =>
  Array.from({ length: n }, (_, i) =>
    buildUdpPacket({ src: ipAddr(`198.18.0.${1 + (i % 250)}`), dst: ipAddr(`10.${i & 255}.${i >> 8}.1`), sport: 1000 + i, dport: 9, payload: new Uint8Array(20) }),
  );

function collect(t: Transport, subject: string): Msg[] {
  const got: Msg[] = [];
  t.subscribe(subject, (m) => got.push(m));
  return got;
}

const settle = () => new Promise((r) => setTimeout(r, 20));

describe("Nic: RSS steering", () => {
  it("hashes every frame, steers it by the redirection table, and publishes ring batches carrying the hash", async () => {
    const [nicT, t] = await bus();
    const topo = ifnetTopology(nicInterfaceSpec({ ifname: "ix0", model: "82599", mode: "polling", rings: 4 }), [0, 1, 2, 3]);
    const nic = new Nic({ transport: nicT, cluster: "c", interfaces: [topo] });
    const rings = [0, 1, 2, 3].map((r) => collect(t, subjects.rx("c", "ix0", r)));
    await t.flush();
    await nicT.flush();
    const fs = frames(200);
    t.publish(subjects.wireIn("c", "ix0"), encodeFrameBatch(fs.map((data) => ({ data, hash: 0 }))));
    await settle();
    let total = 0;
    for (let r = 0; r < 4; r++) {
      for (const m of rings[r]) {
        const d = decodeFrameBatch(m.data);
        if (typeof d === "string") throw new Error(d);
        for (const f of d) {
          expect(f.hash).toBe(ipPacketHash(f.data));
          expect(topo.redirect[f.hash & 127]).toBe(r);
          total++;
        }
      }
    }
    expect(total).toBe(200);
    expect(rings.every((r) => r.length > 0)).toBe(true);
    expect([...nic.stats.get("ix0")!.rxFrames].reduce((a, b) => a + b, 0)).toBe(200);
    nic.close();
  });

  it("counts what it refuses: a non-batch message, empty and oversize frames, frames before any CPU exists", async () => {
    const [nicT, t] = await bus();
    const spec = nicInterfaceSpec({ ifname: "ix0", model: "82599", mode: "interrupt" });
    const nic = new Nic({ transport: nicT, cluster: "c", interfaces: [ifnetTopology(spec, [])], maxFrame: 1500 });
    await nicT.flush();
    t.publish(subjects.wireIn("c", "ix0"), encodeFrameBatch([{ data: frames(1)[0], hash: 0 }]));
    await settle();
    expect(nic.stats.get("ix0")!.dropped.get(NicDrop.notopology)).toBe(1);
    nic.setInterfaces([ifnetTopology(spec, [0])]);
    await nicT.flush();
    t.publish(subjects.wireIn("c", "ix0"), new Uint8Array([9, 9, 9]));
    t.publish(subjects.wireIn("c", "ix0"), encodeFrameBatch([{ data: new Uint8Array(0), hash: 0 }, { data: new Uint8Array(1600), hash: 0 }]));
    await settle();
    const st = nic.stats.get("ix0")!;
    expect(st.dropped.get(NicDrop.badbatch)).toBe(1);
    expect(st.dropped.get(NicDrop.runt)).toBe(1);
    expect(st.dropped.get(NicDrop.oversize)).toBe(1);
    nic.close();
  });
});

describe("Nic: interrupt moderation", () => {
  async function setup(frames: number, usecs: number) {
    const [nicT, t] = await bus();
    const topo = ifnetTopology(nicInterfaceSpec({ ifname: "ix0", model: "82599", mode: "interrupt", rings: 1 }), [0]);
    const nic = new Nic({ transport: nicT, cluster: "c", interfaces: [topo], moderation: { frames, usecs } });
    const got = collect(t, subjects.rx("c", "ix0", 0));
    await t.flush();
    await nicT.flush();
    return { nic, got, wire: (fs: Uint8Array[]) => t.publish(subjects.wireIn("c", "ix0"), encodeFrameBatch(fs.map((data) => ({ data, hash: 0 })))) };
  }

  it("holds a ring's frames until the frame threshold", async () => {
    const { nic, got, wire } = await setup(100, 10_000_000);
    const fs = frames(130);
    wire(fs.slice(0, 60));
    await settle();
    expect(got).toHaveLength(0); // 60 < 100 frames, and the 10 s delay is far away
    wire(fs.slice(60));
    await settle();
    expect(got).toHaveLength(1); // threshold crossed: one interrupt with all 130
    expect(decodeFrameBatch(got[0].data)).toHaveLength(130);
    expect(nic.stats.get("ix0")!.interrupts).toBe(1);
    nic.close();
  });

  it("delivers what is left when the moderation delay is up", async () => {
    const { nic, got, wire } = await setup(100, 30_000);
    wire(frames(20));
    const end = Date.now() + 2000;
    while (got.length === 0 && Date.now() < end) await settle();
    expect(got).toHaveLength(1);
    expect(decodeFrameBatch(got[0].data)).toHaveLength(20);
    nic.close();
  });
});

describe("Nic: TX", () => {
  it("puts TX ring batches on the wire unchanged and counts them per ring", async () => {
    const [nicT, t] = await bus();
    const topo = ifnetTopology(nicInterfaceSpec({ ifname: "ix1", model: "82599", mode: "interrupt", rings: 2 }), [0, 1]);
    const nic = new Nic({ transport: nicT, cluster: "c", interfaces: [topo] });
    const out = collect(t, subjects.wireOut("c", "ix1"));
    await t.flush();
    await nicT.flush();
    const b = encodeFrameBatch(frames(5).map((data) => ({ data, hash: 7 })));
    t.publish(subjects.tx("c", "ix1", 1), b.slice());
    await settle();
    expect(out).toHaveLength(1);
    expect([...out[0].data]).toEqual([...b]);
    expect([...nic.stats.get("ix1")!.txFrames]).toEqual([0, 5]);
    nic.close();
  });
});

describe("Nic: link impairments on wire-out", () => {
  it("loses frames at the configured rate (deterministic from the seed), counts them, and can reorder", async () => {
    const [nicT, t] = await bus();
    const topo = ifnetTopology(nicInterfaceSpec({ ifname: "ix1", model: "82599", mode: "interrupt", rings: 1 }), [0]);
    const nic = new Nic({ transport: nicT, cluster: "c", interfaces: [topo], impair: { loss: 0.1, reorder: 0.2, seed: 42 } });
    const out = collect(t, subjects.wireOut("c", "ix1"));
    await t.flush();
    await nicT.flush();
    const fs = frames(1000);
    for (let i = 0; i < 1000; i += 100) t.publish(subjects.tx("c", "ix1", 0), encodeFrameBatch(fs.slice(i, i + 100).map((data) => ({ data, hash: 0 }))));
    await settle();
    const got = out.flatMap((m) => {
      const d = decodeFrameBatch(m.data);
      return typeof d === "string" ? [] : d;
    });
    const lost = nic.stats.get("ix1")!.dropped.get(NicDrop.impair_loss) ?? 0;
    expect(got.length + lost).toBe(1000);
    expect(lost).toBeGreaterThan(50);
    expect(lost).toBeLessThan(150);
    const ports = got.map((f) => (f.data[20] << 8) | f.data[21]);
    expect(ports.some((p, i) => i > 0 && p < ports[i - 1])).toBe(true); // reordered
    expect(new Set(ports).size).toBe(got.length); // nothing duplicated
    nic.close();
  });

  it("a delay spike holds what is sent during it and lets it go, in order, when it ends", async () => {
    const [nicT, t] = await bus();
    const topo = ifnetTopology(nicInterfaceSpec({ ifname: "ix1", model: "82599", mode: "interrupt", rings: 1 }), [0]);
    // Periods start at construction: the first 300 ms of every 60 s are a spike.
    const nic = new Nic({ transport: nicT, cluster: "c", interfaces: [topo], impair: { spikeMs: 300, spikeEveryMs: 60_000 } });
    const t0 = performance.now();
    const out = collect(t, subjects.wireOut("c", "ix1"));
    await t.flush();
    await nicT.flush();
    const fs = frames(4);
    t.publish(subjects.tx("c", "ix1", 0), encodeFrameBatch(fs.slice(0, 2).map((data) => ({ data, hash: 0 }))));
    t.publish(subjects.tx("c", "ix1", 0), encodeFrameBatch(fs.slice(2).map((data) => ({ data, hash: 0 }))));
    await settle();
    expect(out.length).toBe(0);
    while (out.length < 2 && performance.now() - t0 < 2000) await new Promise((r) => setTimeout(r, 20));
    expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
    const ports = out.flatMap((m) => {
      const d = decodeFrameBatch(m.data);
      return typeof d === "string" ? [] : d;
    }).map((f) => (f.data[20] << 8) | f.data[21]);
    expect(ports).toEqual(fs.map((f) => (f[20] << 8) | f[21]));
    nic.close();
  });

  it("refuses impossible settings", () => {
    expect(() => new Nic({ transport: undefined as unknown as Transport, cluster: "c", interfaces: [], impair: { loss: 2 } }).close()).toThrow(/probability/);
    expect(() => new Nic({ transport: undefined as unknown as Transport, cluster: "c", interfaces: [], impair: { spikeMs: 500, spikeEveryMs: 400 } }).close()).toThrow(/spike/);
    expect(() => new Nic({ transport: undefined as unknown as Transport, cluster: "c", interfaces: [], impair: { spikeMs: 500 } }).close()).toThrow(/spike/);
  });
});
