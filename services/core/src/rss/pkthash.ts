/**
 * The software packet hash of DragonFly's ip_hashfn() (sys/netinet/ip_demux.c)
 * over a raw IPv4 packet, with the symmetric key:
 *
 * - IP fragments (MF set or offset != 0): the address pair
 *   (toeplitz_rawhash_addr), as in the 2022 tree of the project notes §1 and
 *   the brief. NB an older ip_demux.c (still using ncpus2_mask, i.e. before
 *   late 2017) hashed fragments to 0, "defrag on CPU 0";
 * - TCP: the 4-tuple (src, dst, sport, dport);
 * - UDP: the address pair; multicast destination → 0 (CPU 0);
 * - any other protocol → 0.
 *
 * ip_lengthcheck() drops what it cannot parse; here such a packet (shorter
 * than its headers, not IPv4, IHL < 5, total length past the frame or below
 * the headers, TCP data offset < 5 or past the total length) hashes to 0.
 * Never throws, never allocates. Returns the raw 32-bit hash; DragonFly stores
 * toeplitzHash(raw) = raw & 0xffff in m_pkthdr.hash.
 */
import { symmetric } from "./toeplitz.js";

const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const IP_MF = 0x2000;
const IP_OFFMASK = 0x1fff;

/** `off`: where the IPv4 header starts in `frame` (e.g. 14 after an Ethernet header). */
export function ipPacketHash(frame: Uint8Array, off = 0): number {
  const n = frame.length;
  if ((off | 0) !== off || off < 0 || off + 20 > n) return 0;
  const vhl = frame[off];
  if (vhl >>> 4 !== 4) return 0;
  const hlen = (vhl & 0x0f) << 2;
  if (hlen < 20 || off + hlen > n) return 0;
  const iplen = (frame[off + 2] << 8) | frame[off + 3];
  if (iplen < hlen || off + iplen > n) return 0;
  const ipoff = (frame[off + 6] << 8) | frame[off + 7];
  const src = ((frame[off + 12] << 24) | (frame[off + 13] << 16) | (frame[off + 14] << 8) | frame[off + 15]) >>> 0;
  const dst = ((frame[off + 16] << 24) | (frame[off + 17] << 16) | (frame[off + 18] << 8) | frame[off + 19]) >>> 0;
  const proto = frame[off + 9];
  const l4 = off + hlen;
  // ip_lengthcheck(): the first fragment (offset 0, MF or not) must hold the
  // whole TCP or UDP header; later fragments are only length-checked.
  if ((ipoff & IP_OFFMASK) === 0) {
    if (proto === IPPROTO_TCP) {
      if (iplen < hlen + 20) return 0;
      const thoff = (frame[l4 + 12] >>> 4) << 2;
      if (thoff < 20 || hlen + thoff > iplen) return 0;
    } else if (proto === IPPROTO_UDP) {
      if (iplen < hlen + 8) return 0;
    }
  }
  if (ipoff & (IP_MF | IP_OFFMASK)) return symmetric.hash2(src, dst);
  if (proto === IPPROTO_TCP) {
    const sport = (frame[l4] << 8) | frame[l4 + 1];
    const dport = (frame[l4 + 2] << 8) | frame[l4 + 3];
    return symmetric.hash4(src, dst, sport, dport);
  }
  if (proto === IPPROTO_UDP) {
    if (dst >>> 28 === 0xe) return 0; // IN_MULTICAST(224.0.0.0/4): "handle multicast on CPU0 for now"
    return symmetric.hash2(src, dst);
  }
  return 0;
}
