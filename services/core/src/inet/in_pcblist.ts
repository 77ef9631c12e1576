/**
 * The PCB listing that walks CPU after CPU with a cursor (paper §1.5;
 * DragonFly's `in_pcblist_global` / `tcp_pcblist`, sys/netinet/in_pcb.c and
 * tcp_subr.c).
 *
 * For each CPU in turn the cursor reads n = ipi_count, puts a marker
 * (`INP_PLACEMARKER`) at the head of that CPU's list, and then repeatedly
 * takes the PCB after the marker and moves the marker just past it *before*
 * handing the PCB out. Between two `next()` calls — DragonFly's blocking
 * copyout — the CPU may insert PCBs (always at the head, behind the marker)
 * and free any PCB (the marker is a node of its own, so removing a neighbour
 * never invalidates it). Hence a PCB that stays on its CPU for the whole walk
 * is returned exactly once, a removed one is never returned after its
 * removal, and no CPU yields more than the n it had when its turn began.
 * Other cursors' markers are skipped.
 *
 * A cursor holds a marker in a list until it finishes or `close()` is
 * called; abandoned cursors must be closed.
 */
import { INP, inPcbMarker, type Inpcb, type InpcbHost } from "./in_pcb.js";

/** A snapshot of one PCB (`struct xinpcb`), what a listing shows. */
export interface XInpcb<P = unknown> {
  cpu: number;
  laddr: number;
  lport: number;
  faddr: number;
  fport: number;
  listen: boolean;
  connected: boolean;
  /** SO_REUSEPORT group slot of a listener, else -1. */
  lgrpindex: number;
  /** Listener: completed, not yet accepted. */
  qlen: number;
  /** Listener: so_qlimit (0 for connections). */
  qlimit: number;
  /** Listener id, or the id of the listener whose queue holds this connection. */
  listenerId: number | undefined;
  gencnt: number;
  ppcb: P | undefined;
}

/** Copy what a listing shows of `inp` (call it before the next table change). */
export function xinpcb<P>(inp: Inpcb<P>): XInpcb<P> {
  return {
    cpu: inp.cpu,
    laddr: inp.laddr,
    lport: inp.lport,
    faddr: inp.faddr,
    fport: inp.fport,
    listen: (inp.flags & INP.WILDCARD) !== 0,
    connected: (inp.flags & INP.CONNECTED) !== 0,
    lgrpindex: inp.lgrpindex,
    qlen: inp.so?.qlen ?? 0,
    qlimit: inp.so?.qlimit ?? 0,
    listenerId: inp.so?.id ?? inp.head?.id,
    gencnt: inp.gencnt,
    ppcb: inp.ppcb,
  };
}

export class InpcbListCursor<P = unknown> {
  private cpu = 0;
  private readonly marker: Inpcb<P> = inPcbMarker<P>();
  /** The current CPU's walk has begun (the marker is in its list). */
  private onCpu = false;
  /** PCBs this CPU may still yield (n − i). */
  private left = 0;
  /** PCBs returned so far, per CPU. */
  readonly perCpu: number[];

  constructor(private readonly host: InpcbHost<P>) {
    this.perCpu = new Array<number>(host.ncpus).fill(0);
  }

  /** Every CPU has been walked (or the cursor was closed). */
  get done(): boolean {
    return this.cpu >= this.host.ncpus;
  }

  /** The CPU the cursor is on (ncpus when done). */
  get currentCpu(): number {
    return this.cpu;
  }

  /**
   * Up to `limit` PCBs, continuing where the previous call stopped; an empty
   * array only when done. Snapshot what you need (xinpcb) before the tables
   * change again.
   */
  next(limit = Infinity): Inpcb<P>[] {
    const out: Inpcb<P>[] = [];
    while (out.length < limit && this.cpu < this.host.ncpus) {
      const info = this.host.pcbinfo[this.cpu];
      if (!this.onCpu) {
        this.left = info.count;
        info.listInsertHead(this.marker);
        this.onCpu = true;
      }
      const inp = this.marker.listNext;
      if (inp === null || this.left <= 0) {
        info.listRemove(this.marker);
        this.onCpu = false;
        this.cpu++;
        continue;
      }
      info.listRemove(this.marker);
      info.listInsertAfter(inp, this.marker);
      if (inp.flags & INP.PLACEMARKER) continue;
      out.push(inp);
      this.left--;
      this.perCpu[this.cpu]++;
    }
    return out;
  }

  /** Take the marker out and finish. Idempotent. */
  close(): void {
    if (this.onCpu) {
      this.host.pcbinfo[this.cpu].listRemove(this.marker);
      this.onCpu = false;
    }
    this.cpu = this.host.ncpus;
  }
}

/** The whole listing in one go (no table changes can happen in between). */
export function inPcbList<P>(host: InpcbHost<P>): XInpcb<P>[] {
  const c = new InpcbListCursor(host);
  return c.next().map(xinpcb);
}
