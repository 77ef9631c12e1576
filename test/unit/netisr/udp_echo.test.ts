/**
 * UDP sockets per CPU: a UDP echo service (port 7) on 4 netisr CPUs. Each datagram must be
 * handled on the CPU its address pair hashes to, as predicted by an independent bit-by-bit
 * Toeplitz (checked first against the shared RSS vectors) and netisr_hashcpu = (h & 127) % 4;
 * the reply leaves from that same CPU through the asynchronous sendto, and every reply is the
 * request's bytes sent back (RFC 862) with a correct UDP checksum (RFC 768).
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { RouteTable } from "@dfly/core";
import { decodeFrameBatch, encodeFrameBatch } from "@dfly/transport";
import { type TopologyMsg } from "@dfly/wire";
import { IpDrop, Netisr, UdpNetisr, UdpSockets, type NetisrOutput } from "@dfly/netisr/internal";
import { udpEcho } from "@dfly/apps";
import { addrOf, hashcpuRef, hexBytes, toeplitzRef, udpChecksumOk, udpDatagramRef, udpPairHashRef } from "../../support/udp-ref.js";

const vectors = JSON.parse(readFileSync(new URL("../../fixtures/rss-vectors.json", import.meta.url), "utf8")) as {
  keys: Record<string, string>;
  microsoft: { src: string; dst: string; sport: number; dport: number; hash2: string; hash4: string }[];
  symmetric: { src: string; dst: string; sport: number; dport: number; hash2: string; hash4: string }[];
};
const KEY = hexBytes(vectors.keys.symmetric);
const SERVER = addrOf("198.18.0.1");
const NCPUS = 4;

const topo = (cpus: number[]): TopologyMsg => ({
  epoch: 1,
  cpus,
  rssKey: "6d5a".repeat(20),
  interfaces: [{ ifname: "ix0", model: "82599", mode: "interrupt", rings: 1, ringToCpu: [cpus[0]], redirect: new Array(128).fill(0), addresses: ["198.18.0.1/16"] }],
});

/** Four netisr CPUs wired to each other (redispatch) and to a capture of what they transmit. */
function stack() {
  const queued: { cpu: number; batch: Uint8Array }[] = [];
  const sent: { cpu: number; data: Uint8Array }[] = [];
  const cpus: Netisr[] = [];
  const udps: UdpNetisr[] = [];
  for (let c = 0; c < NCPUS; c++) {
    const output: NetisrOutput = {
      tx: (_ifname, _ring, batch) => {
        const fr = decodeFrameBatch(batch);
        if (typeof fr === "string") throw new Error(fr);
        for (const f of fr) sent.push({ cpu: c, data: f.data });
      },
      redispatch: (cpu, batch) => queued.push({ cpu, batch }),
    };
    const routes = new RouteTable();
    routes.add("198.18.0.0/16", { ifname: "ix0" });
    const box: { udp?: UdpNetisr } = {};
    const n = new Netisr({ cpu: c, topology: topo([0, 1, 2, 3]), routes, output, icmplim: 0, localInput: (p, b, off, hl, len, h) => box.udp!.localInput(p, b, off, hl, len, h) });
    const udp = (box.udp = new UdpNetisr(n));
    cpus.push(n);
    udps.push(udp);
  }
  const pump = async () => {
    for (let round = 0; round < 100; round++) {
      while (queued.length > 0) {
        const q = queued.shift()!;
        cpus[q.cpu].portFrames(q.batch);
      }
      await new Promise((r) => setImmediate(r));
      if (queued.length === 0) return;
    }
    throw new Error("the CPUs did not settle");
  };
  return { cpus, udps, sent, pump };
}

describe("the reference Toeplitz", () => {
  it("gives the shared vectors' address-pair hashes (Microsoft key and symmetric key)", () => {
    const ms = hexBytes(vectors.keys.microsoft);
    for (const v of vectors.microsoft) expect(udpPairHashRef(ms, addrOf(v.src), addrOf(v.dst))).toBe(Number(v.hash2));
    for (const v of vectors.symmetric) expect(udpPairHashRef(KEY, addrOf(v.src), addrOf(v.dst))).toBe(Number(v.hash2));
    const v = vectors.microsoft[0];
    const four = [...hexBytes(addrOf(v.src).toString(16).padStart(8, "0")), ...hexBytes(addrOf(v.dst).toString(16).padStart(8, "0")), v.sport >> 8, v.sport & 255, v.dport >> 8, v.dport & 255];
    expect(toeplitzRef(ms, four)).toBe(Number(v.hash4));
  });
});

describe("UDP echo on 4 CPUs", () => {
  it("each datagram is taken and answered on its address pair's CPU; replies intact; async sends counted", async () => {
    const s = stack();
    const so = new UdpSockets(s.udps);
    const echo = udpEcho(so);
    // Many clients (the hash is of the address pair: ports alone never move a datagram) with several ports each.
    const reqs: { src: number; sport: number; data: number[]; cpu: number }[] = [];
    for (let a = 0; a < 96; a++) {
      const src = addrOf(`198.18.${1 + (a >> 5)}.${10 + (a & 31)}`);
      for (let p = 0; p < 5; p++) {
        const sport = 1024 + a * 131 + p * 7919;
        const data = Array.from({ length: 1 + ((a * 5 + p) % 200) }, (_, i) => (a * 31 + p * 7 + i) & 255);
        reqs.push({ src, sport, data, cpu: hashcpuRef(udpPairHashRef(KEY, src, SERVER), NCPUS) });
      }
    }
    const expected = new Array(NCPUS).fill(0);
    for (const r of reqs) expected[r.cpu]++;
    expect(expected.every((n) => n > 0)).toBe(true);
    // The NIC: one ring on CPU 0, each frame carrying the RSS hash the reference computes.
    for (let i = 0; i < reqs.length; i += 32) {
      const frames = reqs.slice(i, i + 32).map((r) => ({ data: udpDatagramRef({ src: r.src, dst: SERVER, sport: r.sport, dport: 7, data: r.data }), hash: udpPairHashRef(KEY, r.src, SERVER) | 0 }));
      s.cpus[0].rxBatch(0, 0, encodeFrameBatch(frames));
      await s.pump();
    }
    await s.pump();

    expect(s.udps.map((u) => u.stats.udps_ipackets)).toEqual(expected);
    expect(s.udps.map((u) => u.stats.udps_opackets)).toEqual(expected);
    expect(s.udps.map((u) => u.stats.udps_noport + u.stats.udps_badsum + u.stats.udps_badlen + u.stats.udps_hdrops)).toEqual([0, 0, 0, 0]);
    expect(echo.echoed).toBe(reqs.length);
    expect(so.stats).toMatchObject({ asyncSends: reqs.length, asyncSent: reqs.length, asyncDropped: 0 });

    expect(s.sent).toHaveLength(reqs.length);
    const bySender = new Map(reqs.map((r) => [`${r.src}:${r.sport}`, r]));
    for (const { cpu, data } of s.sent) {
      const dst = ((data[16] << 24) | (data[17] << 16) | (data[18] << 8) | data[19]) >>> 0;
      const src = ((data[12] << 24) | (data[13] << 16) | (data[14] << 8) | data[15]) >>> 0;
      const dport = (data[22] << 8) | data[23];
      const r = bySender.get(`${dst}:${dport}`);
      expect(r).toBeDefined();
      bySender.delete(`${dst}:${dport}`);
      expect(src).toBe(SERVER);
      expect(data[9]).toBe(17);
      expect((data[20] << 8) | data[21]).toBe(7);
      expect([...data.subarray(28)]).toEqual(r!.data);
      expect(udpChecksumOk(data)).toBe(true);
      expect(cpu).toBe(r!.cpu);
    }
    expect(bySender.size).toBe(0);
  });

  it("sendto returns at once: the datagram leaves after the caller's turn, from the pair's CPU", async () => {
    const s = stack();
    const so = new UdpSockets(s.udps);
    const fd = so.socket();
    so.bind(fd, 0, 5353);
    const peer = addrOf("198.18.7.9");
    expect(so.sendto(fd, Uint8Array.of(1, 2, 3), peer, 9999)).toBe(3);
    expect(so.stats.asyncSends).toBe(1);
    expect(s.sent).toHaveLength(0);
    expect(s.udps.map((u) => u.stats.udps_opackets)).toEqual([0, 0, 0, 0]);
    await s.pump();
    const want = hashcpuRef(udpPairHashRef(KEY, SERVER, peer), NCPUS);
    expect(s.sent.map((x) => x.cpu)).toEqual([want]);
    expect(s.udps[want].stats.udps_opackets).toBe(1);
    expect(udpChecksumOk(s.sent[0].data)).toBe(true);
  });
});

describe("no socket for the port", () => {
  it("ICMP port unreachable (type 3, code 3) quoting the datagram goes back, counted as udps_noport on the pair's CPU", async () => {
    const s = stack();
    const src = addrOf("198.18.9.9");
    const d = udpDatagramRef({ src, dst: SERVER, sport: 4444, dport: 9, data: [1, 2, 3] });
    const h = udpPairHashRef(KEY, src, SERVER);
    s.cpus[0].rxBatch(0, 0, encodeFrameBatch([{ data: d, hash: h | 0 }]));
    await s.pump();
    const cpu = hashcpuRef(h, NCPUS);
    expect(s.udps.map((u) => u.stats.udps_noport)).toEqual([0, 1, 2, 3].map((c) => (c === cpu ? 1 : 0)));
    expect(s.sent).toHaveLength(1);
    const icmp = s.sent[0].data;
    expect(icmp[9]).toBe(1);
    expect([icmp[20], icmp[21]]).toEqual([3, 3]);
    expect([...icmp.subarray(28, 28 + 28)]).toEqual([...d.subarray(0, 28)]); // the IP header and the first 8 bytes of UDP
    expect(s.cpus[cpu].stats.ip.dropped[IpDrop.noport]).toBe(1);
  });
});
