/**
 * Malformed-frame generator shared by the parser fuzz test and the packet-path
 * tests (which send these frames through a NIC and expect counted drops, never a
 * crash). Deterministic: everything comes from a seeded xorshift generator.
 *
 *   const rng = new FuzzRng(42);
 *   const seeds = seedFrames(rng);
 *   const bad = mutateFrame(rng.pick(seeds), rng);   // one mutation, maybe with checksums re-fixed
 */
import {
  ICMP,
  ICMP_UNREACH,
  IPPROTO,
  TcpFlags,
  buildIcmpEchoPacket,
  buildIcmpErrorPacket,
  buildIpPacket,
  buildTcpPacket,
  buildUdpPacket,
  inCksum,
  inCksumPseudo,
  ipFragment,
} from "@dfly/core";

/** xorshift32: fast, seeded, good enough to drive mutations. */
export class FuzzRng {
  private s: number;
  constructor(seed = 0x9e3779b9) {
    this.s = seed >>> 0 || 1;
  }
  /** Next uint32. */
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return n <= 0 ? 0 : this.next() % n;
  }
  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() / 0x100000000 < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = this.next() & 0xff;
    return b;
  }
}

/** Uniformly random bytes of length 0..maxLen. */
export function randomFrame(rng: FuzzRng, maxLen = 128): Uint8Array {
  return rng.bytes(rng.int(maxLen + 1));
}

/**
 * Valid frames of every kind the codecs build: TCP with every option and SACK
 * blocks, UDP (with and without checksum), ICMP echo / unreachable / time
 * exceeded, IPv4 with options, and fragments.
 */
export function seedFrames(rng: FuzzRng = new FuzzRng(1)): Uint8Array[] {
  const src = 0x0a000001;
  const dst = 0xc0a80102;
  const payload = (n: number) => rng.bytes(n);
  const syn = buildTcpPacket({
    src, dst, sport: 40000, dport: 80, seq: 0x11223344, flags: TcpFlags.SYN, window: 65535,
    options: { mss: 1460, wscale: 7, sackPermitted: true, timestamp: { val: 1000, ecr: 0 } }, id: 1,
  });
  const sack = buildTcpPacket({
    src: dst, dst: src, sport: 80, dport: 40000, seq: 5, ack: 0x11223345, flags: TcpFlags.ACK,
    options: { timestamp: { val: 7, ecr: 1000 }, sack: [{ start: 100, end: 200 }, { start: 300, end: 400 }, { start: 500, end: 600 }] },
    payload: payload(50), id: 2, df: true,
  });
  const sack4 = buildTcpPacket({
    src, dst, sport: 40001, dport: 443, seq: 9, ack: 10, flags: TcpFlags.ACK | TcpFlags.PSH,
    options: { sack: [1, 2, 3, 4].map((k) => ({ start: k * 1000, end: k * 1000 + 500 })) }, payload: payload(10),
  });
  const tcpIpOpts = buildTcpPacket({
    src, dst, sport: 1, dport: 2, flags: TcpFlags.FIN | TcpFlags.ACK,
    ipOptions: [{ kind: "nop" }, { kind: "rr", pointer: 4, route: [0, 0, 0] }, { kind: "ts", pointer: 5, overflow: 0, flag: 0, data: [0, 0] }],
  });
  const udp = buildUdpPacket({ src, dst, sport: 5353, dport: 53, payload: payload(40) });
  const udpNoSum = buildUdpPacket({ src, dst, sport: 1, dport: 9, payload: payload(3), checksum: false });
  const echo = buildIcmpEchoPacket({ src, dst, echoId: 0x1234, seq: 1, payload: payload(56) });
  const reply = buildIcmpEchoPacket({ src: dst, dst: src, echoId: 0x1234, seq: 1, payload: payload(56), reply: true });
  const unreach = buildIcmpErrorPacket({ src: dst, dst: src, type: ICMP.UNREACH, code: ICMP_UNREACH.NEEDFRAG, original: syn, mtu: 1400 });
  const timx = buildIcmpErrorPacket({ src: dst, dst: src, type: ICMP.TIMXCEED, code: 0, original: udp });
  const other = buildIpPacket({ src, dst, p: 47, payload: payload(24) });
  const big = buildUdpPacket({
    src, dst, sport: 7, dport: 7, payload: payload(600),
    ipOptions: [{ kind: "lsrr", pointer: 4, route: [0x01020304, 0x05060708] }],
  });
  const frags = ipFragment(big, 256);
  return [syn, sack, sack4, tcpIpOpts, udp, udpNoSum, echo, reply, unreach, timx, other, ...frags];
}

/** Recomputes the IP header checksum and, when the L4 header is whole, the TCP/UDP/ICMP checksum, where the lengths allow. */
export function fixChecksums(f: Uint8Array): void {
  if (f.length < 20 || f[0] >>> 4 !== 4) return;
  const hl = (f[0] & 0x0f) << 2;
  if (hl < 20 || hl > f.length) return;
  const len = Math.min((f[2] << 8) | f[3], f.length);
  const ipoff = (f[6] << 8) | f[7];
  if (len > hl && (ipoff & 0x3fff) === 0) {
    const l4 = len - hl;
    const src = ((f[12] << 24) | (f[13] << 16) | (f[14] << 8) | f[15]) >>> 0;
    const dst = ((f[16] << 24) | (f[17] << 16) | (f[18] << 8) | f[19]) >>> 0;
    if (f[9] === IPPROTO.TCP && l4 >= 20) {
      f[hl + 16] = f[hl + 17] = 0;
      const s = inCksumPseudo(f, hl, l4, src, dst, IPPROTO.TCP);
      f[hl + 16] = s >>> 8;
      f[hl + 17] = s;
    } else if (f[9] === IPPROTO.UDP && l4 >= 8) {
      const ulen = Math.min((f[hl + 4] << 8) | f[hl + 5], l4);
      if (ulen >= 8) {
        f[hl + 6] = f[hl + 7] = 0;
        const s = inCksumPseudo(f, hl, ulen, src, dst, IPPROTO.UDP) || 0xffff;
        f[hl + 6] = s >>> 8;
        f[hl + 7] = s;
      }
    } else if (f[9] === IPPROTO.ICMP && l4 >= 8) {
      f[hl + 2] = f[hl + 3] = 0;
      const s = inCksum(f, hl, l4);
      f[hl + 2] = s >>> 8;
      f[hl + 3] = s;
    }
  }
  f[10] = f[11] = 0;
  const s = inCksum(f, 0, hl);
  f[10] = s >>> 8;
  f[11] = s;
}

/** The kinds of damage `mutateFrame` does. */
export const MUTATIONS = [
  "bitflip", "truncate", "extend", "byte", "version", "ihl", "totlen", "fragbits",
  "ipoptions", "proto", "tcpoff", "tcpoptions", "udplen", "icmptype", "quote",
] as const;
export type Mutation = (typeof MUTATIONS)[number];

const EDGE16 = [0, 1, 7, 8, 19, 20, 21, 27, 28, 40, 60, 0x7fff, 0xfffe, 0xffff];

function ipHl(f: Uint8Array): number {
  return f.length ? (f[0] & 0x0f) << 2 : 0;
}

/** Applies one mutation in place to a copy of `frame` (returned). */
export function mutateOnce(frame: Uint8Array, rng: FuzzRng, kind: Mutation = rng.pick(MUTATIONS)): Uint8Array {
  let f = frame.slice();
  const hl = ipHl(f);
  const set16 = (i: number, v: number) => {
    if (i + 1 < f.length) {
      f[i] = v >>> 8;
      f[i + 1] = v;
    }
  };
  const garble = (start: number, end: number) => {
    end = Math.min(end, f.length);
    if (end <= start) return;
    const n = 1 + rng.int(4);
    for (let k = 0; k < n; k++) {
      const i = start + rng.int(end - start);
      // option kinds/lengths where they hurt most: 0, 1, 2, small, huge, random
      f[i] = rng.pick([0, 1, 2, 3, 4, 5, 7, 8, 10, 68, 131, 137, 255, rng.next() & 0xff]);
    }
  };
  switch (kind) {
    case "bitflip": {
      const n = 1 + rng.int(4);
      for (let k = 0; k < n && f.length; k++) f[rng.int(f.length)] ^= 1 << rng.int(8);
      break;
    }
    case "truncate":
      f = f.slice(0, rng.int(f.length + 1));
      break;
    case "extend": {
      const g = new Uint8Array(f.length + 1 + rng.int(64));
      g.set(f);
      g.set(rng.bytes(g.length - f.length), f.length);
      f = g;
      break;
    }
    case "byte":
      if (f.length) f[rng.int(f.length)] = rng.next() & 0xff;
      break;
    case "version":
      if (f.length) f[0] = ((rng.int(16) << 4) | (f[0] & 0x0f)) & 0xff;
      break;
    case "ihl":
      if (f.length) f[0] = (f[0] & 0xf0) | rng.int(16);
      break;
    case "totlen":
      set16(2, rng.chance(0.5) ? rng.pick(EDGE16) : (f.length + rng.int(9) - 4) & 0xffff);
      break;
    case "fragbits":
      set16(6, rng.pick([0x2000, 0x0001, 0x2001, 0x4000, 0x8000, 0x1fff, rng.next() & 0xffff]));
      break;
    case "ipoptions":
      if (hl > 20) garble(20, hl);
      else if (f.length >= 28) {
        f[0] = 0x40 | (5 + 1 + rng.int(2)); // claim options that are really the L4 header
      }
      break;
    case "proto":
      if (f.length > 9) f[9] = rng.pick([IPPROTO.TCP, IPPROTO.UDP, IPPROTO.ICMP, 0, 255]);
      break;
    case "tcpoff":
      if (hl + 12 < f.length) f[hl + 12] = (rng.int(16) << 4) | (f[hl + 12] & 0x0f);
      break;
    case "tcpoptions":
      if (hl + 13 < f.length) {
        const off = (f[hl + 12] >>> 4) << 2;
        if (off > 20) garble(hl + 20, hl + off);
        else garble(hl + 20, hl + 32);
      }
      break;
    case "udplen":
      set16(hl + 4, rng.chance(0.5) ? rng.pick(EDGE16) : (f.length - hl + rng.int(9) - 4) & 0xffff);
      break;
    case "icmptype":
      if (hl + 1 < f.length) {
        f[hl] = rng.pick([0, 3, 4, 5, 8, 11, 12, 13, 18, 19, 255]);
        f[hl + 1] = rng.pick([0, 1, 2, 3, 4, 13, 15, 16, 255]);
      }
      break;
    case "quote":
      // damage the quoted header of an ICMP error (its IHL / length)
      if (hl + 8 < f.length) f[hl + 8] = rng.next() & 0xff;
      break;
  }
  return f;
}

/**
 * One to three mutations of `frame`; afterwards, with probability `fixProb`, the
 * checksums are recomputed so the damage reaches the checks behind the checksum.
 */
export function mutateFrame(frame: Uint8Array, rng: FuzzRng, fixProb = 0.5): Uint8Array {
  let f = frame;
  const n = 1 + rng.int(3);
  for (let k = 0; k < n; k++) f = mutateOnce(f, rng);
  if (rng.chance(fixProb)) fixChecksums(f);
  return f;
}
