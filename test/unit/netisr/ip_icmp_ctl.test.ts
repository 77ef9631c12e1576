/**
 * ICMP errors to tcp_ctlinput: a hand-built frag-needed (RFC 792 layout, RFC 1191 next-hop MTU)
 * arriving on any CPU reaches the CPU that owns the quoted connection — the one the peer's own
 * segments hash to (symmetric Toeplitz of the 4-tuple) — with the quote's addresses, ports,
 * sequence number and MTU.
 */
import { describe, expect, it } from "vitest";
import { buildTcpPacket, ipAddr, ipPacketHash, RouteTable, TcpFlags } from "@dfly/core";
import { decodeFrameBatch, encodeFrameBatch } from "@dfly/transport";
import { type TopologyMsg } from "@dfly/wire";
import { Netisr, type IcmpTcpQuote, type NetisrOutput } from "@dfly/netisr/internal";
import { sum16, withSum } from "../../support/inet-sum.js";

/** 198.18.0.254 → 198.18.0.1: unreachable/needfrag (MTU 1000) quoting our 1500-byte segment 198.18.0.1:80 → 10.9.9.9:fport, seq 0x01020304. */
function fragNeeded(fport = 40000): Uint8Array {
  const inner = withSum([0x45, 0, 0x05, 0xdc, 0, 1, 0x40, 0, 64, 6, 0, 0, 198, 18, 0, 1, 10, 9, 9, 9], 10);
  const th = [0, 80, fport >> 8, fport & 255, 1, 2, 3, 4];
  const icmp = withSum([3, 4, 0, 0, 0, 0, 0x03, 0xe8, ...inner, ...th], 2);
  const total = 20 + icmp.length;
  const ip = withSum([0x45, 0, total >> 8, total & 255, 0, 2, 0, 0, 64, 1, 0, 0, 198, 18, 0, 254, 198, 18, 0, 1], 10);
  return Uint8Array.from([...ip, ...icmp]);
}

const topo = (cpus: number[]): TopologyMsg => ({
  epoch: 1,
  cpus,
  rssKey: "6d5a".repeat(20),
  interfaces: [{ ifname: "ix0", model: "82599", mode: "interrupt", rings: 1, ringToCpu: [cpus[0]], redirect: new Array(128).fill(0), addresses: ["198.18.0.1/24"] }],
});

function make(cpu: number) {
  const rd: { cpu: number; batch: Uint8Array }[] = [];
  const got: { q: IcmpTcpQuote; hash: number }[] = [];
  const output: NetisrOutput = { tx: () => undefined, redispatch: (c, batch) => rd.push({ cpu: c, batch }) };
  const routes = new RouteTable();
  routes.add("198.18.0.0/24", { ifname: "ix0" });
  const n = new Netisr({ cpu, topology: topo([0, 1]), routes, output, ctlInput: (q, hash) => got.push({ q: { ...q }, hash }) });
  return { n, rd, got };
}

describe("ICMP errors reach the CPU owning the quoted connection (tcp_ctlinput steering)", () => {
  it("redispatched with the connection's hash, then handed to tcp_ctlinput there with the quote", () => {
    // The peer's segments of a connection: what the NIC hashes them to (independent of the ICMP path).
    // A peer port whose connection CPU 1 owns, while the ICMP (hash 0) lands on CPU 0.
    const peerHash = (fport: number) =>
      ipPacketHash(buildTcpPacket({ src: ipAddr("10.9.9.9"), dst: ipAddr("198.18.0.1"), sport: fport, dport: 80, seq: 1, ack: 0, flags: TcpFlags.ACK, window: 1000 })) | 0;
    let fport = 40000;
    while ((peerHash(fport) & 127) % 2 !== 1) fport++;
    const h = peerHash(fport);
    const owner = 1;
    const other = make(0);
    const home = make(owner);
    const icmp = fragNeeded(fport);
    expect(ipPacketHash(icmp)).toBe(0); // ICMP itself hashes to 0 (ip_hashfn: not TCP/UDP)
    other.n.rxBatch(0, 0, encodeFrameBatch([{ data: icmp, hash: 0 }]));
    expect(other.got).toHaveLength(0);
    expect(other.rd.map((r) => r.cpu)).toEqual([owner]);
    const fr = decodeFrameBatch(other.rd[0].batch);
    if (typeof fr === "string") throw new Error(fr);
    expect(fr[0].hash | 0).toBe(h);
    home.n.portFrames(other.rd[0].batch);
    expect(home.rd).toHaveLength(0);
    expect(home.got).toHaveLength(1);
    const { q, hash } = home.got[0];
    expect(hash).toBe(h & 0xffff);
    expect([q.type, q.code, q.nextMtu, q.iplen]).toEqual([3, 4, 1000, 1500]);
    expect([q.src, q.sport, q.dst, q.dport]).toEqual([ipAddr("198.18.0.1"), 80, ipAddr("10.9.9.9"), fport]);
    expect(q.seq).toBe(0x01020304);
  });

  it("echo replies, truncated quotes and quotes of UDP are not TCP's", () => {
    const { n, got, rd } = make(0);
    const short = fragNeeded().slice(0, 20 + 8 + 20 + 4);
    short[3] = short.length; // ip_len
    short[10] = short[11] = 0;
    const hs = sum16([...short.subarray(0, 20)]);
    short[10] = hs >> 8;
    short[11] = hs & 255;
    short[22] = short[23] = 0;
    const cs = sum16([...short.subarray(20)]);
    short[22] = cs >> 8;
    short[23] = cs & 255;
    n.portFrames(encodeFrameBatch([{ data: short, hash: 0 }]));
    expect(got).toHaveLength(0);
    expect(rd).toHaveLength(0);
  });
});
