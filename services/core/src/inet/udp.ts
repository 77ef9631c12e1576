/**
 * UDP codec: `struct udphdr` (sys/netinet/udp.h) and the header checks of
 * `udp_input()` (sys/netinet/udp_usrreq.c). A zero checksum means "none sent"
 * (counted as `udps_nosum`, not a drop); a computed checksum of 0 is sent as
 * 0xffff (RFC 768).
 */
import { cksumAdd, cksumSum, inCksumPseudo, inPseudo } from "./in_cksum.js";
import { IPPROTO } from "./ip.js";

export const UDP_HDRLEN = 8;

/** `udpstat` counters `udp_input()` bumps when it drops a datagram while checking its header. */
export const UdpDropReason = {
  /** Shorter than the 8-byte header (`udps_hdrops`). */
  hdrops: "hdrops",
  /** `uh_ulen` < 8 or larger than the IP payload (`udps_badlen`). */
  badlen: "badlen",
  /** Checksum present and wrong (`udps_badsum`). */
  badsum: "badsum",
} as const;
export type UdpDropReason = (typeof UdpDropReason)[keyof typeof UdpDropReason];

export interface UdpHeader {
  sport: number;
  dport: number;
  /** `uh_ulen`: header + data. */
  ulen: number;
  /** Checksum as carried. */
  sum: number;
  /** The sender sent no checksum (`uh_sum == 0`; `udps_nosum`). */
  nosum: boolean;
}

export type UdpParseResult =
  | { ok: true; udp: UdpHeader; payloadOffset: number; payloadLength: number }
  | { ok: false; reason: UdpDropReason };

export interface UdpParseOptions {
  /** Verify a non-zero checksum (default true). */
  checksum?: boolean;
}

/**
 * Parses the UDP datagram `b[off, off+len)` (len = the IP payload length). As
 * `udp_input()`, a `uh_ulen` shorter than the IP payload trims the data to it;
 * the checksum covers `uh_ulen` bytes.
 */
export function parseUdp(
  b: Uint8Array, off: number, len: number, src: number, dst: number, opts?: UdpParseOptions,
): UdpParseResult {
  if (len < UDP_HDRLEN || off < 0 || off + len > b.length) return { ok: false, reason: UdpDropReason.hdrops };
  const ulen = (b[off + 4] << 8) | b[off + 5];
  if (ulen > len || ulen < UDP_HDRLEN) return { ok: false, reason: UdpDropReason.badlen };
  const sum = (b[off + 6] << 8) | b[off + 7];
  if (sum !== 0 && opts?.checksum !== false && inCksumPseudo(b, off, ulen, src, dst, IPPROTO.UDP) !== 0) {
    return { ok: false, reason: UdpDropReason.badsum };
  }
  return {
    ok: true,
    udp: { sport: (b[off] << 8) | b[off + 1], dport: (b[off + 2] << 8) | b[off + 3], ulen, sum, nosum: sum === 0 },
    payloadOffset: off + UDP_HDRLEN,
    payloadLength: ulen - UDP_HDRLEN,
  };
}

/** A builder was given an argument it cannot encode. */
export class UdpBuildError extends Error {
  override readonly name = "UdpBuildError";
  constructor(message: string, readonly field: string, readonly value: unknown) {
    super(message);
  }
}

export interface UdpHeaderInit {
  sport: number;
  dport: number;
  /** Compute the checksum (default true); false sends 0 ("no checksum"). */
  checksum?: boolean;
}

function checkPort(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new UdpBuildError(`UDP ${name} ${v} is not an integer in 0..65535`, name, v);
}

/** Writes header + payload at `out[off…]`; returns the datagram length. */
export function writeUdp(
  out: Uint8Array, off: number, h: UdpHeaderInit, payload: Uint8Array, src: number, dst: number,
): number {
  checkPort("sport", h.sport);
  checkPort("dport", h.dport);
  const len = UDP_HDRLEN + payload.length;
  if (len > 0xffff) throw new UdpBuildError(`UDP length ${len} exceeds 65535`, "length", len);
  out[off] = h.sport >>> 8;
  out[off + 1] = h.sport;
  out[off + 2] = h.dport >>> 8;
  out[off + 3] = h.dport;
  out[off + 4] = len >>> 8;
  out[off + 5] = len;
  out[off + 6] = 0;
  out[off + 7] = 0;
  out.set(payload, off + UDP_HDRLEN);
  if (h.checksum !== false) {
    let sum = ~cksumAdd(inPseudo(src, dst, IPPROTO.UDP, len), cksumSum(out, off, len)) & 0xffff;
    if (sum === 0) sum = 0xffff; // 0 means "no checksum" on the wire
    out[off + 6] = sum >>> 8;
    out[off + 7] = sum;
  }
  return len;
}

/** A UDP datagram (header + payload) with its checksum for `src` → `dst`. */
export function buildUdp(h: UdpHeaderInit, payload: Uint8Array, src: number, dst: number): Uint8Array {
  const out = new Uint8Array(UDP_HDRLEN + payload.length);
  writeUdp(out, 0, h, payload, src, dst);
  return out;
}
