import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { ipPacketHash, symmetric } from "@dfly/core";

const ip = (s: string): number => s.split(".").reduce((a, o) => a * 256 + Number(o), 0);

function cksum(b: Uint8Array, from: number, to: number, init = 0): number {
  let sum = init;
  for (let i = from; i < to; i += 2) sum += (b[i] << 8) | (i + 1 < to ? b[i + 1] : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

interface Pkt {
  proto: number;
  src: string;
  dst: string;
  sport?: number;
  dport?: number;
  payload?: number;
  /** flags|fragment offset field */
  off?: number;
  optWords?: number;
}

/** A real IPv4 packet with TCP/UDP header and correct checksums. */
function packet(p: Pkt): Uint8Array {
  const ihl = 5 + (p.optWords ?? 0);
  const hlen = ihl * 4;
  const l4 = p.proto === 6 ? 20 : p.proto === 17 ? 8 : 8;
  const len = hlen + l4 + (p.payload ?? 0);
  const b = new Uint8Array(len);
  const v = new DataView(b.buffer);
  b[0] = 0x40 | ihl;
  v.setUint16(2, len);
  v.setUint16(4, 0x1234);
  v.setUint16(6, p.off ?? 0x4000);
  b[8] = 64;
  b[9] = p.proto;
  v.setUint32(12, ip(p.src));
  v.setUint32(16, ip(p.dst));
  for (let i = 20; i < hlen; i++) b[i] = 1; // NOP options
  v.setUint16(10, cksum(b, 0, hlen));
  if (p.proto === 6 || p.proto === 17) {
    v.setUint16(hlen, p.sport ?? 0);
    v.setUint16(hlen + 2, p.dport ?? 0);
  }
  if (p.proto === 6) {
    b[hlen + 12] = 5 << 4;
    b[hlen + 13] = 0x02;
    v.setUint16(hlen + 14, 65535);
  }
  if (p.proto === 17) v.setUint16(hlen + 4, len - hlen);
  if (p.proto === 6 || p.proto === 17) {
    const pseudo = (ip(p.src) >>> 16) + (ip(p.src) & 0xffff) + (ip(p.dst) >>> 16) + (ip(p.dst) & 0xffff) + p.proto + (len - hlen);
    const c = cksum(b, hlen, len, pseudo);
    v.setUint16(hlen + (p.proto === 6 ? 16 : 6), p.proto === 17 && c === 0 ? 0xffff : c);
  }
  return b;
}

describe("ipPacketHash (ip_hashfn)", () => {
  const tcp = { proto: 6, src: "10.0.0.1", dst: "10.0.0.2", sport: 12345, dport: 80 };

  it("TCP hashes the 4-tuple, source first", () => {
    expect(ipPacketHash(packet(tcp))).toBe(0x3f563f56);
    expect(ipPacketHash(packet({ ...tcp, optWords: 3, payload: 100 }))).toBe(0x3f563f56);
    const rev = packet({ proto: 6, src: "10.0.0.2", dst: "10.0.0.1", sport: 80, dport: 12345 });
    expect(ipPacketHash(rev)).toBe(0x3f563f56);
  });

  it("UDP hashes the address pair; multicast destination → 0", () => {
    const udp = packet({ proto: 17, src: "10.0.0.1", dst: "10.0.0.2", sport: 53, dport: 5353, payload: 12 });
    expect(ipPacketHash(udp)).toBe(0xadfbadfb);
    expect(ipPacketHash(packet({ proto: 17, src: "10.0.0.1", dst: "224.0.0.251", sport: 5353, dport: 5353 }))).toBe(0);
    expect(ipPacketHash(packet({ proto: 17, src: "10.0.0.1", dst: "239.255.255.250", sport: 1, dport: 1900 }))).toBe(0);
  });

  it("IP fragments hash the address pair (MF set or offset != 0)", () => {
    const pair = symmetric.hash2(ip("10.0.0.1"), ip("10.0.0.2"));
    expect(ipPacketHash(packet({ ...tcp, off: 0x2000 }))).toBe(pair); // first fragment, MF
    expect(ipPacketHash(packet({ ...tcp, off: 0x0010 }))).toBe(pair); // last fragment
    expect(ipPacketHash(packet({ proto: 17, src: "10.0.0.1", dst: "10.0.0.2", off: 0x2000 | 0x0b9 }))).toBe(pair);
  });

  it("other protocols → 0", () => {
    expect(ipPacketHash(packet({ proto: 1, src: "10.0.0.1", dst: "10.0.0.2" }))).toBe(0);
    expect(ipPacketHash(packet({ proto: 47, src: "10.0.0.1", dst: "10.0.0.2" }))).toBe(0);
  });

  it("honours an offset (e.g. after an Ethernet header)", () => {
    const p = packet(tcp);
    const f = new Uint8Array(14 + p.length);
    f.set(p, 14);
    expect(ipPacketHash(f, 14)).toBe(0x3f563f56);
    expect(ipPacketHash(f)).toBe(0);
  });

  it("malformed packets (what ip_lengthcheck drops) → 0", () => {
    const good = packet(tcp);
    expect(ipPacketHash(good.subarray(0, 19))).toBe(0); // shorter than an IP header
    expect(ipPacketHash(good.subarray(0, 39))).toBe(0); // ip_len past the frame
    const v6 = good.slice();
    v6[0] = 0x65;
    expect(ipPacketHash(v6)).toBe(0);
    const badhl = good.slice();
    badhl[0] = 0x44;
    expect(ipPacketHash(badhl)).toBe(0);
    const shortlen = good.slice();
    new DataView(shortlen.buffer).setUint16(2, 30); // too short for the TCP header
    expect(ipPacketHash(shortlen)).toBe(0);
    const badoff = good.slice();
    badoff[32] = 4 << 4; // th_off < 5
    expect(ipPacketHash(badoff)).toBe(0);
    const bigoff = good.slice();
    bigoff[32] = 6 << 4; // th_off past ip_len
    expect(ipPacketHash(bigoff)).toBe(0);
    const udp = packet({ proto: 17, src: "10.0.0.1", dst: "10.0.0.2" });
    new DataView(udp.buffer).setUint16(2, 27);
    expect(ipPacketHash(udp.subarray(0, 27))).toBe(0);
    expect(ipPacketHash(new Uint8Array(0))).toBe(0);
    expect(ipPacketHash(good, -1)).toBe(0);
    expect(ipPacketHash(good, 0.5)).toBe(0);
    expect(ipPacketHash(good, 1000)).toBe(0);
  });

  it("never throws on random or mutated bytes", () => {
    const base = packet({ ...tcp, payload: 20 });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), fc.array(fc.tuple(fc.nat(59), fc.nat(255)), { maxLength: 6 }), (rnd, muts) => {
        expect(typeof ipPacketHash(rnd)).toBe("number");
        const m = base.slice();
        for (const [i, x] of muts) m[i] = x;
        const h = ipPacketHash(m);
        expect(h >>> 0).toBe(h);
      }),
      { numRuns: 3000 },
    );
  });

  it("agrees with symmetric.hash4 on random TCP tuples", () => {
    const addr = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join("."));
    fc.assert(
      fc.property(addr, addr, fc.nat(65535), fc.nat(65535), (s, d, sp, dp) => {
        expect(ipPacketHash(packet({ proto: 6, src: s, dst: d, sport: sp, dport: dp }))).toBe(symmetric.hash4(ip(s), ip(d), sp, dp));
      }),
      { numRuns: 300 },
    );
  });
});
