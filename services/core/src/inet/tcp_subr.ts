/**
 * TCB life cycle and shared helpers (sys/netinet/tcp_subr.c): creating a tcpcb
 * (`tcp_newtcpcb`), MSS and initial window (`tcp_mss`, `tcp_initial_window`), the
 * RTT estimator (`tcp_xmit_timer`, tcp_input.c), ISS choice, and ending a
 * connection (`tcp_drop`, `tcp_close`), and ICMP errors reaching a connection
 * (`tcp_ctlinput`, `tcp_notify`, `tcp_mtudisc`).
 */
import { TcpErrno, TcpEvent, TcpState, TF, TcpCb, TRXT, type TcpConnOptions } from "./tcp_var.js";
import type { TcpEngine } from "./tcp_engine.js";
import { tcpCancelTimers, tcpTimerSet, tcpTimerStop, TcpTimer, TCP_EIFEL_RTOINC } from "./tcp_timer.js";
import { SEQ_GT } from "./tcp_seq.js";
import { tcpOutput, tcpRespond } from "./tcp_output.js";
import { TcpFlags, TCP_MAX_WINSHIFT } from "./tcp.js";

/** Largest unscaled window (TCP_MAXWIN). */
export const TCP_MAXWIN = 65535;
/** Smallest MSS honoured from a peer (DragonFly TCP_MINMSS). */
export const TCP_MINMSS = 256;
/** Bytes of the timestamp option as tcp_output() lays it out (NOP NOP TS). */
export const TCPOLEN_TSTAMP_APPA = 12;
/** RTO floor after a retransmitted SYN (RFC 6298 §5.7). */
const RTO_AFTER_SYN_RXT = 3000;

/** 32-bit mix (murmur3 finalizer). */
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

/** Keyed hash of a 4-tuple (RFC 6528's F()). */
export function tcpTupleHash(key: number, laddr: number, lport: number, faddr: number, fport: number): number {
  let h = fmix(key ^ laddr);
  h = fmix(h ^ faddr);
  h = fmix(h ^ ((lport << 16) | (fport & 0xffff)));
  return h;
}

/** Window shift that lets `hiwat` bytes be advertised (`request_r_scale` in tcp_connect). */
export function tcpRcvScale(hiwat: number): number {
  let s = 0;
  while (s < TCP_MAX_WINSHIFT && TCP_MAXWIN * 2 ** s < hiwat) s++;
  return s;
}

/** A fresh TCB in CLOSED state (`tcp_newtcpcb`); the caller sets the state. `mss` overrides `opts.mss`. */
export function tcpNewTcpcb(
  e: TcpEngine, laddr: number, lport: number, faddr: number, fport: number, opts?: TcpConnOptions, mss?: number,
): TcpCb {
  const tp = new TcpCb(e, laddr, lport, faddr, fport);
  const cfg = e.config;
  if (opts) {
    if (opts.so !== undefined) tp.so = opts.so;
    if (opts.sndbuf !== undefined) tp.snd_hiwat = opts.sndbuf;
    if (opts.rcvbuf !== undefined) tp.rcv_hiwat = opts.rcvbuf;
    if (opts.nodelay) tp.t_flags |= TF.NODELAY;
    if (opts.keepalive) tp.t_flags |= TF.KEEPALIVE;
    if (opts.iwSegs !== undefined && opts.iwSegs >= 4) tp.t_iwsegs = opts.iwSegs;
  }
  if (cfg.alwaysKeepalive) tp.t_flags |= TF.KEEPALIVE;
  tp.t_mssopt = Math.max(TCP_MINMSS, Math.min(mss ?? opts?.mss ?? cfg.mss, 65535));
  tp.t_maxopd = tp.t_mssopt;
  tp.t_maxseg = Math.min(tp.t_maxopd, cfg.mssdflt);
  if (cfg.rfc1323) {
    tp.t_flags |= TF.REQ_SCALE | TF.REQ_TSTMP;
    tp.request_r_scale = tcpRcvScale(tp.rcv_hiwat);
  }
  if (cfg.sack) tp.t_flags |= TF.REQ_SACK;
  // RFC 6298: RTO = SRTT + 4·RTTVAR; with no sample SRTT = 0 and t_rttvar (4·RTTVAR) = the base.
  tp.t_srtt = 0;
  tp.t_rttvar = cfg.rtoBase;
  tp.t_rxtcur = cfg.rtoBase;
  tp.snd_cwnd = 0x3fffffff;
  tp.snd_ssthresh = 0x3fffffff;
  tp.t_rcvtime = e.now;
  tp.ts_offset = tcpTupleHash(e.tsSecret, tp.laddr, lport, tp.faddr, fport);
  return tp;
}

/** Sets ISS and the send sequence variables from it. */
export function tcpSendSeqInit(tp: TcpCb, iss: number): void {
  tp.iss = iss | 0;
  tp.snd_una = tp.snd_nxt = tp.snd_max = tp.snd_recover = tp.rexmt_high = tp.iss;
}

/** Sets IRS and the receive sequence variables from it. */
export function tcpRcvSeqInit(tp: TcpCb, irs: number): void {
  tp.irs = irs | 0;
  tp.rcv_nxt = tp.rcv_adv = tp.last_ack_sent = (tp.irs + 1) | 0;
}

/**
 * Applies the peer's MSS option (`tcp_mss`): t_maxopd = min(peer (or mssdflt), ours),
 * t_maxseg leaves room for the timestamp option when timestamps are on.
 */
export function tcpMss(tp: TcpCb, peerMss: number | undefined): void {
  const cfg = tp.engine.config;
  let mss = peerMss === undefined || peerMss === 0 ? cfg.mssdflt : peerMss;
  mss = Math.max(TCP_MINMSS, Math.min(mss, tp.t_mssopt));
  tp.t_maxopd = mss;
  tp.t_maxseg = tp.t_flags & TF.RCVD_TSTMP ? mss - TCPOLEN_TSTAMP_APPA : mss;
}

/** RFC 3390 initial window as DragonFly computes it (`tcp_initial_window`). */
export function tcpInitialWindow(tp: TcpCb): number {
  const cfg = tp.engine.config;
  const mss = tp.t_maxseg;
  // DragonFly: 2·MSS once SYN (or SYN|ACK) retransmissions took 3 s or more.
  if (tp.t_rxtsyn >= RTO_AFTER_SYN_RXT) return 2 * mss;
  const maxsegs = tp.t_iwsegs ? tp.t_iwsegs : Math.max(4, cfg.iwMaxSegs);
  const capsegs = tp.t_iwsegs ? tp.t_iwsegs : Math.max(4, cfg.iwCapSegs);
  return Math.min(maxsegs * mss, Math.max(2 * mss, capsegs * 1460));
}

/** `TCP_REXMTVAL`: max(rexmit_min, SRTT + max(G, 4·RTTVAR)) (ms), before backoff and slop. */
export function tcpRexmtval(tp: TcpCb): number {
  const v = (tp.t_srtt >> 3) + Math.max(1, tp.t_rttvar);
  const min = tp.engine.config.rexmitMin;
  return v < min ? min : v;
}

/** `TCPT_RANGESET`: value + slop, clamped to [lo, rexmitMax]. */
export function tcpRangeset(tp: TcpCb, value: number, lo: number): number {
  const cfg = tp.engine.config;
  const v = value + cfg.rexmitSlop;
  return v < lo ? lo : v > cfg.rexmitMax ? cfg.rexmitMax : v;
}

/**
 * Feeds one RTT measurement (ms) into the estimator (`tcp_xmit_timer`, RFC 6298 §2);
 * `ack` is the acknowledgment that gave it. After a spurious timeout, the first sample
 * for data sent after it rebases the estimator (RFC 4015 §2 step 6: SRTT ← max(SRTT_prev,
 * R'), RTTVAR ← max(RTTVAR_prev, R'/2)) and keeps the RTO above the one that fired.
 */
export function tcpXmitTimer(tp: TcpCb, rtt: number, ack?: number): void {
  const e = tp.engine;
  e.stats.rttupdated++;
  if (rtt < 1) rtt = 1;
  let rebase = false;
  if (tp.rxt_flags & TRXT.REBASERTO && ack !== undefined && SEQ_GT(ack, tp.snd_max_prev)) {
    e.stats.eifelresponse++;
    rebase = true;
    tp.rxt_flags &= ~TRXT.REBASERTO;
    tp.t_srtt = Math.max(tp.t_srtt_prev, rtt << 3);
    tp.t_rttvar = Math.max(tp.t_rttvar_prev, rtt << 1);
  } else if (tp.t_srtt !== 0) {
    // srtt is kept ×8 and rttvar ×4: SRTT += (R − SRTT)/8; RTTVAR += (|R − SRTT| − RTTVAR)/4
    const delta = rtt - (tp.t_srtt >> 3);
    tp.t_srtt += delta;
    if (tp.t_srtt <= 0) tp.t_srtt = 1;
    tp.t_rttvar += Math.abs(delta) - (tp.t_rttvar >> 2);
    if (tp.t_rttvar <= 0) tp.t_rttvar = 1;
  } else {
    tp.t_srtt = rtt << 3;
    tp.t_rttvar = rtt << 1;
  }
  tp.t_rtttime = -1;
  tp.t_rxtshift = 0;
  tp.t_rxtcur = tcpRangeset(tp, tcpRexmtval(tp), Math.max(e.config.rexmitMin, rtt + 2));
  if (rebase && tp.t_rxtcur < tp.t_rxtcur_prev + TCP_EIFEL_RTOINC) tp.t_rxtcur = tp.t_rxtcur_prev + TCP_EIFEL_RTOINC;
}

/** Moves a TCB to ESTABLISHED (`tcp_established` plus the bookkeeping around it). */
export function tcpEstablished(tp: TcpCb): void {
  const e = tp.engine;
  tp.t_state = TcpState.ESTABLISHED;
  e.stats.connects++;
  tp.t_ecnrecover = tp.snd_una;
  if (tp.t_flags & TF.ECN_PERMIT) e.stats.ecn_shs++;
  if (tp.t_flags & TF.PASSIVE) e.stats.accepts++;
  tp.snd_cwnd = tcpInitialWindow(tp);
  // RFC 6298 §5.7: a retransmitted SYN means an RTO of at least 3 s once data flows.
  if (tp.t_rxtsyn > 0 && tp.t_rxtcur < RTO_AFTER_SYN_RXT) tp.t_rxtcur = RTO_AFTER_SYN_RXT;
  if (tp.t_flags & TF.KEEPALIVE) tcpTimerSet(tp, TcpTimer.KEEP, e.config.keepIdle);
  else tcpTimerStop(tp, TcpTimer.KEEP);
  if (tp.t_flags & TF.NEEDFIN) {
    tp.t_flags &= ~TF.NEEDFIN;
    tp.t_state = TcpState.FIN_WAIT_1;
  }
  if (!(tp.t_flags & TF.ESTEVENT)) {
    tp.t_flags |= TF.ESTEVENT;
    e.emit(tp, TcpEvent.ESTABLISHED, null);
  }
}

/**
 * Drops a connection with an error (`tcp_drop`): a RST goes out if the peer knows
 * of us (we received its SYN), RESET is reported, then the TCB is released. A
 * timeout reports the last ICMP error instead, when there was one (t_softerror).
 */
export function tcpDrop(tp: TcpCb, err: TcpErrno): void {
  const e = tp.engine;
  if (tp.t_state === TcpState.CLOSED) return;
  if (err === TcpErrno.ETIMEDOUT && tp.t_softerror !== null) err = tp.t_softerror;
  if (tp.t_state >= TcpState.SYN_RECEIVED) {
    tcpRespond(tp, tp.snd_nxt, tp.rcv_nxt, TcpFlags.RST | TcpFlags.ACK);
  }
  if (tp.t_state >= TcpState.ESTABLISHED) e.stats.drops++;
  else e.stats.conndrops++;
  tcpReset(tp, err);
}

/** Ends a connection the peer reset or that failed (no RST sent): RESET then CLOSED. */
export function tcpReset(tp: TcpCb, err: TcpErrno): void {
  const e = tp.engine;
  tp.t_error = err;
  tp.t_flags |= TF.CANTRCVMORE | TF.CANTSENDMORE;
  if (tp.rcv_sb) tp.rcv_sb = null;
  if (!(tp.t_flags & TF.NOFDREF)) e.emit(tp, TcpEvent.RESET, err);
  tcpClose(tp);
}

/** Releases a TCB (`tcp_close`): timers off, buffers freed, CLOSED reported once. */
export function tcpClose(tp: TcpCb): void {
  const e = tp.engine;
  tcpCancelTimers(tp);
  tp.t_state = TcpState.CLOSED;
  tp.snd_sb = null;
  tp.t_reass = null;
  tp.t_scb = null;
  if (tp.t_flags & TF.NOFDREF) tp.rcv_sb = null;
  tp.t_flags |= TF.CANTSENDMORE;
  if (!(tp.t_flags & TF.CLOSEDEVENT)) {
    tp.t_flags |= TF.CLOSEDEVENT;
    e.stats.closed++;
    e.emit(tp, TcpEvent.CLOSED, tp.t_error);
  }
}

/** Enters TIME_WAIT: every timer but 2MSL stops (`tcp_canceltimers` + 2MSL). */
export function tcpTimeWait(tp: TcpCb): void {
  tp.t_state = TcpState.TIME_WAIT;
  tcpCancelTimers(tp);
  tcpTimerSet(tp, TcpTimer.TWOMSL, 2 * tp.engine.config.msl);
  tp.snd_sb = null;
  tp.t_reass = null;
  tp.t_scb = null;
}

// ---------------------------------------------------------------------------------
// ICMP errors (tcp_ctlinput)

/** What an ICMP error means to TCP (BSD's PRC_* commands that tcp_ctlinput acts on). */
export const TcpCtl = {
  /** Net/host unreachable and the like: a soft error (`tcp_notify`). */
  UNREACH: 0,
  /** Port or administratively prohibited unreachable: aborts a SYN_SENT connection (`tcp_drop_syn_sent`). */
  UNREACH_PORT: 1,
  /** Fragmentation needed and DF set (PRC_MSGSIZE): `tcp_mtudisc`. */
  MSGSIZE: 2,
  /** Time exceeded in transit: as UNREACH_PORT (`icmp_may_rst`). */
  TIMXCEED: 3,
  /** Parameter problem: a soft error. */
  PARAMPROB: 4,
} as const;
export type TcpCtl = (typeof TcpCtl)[keyof typeof TcpCtl];

/** ICMP type and code → TcpCtl, or -1 for what TCP ignores (source quench, redirects, informational types). */
export function tcpCtlOf(type: number, code: number): TcpCtl | -1 {
  switch (type) {
    case 3:
      if (code === 4) return TcpCtl.MSGSIZE;
      if (code === 2 || code === 3 || code === 9 || code === 10 || code === 13) return TcpCtl.UNREACH_PORT;
      return code <= 15 ? TcpCtl.UNREACH : -1;
    case 11:
      return code === 0 ? TcpCtl.TIMXCEED : -1;
    case 12:
      return TcpCtl.PARAMPROB;
    default:
      return -1;
  }
}

/** RFC 1191 §7 plateaus, for a frag-needed message from a router that leaves the next-hop MTU 0 (`ip_next_mtu`). */
const MTU_PLATEAUS = [65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68];

/** The next plateau below `iplen` (the quoted datagram's length). */
export function ipNextMtu(iplen: number): number {
  for (const p of MTU_PLATEAUS) if (p < iplen) return p;
  return 68;
}

/**
 * `tcp_ctlinput` once the connection is found: acts only when the quoted sequence number is
 * one we have sent and not had acknowledged (snd_una ≤ seq < snd_max), so a forged error for
 * old or unsent data does nothing (RFC 5927 §4.1). Returns what it did.
 */
export function tcpCtlinput(tp: TcpCb, ctl: TcpCtl, seq: number, nextMtu: number, quotedIpLen: number): "ignored" | "mtu" | "dropped" | "softerror" {
  const s = seq | 0;
  if (((s - tp.snd_una) | 0) < 0 || ((s - tp.snd_max) | 0) >= 0) return "ignored";
  const cfg = tp.engine.config;
  switch (ctl) {
    case TcpCtl.MSGSIZE:
      if (!cfg.pathMtuDiscovery) return "ignored";
      return tcpMtudisc(tp, nextMtu > 0 ? nextMtu : ipNextMtu(quotedIpLen)) ? "mtu" : "ignored";
    case TcpCtl.UNREACH_PORT:
    case TcpCtl.TIMXCEED:
      if (cfg.icmpMayRst && tp.t_state === TcpState.SYN_SENT) {
        tcpDrop(tp, ctl === TcpCtl.TIMXCEED ? TcpErrno.EHOSTUNREACH : TcpErrno.ECONNREFUSED);
        return "dropped";
      }
      return tcpNotify(tp, ctl === TcpCtl.TIMXCEED ? TcpErrno.EHOSTUNREACH : TcpErrno.ECONNREFUSED);
    case TcpCtl.PARAMPROB:
      return tcpNotify(tp, TcpErrno.ENOPROTOOPT);
    default:
      return tcpNotify(tp, TcpErrno.EHOSTUNREACH);
  }
}

/**
 * `tcp_notify`: an established connection ignores unreachables (RFC 1122 §4.2.3.9: they are
 * soft); one still opening is dropped once it has retransmitted more than 3 times and already
 * had an error; otherwise the error is kept to report if the connection times out.
 */
function tcpNotify(tp: TcpCb, err: TcpErrno): "dropped" | "softerror" | "ignored" {
  if (tp.t_state === TcpState.ESTABLISHED && err === TcpErrno.EHOSTUNREACH) return "ignored";
  if (tp.t_state < TcpState.ESTABLISHED && tp.t_rxtshift > 3 && tp.t_softerror !== null) {
    tcpDrop(tp, err);
    return "dropped";
  }
  tp.t_softerror = err;
  return "softerror";
}

/**
 * `tcp_mtudisc` (RFC 1191 §6.2): the path MTU fell to `mtu`, so segments shrink to
 * mtu − 40 (less the timestamp option when in use), never below TCP_MINMSS; everything
 * unacknowledged goes again at the new size now (tcps_mturesent). False when the MSS
 * does not fall.
 */
export function tcpMtudisc(tp: TcpCb, mtu: number): boolean {
  const maxopd = Math.max(TCP_MINMSS, mtu - 40);
  if (maxopd >= tp.t_maxopd) return false;
  tp.t_maxopd = maxopd;
  const mss = tp.t_flags & TF.RCVD_TSTMP ? maxopd - TCPOLEN_TSTAMP_APPA : maxopd;
  tp.t_maxseg = mss;
  tp.engine.stats.mturesent++;
  tp.t_rtttime = -1;
  tp.snd_nxt = tp.snd_una;
  tcpOutput(tp);
  return true;
}
