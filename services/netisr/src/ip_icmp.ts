/** ICMP (DragonFly's sys/netinet/ip_icmp.c): icmp_error, echo, icmp_reflect, and the icmplim rate limit (per CPU here, covering every error). */
import { cksumAdjust, ICMP, ICMP_MINLEN, ICMP_UNREACH, inCksum, IPDEFTTL } from "@dfly/core";
import { IP_OK } from "./ip_input.js";
import { IpDrop } from "./ipstat.js";

/** Default net.inet.icmp.icmplim. */
export const ICMPLIM_DEFAULT = 200;

/** ICMP_INFOTYPE(): the informational types an error may be sent about. */
function icmpInfotype(t: number): boolean {
  return t === 0 || t === 8 || t === 9 || t === 10 || t === 13 || t === 14 || t === 15 || t === 16 || t === 17 || t === 18;
}

/** `badport_bandlim()` categories. */
export const Bandlim = {
  /** Errors from icmp_error (unreachable, time exceeded, parameter problem). */
  error: 0,
  echo: 1,
} as const;
export type BandlimKind = (typeof Bandlim)[keyof typeof Bandlim];

/** `badport_bandlim()`: at most `limit` per category per one-second window; `limit` ≤ 0 disables it (as icmplim = 0). */
export class IcmpRateLimit {
  private readonly windowStart = [-Infinity, -Infinity];
  private readonly count = [0, 0];
  constructor(public limit: number = ICMPLIM_DEFAULT) {}

  /** True when one more message of `kind` may be sent at `nowMs`. */
  allow(kind: BandlimKind, nowMs: number): boolean {
    if (this.limit <= 0) return true;
    if (nowMs - this.windowStart[kind] > 1000) {
      this.windowStart[kind] = nowMs;
      this.count[kind] = 0;
    }
    return ++this.count[kind] <= this.limit;
  }
}

function rd32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}
function wr32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

/** in_canforward(): not class D/E, not 0/8, not 127/8. */
export function inCanforward(addr: number): boolean {
  const a = addr >>> 24;
  return a < 224 && a !== 0 && a !== 127;
}

/** `icmp_error()`'s conditions: not about a non-first fragment, an ICMP error, a multicast/broadcast, or an unanswerable source. */
export function icmpErrorAllowed(orig: Uint8Array, off: number, bcast: boolean): boolean {
  const ipoff = (orig[off + 6] << 8) | orig[off + 7];
  if (ipoff & 0x1fff) return false;
  const hlen = (orig[off] & 0x0f) << 2;
  const iplen = (orig[off + 2] << 8) | orig[off + 3];
  if (orig[off + 9] === 1 && iplen >= hlen + ICMP_MINLEN && !icmpInfotype(orig[off + hlen])) return false;
  if (bcast) return false;
  const dst = rd32(orig, off + 16);
  if (dst >>> 28 === 0xe || dst === 0xffffffff) return false;
  if (!inCanforward(rd32(orig, off + 12))) return false;
  return true;
}

/** Length of the error `writeIcmpError` builds about the datagram at `orig[off…]`. */
export function icmpErrorLength(orig: Uint8Array, off: number): number {
  const hlen = (orig[off] & 0x0f) << 2;
  const iplen = (orig[off + 2] << 8) | orig[off + 3];
  return 20 + ICMP_MINLEN + Math.min(hlen + 8, iplen);
}

/** Writes the ICMP error about `orig[off…]` at `out[at…]` (IP header to the original source, ICMP header, quoted header + 8 bytes); returns its length. */
export function writeIcmpError(
  out: Uint8Array,
  at: number,
  orig: Uint8Array,
  off: number,
  type: number,
  code: number,
  param: number,
  src: number,
  id: number,
): number {
  const quote = icmpErrorLength(orig, off) - 20 - ICMP_MINLEN;
  const total = 20 + ICMP_MINLEN + quote;
  out[at] = 0x45;
  out[at + 1] = 0;
  out[at + 2] = total >>> 8;
  out[at + 3] = total;
  out[at + 4] = id >>> 8;
  out[at + 5] = id;
  out[at + 6] = 0;
  out[at + 7] = 0;
  out[at + 8] = IPDEFTTL;
  out[at + 9] = 1;
  out[at + 10] = 0;
  out[at + 11] = 0;
  wr32(out, at + 12, src);
  wr32(out, at + 16, rd32(orig, off + 12));
  const hsum = inCksum(out, at, 20);
  out[at + 10] = hsum >>> 8;
  out[at + 11] = hsum;
  const i = at + 20;
  out[i] = type;
  out[i + 1] = type === ICMP.PARAMPROB ? 0 : code;
  out[i + 2] = 0;
  out[i + 3] = 0;
  out[i + 4] = 0;
  out[i + 5] = 0;
  out[i + 6] = 0;
  out[i + 7] = 0;
  if (type === ICMP.PARAMPROB) out[i + 4] = param;
  else if (type === ICMP.UNREACH && code === ICMP_UNREACH.NEEDFRAG) {
    out[i + 6] = param >>> 8;
    out[i + 7] = param;
  }
  out.set(orig.subarray(off, off + quote), i + ICMP_MINLEN);
  const sum = inCksum(out, i, ICMP_MINLEN + quote);
  out[i + 2] = sum >>> 8;
  out[i + 3] = sum;
  return total;
}

/** `icmp_input()`'s length and checksum checks → IP_OK or an IpDrop code. */
export function icmpInputCheck(buf: Uint8Array, off: number, hlen: number, iplen: number): number {
  const icmplen = iplen - hlen;
  if (icmplen < ICMP_MINLEN) return IpDrop.tooshort;
  if (inCksum(buf, off + hlen, icmplen) !== 0) return IpDrop.checksum;
  return IP_OK;
}

/** `icmp_reflect()` of an echo request in place (checksums adjusted); the header must have no options. */
export function icmpEchoReflect(buf: Uint8Array, off: number, hlen: number, src: number): void {
  const i = off + hlen;
  const oldWord = (buf[i] << 8) | buf[i + 1];
  const newWord = (ICMP.ECHOREPLY << 8) | buf[i + 1];
  const sum = cksumAdjust((buf[i + 2] << 8) | buf[i + 3], oldWord, newWord);
  buf[i] = ICMP.ECHOREPLY;
  buf[i + 2] = sum >>> 8;
  buf[i + 3] = sum;
  buf.copyWithin(off + 16, off + 12, off + 16);
  wr32(buf, off + 12, src);
  buf[off + 8] = IPDEFTTL;
  buf[off + 10] = 0;
  buf[off + 11] = 0;
  const hsum = inCksum(buf, off, hlen);
  buf[off + 10] = hsum >>> 8;
  buf[off + 11] = hsum;
}

/** The TCP segment an ICMP error quotes: the inner header's addresses and ports (ours as source), the sequence number, and the error. */
export class IcmpTcpQuote {
  type = 0;
  code = 0;
  /** Next-hop MTU of a frag-needed message (0 when the router left it out). */
  nextMtu = 0;
  /** Inner source (this host) and destination (the peer). */
  src = 0;
  dst = 0;
  sport = 0;
  dport = 0;
  seq = 0;
  /** The quoted datagram's total length (for ip_next_mtu when nextMtu is 0). */
  iplen = 0;
}

/**
 * `icmp_input()`'s hand-off to a protocol's ctlinput: an error (unreachable, time exceeded,
 * parameter problem) whose quote is an IPv4 header (IHL ≥ 5) and at least the 8 bytes of TCP
 * that hold the ports and sequence number (ICMP_ADVLENMIN). Fills `q`; false for anything else.
 */
export function icmpTcpQuote(buf: Uint8Array, off: number, hlen: number, iplen: number, q: IcmpTcpQuote): boolean {
  const i = off + hlen;
  const type = buf[i];
  if (type !== ICMP.UNREACH && type !== ICMP.TIMXCEED && type !== ICMP.PARAMPROB) return false;
  const icmplen = iplen - hlen;
  if (icmplen < ICMP_MINLEN + 20 + 8) return false;
  const inner = i + ICMP_MINLEN;
  const ihl = (buf[inner] & 0x0f) << 2;
  if (buf[inner] >>> 4 !== 4 || ihl < 20 || icmplen < ICMP_MINLEN + ihl + 8) return false;
  if (buf[inner + 9] !== 6) return false;
  const th = inner + ihl;
  q.type = type;
  q.code = buf[i + 1];
  q.nextMtu = type === ICMP.UNREACH && q.code === ICMP_UNREACH.NEEDFRAG ? (buf[i + 6] << 8) | buf[i + 7] : 0;
  q.iplen = (buf[inner + 2] << 8) | buf[inner + 3];
  q.src = rd32(buf, inner + 12);
  q.dst = rd32(buf, inner + 16);
  q.sport = (buf[th] << 8) | buf[th + 1];
  q.dport = (buf[th + 2] << 8) | buf[th + 3];
  q.seq = rd32(buf, th + 4);
  return true;
}
