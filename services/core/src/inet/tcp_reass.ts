/**
 * Out-of-order segment queue (`tcp_reass()` in sys/netinet/tcp_input.c) and the
 * SACK blocks a receiver reports from it (RFC 2018 §4).
 *
 * Segments are kept sorted and disjoint; bytes already queued win over a new
 * overlapping copy (the BSD rule). The queue only ever holds data inside the
 * receive window, so its size is bounded by the receive buffer.
 */
import { SEQ_GEQ, SEQ_GT, SEQ_LEQ, SEQ_LT } from "./tcp_seq.js";

export interface ReassSeg {
  seq: number;
  data: Uint8Array;
  fin: boolean;
}

export class TcpReassQueue {
  readonly segs: ReassSeg[] = [];
  bytes = 0;
  /** Start of the segment queued last (its block is reported first). */
  lastSeq = 0;

  /**
   * Queues `data` at `seq` (with FIN after it if `fin`). Returns the number of new
   * bytes queued; 0 with `fin` false means the segment was a complete duplicate.
   */
  insert(seq: number, data: Uint8Array, fin: boolean): number {
    let s = seq | 0;
    let e = (seq + data.length) | 0;
    const q = this.segs;
    // find the first queued segment that starts after s
    let i = 0;
    while (i < q.length && SEQ_LEQ(q[i].seq, s)) i++;
    // trim against the predecessor
    if (i > 0) {
      const p = q[i - 1];
      const pend = (p.seq + p.data.length) | 0;
      if (SEQ_GT(pend, s)) {
        if (SEQ_GEQ(pend, e)) {
          // wholly covered; a FIN beyond the predecessor's end is still news
          if (fin && pend === e && !p.fin && i === q.length) {
            p.fin = true;
            this.lastSeq = p.seq;
            return 0;
          }
          return 0;
        }
        data = data.subarray((pend - s) | 0);
        s = pend;
      }
    }
    // trim against (or swallow) successors
    while (i < q.length && SEQ_LT(q[i].seq, e)) {
      const n = q[i];
      const nend = (n.seq + n.data.length) | 0;
      if (SEQ_LEQ(nend, e)) {
        // the new segment covers it completely: drop the old copy
        this.bytes -= n.data.length;
        if (n.fin && nend === e) fin = true;
        q.splice(i, 1);
        continue;
      }
      data = data.subarray(0, (n.seq - s) | 0);
      e = n.seq;
      fin = false;
      break;
    }
    if (data.length === 0 && !fin) return 0;
    q.splice(i, 0, { seq: s, data: data.slice(), fin });
    this.bytes += data.length;
    this.lastSeq = s;
    return data.length;
  }

  /** The first queued segment if it starts at `rcvNxt` (and removes it), else null. */
  takeAt(rcvNxt: number): ReassSeg | null {
    const q = this.segs;
    if (q.length === 0 || q[0].seq !== (rcvNxt | 0)) return null;
    const seg = q.shift()!;
    this.bytes -= seg.data.length;
    return seg;
  }

  /** Drops queued bytes below `rcvNxt` (never needed when callers deliver in order). */
  trimBelow(rcvNxt: number): void {
    const q = this.segs;
    while (q.length) {
      const h = q[0];
      const end = (h.seq + h.data.length) | 0;
      if (SEQ_LEQ(end, rcvNxt) && !(h.fin && end === rcvNxt)) {
        q.shift();
        this.bytes -= h.data.length;
      } else if (SEQ_LT(h.seq, rcvNxt)) {
        const cut = (rcvNxt - h.seq) | 0;
        this.bytes -= cut;
        h.data = h.data.subarray(cut);
        h.seq = rcvNxt | 0;
        break;
      } else break;
    }
  }

  /**
   * SACK blocks as [start, end) pairs, at most `max`: the block holding the most
   * recently queued segment first, then the others from the highest down.
   */
  sackBlocks(max: number): number[] {
    const runs: number[] = [];
    let first = -1;
    for (const seg of this.segs) {
      const end = (seg.seq + seg.data.length) | 0;
      if (seg.data.length === 0) continue;
      const n = runs.length;
      if (n && runs[n - 1] === seg.seq) runs[n - 1] = end;
      else runs.push(seg.seq, end);
      if (seg.seq === this.lastSeq) first = runs.length - 2;
    }
    const out: number[] = [];
    if (first >= 0) out.push(runs[first], runs[first + 1]);
    for (let k = runs.length - 2; k >= 0 && out.length < 2 * max; k -= 2) {
      if (k === first) continue;
      out.push(runs[k], runs[k + 1]);
    }
    return out.slice(0, 2 * max);
  }
}
