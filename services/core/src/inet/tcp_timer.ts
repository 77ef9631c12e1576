/**
 * TCP timers (sys/netinet/tcp_timer.c, tcp_timer.h), driven by the caller.
 *
 * DragonFly runs five callouts per tcpcb (REXMT, PERSIST, KEEP, 2MSL, DELACK) on the
 * owning CPU. Here every TCB holds its deadlines as plain numbers and appears at
 * most once in its engine's min-heap, keyed by a lower bound of its deadlines
 * (`t_tkey`). Pushing a deadline later costs nothing (the key stays, the entry is
 * re-keyed when it surfaces); pulling it earlier sifts up. `TcpEngine.advance(now)`
 * pops every due entry and runs the handlers below. No setTimeout anywhere.
 *
 * Retransmit and persist share one slot (they are mutually exclusive, as in BSD);
 * `TF.PERSIST` says which one runs.
 */
import { TcpErrno, TcpState, TF, TIMER_OFF, TRXT, type TcpCb } from "./tcp_var.js";
import { tcpOutput, tcpRespond, tcpTsNow } from "./tcp_output.js";
import { tcpClose, tcpDrop, tcpRangeset, tcpRexmtval } from "./tcp_subr.js";
import { TcpFlags } from "./tcp.js";
import { SEQ_LT } from "./tcp_seq.js";

/**
 * What RFC 4015 adds to SRTT when a timeout turns out spurious (2·G; DragonFly's
 * `eifel_rtoinc`, 2 ticks of 10 ms), so the rebased RTO ends above the one that fired.
 */
export const TCP_EIFEL_RTOINC = 20;

/** Backoff multipliers for data segments (`tcp_backoff[]`). */
export const TCP_BACKOFF: readonly number[] = [1, 2, 4, 8, 16, 32, 64, 64, 64, 64, 64, 64, 64];
/** Backoff multipliers for a SYN with `low_rtobase` (`tcp_syn_backoff_low[]`). */
export const TCP_SYN_BACKOFF: readonly number[] = [1, 1, 2, 4, 8, 8, 16, 16, 32, 64, 64, 64, 64];

/** Which slot of a TCB. */
export const TcpTimer = { REXMT: 0, PERSIST: 1, KEEP: 2, TWOMSL: 3, DELACK: 4 } as const;
export type TcpTimer = (typeof TcpTimer)[keyof typeof TcpTimer];

/** The earliest running deadline of `tp`, or TIMER_OFF. */
function tcpTimerMin(tp: TcpCb): number {
  let m = tp.tt_rexmt;
  if (tp.tt_delack !== TIMER_OFF && (m === TIMER_OFF || tp.tt_delack < m)) m = tp.tt_delack;
  if (tp.tt_keep !== TIMER_OFF && (m === TIMER_OFF || tp.tt_keep < m)) m = tp.tt_keep;
  if (tp.tt_2msl !== TIMER_OFF && (m === TIMER_OFF || tp.tt_2msl < m)) m = tp.tt_2msl;
  return m;
}

/** Per-CPU min-heap of TCBs keyed by `t_tkey`. */
export class TcpTimerHeap {
  private readonly h: TcpCb[] = [];

  get size(): number {
    return this.h.length;
  }

  /** Smallest key, or TIMER_OFF when empty. */
  peekKey(): number {
    return this.h.length ? this.h[0].t_tkey : TIMER_OFF;
  }

  /** Makes sure `tp` is in the heap with a key ≤ `deadline`. */
  schedule(tp: TcpCb, deadline: number): void {
    if (tp.t_tidx < 0) {
      tp.t_tkey = deadline;
      tp.t_tidx = this.h.length;
      this.h.push(tp);
      this.up(tp.t_tidx);
    } else if (deadline < tp.t_tkey) {
      tp.t_tkey = deadline;
      this.up(tp.t_tidx);
    }
  }

  remove(tp: TcpCb): void {
    const i = tp.t_tidx;
    if (i < 0) return;
    const last = this.h.pop()!;
    tp.t_tidx = -1;
    if (last !== tp) {
      this.h[i] = last;
      last.t_tidx = i;
      this.up(i);
      this.down(last.t_tidx);
    }
  }

  /** Removes and returns the entry with the smallest key. */
  pop(): TcpCb | undefined {
    const top = this.h[0];
    if (!top) return undefined;
    this.remove(top);
    return top;
  }

  private up(i: number): void {
    const h = this.h;
    const x = h[i];
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p].t_tkey <= x.t_tkey) break;
      h[i] = h[p];
      h[i].t_tidx = i;
      i = p;
    }
    h[i] = x;
    x.t_tidx = i;
  }

  private down(i: number): void {
    const h = this.h;
    const n = h.length;
    const x = h[i];
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && h[c + 1].t_tkey < h[c].t_tkey) c++;
      if (h[c].t_tkey >= x.t_tkey) break;
      h[i] = h[c];
      h[i].t_tidx = i;
      i = c;
    }
    h[i] = x;
    x.t_tidx = i;
  }
}

/** Arms slot `which` to fire `delay` ms from now. */
export function tcpTimerSet(tp: TcpCb, which: TcpTimer, delay: number): void {
  const e = tp.engine;
  const at = e.now + Math.max(0, Math.floor(delay));
  switch (which) {
    case TcpTimer.REXMT:
      tp.t_flags &= ~TF.PERSIST;
      tp.tt_rexmt = at;
      break;
    case TcpTimer.PERSIST:
      tp.t_flags |= TF.PERSIST;
      tp.tt_rexmt = at;
      break;
    case TcpTimer.KEEP:
      tp.tt_keep = at;
      break;
    case TcpTimer.TWOMSL:
      tp.tt_2msl = at;
      break;
    case TcpTimer.DELACK:
      tp.tt_delack = at;
      break;
  }
  e.timers.schedule(tp, at);
}

export function tcpTimerStop(tp: TcpCb, which: TcpTimer): void {
  switch (which) {
    case TcpTimer.REXMT:
      if (!(tp.t_flags & TF.PERSIST)) tp.tt_rexmt = TIMER_OFF;
      break;
    case TcpTimer.PERSIST:
      if (tp.t_flags & TF.PERSIST) {
        tp.tt_rexmt = TIMER_OFF;
        tp.t_flags &= ~TF.PERSIST;
      }
      break;
    case TcpTimer.KEEP:
      tp.tt_keep = TIMER_OFF;
      break;
    case TcpTimer.TWOMSL:
      tp.tt_2msl = TIMER_OFF;
      break;
    case TcpTimer.DELACK:
      tp.tt_delack = TIMER_OFF;
      break;
  }
}

export function tcpTimerActive(tp: TcpCb, which: TcpTimer): boolean {
  switch (which) {
    case TcpTimer.REXMT:
      return tp.tt_rexmt !== TIMER_OFF && !(tp.t_flags & TF.PERSIST);
    case TcpTimer.PERSIST:
      return tp.tt_rexmt !== TIMER_OFF && (tp.t_flags & TF.PERSIST) !== 0;
    case TcpTimer.KEEP:
      return tp.tt_keep !== TIMER_OFF;
    case TcpTimer.TWOMSL:
      return tp.tt_2msl !== TIMER_OFF;
    case TcpTimer.DELACK:
      return tp.tt_delack !== TIMER_OFF;
  }
}

/** Stops every slot and leaves the heap (`tcp_canceltimers`). */
export function tcpCancelTimers(tp: TcpCb): void {
  tp.tt_rexmt = tp.tt_delack = tp.tt_keep = tp.tt_2msl = TIMER_OFF;
  tp.t_flags &= ~TF.PERSIST;
  tp.engine.timers.remove(tp);
}

/**
 * Runs the due slots of one TCB popped from the heap at time `now` (engine ms),
 * then puts it back keyed by its next deadline. Returns how many handlers ran.
 */
export function tcpTimersRun(tp: TcpCb, now: number): number {
  let ran = 0;
  // Fixed order, as DragonFly's tcp_timer_handlers[]: delack first, then rexmt/persist, keep, 2msl.
  if (tp.tt_delack !== TIMER_OFF && tp.tt_delack <= now) {
    tp.tt_delack = TIMER_OFF;
    ran++;
    tcpTimerDelack(tp);
  }
  if (tp.t_state !== TcpState.CLOSED && tp.tt_rexmt !== TIMER_OFF && tp.tt_rexmt <= now) {
    tp.tt_rexmt = TIMER_OFF;
    ran++;
    if (tp.t_flags & TF.PERSIST) {
      tp.t_flags &= ~TF.PERSIST;
      tcpTimerPersist(tp);
    } else tcpTimerRexmt(tp);
  }
  if (tp.t_state !== TcpState.CLOSED && tp.tt_keep !== TIMER_OFF && tp.tt_keep <= now) {
    tp.tt_keep = TIMER_OFF;
    ran++;
    tcpTimerKeep(tp);
  }
  if (tp.t_state !== TcpState.CLOSED && tp.tt_2msl !== TIMER_OFF && tp.tt_2msl <= now) {
    tp.tt_2msl = TIMER_OFF;
    ran++;
    tcpTimer2msl(tp);
  }
  if (tp.t_state !== TcpState.CLOSED) {
    const m = tcpTimerMin(tp);
    if (m !== TIMER_OFF) tp.engine.timers.schedule(tp, m);
  }
  return ran;
}

/** Delayed ACK timeout (`tcp_timer_delack`). */
function tcpTimerDelack(tp: TcpCb): void {
  tp.t_flags |= TF.ACKNOW;
  tp.engine.stats.delack++;
  tcpOutput(tp);
}

/** Retransmit timeout (`tcp_timer_rexmt`). */
function tcpTimerRexmt(tp: TcpCb): void {
  const e = tp.engine;
  const cfg = e.config;
  if (++tp.t_rxtshift > cfg.maxRxtShift) {
    tp.t_rxtshift = cfg.maxRxtShift;
    e.stats.timeoutdrop++;
    tcpDrop(tp, TcpErrno.ETIMEDOUT);
    return;
  }
  e.stats.rexmttimeo++;
  if (tp.t_rxtshift === 1 && tp.t_state >= TcpState.ESTABLISHED && cfg.eifel) {
    // The first timeout of this segment: remember enough to undo it (RFC 3522 RetransmitTS,
    // RFC 4015 §2 step 1: SRTT_prev = SRTT + 2G, RTTVAR_prev = RTTVAR) and, for the RTT
    // heuristic, the half RTT within which an ACK cannot be for the retransmission.
    tp.t_badrxtwin = e.now + (tp.t_srtt >> 4);
    tp.t_rxtcur_prev = tp.t_rxtcur;
    tp.t_srtt_prev = tp.t_srtt + (TCP_EIFEL_RTOINC << 3);
    tp.t_rttvar_prev = tp.t_rttvar;
    tcpSaveCongestionState(tp);
    tp.rxt_flags &= ~(TRXT.FASTREXMT | TRXT.EARLYREXMT | TRXT.REBASERTO);
  }
  // A timeout ends any D-SACK accounting of a fast-retransmit episode.
  tp.rxt_flags &= ~TRXT.DSACKEP;
  // Time spent in SYN or SYN|ACK retransmission (t_rxtsyn, for RFC 3390 and RFC 6298 §5.7).
  if (tp.t_state === TcpState.SYN_SENT || tp.t_state === TcpState.SYN_RECEIVED) tp.t_rxtsyn += tp.t_rxtcur;
  const table = tp.t_state === TcpState.SYN_SENT ? TCP_SYN_BACKOFF : TCP_BACKOFF;
  const mult = table[Math.min(tp.t_rxtshift, table.length - 1)];
  tp.t_rxtcur = tcpRangeset(tp, tcpRexmtval(tp) * mult, cfg.rexmitMin);
  // DragonFly: stop asking for RFC 1323 options after the third SYN (broken middleboxes).
  if (tp.t_state === TcpState.SYN_SENT && tp.t_rxtshift === 3) tp.t_flags &= ~(TF.REQ_SCALE | TF.REQ_TSTMP);
  // Backed off this far the srtt estimate is probably bogus: keep the RTO, drop srtt.
  if (tp.t_rxtshift > cfg.maxRxtShift / 4) {
    tp.t_rttvar += tp.t_srtt >> 3;
    tp.t_srtt = 0;
  }
  tp.snd_nxt = tp.snd_una;
  tp.rexmt_high = tp.snd_una;
  tp.snd_recover = tp.snd_max;
  tp.t_flags |= TF.ACKNOW;
  tp.t_rtttime = -1;
  // Slow start from one segment; ssthresh = half the window (at least two segments).
  const win = Math.max(2, Math.floor(Math.min(tp.snd_wnd, tp.snd_cwnd) / 2 / tp.t_maxseg));
  tp.snd_cwnd = tp.t_maxseg;
  tp.snd_wacked = 0;
  tp.snd_ssthresh = win * tp.t_maxseg;
  tp.t_dupacks = 0;
  tp.t_flags &= ~TF.FASTRECOVERY;
  // The receiver may have reneged: forget what it SACKed (RFC 6675 §5.1).
  tp.t_scb = null;
  tcpOutput(tp);
}

/**
 * Records the congestion state before a retransmission (`tcp_save_congestion_state`)
 * so that it can be restored if the retransmission proves spurious; with timestamps,
 * our TSval now is RetransmitTS (RFC 3522 §3.2).
 */
export function tcpSaveCongestionState(tp: TcpCb): void {
  tp.snd_cwnd_prev = tp.snd_cwnd;
  tp.snd_wacked_prev = tp.snd_wacked;
  tp.snd_ssthresh_prev = tp.snd_ssthresh;
  tp.snd_recover_prev = tp.snd_recover;
  tp.snd_max_prev = tp.snd_max;
  if (tp.t_flags & TF.RCVD_TSTMP) {
    tp.t_rexmtTS = tcpTsNow(tp);
    tp.rxt_flags |= TRXT.FIRSTACCACK;
  }
}

/**
 * Undoes a spurious retransmission (`tcp_revert_congestion_state`): cwnd and ssthresh
 * as they were, recovery over, sending resumes with new data (RFC 4015 §2 step 4:
 * SND.NXT ← SND.MAX); after a timeout the RTO is rebased on the next sample.
 */
export function tcpRevertCongestionState(tp: TcpCb): void {
  const st = tp.engine.stats;
  tp.snd_cwnd = tp.snd_cwnd_prev;
  tp.snd_wacked = tp.snd_wacked_prev;
  tp.snd_ssthresh = tp.snd_ssthresh_prev;
  tp.snd_recover = tp.snd_recover_prev;
  tp.t_flags &= ~TF.FASTRECOVERY;
  tp.t_dupacks = 0;
  if (tp.rxt_flags & TRXT.FASTREXMT) {
    st.sndfastrexmitbad++;
    if (tp.rxt_flags & TRXT.EARLYREXMT) st.sndearlyrexmitbad++;
  } else {
    st.sndrtobad++;
    tp.rxt_flags |= TRXT.REBASERTO;
  }
  tp.rxt_flags &= ~TRXT.DSACKEP;
  tp.t_badrxtwin = 0;
  tp.t_rxtshift = 0;
  if (SEQ_LT(tp.snd_nxt, tp.snd_max)) tp.snd_nxt = tp.snd_max;
  if (SEQ_LT(tp.rexmt_high, tp.snd_una)) tp.rexmt_high = tp.snd_una;
}

/** Arms the persist timer with backoff (`tcp_setpersist`). */
export function tcpSetPersist(tp: TcpCb): void {
  const cfg = tp.engine.config;
  const mult = TCP_BACKOFF[Math.min(tp.t_rxtshift, TCP_BACKOFF.length - 1)];
  const t = Math.min(cfg.persMax, Math.max(cfg.persMin, tcpRexmtval(tp) * mult));
  tcpTimerSet(tp, TcpTimer.PERSIST, t);
  if (tp.t_rxtshift < cfg.maxRxtShift) tp.t_rxtshift++;
}

/** Persist timeout: probe a zero window with one byte (`tcp_timer_persist`). */
function tcpTimerPersist(tp: TcpCb): void {
  const e = tp.engine;
  e.stats.persisttimeo++;
  // Give up when the peer has said nothing for keepIdle while we probe (tcp_maxpersistidle).
  if (tp.t_rxtshift >= e.config.maxRxtShift && e.now - tp.t_rcvtime >= e.config.keepIdle) {
    e.stats.timeoutdrop++;
    tcpDrop(tp, TcpErrno.ETIMEDOUT);
    return;
  }
  tcpSetPersist(tp);
  tp.t_flags |= TF.FORCE;
  tcpOutput(tp);
  tp.t_flags &= ~TF.FORCE;
}

/** Keepalive / connection-establishment timeout (`tcp_timer_keep`). */
function tcpTimerKeep(tp: TcpCb): void {
  const e = tp.engine;
  const cfg = e.config;
  e.stats.keeptimeo++;
  if (tp.t_state < TcpState.ESTABLISHED) {
    e.stats.keepdrops++;
    tcpDrop(tp, TcpErrno.ETIMEDOUT);
    return;
  }
  if (!(tp.t_flags & TF.KEEPALIVE) || tp.t_state > TcpState.CLOSING) return;
  const idle = e.now - tp.t_rcvtime;
  if (idle < cfg.keepIdle) {
    tcpTimerSet(tp, TcpTimer.KEEP, cfg.keepIdle - idle);
    return;
  }
  if (idle >= cfg.keepIdle + cfg.keepCnt * cfg.keepIntvl) {
    e.stats.keepdrops++;
    tcpDrop(tp, TcpErrno.ETIMEDOUT);
    return;
  }
  // <SEQ=SND.UNA-1><ACK=RCV.NXT><CTL=ACK>: outside the window, so the peer must answer.
  e.stats.keepprobe++;
  tcpRespond(tp, (tp.snd_una - 1) | 0, tp.rcv_nxt, TcpFlags.ACK);
  tcpTimerSet(tp, TcpTimer.KEEP, cfg.keepIntvl);
}

/** 2MSL (TIME_WAIT) or FIN_WAIT_2 idle timeout (`tcp_timer_2msl`). */
function tcpTimer2msl(tp: TcpCb): void {
  const e = tp.engine;
  if (tp.t_state !== TcpState.TIME_WAIT) {
    const maxidle = e.config.keepCnt * e.config.keepIntvl;
    const idle = e.now - tp.t_rcvtime;
    if (idle < maxidle) {
      tcpTimerSet(tp, TcpTimer.TWOMSL, maxidle - idle);
      return;
    }
  }
  tcpClose(tp);
}
