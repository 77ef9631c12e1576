/**
 * ifnet's per-packet counters (if_ipackets, if_ibytes, if_opackets, if_obytes) in one of two
 * layouts, for the paper's §2.5 lesson ("don't overlook the globally shared statistics"):
 *
 *   percpu — each netisr thread has its own array; a reader sums the CPUs' copies;
 *   shared — one set in a SharedArrayBuffer that every CPU's thread updates with Atomics, as
 *            a global ifnet counter is updated on a real machine (every update takes the
 *            cache line from the CPU that wrote it last).
 *
 * Off unless configured: the packet path pays nothing for it by default.
 */
export const IfStat = { ipackets: 0, ibytes: 1, opackets: 2, obytes: 3 } as const;
export const IFSTAT_COUNT = 4;
/** Bytes of the SharedArrayBuffer a shared counter set needs. */
export const IFSTAT_SHARED_BYTES = IFSTAT_COUNT * Int32Array.BYTES_PER_ELEMENT;

export type IfStatLayout = { layout: "percpu" } | { layout: "shared"; buffer: SharedArrayBuffer };

export class IfStatConfigError extends Error {
  override readonly name = "IfStatConfigError";
}

export class IfStatCounters {
  readonly layout: IfStatLayout["layout"];
  private readonly own: Float64Array;
  /** The shared set (Int32: Atomics needs an integer view; values wrap at 2^32, read unsigned). */
  private readonly shared: Int32Array | undefined;

  constructor(l: IfStatLayout) {
    this.layout = l.layout;
    this.own = new Float64Array(IFSTAT_COUNT);
    if (l.layout === "shared") {
      if (!(l.buffer instanceof SharedArrayBuffer) || l.buffer.byteLength < IFSTAT_SHARED_BYTES) {
        throw new IfStatConfigError(`shared ifstat: want a SharedArrayBuffer of at least ${IFSTAT_SHARED_BYTES} bytes`);
      }
      this.shared = new Int32Array(l.buffer, 0, IFSTAT_COUNT);
    }
  }

  /** A frame entered ip_input. */
  input(bytes: number): void {
    this.count(IfStat.ipackets, IfStat.ibytes, bytes);
  }

  /** A datagram left (forwarded). */
  output(bytes: number): void {
    this.count(IfStat.opackets, IfStat.obytes, bytes);
  }

  /** One packet of `bytes` into the shared counters (atomically: every CPU adds to them) or this CPU's own. */
  private count(packets: number, octets: number, bytes: number): void {
    const sh = this.shared;
    if (sh !== undefined) {
      Atomics.add(sh, packets, 1);
      Atomics.add(sh, octets, bytes);
    } else {
      this.own[packets]++;
      this.own[octets] += bytes;
    }
  }

  /** This CPU's copy (percpu) or the shared set as every CPU sees it (shared, mod 2^32). */
  read(): { layout: IfStatLayout["layout"]; ipackets: number; ibytes: number; opackets: number; obytes: number } {
    const v = (i: number) => (this.shared !== undefined ? Atomics.load(this.shared, i) >>> 0 : this.own[i]);
    return { layout: this.layout, ipackets: v(IfStat.ipackets), ibytes: v(IfStat.ibytes), opackets: v(IfStat.opackets), obytes: v(IfStat.obytes) };
  }
}
