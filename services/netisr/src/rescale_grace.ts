/** The grace period after an epoch change: unknown non-SYN segments are held (bounded) rather than reset, until their entry or PCB arrives. */
import type { TcpRescale } from "./tcp_rescale.js";

export class RescaleGrace {
  /** Segments held, by connection key. */
  private readonly held = new Map<string, { frames: Uint8Array[]; hash: number }>();
  count = 0;
  private until = 0;

  constructor(
    private readonly r: TcpRescale,
    private readonly graceMs: number,
    private readonly holdMax: number,
  ) {}

  begin(): void {
    this.until = this.r.now() + this.graceMs;
  }

  get active(): boolean {
    // Asked for every segment: once the period is over, no clock read until the next one.
    if (this.until === 0) return false;
    if (this.r.now() < this.until) return true;
    this.until = 0;
    return false;
  }

  /** Milliseconds left of the period (0: steady state). */
  left(now: number): number {
    return Math.max(0, Math.ceil(this.until - now));
  }

  hold(key: string, frame: Uint8Array, hash: number): void {
    const s = this.r.stats;
    if (this.count >= this.holdMax) {
      s.dropped.holdfull++;
      return;
    }
    let h = this.held.get(key);
    if (!h) this.held.set(key, (h = { frames: [], hash }));
    h.frames.push(frame.slice());
    this.count++;
    s.held++;
  }

  /** Re-runs held segments whose connection is now known (`all`: the period is over). */
  retry(all: boolean): void {
    if (this.count === 0) return;
    const s = this.r.stats;
    for (const [key, h] of this.held) {
      const known = this.r.known(key);
      if (!known && !all) continue;
      this.held.delete(key);
      this.count -= h.frames.length;
      if (known) s.heldReleased += h.frames.length;
      else s.heldExpired += h.frames.length;
      for (const f of h.frames) this.r.segment(f, 0, false);
    }
  }

  /** Segments held for a connection (or handshake) that is known here now: processed. */
  release(key: string): void {
    const h = this.held.get(key);
    if (!h) return;
    this.held.delete(key);
    this.count -= h.frames.length;
    this.r.stats.heldReleased += h.frames.length;
    for (const f of h.frames) this.r.segment(f, 0, false);
  }

  /** Every tick: the period ended with segments still held. */
  tick(now: number): void {
    if (this.count > 0 && now >= this.until) this.retry(true);
  }
}
