/**
 * One CPU's TCP: configuration, `tcpstat` counters, the timer heap, the output and
 * event callbacks, and the entry points that set the time. DragonFly runs TCP in
 * each netisr thread with per-CPU state (`tcpstats_percpu`, per-CPU callouts); a
 * TcpEngine is that state for one emulated CPU. It owns no connection table — the
 * INPCB layer finds TCBs and hands them to `input()`.
 *
 * Time is injected: every entry point takes `now` (ms, any monotonic clock); timers
 * fire only inside `advance(now)`. Events raised while the engine works are queued
 * and delivered when the outermost call returns, so an event handler may call back
 * into the engine (send on ESTABLISHED, recv on READABLE) safely. The `output`
 * callback is called synchronously and must not re-enter the engine.
 */
import { randomInt } from "node:crypto";
import { TcpStats } from "./tcp_stats.js";
import { TcpTimerHeap, tcpTimersRun } from "./tcp_timer.js";
import { TCP_DEFAULTS, TF, TIMER_OFF, TcpState, type TcpCb, type TcpConfig, type TcpConnOptions, type TcpErrno, type TcpEvent, type TcpSeg } from "./tcp_var.js";
import type { TcpOptions } from "./tcp.js";
import { SockBuf } from "./tcp_sockbuf.js";

/** Emptied socket buffers an engine keeps for reuse. */
const SB_CACHE_MAX = 256;
import {
  tcpInput, tcpListenInput, tcpSynAckSegment, tcpSynEntryFromSyn, tcpSyncacheSocket,
  type TcpInputStatus, type TcpSynEntry,
} from "./tcp_input.js";
import { tcpOutput, tcpRespondReset } from "./tcp_output.js";
import { tcpCtlinput, tcpTupleHash, type TcpCtl } from "./tcp_subr.js";
import {
  tcpUsrAbort, tcpUsrClose, tcpUsrConnect, tcpUsrRecv,
  tcpUsrRecvInto, tcpUsrSend, tcpUsrSetNodelay, tcpUsrShutdown,
} from "./tcp_usrreq.js";

export type TcpOutputFn = (seg: TcpSeg, tp: TcpCb | null) => void;
export type TcpEventFn = (tp: TcpCb, ev: TcpEvent, err: TcpErrno | null) => void;

export interface TcpEngineOptions {
  /** CPU id (for the caller's bookkeeping and metrics). */
  cpu?: number;
  config?: Partial<TcpConfig>;
  /** Every segment the engine sends (tp null for RSTs to segments with no connection). */
  output: TcpOutputFn;
  /** Connection events (queued, delivered after the engine call that raised them). */
  onEvent?: TcpEventFn;
  /** The caller's clock at creation, ms; engine times are integers relative to it. */
  now?: number;
  /**
   * `output` uses each segment only during the call (writes it into a frame, as ip_output
   * consumes an mbuf): the engine then fills one segment and one options object again and
   * again instead of allocating them per segment. Off by default (the callback may keep them).
   */
  lendSegs?: boolean;
  /** Keys for RFC 6528 ISS and timestamp offsets (random by default). */
  issSecret?: number;
  tsSecret?: number;
}

/** Invalid engine configuration. */
export class TcpConfigError extends Error {
  override readonly name = "TcpConfigError";
  constructor(readonly field: string, readonly value: unknown) {
    super(`TCP config ${field} = ${String(value)} is not valid`);
  }
}

function checkConfig(c: TcpConfig): void {
  const positive: (keyof TcpConfig)[] = [
    "mss", "mssdflt", "rtoBase", "rexmitMax", "delackTime", "sendspace", "recvspace", "dupThresh",
    "keepInit", "keepIdle", "keepIntvl", "keepCnt", "persMin", "persMax",
  ];
  for (const k of positive) {
    const v = c[k];
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) throw new TcpConfigError(k, v);
  }
  for (const k of ["rexmitMin", "rexmitSlop", "maxRxtShift", "msl", "iwMaxSegs", "iwCapSegs", "challengeAckLimit"] as const) {
    const v = c[k];
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw new TcpConfigError(k, v);
  }
  if (c.mss > 65535 || c.mss < 64) throw new TcpConfigError("mss", c.mss);
  for (const k of ["eifel", "ncr", "rescueSack", "dsack", "earlyRetransmit", "ecn"] as const) {
    if (typeof c[k] !== "boolean") throw new TcpConfigError(k, c[k]);
  }
}

export class TcpEngine {
  readonly cpu: number;
  /** Replaced whole by `setConfig` (sysctl writes); never mutated in place. */
  config: Readonly<TcpConfig>;
  readonly stats = new TcpStats();
  readonly timers = new TcpTimerHeap();
  /** Engine time: integer ms since `epoch`. */
  now = 0;
  readonly epoch: number;
  readonly issSecret: number;
  readonly tsSecret: number;
  output: TcpOutputFn;
  onEvent: TcpEventFn | undefined;
  /** With `lendSegs`: the segment and options output fills (tcp_output.ts `txSeg`), and whether they are out now. */
  readonly txSeg: TcpSeg | null;
  readonly txOpts: TcpOptions;
  readonly txTs = { val: 0, ecr: 0 };
  txLent = false;
  /** Emptied socket buffers for reuse (`sbGet`/`sbPut`), send and receive apart, at most SB_CACHE_MAX each. */
  private readonly sbSend: SockBuf[] = [];
  private readonly sbRecv: SockBuf[] = [];

  private depth = 0;
  private flushing = false;
  /** Events waiting for the end of the current call: evN of them. */
  private readonly evTp: (TcpCb | null)[] = [];
  private readonly evKind: TcpEvent[] = [];
  private readonly evErr: (TcpErrno | null)[] = [];
  private evN = 0;
  /** TCBs waiting for tcp_output at the end of the current call (`tcpcbackq`, TF.ONOUTPUTQ): outN of them. */
  private readonly outq: (TcpCb | null)[] = [];
  private outN = 0;
  private reuseIss: number | null = null;
  private reuseTuple: [number, number, number, number] = [0, 0, 0, 0];
  private chSecond = -1;
  private chCount = 0;

  constructor(opts: TcpEngineOptions) {
    this.cpu = opts.cpu ?? 0;
    const cfg = { ...TCP_DEFAULTS, ...opts.config };
    checkConfig(cfg);
    this.config = Object.freeze(cfg);
    this.epoch = opts.now ?? 0;
    this.output = opts.output;
    this.onEvent = opts.onEvent;
    this.txSeg = opts.lendSegs
      ? { src: 0, dst: 0, sport: 0, dport: 0, seq: 0, ack: 0, flags: 0, window: 0, options: undefined, payload: new Uint8Array(0) }
      : null;
    this.txOpts = { timestamp: undefined, sack: undefined };
    this.issSecret = opts.issSecret ?? randomInt(0, 2 ** 32 - 1) | 0;
    this.tsSecret = opts.tsSecret ?? randomInt(0, 2 ** 32 - 1) | 0;
  }

  // ----- socket buffers

  /** An empty socket buffer for sending or receiving (a cached one when there is one). */
  sbGet(send: boolean): SockBuf {
    const sb = (send ? this.sbSend : this.sbRecv).pop() ?? new SockBuf();
    // Output copies a lent segment's bytes at once: views of a send buffer are used up.
    sb.transient = send && this.txSeg !== null;
    return sb;
  }

  /**
   * Takes back a socket buffer its TCB let go of. It keeps its first chunk unless a view of
   * its bytes may still be held (recv's views; segments the engine does not lend).
   */
  sbPut(sb: SockBuf, send: boolean): void {
    const cache = send ? this.sbSend : this.sbRecv;
    if (cache.length >= SB_CACHE_MAX) return;
    sb.recycle(true);
    cache.push(sb);
  }

  // ----- time and event plumbing (used by the tcp_* modules)

  /** Moves engine time forward to the caller's `now` (never backward). */
  setNow(now: number): void {
    const t = Math.floor(now - this.epoch);
    if (t > this.now) this.now = t;
  }

  /** The caller's clock value for engine time `t` (default: now). */
  clock(t = this.now): number {
    return this.epoch + t;
  }

  enter(now?: number): void {
    if (now !== undefined) this.setNow(now);
    this.depth++;
  }

  /**
   * The end of an engine call: events are delivered (the handlers may call back in: send,
   * close), then the queued output runs (`tcp_willblock`), until neither has anything left.
   * The queues are reused arrays with a fill count (truncating an array gives up its
   * storage, and the next push would allocate it again); slots are cleared as they are used.
   */
  leave(): void {
    if (--this.depth > 0 || this.flushing) return;
    this.flushing = true;
    const outq = this.outq;
    let ev = 0;
    let out = 0;
    try {
      for (;;) {
        for (; ev < this.evN; ev++) {
          const tp = this.evTp[ev];
          const kind = this.evKind[ev];
          const err = this.evErr[ev];
          this.evTp[ev] = null;
          this.onEvent?.(tp!, kind!, err);
        }
        if (out === this.outN) break;
        while (out < this.outN) {
          const tp = outq[out];
          outq[out++] = null;
          tp!.t_flags &= ~TF.ONOUTPUTQ;
          if (tp!.t_state !== TcpState.CLOSED) tcpOutput(tp!);
        }
      }
    } finally {
      for (; ev < this.evN; ev++) this.evTp[ev] = null;
      this.evN = 0;
      // A handler threw: what was queued still goes out (nothing is left waiting for a rollup).
      while (out < this.outN) {
        const tp = outq[out];
        outq[out++] = null;
        tp!.t_flags &= ~TF.ONOUTPUTQ;
        if (tp!.t_state !== TcpState.CLOSED) tcpOutput(tp!);
      }
      this.outN = 0;
      this.flushing = false;
    }
  }

  /**
   * tcp_output for `tp`, once, when the current engine call is over (`aggregateAcks`);
   * at once outside a call or with aggregation off.
   */
  outputSoon(tp: TcpCb): void {
    if (!this.config.aggregateAcks || (this.depth === 0 && !this.flushing)) {
      tcpOutput(tp);
      return;
    }
    if (tp.t_flags & TF.ONOUTPUTQ) return;
    tp.t_flags |= TF.ONOUTPUTQ;
    this.outq[this.outN++] = tp;
  }

  /** Queues an event for delivery when the current engine call returns. */
  emit(tp: TcpCb, ev: TcpEvent, err: TcpErrno | null): void {
    if (!this.onEvent) return;
    const n = this.evN++;
    this.evTp[n] = tp;
    this.evKind[n] = ev;
    this.evErr[n] = err;
    if (this.depth === 0 && !this.flushing) {
      this.depth++;
      this.leave();
    }
  }

  /** RFC 6528 ISS: a keyed hash of the 4-tuple plus a 4 µs clock. */
  issFor(laddr: number, lport: number, faddr: number, fport: number): number {
    const m = Math.floor((this.epoch + this.now) * 250);
    return (tcpTupleHash(this.issSecret, laddr >>> 0, lport, faddr >>> 0, fport) + m) | 0;
  }

  /** Per-connection timestamp offset (RFC 7323 §5.4). */
  tsOffsetFor(laddr: number, lport: number, faddr: number, fport: number): number {
    return tcpTupleHash(this.tsSecret, laddr >>> 0, lport, faddr >>> 0, fport);
  }

  /** Set by input when TIME_WAIT is recycled: the ISS the next connection on that 4-tuple must use. */
  setReuseIss(iss: number, laddr: number, lport: number, faddr: number, fport: number): void {
    this.reuseIss = iss | 0;
    this.reuseTuple = [laddr | 0, lport, faddr | 0, fport];
  }

  /** Takes (once) the ISS a recycled TIME_WAIT left for this 4-tuple, or null. */
  takeReuseIss(laddr: number, lport: number, faddr: number, fport: number): number | null {
    const r = this.reuseIss;
    if (r === null) return null;
    const t = this.reuseTuple;
    this.reuseIss = null;
    return t[0] === (laddr | 0) && t[1] === lport && t[2] === (faddr | 0) && t[3] === fport ? r : null;
  }

  /** RFC 5961 §7 rate limit: true while this second's budget lasts. */
  challengeAckAllowed(): boolean {
    const sec = Math.floor(this.now / 1000);
    if (sec !== this.chSecond) {
      this.chSecond = sec;
      this.chCount = 0;
    }
    return this.chCount++ < this.config.challengeAckLimit;
  }

  // ----- public entry points

  /**
   * A segment for connection `tp` (null: no connection matched — a RST is sent
   * per RFC 9293). "reuse" means TIME_WAIT was recycled: give the SYN to the listener.
   */
  input(tp: TcpCb | null, seg: TcpSeg, now: number): TcpInputStatus {
    this.enter(now);
    try {
      return tcpInput(this, tp, seg);
    } finally {
      this.leave();
    }
  }

  /** LISTEN processing without a syncache: a SYN makes a SYN_RECEIVED TCB (returned). */
  listenInput(seg: TcpSeg, now: number, opts?: TcpConnOptions): TcpCb | null {
    this.enter(now);
    try {
      return tcpListenInput(this, seg, opts);
    } finally {
      this.leave();
    }
  }

  /** Syncache: the negotiated parameters of a SYN (ISS chosen here unless given). */
  synEntry(syn: TcpSeg, now: number, opts?: TcpConnOptions): TcpSynEntry {
    this.setNow(now);
    return tcpSynEntryFromSyn(this, syn, opts);
  }

  /** Syncache: sends the SYN|ACK of an entry (first send or retransmission) and returns it. */
  sendSynAck(entry: TcpSynEntry, now: number): TcpSeg {
    this.setNow(now);
    const seg = tcpSynAckSegment(this, entry);
    this.output(seg, null);
    return seg;
  }

  /** Syncache: the handshake's ACK arrived — the ESTABLISHED TCB, or null (answer with `respondReset`). */
  syncacheSocket(entry: TcpSynEntry, ack: TcpSeg, now: number, opts?: TcpConnOptions): TcpCb | null {
    this.enter(now);
    try {
      return tcpSyncacheSocket(this, entry, ack, opts);
    } finally {
      this.leave();
    }
  }

  /** A sysctl write: the new values apply from the next segment, timer or connection on. Invalid → TcpConfigError, nothing changed. */
  setConfig(patch: Partial<TcpConfig>): void {
    const cfg = { ...this.config, ...patch };
    checkConfig(cfg);
    this.config = Object.freeze(cfg);
  }

  /** An ICMP error quoting one of `tp`'s segments (`tcp_ctlinput`, tcp_subr.ts). */
  ctlinput(tp: TcpCb, ctl: TcpCtl, seq: number, nextMtu: number, quotedIpLen: number, now: number): ReturnType<typeof tcpCtlinput> {
    this.enter(now);
    try {
      return tcpCtlinput(tp, ctl, seq, nextMtu, quotedIpLen);
    } finally {
      this.leave();
    }
  }

  /** RST for a segment that belongs to nothing (RFC 9293 §3.10.7.1); false for a RST. */
  respondReset(seg: TcpSeg, now: number): boolean {
    this.setNow(now);
    return tcpRespondReset(this, seg);
  }

  /** Active open. */
  connect(laddr: number, lport: number, faddr: number, fport: number, now: number, opts?: TcpConnOptions): TcpCb {
    this.enter(now);
    try {
      return tcpUsrConnect(this, laddr, lport, faddr, fport, opts);
    } finally {
      this.leave();
    }
  }

  /** Queues bytes; returns how many fit (asynchronous send). */
  send(tp: TcpCb, data: Uint8Array, now: number): number {
    this.enter(now);
    try {
      return tcpUsrSend(tp, data);
    } finally {
      this.leave();
    }
  }

  /** Up to `max` bytes; empty array = nothing yet, null = end of stream. */
  recv(tp: TcpCb, now: number, max?: number): Uint8Array | null {
    this.enter(now);
    try {
      return tcpUsrRecv(tp, max);
    } finally {
      this.leave();
    }
  }

  /** Up to `max` bytes into `dst[at…]`: how many (0 = nothing yet), -1 = end of stream. */
  recvInto(tp: TcpCb, dst: Uint8Array, at: number, max: number, now: number): number {
    this.enter(now);
    try {
      return tcpUsrRecvInto(tp, dst, at, max);
    } finally {
      this.leave();
    }
  }

  shutdown(tp: TcpCb, now: number): void {
    this.enter(now);
    try {
      tcpUsrShutdown(tp);
    } finally {
      this.leave();
    }
  }

  close(tp: TcpCb, now: number): void {
    this.enter(now);
    try {
      tcpUsrClose(tp);
    } finally {
      this.leave();
    }
  }

  abort(tp: TcpCb, now: number): void {
    this.enter(now);
    try {
      tcpUsrAbort(tp);
    } finally {
      this.leave();
    }
  }

  setNodelay(tp: TcpCb, on: boolean, now: number): void {
    this.enter(now);
    try {
      tcpUsrSetNodelay(tp, on);
    } finally {
      this.leave();
    }
  }

  /** Runs every timer due by `now`, each at its own deadline, in order. Returns handlers run. */
  advance(now: number): number {
    let fired = 0;
    const target = Math.floor(now - this.epoch);
    for (;;) {
      const k = this.timers.peekKey();
      if (k === TIMER_OFF || k > target) break;
      if (k > this.now) this.now = k;
      const tp = this.timers.pop()!;
      // Events of each expiry are delivered at its own deadline.
      this.enter();
      try {
        fired += tcpTimersRun(tp, this.now);
      } finally {
        this.leave();
      }
    }
    if (target > this.now) this.now = target;
    return fired;
  }

  /** When `advance` next has something to do, on the caller's clock; null if no timer runs. */
  nextTimerAt(): number | null {
    const k = this.timers.peekKey();
    return k === TIMER_OFF ? null : this.epoch + k;
  }
}
