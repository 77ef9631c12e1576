/**
 * A TcpSeg as an IPv4 frame and back, the per-segment fast path of the codecs (what
 * `ip_input()` → `tcp_input()` and `tcp_output()` → `ip_output()` do to the common
 * segment, without the general parsers' intermediate objects).
 *
 * Decoding takes the common case only — a 20-byte IPv4 header, not a fragment, TCP,
 * both checksums right, options that parse — and builds the TcpSeg straight from the
 * bytes. Anything else gives null and the caller runs `tcpSegFromFrame` (tcp_input.ts),
 * the full parser, which finds the reason and counts it: the fast path never decides a
 * drop, so both paths accept and reject exactly the same frames (a property test holds
 * them equal on random and mutated frames).
 *
 * Encoding writes the frame the engine's segments always make (20-byte header, DF,
 * TTL 64, options in `tcp_output()`'s layout) into a batch buffer with both checksums.
 */
import { cksumAdd, cksumSum, inPseudo } from "./in_cksum.js";
import { IPPROTO, IP_DF, IP_MF, IP_OFFMASK } from "./ip.js";
import { parseTcpOptions, putU32, tcpOptionsLength, TCP_HDRLEN, TCP_MAXOLEN, TcpBuildError, u32, writeTcpOptions } from "./tcp.js";
import type { TcpOptions } from "./tcp.js";
import type { TcpSeg } from "./tcp_var.js";

const EMPTY = new Uint8Array(0);
/** IPv4 header without options, and the frame TTL of every segment we send (IPDEFTTL). */
const IP_HDRLEN = 20;
const TCP_TTL = 64;
/** Smallest frame the fast path takes: the two minimal headers. */
const MIN_FRAME = IP_HDRLEN + TCP_HDRLEN;

/**
 * A received segment the fast path decodes into again and again (`tcpSegDecode`): the input
 * side's object cache (DragonFly's mbuf objcache, paper §2.1). Its timestamp-only options
 * object is its own and reused too; any other options are parsed afresh. Its payload is
 * `pbuf[poff, poff+plen)`, the frame's bytes in place: `payload` makes a view of them only
 * when read (tcp_input takes the bytes without one).
 */
export class TcpRxSeg implements TcpSeg {
  src = 0;
  dst = 0;
  sport = 0;
  dport = 0;
  seq = 0;
  ack = 0;
  flags = 0;
  window = 0;
  tos = 0;
  options: TcpOptions | undefined = undefined;
  readonly tsOptions = { timestamp: { val: 0, ecr: 0 } };
  pbuf: Uint8Array = EMPTY;
  poff = 0;
  plen = 0;
  private view: Uint8Array | null = EMPTY;

  get payload(): Uint8Array {
    let v = this.view;
    if (v === null) v = this.view = this.pbuf.subarray(this.poff, this.poff + this.plen);
    return v;
  }

  set payload(v: Uint8Array) {
    this.view = this.pbuf = v;
    this.poff = 0;
    this.plen = v.length;
  }

  /** The payload is `b[off, off+len)` (no view made). */
  setPayload(b: Uint8Array, off: number, len: number): void {
    if (len === 0) {
      this.payload = EMPTY;
      return;
    }
    this.pbuf = b;
    this.poff = off;
    this.plen = len;
    this.view = null;
  }
}

export function tcpRxSeg(): TcpRxSeg {
  return new TcpRxSeg();
}

/**
 * Received segments for decoding in place (`objcache_get`/`objcache_put`): `get` takes a
 * free one (or makes one), `put` gives it back once the segment has been processed. A
 * stack, so that input running inside input (a synchronous wire) takes a second one.
 */
export class TcpRxSegPool {
  private readonly free: TcpRxSeg[] = [];
  private n = 0;
  /** Segments made (the pool's size once warm: the deepest nesting seen). */
  made = 0;
  get(): TcpRxSeg {
    if (this.n > 0) return this.free[--this.n];
    this.made++;
    return tcpRxSeg();
  }
  put(seg: TcpRxSeg): void {
    seg.payload = EMPTY;
    seg.options = undefined;
    this.free[this.n++] = seg;
  }
}

/**
 * The TcpSeg of a common frame (see the file comment), or null: run `tcpSegFromFrame`.
 * The frame is `b[at, at+avail)` (a frame batch's buffer can be decoded in place). The
 * payload is a view into `b` (a shared empty array when there is none). `ipVerified`: the
 * caller's ip_input already checked the IP header's checksum (it is not summed again).
 */
export function tcpSegFromFrameFast(b: Uint8Array, at = 0, avail = b.length - at, ipVerified = false): TcpSeg | null {
  const seg = tcpSegDecode(b, at, avail, null, ipVerified);
  if (seg === null) return null;
  const out: TcpSeg = {
    src: seg.src, dst: seg.dst, sport: seg.sport, dport: seg.dport, seq: seg.seq, ack: seg.ack,
    flags: seg.flags, window: seg.window, payload: seg.payload, tos: seg.tos,
  };
  if (seg.options) out.options = seg.options;
  return out;
}

const scratch = tcpRxSeg();

/**
 * `tcpSegFromFrameFast` into `into` (a pooled segment, every field overwritten, its own
 * options object for the timestamp-only case): no allocation for a segment without payload
 * and with no options or timestamps only. Returns `into`, or null (the frame needs the full
 * parser; `into` is then undefined in content). With `into` null, a shared scratch segment
 * whose options are always fresh objects (what `tcpSegFromFrameFast` copies out). `ipVerified`
 * as in `tcpSegFromFrameFast`.
 */
export function tcpSegDecode(
  b: Uint8Array, at: number, avail: number, into: TcpRxSeg | null, ipVerified = false,
): TcpRxSeg | null {
  if (avail < MIN_FRAME || b[at] !== 0x45) return null;
  const len = (b[at + 2] << 8) | b[at + 3];
  if (len < MIN_FRAME || len > avail || b[at + 9] !== IPPROTO.TCP) return null;
  if ((((b[at + 6] << 8) | b[at + 7]) & (IP_MF | IP_OFFMASK)) !== 0) return null;
  if (!ipVerified && cksumSum(b, at, IP_HDRLEN) !== 0xffff) return null;
  const t = at + IP_HDRLEN;
  const tlen = len - IP_HDRLEN;
  const hoff = (b[t + 12] >>> 4) << 2;
  if (hoff < TCP_HDRLEN || hoff > tlen) return null;
  // Read as int32 (no heap number when a value above 2^31 crosses a call), stored unsigned.
  const src = i32(b, at + 12);
  const dst = i32(b, at + 16);
  if ((~cksumAdd(inPseudo(src, dst, IPPROTO.TCP, tlen), cksumSum(b, t, tlen)) & 0xffff) !== 0) return null;
  const plen = tlen - hoff;
  const seg = into ?? scratch;
  seg.src = src >>> 0;
  seg.dst = dst >>> 0;
  seg.sport = (b[t] << 8) | b[t + 1];
  seg.dport = (b[t + 2] << 8) | b[t + 3];
  seg.seq = i32(b, t + 4) >>> 0;
  seg.ack = i32(b, t + 8) >>> 0;
  seg.flags = b[t + 13];
  seg.window = (b[t + 14] << 8) | b[t + 15];
  seg.tos = b[at + 1];
  seg.setPayload(b, t + hoff, plen);
  seg.options = undefined;
  if (hoff > TCP_HDRLEN) {
    const o = t + TCP_HDRLEN;
    if (hoff === TCP_HDRLEN + 12 && b[o] === 1 && b[o + 1] === 1 && b[o + 2] === 8 && b[o + 3] === 10) {
      // NOP NOP TIMESTAMP: what every segment after the handshake carries.
      if (into) {
        const ts = into.tsOptions.timestamp;
        ts.val = i32(b, o + 4) >>> 0;
        ts.ecr = i32(b, o + 8) >>> 0;
        seg.options = into.tsOptions;
      } else seg.options = { timestamp: { val: u32(b, o + 4), ecr: u32(b, o + 8) } };
    } else {
      const opts = parseTcpOptions(b, o, t + hoff, true);
      if (!opts) return null;
      if (opts.mss !== undefined || opts.wscale !== undefined || opts.sackPermitted || opts.timestamp || opts.sack) seg.options = opts;
    }
  }
  return seg;
}

/** The big-endian 32-bit word at b[i] as an int32 (`u32 | 0`). */
function i32(b: Uint8Array, i: number): number {
  return (b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3];
}

/** Frame length of a segment as `tcpFrameWrite` lays it out. */
export function tcpFrameLength(seg: TcpSeg): number {
  return IP_HDRLEN + TCP_HDRLEN + (seg.options ? tcpOptionsLength(seg.options) : 0) + seg.payload.length;
}

/**
 * Writes `seg` as an IPv4 frame (20-byte header, DF set, TTL 64, IP id `ipId`, both
 * checksums) at `buf[at…]`; returns its length. The engine's segments hold wire values
 * (unsigned 32-bit sequence numbers, 16-bit ports and window); options that cannot be
 * encoded throw TcpBuildError, as `buildTcpOptions` does.
 */
export function tcpFrameWrite(buf: Uint8Array, at: number, seg: TcpSeg, ipId: number): number {
  const o = seg.options;
  const olen = o ? tcpOptionsLength(o) : 0;
  if (olen > TCP_MAXOLEN) {
    throw new TcpBuildError(`TCP options take ${olen} bytes; at most ${TCP_MAXOLEN} fit (with timestamps at most 3 SACK blocks)`, "options", olen);
  }
  const payload = seg.payload;
  const hl = TCP_HDRLEN + olen;
  const tlen = hl + payload.length;
  const len = IP_HDRLEN + tlen;
  buf[at] = 0x45;
  buf[at + 1] = seg.tos ?? 0;
  buf[at + 2] = len >>> 8;
  buf[at + 3] = len;
  buf[at + 4] = ipId >>> 8;
  buf[at + 5] = ipId;
  buf[at + 6] = IP_DF >>> 8;
  buf[at + 7] = 0;
  buf[at + 8] = TCP_TTL;
  buf[at + 9] = IPPROTO.TCP;
  buf[at + 10] = 0;
  buf[at + 11] = 0;
  // Wire values as int32 (the same bytes; a uint32 above 2^31 passed to a call is a heap number).
  putU32(buf, at + 12, seg.src | 0);
  putU32(buf, at + 16, seg.dst | 0);
  const isum = ~cksumSum(buf, at, IP_HDRLEN) & 0xffff;
  buf[at + 10] = isum >>> 8;
  buf[at + 11] = isum;
  const t = at + IP_HDRLEN;
  buf[t] = seg.sport >>> 8;
  buf[t + 1] = seg.sport;
  buf[t + 2] = seg.dport >>> 8;
  buf[t + 3] = seg.dport;
  putU32(buf, t + 4, seg.seq | 0);
  putU32(buf, t + 8, seg.ack | 0);
  buf[t + 12] = (hl >>> 2) << 4;
  buf[t + 13] = seg.flags;
  buf[t + 14] = seg.window >>> 8;
  buf[t + 15] = seg.window;
  buf[t + 16] = 0;
  buf[t + 17] = 0;
  buf[t + 18] = 0;
  buf[t + 19] = 0;
  if (o) writeTcpOptions(buf, t + TCP_HDRLEN, o);
  const n = payload.length;
  if (n > 64) buf.set(payload, t + hl);
  else for (let i = 0, p = t + hl; i < n; i++) buf[p + i] = payload[i];
  const sum = ~cksumAdd(inPseudo(seg.src | 0, seg.dst | 0, IPPROTO.TCP, tlen), cksumSum(buf, t, tlen)) & 0xffff;
  buf[t + 16] = sum >>> 8;
  buf[t + 17] = sum;
  return len;
}
