/**
 * pktgen: the link partner that offers traffic to an interface. It sends real IPv4/UDP
 * packets (header and UDP checksums right) for a set of flows, in frame batches on
 * `<c>.wire.<if>.in`, at an offered rate. Every payload starts with a 16-byte stamp the
 * sink reads back: magic, flow id, sequence number, send time (µs since the epoch, mod 2^32):
 *
 *   0 u32 0x64666c79 ("dfly")   4 u32 flow   8 u32 seq   12 u32 send time µs
 *
 * Flow i goes from host (i mod srcHosts) of the source prefix, port 1024 + i mod 64512, to
 * a fixed address in destination prefix (i mod prefixes), port 9 (discard). Packets are
 * built once per flow; per packet only the stamp changes, and the UDP checksum is patched
 * from the flow's precomputed partial sum (no allocation per packet).
 */
import { buildUdpPacket, cksumAdd, cksumSum, ipPacketHash, parsePrefix, prefixMask } from "@dfly/core";
import { FrameBatchWriter, subjects, type Transport } from "@dfly/transport";

/**
 * The writer's batch in a buffer of exactly its size (a copy of the used bytes), and the
 * writer emptied for reuse: a buffer handed to another thread costs its size there, and
 * `take()` would hand over (and allocate anew) the whole capacity for every batch.
 */
function takeExact(w: FrameBatchWriter): Uint8Array {
  const out = w.finish().slice();
  w.reset();
  return out;
}

export const PKTGEN_MAGIC = 0x64666c79;
/** IPv4 (20) + UDP (8) + stamp (16). */
export const PKTGEN_MIN_SIZE = 44;
export const PKTGEN_MAX_SIZE = 9000;
const STAMP = 28;

export interface FlowSetOptions {
  /** Number of flows (1..1,000,000). */
  flows: number;
  /** IP total length of every packet, 44..9000 bytes. Default 64. */
  size?: number;
  /** Destination prefixes, `a.b.c.d/len`. Default ["10.0.0.0/8"]. */
  dst?: readonly string[];
  /** Source prefix (hosts are taken from it). Default "198.18.0.0/24". */
  src?: string;
  ttl?: number;
  /** Set DF on every packet. */
  df?: boolean;
  /** Seed for the destination host bits (deterministic). Default 1. */
  seed?: number;
}

export class PktgenConfigError extends Error {
  override readonly name = "PktgenConfigError";
}

/** Current time in µs since the epoch, mod 2^32 (comparable across threads and processes of one machine). */
export function stampNowUs(): number {
  return Math.floor((performance.timeOrigin + performance.now()) * 1000) >>> 0;
}

/** The flows of a run: one template packet per flow and what it needs to be stamped. */
export class FlowSet {
  readonly size: number;
  readonly count: number;
  /** Packet templates, one per flow (checksums valid with a zero stamp). */
  readonly templates: Uint8Array[];
  /** RSS hash of each flow (the NIC's ipPacketHash). */
  readonly hashes: Uint32Array;
  /** Folded ones'-complement sum of each template's UDP pseudo-header + segment with the stamp zeroed (UDP checksum field zeroed too). */
  private readonly partial: Uint32Array;
  readonly src: Uint32Array;
  readonly dst: Uint32Array;
  readonly sport: Uint16Array;

  constructor(o: FlowSetOptions) {
    const size = o.size ?? 64;
    if (!Number.isInteger(o.flows) || o.flows < 1 || o.flows > 1_000_000) throw new PktgenConfigError(`flows ${o.flows} is not 1..1000000`);
    if (!Number.isInteger(size) || size < PKTGEN_MIN_SIZE || size > PKTGEN_MAX_SIZE) {
      throw new PktgenConfigError(`packet size ${size} is not ${PKTGEN_MIN_SIZE}..${PKTGEN_MAX_SIZE} bytes (IPv4 + UDP + 16-byte stamp)`);
    }
    const dsts = (o.dst ?? ["10.0.0.0/8"]).map((d) => {
      try {
        return parsePrefix(d);
      } catch (err) {
        throw new PktgenConfigError(`destination prefix "${d}": ${(err as Error).message}`);
      }
    });
    if (dsts.length === 0) throw new PktgenConfigError("no destination prefixes");
    let srcP;
    try {
      srcP = parsePrefix(o.src ?? "198.18.0.0/24");
    } catch (err) {
      throw new PktgenConfigError(`source prefix "${o.src}": ${(err as Error).message}`);
    }
    const srcHosts = srcP.len >= 31 ? 1 : Math.min(2 ** (32 - srcP.len) - 2, 1 << 20);
    this.size = size;
    this.count = o.flows;
    this.templates = [];
    this.hashes = new Uint32Array(o.flows);
    this.partial = new Uint32Array(o.flows);
    this.src = new Uint32Array(o.flows);
    this.dst = new Uint32Array(o.flows);
    this.sport = new Uint16Array(o.flows);
    let seed = (o.seed ?? 1) >>> 0 || 1;
    const rnd = () => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 0x100000000;
    };
    const payload = new Uint8Array(size - 28);
    for (let i = 0; i < o.flows; i++) {
      const p = dsts[i % dsts.length];
      const hostBits = 32 - p.len;
      const span = hostBits === 0 ? 1 : 2 ** hostBits;
      let host = hostBits === 0 ? 0 : Math.floor(rnd() * span);
      if (hostBits >= 2) host = Math.max(1, Math.min(span - 2, host)); // avoid the network and broadcast addresses
      const dst = ((p.addr & prefixMask(p.len)) + host) >>> 0;
      const src = (srcP.len >= 31 ? srcP.addr : srcP.addr + 1 + (i % srcHosts)) >>> 0;
      const sport = 1024 + (i % 64512);
      const pkt = buildUdpPacket({ src, dst, sport, dport: 9, ttl: o.ttl ?? 64, df: o.df ?? false, payload });
      pkt[STAMP] = PKTGEN_MAGIC >>> 24;
      pkt[STAMP + 1] = (PKTGEN_MAGIC >>> 16) & 0xff;
      pkt[STAMP + 2] = (PKTGEN_MAGIC >>> 8) & 0xff;
      pkt[STAMP + 3] = PKTGEN_MAGIC & 0xff;
      pkt[STAMP + 4] = i >>> 24;
      pkt[STAMP + 5] = (i >>> 16) & 0xff;
      pkt[STAMP + 6] = (i >>> 8) & 0xff;
      pkt[STAMP + 7] = i & 0xff;
      // Partial sum: pseudo-header + UDP header (checksum 0) + payload with seq/time zero.
      pkt[26] = 0;
      pkt[27] = 0;
      const ulen = size - 20;
      const pseudo = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + 17 + ulen;
      this.partial[i] = cksumAdd(cksumAdd(pseudo & 0xffff, pseudo >>> 16), cksumSum(pkt, 20, ulen));
      this.stamp(pkt, 0, i, 0, 0);
      this.templates.push(pkt);
      this.hashes[i] = ipPacketHash(pkt);
      this.src[i] = src;
      this.dst[i] = dst;
      this.sport[i] = sport;
    }
  }

  /**
   * Writes flow `flow`'s packet with sequence `seq` and send time `tsUs` at `buf[off…]`
   * (copying the template when `buf` is not the template itself), UDP checksum patched.
   */
  write(buf: Uint8Array, off: number, flow: number, seq: number, tsUs: number): void {
    const t = this.templates[flow];
    if (buf !== t) {
      const n = this.size;
      if (n <= 128) for (let i = 0; i < n; i++) buf[off + i] = t[i];
      else buf.set(t, off);
    }
    this.stamp(buf, off, flow, seq, tsUs);
  }

  private stamp(b: Uint8Array, off: number, flow: number, seq: number, tsUs: number): void {
    const o = off + STAMP + 8;
    b[o] = seq >>> 24;
    b[o + 1] = (seq >>> 16) & 0xff;
    b[o + 2] = (seq >>> 8) & 0xff;
    b[o + 3] = seq & 0xff;
    b[o + 4] = tsUs >>> 24;
    b[o + 5] = (tsUs >>> 16) & 0xff;
    b[o + 6] = (tsUs >>> 8) & 0xff;
    b[o + 7] = tsUs & 0xff;
    let s = this.partial[flow] + (seq >>> 16) + (seq & 0xffff) + (tsUs >>> 16) + (tsUs & 0xffff);
    s = (s & 0xffff) + (s >>> 16);
    s = (s & 0xffff) + (s >>> 16);
    let c = ~s & 0xffff;
    if (c === 0) c = 0xffff; // UDP: a computed 0 is sent as all ones
    b[off + 26] = c >>> 8;
    b[off + 27] = c & 0xff;
  }
}

export interface PktgenOptions extends FlowSetOptions {
  transport: Transport;
  cluster: string;
  /** Interface whose wire the packets go in on. Default ix0. */
  ifname?: string;
  /** Offered rate in packets per second (> 0). */
  rate: number;
  /** Frames per wire batch. Default 256. */
  batch?: number;
  /** Stop after this many packets (default: until stop()). */
  count?: number;
}

/** Sends the flows round robin at the offered rate. */
export class Pktgen {
  readonly flows: FlowSet;
  /** Packets sent per flow. */
  readonly sentPerFlow: Float64Array;
  sent = 0;
  batches = 0;
  private readonly o: PktgenOptions;
  private readonly subject: string;
  private readonly batchFrames: number;
  private readonly writer: FrameBatchWriter;
  private next = 0;
  private timer: NodeJS.Timeout | undefined;
  private t0 = 0;
  private running = false;
  private done: (() => void) | undefined;
  private readonly seqs: Uint32Array;

  constructor(o: PktgenOptions) {
    if (!(o.rate > 0) || !Number.isFinite(o.rate)) throw new PktgenConfigError(`rate ${o.rate} must be a positive number of packets per second`);
    this.o = o;
    this.flows = new FlowSet(o);
    this.sentPerFlow = new Float64Array(this.flows.count);
    this.seqs = new Uint32Array(this.flows.count);
    this.subject = subjects.wireIn(o.cluster, o.ifname ?? "ix0");
    this.batchFrames = Math.max(1, Math.min(o.batch ?? 256, 16384));
    this.writer = new FrameBatchWriter(Math.min(1024 * 1023, 12 + this.batchFrames * (8 + this.flows.size)));
  }

  /** Starts sending; resolves when `count` packets were sent or stop() was called. */
  run(): Promise<void> {
    if (this.running) throw new PktgenConfigError("pktgen already running");
    this.running = true;
    this.t0 = performance.now();
    return new Promise<void>((res) => {
      this.done = res;
      this.pump();
    });
  }

  stop(): void {
    if (!this.running) return;
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const d = this.done;
    this.done = undefined;
    d?.();
  }

  private pump(): void {
    this.timer = undefined;
    if (!this.running) return;
    const elapsed = (performance.now() - this.t0) / 1000;
    let due = Math.floor(elapsed * this.o.rate) - this.sent;
    if (this.o.count !== undefined) due = Math.min(due, this.o.count - this.sent);
    // Bound the work of one wake-up (a stalled event loop must not produce a burst of millions).
    due = Math.min(due, this.batchFrames * 64);
    while (due > 0) {
      const n = Math.min(due, this.batchFrames);
      this.sendBatch(n);
      due -= n;
    }
    if (this.o.count !== undefined && this.sent >= this.o.count) {
      this.stop();
      return;
    }
    this.timer = setTimeout(() => this.pump(), 1);
  }

  private sendBatch(n: number): void {
    const f = this.flows;
    const w = this.writer;
    const ts = stampNowUs();
    for (let i = 0; i < n; i++) {
      const flow = this.next;
      this.next = flow + 1 === f.count ? 0 : flow + 1;
      const at = w.reserve(f.size, 0, 0);
      if (at < 0) break;
      f.write(w.buffer, at, flow, this.seqs[flow]++, ts);
      this.sentPerFlow[flow]++;
      this.sent++;
    }
    this.batches++;
    this.o.transport.publish(this.subject, takeExact(w), { transfer: true });
  }
}
