/**
 * The sink: the link partner on the far side. It takes the frames an interface puts on
 * the wire (`<c>.wire.<if>.out`), counts pktgen's packets per flow (reading the stamp
 * pktgen wrote: flow, sequence, send time), notices reordering and duplicates, and keeps a
 * latency histogram (send time → arrival, µs). Anything else on the wire (ICMP errors the
 * router sent back, echo replies) is counted by IP protocol and ICMP type.
 *
 * Loss per flow is `pktgen.sentPerFlow[f] - sink.receivedPerFlow[f]` (see `lossReport`).
 */
import { FrameBatchCursor, subjects, type Subscription, type Transport } from "@dfly/transport";
import { PKTGEN_MAGIC, stampNowUs } from "./pktgen.js";

const STAMP = 28;
/** Latency histogram: bucket i counts latencies in [2^i, 2^(i+1)) µs; bucket 0 also holds < 1 µs. */
export const LATENCY_BUCKETS = 32;

export interface SinkSummary {
  received: number;
  /** pktgen packets among them. */
  pktgen: number;
  reordered: number;
  duplicates: number;
  other: number;
  /** ICMP messages seen, by type. */
  icmp: Record<string, number>;
  badBatches: number;
  latencyUs: { min: number; p50: number; p99: number; max: number; mean: number } | null;
}

export class SinkCounter {
  readonly receivedPerFlow: Float64Array;
  /** Next expected sequence per flow. */
  private readonly nextSeq: Float64Array;
  received = 0;
  pktgen = 0;
  reordered = 0;
  duplicates = 0;
  other = 0;
  badBatches = 0;
  readonly icmpTypes = new Float64Array(256);
  readonly latency = new Float64Array(LATENCY_BUCKETS);
  private latSum = 0;
  private latMin = Infinity;
  private latMax = 0;
  private readonly cursor = new FrameBatchCursor();

  constructor(readonly flows: number) {
    this.receivedPerFlow = new Float64Array(flows);
    this.nextSeq = new Float64Array(flows);
  }

  /** Counts every frame of a wire batch. `nowUs` is the arrival stamp (stampNowUs()). */
  batch(data: Uint8Array, nowUs: number = stampNowUs()): void {
    const c = this.cursor;
    if (c.reset(data) !== null) {
      this.badBatches++;
      return;
    }
    while (c.next()) this.frame(c.buf, c.offset, c.length, nowUs);
  }

  frame(b: Uint8Array, off: number, len: number, nowUs: number): void {
    this.received++;
    if (len < 20) {
      this.other++;
      return;
    }
    const p = b[off + 9];
    const hlen = (b[off] & 0x0f) << 2;
    if (p === 17 && hlen === 20 && len >= STAMP + 16) {
      const o = off + STAMP;
      const magic = ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
      if (magic === PKTGEN_MAGIC) {
        const flow = ((b[o + 4] << 24) | (b[o + 5] << 16) | (b[o + 6] << 8) | b[o + 7]) >>> 0;
        if (flow < this.flows) {
          const seq = ((b[o + 8] << 24) | (b[o + 9] << 16) | (b[o + 10] << 8) | b[o + 11]) >>> 0;
          const ts = ((b[o + 12] << 24) | (b[o + 13] << 16) | (b[o + 14] << 8) | b[o + 15]) >>> 0;
          this.pktgen++;
          this.receivedPerFlow[flow]++;
          const next = this.nextSeq[flow];
          if (seq >= next) this.nextSeq[flow] = seq + 1;
          else if (this.receivedPerFlow[flow] > next) this.duplicates++;
          else this.reordered++;
          const lat = (nowUs - ts) >>> 0;
          this.latSum += lat;
          if (lat < this.latMin) this.latMin = lat;
          if (lat > this.latMax) this.latMax = lat;
          this.latency[lat < 1 ? 0 : Math.min(LATENCY_BUCKETS - 1, 31 - Math.clz32(lat))]++;
          return;
        }
      }
    }
    this.other++;
    if (p === 1 && len >= hlen + 1) this.icmpTypes[b[off + hlen]]++;
  }

  /** The latency below which fraction `q` of pktgen packets arrived (bucket upper bound, µs). */
  quantileUs(q: number): number {
    const total = this.pktgen;
    if (total === 0) return 0;
    let acc = 0;
    for (let i = 0; i < LATENCY_BUCKETS; i++) {
      acc += this.latency[i];
      if (acc >= q * total) return 2 ** (i + 1);
    }
    return this.latMax;
  }

  summary(): SinkSummary {
    const icmp: Record<string, number> = {};
    for (let t = 0; t < 256; t++) if (this.icmpTypes[t] > 0) icmp[String(t)] = this.icmpTypes[t];
    return {
      received: this.received,
      pktgen: this.pktgen,
      reordered: this.reordered,
      duplicates: this.duplicates,
      other: this.other,
      icmp,
      badBatches: this.badBatches,
      latencyUs:
        this.pktgen === 0
          ? null
          : { min: this.latMin, p50: this.quantileUs(0.5), p99: this.quantileUs(0.99), max: this.latMax, mean: Math.round(this.latSum / this.pktgen) },
    };
  }
}

export interface LossReport {
  sent: number;
  received: number;
  lost: number;
  /** Flows that lost at least one packet. */
  flowsWithLoss: number;
  /** The worst flows: [flow, lost]. */
  worst: [number, number][];
}

/** Loss per flow from pktgen's and the sink's per-flow counts. */
export function lossReport(sentPerFlow: ArrayLike<number>, receivedPerFlow: ArrayLike<number>, top = 5): LossReport {
  let sent = 0;
  let received = 0;
  const lossy: [number, number][] = [];
  for (let f = 0; f < sentPerFlow.length; f++) {
    sent += sentPerFlow[f];
    received += receivedPerFlow[f] ?? 0;
    const l = sentPerFlow[f] - (receivedPerFlow[f] ?? 0);
    if (l > 0) lossy.push([f, l]);
  }
  lossy.sort((a, b) => b[1] - a[1]);
  return { sent, received, lost: sent - received, flowsWithLoss: lossy.length, worst: lossy.slice(0, top) };
}

export interface SinkOptions {
  transport: Transport;
  cluster: string;
  /** Interfaces whose wire-out to listen on. Default ["ix0"]. */
  ifnames?: readonly string[];
  flows: number;
}

/** A SinkCounter on the bus. */
export class Sink {
  readonly counter: SinkCounter;
  private subs: Subscription[] = [];

  constructor(private readonly o: SinkOptions) {
    this.counter = new SinkCounter(o.flows);
  }

  async start(): Promise<void> {
    for (const ifname of this.o.ifnames ?? ["ix0"]) {
      this.subs.push(this.o.transport.subscribe(subjects.wireOut(this.o.cluster, ifname), (m) => this.counter.batch(m.data)));
    }
    await this.o.transport.flush();
  }

  stop(): void {
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
  }
}
