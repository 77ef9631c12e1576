/**
 * IPv4 input checks, as DragonFly's `ip_lengthcheck()` (sys/netinet/ip_demux.c) followed
 * by the header checks of `ip_input()` (sys/netinet/ip_input.c), in their order:
 *
 *   1. frame < 20 bytes                                  → tooshort
 *   2. IHL < 5, or the header runs past the frame        → badhlen
 *   3. frame shorter than ip_len                         → tooshort
 *   4. first fragment (offset 0): TCP needs 20 header bytes within ip_len (tcps_rcvshort)
 *      and a data offset in [20, ip_len - hlen] (tcps_rcvbadoff); UDP needs 8 (udps_hdrops);
 *      anything else (and later fragments) ip_len ≥ hlen (badlen)
 *   5. version ≠ 4                                       → badvers
 *   6. 127/8 as source or destination on the wire        → badaddr
 *   7. header checksum                                   → badsum
 *   8. options (hlen > 20), `ip_dooptions()`: malformed  → badoptions (+ ICMP parameter problem);
 *      LSRR/SSRR → badoptions (+ ICMP unreachable srcfail: net.inet.ip.sourceroute and
 *      accept_sourceroute default to 0, and this stack is a router).
 *
 * The fast path (no options) is inline, over `buf[off, off+len)` inside a frame batch, and
 * never allocates. Options go through core's `parseIpv4`, which allocates; options are rare.
 * Limit: RR and TS options are checked but not filled in (DragonFly records the outgoing
 * address / a timestamp); the frame is forwarded with them unchanged.
 */
import { inCksum, parseIpv4 } from "@dfly/core";
import { IpDrop } from "./ipstat.js";

/** `ipInputCheck` accepted the frame. */
export const IP_OK = -1;

const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const IP_OFFMASK = 0x1fff;

/**
 * The checks 1–7 above. Returns IP_OK or an IpDrop code. `buf[off, off+len)` is the frame.
 * A frame longer than ip_len is accepted (the caller trims it to ip_len, as ip_input does).
 */
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

/**
 * `ip_dooptions()` for a header with options (hlen > 20) that passed `ipInputCheck`.
 * `frame` must end where the frame ends (callers pass a subarray; options are rare).
 */
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
