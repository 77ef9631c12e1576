/**
 * TCP header codec: `struct tcphdr` (sys/netinet/tcp.h), the header checks at the
 * top of `tcp_input()`, `tcp_dooptions()` (sys/netinet/tcp_input.c) and the option
 * layout `tcp_output()` writes (sys/netinet/tcp_output.c).
 *
 * Parsing never throws on bad bytes; it returns a `tcpstat` reason. Builders throw
 * TcpBuildError on arguments they cannot encode (e.g. options over 40 bytes).
 */
import { cksumAdd, cksumSum, inCksumPseudo, inPseudo } from "./in_cksum.js";
import { IPPROTO } from "./ip.js";

/** `th_flags` bits. */
export const TcpFlags = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
  ECE: 0x40,
  CWR: 0x80,
} as const;
export type TcpFlag = (typeof TcpFlags)[keyof typeof TcpFlags];

/** Option kinds. */
export const TCPOPT = {
  EOL: 0,
  NOP: 1,
  MAXSEG: 2,
  WINDOW: 3,
  SACK_PERMITTED: 4,
  SACK: 5,
  TIMESTAMP: 8,
} as const;
/** Option lengths (SACK: the 2-byte head; each block adds TCPOLEN_SACK_BLOCK). */
export const TCPOLEN = {
  MAXSEG: 4,
  WINDOW: 3,
  SACK_PERMITTED: 2,
  SACK: 2,
  SACK_BLOCK: 8,
  TIMESTAMP: 10,
} as const;
/** Minimal header length. */
export const TCP_HDRLEN = 20;
/** Most option bytes (data offset 15 × 4 − 20). */
export const TCP_MAXOLEN = 40;
/** Largest window shift honoured (RFC 7323); `tcp_dooptions()` clamps larger ones. */
export const TCP_MAX_WINSHIFT = 14;
/** Most SACK blocks one option can carry ((40 − 2) / 8). */
export const TCP_MAX_SACK = 4;

/** `tcpstat` counters `tcp_input()` bumps when it drops a segment before any connection lookup. */
export const TcpDropReason = {
  /** Shorter than a minimal header (`tcps_rcvshort`). */
  rcvshort: "rcvshort",
  /** Checksum wrong (`tcps_rcvbadsum`). */
  rcvbadsum: "rcvbadsum",
  /** Data offset < 20 or past the end of the segment (`tcps_rcvbadoff`). */
  rcvbadoff: "rcvbadoff",
  /**
   * An option whose length is impossible or wrong for its kind. BSD has no
   * counter for this: `tcp_dooptions()` stops or skips; parse with
   * `strictOptions: false` to get that behaviour instead of a drop.
   */
  badoptions: "badoptions",
} as const;
export type TcpDropReason = (typeof TcpDropReason)[keyof typeof TcpDropReason];

/** A SACK block: sequence numbers [start, end). */
export interface SackBlock {
  start: number;
  end: number;
}

export interface TcpOptions {
  /** MSS (kind 2). */
  mss?: number;
  /** Window shift as carried (kind 3); apply min(wscale, TCP_MAX_WINSHIFT). */
  wscale?: number;
  /** SACK permitted (kind 4). */
  sackPermitted?: boolean;
  /** Timestamps TSval/TSecr (kind 8). */
  timestamp?: { val: number; ecr: number };
  /** SACK blocks (kind 5), 1 to 4. */
  sack?: SackBlock[];
}

export interface TcpHeader {
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  /** Header length in bytes (data offset × 4). */
  off: number;
  /** `th_flags` (TcpFlags bits). */
  flags: number;
  win: number;
  /** Checksum as carried. */
  sum: number;
  urp: number;
  options: TcpOptions;
}

export type TcpParseResult =
  | { ok: true; tcp: TcpHeader; payloadOffset: number; payloadLength: number }
  | { ok: false; reason: TcpDropReason };

export interface TcpParseOptions {
  /** Verify the checksum with the pseudo-header (default true). */
  checksum?: boolean;
  /**
   * true (default): a malformed option drops the segment with `badoptions`.
   * false: `tcp_dooptions()` behaviour — stop at an impossible length, skip a
   * known option with the wrong length, keep the segment.
   */
  strictOptions?: boolean;
}

/** Big-endian uint32 at `b[i…]`. */
export function u32(b: Uint8Array, i: number): number {
  return ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0;
}

/** Writes `v` big-endian at `b[i…]`. */
export function putU32(b: Uint8Array, i: number, v: number): void {
  b[i] = v >>> 24;
  b[i + 1] = v >>> 16;
  b[i + 2] = v >>> 8;
  b[i + 3] = v;
}

/** Parses options in `b[i, end)`; returns undefined on a malformed option in strict mode. */
export function parseTcpOptions(b: Uint8Array, i: number, end: number, strict: boolean): TcpOptions | undefined {
  const o: TcpOptions = {};
  while (i < end) {
    const kind = b[i];
    if (kind === TCPOPT.EOL) break;
    if (kind === TCPOPT.NOP) {
      i++;
      continue;
    }
    if (end - i < 2) return strict ? undefined : o;
    const optlen = b[i + 1];
    if (optlen < 2 || optlen > end - i) return strict ? undefined : o;
    let good = true;
    switch (kind) {
      case TCPOPT.MAXSEG:
        if ((good = optlen === TCPOLEN.MAXSEG)) o.mss = (b[i + 2] << 8) | b[i + 3];
        break;
      case TCPOPT.WINDOW:
        if ((good = optlen === TCPOLEN.WINDOW)) o.wscale = b[i + 2];
        break;
      case TCPOPT.SACK_PERMITTED:
        if ((good = optlen === TCPOLEN.SACK_PERMITTED)) o.sackPermitted = true;
        break;
      case TCPOPT.TIMESTAMP:
        if ((good = optlen === TCPOLEN.TIMESTAMP)) o.timestamp = { val: u32(b, i + 2), ecr: u32(b, i + 6) };
        break;
      case TCPOPT.SACK: {
        const n = (optlen - TCPOLEN.SACK) / TCPOLEN.SACK_BLOCK;
        if ((good = Number.isInteger(n) && n >= 1 && n <= TCP_MAX_SACK)) {
          const sack: SackBlock[] = [];
          for (let k = 0; k < n; k++) {
            const p = i + 2 + k * 8;
            sack.push({ start: u32(b, p), end: u32(b, p + 4) });
          }
          o.sack = sack;
        }
        break;
      }
      default:
        break; // unknown kinds are skipped, as tcp_dooptions() does
    }
    if (!good && strict) return undefined;
    i += optlen;
  }
  return o;
}

/**
 * Parses the TCP segment `b[off, off+len)` (len = the IP payload length) whose
 * IP header carried `src`/`dst`, with `tcp_input()`'s order of checks: rcvshort,
 * rcvbadsum, rcvbadoff, then options.
 */
export function parseTcp(
  b: Uint8Array, off: number, len: number, src: number, dst: number, opts?: TcpParseOptions,
): TcpParseResult {
  if (len < TCP_HDRLEN || off + len > b.length || off < 0) return { ok: false, reason: TcpDropReason.rcvshort };
  if (opts?.checksum !== false && inCksumPseudo(b, off, len, src, dst, IPPROTO.TCP) !== 0) {
    return { ok: false, reason: TcpDropReason.rcvbadsum };
  }
  const hoff = (b[off + 12] >>> 4) << 2;
  if (hoff < TCP_HDRLEN || hoff > len) return { ok: false, reason: TcpDropReason.rcvbadoff };
  let options: TcpOptions = {};
  if (hoff > TCP_HDRLEN) {
    const o = parseTcpOptions(b, off + TCP_HDRLEN, off + hoff, opts?.strictOptions !== false);
    if (!o) return { ok: false, reason: TcpDropReason.badoptions };
    options = o;
  }
  return {
    ok: true,
    tcp: {
      sport: (b[off] << 8) | b[off + 1],
      dport: (b[off + 2] << 8) | b[off + 3],
      seq: u32(b, off + 4),
      ack: u32(b, off + 8),
      off: hoff,
      flags: b[off + 13],
      win: (b[off + 14] << 8) | b[off + 15],
      sum: (b[off + 16] << 8) | b[off + 17],
      urp: (b[off + 18] << 8) | b[off + 19],
      options,
    },
    payloadOffset: off + hoff,
    payloadLength: len - hoff,
  };
}

/** A builder was given an argument it cannot encode. */
export class TcpBuildError extends Error {
  override readonly name = "TcpBuildError";
  constructor(message: string, readonly field: string, readonly value: unknown) {
    super(message);
  }
}

/** Bytes `buildTcpOptions(o)` produces (always a multiple of 4). */
export function tcpOptionsLength(o: TcpOptions): number {
  let n = 0;
  if (o.mss !== undefined) n += 4;
  if (o.wscale !== undefined) n += 4;
  if (o.sackPermitted) n += 4;
  if (o.timestamp) n += 12;
  if (o.sack && o.sack.length) n += 4 + 8 * o.sack.length;
  return n;
}

function checkField(name: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max) {
    throw new TcpBuildError(`TCP ${name} ${v} is not an integer in 0..${max}`, name, v);
  }
}

/**
 * Encodes options in the order and alignment of DragonFly's `tcp_output()`:
 * MSS (2,4,mss), NOP+window scale (1,3,3,shift), NOP NOP SACK-permitted
 * (1,1,4,2), NOP NOP timestamps (1,1,8,10,val,ecr), NOP NOP SACK (1,1,5,len,
 * blocks). Every piece is 4 bytes aligned, so no EOL padding is ever needed.
 * Throws TcpBuildError when the result would exceed 40 bytes (with timestamps at
 * most 3 SACK blocks fit; without, 4).
 */
export function buildTcpOptions(o: TcpOptions): Uint8Array {
  const n = tcpOptionsLength(o);
  if (n > TCP_MAXOLEN) {
    throw new TcpBuildError(
      `TCP options take ${n} bytes; at most ${TCP_MAXOLEN} fit (with timestamps at most 3 SACK blocks)`, "options", n);
  }
  const out = new Uint8Array(n);
  writeTcpOptions(out, 0, o);
  return out;
}

/** Writes `o` at `out[p…]` as `buildTcpOptions` lays it out; returns the offset past it. */
export function writeTcpOptions(out: Uint8Array, p: number, o: TcpOptions): number {
  if (o.mss !== undefined) {
    checkField("mss", o.mss, 0xffff);
    out[p++] = TCPOPT.MAXSEG;
    out[p++] = TCPOLEN.MAXSEG;
    out[p++] = o.mss >>> 8;
    out[p++] = o.mss;
  }
  if (o.wscale !== undefined) {
    checkField("wscale", o.wscale, 0xff);
    out[p++] = TCPOPT.NOP;
    out[p++] = TCPOPT.WINDOW;
    out[p++] = TCPOLEN.WINDOW;
    out[p++] = o.wscale;
  }
  if (o.sackPermitted) {
    out[p++] = TCPOPT.NOP;
    out[p++] = TCPOPT.NOP;
    out[p++] = TCPOPT.SACK_PERMITTED;
    out[p++] = TCPOLEN.SACK_PERMITTED;
  }
  if (o.timestamp) {
    checkField("timestamp val", o.timestamp.val, 0xffffffff);
    checkField("timestamp ecr", o.timestamp.ecr, 0xffffffff);
    out[p++] = TCPOPT.NOP;
    out[p++] = TCPOPT.NOP;
    out[p++] = TCPOPT.TIMESTAMP;
    out[p++] = TCPOLEN.TIMESTAMP;
    putU32(out, p, o.timestamp.val | 0);
    putU32(out, p + 4, o.timestamp.ecr | 0);
    p += 8;
  }
  if (o.sack && o.sack.length) {
    if (o.sack.length > TCP_MAX_SACK) throw new TcpBuildError(`${o.sack.length} SACK blocks; at most ${TCP_MAX_SACK}`, "sack", o.sack.length);
    out[p++] = TCPOPT.NOP;
    out[p++] = TCPOPT.NOP;
    out[p++] = TCPOPT.SACK;
    out[p++] = TCPOLEN.SACK + TCPOLEN.SACK_BLOCK * o.sack.length;
    for (const s of o.sack) {
      checkField("sack start", s.start, 0xffffffff);
      checkField("sack end", s.end, 0xffffffff);
      putU32(out, p, s.start | 0);
      putU32(out, p + 4, s.end | 0);
      p += 8;
    }
  }
  return p;
}

/** What a caller gives to build a TCP header. */
export interface TcpHeaderInit {
  sport: number;
  dport: number;
  seq?: number;
  ack?: number;
  /** TcpFlags bits. */
  flags?: number;
  /** Window field (default 65535). */
  window?: number;
  urp?: number;
  /** Decoded options, or already-encoded bytes (a multiple of 4, ≤ 40). */
  options?: TcpOptions | Uint8Array;
}

/** Header length `h` encodes to. */
export function tcpHeaderLength(h: Pick<TcpHeaderInit, "options">): number {
  if (!h.options) return TCP_HDRLEN;
  return TCP_HDRLEN + (h.options instanceof Uint8Array ? h.options.length : tcpOptionsLength(h.options));
}

/**
 * Writes header + `payload` at `out[off…]` with the checksum over the
 * pseudo-header (`src`, `dst`) filled in; returns the segment length.
 */
export function writeTcp(
  out: Uint8Array, off: number, h: TcpHeaderInit, payload: Uint8Array, src: number, dst: number,
): number {
  checkField("sport", h.sport, 0xffff);
  checkField("dport", h.dport, 0xffff);
  const seq = h.seq ?? 0;
  const ack = h.ack ?? 0;
  const flags = h.flags ?? 0;
  const win = h.window ?? 0xffff;
  const urp = h.urp ?? 0;
  checkField("seq", seq, 0xffffffff);
  checkField("ack", ack, 0xffffffff);
  checkField("flags", flags, 0xff);
  checkField("window", win, 0xffff);
  checkField("urp", urp, 0xffff);
  let hl = TCP_HDRLEN;
  if (h.options instanceof Uint8Array) {
    if (h.options.length & 3 || h.options.length > TCP_MAXOLEN) {
      throw new TcpBuildError(`raw TCP options must be a multiple of 4 bytes up to ${TCP_MAXOLEN}; got ${h.options.length}`, "options", h.options.length);
    }
    out.set(h.options, off + TCP_HDRLEN);
    hl += h.options.length;
  } else if (h.options) {
    const n = tcpOptionsLength(h.options);
    if (n > TCP_MAXOLEN) {
      throw new TcpBuildError(`TCP options take ${n} bytes; at most ${TCP_MAXOLEN} fit (with timestamps at most 3 SACK blocks)`, "options", n);
    }
    hl = writeTcpOptions(out, off + TCP_HDRLEN, h.options) - off;
  }
  const len = hl + payload.length;
  out[off] = h.sport >>> 8;
  out[off + 1] = h.sport;
  out[off + 2] = h.dport >>> 8;
  out[off + 3] = h.dport;
  putU32(out, off + 4, seq);
  putU32(out, off + 8, ack);
  out[off + 12] = (hl >>> 2) << 4;
  out[off + 13] = flags;
  out[off + 14] = win >>> 8;
  out[off + 15] = win;
  out[off + 16] = 0;
  out[off + 17] = 0;
  out[off + 18] = urp >>> 8;
  out[off + 19] = urp;
  out.set(payload, off + hl);
  const sum = ~cksumAdd(inPseudo(src, dst, IPPROTO.TCP, len), cksumSum(out, off, len)) & 0xffff;
  out[off + 16] = sum >>> 8;
  out[off + 17] = sum;
  return len;
}

/** A TCP segment (header + payload) with its checksum for `src` → `dst`. */
export function buildTcp(h: TcpHeaderInit, payload: Uint8Array, src: number, dst: number): Uint8Array {
  const out = new Uint8Array(tcpHeaderLength(h) + payload.length);
  writeTcp(out, 0, h, payload, src, dst);
  return out;
}

/** "SYN|ACK"-style names of the bits set in `flags` ("-" for none). */
export function tcpFlagsString(flags: number): string {
  const names = (Object.keys(TcpFlags) as (keyof typeof TcpFlags)[]).filter((k) => flags & TcpFlags[k]);
  return names.length ? names.join("|") : "-";
}
