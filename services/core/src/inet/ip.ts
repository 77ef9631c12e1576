/**
 * IPv4 header codec: DragonFly's `struct ip` (sys/netinet/ip.h), the header checks
 * of `ip_input()` and the option checks of `ip_dooptions()` (sys/netinet/ip_input.c),
 * and `ip_fragment()`/`ip_optcopy()` (sys/netinet/ip_output.c).
 *
 * Addresses are uint32 numbers holding the big-endian value (10.0.0.1 → 0x0a000001).
 * Parsing never throws on bad bytes: it returns `{ ok: false, reason }` with the
 * `ipstat` counter name of the check that failed. Builders throw (a typed error)
 * only on bad *arguments* from the caller.
 */
import { cksumAdjust, inCksum } from "./in_cksum.js";

/** `ipstat` counters that `ip_input()` bumps when it drops a datagram while checking its header. */
export const IpDropReason = {
  /** Fewer than 20 bytes: not even a minimal header (`ips_toosmall`, "not enough data"). */
  toosmall: "toosmall",
  /** Version is not 4 (`ips_badvers`). */
  badvers: "badvers",
  /** Header length < 20 or longer than the bytes present (`ips_badhlen`). */
  badhlen: "badhlen",
  /** Header checksum wrong (`ips_badsum`). */
  badsum: "badsum",
  /** Total length < header length (`ips_badlen`). */
  badlen: "badlen",
  /** Fewer bytes present than the total length says (`ips_tooshort`, "packet too short"). */
  tooshort: "tooshort",
  /** An option with a bad length, pointer or flag (`ips_badoptions`). */
  badoptions: "badoptions",
} as const;
export type IpDropReason = (typeof IpDropReason)[keyof typeof IpDropReason];

/** IP protocol numbers (netinet/in.h). */
export const IPPROTO = { ICMP: 1, TCP: 6, UDP: 17 } as const;

export const IPVERSION = 4;
/** Minimal header length in bytes. */
export const IP_HDRLEN = 20;
/** Largest total length. */
export const IP_MAXPACKET = 65535;
/** Most option bytes a header can carry (MAX_IPOPTLEN). */
export const MAX_IPOPTLEN = 40;
/** Flags and offset of `ip_off`. */
export const IP_RF = 0x8000;
export const IP_DF = 0x4000;
export const IP_MF = 0x2000;
export const IP_OFFMASK = 0x1fff;
/** Default TTL (`ip_defttl`, IPDEFTTL). */
export const IPDEFTTL = 64;

/** Option type codes (netinet/ip.h). The top bit is the "copied" flag. */
export const IPOPT = {
  EOL: 0,
  NOP: 1,
  RR: 7,
  TS: 68,
  SECURITY: 130,
  LSRR: 131,
  SATID: 136,
  SSRR: 137,
  RA: 148,
} as const;
/** Timestamp option flags (low nibble of the byte after the pointer). */
export const IPOPT_TS = { TSONLY: 0, TSANDADDR: 1, PRESPEC: 3 } as const;
/** Smallest legal pointer of RR/LSRR/SSRR (1-origin, just past type/len/ptr). */
export const IPOPT_MINOFF = 4;

/** True when option `type` is copied into every fragment (IPOPT_COPIED). */
export function ipoptCopied(type: number): boolean {
  return (type & 0x80) !== 0;
}

/**
 * A decoded option. `route` and `data` are uint32 values; for TS with flag
 * TSANDADDR/PRESPEC `data` alternates address, timestamp.
 */
export type IpOption =
  | { kind: "nop" }
  | { kind: "rr" | "lsrr" | "ssrr"; pointer: number; route: number[] }
  | { kind: "ts"; pointer: number; overflow: number; flag: number; data: number[] }
  | { kind: "raw"; type: number; data: Uint8Array };

export interface Ipv4Header {
  /** Header length in bytes (IHL × 4). */
  hl: number;
  tos: number;
  /** Total length (header + payload) in bytes. */
  len: number;
  id: number;
  /** The raw flags + fragment-offset field. */
  off: number;
  df: boolean;
  mf: boolean;
  /** Fragment offset in bytes (the 13-bit field × 8). */
  fragOffset: number;
  ttl: number;
  /** Protocol (IPPROTO). */
  p: number;
  /** The checksum as carried. */
  sum: number;
  src: number;
  dst: number;
  /** Options in header order (EOL ends the list and is not included). */
  options: IpOption[];
}

export type Ipv4ParseResult =
  | { ok: true; ip: Ipv4Header; payloadOffset: number; payloadLength: number }
  | { ok: false; reason: IpDropReason; /** Byte offset of the bad option field, for ICMP parameter problem. */ pointer?: number };

export interface Ipv4ParseOptions {
  /** Verify the header checksum (default true; false models a NIC that already did). */
  checksum?: boolean;
}

const NO_OPTIONS: IpOption[] = [];

function u32(b: Uint8Array, i: number): number {
  return ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0;
}

function putU32(b: Uint8Array, i: number, v: number): void {
  b[i] = v >>> 24;
  b[i + 1] = v >>> 16;
  b[i + 2] = v >>> 8;
  b[i + 3] = v;
}

type OptResult = { ok: true; options: IpOption[] } | { ok: false; pointer: number };

/**
 * Walks the options of a header starting at `start` (absolute offset of the IP
 * header) with the checks of `ip_dooptions()`; the returned pointer is relative to
 * the IP header, as ICMP parameter problem wants it.
 */
function parseOptions(b: Uint8Array, start: number, hl: number): OptResult {
  const options: IpOption[] = [];
  let i = start + IP_HDRLEN;
  const end = start + hl;
  while (i < end) {
    const type = b[i];
    if (type === IPOPT.EOL) break;
    if (type === IPOPT.NOP) {
      options.push({ kind: "nop" });
      i++;
      continue;
    }
    if (end - i < 2) return { ok: false, pointer: i + 1 - start };
    const optlen = b[i + 1];
    if (optlen < 2 || optlen > end - i) return { ok: false, pointer: i + 1 - start };
    switch (type) {
      case IPOPT.RR:
      case IPOPT.LSRR:
      case IPOPT.SSRR: {
        if (optlen < 3) return { ok: false, pointer: i + 1 - start };
        const pointer = b[i + 2];
        if (pointer < IPOPT_MINOFF) return { ok: false, pointer: i + 2 - start };
        const route: number[] = [];
        for (let j = i + 3; j + 4 <= i + optlen; j += 4) route.push(u32(b, j));
        options.push({ kind: type === IPOPT.RR ? "rr" : type === IPOPT.LSRR ? "lsrr" : "ssrr", pointer, route });
        break;
      }
      case IPOPT.TS: {
        if (optlen < 4 || optlen > MAX_IPOPTLEN) return { ok: false, pointer: i + 1 - start };
        const pointer = b[i + 2];
        if (pointer < 5) return { ok: false, pointer: i + 1 - start };
        const overflow = b[i + 3] >>> 4;
        const flag = b[i + 3] & 0x0f;
        if (pointer > optlen - 4) {
          // Full: a router bumps the overflow count; wrapping it is an error.
          if (overflow === 15) return { ok: false, pointer: i + 2 - start };
        } else if (flag !== IPOPT_TS.TSONLY) {
          if (flag !== IPOPT_TS.TSANDADDR && flag !== IPOPT_TS.PRESPEC) return { ok: false, pointer: i + 3 - start };
          if (pointer - 1 + 8 > optlen) return { ok: false, pointer: i + 2 - start };
        }
        const data: number[] = [];
        for (let j = i + 4; j + 4 <= i + optlen; j += 4) data.push(u32(b, j));
        options.push({ kind: "ts", pointer, overflow, flag, data });
        break;
      }
      default:
        options.push({ kind: "raw", type, data: b.slice(i + 2, i + optlen) });
    }
    i += optlen;
  }
  return { ok: true, options };
}

/**
 * Parses the IPv4 header at `frame[off…]`, with `ip_input()`'s checks in its
 * order: toosmall, badvers, badhlen, badsum, badlen, tooshort, then options.
 * Bytes past the total length (link padding) are ignored, as `ip_input()` trims them.
 */
export function parseIpv4(frame: Uint8Array, off = 0, opts?: Ipv4ParseOptions): Ipv4ParseResult {
  const avail = frame.length - off;
  if (avail < IP_HDRLEN) return { ok: false, reason: IpDropReason.toosmall };
  const vhl = frame[off];
  if (vhl >>> 4 !== IPVERSION) return { ok: false, reason: IpDropReason.badvers };
  const hl = (vhl & 0x0f) << 2;
  if (hl < IP_HDRLEN || hl > avail) return { ok: false, reason: IpDropReason.badhlen };
  if (opts?.checksum !== false && inCksum(frame, off, hl) !== 0) return { ok: false, reason: IpDropReason.badsum };
  const len = (frame[off + 2] << 8) | frame[off + 3];
  if (len < hl) return { ok: false, reason: IpDropReason.badlen };
  if (avail < len) return { ok: false, reason: IpDropReason.tooshort };
  let options = NO_OPTIONS;
  if (hl > IP_HDRLEN) {
    const r = parseOptions(frame, off, hl);
    if (!r.ok) return { ok: false, reason: IpDropReason.badoptions, pointer: r.pointer };
    options = r.options;
  }
  const ipoff = (frame[off + 6] << 8) | frame[off + 7];
  return {
    ok: true,
    ip: {
      hl,
      tos: frame[off + 1],
      len,
      id: (frame[off + 4] << 8) | frame[off + 5],
      off: ipoff,
      df: (ipoff & IP_DF) !== 0,
      mf: (ipoff & IP_MF) !== 0,
      fragOffset: (ipoff & IP_OFFMASK) << 3,
      ttl: frame[off + 8],
      p: frame[off + 9],
      sum: (frame[off + 10] << 8) | frame[off + 11],
      src: u32(frame, off + 12),
      dst: u32(frame, off + 16),
      options,
    },
    payloadOffset: off + hl,
    payloadLength: len - hl,
  };
}

/** True for any fragment of a fragmented datagram (MF set or a non-zero offset). */
export function ipIsFragment(ip: Pick<Ipv4Header, "off">): boolean {
  return (ip.off & (IP_MF | IP_OFFMASK)) !== 0;
}

/**
 * The destination the TCP/UDP pseudo-header uses: the IP destination, unless a
 * loose or strict source route still has addresses to visit — then the route's
 * last address, the final destination (RFC 1122 §3.2.1.8; the sender's socket is
 * connected to it, and Wireshark verifies this way). At the final destination the
 * route is used up and `ip_dst` is that address again.
 */
export function ipFinalDst(ip: Pick<Ipv4Header, "dst" | "options">): number {
  for (const o of ip.options) {
    if ((o.kind === "lsrr" || o.kind === "ssrr") && o.route.length > 0 && o.pointer <= 4 * o.route.length) {
      return o.route[o.route.length - 1];
    }
  }
  return ip.dst;
}

/** A builder was given an argument it cannot encode. */
export class IpBuildError extends Error {
  override readonly name = "IpBuildError";
  constructor(message: string, readonly field: string, readonly value: unknown) {
    super(message);
  }
}

function optionBytes(o: IpOption): number[] {
  switch (o.kind) {
    case "nop":
      return [IPOPT.NOP];
    case "rr":
    case "lsrr":
    case "ssrr": {
      const type = o.kind === "rr" ? IPOPT.RR : o.kind === "lsrr" ? IPOPT.LSRR : IPOPT.SSRR;
      const out = [type, 3 + 4 * o.route.length, o.pointer];
      for (const a of o.route) out.push(a >>> 24, (a >>> 16) & 0xff, (a >>> 8) & 0xff, a & 0xff);
      return out;
    }
    case "ts": {
      const out = [IPOPT.TS, 4 + 4 * o.data.length, o.pointer, ((o.overflow & 0xf) << 4) | (o.flag & 0xf)];
      for (const a of o.data) out.push(a >>> 24, (a >>> 16) & 0xff, (a >>> 8) & 0xff, a & 0xff);
      return out;
    }
    case "raw":
      return [o.type, 2 + o.data.length, ...o.data];
  }
}

/** Encodes options, padded with EOL to a multiple of 4 bytes. Throws IpBuildError past 40 bytes. */
export function buildIpOptions(options: readonly IpOption[]): Uint8Array {
  const bytes: number[] = [];
  for (const o of options) bytes.push(...optionBytes(o));
  while (bytes.length & 3) bytes.push(IPOPT.EOL);
  if (bytes.length > MAX_IPOPTLEN) {
    throw new IpBuildError(`IP options take ${bytes.length} bytes; at most ${MAX_IPOPTLEN} fit`, "options", bytes.length);
  }
  return Uint8Array.from(bytes);
}

/** What a caller gives to build a header; unset fields take the usual defaults. */
export interface Ipv4HeaderInit {
  src: number;
  dst: number;
  /** Protocol (IPPROTO). */
  p: number;
  tos?: number;
  id?: number;
  /** Default IPDEFTTL (64). */
  ttl?: number;
  df?: boolean;
  mf?: boolean;
  /** Fragment offset in bytes; must be a multiple of 8. */
  fragOffset?: number;
  options?: readonly IpOption[] | Uint8Array;
}

function checkField(name: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max) {
    throw new IpBuildError(`${name} ${v} is not an integer in 0..${max}`, name, v);
  }
}

/**
 * Writes a full IPv4 header for a payload of `payloadLength` bytes into
 * `out[off…]` (checksum filled in) and returns the header length.
 */
export function writeIpv4Header(out: Uint8Array, off: number, h: Ipv4HeaderInit, payloadLength: number): number {
  const opt = h.options === undefined ? undefined : h.options instanceof Uint8Array ? h.options : buildIpOptions(h.options);
  if (opt && (opt.length & 3 || opt.length > MAX_IPOPTLEN)) {
    throw new IpBuildError(`raw IP options must be a multiple of 4 bytes up to ${MAX_IPOPTLEN}; got ${opt.length}`, "options", opt.length);
  }
  const hl = IP_HDRLEN + (opt ? opt.length : 0);
  const len = hl + payloadLength;
  checkField("src", h.src, 0xffffffff);
  checkField("dst", h.dst, 0xffffffff);
  checkField("p", h.p, 0xff);
  checkField("total length", len, IP_MAXPACKET);
  const fragOffset = h.fragOffset ?? 0;
  checkField("fragOffset", fragOffset, IP_OFFMASK << 3);
  if (fragOffset & 7) throw new IpBuildError(`fragOffset ${fragOffset} is not a multiple of 8`, "fragOffset", fragOffset);
  const ttl = h.ttl ?? IPDEFTTL;
  checkField("ttl", ttl, 0xff);
  const id = h.id ?? 0;
  checkField("id", id, 0xffff);
  const tos = h.tos ?? 0;
  checkField("tos", tos, 0xff);
  const ipoff = (h.df ? IP_DF : 0) | (h.mf ? IP_MF : 0) | (fragOffset >>> 3);
  out[off] = (IPVERSION << 4) | (hl >>> 2);
  out[off + 1] = tos;
  out[off + 2] = len >>> 8;
  out[off + 3] = len;
  out[off + 4] = id >>> 8;
  out[off + 5] = id;
  out[off + 6] = ipoff >>> 8;
  out[off + 7] = ipoff;
  out[off + 8] = ttl;
  out[off + 9] = h.p;
  out[off + 10] = 0;
  out[off + 11] = 0;
  putU32(out, off + 12, h.src);
  putU32(out, off + 16, h.dst);
  if (opt) out.set(opt, off + IP_HDRLEN);
  const sum = inCksum(out, off, hl);
  out[off + 10] = sum >>> 8;
  out[off + 11] = sum;
  return hl;
}

/** Header length `h` would encode to, in bytes. */
export function ipv4HeaderLength(h: Pick<Ipv4HeaderInit, "options">): number {
  if (h.options === undefined) return IP_HDRLEN;
  if (h.options instanceof Uint8Array) return IP_HDRLEN + h.options.length;
  return IP_HDRLEN + buildIpOptions(h.options).length;
}

/** A whole IPv4 datagram: header (checksum filled in) followed by `payload`. */
export function buildIpv4(h: Ipv4HeaderInit, payload: Uint8Array): Uint8Array {
  const opt = h.options === undefined || h.options instanceof Uint8Array ? h.options : buildIpOptions(h.options);
  const hl = IP_HDRLEN + (opt ? opt.length : 0);
  const out = new Uint8Array(hl + payload.length);
  writeIpv4Header(out, 0, { ...h, options: opt }, payload.length);
  out.set(payload, hl);
  return out;
}

/**
 * Forwarding's TTL decrement (`ip->ip_ttl -= IPTTLDEC` in `ip_forward()`), in
 * place, with the header checksum patched by RFC 1624 instead of recomputed.
 * Returns the new TTL, or -1 (frame untouched) when the TTL is already ≤ 1 and
 * the router must send ICMP time exceeded instead. The header must be valid.
 */
export function ipTtlDecrement(frame: Uint8Array, off = 0): number {
  const ttl = frame[off + 8];
  if (ttl <= 1) return -1;
  const oldWord = (ttl << 8) | frame[off + 9];
  const newWord = oldWord - 0x100;
  const sum = cksumAdjust((frame[off + 10] << 8) | frame[off + 11], oldWord, newWord);
  frame[off + 8] = ttl - 1;
  frame[off + 10] = sum >>> 8;
  frame[off + 11] = sum;
  return ttl - 1;
}

/** Fragmentation refused (`ips_cantfrag`): DF set, or an MTU too small for header + 8 bytes. */
export class IpCantFragError extends Error {
  override readonly name = "IpCantFragError";
  constructor(message: string, readonly mtu: number, readonly length: number) {
    super(message);
  }
}

/**
 * `ip_optcopy()`: the options that go into every fragment after the first —
 * those with the copied bit, plus NOPs (kept for alignment) — padded with EOL.
 */
export function ipOptCopy(b: Uint8Array, off: number, hl: number): Uint8Array {
  const out: number[] = [];
  let i = off + IP_HDRLEN;
  const end = off + hl;
  while (i < end) {
    const type = b[i];
    if (type === IPOPT.EOL) break;
    if (type === IPOPT.NOP) {
      out.push(IPOPT.NOP);
      i++;
      continue;
    }
    const optlen = b[i + 1];
    if (optlen < 2 || optlen > end - i) break;
    if (ipoptCopied(type)) for (let j = 0; j < optlen; j++) out.push(b[i + j]);
    i += optlen;
  }
  while (out.length & 3) out.push(IPOPT.EOL);
  return Uint8Array.from(out);
}

/**
 * `ip_fragment()`: splits a valid datagram into fragments that fit `mtu`. Every
 * fragment but the last carries the same number of data bytes, `(mtu - hlen) & ~7`
 * with hlen the original header length; the first keeps all
 * options, the rest only the copied ones (`ipOptCopy`). Fragmenting a fragment
 * keeps its offset and its MF on the last piece. A datagram that already fits is
 * returned as is (one element). Throws IpCantFragError when DF is set or the MTU
 * leaves no room for 8 data bytes.
 */
export function ipFragment(packet: Uint8Array, mtu: number): Uint8Array[] {
  const r = parseIpv4(packet, 0, { checksum: false });
  if (!r.ok) throw new IpCantFragError(`cannot fragment a malformed datagram (${r.reason})`, mtu, packet.length);
  const { ip } = r;
  if (ip.len <= mtu) return [packet.subarray(0, ip.len)];
  if (ip.df) throw new IpCantFragError(`datagram of ${ip.len} bytes has DF set and the MTU is ${mtu}`, mtu, ip.len);
  // As ip_fragment(): one data length for every piece, from the first header's length.
  const fragLen = (mtu - ip.hl) & ~7;
  const later = ipOptCopy(packet, 0, ip.hl);
  if (fragLen < 8) {
    throw new IpCantFragError(`MTU ${mtu} leaves no room for 8 data bytes after a ${ip.hl}-byte header`, mtu, ip.len);
  }
  const data = packet.subarray(ip.hl, ip.len);
  const frags: Uint8Array[] = [];
  const firstOpts = packet.subarray(IP_HDRLEN, ip.hl);
  let pos = 0;
  while (pos < data.length) {
    const first = pos === 0;
    const n = Math.min(fragLen, data.length - pos);
    const last = pos + n >= data.length;
    const opts = first ? firstOpts : later;
    const hl = IP_HDRLEN + opts.length;
    const out = new Uint8Array(hl + n);
    writeIpv4Header(out, 0, {
      src: ip.src, dst: ip.dst, p: ip.p, tos: ip.tos, id: ip.id, ttl: ip.ttl,
      mf: last ? ip.mf : true,
      fragOffset: ip.fragOffset + pos,
      options: opts.length ? opts : undefined,
    }, n);
    out.set(data.subarray(pos, pos + n), hl);
    frags.push(out);
    pos += n;
  }
  return frags;
}

/** A dotted-quad string that is not an IPv4 address. */
export class IpAddrError extends Error {
  override readonly name = "IpAddrError";
  constructor(readonly input: string) {
    super(`"${input}" is not an IPv4 address (want four decimal octets 0-255, like 10.0.0.1)`);
  }
}

/** Parses a dotted quad strictly (four decimal octets 0-255, no leading zeros) or returns undefined. */
export function parseIpAddr(s: string): number | undefined {
  const parts = s.split(".");
  if (parts.length !== 4) return undefined;
  let v = 0;
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    v = v * 256 + n;
  }
  return v;
}

/** `ipAddr("10.0.0.1")` → 0x0a000001. Throws IpAddrError on anything else. */
export function ipAddr(s: string): number {
  const v = parseIpAddr(s);
  if (v === undefined) throw new IpAddrError(s);
  return v;
}

/** 0x0a000001 → "10.0.0.1". */
export function ipString(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}`;
}
