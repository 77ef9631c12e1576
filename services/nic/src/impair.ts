/**
 * Link impairments on an interface's wire-out (what the cable does to frames after the NIC
 * sent them): random loss, a fixed delay, and reordering (a frame swapped with the next
 * one), duplication, and delay spikes (every `spikeEveryMs` the link holds what is sent for
 * `spikeMs`, then lets it all go in order: a path whose delay jumps past the RTO). Deterministic from a seed, so a test sees the same losses every run. Lost frames are
 * counted by the NIC as `impair_loss`. Off by default.
 */
import { FrameBatchCursor, FrameBatchWriter, MAX_BATCH_BYTES } from "@dfly/transport";

export interface ImpairConfig {
  /** Probability that a frame is lost, 0..1. */
  loss?: number;
  /** Delay added to every batch, milliseconds (Node timers: ≥ 1 ms when set). */
  delayMs?: number;
  /** Probability that a frame changes place with the frame after it, 0..1. */
  reorder?: number;
  /** Probability that a frame is sent twice (a duplicate right after it), 0..1. */
  dup?: number;
  /** A delay spike of this many ms … */
  spikeMs?: number;
  /** … at the start of every period of this many ms (both set, spikeMs < spikeEveryMs, or no spikes). */
  spikeEveryMs?: number;
  seed?: number;
}

export class ImpairConfigError extends Error {
  override readonly name = "ImpairConfigError";
}

export function checkImpair(c: ImpairConfig): Required<ImpairConfig> {
  const p = (name: string, v: number | undefined) => {
    const x = v ?? 0;
    if (!(x >= 0 && x <= 1)) throw new ImpairConfigError(`impairment ${name} ${v} is not a probability in 0..1`);
    return x;
  };
  const delay = c.delayMs ?? 0;
  if (!(delay >= 0 && delay <= 60_000)) throw new ImpairConfigError(`impairment delay ${c.delayMs} ms is not in 0..60000`);
  const spikeMs = c.spikeMs ?? 0;
  const spikeEveryMs = c.spikeEveryMs ?? 0;
  if (!(spikeMs >= 0 && spikeMs <= 60_000) || !(spikeEveryMs >= 0 && spikeEveryMs <= 3_600_000) || (spikeMs > 0) !== (spikeEveryMs > 0) ||
      (spikeMs > 0 && spikeMs >= spikeEveryMs)) {
    throw new ImpairConfigError(`impairment spike ${c.spikeMs} ms every ${c.spikeEveryMs} ms: want 0 < spike < period ≤ 3600000 (spike ≤ 60000)`);
  }
  return {
    loss: p("loss", c.loss), reorder: p("reorder", c.reorder), dup: p("dup", c.dup), delayMs: delay,
    spikeMs, spikeEveryMs, seed: (c.seed ?? 1) >>> 0 || 1,
  };
}

/** Applies loss and reordering to a batch; returns the batch to send and how many frames were lost. */
export class Impairment {
  readonly cfg: Required<ImpairConfig>;
  private s: number;
  private readonly cursor = new FrameBatchCursor();
  private readonly offs: number[] = [];
  private readonly lens: number[] = [];
  private readonly hashes: number[] = [];

  constructor(c: ImpairConfig) {
    this.cfg = checkImpair(c);
    this.s = this.cfg.seed;
  }

  get active(): boolean {
    return this.cfg.loss > 0 || this.cfg.reorder > 0 || this.cfg.dup > 0 || this.cfg.delayMs > 0 || this.cfg.spikeMs > 0;
  }

  /** When the delay spike that covers time `nowMs` ends (ms), or 0 when none does; periods count from `startMs`. */
  spikeEnd(nowMs: number, startMs: number): number {
    const { spikeMs, spikeEveryMs } = this.cfg;
    if (spikeMs <= 0) return 0;
    const into = (nowMs - startMs) % spikeEveryMs;
    return into < spikeMs ? nowMs - into + spikeMs : 0;
  }

  private rnd(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s / 0x100000000;
  }

  /** The impaired copy of a (valid) batch, or the batch itself when nothing changed. */
  apply(batch: Uint8Array): { batch: Uint8Array; lost: number } {
    const { loss, reorder, dup } = this.cfg;
    if (loss === 0 && reorder === 0 && dup === 0) return { batch, lost: 0 };
    const c = this.cursor;
    if (c.reset(batch) !== null) return { batch, lost: 0 };
    this.offs.length = this.lens.length = this.hashes.length = 0;
    let lost = 0;
    while (c.next()) {
      if (loss > 0 && this.rnd() < loss) {
        lost++;
        continue;
      }
      this.offs.push(c.offset);
      this.lens.push(c.length);
      this.hashes.push(c.hash);
    }
    const n = this.offs.length;
    const order = Array.from({ length: n }, (_, i) => i);
    if (reorder > 0) {
      for (let i = 0; i + 1 < n; i++) {
        if (this.rnd() < reorder) {
          [order[i], order[i + 1]] = [order[i + 1], order[i]];
          i++;
        }
      }
    }
    let dups = 0;
    const twice = dup > 0 ? order.map(() => (this.rnd() < dup ? (dups++, 1) : 0)) : undefined;
    const w = new FrameBatchWriter(Math.min(Math.max(batch.length * (dups > 0 ? 2 : 1), 20), MAX_BATCH_BYTES));
    for (const i of order) {
      w.appendFrom(batch, this.offs[i], this.lens[i], this.hashes[i]);
      if (twice?.[i]) w.appendFrom(batch, this.offs[i], this.lens[i], this.hashes[i]);
    }
    return { batch: w.finish().slice(), lost };
  }
}
