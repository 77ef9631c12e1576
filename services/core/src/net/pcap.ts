/**
 * Capture files: a pcap writer (LINKTYPE_RAW by default, microsecond stamps) and a
 * reader for pcap (both byte orders, µs and ns magic) and pcapng (SHB, IDB, EPB,
 * SPB and the obsolete PB; both byte orders; per-interface link type, if_tsresol
 * and if_tsoffset; several sections). Pure functions over bytes, no I/O.
 *
 * Reader contract: `readPcap()` never throws on bad bytes. It returns every record
 * it could read and, if it had to stop, `error`: a PcapFormatError naming the byte
 * offset and what is wrong (truncated block, impossible length, …). Records read
 * before the problem are kept. Records' `data` are views into the input (no copy).
 *
 * Timestamps: `tsNs` is the exact time in nanoseconds since the epoch as a bigint;
 * `ts` the same in seconds as a float (exact to the microsecond for current dates).
 * Simple Packet Blocks carry no time: their `tsNs` is 0n.
 *
 * Limits: a record longer than PCAP_MAX_RECORD (or the file's snaplen, if larger)
 * is taken as corruption, as libwiretap does.
 */

/** Link-layer header types (www.tcpdump.org/linktypes.html). */
export const LINKTYPE = {
  NULL: 0,
  EN10MB: 1,
  /** DLT_RAW as some BSDs number it in files. */
  RAW_BSD12: 12,
  RAW_BSD14: 14,
  RAW: 101,
  LOOP: 108,
  LINUX_SLL: 113,
  IPV4: 228,
  LINUX_SLL2: 276,
} as const;

export const PCAP_MAGIC_US = 0xa1b2c3d4;
export const PCAP_MAGIC_NS = 0xa1b23c4d;
export const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_BOM = 0x1a2b3c4d;
const PCAPNG_IDB = 1;
const PCAPNG_PB = 2;
const PCAPNG_SPB = 3;
const PCAPNG_EPB = 6;
/** Largest record the reader accepts unless the file's snaplen is larger (libwiretap's standard maximum). */
export const PCAP_MAX_RECORD = 262144;
/** Default snaplen the writer declares. */
export const PCAP_SNAPLEN = 262144;

export interface PcapRecord {
  /** Seconds since the epoch (float). */
  ts: number;
  /** Nanoseconds since the epoch, exact. */
  tsNs: bigint;
  linktype: number;
  /** Captured bytes (a view into the file). */
  data: Uint8Array;
  /** Length of the packet on the wire (≥ data.length when the capture was cut by snaplen). */
  origLen: number;
  /** pcapng interface index (0 for pcap). */
  ifIndex: number;
}

/** The file is not a capture, or is cut short / corrupt at `offset`. */
export class PcapFormatError extends Error {
  override readonly name = "PcapFormatError";
  constructor(message: string, readonly offset: number, readonly kind: "notpcap" | "truncated" | "corrupt") {
    super(`${message} (at byte ${offset})`);
  }
}

export interface PcapReadResult {
  format: "pcap" | "pcapng" | "unknown";
  records: PcapRecord[];
  /** Why reading stopped before the end of the input, if it did. */
  error?: PcapFormatError;
}

class Rd {
  constructor(readonly b: Uint8Array, public le: boolean) {}
  u16(i: number): number {
    const b = this.b;
    return this.le ? b[i] | (b[i + 1] << 8) : (b[i] << 8) | b[i + 1];
  }
  u32(i: number): number {
    const b = this.b;
    return this.le
      ? (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0
      : ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0;
  }
}

function u32le(b: Uint8Array, i: number): number {
  return (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0;
}

/** Reads a pcap or pcapng file held in memory. Never throws on bad bytes. */
export function readPcap(bytes: Uint8Array): PcapReadResult {
  if (bytes.length < 4) {
    return { format: "unknown", records: [], error: new PcapFormatError(`file of ${bytes.length} bytes is too short for a capture header`, 0, "notpcap") };
  }
  const m = u32le(bytes, 0);
  if (m === PCAPNG_SHB) return readPcapng(bytes);
  if (m === PCAP_MAGIC_US || m === PCAP_MAGIC_NS) return readClassic(bytes, true, m === PCAP_MAGIC_NS);
  const mbe = new Rd(bytes, false).u32(0);
  if (mbe === PCAP_MAGIC_US || mbe === PCAP_MAGIC_NS) return readClassic(bytes, false, mbe === PCAP_MAGIC_NS);
  return {
    format: "unknown",
    records: [],
    error: new PcapFormatError(`not a pcap or pcapng file (magic 0x${m.toString(16).padStart(8, "0")})`, 0, "notpcap"),
  };
}

function readClassic(bytes: Uint8Array, le: boolean, nano: boolean): PcapReadResult {
  const rd = new Rd(bytes, le);
  const records: PcapRecord[] = [];
  if (bytes.length < 24) {
    return { format: "pcap", records, error: new PcapFormatError("pcap file header cut short", bytes.length, "truncated") };
  }
  const snaplen = rd.u32(16);
  const linktype = rd.u32(20) & 0xffff;
  const maxRec = Math.max(PCAP_MAX_RECORD, snaplen);
  const fracNs = nano ? 1n : 1000n;
  let off = 24;
  while (off < bytes.length) {
    if (bytes.length - off < 16) {
      return { format: "pcap", records, error: new PcapFormatError("record header cut short", off, "truncated") };
    }
    const sec = rd.u32(off);
    const frac = rd.u32(off + 4);
    const incl = rd.u32(off + 8);
    const orig = rd.u32(off + 12);
    if (incl > maxRec) {
      return { format: "pcap", records, error: new PcapFormatError(`record claims ${incl} captured bytes (more than ${maxRec})`, off, "corrupt") };
    }
    if (off + 16 + incl > bytes.length) {
      return { format: "pcap", records, error: new PcapFormatError(`record of ${incl} bytes cut short`, off, "truncated") };
    }
    const tsNs = BigInt(sec) * 1_000_000_000n + BigInt(frac) * fracNs;
    records.push({
      ts: sec + (nano ? frac / 1e9 : frac / 1e6),
      tsNs,
      linktype,
      data: bytes.subarray(off + 16, off + 16 + incl),
      origLen: orig,
      ifIndex: 0,
    });
    off += 16 + incl;
  }
  return { format: "pcap", records };
}

interface Iface {
  linktype: number;
  snaplen: number;
  /** Units per second as (decimal exponent) or (binary exponent). */
  resolDec: number | undefined;
  resolBin: number | undefined;
  offsetSec: bigint;
}

function unitsToNs(units: bigint, ifc: Iface): bigint {
  let ns: bigint;
  if (ifc.resolBin !== undefined) {
    ns = (units * 1_000_000_000n) >> BigInt(ifc.resolBin);
  } else {
    const d = ifc.resolDec ?? 6;
    ns = d <= 9 ? units * 10n ** BigInt(9 - d) : units / 10n ** BigInt(d - 9);
  }
  return ns + ifc.offsetSec * 1_000_000_000n;
}

function readPcapng(bytes: Uint8Array): PcapReadResult {
  const records: PcapRecord[] = [];
  const rd = new Rd(bytes, true);
  let ifaces: Iface[] = [];
  let off = 0;
  const fail = (msg: string, at: number, kind: "truncated" | "corrupt"): PcapReadResult => ({
    format: "pcapng", records, error: new PcapFormatError(msg, at, kind),
  });
  while (off < bytes.length) {
    if (bytes.length - off < 12) return fail("block header cut short", off, "truncated");
    const type0 = u32le(bytes, off);
    if (type0 === PCAPNG_SHB) {
      const bom = u32le(bytes, off + 8);
      if (bom === PCAPNG_BOM) rd.le = true;
      else if (bom === 0x4d3c2b1a) rd.le = false;
      else return fail(`section header has a bad byte-order magic 0x${bom.toString(16)}`, off + 8, "corrupt");
      ifaces = [];
    } else if (off === 0) {
      return fail("pcapng file does not start with a section header", 0, "corrupt");
    }
    const type = rd.u32(off);
    const len = rd.u32(off + 4);
    if (len < 12 || len & 3) return fail(`block length ${len} is not a multiple of 4 of at least 12`, off + 4, "corrupt");
    if (len > bytes.length - off) return fail(`block of ${len} bytes cut short`, off, "truncated");
    if (rd.u32(off + len - 4) !== len) return fail(`block trailer length ${rd.u32(off + len - 4)} differs from its header's ${len}`, off + len - 4, "corrupt");
    const body = off + 8;
    const bodyLen = len - 12;
    switch (type) {
      case PCAPNG_SHB:
        if (bodyLen < 16) return fail("section header block too short", off, "corrupt");
        break;
      case PCAPNG_IDB: {
        if (bodyLen < 8) return fail("interface description block too short", off, "corrupt");
        const ifc: Iface = { linktype: rd.u16(body), snaplen: rd.u32(body + 4), resolDec: undefined, resolBin: undefined, offsetSec: 0n };
        let p = body + 8;
        const end = body + bodyLen;
        while (p + 4 <= end) {
          const code = rd.u16(p);
          const olen = rd.u16(p + 2);
          if (code === 0) break;
          if (p + 4 + olen > end) return fail(`interface option ${code} of ${olen} bytes overruns its block`, p, "corrupt");
          if (code === 9 && olen >= 1) {
            const v = bytes[p + 4];
            if (v & 0x80) ifc.resolBin = v & 0x7f;
            else ifc.resolDec = v;
          } else if (code === 14 && olen >= 8) {
            const hi = rd.u32(rd.le ? p + 8 : p + 4);
            const lo = rd.u32(rd.le ? p + 4 : p + 8);
            ifc.offsetSec = BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo));
          }
          p += 4 + ((olen + 3) & ~3);
        }
        ifaces.push(ifc);
        break;
      }
      case PCAPNG_EPB:
      case PCAPNG_PB: {
        if (bodyLen < 20) return fail("packet block too short", off, "corrupt");
        const ifIndex = type === PCAPNG_EPB ? rd.u32(body) : rd.u16(body);
        const ifc = ifaces[ifIndex];
        if (!ifc) return fail(`packet block names interface ${ifIndex}, but the section has ${ifaces.length}`, body, "corrupt");
        const hi = rd.u32(body + 4);
        const lo = rd.u32(body + 8);
        const cap = rd.u32(body + 12);
        const orig = rd.u32(body + 16);
        if (cap > bodyLen - 20) return fail(`packet block claims ${cap} captured bytes; only ${bodyLen - 20} present`, body + 12, "corrupt");
        const tsNs = unitsToNs((BigInt(hi) << 32n) | BigInt(lo), ifc);
        records.push({
          ts: Number(tsNs) / 1e9,
          tsNs,
          linktype: ifc.linktype,
          data: bytes.subarray(body + 20, body + 20 + cap),
          origLen: orig,
          ifIndex,
        });
        break;
      }
      case PCAPNG_SPB: {
        if (bodyLen < 4) return fail("simple packet block too short", off, "corrupt");
        const ifc = ifaces[0];
        if (!ifc) return fail("simple packet block before any interface description", off, "corrupt");
        const orig = rd.u32(body);
        let cap = Math.min(orig, bodyLen - 4);
        if (ifc.snaplen > 0) cap = Math.min(cap, ifc.snaplen);
        records.push({ ts: 0, tsNs: 0n, linktype: ifc.linktype, data: bytes.subarray(body + 4, body + 4 + cap), origLen: orig, ifIndex: 0 });
        break;
      }
      default:
        break; // name resolution, statistics, custom… blocks carry no packets
    }
    off += len;
  }
  return { format: "pcapng", records };
}

export interface PcapWriterOptions {
  /** Default LINKTYPE.RAW (101): each record is an IPv4 packet. */
  linktype?: number;
  /** Default PCAP_SNAPLEN; longer packets are cut and keep their original length. */
  snaplen?: number;
}

/**
 * Incremental pcap writer (little-endian, microsecond magic). `header()` first,
 * then one `record()` per packet — each returns the bytes to append — or collect
 * with `add()` and take the whole file with `bytes()`.
 */
export class PcapWriter {
  readonly linktype: number;
  readonly snaplen: number;
  private readonly chunks: Uint8Array[] = [];
  private size = 0;

  constructor(opts: PcapWriterOptions = {}) {
    this.linktype = opts.linktype ?? LINKTYPE.RAW;
    this.snaplen = opts.snaplen ?? PCAP_SNAPLEN;
    if (!Number.isInteger(this.snaplen) || this.snaplen <= 0) throw new RangeError(`pcap snaplen ${this.snaplen} is not a positive integer`);
    this.push(this.header());
  }

  /** The 24-byte global header. */
  header(): Uint8Array {
    const h = new Uint8Array(24);
    const dv = new DataView(h.buffer);
    dv.setUint32(0, PCAP_MAGIC_US, true);
    dv.setUint16(4, 2, true);
    dv.setUint16(6, 4, true);
    dv.setUint32(16, this.snaplen, true);
    dv.setUint32(20, this.linktype, true);
    return h;
  }

  /** One record: `ts` in seconds (float; rounded to the microsecond). */
  record(data: Uint8Array, ts = 0): Uint8Array {
    if (!Number.isFinite(ts) || ts < 0 || ts >= 2 ** 32) throw new RangeError(`pcap timestamp ${ts} is not in 0..2^32 seconds`);
    let sec = Math.floor(ts);
    let usec = Math.round((ts - sec) * 1e6);
    if (usec >= 1_000_000) {
      sec += 1;
      usec -= 1_000_000;
    }
    const incl = Math.min(data.length, this.snaplen);
    const r = new Uint8Array(16 + incl);
    const dv = new DataView(r.buffer);
    dv.setUint32(0, sec, true);
    dv.setUint32(4, usec, true);
    dv.setUint32(8, incl, true);
    dv.setUint32(12, data.length, true);
    r.set(incl === data.length ? data : data.subarray(0, incl), 16);
    return r;
  }

  /** Appends a record to the file kept in memory. */
  add(data: Uint8Array, ts = 0): this {
    this.push(this.record(data, ts));
    return this;
  }

  /** The whole file written so far (header and every `add()`ed record). */
  bytes(): Uint8Array {
    const out = new Uint8Array(this.size);
    let p = 0;
    for (const c of this.chunks) {
      out.set(c, p);
      p += c.length;
    }
    return out;
  }

  private push(c: Uint8Array): void {
    this.chunks.push(c);
    this.size += c.length;
  }
}

/** A whole pcap file of `packets` (bare frames get timestamps 0, 1 µs, 2 µs, …). */
export function writePcap(
  packets: Iterable<Uint8Array | { data: Uint8Array; ts?: number }>, opts?: PcapWriterOptions,
): Uint8Array {
  const w = new PcapWriter(opts);
  let i = 0;
  for (const p of packets) {
    if (p instanceof Uint8Array) w.add(p, i * 1e-6);
    else w.add(p.data, p.ts ?? i * 1e-6);
    i++;
  }
  return w.bytes();
}

const ETHERTYPE_IP = 0x0800;
const ETHERTYPE_VLAN = 0x8100;
const ETHERTYPE_QINQ = 0x88a8;
const AF_INET = 2;

function ipv4At(data: Uint8Array, off: number): Uint8Array | undefined {
  if (off >= data.length || data[off] >>> 4 !== 4) return undefined;
  return data.subarray(off);
}

/**
 * The IPv4 packet inside a captured frame, or undefined when it holds something
 * else (ARP, IPv6, an unknown link type). Strips Ethernet (with one 802.1Q or
 * 802.1ad tag), Linux cooked SLL and SLL2, BSD NULL/LOOP; raw passes through.
 * The result may carry link padding past the IP total length (parsers ignore it).
 */
export function rawIpOf(linktype: number, data: Uint8Array): Uint8Array | undefined {
  switch (linktype) {
    case LINKTYPE.RAW:
    case LINKTYPE.RAW_BSD12:
    case LINKTYPE.RAW_BSD14:
    case LINKTYPE.IPV4:
      return ipv4At(data, 0);
    case LINKTYPE.EN10MB: {
      if (data.length < 14) return undefined;
      let type = (data[12] << 8) | data[13];
      let off = 14;
      if (type === ETHERTYPE_VLAN || type === ETHERTYPE_QINQ) {
        if (data.length < 18) return undefined;
        type = (data[16] << 8) | data[17];
        off = 18;
      }
      return type === ETHERTYPE_IP ? ipv4At(data, off) : undefined;
    }
    case LINKTYPE.LINUX_SLL:
      if (data.length < 16 || ((data[14] << 8) | data[15]) !== ETHERTYPE_IP) return undefined;
      return ipv4At(data, 16);
    case LINKTYPE.LINUX_SLL2:
      if (data.length < 20 || ((data[0] << 8) | data[1]) !== ETHERTYPE_IP) return undefined;
      return ipv4At(data, 20);
    case LINKTYPE.NULL: {
      // Host byte order of the capturing machine: accept either.
      if (data.length < 4) return undefined;
      const le = u32le(data, 0);
      const be = ((data[0] << 24) | (data[1] << 16) | (data[2] << 8) | data[3]) >>> 0;
      return le === AF_INET || be === AF_INET ? ipv4At(data, 4) : undefined;
    }
    case LINKTYPE.LOOP:
      if (data.length < 4 || ((data[0] << 24) | (data[1] << 16) | (data[2] << 8) | data[3]) !== AF_INET) return undefined;
      return ipv4At(data, 4);
    default:
      return undefined;
  }
}
