/**
 * Segment output (sys/netinet/tcp_output.c `tcp_output()`, and `tcp_respond()` from
 * tcp_subr.c): decides whether and what to send — data within min(snd_wnd, cwnd),
 * Nagle, FIN, window updates, ACKs, SYNs — and builds the segment with its options
 * (MSS, window scale, SACK-permitted, timestamps, SACK blocks). During SACK loss
 * recovery the RFC 6675 transmission rules pick the segments (tcp_sack.ts).
 *
 * Segments leave through the engine's `output` callback as TcpSeg values.
 */
import { TcpFlags, type SackBlock, type TcpOptions } from "./tcp.js";
import { SEQ_GEQ, SEQ_GT, SEQ_LEQ, SEQ_LT, SEQ_MAX } from "./tcp_seq.js";
import { tcpSackHigh, tcpSackNextRexmit, tcpSackPipe, tcpSackRxtThresh } from "./tcp_sack.js";
import { TCP_MAXWIN, tcpInitialWindow } from "./tcp_subr.js";
import { tcpSetPersist, tcpTimerActive, tcpTimerSet, tcpTimerStop, TcpTimer } from "./tcp_timer.js";
import { TcpState, TF, TRXT, TSACK, type TcpCb, type TcpSeg } from "./tcp_var.js";
import type { TcpEngine } from "./tcp_engine.js";

const EMPTY = new Uint8Array(0);
/** The ECN field's ECT(0) codepoint (RFC 3168 §5). */
const IPTOS_ECN_ECT0 = 0x02;
/** Upper bound on segments one tcp_output() call may emit (a runaway guard; windows bound it first). */
const OUTPUT_BURST_MAX = 1 << 16;

/** The timestamp clock of a connection (ms + per-connection offset, RFC 7323 §5.4). */
export function tcpTsNow(tp: TcpCb): number {
  return (tp.engine.now + tp.ts_offset) | 0;
}

/**
 * Receive window to offer, in bytes (sbspace with receiver SWS avoidance, capped
 * by what the scale can express, never shrinking what was already advertised).
 */
export function tcpRcvWindow(tp: TcpCb): number {
  let space = tp.rcv_hiwat - tp.rcvCc;
  if (space < 0) space = 0;
  if (space < tp.rcv_hiwat / 4 && space < tp.t_maxseg) space = 0;
  const max = TCP_MAXWIN * 2 ** tp.rcv_scale;
  if (space > max) space = max;
  const adv = (tp.rcv_adv - tp.rcv_nxt) | 0;
  if (space < adv) space = adv;
  return space;
}

/**
 * Options of a non-SYN segment: timestamps and, while data is out of order, SACK blocks.
 * The engine's own options object when it lends segments and they are not out.
 */
function dataOptions(tp: TcpCb): TcpOptions | undefined {
  const ts = (tp.t_flags & TF.RCVD_TSTMP) !== 0;
  let sack: SackBlock[] | undefined;
  if (tp.t_flags & TF.SACK_PERMITTED && (tp.sack_flags & TSACK.DSACKPEND || (tp.t_reass && tp.t_reass.segs.length))) {
    const max = ts ? 3 : 4;
    sack = [];
    // A D-SACK block goes first, once (RFC 2883 §4); the usual blocks follow.
    if (tp.sack_flags & TSACK.DSACKPEND) {
      tp.sack_flags &= ~TSACK.DSACKPEND;
      sack.push({ start: tp.t_dsack_start >>> 0, end: tp.t_dsack_end >>> 0 });
      tp.engine.stats.snddsackopt++;
    }
    if (tp.t_reass && tp.t_reass.segs.length) {
      const b = tp.t_reass.sackBlocks(max - sack.length);
      const first = sack.length;
      for (let i = 0; i < b.length; i += 2) sack.push({ start: b[i] >>> 0, end: b[i + 1] >>> 0 });
      // A D-SACK of out-of-order data: the block that holds it comes second (RFC 2883 §4).
      if (first === 1) {
        const d = sack[0];
        const k = sack.findIndex((x, i) => i > 0 && SEQ_LEQ(x.start | 0, d.start | 0) && SEQ_GEQ(x.end | 0, d.end | 0));
        if (k > 1) sack.splice(1, 0, ...sack.splice(k, 1));
      }
    }
    if (sack.length) {
      tp.engine.stats.sack_send_blocks += sack.length;
      tp.engine.stats.sndsackopt++;
    } else sack = undefined;
  }
  if (!ts && !sack) return undefined;
  const e = tp.engine;
  if (e.txSeg !== null && !e.txLent) {
    const o = e.txOpts;
    if (ts) {
      const t = e.txTs;
      t.val = tcpTsNow(tp) >>> 0;
      t.ecr = tp.ts_recent >>> 0;
      o.timestamp = t;
    } else o.timestamp = undefined;
    o.sack = sack;
    return o;
  }
  const o: TcpOptions = {};
  if (ts) o.timestamp = { val: tcpTsNow(tp) >>> 0, ecr: tp.ts_recent >>> 0 };
  if (sack) o.sack = sack;
  return o;
}

/**
 * The segment to fill for output: the engine's own, lent to `output` for the call
 * (`emit` takes it back), when it lends segments and it is not out already (output inside
 * output: a synchronous wire); otherwise a new one.
 */
function txSeg(e: TcpEngine): TcpSeg {
  const s = e.txSeg;
  if (s !== null && !e.txLent) {
    e.txLent = true;
    return s;
  }
  return { src: 0, dst: 0, sport: 0, dport: 0, seq: 0, ack: 0, flags: 0, window: 0, payload: EMPTY, tos: 0 };
}

function optionsLength(o: TcpOptions | undefined): number {
  if (!o) return 0;
  return (o.timestamp ? 12 : 0) + (o.sack ? 4 + 8 * o.sack.length : 0);
}

/** Records that an ACK for rcv_nxt with window `win` (field value) went out. */
function ackSent(tp: TcpCb, win: number): void {
  tp.last_ack_sent = tp.rcv_nxt;
  const advEnd = (tp.rcv_nxt + win * 2 ** tp.rcv_scale) | 0;
  if (SEQ_GT(advEnd, tp.rcv_adv)) tp.rcv_adv = advEnd;
  if (win === 0) tp.t_flags |= TF.RXWIN0SENT;
  else tp.t_flags &= ~TF.RXWIN0SENT;
  tp.t_flags &= ~(TF.ACKNOW | TF.DELACK);
  tcpTimerStop(tp, TcpTimer.DELACK);
}

function emit(e: TcpEngine, seg: TcpSeg, tp: TcpCb | null): void {
  e.stats.sndtotal++;
  if (seg !== e.txSeg) {
    e.output(seg, tp);
    return;
  }
  try {
    e.output(seg, tp);
  } finally {
    seg.payload = EMPTY;
    seg.options = undefined;
    e.txLent = false;
  }
}

/**
 * Sends one non-SYN segment of `len` bytes from the send buffer at `seq` with
 * `flags`; `opts` are the options already computed for it. Does not move snd_nxt.
 */
function tcpXmit(tp: TcpCb, seq: number, len: number, flags: number, opts: TcpOptions | undefined): void {
  let payload = len > 0 && tp.snd_sb ? tp.snd_sb.peek((seq - tp.snd_una) | 0, len) : EMPTY;
  const win = Math.min(Math.floor(tcpRcvWindow(tp) / 2 ** tp.rcv_scale), TCP_MAXWIN);
  const seg = txSeg(tp.engine);
  // A segment not lent (output within output) may be kept: its bytes must not change.
  if (seg !== tp.engine.txSeg && tp.snd_sb?.transient && payload.length > 0) payload = Uint8Array.prototype.slice.call(payload);
  seg.src = tp.laddr;
  seg.dst = tp.faddr;
  seg.sport = tp.lport;
  seg.dport = tp.fport;
  seg.seq = seq >>> 0;
  seg.ack = flags & TcpFlags.ACK ? tp.rcv_nxt >>> 0 : 0;
  let tos = 0;
  if (tp.t_flags & TF.ECN_PERMIT) {
    // RFC 3168 §6.1: ECE on what we send until the peer's CWR; new data is ECT(0) and the
    // first of it after a reduction carries CWR; retransmissions and pure ACKs are not ECT (§6.1.5).
    if (tp.t_flags & TF.ECN_SND_ECE) flags |= TcpFlags.ECE;
    if (len > 0 && SEQ_GEQ(seq, tp.snd_max) && !(tp.t_flags & TF.FORCE)) {
      tos = IPTOS_ECN_ECT0;
      tp.engine.stats.ecn_ect0++;
      if (tp.t_flags & TF.ECN_SND_CWR) {
        flags |= TcpFlags.CWR;
        tp.t_flags &= ~TF.ECN_SND_CWR;
      }
    }
  }
  seg.tos = tos;
  seg.flags = flags;
  seg.window = win;
  seg.payload = payload;
  if (opts) seg.options = opts;
  if (flags & TcpFlags.ACK) ackSent(tp, win);
  emit(tp.engine, seg, tp);
}

/** SYN or SYN|ACK with the options of `tcp_output()` for SYN segments. */
function tcpXmitSyn(tp: TcpCb): void {
  const e = tp.engine;
  const withAck = tp.t_state === TcpState.SYN_RECEIVED;
  const o: TcpOptions = { mss: tp.t_mssopt };
  if (tp.t_flags & TF.REQ_SCALE && (!withAck || tp.t_flags & TF.RCVD_SCALE)) o.wscale = tp.request_r_scale;
  if (withAck ? tp.t_flags & TF.SACK_PERMITTED : tp.t_flags & TF.REQ_SACK) o.sackPermitted = true;
  if (tp.t_flags & TF.REQ_TSTMP && (!withAck || tp.t_flags & TF.RCVD_TSTMP)) {
    o.timestamp = { val: tcpTsNow(tp) >>> 0, ecr: withAck ? tp.ts_recent >>> 0 : 0 };
  }
  // The window of a SYN is never scaled (RFC 7323 §2.2).
  const win = Math.min(tcpRcvWindow(tp), TCP_MAXWIN);
  // ECN setup (RFC 3168 §6.1.1): SYN with ECE|CWR (not after the third try, like the RFC 7323
  // options: a middlebox may drop them), SYN|ACK with ECE when the SYN asked.
  let ecn = 0;
  if (withAck) ecn = tp.t_flags & TF.ECN_PERMIT ? TcpFlags.ECE : 0;
  else if (e.config.ecn && tp.t_rxtshift < 3) ecn = TcpFlags.ECE | TcpFlags.CWR;
  const seg: TcpSeg = {
    src: tp.laddr, dst: tp.faddr, sport: tp.lport, dport: tp.fport,
    seq: tp.iss >>> 0, ack: withAck ? tp.rcv_nxt >>> 0 : 0,
    flags: (withAck ? TcpFlags.SYN | TcpFlags.ACK : TcpFlags.SYN) | ecn,
    window: win, options: o, payload: EMPTY,
  };
  e.stats.sndctrl++;
  if (withAck) {
    tp.last_ack_sent = tp.rcv_nxt;
    const advEnd = (tp.rcv_nxt + win) | 0;
    if (SEQ_GT(advEnd, tp.rcv_adv)) tp.rcv_adv = advEnd;
    tp.t_flags &= ~(TF.ACKNOW | TF.DELACK);
    tcpTimerStop(tp, TcpTimer.DELACK);
  }
  emit(e, seg, tp);
}

/** Output in SYN_SENT / SYN_RECEIVED: only the SYN (or SYN|ACK) and its retransmissions. */
function outputSyn(tp: TcpCb): void {
  const e = tp.engine;
  if (tp.snd_nxt === tp.iss) {
    tcpXmitSyn(tp);
    tp.snd_nxt = (tp.iss + 1) | 0;
    if (SEQ_GT(tp.snd_nxt, tp.snd_max)) {
      tp.snd_max = tp.snd_nxt;
      if (tp.t_rtttime < 0) {
        tp.t_rtttime = e.now;
        tp.t_rtseq = tp.iss;
        e.stats.segstimed++;
      }
    }
    if (!tcpTimerActive(tp, TcpTimer.REXMT)) tcpTimerSet(tp, TcpTimer.REXMT, tp.t_rxtcur);
  } else if (tp.t_state === TcpState.SYN_RECEIVED && tp.t_flags & TF.ACKNOW) {
    tcpXmitSyn(tp);
  }
}

/**
 * RFC 6675 §5 transmission during SACK loss recovery: while cwnd − pipe ≥ 1 SMSS,
 * NextSeg() rule 1 (lost holes), rule 2 (new data), rule 3 (other holes).
 */
function tcpSackOutput(tp: TcpCb): void {
  const e = tp.engine;
  for (let guard = 0; guard < OUTPUT_BURST_MAX; guard++) {
    if (tp.snd_cwnd - tcpSackPipe(tp) < tp.t_maxseg) return;
    let r = tcpSackNextRexmit(tp, true);
    if (!r) {
      const cc = tp.sndCc;
      const dataEnd = (tp.snd_una + cc) | 0;
      const newAvail = (dataEnd - tp.snd_max) | 0;
      const winAvail = (tp.snd_una + tp.snd_wnd - tp.snd_max) | 0;
      const opts = newAvail > 0 && winAvail > 0 ? dataOptions(tp) : undefined;
      const n = Math.min(newAvail, winAvail, tp.t_maxopd - optionsLength(opts));
      if (n > 0) {
        tp.snd_nxt = tp.snd_max;
        let flags = TcpFlags.ACK;
        if (((tp.snd_max + n) | 0) === dataEnd) flags |= TcpFlags.PSH;
        e.stats.sndpack++;
        e.stats.sndbyte += n;
        tcpXmit(tp, tp.snd_max, n, flags, opts);
        tp.snd_nxt = tp.snd_max = (tp.snd_max + n) | 0;
        if (!tcpTimerActive(tp, TcpTimer.REXMT)) tcpTimerSet(tp, TcpTimer.REXMT, tp.t_rxtcur);
        continue;
      }
      r = tcpSackNextRexmit(tp, false);
      if (!r) {
        tcpSackRescue(tp);
        return;
      }
    }
    tcpSackRexmit(tp, r[0], r[1]);
  }
}

/**
 * RFC 6675 §4 NextSeg() rule 4, the rescue retransmission: when rules 1–3 find nothing,
 * once per recovery episode (HighACK > RescueRxt), one segment that includes the highest
 * outstanding unSACKed octet, so that a lost tail is repaired without a timeout. RescueRxt
 * becomes RecoveryPoint; HighRxt does not move.
 */
function tcpSackRescue(tp: TcpCb): void {
  const e = tp.engine;
  if (!e.config.rescueSack || tp.sack_flags & TSACK.SACKRESCUED) return;
  e.stats.sackrescue_try++;
  const dataEnd = (tp.snd_una + tp.sndCc) | 0;
  const top = SEQ_LT(tp.snd_max, dataEnd) ? tp.snd_max : dataEnd;
  const high = tcpSackHigh(tp);
  // The highest unSACKed data: above the last SACK block, else the top of the last hole.
  let start = high;
  let end = top;
  const scb = tp.t_scb;
  if (!SEQ_LT(high, top) && scb) {
    end = scb[scb.length - 2];
    start = scb.length > 2 ? scb[scb.length - 3] : tp.snd_una;
  }
  // Data below HighRxt went out again already in this episode: the rescue is for the tail.
  if (SEQ_LT(start, tp.rexmt_high)) start = tp.rexmt_high;
  if (!SEQ_LT(start, end)) return;
  if (((end - start) | 0) > tp.t_maxseg) start = (end - tp.t_maxseg) | 0;
  tp.sack_flags |= TSACK.SACKRESCUED;
  tp.rexmt_rescue = tp.snd_recover;
  e.stats.sackrescue++;
  tcpSackRexmit(tp, start, (end - start) | 0, true);
}

/**
 * Retransmits [seq, seq+len) during SACK recovery (at most one segment) and moves
 * HighRxt past it; the FIN rides along when the range ends where the data ends.
 */
export function tcpSackRexmit(tp: TcpCb, seq: number, len: number, rescue = false): void {
  const e = tp.engine;
  const opts = dataOptions(tp);
  len = Math.min(len, tp.t_maxopd - optionsLength(opts));
  const end = (seq + len) | 0;
  let flags = TcpFlags.ACK;
  if (tp.t_flags & TF.SENTFIN && end === ((tp.snd_una + tp.sndCc) | 0) && SEQ_GT(tp.snd_max, end)) flags |= TcpFlags.FIN;
  e.stats.sack_rexmits++;
  e.stats.sack_rexmit_bytes += len;
  e.stats.sndrexmitpack++;
  e.stats.sndrexmitbyte += len;
  if (tp.rxt_flags & TRXT.DSACKEP) tp.t_rxtbytes += len;
  tcpXmit(tp, seq, len, flags, opts);
  if (!rescue) tp.rexmt_high = SEQ_MAX(tp.rexmt_high, flags & TcpFlags.FIN ? (end + 1) | 0 : end);
  if (!tcpTimerActive(tp, TcpTimer.REXMT)) tcpTimerSet(tp, TcpTimer.REXMT, tp.t_rxtcur);
}

/** One pass of tcp_output() in a synchronized state; true when it should run again. */
function outputOnce(tp: TcpCb, idle: boolean): boolean {
  const e = tp.engine;
  const cfg = e.config;
  const st = tp.t_state;
  const sb = tp.snd_sb;
  const cc = sb ? sb.cc : 0;
  const una = tp.snd_una;
  const dataEnd = (una + cc) | 0;
  const finState = st === TcpState.FIN_WAIT_1 || st === TcpState.CLOSING || st === TcpState.LAST_ACK;
  const recovery = (tp.t_flags & (TF.FASTRECOVERY | TF.SACK_PERMITTED)) === (TF.FASTRECOVERY | TF.SACK_PERMITTED);
  const force = (tp.t_flags & TF.FORCE) !== 0;
  let off = (tp.snd_nxt - una) | 0;

  let cwnd = tp.snd_cwnd;
  // Limited transmit (RFC 3042): one more segment per duplicate ACK below the threshold.
  const ncr = cfg.ncr && (tp.t_flags & TF.SACK_PERMITTED) !== 0;
  if ((cfg.limitedTransmit || ncr) && !(tp.t_flags & TF.FASTRECOVERY) && tp.t_dupacks > 0 && tp.t_dupacks < tcpSackRxtThresh(tp)) {
    cwnd += tp.t_dupacks * tp.t_maxseg;
  }
  let sendwin = Math.min(tp.snd_wnd, cwnd);
  if (force) {
    if (sendwin === 0) sendwin = 1; // probe a zero window with one byte
    else {
      tcpTimerStop(tp, TcpTimer.PERSIST);
      tp.t_rxtshift = 0;
    }
  }

  let len = recovery ? 0 : Math.min(cc, sendwin) - off;
  if (len < 0) {
    len = 0;
    if (sendwin === 0) {
      // The window closed under us: stop retransmitting and probe instead.
      tcpTimerStop(tp, TcpTimer.REXMT);
      tp.t_rxtshift = 0;
      tp.snd_nxt = una;
      off = 0;
      if (!tcpTimerActive(tp, TcpTimer.PERSIST)) tcpSetPersist(tp);
    }
  }
  let sendalot = false;
  if (len > tp.t_maxseg) {
    len = tp.t_maxseg;
    sendalot = true;
  }
  let fin = finState && ((tp.snd_nxt + len) | 0) === dataEnd;

  let send = false;
  let winup = false;
  if (len > 0) {
    if (len === tp.t_maxseg) send = true;
    else if ((idle || tp.t_flags & TF.NODELAY) && off + len >= cc) send = true;
    else if (force) send = true;
    else if (tp.max_sndwnd > 0 && len >= tp.max_sndwnd / 2) send = true;
    else if (SEQ_LT(tp.snd_nxt, tp.snd_max)) send = true;
  }
  if (!send && !(tp.t_flags & TF.CANTRCVMORE)) {
    const recwin = tcpRcvWindow(tp);
    const adv = Math.min(recwin, TCP_MAXWIN * 2 ** tp.rcv_scale) - ((tp.rcv_adv - tp.rcv_nxt) | 0);
    if (adv >= 2 * tp.t_maxseg || 2 * adv >= tp.rcv_hiwat) send = winup = true;
  }
  if (tp.t_flags & TF.ACKNOW) send = true;
  if (fin && (!(tp.t_flags & TF.SENTFIN) || tp.snd_nxt === dataEnd)) send = true;
  if (!send) {
    // Data waiting but nothing can go and nothing is in flight: probe the window.
    if (cc > 0 && !tcpTimerActive(tp, TcpTimer.REXMT) && !tcpTimerActive(tp, TcpTimer.PERSIST)) {
      tp.t_rxtshift = 0;
      tcpSetPersist(tp);
    }
    return false;
  }

  const opts = dataOptions(tp);
  const optlen = optionsLength(opts);
  if (len + optlen > tp.t_maxopd) {
    len = tp.t_maxopd - optlen;
    sendalot = true;
    fin = finState && ((tp.snd_nxt + len) | 0) === dataEnd;
  }
  let flags = TcpFlags.ACK;
  if (fin) flags |= TcpFlags.FIN;
  if (len > 0 && off + len === cc) flags |= TcpFlags.PSH;
  const persisting = tcpTimerActive(tp, TcpTimer.PERSIST);
  const seq = len > 0 || fin || persisting ? tp.snd_nxt : tp.snd_max;

  if (len > 0) {
    if (force && tp.snd_wnd === 0) e.stats.sndprobe++;
    if (SEQ_LT(tp.snd_nxt, tp.snd_max)) {
      e.stats.sndrexmitpack++;
      e.stats.sndrexmitbyte += len;
    } else {
      e.stats.sndpack++;
      e.stats.sndbyte += len;
    }
  } else if (fin) e.stats.sndctrl++;
  else if (tp.t_flags & (TF.ACKNOW | TF.DELACK)) e.stats.sndacks++;
  else if (winup) e.stats.sndwinup++;
  else e.stats.sndacks++;

  tcpXmit(tp, seq, len, flags, opts);

  if (!force || !persisting) {
    const start = tp.snd_nxt;
    let nxt = (tp.snd_nxt + len) | 0;
    if (fin) {
      nxt = (nxt + 1) | 0;
      tp.t_flags |= TF.SENTFIN;
    }
    tp.snd_nxt = nxt;
    if (SEQ_GT(nxt, tp.snd_max)) {
      tp.snd_max = nxt;
      if (tp.t_rtttime < 0) {
        tp.t_rtttime = e.now;
        tp.t_rtseq = start;
        e.stats.segstimed++;
      }
    }
    if (!tcpTimerActive(tp, TcpTimer.REXMT) && tp.snd_nxt !== una) {
      if (tcpTimerActive(tp, TcpTimer.PERSIST)) {
        tcpTimerStop(tp, TcpTimer.PERSIST);
        tp.t_rxtshift = 0;
      }
      tcpTimerSet(tp, TcpTimer.REXMT, tp.t_rxtcur);
    }
  } else {
    // Persist probe: snd_nxt stays, snd_max covers the probe byte.
    if (fin) tp.t_flags |= TF.SENTFIN;
    const xend = (tp.snd_nxt + len + (fin ? 1 : 0)) | 0;
    if (SEQ_GT(xend, tp.snd_max)) tp.snd_max = (tp.snd_nxt + len) | 0;
  }
  return sendalot;
}

/** `tcp_output()`: sends whatever the state, windows and flags allow now. */
export function tcpOutput(tp: TcpCb): void {
  const st = tp.t_state;
  if (st === TcpState.CLOSED || st === TcpState.LISTEN) return;
  if (st === TcpState.SYN_SENT || st === TcpState.SYN_RECEIVED) {
    outputSyn(tp);
    return;
  }
  const e = tp.engine;
  const idle = tp.snd_max === tp.snd_una;
  // RFC 5681 §4.1: after an idle period longer than the RTO, restart from the initial window.
  if (idle && e.now - tp.t_rcvtime >= tp.t_rxtcur) {
    const iw = tcpInitialWindow(tp);
    if (tp.snd_cwnd > iw) tp.snd_cwnd = iw;
  }
  if ((tp.t_flags & (TF.FASTRECOVERY | TF.SACK_PERMITTED)) === (TF.FASTRECOVERY | TF.SACK_PERMITTED)) {
    tcpSackOutput(tp);
  }
  for (let i = 0; i < OUTPUT_BURST_MAX; i++) {
    if (!outputOnce(tp, idle) || tp.t_state === TcpState.CLOSED) break;
  }
}

/**
 * A control segment outside the output machinery (`tcp_respond()`): RSTs,
 * challenge ACKs, keepalive probes. Carries timestamps when the connection uses them.
 */
export function tcpRespond(tp: TcpCb, seq: number, ack: number, flags: number): void {
  const e = tp.engine;
  let options: TcpOptions | undefined;
  if (tp.t_flags & TF.RCVD_TSTMP && !(flags & TcpFlags.RST)) {
    if (e.txSeg !== null && !e.txLent) {
      const t = e.txTs;
      t.val = tcpTsNow(tp) >>> 0;
      t.ecr = tp.ts_recent >>> 0;
      options = e.txOpts;
      options.timestamp = t;
      options.sack = undefined;
    } else options = { timestamp: { val: tcpTsNow(tp) >>> 0, ecr: tp.ts_recent >>> 0 } };
  }
  const win = flags & TcpFlags.RST ? 0 : Math.min(Math.floor(tcpRcvWindow(tp) / 2 ** tp.rcv_scale), TCP_MAXWIN);
  const seg = txSeg(e);
  seg.src = tp.laddr;
  seg.dst = tp.faddr;
  seg.sport = tp.lport;
  seg.dport = tp.fport;
  seg.seq = seq >>> 0;
  seg.ack = flags & TcpFlags.ACK ? ack >>> 0 : 0;
  seg.flags = flags;
  seg.window = win;
  seg.payload = EMPTY;
  if (options) seg.options = options;
  if (flags & TcpFlags.RST) {
    e.stats.sndrst++;
    e.stats.sndctrl++;
  } else e.stats.sndacks++;
  emit(e, seg, tp);
}

/**
 * RST for a segment that matches no connection (`tcp_dropwithreset`, RFC 9293
 * §3.10.7.1): never answer a RST; if the segment has ACK, <SEQ=SEG.ACK><CTL=RST>;
 * otherwise <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>, SYN and FIN counting one each.
 */
export function tcpRespondReset(e: TcpEngine, seg: TcpSeg): boolean {
  if (seg.flags & TcpFlags.RST) return false;
  let out: TcpSeg;
  if (seg.flags & TcpFlags.ACK) {
    out = {
      src: seg.dst, dst: seg.src, sport: seg.dport, dport: seg.sport,
      seq: seg.ack >>> 0, ack: 0, flags: TcpFlags.RST, window: 0, payload: EMPTY,
    };
  } else {
    let len = seg.payload.length;
    if (seg.flags & TcpFlags.SYN) len++;
    if (seg.flags & TcpFlags.FIN) len++;
    out = {
      src: seg.dst, dst: seg.src, sport: seg.dport, dport: seg.sport,
      seq: 0, ack: (seg.seq + len) >>> 0, flags: TcpFlags.RST | TcpFlags.ACK, window: 0, payload: EMPTY,
    };
  }
  e.stats.sndrst++;
  e.stats.sndctrl++;
  emit(e, out, null);
  return true;
}
