/**
 * Interrupt moderation (ix(4) EITR, igb(4) EITR, emx(4) ITR): the hardware raises a ring's
 * interrupt no more often than `intr_rate` times a second, so frames arriving in between are
 * handled by one interrupt — the batch the paper's §2.2 builds on. Here a ring's pending
 * frames go out as one batch when `frames` have gathered (the driver's per-interrupt RX
 * budget) or `usecs` after the first of them arrived, whichever comes first.
 *
 * Pure state, time passed in (µs); the NIC service owns the timers.
 */

export interface ModerationConfig {
  /** Frames that trigger an interrupt at once. */
  frames: number;
  /** Longest a frame waits for its interrupt (1e6 / intr_rate). */
  usecs: number;
}

export class ModerationConfigError extends Error {
  override readonly name = "ModerationConfigError";
}

export function moderationFor(intrRate: number, frames = 256): ModerationConfig {
  if (!(intrRate > 0)) throw new ModerationConfigError(`interrupt rate ${intrRate} must be > 0`);
  if (!Number.isInteger(frames) || frames < 1) throw new ModerationConfigError(`moderation frames ${frames} must be a positive integer`);
  return { frames, usecs: 1e6 / intrRate };
}

/** One ring's moderation timer. */
export class IntrModerator {
  /** Frames waiting for the interrupt. */
  pending = 0;
  /** When the first waiting frame arrived (µs), or -1. */
  firstUs = -1;
  /** Interrupts raised. */
  interrupts = 0;

  constructor(readonly cfg: ModerationConfig) {}

  /** `n` frames arrived at `nowUs`. True when the interrupt fires now (frame threshold). */
  add(n: number, nowUs: number): boolean {
    if (n <= 0) return false;
    if (this.pending === 0) this.firstUs = nowUs;
    this.pending += n;
    return this.pending >= this.cfg.frames;
  }

  /** True when waiting frames have reached their deadline. */
  due(nowUs: number): boolean {
    return this.pending > 0 && nowUs - this.firstUs >= this.cfg.usecs;
  }

  /** µs until the deadline (0 when due; Infinity when nothing waits). */
  remaining(nowUs: number): number {
    if (this.pending === 0) return Infinity;
    return Math.max(0, this.cfg.usecs - (nowUs - this.firstUs));
  }

  /** The interrupt ran: everything pending was delivered. */
  fire(): void {
    this.pending = 0;
    this.firstUs = -1;
    this.interrupts++;
  }
}
