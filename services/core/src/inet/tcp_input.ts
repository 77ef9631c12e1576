/**
 * Segment input (sys/netinet/tcp_input.c `tcp_input()`), RFC 9293 §3.10.7 with
 * RFC 5961 (RST/SYN/ACK checks), RFC 7323 (window scaling, timestamps, PAWS),
 * RFC 2018/6675 (SACK and loss recovery), RFC 6582 (NewReno), RFC 5681 (congestion
 * control, delayed ACK), RFC 1337 (RST in TIME_WAIT ignored).
 *
 * The caller has found the connection (INPCB lookup is in_pcb.ts's job) and passes
 * its TCB, or null when there is none (a RST goes back per RFC 9293). LISTEN state
 * processing for callers without a syncache is `tcpListenInput`; the syncache
 * path uses `tcpSynEntryFromSyn`, `tcpSynAckSegment` and `tcpSyncacheSocket`.
 *
 * Nothing here throws on any segment content: each drop is counted under its
 * `tcpstat` name and that name is returned.
 */
import { parsePacket, type PacketParseOptions } from "./packet.js";
import { tcpSegFromFrameFast, TcpRxSeg } from "./tcp_frame.js";
import { TcpFlags, TCP_MAX_WINSHIFT, type TcpDropReason } from "./tcp.js";
import { SEQ_GEQ, SEQ_GT, SEQ_LEQ, SEQ_LT } from "./tcp_seq.js";
import { TcpInputDrop, type TcpStats } from "./tcp_stats.js";
import {
  TcpErrno, TcpEvent, TcpState, TCPS_HAVERCVDFIN, TF, TRXT, TSACK, tcpIsClosed,
  type TcpCb, type TcpConnOptions, type TcpSeg,
} from "./tcp_var.js";
import type { TcpEngine } from "./tcp_engine.js";
import { TcpReassQueue } from "./tcp_reass.js";
import {
  tcpSackBytes, tcpSackClean, tcpSackFirstHoleLost, tcpSackIsDsack, tcpSackNcrThresh, tcpSackRxtThresh, tcpSackUpdate,
} from "./tcp_sack.js";
import { tcpOutput, tcpRespond, tcpRespondReset, tcpSackRexmit, tcpTsNow } from "./tcp_output.js";
import {
  TCP_MAXWIN, tcpClose, tcpEstablished, tcpMss, tcpNewTcpcb, tcpRcvScale, tcpRcvSeqInit, tcpReset,
  tcpSendSeqInit, tcpTimeWait, tcpTupleHash, tcpXmitTimer,
} from "./tcp_subr.js";
import {
  tcpRevertCongestionState, tcpSaveCongestionState, tcpTimerActive, tcpTimerSet, tcpTimerStop, TcpTimer,
} from "./tcp_timer.js";

const EMPTY = new Uint8Array(0);
/** RFC 7323 §5.5: a ts_recent older than 24 days is invalid (TCP_PAWS_IDLE). */
const TCP_PAWS_IDLE = 24 * 24 * 60 * 60 * 1000;
/** Send-buffer low-water mark for WRITABLE (`so_snd.sb_lowat`, MCLBYTES). */
const SNDLOWAT = 2048;
/** ISS step past the old connection when TIME_WAIT is recycled (BSD TCP_ISSINCR order). */
const TW_ISS_STEP = 1 << 17;

/** What tcpInput did: processed ("ok"), TIME_WAIT recycled ("reuse": hand the SYN to the listener), or why it dropped. */
export type TcpInputStatus = "ok" | "reuse" | TcpInputDrop;

// ---------------------------------------------------------------------------------
// decode step

export type TcpDecodeResult =
  | { ok: true; seg: TcpSeg }
  | { ok: false; layer: "ip" | "tcp" | "other"; reason: string };

/**
 * Parses a raw IPv4 frame into a TcpSeg (checksums verified). TCP-level failures
 * (`rcvbadsum`, `rcvshort`, `rcvbadoff`, `badoptions`) are counted in `stats`; IP-level
 * ones are returned for the caller's ipstat. The payload is a view into `frame`.
 */
export function tcpSegFromFrame(frame: Uint8Array, stats?: TcpStats, opts?: PacketParseOptions): TcpDecodeResult {
  if (opts === undefined) {
    const seg = tcpSegFromFrameFast(frame);
    if (seg !== null) return { ok: true, seg };
  }
  const r = parsePacket(frame, opts);
  if (!r.ok) {
    if (r.layer === "tcp" && stats) {
      const reason = r.reason as TcpDropReason;
      stats.rcvtotal++;
      stats[reason]++;
    }
    return { ok: false, layer: r.layer === "tcp" || r.layer === "ip" ? r.layer : "other", reason: r.reason };
  }
  if (r.l4.proto !== "tcp") return { ok: false, layer: "other", reason: r.l4.proto };
  const t = r.l4.tcp;
  const seg: TcpSeg = {
    src: r.ip.src, dst: r.ip.dst, sport: t.sport, dport: t.dport,
    seq: t.seq, ack: t.ack, flags: t.flags, window: t.win,
    payload: frame.subarray(r.l4.payloadOffset, r.l4.payloadOffset + r.l4.payloadLength),
    tos: r.ip.tos,
  };
  const o = t.options;
  if (o.mss !== undefined || o.wscale !== undefined || o.sackPermitted || o.timestamp || o.sack) seg.options = o;
  return { ok: true, seg };
}

// ---------------------------------------------------------------------------------
// helpers

/** Receive window for acceptance tests: max(sbspace, what was advertised). */
function rcvWindow(tp: TcpCb): number {
  let space = tp.rcv_hiwat - tp.rcvCc;
  if (space < 0) space = 0;
  const max = TCP_MAXWIN * 2 ** tp.rcv_scale;
  if (space > max) space = max;
  const adv = (tp.rcv_adv - tp.rcv_nxt) | 0;
  return space > adv ? space : adv;
}

/** RFC 5961 §7: challenge ACKs are rate limited per CPU. */
function tcpChallengeAck(tp: TcpCb): void {
  const e = tp.engine;
  if (!e.challengeAckAllowed()) {
    e.stats.challengeacklimited++;
    return;
  }
  e.stats.sndchallengeack++;
  tcpRespond(tp, tp.snd_nxt, tp.rcv_nxt, TcpFlags.ACK);
}

/** Drop the segment but acknowledge (`dropafterack`). */
function dropAfterAck(tp: TcpCb, reason: TcpInputDrop): TcpInputStatus {
  tp.t_flags |= TF.ACKNOW;
  tcpOutput(tp);
  return reason;
}

function drop(stats: TcpStats, reason: TcpInputDrop): TcpInputStatus {
  stats[reason]++;
  return reason;
}

// ---------------------------------------------------------------------------------
// entry

/**
 * Processes one segment for connection `tp` (or for no connection: `tp` null or
 * CLOSED → RST per RFC 9293 §3.10.7.1). Emits output segments and events through
 * the engine; returns what happened.
 */
export function tcpInput(e: TcpEngine, tp: TcpCb | null, seg: TcpSeg): TcpInputStatus {
  const st = e.stats;
  st.rcvtotal++;
  const flags = seg.flags;
  if ((flags & (TcpFlags.SYN | TcpFlags.FIN)) === (TcpFlags.SYN | TcpFlags.FIN)) return drop(st, TcpInputDrop.rcvsynfin);
  if ((flags & (TcpFlags.SYN | TcpFlags.RST)) === (TcpFlags.SYN | TcpFlags.RST)) return drop(st, TcpInputDrop.rcvsynrst);
  if (!tp || tp.t_state === TcpState.CLOSED || tp.t_state === TcpState.LISTEN) {
    st.noport++;
    tcpRespondReset(e, seg);
    return TcpInputDrop.noport;
  }
  if (tp.t_state === TcpState.SYN_SENT) return synSentInput(tp, seg);
  const prev = tp.t_rcvtime;
  tp.t_rcvtime = e.now;
  const r = synchronizedInput(tp, seg);
  // A segment dropped before the connection accepted anything does not count as life.
  if (r !== "ok" && !tcpIsClosed(tp)) tp.t_rcvtime = prev;
  return r;
}

/** Options of a SYN or SYN|ACK (`tcp_dooptions` with TO_SYN). */
function synOptions(tp: TcpCb, seg: TcpSeg): void {
  const o = seg.options;
  if (o?.wscale !== undefined && tp.t_flags & TF.REQ_SCALE) {
    tp.t_flags |= TF.RCVD_SCALE;
    tp.snd_scale = Math.min(o.wscale, TCP_MAX_WINSHIFT);
    tp.rcv_scale = tp.request_r_scale;
  } else {
    tp.t_flags &= ~TF.REQ_SCALE;
    tp.snd_scale = tp.rcv_scale = 0;
  }
  if (o?.timestamp && tp.t_flags & TF.REQ_TSTMP) {
    tp.t_flags |= TF.RCVD_TSTMP;
    tp.ts_recent = o.timestamp.val | 0;
    tp.ts_recent_age = tp.engine.now;
  } else tp.t_flags &= ~TF.REQ_TSTMP;
  if (o?.sackPermitted && tp.t_flags & TF.REQ_SACK) tp.t_flags |= TF.SACK_PERMITTED;
  // An ECN-setup SYN|ACK has ECE without CWR (RFC 3168 §6.1.1); we asked with ECE|CWR.
  if (tp.engine.config.ecn && (seg.flags & (TcpFlags.SYN | TcpFlags.ACK | TcpFlags.ECE | TcpFlags.CWR)) ===
      (TcpFlags.SYN | TcpFlags.ACK | TcpFlags.ECE)) tp.t_flags |= TF.ECN_PERMIT;
  tcpMss(tp, o?.mss);
}

/** SYN_SENT (RFC 9293 §3.10.7.3). */
function synSentInput(tp: TcpCb, seg: TcpSeg): TcpInputStatus {
  const e = tp.engine;
  const st = e.stats;
  const flags = seg.flags;
  const ack = seg.ack | 0;
  const seq = seg.seq | 0;
  if (flags & TcpFlags.ACK && (SEQ_LEQ(ack, tp.iss) || SEQ_GT(ack, tp.snd_max))) {
    if (!(flags & TcpFlags.RST)) tcpRespondReset(e, seg);
    return drop(st, TcpInputDrop.synsentdrop);
  }
  if (flags & TcpFlags.RST) {
    if (flags & TcpFlags.ACK) {
      st.conndrops++;
      tcpReset(tp, TcpErrno.ECONNREFUSED);
      return "ok";
    }
    return drop(st, TcpInputDrop.synsentdrop);
  }
  if (!(flags & TcpFlags.SYN)) return drop(st, TcpInputDrop.synsentdrop);

  tp.t_rcvtime = e.now;
  synOptions(tp, seg);
  tcpRcvSeqInit(tp, seq);
  // The window of a SYN is not scaled.
  tp.snd_wnd = seg.window;
  tp.max_sndwnd = Math.max(tp.max_sndwnd, seg.window);
  tp.snd_wl1 = seq;
  if (flags & TcpFlags.ACK) {
    const ts = seg.options?.timestamp;
    if (ts && tp.t_flags & TF.RCVD_TSTMP && ts.ecr !== 0) {
      const rtt = (tcpTsNow(tp) - ts.ecr) | 0;
      if (rtt >= 0 && rtt <= e.config.rexmitMax) tcpXmitTimer(tp, rtt, ack);
    } else if (tp.t_rtttime >= 0 && SEQ_GT(ack, tp.t_rtseq)) tcpXmitTimer(tp, e.now - tp.t_rtttime, ack);
    tp.snd_una = ack;
    tp.snd_wl2 = ack;
    if (SEQ_LT(tp.snd_nxt, tp.snd_una)) tp.snd_nxt = tp.snd_una;
    tp.rexmt_high = tp.snd_recover = tp.snd_una;
    tcpTimerStop(tp, TcpTimer.REXMT);
    tp.t_rxtshift = 0;
    tcpEstablished(tp);
    tp.t_flags |= TF.ACKNOW;
    // Data or FIN on a SYN|ACK are processed like any in-order segment.
    if (seg.payload.length) {
      const rw = rcvWindow(tp);
      const data = seg.payload;
      dataInput(tp, (seq + 1) | 0, data, 0, data.length > rw ? rw : data.length, false);
    }
  } else {
    // Simultaneous open: answer with SYN|ACK (same ISS) and wait for its ACK.
    tp.t_state = TcpState.SYN_RECEIVED;
    tp.snd_nxt = tp.iss;
    tcpTimerStop(tp, TcpTimer.REXMT);
    tp.t_flags |= TF.ACKNOW;
  }
  tp.engine.outputSoon(tp);
  return "ok";
}

/** Every state from SYN_RECEIVED on (RFC 9293 §3.10.7.4). */
function synchronizedInput(tp: TcpCb, seg: TcpSeg): TcpInputStatus {
  const e = tp.engine;
  const st = e.stats;
  const cfg = e.config;
  const flags = seg.flags;
  const ack = seg.ack | 0;
  let seq = seg.seq | 0;
  // The payload as pbuf[poff, poff+tlen): a decoded segment's bytes in place, without a view.
  let pbuf: Uint8Array;
  let poff = 0;
  let tlen: number;
  if (seg instanceof TcpRxSeg) {
    pbuf = seg.pbuf;
    poff = seg.poff;
    tlen = seg.plen;
  } else {
    pbuf = seg.payload;
    tlen = pbuf.length;
  }
  let fin = (flags & TcpFlags.FIN) !== 0;
  const o = seg.options;
  const ts = tp.t_flags & TF.RCVD_TSTMP ? o?.timestamp : undefined;
  const state = tp.t_state;

  // RST: exact sequence resets, in-window gets a challenge ACK, anything else is ignored (RFC 5961 §3.2).
  if (flags & TcpFlags.RST) {
    if (state === TcpState.TIME_WAIT) return drop(st, TcpInputDrop.twrst);
    if (seq === tp.rcv_nxt) {
      switch (state) {
        case TcpState.SYN_RECEIVED:
          st.conndrops++;
          tcpReset(tp, TcpErrno.ECONNREFUSED);
          break;
        case TcpState.ESTABLISHED:
        case TcpState.FIN_WAIT_1:
        case TcpState.FIN_WAIT_2:
        case TcpState.CLOSE_WAIT:
          st.drops++;
          tcpReset(tp, TcpErrno.ECONNRESET);
          break;
        default: // CLOSING, LAST_ACK
          tcpClose(tp);
      }
      return "ok";
    }
    const wnd = rcvWindow(tp);
    if (SEQ_GT(seq, tp.rcv_nxt) && SEQ_LT(seq, (tp.rcv_nxt + wnd) | 0)) {
      st.rstchallenge++;
      tcpChallengeAck(tp);
      return TcpInputDrop.rstchallenge;
    }
    return drop(st, TcpInputDrop.badrst);
  }

  // Simultaneous open: the peer's SYN|ACK repeats its SYN (seq = IRS), which we have;
  // drop the SYN octet (BSD's duplicate-SYN trimming) and use the ACK.
  let synDup = false;
  if (flags & TcpFlags.SYN && flags & TcpFlags.ACK && state === TcpState.SYN_RECEIVED && seq === tp.irs) {
    synDup = true;
    seq = (seq + 1) | 0;
  }

  // SYN in a synchronized state.
  if (flags & TcpFlags.SYN && !synDup) {
    if (state === TcpState.TIME_WAIT) {
      // RFC 6191 / BSD: a new SYN with a higher sequence number or a newer timestamp recycles TIME_WAIT.
      const tsv = o?.timestamp;
      if (!(flags & TcpFlags.ACK) &&
          (SEQ_GT(seq, tp.rcv_nxt) || (tsv && tp.t_flags & TF.RCVD_TSTMP && SEQ_GT(tsv.val | 0, tp.ts_recent)))) {
        e.setReuseIss((tp.snd_max + TW_ISS_STEP) | 0, tp.inp_laddr, tp.lport, tp.inp_faddr, tp.fport);
        st.timewaitreuse++;
        tcpClose(tp);
        return "reuse";
      }
    }
    if (state === TcpState.SYN_RECEIVED && seq === tp.irs && !(flags & TcpFlags.ACK)) {
      // The peer retransmitted its SYN: our SYN|ACK was lost. Send it again.
      st.rcvduppack++;
      tp.t_flags |= TF.ACKNOW;
      tcpOutput(tp);
      return TcpInputDrop.rcvduppack;
    }
    st.badsyn++;
    tcpChallengeAck(tp);
    return TcpInputDrop.badsyn;
  }

  if (!(flags & TcpFlags.ACK)) return drop(st, TcpInputDrop.rcvnoack);

  // PAWS (RFC 7323 §5.3).
  if (ts && tp.ts_recent !== 0 && SEQ_LT(ts.val | 0, tp.ts_recent)) {
    if (e.now - tp.ts_recent_age > TCP_PAWS_IDLE) tp.ts_recent = 0;
    else {
      st.pawsdrop++;
      return dropAfterAck(tp, TcpInputDrop.pawsdrop);
    }
  }

  // Trim to the receive window (RFC 9293 first check; BSD's todrop logic).
  const rwnd = rcvWindow(tp);
  tp.rcv_wnd = rwnd;
  let todrop = (tp.rcv_nxt - seq) | 0;
  let dup = false;
  if (todrop > 0) {
    if (todrop > tlen || (todrop === tlen && !fin)) {
      // Complete duplicate: ACK it, but still look at its ACK field.
      if (tlen > 0) tcpDsackReport(tp, seq, (seq + tlen) | 0);
      st.rcvduppack++;
      st.rcvdupbyte += tlen;
      tp.t_flags |= TF.ACKNOW;
      dup = tlen > 0 || fin;
      // A retransmitted FIN in TIME_WAIT restarts the 2MSL wait.
      if (fin && state === TcpState.TIME_WAIT) tcpTimerSet(tp, TcpTimer.TWOMSL, 2 * cfg.msl);
      tlen = 0;
      fin = false;
      seq = tp.rcv_nxt;
    } else {
      tcpDsackReport(tp, seq, tp.rcv_nxt);
      st.rcvpartduppack++;
      st.rcvpartdupbyte += todrop;
      poff += todrop;
      tlen -= todrop;
      seq = tp.rcv_nxt;
    }
  }
  // New data after the application closed: reset the peer.
  if (tp.t_flags & TF.NOFDREF && state > TcpState.CLOSE_WAIT && tlen > 0) {
    st.rcvafterclose++;
    tcpRespondReset(e, seg);
    tcpClose(tp);
    return TcpInputDrop.rcvafterclose;
  }
  todrop = (seq + tlen - ((tp.rcv_nxt + rwnd) | 0)) | 0;
  if (todrop > 0) {
    st.rcvpackafterwin++;
    if (todrop >= tlen) {
      st.rcvbyteafterwin += tlen;
      if (rwnd === 0 && seq === tp.rcv_nxt) {
        // A window probe: ACK it and keep the ACK field.
        st.rcvwinprobe++;
        tp.t_flags |= TF.ACKNOW;
      } else return dropAfterAck(tp, TcpInputDrop.rcvpackafterwin);
    } else st.rcvbyteafterwin += todrop;
    tlen = Math.max(0, tlen - todrop);
    fin = false;
  }

  // SYN_RECEIVED: the ACK must cover our SYN and nothing unsent.
  if (tp.t_state === TcpState.SYN_RECEIVED) {
    if (SEQ_LEQ(ack, tp.iss) || SEQ_GT(ack, tp.snd_max)) {
      tcpRespondReset(e, seg);
      return drop(st, TcpInputDrop.synrcvdbadack);
    }
    if (tp.t_rtttime >= 0 && SEQ_GT(ack, tp.t_rtseq) && !ts) tcpXmitTimer(tp, e.now - tp.t_rtttime, ack);
    tp.snd_una = (tp.iss + 1) | 0;
    if (SEQ_LT(tp.snd_nxt, tp.snd_una)) tp.snd_nxt = tp.snd_una;
    tp.rexmt_high = tp.snd_recover = tp.snd_una;
    tp.snd_wl1 = (seq - 1) | 0; // force the window update below
    tcpTimerStop(tp, TcpTimer.REXMT);
    tp.t_rxtshift = 0;
    tcpEstablished(tp);
  }

  // ACK acceptability (RFC 5961 §5): SND.UNA − MAX.SND.WND ≤ SEG.ACK ≤ SND.MAX.
  if (SEQ_GT(ack, tp.snd_max)) {
    st.rcvacktoomuch++;
    return dropAfterAck(tp, TcpInputDrop.rcvacktoomuch);
  }
  if (SEQ_LT(ack, (tp.snd_una - tp.max_sndwnd) | 0)) {
    st.rcvackold++;
    return dropAfterAck(tp, TcpInputDrop.rcvackold);
  }

  // Record the timestamp to echo (RFC 7323 §4.3), only from an acceptable segment.
  if (ts && SEQ_LEQ(seq, tp.last_ack_sent) && SEQ_LEQ(tp.last_ack_sent, (seq + tlen + (fin ? 1 : 0)) | 0)) {
    tp.ts_recent = ts.val | 0;
    tp.ts_recent_age = e.now;
  }

  // The window of a SYN (here only the simultaneous-open SYN|ACK) is never scaled.
  const tiwin = flags & TcpFlags.SYN ? seg.window : seg.window * 2 ** tp.snd_scale;
  let needOutput = false;
  const sackOpt = o?.sack && tp.t_flags & TF.SACK_PERMITTED ? o.sack : undefined;
  // A D-SACK block reports a duplicate the peer received (RFC 2883 §4); it is not a hole report.
  const dsack = sackOpt !== undefined && tcpSackIsDsack(sackOpt, ack);
  if (dsack) tcpDsackInput(tp, sackOpt[0].start | 0, sackOpt[0].end | 0);
  if (SEQ_LEQ(ack, tp.snd_una)) {
    // A duplicate ACK: the same window (RFC 5681), or new SACK information (RFC 6675 §2:
    // Linux's window grows while it holds out-of-order data).
    const sackNew = sackOpt !== undefined ? tcpSackUpdate(tp, sackOpt) : false;
    if (tlen === 0 && !fin && (tiwin === tp.snd_wnd || sackNew) && ack === tp.snd_una && tp.snd_max !== tp.snd_una &&
        tcpTimerActive(tp, TcpTimer.REXMT) && !dup) {
      st.rcvdupack++;
      tcpDupAck(tp, dsack && !sackNew);
    } else if (!(tp.t_flags & TF.FASTRECOVERY)) tp.t_dupacks = 0;
  } else {
    // The echo as int32 (a uint32 above 2^31 passed to a call is a heap number; the RTT is taken mod 2^32).
    if (tcpNewAck(tp, ack, ts ? ts.ecr | 0 : undefined)) return "ok"; // LAST_ACK completed
    if (sackOpt !== undefined) tcpSackUpdate(tp, sackOpt);
    needOutput = true;
  }
  if (tp.t_flags & TF.ECN_PERMIT) tcpEcnInput(tp, flags, seg.tos ?? 0, tlen);

  // Window update (RFC 9293 §3.10.7.4, sixth check under ACK).
  if (SEQ_LT(tp.snd_wl1, seq) || (tp.snd_wl1 === seq && (SEQ_LT(tp.snd_wl2, ack) || (tp.snd_wl2 === ack && tiwin > tp.snd_wnd)))) {
    if (tp.snd_wl2 === ack && tiwin > tp.snd_wnd) st.rcvwinupd++;
    if (tiwin !== tp.snd_wnd) needOutput = true;
    tp.snd_wnd = tiwin;
    tp.snd_wl1 = seq;
    tp.snd_wl2 = ack;
    if (tiwin > tp.max_sndwnd) tp.max_sndwnd = tiwin;
  }

  // Data and FIN.
  if ((tlen > 0 || fin) && !TCPS_HAVERCVDFIN(tp.t_state) && tp.t_state !== TcpState.CLOSED) {
    dataInput(tp, seq, pbuf, poff, tlen, fin);
  }

  if (tp.t_state !== TcpState.CLOSED && (needOutput || tp.t_flags & TF.ACKNOW)) tp.engine.outputSoon(tp);
  return dup ? TcpInputDrop.rcvduppack : "ok";
}

/** In-order data `b[off, off+tlen)` goes to the receive buffer, the rest to reassembly (`tcp_reass`). */
function dataInput(tp: TcpCb, seq: number, b: Uint8Array, off: number, tlen: number, fin: boolean): void {
  const e = tp.engine;
  const st = e.stats;
  const cfg = e.config;
  let delivered = 0;
  let gotFin = false;
  if (seq === tp.rcv_nxt && !(tp.t_reass && tp.t_reass.segs.length)) {
    if (tlen > 0) {
      if (!tp.rcv_sb) tp.rcv_sb = e.sbGet(false);
      tp.rcv_sb.append(b, off, tlen);
      tp.rcv_nxt = (tp.rcv_nxt + tlen) | 0;
      delivered = tlen;
      st.rcvpack++;
      st.rcvbyte += tlen;
      // Delayed ACK: hold the first segment, ACK the second at once (DELAY_ACK in BSD).
      if (cfg.delayedAck && !tcpTimerActive(tp, TcpTimer.DELACK) && !(tp.t_flags & TF.RXWIN0SENT) &&
          tlen <= tp.t_maxopd && !fin) {
        tp.t_flags |= TF.DELACK;
        tcpTimerSet(tp, TcpTimer.DELACK, cfg.delackTime);
      } else tp.t_flags |= TF.ACKNOW;
    }
    gotFin = fin;
  } else {
    // Out of order, or filling a hole: queue and ACK at once (RFC 5681 §4.2).
    if (!tp.t_reass) tp.t_reass = new TcpReassQueue();
    const q = tp.t_reass;
    if (seq !== tp.rcv_nxt) {
      st.rcvoopack++;
      st.rcvoobyte += tlen;
    }
    const queued = q.insert(seq, tlen === 0 ? EMPTY : off === 0 && tlen === b.length ? b : b.subarray(off, off + tlen), fin);
    // All of it was queued already: a duplicate of out-of-order data (RFC 2883 §4.1.3).
    if (queued === 0 && tlen > 0 && seq !== tp.rcv_nxt) tcpDsackReport(tp, seq, (seq + tlen) | 0);
    tp.t_flags |= TF.ACKNOW;
    for (;;) {
      const s = q.takeAt(tp.rcv_nxt);
      if (!s) break;
      if (s.data.length) {
        if (!tp.rcv_sb) tp.rcv_sb = e.sbGet(false);
        tp.rcv_sb.append(s.data);
        tp.rcv_nxt = (tp.rcv_nxt + s.data.length) | 0;
        delivered += s.data.length;
        st.rcvpack++;
        st.rcvbyte += s.data.length;
      }
      if (s.fin) {
        gotFin = true;
        break;
      }
    }
    if (q.segs.length === 0) tp.t_reass = null;
  }
  if (delivered > 0 && !(tp.t_flags & TF.NOFDREF)) e.emit(tp, TcpEvent.READABLE, null);
  if (gotFin) finInput(tp);
}

/** The peer's FIN is in order (RFC 9293 eighth check). */
function finInput(tp: TcpCb): void {
  const e = tp.engine;
  tp.rcv_nxt = (tp.rcv_nxt + 1) | 0;
  tp.t_flags |= TF.CANTRCVMORE | TF.ACKNOW;
  tp.t_reass = null;
  if (!(tp.t_flags & (TF.RCVEOFEVENT | TF.NOFDREF))) {
    tp.t_flags |= TF.RCVEOFEVENT;
    e.emit(tp, TcpEvent.PEER_CLOSED, null);
  }
  switch (tp.t_state) {
    case TcpState.SYN_RECEIVED:
    case TcpState.ESTABLISHED:
      tp.t_state = TcpState.CLOSE_WAIT;
      break;
    case TcpState.FIN_WAIT_1:
      tp.t_state = TcpState.CLOSING;
      break;
    case TcpState.FIN_WAIT_2:
      tcpTimeWait(tp);
      break;
  }
}

/**
 * A duplicate ACK: fast retransmit / recovery entry, or inflation during recovery.
 * `dsackOnly`: it carries a D-SACK and no new SACK information — the echo of a
 * retransmission that was not needed, so not a sign of loss (DragonFly's
 * `ignore_redun_dsack`; RFC 3042 sends nothing for an ACK without new SACK information).
 */
function tcpDupAck(tp: TcpCb, dsackOnly: boolean): void {
  const e = tp.engine;
  const cfg = e.config;
  const sack = (tp.t_flags & TF.SACK_PERMITTED) !== 0;
  if (tp.t_flags & TF.FASTRECOVERY) {
    tp.t_dupacks++;
    if (!sack) tp.snd_cwnd += tp.t_maxseg; // NewReno inflation (RFC 6582 §3.2 step 4)
    tcpOutput(tp);
    return;
  }
  // Still inside the window that was already recovered: NewReno needs the ACK to pass
  // `recover` (RFC 6582 §3.2 step 2); with SACK, the cumulative ACK of RecoveryPoint's octet
  // (snd_recover - 1) ends that episode and a new loss may start the next (RFC 6675 §5).
  const recovered = (sack ? SEQ_LT(tp.snd_una, tp.snd_recover) : SEQ_LEQ(tp.snd_una, tp.snd_recover)) && tp.snd_recover !== tp.iss;
  if (dsackOnly && cfg.dsack && sack) return;
  const ncr = cfg.ncr && sack;
  // RFC 4653 §3.1: at the first duplicate ACK the threshold becomes a share of the flight.
  if (tp.t_dupacks === 0 && ncr) tp.t_rxtthresh = tcpSackNcrThresh(tp);
  tp.t_dupacks++;
  const thresh = tcpSackRxtThresh(tp);
  if (ncr && tp.t_dupacks === cfg.dupThresh && thresh > cfg.dupThresh) e.stats.ncrheld++;
  if (tp.t_dupacks >= thresh || (sack && !ncr && tcpSackFirstHoleLost(tp))) {
    if (recovered) {
      tp.t_dupacks = 0;
      return;
    }
    tcpEnterRecovery(tp, false);
    return;
  }
  if (!cfg.limitedTransmit && !ncr) return;
  // Limited transmit (RFC 3042), extended under NCR (RFC 4653 §3.2): new data per duplicate ACK.
  const maxBefore = tp.snd_max;
  tcpOutput(tp);
  if (tp.snd_max !== maxBefore || recovered || tcpIsClosed(tp)) return;
  // Nothing new could go. Early retransmit (RFC 5827 §3) for a small flight; under NCR the
  // loss test (RFC 6675 IsLost) deferred until here, so that reordering is not taken for loss.
  if (tcpNeedEarlyRetransmit(tp)) {
    e.stats.sndearlyrexmit++;
    tcpEnterRecovery(tp, true);
  } else if (ncr && tcpSackFirstHoleLost(tp)) tcpEnterRecovery(tp, false);
}

/**
 * RFC 5827 §3.1–3.2 (DragonFly `need_early_retransmit`): fewer than DupThresh + 1
 * segments outstanding, ER_thresh = oseg − 1 duplicate ACKs, and with SACK all but one
 * segment's worth SACKed. As in DragonFly only with Eifel and timestamps, so that a
 * spurious one is undone.
 */
function tcpNeedEarlyRetransmit(tp: TcpCb): boolean {
  const cfg = tp.engine.config;
  if (!cfg.earlyRetransmit || !cfg.eifel || !(tp.t_flags & TF.RCVD_TSTMP)) return false;
  const ownd = (tp.snd_max - tp.snd_una) | 0;
  const mss = tp.t_maxseg;
  if (ownd >= (tcpSackRxtThresh(tp) + 1) * mss) return false;
  if (tp.t_dupacks + 1 < Math.ceil(ownd / mss)) return false;
  return !(tp.t_flags & TF.SACK_PERMITTED) || ownd <= mss || tcpSackBytes(tp) >= ownd - mss;
}

/** Fast (or early) retransmit: saves what an undo needs, then SACK or NewReno recovery. */
function tcpEnterRecovery(tp: TcpCb, early: boolean): void {
  const cfg = tp.engine.config;
  const sack = (tp.t_flags & TF.SACK_PERMITTED) !== 0;
  tcpSaveCongestionState(tp);
  if (!cfg.eifel) tp.rxt_flags &= ~TRXT.FIRSTACCACK;
  tp.rxt_flags = (tp.rxt_flags & ~(TRXT.EARLYREXMT | TRXT.REBASERTO | TRXT.DSACKEP)) | TRXT.FASTREXMT;
  if (early) tp.rxt_flags |= TRXT.EARLYREXMT;
  if (cfg.dsack && sack) tp.rxt_flags |= TRXT.DSACKEP;
  tp.t_rxtbytes = tp.t_dsackbytes = 0;
  tp.t_rxtlow = tp.snd_una;
  tp.sack_flags &= ~TSACK.SACKRESCUED;
  if (sack) tcpSackEnterRecovery(tp);
  else tcpNewRenoEnterRecovery(tp);
}

/** Our receiver got [start, end) again: report it in the next ACK's first SACK block (RFC 2883 §4). */
function tcpDsackReport(tp: TcpCb, start: number, end: number): void {
  if (!tp.engine.config.dsack || !(tp.t_flags & TF.SACK_PERMITTED) || !SEQ_LT(start, end)) return;
  tp.t_dsack_start = start;
  tp.t_dsack_end = end;
  tp.sack_flags |= TSACK.DSACKPEND;
}

/**
 * The peer reports [start, end) twice received. When every octet this fast-retransmit
 * episode retransmitted comes back D-SACKed, the retransmission was not needed and its
 * congestion response is undone (RFC 3708 §3; RFC 2883 §5).
 */
function tcpDsackInput(tp: TcpCb, start: number, end: number): void {
  tp.engine.stats.rcvdsack++;
  if (!tp.engine.config.dsack || !(tp.rxt_flags & TRXT.DSACKEP) || !SEQ_LT(start, end)) return;
  // Only duplicates of what this episode could have sent again count (RFC 3708 §3); a copy the
  // network duplicated looks the same, so a duplicating path can undo a needed retransmission.
  const s = SEQ_LT(start, tp.t_rxtlow) ? tp.t_rxtlow : start;
  const e = SEQ_GT(end, tp.snd_max_prev) ? tp.snd_max_prev : end;
  if (!SEQ_LT(s, e)) return;
  tp.t_dsackbytes += (e - s) | 0;
  if (tp.t_rxtbytes > 0 && tp.t_dsackbytes >= tp.t_rxtbytes) tcpRevertCongestionState(tp);
}

/**
 * ECN on an acceptable segment (RFC 3168 §6.1): CE asks us to echo ECE until the peer's
 * CWR (§6.1.3, a CWR and a CE on one segment leave ECE on); ECE on an ACK halves the
 * window at most once per window of data and announces it with CWR (§6.1.2).
 */
function tcpEcnInput(tp: TcpCb, flags: number, tos: number, tlen: number): void {
  const e = tp.engine;
  if (flags & TcpFlags.CWR && tlen > 0) tp.t_flags &= ~TF.ECN_SND_ECE;
  if ((tos & 3) === 3) {
    e.stats.ecn_ce++;
    tp.t_flags |= TF.ECN_SND_ECE | TF.ACKNOW;
  }
  if (flags & TcpFlags.ECE && !(flags & TcpFlags.SYN) && tp.snd_max !== tp.snd_una && SEQ_GEQ(tp.snd_una, tp.t_ecnrecover) &&
      !(tp.t_flags & TF.FASTRECOVERY)) {
    e.stats.ecn_rcwnd++;
    tp.snd_ssthresh = tp.snd_cwnd = halfFlight(tp);
    tp.snd_wacked = 0;
    tp.t_ecnrecover = tp.snd_max;
    tp.t_flags |= TF.ECN_SND_CWR;
  }
}

/** RFC 5681 eq. (4): ssthresh = max(FlightSize / 2, 2·SMSS). */
function halfFlight(tp: TcpCb): number {
  const flight = (tp.snd_max - tp.snd_una) | 0;
  return Math.max(Math.floor(flight / 2), 2 * tp.t_maxseg);
}

/** RFC 6675 §5 step 4: enter loss recovery and retransmit the first hole. */
function tcpSackEnterRecovery(tp: TcpCb): void {
  const e = tp.engine;
  e.stats.sndfastrexmit++;
  e.stats.sack_recovery_episode++;
  tp.snd_ssthresh = tp.snd_cwnd = halfFlight(tp);
  tp.snd_recover = tp.snd_max;
  tp.rexmt_high = tp.snd_una;
  tp.t_flags |= TF.FASTRECOVERY;
  tcpTimerStop(tp, TcpTimer.REXMT);
  tp.t_rtttime = -1;
  const scb = tp.t_scb;
  const holeEnd = scb && scb.length ? scb[0] : tp.snd_max;
  const len = Math.min((holeEnd - tp.snd_una) | 0, tp.t_maxseg);
  if (len > 0) tcpSackRexmit(tp, tp.snd_una, len);
  tcpOutput(tp);
}

/** RFC 6582 §3.2 step 2–3: NewReno fast retransmit. */
function tcpNewRenoEnterRecovery(tp: TcpCb): void {
  const e = tp.engine;
  e.stats.sndfastrexmit++;
  e.stats.newreno_recovery_episode++;
  tp.snd_ssthresh = halfFlight(tp);
  tp.snd_recover = tp.snd_max;
  tp.t_flags |= TF.FASTRECOVERY;
  tcpTimerStop(tp, TcpTimer.REXMT);
  tp.t_rtttime = -1;
  const onxt = tp.snd_nxt;
  tp.snd_nxt = tp.snd_una;
  tp.snd_cwnd = tp.t_maxseg;
  tcpOutput(tp);
  tp.snd_cwnd = tp.snd_ssthresh + tp.t_maxseg * tp.t_dupacks;
  if (SEQ_GT(onxt, tp.snd_nxt)) tp.snd_nxt = onxt;
}

/** RFC 6582 §3.2 step 5: a partial ACK retransmits the next hole and deflates cwnd. */
function tcpNewRenoPartialAck(tp: TcpCb, ack: number): void {
  const e = tp.engine;
  e.stats.newreno_partialack++;
  const onxt = tp.snd_nxt;
  const ocwnd = tp.snd_cwnd;
  tcpTimerStop(tp, TcpTimer.REXMT);
  tp.t_rtttime = -1;
  tp.snd_nxt = ack;
  tp.snd_cwnd = tp.t_maxseg + ((ack - tp.snd_una) | 0);
  tp.t_flags |= TF.ACKNOW;
  tcpOutput(tp);
  tp.snd_cwnd = ocwnd;
  if (SEQ_GT(onxt, tp.snd_nxt)) tp.snd_nxt = onxt;
  const acked = (ack - tp.snd_una) | 0;
  tp.snd_cwnd = (tp.snd_cwnd > acked ? tp.snd_cwnd - acked : 0) + tp.t_maxseg;
}

/**
 * An ACK for new data: recovery bookkeeping, RTT, retransmit timer, cwnd growth,
 * send buffer, FIN acknowledgment and the states that follow it. Returns true if
 * the TCB was released (LAST_ACK done).
 */
function tcpNewAck(tp: TcpCb, ack: number, tsecr: number | undefined): boolean {
  const e = tp.engine;
  const st = e.stats;
  const acked = (ack - tp.snd_una) | 0;
  let recovered = false;

  // The first acceptable ACK after a retransmission: spurious if it echoes a timestamp older
  // than the retransmission's (Eifel detection, RFC 3522 §2); without timestamps, a first
  // timeout answered within half an RTT (DragonFly's RTT heuristic).
  if (tp.rxt_flags & TRXT.FIRSTACCACK && tsecr !== undefined && tsecr !== 0) {
    if (SEQ_LT(tsecr, tp.t_rexmtTS)) {
      st.eifeldetected++;
      if (tp.t_rxtshift !== 1 || e.now >= tp.t_badrxtwin) st.rttcantdetect++;
      tcpRevertCongestionState(tp);
    }
  } else if (e.config.eifel && tp.t_rxtshift === 1 && e.now < tp.t_badrxtwin) {
    st.rttdetected++;
    tcpRevertCongestionState(tp);
  }
  tp.rxt_flags &= ~TRXT.FIRSTACCACK;

  if (tp.t_flags & TF.FASTRECOVERY) {
    if (SEQ_LT(ack, tp.snd_recover)) {
      if (!(tp.t_flags & TF.SACK_PERMITTED)) tcpNewRenoPartialAck(tp, ack);
    } else {
      // Full ACK: leave recovery without a burst (RFC 6582 §3.2 step 3 option 1).
      const flight = (tp.snd_max - ack) | 0;
      tp.snd_cwnd = Math.min(tp.snd_ssthresh, Math.max(flight, 0) + tp.t_maxseg);
      tp.t_flags &= ~TF.FASTRECOVERY;
      tp.t_dupacks = 0;
      tp.snd_wacked = 0;
      recovered = true;
    }
  } else tp.t_dupacks = 0;

  // RTT sample: the timestamp echo if there is one, else the timed segment (Karn).
  if (tsecr !== undefined && tsecr !== 0) {
    const rtt = (tcpTsNow(tp) - tsecr) | 0;
    if (rtt >= 0 && rtt <= e.config.rexmitMax) tcpXmitTimer(tp, rtt, ack);
  } else if (tp.t_rtttime >= 0 && SEQ_GT(ack, tp.t_rtseq)) tcpXmitTimer(tp, e.now - tp.t_rtttime, ack);

  st.rcvackpack++;
  st.rcvackbyte += acked;
  if (ack === tp.snd_max) tcpTimerStop(tp, TcpTimer.REXMT);
  else if (!tcpTimerActive(tp, TcpTimer.PERSIST)) tcpTimerSet(tp, TcpTimer.REXMT, tp.t_rxtcur);

  if (!(tp.t_flags & TF.FASTRECOVERY) && !recovered) {
    if (tp.snd_cwnd < tp.snd_ssthresh) tp.snd_cwnd += Math.min(acked, tp.t_maxseg);
    else {
      tp.snd_wacked += acked;
      if (tp.snd_wacked >= tp.snd_cwnd) {
        tp.snd_wacked -= tp.snd_cwnd;
        tp.snd_cwnd += tp.t_maxseg;
      }
    }
    const cap = TCP_MAXWIN * 2 ** tp.snd_scale;
    if (tp.snd_cwnd > cap) tp.snd_cwnd = cap;
  }

  let ourFinAcked = false;
  const sb = tp.snd_sb;
  const cc = sb ? sb.cc : 0;
  if (acked > cc) {
    tp.snd_sb = null;
    if (sb) e.sbPut(sb, true);
    ourFinAcked = (tp.t_flags & TF.SENTFIN) !== 0;
  } else if (sb) {
    sb.drop(acked);
    if (sb.cc === 0) {
      tp.snd_sb = null;
      e.sbPut(sb, true);
    }
  }
  if (tp.t_flags & TF.WANTWRITE && !(tp.t_flags & TF.CANTSENDMORE) &&
      tp.snd_hiwat - tp.sndCc >= Math.min(SNDLOWAT, tp.snd_hiwat)) {
    tp.t_flags &= ~TF.WANTWRITE;
    e.emit(tp, TcpEvent.WRITABLE, null);
  }
  tp.snd_una = ack;
  if (SEQ_LT(tp.snd_nxt, tp.snd_una)) tp.snd_nxt = tp.snd_una;
  if (SEQ_LT(tp.rexmt_high, tp.snd_una)) tp.rexmt_high = tp.snd_una;
  tcpSackClean(tp);

  if (ourFinAcked) {
    switch (tp.t_state) {
      case TcpState.FIN_WAIT_1:
        tp.t_state = TcpState.FIN_WAIT_2;
        tcpTimerStop(tp, TcpTimer.REXMT);
        // The application is gone: don't wait forever for the peer's FIN.
        if (tp.t_flags & TF.NOFDREF) tcpTimerSet(tp, TcpTimer.TWOMSL, e.config.keepCnt * e.config.keepIntvl);
        break;
      case TcpState.CLOSING:
        tcpTimeWait(tp);
        break;
      case TcpState.LAST_ACK:
        tcpClose(tp);
        return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------
// LISTEN state and the syncache interface

/**
 * What a listener learns from a SYN and decides for the connection — the content of
 * a syncache entry (`struct syncache`). Sequence numbers unsigned.
 */
export interface TcpSynEntry {
  laddr: number;
  lport: number;
  faddr: number;
  fport: number;
  /** Peer's ISN. */
  irs: number;
  /** Our ISN. */
  iss: number;
  /** Peer's MSS option, 0 if none. */
  peerMss: number;
  /** MSS we advertise. */
  mss: number;
  /** Peer's window shift, −1 if it sent none (then we send none). */
  peerWscale: number;
  /** Our receive window shift (only used when peerWscale ≥ 0). */
  rcvWscale: number;
  /** Both sides do SACK. */
  sackOk: boolean;
  /** Both sides do timestamps; tsRecent is the peer's TSval from the SYN. */
  tsOk: boolean;
  tsRecent: number;
  /** Window field of the SYN (unscaled). */
  peerWindow: number;
  /**
   * Time (ms) spent waiting on SYN|ACK retransmissions — DragonFly's `sc_rxtused`, which
   * becomes `t_rxtsyn`: > 0 raises the RTO to 3 s, ≥ 3 s makes the initial window 2·MSS.
   * Copy it from the syncache entry (`SyncacheEntry.rxtused`) before `syncacheSocket`.
   */
  rxtUsed: number;
  /** The SYN asked for ECN (ECE|CWR) and we do ECN: the SYN|ACK carries ECE (RFC 3168 §6.1.1). */
  ecnOk?: boolean;
}

/**
 * Builds a syncache entry for `syn` arriving at a listener (`syncache_add`'s option
 * negotiation). The ISS is the engine's (or the TIME_WAIT successor's) unless given.
 */
export function tcpSynEntryFromSyn(e: TcpEngine, syn: TcpSeg, opts?: TcpConnOptions): TcpSynEntry {
  const cfg = e.config;
  const o = syn.options;
  const rcvbuf = opts?.rcvbuf ?? cfg.recvspace;
  const iss = opts?.iss ?? e.takeReuseIss(syn.dst, syn.dport, syn.src, syn.sport) ?? e.issFor(syn.dst, syn.dport, syn.src, syn.sport);
  return {
    laddr: syn.dst >>> 0, lport: syn.dport, faddr: syn.src >>> 0, fport: syn.sport,
    irs: syn.seq >>> 0, iss: iss >>> 0,
    peerMss: o?.mss ?? 0,
    mss: opts?.mss ?? cfg.mss,
    peerWscale: cfg.rfc1323 && o?.wscale !== undefined ? Math.min(o.wscale, TCP_MAX_WINSHIFT) : -1,
    rcvWscale: tcpRcvScale(rcvbuf),
    sackOk: cfg.sack && !!o?.sackPermitted,
    tsOk: cfg.rfc1323 && !!o?.timestamp,
    tsRecent: o?.timestamp ? o.timestamp.val >>> 0 : 0,
    peerWindow: syn.window,
    rxtUsed: 0,
    ecnOk: cfg.ecn && (syn.flags & (TcpFlags.ECE | TcpFlags.CWR)) === (TcpFlags.ECE | TcpFlags.CWR),
  };
}

/** Creates the TCB of a syncache entry in SYN_RECEIVED (`syncache_socket`), SYN|ACK counted as sent. */
function tcpFromSynEntry(e: TcpEngine, sc: TcpSynEntry, opts?: TcpConnOptions): TcpCb {
  const tp = tcpNewTcpcb(e, sc.laddr, sc.lport, sc.faddr, sc.fport, opts, sc.mss);
  tp.t_flags |= TF.PASSIVE;
  tp.t_state = TcpState.SYN_RECEIVED;
  tcpSendSeqInit(tp, sc.iss);
  tcpRcvSeqInit(tp, sc.irs);
  if (sc.peerWscale >= 0 && tp.t_flags & TF.REQ_SCALE) {
    tp.t_flags |= TF.RCVD_SCALE;
    tp.snd_scale = sc.peerWscale;
    tp.rcv_scale = tp.request_r_scale = sc.rcvWscale;
  } else {
    tp.t_flags &= ~TF.REQ_SCALE;
    tp.snd_scale = tp.rcv_scale = 0;
  }
  if (sc.tsOk && tp.t_flags & TF.REQ_TSTMP) {
    tp.t_flags |= TF.RCVD_TSTMP;
    tp.ts_recent = sc.tsRecent | 0;
    tp.ts_recent_age = e.now;
  } else tp.t_flags &= ~TF.REQ_TSTMP;
  if (sc.sackOk && tp.t_flags & TF.REQ_SACK) tp.t_flags |= TF.SACK_PERMITTED;
  if (sc.ecnOk) tp.t_flags |= TF.ECN_PERMIT;
  tp.t_rxtsyn = Math.max(0, Math.floor(sc.rxtUsed));
  tcpMss(tp, sc.peerMss);
  tp.snd_wnd = sc.peerWindow;
  tp.max_sndwnd = sc.peerWindow;
  tp.snd_wl1 = tp.irs;
  return tp;
}

/**
 * The SYN|ACK for a syncache entry (`syncache_respond`), with the same options
 * `tcpSyncacheSocket` will assume were negotiated.
 */
export function tcpSynAckSegment(e: TcpEngine, sc: TcpSynEntry): TcpSeg {
  const ts = sc.tsOk ? { val: (e.now + tcpTsOffset(e, sc)) >>> 0, ecr: sc.tsRecent >>> 0 } : undefined;
  const options: TcpSeg["options"] = { mss: sc.mss };
  if (sc.peerWscale >= 0) options.wscale = sc.rcvWscale;
  if (sc.sackOk) options.sackPermitted = true;
  if (ts) options.timestamp = ts;
  e.stats.sndtotal++;
  e.stats.sndctrl++;
  return {
    src: sc.laddr, dst: sc.faddr, sport: sc.lport, dport: sc.fport,
    seq: sc.iss >>> 0, ack: (sc.irs + 1) >>> 0, flags: TcpFlags.SYN | TcpFlags.ACK | (sc.ecnOk ? TcpFlags.ECE : 0),
    window: Math.min(e.config.recvspace, TCP_MAXWIN), options, payload: EMPTY,
  };
}

function tcpTsOffset(e: TcpEngine, sc: TcpSynEntry): number {
  return tcpTupleHash(e.tsSecret, sc.laddr, sc.lport, sc.faddr, sc.fport);
}

/**
 * Completes a syncache entry with the handshake's final ACK (`syncache_expand` +
 * `syncache_socket`): checks ACK = ISS+1, creates the TCB and runs the ACK (and any
 * data on it) through tcp_input, which moves it to ESTABLISHED and reports
 * ESTABLISHED. Returns null when the ACK does not match (caller answers with
 * `tcpRespondReset` as BSD does).
 */
export function tcpSyncacheSocket(e: TcpEngine, sc: TcpSynEntry, ackSeg: TcpSeg, opts?: TcpConnOptions): TcpCb | null {
  if (!(ackSeg.flags & TcpFlags.ACK) || ackSeg.flags & (TcpFlags.SYN | TcpFlags.RST) ||
      (ackSeg.ack >>> 0) !== ((sc.iss + 1) >>> 0)) return null;
  const tp = tcpFromSynEntry(e, sc, opts);
  tp.snd_nxt = tp.snd_max = (tp.iss + 1) | 0;
  // What the SYN|ACK advertised (unscaled, as tcpSynAckSegment sends it).
  tp.rcv_adv = (tp.rcv_nxt + Math.min(e.config.recvspace, TCP_MAXWIN)) | 0;
  tcpInput(e, tp, ackSeg);
  return tp.t_state === TcpState.CLOSED ? null : tp;
}

/**
 * LISTEN-state processing for callers without a syncache (RFC 9293 §3.10.7.2): RST
 * is dropped, an ACK is answered with RST, a SYN creates a TCB in SYN_RECEIVED that
 * sends its SYN|ACK and retransmits it itself. Returns the new TCB or null.
 */
export function tcpListenInput(e: TcpEngine, seg: TcpSeg, opts?: TcpConnOptions): TcpCb | null {
  const st = e.stats;
  const flags = seg.flags;
  st.rcvtotal++;
  if ((flags & (TcpFlags.SYN | TcpFlags.FIN)) === (TcpFlags.SYN | TcpFlags.FIN)) {
    st.rcvsynfin++;
    return null;
  }
  if (flags & TcpFlags.RST || (flags & (TcpFlags.SYN | TcpFlags.RST)) === (TcpFlags.SYN | TcpFlags.RST)) {
    st.listendrop++;
    return null;
  }
  if (flags & TcpFlags.ACK) {
    st.listendrop++;
    tcpRespondReset(e, seg);
    return null;
  }
  if (!(flags & TcpFlags.SYN)) {
    st.listendrop++;
    return null;
  }
  const sc = tcpSynEntryFromSyn(e, seg, opts);
  const tp = tcpFromSynEntry(e, sc, opts);
  tp.snd_nxt = tp.iss; // SYN|ACK not yet sent
  tp.t_rcvtime = e.now;
  tcpTimerSet(tp, TcpTimer.KEEP, e.config.keepInit);
  tcpOutput(tp);
  return tp;
}
