/**
 * Socket buffer: a byte queue (DragonFly's `struct sockbuf`, sys/kern/uipc_sockbuf.c,
 * reduced to what TCP needs). The send buffer holds unacknowledged and unsent bytes
 * starting at snd_una; the receive buffer holds in-order bytes not yet read.
 *
 * Bytes live in chunks; appends copy into the tail chunk while it has room. The first
 * chunk is exactly as large as the first append (a short request or response costs
 * no more than itself); later chunks double up to CHUNK_MAX, so many small writes do
 * not make many small arrays. A chunk's bytes are never rewritten once written, so
 * `peek` can hand out subarrays (zero-copy) safely.
 */

const CHUNK_MAX = 16 * 1024;

/**
 * Chunk memory. Node's `Buffer.allocUnsafe` carves small sizes from a shared 8 KiB
 * pool (one allocation per many chunks instead of one per chunk); every byte of a
 * chunk is written before it is read, so the missing zero-fill is never visible.
 */
function alloc(n: number): Uint8Array {
  return Buffer.allocUnsafe(n);
}
const EMPTY = new Uint8Array(0);
/** Largest first chunk a recycled buffer keeps. */
const SPARE_MAX = 4096;

/** dst[at…] = src[off, off+n), without a subarray object for the common whole-array case. */
function copyInto(dst: Uint8Array, at: number, src: Uint8Array, off: number, n: number): void {
  if (off === 0 && n === src.length) dst.set(src, at);
  else if (n <= 64) for (let i = 0; i < n; i++) dst[at + i] = src[off + i];
  else dst.set(src.subarray(off, off + n), at);
}

const viewOf = (a: Uint8Array): DataView => new DataView(a.buffer, a.byteOffset, a.byteLength);

/**
 * The DataView of the last array `append` copied part of (a frame batch: one view per batch
 * rather than a subarray per segment). It keeps that one array alive until the next.
 */
let srcArr: Uint8Array = EMPTY;
let srcDv: DataView | null = null;

/** dst[at…] = src[off, off+n) four bytes at a time through DataViews of both (no view per copy). */
function copyWords(dst: Uint8Array, ddv: DataView, at: number, src: Uint8Array, sdv: DataView, off: number, n: number): void {
  let i = 0;
  for (const end = n - 3; i < end; i += 4) ddv.setInt32(at + i, sdv.getInt32(off + i));
  for (; i < n; i++) dst[at + i] = src[off + i];
}

export class SockBuf {
  /** Bytes held. */
  cc = 0;
  /**
   * Chunks in slots [h, n) of an array that is never truncated (truncating an array gives
   * up its storage, and the next push would allocate it again); free slots hold EMPTY.
   */
  private readonly chunks: Uint8Array[] = [];
  private h = 0;
  private n = 0;
  /** Read position in chunks[h]. */
  private head = 0;
  /** Bytes used in the last chunk. */
  private tailUsed = 0;

  /** A drained first chunk to write again (no view of its bytes is left anywhere). */
  private spare: Uint8Array | null = null;
  /**
   * Views of the bytes are used up within the call that takes them (a send buffer whose
   * output copies each segment at once): drained chunks are written again, and `peek`
   * hands out the same view for the same bytes.
   */
  transient = false;
  /** A view of the bytes went out that may outlive its call: no chunk is written again. */
  private viewed = false;
  /** The last view `peek` made of a transient buffer (of chunk pvChunk at pvPos). */
  private pv: Uint8Array = EMPTY;
  private pvChunk: Uint8Array = EMPTY;
  private pvPos = 0;

  /** A DataView of chunk dvChunk (word copies into it). */
  private dv: DataView | null = null;
  private dvChunk: Uint8Array = EMPTY;

  /** Appends a copy of `data[off, off+len)`. */
  append(data: Uint8Array, off = 0, len = data.length - off): void {
    if (len <= 0) return;
    this.cc += len;
    const last = this.n > this.h ? this.chunks[this.n - 1] : null;
    if (last) {
      const room = last.length - this.tailUsed;
      if (room > 0) {
        const n = room < len ? room : len;
        this.copyIn(last, this.tailUsed, data, off, n);
        this.tailUsed += n;
        off += n;
        len -= n;
        if (len === 0) return;
      }
    }
    const grow = last ? Math.min(CHUNK_MAX, last.length * 2) : 0;
    const spare = this.spare;
    let c: Uint8Array;
    if (spare !== null && !last && spare.length >= len) {
      c = spare;
      this.spare = null;
    } else c = alloc(len > grow ? len : grow);
    this.copyIn(c, 0, data, off, len);
    if (this.n === this.chunks.length) this.chunks.push(c);
    else this.chunks[this.n] = c;
    this.n++;
    this.tailUsed = len;
  }

  /** `copyInto` for append: part of a larger array (a segment in its frame batch) word by word. */
  private copyIn(c: Uint8Array, at: number, src: Uint8Array, off: number, n: number): void {
    if (n <= 64 || (off === 0 && n === src.length)) {
      copyInto(c, at, src, off, n);
      return;
    }
    if (c !== this.dvChunk) {
      this.dv = viewOf(c);
      this.dvChunk = c;
    }
    if (src !== srcArr) {
      srcDv = viewOf(src);
      srcArr = src;
    }
    copyWords(c, this.dv!, at, src, srcDv!, off, n);
  }

  /**
   * Empties the buffer for reuse (an engine's cache of them). With `keepChunk` its first
   * chunk (up to SPARE_MAX bytes) becomes the next first chunk: only when nothing holds a
   * view of its bytes any more (no view went out, or they were used up at once).
   */
  recycle(keepChunk: boolean): void {
    const first = this.n > this.h ? this.chunks[this.h] : this.spare;
    this.spare = keepChunk && !this.viewed && first !== null && first.length <= SPARE_MAX ? first : null;
    this.reset();
    this.viewed = false;
  }

  private reset(): void {
    for (let i = this.h; i < this.n; i++) this.chunks[i] = EMPTY;
    this.cc = 0;
    this.h = this.n = 0;
    this.head = 0;
    this.tailUsed = 0;
  }

  /** Length of the usable part of slot i. */
  private chunkEnd(i: number): number {
    return i === this.n - 1 ? this.tailUsed : this.chunks[i].length;
  }

  /** `len` bytes starting `off` bytes from the front, without removing them. */
  peek(off: number, len: number): Uint8Array {
    if (len <= 0 || off >= this.cc) return EMPTY;
    if (off + len > this.cc) len = this.cc - off;
    let i = this.h;
    let pos = this.head + off;
    while (pos >= this.chunkEnd(i)) {
      pos -= this.chunkEnd(i);
      i++;
    }
    const c = this.chunks[i];
    if (pos + len <= this.chunkEnd(i)) {
      if (!this.transient) {
        this.viewed = true;
        return c.subarray(pos, pos + len);
      }
      if (c !== this.pvChunk || pos !== this.pvPos || len !== this.pv.length) {
        this.pv = c.subarray(pos, pos + len);
        this.pvChunk = c;
        this.pvPos = pos;
      }
      return this.pv;
    }
    const out = new Uint8Array(len);
    this.copyOut(out, 0, i, pos, len);
    return out;
  }

  /** dst[at, at+len) = the bytes from slot i, position pos on. */
  private copyOut(dst: Uint8Array, at: number, i: number, pos: number, len: number): void {
    let got = 0;
    while (got < len) {
      const end = this.chunkEnd(i);
      const k = Math.min(end - pos, len - got);
      copyInto(dst, at + got, this.chunks[i], pos, k);
      got += k;
      i++;
      pos = 0;
    }
  }

  /** Removes `n` bytes from the front. */
  drop(n: number): void {
    if (n >= this.cc) {
      this.clear();
      return;
    }
    this.cc -= n;
    while (n > 0) {
      const avail = this.chunkEnd(this.h) - this.head;
      if (n < avail) {
        this.head += n;
        return;
      }
      n -= avail;
      this.chunks[this.h++] = EMPTY;
      this.head = 0;
    }
  }

  /** Removes and returns up to `max` bytes from the front. */
  read(max: number): Uint8Array {
    const n = max < this.cc ? max : this.cc;
    if (n <= 0) return EMPTY;
    const first = this.chunks[this.h];
    let out: Uint8Array;
    // A view is safe: bytes once written are never rewritten (`viewed`), and these leave the buffer.
    if (this.head + n <= this.chunkEnd(this.h)) {
      this.viewed = true;
      out = first.subarray(this.head, this.head + n);
    } else out = this.peek(0, n);
    this.drop(n);
    return out;
  }

  /** Removes up to `max` bytes from the front into `dst[at…]` (no view goes out); returns how many. */
  readInto(dst: Uint8Array, at: number, max: number): number {
    const n = max < this.cc ? max : this.cc;
    if (n <= 0) return 0;
    this.copyOut(dst, at, this.h, this.head, n);
    this.drop(n);
    return n;
  }

  clear(): void {
    const first = this.n > this.h ? this.chunks[this.h] : null;
    // The drained first chunk is written again when no view of it can be left.
    if (first !== null && !this.viewed && first.length <= SPARE_MAX && (this.spare === null || this.spare.length < first.length)) this.spare = first;
    this.reset();
  }
}
