/**
 * IP reassembly for datagrams addressed to this host (DragonFly's ip_reass() in
 * sys/netinet/ip_input.c), one queue set per CPU.
 *
 * A fragment joins the queue of (src, dst, id, proto). Limits and their counters
 * are BSD's:
 * - `maxfragpackets` (net.inet.ip.maxfragpackets, maxnipq): 0 accepts no
 *   fragment (ips_fragdropped); a new queue beyond it frees the oldest queue,
 *   whose fragments count as ips_fragtimeout;
 * - `maxfragsperpacket` (net.inet.ip.maxfragsperpacket, 16): a queue holding
 *   more is freed, all its fragments counted in ips_fragdropped;
 * - a fragment with MF set whose data is not a non-zero multiple of 8 is
 *   ips_toosmall; one that would make the datagram larger than 65535 frees its
 *   queue (ips_toolong);
 * - a queue not complete after `fragttlMs` (IPFRAGTTL, 60 slow ticks = 30 s) is
 *   freed by `slowtimo` (ips_fragtimeout += its fragments).
 * Overlaps are resolved as BSD does: the data already queued wins over the front
 * of a new fragment (a fragment wholly inside queued data is dropped), and a new
 * fragment trims the front of the ones it overlaps after it (or frees them).
 * A fragment past a known end (a last fragment already seen), or a last
 * fragment ending before queued data, frees the queue (inconsistent lengths).
 * Every fragment is counted in ips_fragments; a complete datagram in
 * ips_reassembled. Fragments are copied (the caller's frame buffer is reused).
 */

/** ips_* counters of the reassembly code. */
export interface IpReassStats {
  fragments: number;
  fragdropped: number;
  fragtimeout: number;
  reassembled: number;
  toosmall: number;
  toolong: number;
}

/** IPFRAGTTL (60 ticks of PR_SLOWHZ 2) in ms. */
export const IPFRAGTTL_MS = 30_000;
/** net.inet.ip.maxfragsperpacket default. */
export const IP_MAXFRAGSPERPACKET = 16;
/** net.inet.ip.maxfragpackets default: maxnipq = nmbclusters / 32 (nmbclusters taken as 8192). */
export const IP_MAXFRAGPACKETS = 256;
/** Upper bounds the knobs accept (bounded memory: at most maxfragpackets × 64 KiB). */
export const IP_MAXFRAGPACKETS_LIMIT = 4096;
export const IP_MAXFRAGSPERPACKET_LIMIT = 1024;

const IP_MAXPACKET = 65535;
const IP_MF = 0x2000;
const IP_OFFMASK = 0x1fff;

interface Frag {
  /** Data offset in bytes and end (exclusive). */
  off: number;
  end: number;
  data: Uint8Array;
}

interface Ipq {
  frags: Frag[];
  /** The first fragment's header (offset 0), once it arrived. */
  hdr: Uint8Array | null;
  /** End of the datagram's data once the last fragment (MF clear) arrived, else -1. */
  last: number;
  expire: number;
  nfrags: number;
}

export interface IpReassOptions {
  maxfragpackets?: number;
  maxfragsperpacket?: number;
  fragttlMs?: number;
}

function rd32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

function hdrCksum(b: Uint8Array, hlen: number): number {
  let s = 0;
  for (let i = 0; i < hlen; i += 2) s += (b[i] << 8) | b[i + 1];
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** One CPU's reassembly queues (`ipq[]`). */
export class IpReass {
  readonly stats: IpReassStats = { fragments: 0, fragdropped: 0, fragtimeout: 0, reassembled: 0, toosmall: 0, toolong: 0 };
  maxfragpackets: number;
  maxfragsperpacket: number;
  fragttlMs: number;
  /** Insertion order is age order: the first key is the oldest queue. */
  private readonly q = new Map<string, Ipq>();

  constructor(o: IpReassOptions = {}) {
    this.maxfragpackets = o.maxfragpackets ?? IP_MAXFRAGPACKETS;
    this.maxfragsperpacket = o.maxfragsperpacket ?? IP_MAXFRAGSPERPACKET;
    this.fragttlMs = o.fragttlMs ?? IPFRAGTTL_MS;
  }

  /** Datagrams being reassembled (`nipq`). */
  get count(): number {
    return this.q.size;
  }

  /**
   * One fragment `buf[off, off + iplen)` with header length `hlen` (checked by
   * ip_input). Returns the whole datagram (a new buffer, offset and MF cleared,
   * header checksum recomputed) when this fragment completes it, else null.
   */
  input(buf: Uint8Array, off: number, hlen: number, iplen: number, now: number): Uint8Array | null {
    const st = this.stats;
    st.fragments++;
    this.slowtimo(now);
    if (this.maxfragpackets <= 0) {
      st.fragdropped++;
      return null;
    }
    const ipoff = (buf[off + 6] << 8) | buf[off + 7];
    const mf = (ipoff & IP_MF) !== 0;
    const foff = (ipoff & IP_OFFMASK) << 3;
    const len = iplen - hlen;
    if (mf && (len === 0 || (len & 7) !== 0)) {
      st.toosmall++;
      st.fragdropped++;
      return null;
    }
    const key = `${rd32(buf, off + 12)}:${rd32(buf, off + 16)}:${(buf[off + 4] << 8) | buf[off + 5]}:${buf[off + 9]}`;
    let fp = this.q.get(key);
    if (fp === undefined) {
      if (this.q.size >= this.maxfragpackets) {
        const [oldKey, old] = this.q.entries().next().value as [string, Ipq];
        st.fragtimeout += old.nfrags;
        this.q.delete(oldKey);
      }
      fp = { frags: [], hdr: null, last: -1, expire: now + this.fragttlMs, nfrags: 0 };
      this.q.set(key, fp);
    }
    let start = foff;
    const end = foff + len;
    if (hlen + end > IP_MAXPACKET) {
      st.toolong++;
      this.free(key, fp, 1);
      return null;
    }
    // Inconsistent ends: past a known last fragment, or a last fragment before queued data.
    const maxEnd = fp.frags.length > 0 ? fp.frags[fp.frags.length - 1].end : 0;
    if ((fp.last >= 0 && (end > fp.last || (!mf && end !== fp.last))) || (!mf && end < maxEnd)) {
      this.free(key, fp, 1);
      return null;
    }
    if (foff === 0 && fp.hdr === null) fp.hdr = buf.slice(off, off + hlen);
    if (!mf) fp.last = end;
    // Find the first fragment that starts after ours; the one before may overlap our front.
    const frags = fp.frags;
    let i = 0;
    while (i < frags.length && frags[i].off <= start) i++;
    if (i > 0) {
      const p = frags[i - 1];
      if (p.end >= end) {
        st.fragdropped++;
        return this.complete(key, fp);
      }
      if (p.end > start) start = p.end;
    }
    // Ours trims or frees the following fragments it overlaps.
    while (i < frags.length && frags[i].off < end) {
      const q = frags[i];
      if (q.end <= end) {
        frags.splice(i, 1);
        fp.nfrags--;
        st.fragdropped++;
        continue;
      }
      q.data = q.data.subarray(end - q.off);
      q.off = end;
      break;
    }
    const d0 = off + hlen + (start - foff);
    frags.splice(i, 0, { off: start, end, data: buf.slice(d0, d0 + (end - start)) });
    fp.nfrags++;
    if (fp.nfrags > this.maxfragsperpacket) {
      this.free(key, fp, 0);
      return null;
    }
    return this.complete(key, fp);
  }

  /** `ip_slowtimo`'s reassembly part: frees queues older than fragttlMs (ips_fragtimeout). */
  slowtimo(now: number): void {
    for (const [key, fp] of this.q) {
      if (fp.expire > now) continue;
      this.stats.fragtimeout += fp.nfrags;
      this.q.delete(key);
    }
  }

  /** `ip_freef`, its fragments (plus `extra` not queued) counted as dropped. */
  private free(key: string, fp: Ipq, extra: number): void {
    this.stats.fragdropped += fp.nfrags + extra;
    this.q.delete(key);
  }

  /** The datagram if every byte from 0 to the last fragment's end is here. */
  private complete(key: string, fp: Ipq): Uint8Array | null {
    if (fp.last < 0 || fp.hdr === null) return null;
    let next = 0;
    for (const f of fp.frags) {
      if (f.off !== next) return null;
      next = f.end;
    }
    if (next !== fp.last) return null;
    const hlen = fp.hdr.length;
    const out = new Uint8Array(hlen + next);
    out.set(fp.hdr, 0);
    for (const f of fp.frags) out.set(f.data, hlen + f.off);
    const total = hlen + next;
    out[2] = total >>> 8;
    out[3] = total;
    out[6] &= 0x40; // keep DF, clear MF and the offset
    out[7] = 0;
    out[10] = 0;
    out[11] = 0;
    const s = hdrCksum(out, hlen);
    out[10] = s >>> 8;
    out[11] = s;
    this.q.delete(key);
    this.stats.reassembled++;
    return out;
  }
}
