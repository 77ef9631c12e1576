// IPv4 input checks: DragonFly's `ip_lengthcheck()` (ip_demux.c) and `ip_input()`'s header checks (ip_input.c), in their order.
// The no-options path never allocates; options (rare) go through core's `parseIpv4`. RR and TS options are checked, not filled in.
import { inCksum, parseIpv4 } from "@dfly/core";
import { IpDrop } from "./ipstat.js";

/** `ipInputCheck` accepted the frame. */
export const IP_OK = -1;

const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const IP_OFFMASK = 0x1fff;

/** The length and header checks (all but options) on the frame `buf[off, off+len)` → IP_OK or an IpDrop code; a frame longer than ip_len passes (the caller trims). */
export function ipInputCheck(buf: Uint8Array, off: number, len: number): number {
  if (len < 20) return IpDrop.tooshort;
  const vhl = buf[off];
  const hlen = (vhl & 0x0f) << 2;
  if (hlen < 20 || hlen > len) return IpDrop.badhlen;
  const iplen = (buf[off + 2] << 8) | buf[off + 3];
  if (len < iplen) return IpDrop.tooshort;
  if ((((buf[off + 6] << 8) | buf[off + 7]) & IP_OFFMASK) === 0) {
    const p = buf[off + 9];
    if (p === IPPROTO_TCP) {
      if (iplen < hlen + 20) return IpDrop.rcvshort;
      const thoff = (buf[off + hlen + 12] >>> 4) << 2;
      if (thoff < 20 || thoff + hlen > iplen) return IpDrop.rcvbadoff;
    } else if (p === IPPROTO_UDP) {
      if (iplen < hlen + 8) return IpDrop.hdrops;
    } else if (iplen < hlen) {
      return IpDrop.badlen;
    }
  } else if (iplen < hlen) {
    return IpDrop.badlen;
  }
  if (vhl >>> 4 !== 4) return IpDrop.badvers;
  if (buf[off + 12] === 127 || buf[off + 16] === 127) return IpDrop.badaddr;
  if (hlen === 20) {
    // in_cksum_hdr(): ten 16-bit words, folded; a correct header sums to 0xffff.
    let s =
      ((buf[off] << 8) | buf[off + 1]) +
      ((buf[off + 2] << 8) | buf[off + 3]) +
      ((buf[off + 4] << 8) | buf[off + 5]) +
      ((buf[off + 6] << 8) | buf[off + 7]) +
      ((buf[off + 8] << 8) | buf[off + 9]) +
      ((buf[off + 10] << 8) | buf[off + 11]) +
      ((buf[off + 12] << 8) | buf[off + 13]) +
      ((buf[off + 14] << 8) | buf[off + 15]) +
      ((buf[off + 16] << 8) | buf[off + 17]) +
      ((buf[off + 18] << 8) | buf[off + 19]);
    s = (s & 0xffff) + (s >>> 16);
    s = (s & 0xffff) + (s >>> 16);
    if (s !== 0xffff) return IpDrop.badsum;
  } else if (inCksum(buf, off, hlen) !== 0) {
    return IpDrop.badsum;
  }
  return IP_OK;
}

/** What `ipDoOptions` found wrong. */
export const OptVerdict = {
  ok: 0,
  /** Malformed: ICMP parameter problem with `pointer`. */
  paramprob: 1,
  /** Source routed: ICMP unreachable, code srcfail. */
  srcfail: 2,
} as const;
export type OptVerdictCode = (typeof OptVerdict)[keyof typeof OptVerdict];

export interface OptResult {
  verdict: OptVerdictCode;
  /** For paramprob: offset of the bad byte from the start of the IP header. */
  pointer: number;
}

/** `ip_dooptions()` for a header with options that passed `ipInputCheck`; `frame` must end where the frame ends. */
export function ipDoOptions(frame: Uint8Array, off: number): OptResult {
  const r = parseIpv4(frame, off, { checksum: false });
  if (!r.ok) return { verdict: OptVerdict.paramprob, pointer: r.pointer ?? 0 };
  for (const o of r.ip.options) {
    if (o.kind === "lsrr" || o.kind === "ssrr") return { verdict: OptVerdict.srcfail, pointer: 0 };
  }
  return { verdict: OptVerdict.ok, pointer: 0 };
}

/** True when `hlen` > 20, i.e. `ipDoOptions` must run. Kept next to it for readers. */
export function ipHasOptions(buf: Uint8Array, off: number): boolean {
  return (buf[off] & 0x0f) > 5;
}
