/** A CPU's transmit side, one batch writer per interface (DragonFly's per-CPU ifaltq subqueue, `ifq_dispatch`); unqueueable frames count `odropped`. */
import { FrameBatchWriter } from "@dfly/transport";
import { IpDrop } from "./ipstat.js";
import type { NetisrIf, NetisrOutput, NetisrStats } from "./netisr.js";

/** The writer's batch in a buffer of its exact size (a transferred buffer costs its size there); the writer is reset. */
export function takeExact(w: FrameBatchWriter): Uint8Array {
  const out = w.finish().slice();
  w.reset();
  return out;
}

/** Copies one frame into a writer without a temporary view. False when it does not fit. */
export function copyFrame(w: FrameBatchWriter, src: Uint8Array, off: number, len: number, hash: number, tag: number): boolean {
  const at = w.reserve(len, hash, tag);
  if (at < 0) return false;
  const dst = w.buffer;
  if (len <= 256) for (let i = 0; i < len; i++) dst[at + i] = src[off + i];
  else dst.set(src.subarray(off, off + len), at);
  return true;
}

export class IfTx {
  private ifs: readonly NetisrIf[] = [];
  private w: (FrameBatchWriter | undefined)[] = [];
  private queued = false;
  /** Made once: scheduling the end-of-burst flush allocates nothing. */
  private readonly flushTask = (): void => {
    this.queued = false;
    this.flush();
  };

  constructor(
    private readonly output: NetisrOutput,
    private readonly stats: NetisrStats,
  ) {}

  /** New interfaces (a topology): what is queued leaves first, on the old ones. */
  setInterfaces(ifs: readonly NetisrIf[]): void {
    this.flush();
    this.ifs = ifs;
    this.w = new Array(ifs.length);
  }

  writer(ifx: number): FrameBatchWriter {
    let w = this.w[ifx];
    if (w === undefined) this.w[ifx] = w = new FrameBatchWriter();
    return w;
  }

  /** Room for a `len`-byte frame in `writer(ifx).buffer` (flushing a full batch first); -1 when it cannot fit. */
  reserve(ifx: number, len: number, hash: number): number {
    const at = this.writer(ifx).reserve(len, hash, 0);
    if (at >= 0) return at;
    this.flushOne(ifx);
    return this.writer(ifx).reserve(len, hash, 0);
  }

  /** A frame copied out of its batch; counted `odropped` when it cannot be queued. */
  copy(ifx: number, buf: Uint8Array, off: number, len: number, hash: number): void {
    if (!copyFrame(this.writer(ifx), buf, off, len, hash, 0)) {
      this.flushOne(ifx);
      if (!copyFrame(this.writer(ifx), buf, off, len, hash, 0)) this.odropped();
    }
  }

  odropped(): void {
    this.stats.ip.dropped[IpDrop.odropped]++;
  }

  /** Flush at the end of the current burst of work (a microtask), for writes made outside an RX batch. */
  flushSoon(): void {
    if (this.queued) return;
    this.queued = true;
    queueMicrotask(this.flushTask);
  }

  flushOne(ifx: number): void {
    const w = this.w[ifx];
    if (w === undefined || w.count === 0) return;
    const n = w.count;
    this.emit(ifx, takeExact(w), n);
  }

  flush(): void {
    for (let i = 0; i < this.w.length; i++) this.flushOne(i);
  }

  /** A finished batch of `frames` frames to this CPU's TX ring of interface `ifx` (the buffer is given away). */
  emit(ifx: number, batch: Uint8Array, frames: number): void {
    const ifp = this.ifs[ifx];
    if (ifp === undefined) return;
    ifp.txFrames += frames;
    this.stats.batchesTx++;
    this.output.tx(ifp.ifname, ifp.txRing, batch);
  }
}
