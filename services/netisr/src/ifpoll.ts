/** NIC-ring polling (DragonFly's sys/net/if_poll.c): `IopollCtx`, the per-CPU iopoll state machine (time passed in, µs), and `RxRing`. */

export const IFPOLL = {
  FREQ_DEFAULT: 6000,
  FREQ_MAX: 30000,
  BURST_MAX_DEFAULT: 250,
  MIN_BURST_MAX: 10,
  MAX_BURST_MAX: 5000,
  EACH_BURST_DEFAULT: 50,
  USER_FRAC_DEFAULT: 50,
  /** pending_polls above this is a stall. */
  STALL_PENDING: 100,
  LIST_LEN: 128,
} as const;

export interface IopollOptions {
  pollhz?: number;
  burstMax?: number;
  eachBurst?: number;
  userFrac?: number;
}

export class IfpollConfigError extends Error {
  override readonly name = "IfpollConfigError";
  constructor(
    readonly param: string,
    readonly value: number,
    want: string,
  ) {
    super(`ifpoll: ${param} ${value} is invalid; want ${want}`);
  }
}

/** One CPU's RX polling context (`struct iopoll_ctx`). */
export class IopollCtx {
  readonly pollhz: number;
  readonly burstMax: number;
  readonly eachBurst: number;
  readonly userFrac: number;
  /** iopoll_reset_state(): poll_burst = poll_each_burst (set in the constructor). */
  pollBurst: number;
  residualBurst = 0;
  pendingPolls = 0;
  /** 0 idle, 2 scheduled (iopoll_clock), 3/4 in a round, 5/6 in iopollmore. */
  phase = 0;
  kernFrac = 0;
  shortTicks = 0;
  lostPolls = 0;
  stalled = 0;
  suspect = 0;
  /** Ticks completed (iopollmore reached the end of a tick). */
  ticks = 0;
  private pollStartUs = 0;
  private prevUs = -Infinity;

  constructor(o: IopollOptions = {}) {
    const pollhz = o.pollhz ?? IFPOLL.FREQ_DEFAULT;
    if (!Number.isInteger(pollhz) || pollhz <= 0) throw new IfpollConfigError("pollhz", pollhz, `an integer in 1..${IFPOLL.FREQ_MAX}`);
    this.pollhz = Math.min(pollhz, IFPOLL.FREQ_MAX);
    const bm = o.burstMax ?? IFPOLL.BURST_MAX_DEFAULT;
    if (!Number.isInteger(bm)) throw new IfpollConfigError("burstMax", bm, "an integer");
    this.burstMax = Math.min(IFPOLL.MAX_BURST_MAX, Math.max(IFPOLL.MIN_BURST_MAX, bm));
    const eb = o.eachBurst ?? IFPOLL.EACH_BURST_DEFAULT;
    if (!Number.isInteger(eb)) throw new IfpollConfigError("eachBurst", eb, "an integer");
    this.eachBurst = Math.min(this.burstMax, Math.max(1, eb));
    const uf = o.userFrac ?? IFPOLL.USER_FRAC_DEFAULT;
    if (!Number.isInteger(uf) || uf < 0 || uf > 100) throw new IfpollConfigError("userFrac", uf, "an integer in 0..100");
    this.userFrac = uf;
    this.pollBurst = this.eachBurst;
  }

  /** `iopoll_clock()`: the systimer fired. Returns true when a poll was scheduled. */
  clock(nowUs: number): boolean {
    if ((nowUs - this.prevUs) * this.pollhz < 500000) this.shortTicks++;
    else this.prevUs = nowUs;
    if (this.pendingPolls > IFPOLL.STALL_PENDING) {
      this.stalled++;
      this.pendingPolls = 0;
      this.phase = 0;
    }
    let scheduled = false;
    if (this.phase <= 2) {
      if (this.phase !== 0) this.suspect++;
      this.phase = 2;
      scheduled = true;
    }
    if (this.pendingPolls++ > 0) this.lostPolls++;
    return scheduled;
  }

  /** `iopoll_handler()`: the frames each handler may take in this round. */
  handler(nowUs: number): number {
    this.phase = 3;
    if (this.residualBurst === 0) {
      this.pollStartUs = nowUs;
      this.residualBurst = this.pollBurst;
    }
    const cycles = this.residualBurst < this.eachBurst ? this.residualBurst : this.eachBurst;
    this.residualBurst -= cycles;
    this.phase = 4;
    return cycles;
  }

  /** `iopollmore_handler()`: true when another round must run now (burst left, or ticks missed). */
  more(nowUs: number): boolean {
    this.phase = 5;
    if (this.residualBurst > 0) return true;
    const kernLoad = Math.trunc(((nowUs - this.pollStartUs) * this.pollhz) / 10000);
    this.kernFrac = kernLoad;
    if (kernLoad > 100 - this.userFrac) {
      if (this.pollBurst > 1) this.pollBurst--;
    } else if (this.pollBurst < this.burstMax) {
      this.pollBurst++;
    }
    this.ticks++;
    this.pendingPolls--;
    if (this.pendingPolls <= 0) {
      this.pendingPolls = 0;
      this.phase = 0;
      return false;
    }
    this.pollBurst -= Math.trunc(this.pollBurst / 8);
    if (this.pollBurst < 1) this.pollBurst = 1;
    this.phase = 6;
    return true;
  }
}

/** A batch waiting in an RX ring, and how far the CPU has read it. */
interface RingSlot {
  batch: Uint8Array;
  count: number;
  next: number;
  arrivedMs: number;
}

/** An RX descriptor ring: batches wait here between polls; at most `rxd` frames. */
export class RxRing {
  private readonly q: RingSlot[] = [];
  private head = 0;
  occupancy = 0;
  dropped = 0;

  constructor(readonly rxd: number) {
    if (!Number.isInteger(rxd) || rxd < 1) throw new IfpollConfigError("rxd", rxd, "a positive integer");
  }

  /** Frames of a (valid) batch that fit; the caller drops the rest. */
  room(): number {
    return this.rxd - this.occupancy;
  }

  /** Queues `count` frames of `batch` (all must fit: trim with `room()` first). */
  push(batch: Uint8Array, count: number, nowMs: number): void {
    if (count <= 0) return;
    this.q.push({ batch, count, next: 0, arrivedMs: nowMs });
    this.occupancy += count;
  }

  get empty(): boolean {
    return this.occupancy === 0;
  }

  /** Takes up to `n` frames from the head, calling `fn` per batch piece (`whole`: the piece is the entire batch); returns the frames taken. */
  take(n: number, fn: (batch: Uint8Array, from: number, to: number, whole: boolean, arrivedMs: number) => void): number {
    let taken = 0;
    while (taken < n && this.head < this.q.length) {
      const s = this.q[this.head];
      const k = Math.min(n - taken, s.count - s.next);
      const from = s.next;
      s.next += k;
      taken += k;
      this.occupancy -= k;
      if (s.next === s.count) {
        this.q[this.head] = undefined as unknown as RingSlot;
        this.head++;
      }
      fn(s.batch, from, from + k, from === 0 && k === s.count, s.arrivedMs);
    }
    if (this.head > 64 && this.head * 2 > this.q.length) {
      this.q.splice(0, this.head);
      this.head = 0;
    }
    return taken;
  }
}
