// Frame batches (the paper's §2.2): many frames, each with its RSS hash, in one message; layout and limits in the README.
// Readers iterate without allocating per frame and may rewrite a frame in place; a malformed batch is refused with a reason, never thrown.

export const FRAME_BATCH_MAGIC = 0xdf1b;
export const FRAME_BATCH_VERSION = 1;
export const BATCH_HEADER_BYTES = 12;
export const FRAME_HEADER_BYTES = 8;
export const MAX_FRAME_LENGTH = 65535;
export const MAX_BATCH_FRAMES = 16384;
export const MAX_BATCH_BYTES = 1024 * 1024 - 1024;
/** Default writer capacity: 64 KiB (e.g. 256 frames of 64 bytes, 40 of 1500). */
export const DEFAULT_BATCH_BYTES = 64 * 1024;

/** Why a batch was refused (counted by the receiver). */
export const FrameBatchDrop = {
  /** Shorter than the batch header. */
  tooshort: "tooshort",
  badmagic: "badmagic",
  badversion: "badversion",
  /** Frame count above MAX_BATCH_FRAMES, or the frames end before `count` were read. */
  badcount: "badcount",
  /** Declared length ≠ bytes received, above MAX_BATCH_BYTES, or bytes left after the last frame. */
  badlen: "badlen",
} as const;
export type FrameBatchDropReason = (typeof FrameBatchDrop)[keyof typeof FrameBatchDrop];

/** Visitor of one frame: the frame is `buf[offset, offset+length)`, modifiable in place. */
export type FrameVisitor = (buf: Uint8Array, offset: number, length: number, hash: number, tag: number, index: number) => void;

function rd16(b: Uint8Array, o: number): number {
  return b[o] | (b[o + 1] << 8);
}
function rd32(b: Uint8Array, o: number): number {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}
function wr16(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
}
function wr32(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = (v >>> 24) & 0xff;
}

/** Checks the whole batch structure; `null` when it is well formed. */
export function validateFrameBatch(batch: Uint8Array): FrameBatchDropReason | null {
  if (batch.length < BATCH_HEADER_BYTES) return FrameBatchDrop.tooshort;
  if (rd16(batch, 0) !== FRAME_BATCH_MAGIC) return FrameBatchDrop.badmagic;
  if (batch[2] !== FRAME_BATCH_VERSION) return FrameBatchDrop.badversion;
  const count = rd32(batch, 4);
  const len = rd32(batch, 8);
  if (len !== batch.length || len > MAX_BATCH_BYTES) return FrameBatchDrop.badlen;
  if (count > MAX_BATCH_FRAMES) return FrameBatchDrop.badcount;
  let o = BATCH_HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    if (o + FRAME_HEADER_BYTES > len) return FrameBatchDrop.badcount;
    o += FRAME_HEADER_BYTES + rd16(batch, o + 4);
    if (o > len) return FrameBatchDrop.badlen;
  }
  return o === len ? null : FrameBatchDrop.badlen;
}

/** Number of frames of a batch already validated. */
export function frameBatchCount(batch: Uint8Array): number {
  return rd32(batch, 4);
}

/** Calls `visit` per frame in order; returns the drop reason (visiting nothing) for a malformed batch, else null. */
export function forEachFrame(batch: Uint8Array, visit: FrameVisitor): FrameBatchDropReason | null {
  const bad = validateFrameBatch(batch);
  if (bad !== null) return bad;
  const count = rd32(batch, 4);
  let o = BATCH_HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    const length = rd16(batch, o + 4);
    visit(batch, o + FRAME_HEADER_BYTES, length, rd32(batch, o), rd16(batch, o + 6), i);
    o += FRAME_HEADER_BYTES + length;
  }
  return null;
}

/** A reusable cursor over one batch: `if (c.reset(b) === null) while (c.next()) use(c.buf, c.offset, c.length, c.hash)`. */
export class FrameBatchCursor {
  buf: Uint8Array = new Uint8Array(0);
  /** Offset of the current frame's first byte in `buf`. */
  offset = 0;
  length = 0;
  hash = 0;
  tag = 0;
  /** Index of the current frame (-1 before the first `next()`). */
  index = -1;
  count = 0;
  private nextAt = 0;

  /** Validates and positions before the first frame; returns the drop reason or null. */
  reset(batch: Uint8Array): FrameBatchDropReason | null {
    const bad = validateFrameBatch(batch);
    this.buf = batch;
    this.index = -1;
    this.nextAt = BATCH_HEADER_BYTES;
    this.count = bad === null ? rd32(batch, 4) : 0;
    return bad;
  }

  next(): boolean {
    if (this.index + 1 >= this.count) return false;
    const o = this.nextAt;
    const b = this.buf;
    this.index++;
    this.hash = rd32(b, o);
    this.length = rd16(b, o + 4);
    this.tag = rd16(b, o + 6);
    this.offset = o + FRAME_HEADER_BYTES;
    this.nextAt = this.offset + this.length;
    return true;
  }

  /** Rewrites the current frame's hash and tag in the batch (e.g. after re-steering). */
  setMeta(hash: number, tag: number): void {
    const o = this.offset - FRAME_HEADER_BYTES;
    wr32(this.buf, o, hash >>> 0);
    wr16(this.buf, o + 6, tag);
    this.hash = hash >>> 0;
    this.tag = tag & 0xffff;
  }
}

/** Appends frames into one buffer: `finish()` returns a view valid until `reset()`; `take()` hands the buffer over (publishable with `transfer`). */
export class FrameBatchWriter {
  private buf: Uint8Array;
  private pos = BATCH_HEADER_BYTES;
  private n = 0;

  constructor(readonly capacity: number = DEFAULT_BATCH_BYTES) {
    if (!Number.isInteger(capacity) || capacity < BATCH_HEADER_BYTES + FRAME_HEADER_BYTES || capacity > MAX_BATCH_BYTES) {
      throw new RangeError(`frame batch capacity ${capacity} outside [${BATCH_HEADER_BYTES + FRAME_HEADER_BYTES}, ${MAX_BATCH_BYTES}]`);
    }
    this.buf = new Uint8Array(capacity);
  }

  get count(): number {
    return this.n;
  }
  get byteLength(): number {
    return this.pos;
  }
  /** The largest frame that still fits (0 when full). */
  get room(): number {
    if (this.n >= MAX_BATCH_FRAMES) return 0;
    return Math.max(0, Math.min(MAX_FRAME_LENGTH, this.capacity - this.pos - FRAME_HEADER_BYTES));
  }

  /** Reserves `length` bytes for a frame; returns its offset in `buffer` (build the packet there), or -1 when it doesn't fit. */
  reserve(length: number, hash: number, tag = 0): number {
    if (length < 0 || length > MAX_FRAME_LENGTH || this.n >= MAX_BATCH_FRAMES) return -1;
    if (this.pos + FRAME_HEADER_BYTES + length > this.capacity) return -1;
    const b = this.buf;
    const o = this.pos;
    wr32(b, o, hash >>> 0);
    wr16(b, o + 4, length);
    wr16(b, o + 6, tag);
    this.pos = o + FRAME_HEADER_BYTES + length;
    this.n++;
    return o + FRAME_HEADER_BYTES;
  }

  /** The buffer `reserve()` offsets refer to. */
  get buffer(): Uint8Array {
    return this.buf;
  }

  /** Copies `src[offset, offset+length)` in as one frame; false when it doesn't fit. */
  appendFrom(src: Uint8Array, offset: number, length: number, hash: number, tag = 0): boolean {
    const at = this.reserve(length, hash, tag);
    if (at < 0) return false;
    this.buf.set(src.subarray(offset, offset + length), at);
    return true;
  }

  append(frame: Uint8Array, hash: number, tag = 0): boolean {
    return this.appendFrom(frame, 0, frame.length, hash, tag);
  }

  /** Writes the header and returns the batch, a view valid until `reset()`. */
  finish(): Uint8Array {
    const b = this.buf;
    wr16(b, 0, FRAME_BATCH_MAGIC);
    b[2] = FRAME_BATCH_VERSION;
    b[3] = 0;
    wr32(b, 4, this.n);
    wr32(b, 8, this.pos);
    return b.subarray(0, this.pos);
  }

  /** `finish()` and give the buffer away; the writer starts a new, empty batch in a fresh buffer. */
  take(): Uint8Array {
    const out = this.finish();
    this.buf = new Uint8Array(this.capacity);
    this.pos = BATCH_HEADER_BYTES;
    this.n = 0;
    return out;
  }

  /** Empties the batch (reusing the buffer unless it was transferred away). */
  reset(): void {
    if (this.buf.buffer.byteLength === 0) this.buf = new Uint8Array(this.capacity);
    this.pos = BATCH_HEADER_BYTES;
    this.n = 0;
  }
}

/** Keeps the frames with a non-zero `keep[index]`, moved down in place; returns the shorter view. The batch must already be valid. */
export function compactFrameBatch(batch: Uint8Array, keep: ArrayLike<number>): Uint8Array {
  const count = rd32(batch, 4);
  let src = BATCH_HEADER_BYTES;
  let dst = BATCH_HEADER_BYTES;
  let kept = 0;
  for (let i = 0; i < count; i++) {
    const size = FRAME_HEADER_BYTES + rd16(batch, src + 4);
    if (keep[i]) {
      if (dst !== src) batch.copyWithin(dst, src, src + size);
      dst += size;
      kept++;
    }
    src += size;
  }
  wr32(batch, 4, kept);
  wr32(batch, 8, dst);
  return batch.subarray(0, dst);
}

/** Builds a batch from whole frames (tests, tools; the hot path uses a writer). */
export function encodeFrameBatch(frames: readonly { data: Uint8Array; hash: number; tag?: number }[]): Uint8Array {
  const bytes = frames.reduce((n, f) => n + FRAME_HEADER_BYTES + f.data.length, BATCH_HEADER_BYTES);
  const w = new FrameBatchWriter(Math.max(bytes, BATCH_HEADER_BYTES + FRAME_HEADER_BYTES));
  for (const f of frames) {
    if (!w.append(f.data, f.hash, f.tag ?? 0)) throw new RangeError(`frame of ${f.data.length} bytes does not fit a frame batch`);
  }
  return w.take();
}

/** Copies every frame out (tests, tools). */
export function decodeFrameBatch(batch: Uint8Array): { data: Uint8Array; hash: number; tag: number }[] | FrameBatchDropReason {
  const out: { data: Uint8Array; hash: number; tag: number }[] = [];
  const bad = forEachFrame(batch, (b, o, l, hash, tag) => out.push({ data: new Uint8Array(b.subarray(o, o + l)), hash, tag }));
  return bad ?? out;
}
