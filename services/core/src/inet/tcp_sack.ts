/**
 * SACK, sender side (sys/netinet/tcp_sack.c): the scoreboard of what the peer
 * reported (RFC 2018) and the RFC 6675 loss-recovery rules built on it — IsLost(),
 * pipe (SetPipe) and NextSeg().
 *
 * The scoreboard is `tp.t_scb`: sorted, disjoint [start, end) pairs (signed 32-bit
 * sequence numbers) strictly above snd_una, or null when nothing is SACKed. Holes
 * are the gaps between snd_una and the highest SACKed octet. Every octet in one hole
 * has the same SACKed data above it, so loss is decided per hole.
 */
import type { SackBlock } from "./tcp.js";
import { SEQ_GEQ, SEQ_GT, SEQ_LEQ, SEQ_LT, SEQ_MAX } from "./tcp_seq.js";
import { TF, type TcpCb } from "./tcp_var.js";

/** Most duplicate ACKs NCR waits for (`net.inet.tcp.ncr_rxtthresh_max`). */
export const TCP_NCR_RXTTHRESH_MAX = 16;

/**
 * RFC 4653 §3.1 with DragonFly's factor (`tcp_ncr_update_rxtthresh`, the aggressive
 * variant's ½): DupThresh = max(3, FlightSize / SMSS / 2), at most 16.
 */
export function tcpSackNcrThresh(tp: TcpCb): number {
  const segs = Math.floor(((tp.snd_max - tp.snd_una) | 0) / tp.t_maxseg) >> 1;
  return Math.min(TCP_NCR_RXTTHRESH_MAX, Math.max(tp.engine.config.dupThresh, segs));
}

/** The duplicate-ACK threshold in force: NCR's (with SACK) or the configured one. */
export function tcpSackRxtThresh(tp: TcpCb): number {
  const cfg = tp.engine.config;
  return cfg.ncr && tp.t_rxtthresh > 0 && tp.t_flags & TF.SACK_PERMITTED ? tp.t_rxtthresh : cfg.dupThresh;
}

/**
 * Whether the first block of an ACK's SACK option is a D-SACK (RFC 2883 §4): it lies at
 * or below the cumulative ACK, or inside the second block.
 */
export function tcpSackIsDsack(blocks: readonly SackBlock[], ack: number): boolean {
  if (blocks.length === 0) return false;
  const s = blocks[0].start | 0;
  const e = blocks[0].end | 0;
  if (!SEQ_LT(s, e)) return false;
  if (SEQ_LEQ(e, ack | 0)) return true;
  return blocks.length > 1 && SEQ_GEQ(s, blocks[1].start | 0) && SEQ_LEQ(e, blocks[1].end | 0);
}

/** Merges the peer's SACK blocks into the scoreboard; invalid blocks are ignored. */
export function tcpSackUpdate(tp: TcpCb, blocks: readonly SackBlock[]): boolean {
  const before = sackCovered(tp.t_scb);
  for (const b of blocks) {
    let s = b.start | 0;
    const e = b.end | 0;
    // RFC 2018 §3 / tcp_sack_doack: start < end, above snd_una, not beyond what was sent
    if (!SEQ_LT(s, e) || SEQ_LEQ(e, tp.snd_una) || SEQ_GT(e, tp.snd_max)) continue;
    if (SEQ_LT(s, tp.snd_una)) s = tp.snd_una;
    tp.engine.stats.sack_rcv_blocks++;
    tp.t_scb = sackInsert(tp.t_scb, s, e);
  }
  return sackCovered(tp.t_scb) !== before;
}

/** Octets the scoreboard holds (it only grows between cumulative ACKs). */
function sackCovered(scb: number[] | null): number {
  let n = 0;
  if (scb) for (let i = 0; i < scb.length; i += 2) n += (scb[i + 1] - scb[i]) | 0;
  return n;
}

function sackInsert(scb: number[] | null, s: number, e: number): number[] {
  if (!scb) return [s, e];
  const out: number[] = [];
  let placed = false;
  for (let i = 0; i < scb.length; i += 2) {
    const a = scb[i];
    const b = scb[i + 1];
    if (SEQ_LT(b, s)) out.push(a, b); // wholly below (not touching)
    else if (SEQ_GT(a, e)) {
      if (!placed) {
        out.push(s, e);
        placed = true;
      }
      out.push(a, b);
    } else {
      // overlapping or adjacent: widen the new block
      if (SEQ_LT(a, s)) s = a;
      if (SEQ_GT(b, e)) e = b;
    }
  }
  if (!placed) out.push(s, e);
  return out;
}

/** Drops scoreboard data at or below snd_una (after a cumulative ACK). */
export function tcpSackClean(tp: TcpCb): void {
  const scb = tp.t_scb;
  if (!scb) return;
  let i = 0;
  while (i < scb.length && SEQ_LEQ(scb[i + 1], tp.snd_una)) i += 2;
  if (i > 0) scb.splice(0, i);
  if (scb.length && SEQ_LT(scb[0], tp.snd_una)) scb[0] = tp.snd_una;
  if (scb.length === 0) tp.t_scb = null;
}

/** Highest SACKed octet + 1, or snd_una when nothing is SACKed. */
export function tcpSackHigh(tp: TcpCb): number {
  const scb = tp.t_scb;
  return scb && scb.length ? scb[scb.length - 1] : tp.snd_una;
}

/** Bytes SACKed above snd_una. */
export function tcpSackBytes(tp: TcpCb): number {
  const scb = tp.t_scb;
  let n = 0;
  if (scb) for (let i = 0; i < scb.length; i += 2) n += (scb[i + 1] - scb[i]) | 0;
  return n;
}

/**
 * RFC 6675 IsLost() for the hole that ends where SACK block `k` starts: lost when
 * DupThresh discontiguous blocks, or more than (DupThresh − 1)·SMSS SACKed bytes,
 * lie above it.
 */
function holeLost(tp: TcpCb, scb: number[], k: number): boolean {
  const dup = tcpSackRxtThresh(tp);
  const blocksAbove = (scb.length - k) >> 1;
  if (blocksAbove >= dup) return true;
  let bytes = 0;
  for (let i = k; i < scb.length; i += 2) bytes += (scb[i + 1] - scb[i]) | 0;
  return bytes > (dup - 1) * tp.t_maxseg;
}

/** RFC 6675 IsLost(seq). */
export function tcpSackIsLost(tp: TcpCb, seq: number): boolean {
  const scb = tp.t_scb;
  if (!scb) return false;
  for (let k = 0; k < scb.length; k += 2) {
    if (SEQ_LT(seq, scb[k])) return holeLost(tp, scb, k);
    if (SEQ_LT(seq, scb[k + 1])) return false; // SACKed itself
  }
  return false;
}

/** Overlap length of [a, b) and [c, d). */
function overlap(a: number, b: number, c: number, d: number): number {
  const s = SEQ_MAX(a, c);
  const e = SEQ_LT(b, d) ? b : d;
  return SEQ_GT(e, s) ? (e - s) | 0 : 0;
}

/**
 * RFC 6675 SetPipe(): octets between snd_una and snd_max thought to be in the
 * network — each unSACKed octet counts once if not lost, and once more if it was
 * retransmitted (below HighRxt = rexmt_high).
 */
export function tcpSackPipe(tp: TcpCb): number {
  const scb = tp.t_scb;
  let pipe = 0;
  let from = tp.snd_una;
  if (scb) {
    for (let k = 0; k < scb.length; k += 2) {
      const hs = from;
      const he = scb[k];
      if (SEQ_LT(hs, he)) {
        if (!holeLost(tp, scb, k)) pipe += (he - hs) | 0;
        pipe += overlap(hs, he, tp.snd_una, tp.rexmt_high);
      }
      from = scb[k + 1];
    }
  }
  if (SEQ_LT(from, tp.snd_max)) {
    pipe += (tp.snd_max - from) | 0;
    pipe += overlap(from, tp.snd_max, tp.snd_una, tp.rexmt_high);
  }
  return pipe;
}

/**
 * RFC 6675 NextSeg() rules 1 and 3 (rule 2, new data, is the caller's): the first
 * unSACKed octet at or above HighRxt and below the highest SACKed octet, in a hole
 * that IsLost() (`lost` true, rule 1) or in any hole (`lost` false, rule 3).
 * Returns [seq, len] of at most one segment, or null.
 */
export function tcpSackNextRexmit(tp: TcpCb, lost: boolean): [number, number] | null {
  const scb = tp.t_scb;
  if (!scb) return null;
  let from = tp.snd_una;
  for (let k = 0; k < scb.length; k += 2) {
    const hs = SEQ_MAX(from, tp.rexmt_high);
    const he = scb[k];
    if (SEQ_LT(hs, he) && (!lost || holeLost(tp, scb, k))) {
      return [hs, Math.min((he - hs) | 0, tp.t_maxseg)];
    }
    from = scb[k + 1];
  }
  return null;
}

/** Whether the first hole (at snd_una) is lost: RFC 6675 entry test IsLost(HighACK + 1). */
export function tcpSackFirstHoleLost(tp: TcpCb): boolean {
  const scb = tp.t_scb;
  return !!scb && SEQ_GT(scb[0], tp.snd_una) && SEQ_GEQ(scb[0], tp.snd_una) && holeLost(tp, scb, 0);
}
