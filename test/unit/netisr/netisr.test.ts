import { describe, expect, it } from "vitest";
import {
  buildIcmpEchoPacket,
  buildUdpPacket,
  inCksum,
  ipAddr,
  ipPacketHash,
  parsePacket,
  RouteTable,
} from "@dfly/core";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "../../support/docker.js";
import { decodeFrameBatch, encodeFrameBatch } from "@dfly/transport";
import { type TopologyMsg } from "@dfly/wire";
import { IpDrop, Netisr, type NetisrOutput } from "@dfly/netisr/internal";

const topo = (cpus: number[]): TopologyMsg => ({
  epoch: 1,
  cpus,
  rssKey: "6d5a".repeat(20),
  interfaces: [
    { ifname: "ix0", model: "82599", mode: "interrupt", rings: 1, ringToCpu: [cpus[0]], redirect: new Array(128).fill(0), addresses: ["198.18.0.1/24"] },
    { ifname: "ix1", model: "82599", mode: "interrupt", rings: 1, ringToCpu: [cpus[0]], redirect: new Array(128).fill(0), addresses: ["198.18.1.1/24"] },
  ],
});

let table: RouteTable | undefined;
function routes(): RouteTable {
  if (table) return table;
  table = new RouteTable();
  table.add("198.18.0.0/24", { ifname: "ix0" });
  table.add("198.18.1.0/24", { ifname: "ix1" });
  table.add("10.0.0.0/8", { gateway: "198.18.1.2" });
  return table;
}

interface Sent {
  tx: { ifname: string; ring: number; batch: Uint8Array }[];
  rd: { cpu: number; batch: Uint8Array }[];
}
function make(cpu: number, cpus: number[], nowMs = () => 0): { n: Netisr; sent: Sent } {
  const sent: Sent = { tx: [], rd: [] };
  const output: NetisrOutput = {
    tx: (ifname, ring, batch) => sent.tx.push({ ifname, ring, batch }),
    redispatch: (c, batch) => sent.rd.push({ cpu: c, batch }),
  };
  return { n: new Netisr({ cpu, topology: topo(cpus), routes: routes(), output, nowMs }), sent };
}

const udp = (srcHost: number, dst: string, ttl = 64, sport = 1000) =>
  buildUdpPacket({ src: ipAddr(`198.18.0.${srcHost}`), dst: ipAddr(dst), sport, dport: 9, ttl, payload: new Uint8Array(18) });
const batchOf = (frames: Uint8Array[]) => encodeFrameBatch(frames.map((data) => ({ data, hash: ipPacketHash(data) })));
const frames = (b: Uint8Array) => {
  const d = decodeFrameBatch(b);
  if (typeof d === "string") throw new Error(d);
  return d;
};

describe("Netisr: one CPU", () => {
  it("forwards in place: the RX batch itself goes to TX with TTL decremented", () => {
    const { n, sent } = make(0, [0]);
    const b = batchOf([udp(2, "10.1.1.1"), udp(3, "10.2.2.2"), udp(4, "198.18.1.9")]);
    n.rxBatch(0, 0, b);
    expect(sent.tx).toHaveLength(1);
    expect(sent.tx[0].ifname).toBe("ix1");
    expect(sent.tx[0].batch.buffer).toBe(b.buffer); // same memory, no copy
    const out = frames(sent.tx[0].batch);
    expect(out).toHaveLength(3);
    for (const f of out) {
      expect(f.data[8]).toBe(63);
      expect(inCksum(f.data, 0, 20)).toBe(0);
    }
    expect(n.stats.ip.forwarded).toBe(3);
    expect(n.interfaces[0].rxFrames[0]).toBe(3);
    expect(n.interfaces[1].txFrames).toBe(3);
  });

  it("drops are counted by reason and compacted out of the batch", () => {
    const { n, sent } = make(0, [0]);
    const bad = udp(2, "10.1.1.1");
    bad[11] ^= 0xff; // badsum
    const noroute = udp(3, "192.0.2.1");
    const b = batchOf([udp(2, "10.1.1.1"), bad, noroute, udp(5, "10.5.5.5")]);
    n.rxBatch(0, 0, b);
    const toIx1 = sent.tx.filter((t) => t.ifname === "ix1").flatMap((t) => frames(t.batch));
    expect(toIx1).toHaveLength(2);
    expect(n.stats.ip.dropped[IpDrop.badsum]).toBe(1);
    expect(n.stats.ip.dropped[IpDrop.noroute]).toBe(1);
    // The noroute drop answered with ICMP unreachable host back out ix0.
    const icmp = sent.tx.filter((t) => t.ifname === "ix0").flatMap((t) => frames(t.batch));
    expect(icmp).toHaveLength(1);
    const r = parsePacket(icmp[0].data);
    expect(r.ok).toBe(true);
    if (r.ok && r.l4.proto === "icmp") {
      expect([r.l4.icmp.type, r.l4.icmp.code]).toEqual([3, 1]);
      expect(r.ip.src).toBe(ipAddr("198.18.0.1"));
      expect(r.ip.dst).toBe(ipAddr("198.18.0.3"));
    } else throw new Error("not icmp");
  });

  it("TTL exceeded: ICMP time exceeded quoting the original header + 8 bytes, checksums valid", () => {
    const { n, sent } = make(0, [0]);
    const orig = udp(7, "10.1.1.1", 1);
    n.rxBatch(0, 0, batchOf([orig]));
    expect(n.stats.ip.dropped[IpDrop.timxceed]).toBe(1);
    const [e] = frames(sent.tx[0].batch);
    const r = parsePacket(e.data);
    if (!r.ok || r.l4.proto !== "icmp") throw new Error("bad icmp");
    expect(r.l4.icmp.type).toBe(11);
    expect(e.data.subarray(28)).toEqual(orig.subarray(0, 28));
    expect(n.stats.ip.icmpOut[11]).toBe(1);
  });

  it("echo to a local address is answered in place; UDP to a local address gets port unreachable", () => {
    const { n, sent } = make(0, [0]);
    const echo = buildIcmpEchoPacket({ src: ipAddr("198.18.0.9"), dst: ipAddr("198.18.1.1"), echoId: 7, seq: 3, payload: new Uint8Array([1, 2, 3]) });
    n.rxBatch(0, 0, batchOf([echo, udp(9, "198.18.0.1")]));
    const out = sent.tx.flatMap((t) => frames(t.batch).map((f) => parsePacket(f.data)));
    const kinds = out.map((r) => (r.ok && r.l4.proto === "icmp" ? [r.l4.icmp.type, r.l4.icmp.code] : null));
    expect(kinds).toContainEqual([0, 0]);
    expect(kinds).toContainEqual([3, 3]);
    const reply = out.find((r) => r.ok && r.l4.proto === "icmp" && r.l4.icmp.type === 0);
    if (!reply || !reply.ok || reply.l4.proto !== "icmp") throw new Error("no reply");
    expect(reply.ip.src).toBe(ipAddr("198.18.1.1"));
    expect(reply.ip.dst).toBe(ipAddr("198.18.0.9"));
    expect([reply.l4.icmp.id, reply.l4.icmp.seq]).toEqual([7, 3]);
    expect(n.stats.ip.delivered).toBe(1);
    expect(n.stats.ip.dropped[IpDrop.noport]).toBe(1);
  });

  it("ICMP errors are rate limited per second (icmplim 200)", () => {
    let now = 0;
    const { n, sent } = make(0, [0], () => now);
    const expired = Array.from({ length: 250 }, (_, i) => udp(2 + (i % 200), "10.1.1.1", 1, 1000 + i));
    for (let i = 0; i < 250; i += 50) n.rxBatch(0, 0, batchOf(expired.slice(i, i + 50)));
    const count = () => sent.tx.reduce((k, t) => k + frames(t.batch).length, 0);
    expect(count()).toBe(200);
    expect(n.stats.ip.icmpRatelimited).toBe(50);
    now = 1500;
    n.rxBatch(0, 0, batchOf(expired.slice(0, 10)));
    expect(count()).toBe(210);
  });
});

describe("Netisr: redispatch to the owner CPU", () => {
  it("frames whose netisr_hashcpu is another CPU go to that CPU's port, tagged with the ring", () => {
    // Reference: the shared symmetric-key vectors (hash4 of each 4-tuple), and the owner worked
    // by hand as DragonFly's netisr_hashcpu: ((hash & 0xffff) & 127) % ncpus.
    const vectors = (JSON.parse(readFileSync(join(repoRoot, "test/fixtures/rss-vectors.json"), "utf8")) as { symmetric: { src: string; dst: string; sport: number; dport: number; hash4: string }[] }).symmetric.slice(0, 60);
    const cpus = [0, 1, 2];
    const { n, sent } = make(1, cpus);
    const fs = vectors.map((v) => buildUdpPacket({ src: ipAddr(v.src), dst: ipAddr(v.dst), sport: v.sport, dport: v.dport, payload: new Uint8Array(18) }));
    const owners = vectors.map((v) => cpus[(Number(v.hash4) & 127) % 3]);
    n.rxBatch(0, 0, encodeFrameBatch(fs.map((data, i) => ({ data, hash: Number(vectors[i].hash4) >>> 0 }))));
    const mine = owners.filter((c) => c === 1).length;
    expect(mine).toBeGreaterThan(0);
    expect(n.stats.redispatched).toBe(60 - mine);
    for (const c of [0, 2]) {
      const got = sent.rd.filter((r) => r.cpu === c).flatMap((r) => frames(r.batch));
      expect(got.map((f) => [...f.data.subarray(12, 20)].join("."))).toEqual(fs.filter((_, i) => owners[i] === c).map((f) => [...f.subarray(12, 20)].join(".")));
      for (const f of got) expect(f.tag).toBe(0);
    }
    // The owner processes them from its port.
    const owner = make(0, cpus);
    for (const r of sent.rd.filter((x) => x.cpu === 0)) owner.n.portFrames(r.batch);
    expect(owner.n.stats.redispatchReceived).toBe(owners.filter((o) => o === 0).length);
    expect(owner.n.stats.redispatched).toBe(0);
  });

  it("a malformed batch is refused and counted, nothing else happens", () => {
    const { n, sent } = make(0, [0]);
    n.rxBatch(0, 0, new Uint8Array([1, 2, 3]));
    expect(n.stats.badBatches).toBe(1);
    expect(sent.tx).toHaveLength(0);
  });
});
