/** TCP output as frames into a batch, flushed at the end of the burst (a microtask, DragonFly's tcp_willblock) or when full. */
import { FrameBatchWriter } from "@dfly/transport";
import type { TcpSeg } from "@dfly/core";
import { tcpFrameLength, writeTcpFrame } from "./tcp_host.js";

export class TcpFrameQueue {
  private readonly w: FrameBatchWriter;
  private queued = false;
  private ipId = 1;
  /** Frames and batches sent. */
  frames = 0;
  batches = 0;

  constructor(
    /** Receives each finished batch (a fresh buffer the receiver owns). */
    private readonly send: (batch: Uint8Array) => void,
    capacity = 256 * 1024,
    /** Run the flush as a microtask after the first frame (default); false: the caller flushes. */
    private readonly auto = true,
  ) {
    this.w = new FrameBatchWriter(capacity);
  }

  /** Writes `seg` as a frame (hash `hash` in the batch; 0 lets the NIC compute it). */
  push(seg: TcpSeg, hash = 0): void {
    const len = tcpFrameLength(seg);
    let at = this.w.reserve(len, hash, 0);
    if (at < 0) {
      this.flush();
      at = this.w.reserve(len, hash, 0);
      if (at < 0) throw new RangeError(`a ${len}-byte frame does not fit a batch`);
    }
    writeTcpFrame(this.w.buffer, at, seg, this.ipId);
    this.ipId = (this.ipId + 1) & 0xffff;
    this.frames++;
    if (this.auto && !this.queued) {
      this.queued = true;
      queueMicrotask(() => this.flush());
    }
  }

  get pending(): number {
    return this.w.count;
  }

  flush(): void {
    this.queued = false;
    const w = this.w;
    if (w.count === 0) return;
    const b = w.finish().slice();
    w.reset();
    this.batches++;
    this.send(b);
  }
}
