/**
 * ICMP codec: `struct icmp` (sys/netinet/ip_icmp.h), the checks of
 * `icmp_input()` and the quoting of `icmp_error()` (sys/netinet/ip_icmp.c):
 * an error carries the offending datagram's IP header and its first 8 data bytes.
 */
import { inCksum } from "./in_cksum.js";
import { IP_HDRLEN } from "./ip.js";

/** Message types (ICMP_*). */
export const ICMP = {
  ECHOREPLY: 0,
  UNREACH: 3,
  SOURCEQUENCH: 4,
  REDIRECT: 5,
  ECHO: 8,
  ROUTERADVERT: 9,
  ROUTERSOLICIT: 10,
  TIMXCEED: 11,
  PARAMPROB: 12,
  TSTAMP: 13,
  TSTAMPREPLY: 14,
  IREQ: 15,
  IREQREPLY: 16,
  MASKREQ: 17,
  MASKREPLY: 18,
} as const;
export const ICMP_MAXTYPE = 18;

/** Codes of destination unreachable (ICMP_UNREACH_*). */
export const ICMP_UNREACH = {
  NET: 0,
  HOST: 1,
  PROTOCOL: 2,
  PORT: 3,
  NEEDFRAG: 4,
  SRCFAIL: 5,
  NET_UNKNOWN: 6,
  HOST_UNKNOWN: 7,
  ISOLATED: 8,
  NET_PROHIB: 9,
  HOST_PROHIB: 10,
  TOSNET: 11,
  TOSHOST: 12,
  FILTER_PROHIB: 13,
  HOST_PRECEDENCE: 14,
  PRECEDENCE_CUTOFF: 15,
} as const;
/** Codes of time exceeded. */
export const ICMP_TIMXCEED = { INTRANS: 0, REASS: 1 } as const;
/** Codes of parameter problem. */
export const ICMP_PARAMPROB = { ERRATPTR: 0, OPTABSENT: 1, LENGTH: 2 } as const;

/** Minimal message: type, code, checksum, 4 bytes (ICMP_MINLEN). */
export const ICMP_MINLEN = 8;
/** Minimal error message: 8 + a 20-byte IP header + 8 bytes (ICMP_ADVLENMIN). */
export const ICMP_ADVLENMIN = 8 + IP_HDRLEN + 8;

/** `icmpstat` counters `icmp_input()` bumps when it drops a message. */
export const IcmpDropReason = {
  /** Fewer than 8 bytes (`icps_tooshort`). */
  tooshort: "tooshort",
  /** Checksum wrong (`icps_checksum`). */
  checksum: "checksum",
  /** Code out of range for unreachable / time exceeded / parameter problem (`icps_badcode`). */
  badcode: "badcode",
  /** An error message too short for the quoted header + 8 bytes, or a quoted IHL < 5 (`icps_badlen`). */
  badlen: "badlen",
} as const;
export type IcmpDropReason = (typeof IcmpDropReason)[keyof typeof IcmpDropReason];

/** The offending datagram an ICMP error quotes (enough to find the connection). */
export interface IcmpQuote {
  src: number;
  dst: number;
  p: number;
  /** Quoted IP header length. */
  hl: number;
  /** First 4 bytes of the quoted payload as ports (TCP/UDP). */
  sport: number;
  dport: number;
  /** Offset of the quoted IP header in the frame. */
  offset: number;
}

export interface IcmpMessage {
  type: number;
  code: number;
  sum: number;
  /** Echo / timestamp identifier and sequence (bytes 4-7). */
  id: number;
  seq: number;
  /** Next-hop MTU of unreachable/NEEDFRAG (bytes 6-7, RFC 1191); 0 otherwise. */
  nextMtu: number;
  /** Parameter problem pointer (byte 4). */
  pptr: number;
  /** Redirect gateway (bytes 4-7). */
  gateway: number;
  /** Data after the 8-byte header. */
  payloadOffset: number;
  payloadLength: number;
  /** For unreachable, source quench, redirect, time exceeded, parameter problem. */
  quote?: IcmpQuote;
}

export type IcmpParseResult = { ok: true; icmp: IcmpMessage } | { ok: false; reason: IcmpDropReason };

export interface IcmpParseOptions {
  /** Verify the checksum (default true). */
  checksum?: boolean;
}

function isError(type: number): boolean {
  return (
    type === ICMP.UNREACH || type === ICMP.SOURCEQUENCH || type === ICMP.REDIRECT ||
    type === ICMP.TIMXCEED || type === ICMP.PARAMPROB
  );
}

/**
 * Parses the ICMP message `b[off, off+len)` (len = the IP payload length), with
 * `icmp_input()`'s checks: tooshort, checksum, then per type badcode and badlen.
 * Types above ICMP_MAXTYPE are accepted (BSD hands them to raw sockets).
 */
export function parseIcmp(b: Uint8Array, off: number, len: number, opts?: IcmpParseOptions): IcmpParseResult {
  if (len < ICMP_MINLEN || off < 0 || off + len > b.length) return { ok: false, reason: IcmpDropReason.tooshort };
  if (opts?.checksum !== false && inCksum(b, off, len) !== 0) return { ok: false, reason: IcmpDropReason.checksum };
  const type = b[off];
  const code = b[off + 1];
  switch (type) {
    case ICMP.UNREACH:
      if (code > ICMP_UNREACH.PRECEDENCE_CUTOFF) return { ok: false, reason: IcmpDropReason.badcode };
      break;
    case ICMP.TIMXCEED:
      if (code > ICMP_TIMXCEED.REASS) return { ok: false, reason: IcmpDropReason.badcode };
      break;
    case ICMP.PARAMPROB:
      if (code > ICMP_PARAMPROB.OPTABSENT) return { ok: false, reason: IcmpDropReason.badcode };
      break;
    case ICMP.SOURCEQUENCH:
      if (code !== 0) return { ok: false, reason: IcmpDropReason.badcode };
      break;
    case ICMP.REDIRECT:
      if (code > 3) return { ok: false, reason: IcmpDropReason.badcode };
      break;
  }
  const rest = ((b[off + 4] << 24) | (b[off + 5] << 16) | (b[off + 6] << 8) | b[off + 7]) >>> 0;
  const icmp: IcmpMessage = {
    type,
    code,
    sum: (b[off + 2] << 8) | b[off + 3],
    id: rest >>> 16,
    seq: rest & 0xffff,
    nextMtu: type === ICMP.UNREACH && code === ICMP_UNREACH.NEEDFRAG ? rest & 0xffff : 0,
    pptr: b[off + 4],
    gateway: rest,
    payloadOffset: off + ICMP_MINLEN,
    payloadLength: len - ICMP_MINLEN,
  };
  if (isError(type)) {
    const q = off + ICMP_MINLEN;
    const qhl = (b[q] & 0x0f) << 2;
    // icmp_input(): icmplen < ICMP_ADVLENMIN || icmplen < ICMP_ADVLEN(icp) || IHL < 5 → badlen
    if (len < ICMP_ADVLENMIN || qhl < IP_HDRLEN || len < ICMP_MINLEN + qhl + 8) {
      return { ok: false, reason: IcmpDropReason.badlen };
    }
    const u32 = (i: number) => ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0;
    icmp.quote = {
      src: u32(q + 12),
      dst: u32(q + 16),
      p: b[q + 9],
      hl: qhl,
      sport: (b[q + qhl] << 8) | b[q + qhl + 1],
      dport: (b[q + qhl + 2] << 8) | b[q + qhl + 3],
      offset: q,
    };
  }
  return { ok: true, icmp };
}

/** A builder was given an argument it cannot encode. */
export class IcmpBuildError extends Error {
  override readonly name = "IcmpBuildError";
  constructor(message: string, readonly field: string, readonly value: unknown) {
    super(message);
  }
}

function checkField(name: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new IcmpBuildError(`ICMP ${name} ${v} is not an integer in 0..${max}`, name, v);
}

/** Any ICMP message: type, code, the 4 bytes after the checksum, and data; checksum filled in. */
export function buildIcmp(type: number, code: number, rest: number, data: Uint8Array): Uint8Array {
  checkField("type", type, 0xff);
  checkField("code", code, 0xff);
  checkField("rest of header", rest, 0xffffffff);
  const out = new Uint8Array(ICMP_MINLEN + data.length);
  out[0] = type;
  out[1] = code;
  out[4] = rest >>> 24;
  out[5] = rest >>> 16;
  out[6] = rest >>> 8;
  out[7] = rest;
  out.set(data, ICMP_MINLEN);
  const sum = inCksum(out);
  out[2] = sum >>> 8;
  out[3] = sum;
  return out;
}

/** Echo request (type 8) or, with `reply`, echo reply (type 0). */
export function buildIcmpEcho(id: number, seq: number, data: Uint8Array, reply = false): Uint8Array {
  checkField("id", id, 0xffff);
  checkField("seq", seq, 0xffff);
  return buildIcmp(reply ? ICMP.ECHOREPLY : ICMP.ECHO, 0, ((id << 16) | seq) >>> 0, data);
}

/**
 * The quote `icmp_error()` puts in an error: the offending datagram's IP header
 * (with options) and the first 8 bytes of its data — or less if the datagram is
 * shorter. `original` must start with an IPv4 header.
 */
export function icmpQuote(original: Uint8Array): Uint8Array {
  const hl = (original[0] & 0x0f) << 2;
  const total = original.length >= 4 ? (original[2] << 8) | original[3] : original.length;
  const n = Math.min(hl + 8, total, original.length);
  return original.slice(0, n);
}

/**
 * An ICMP error (unreachable, time exceeded, parameter problem, source quench,
 * redirect) quoting `original`. `rest` is the 4 bytes after the checksum: the
 * next-hop MTU for NEEDFRAG (low 16 bits), the pointer for PARAMPROB (top byte),
 * the gateway for REDIRECT.
 */
export function buildIcmpError(type: number, code: number, original: Uint8Array, rest = 0): Uint8Array {
  if (!isError(type)) throw new IcmpBuildError(`ICMP type ${type} is not an error type`, "type", type);
  return buildIcmp(type, code, rest, icmpQuote(original));
}
