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

export class SockBuf {
  /** Bytes held. */
  cc = 0;
  private chunks: Uint8Array[] = [];
  /** Read position in chunks[0]. */
  private head = 0;
  /** Bytes used in the last chunk. */
  private tailUsed = 0;

  /** A first chunk kept from before `recycle` (no view of its bytes is left anywhere). */
  private spare: Uint8Array | null = null;
  /** The first chunk when the buffer last ran empty (a candidate for `spare`). */
  private drained: Uint8Array | null = null;

  /** Appends a copy of `data[off, off+len)`. */
  append(data: Uint8Array, off = 0, len = data.length - off): void {
    if (len <= 0) return;
    this.cc += len;
    const last = this.chunks.length ? this.chunks[this.chunks.length - 1] : null;
    if (last) {
      const room = last.length - this.tailUsed;
      if (room > 0) {
        const n = room < len ? room : len;
        copyInto(last, this.tailUsed, data, off, n);
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
    copyInto(c, 0, data, off, len);
    this.chunks.push(c);
    this.tailUsed = len;
  }

  /**
   * Empties the buffer for reuse (an engine's cache of them). With `keepChunk` its first
   * chunk (up to SPARE_MAX bytes) becomes the next first chunk: only when nothing holds a
   * view of its bytes any more (a send buffer whose output consumes each segment at once).
   */
  recycle(keepChunk: boolean): void {
    const first = this.chunks.length ? this.chunks[0] : this.drained;
    this.spare = keepChunk ? (first !== null && first.length <= SPARE_MAX ? first : this.spare) : null;
    this.drained = null;
    this.cc = 0;
    this.chunks.length = 0;
    this.head = 0;
    this.tailUsed = 0;
  }

  /** Length of the usable part of chunk i. */
  private chunkEnd(i: number): number {
    return i === this.chunks.length - 1 ? this.tailUsed : this.chunks[i].length;
  }

  /** `len` bytes starting `off` bytes from the front, without removing them. */
  peek(off: number, len: number): Uint8Array {
    if (len <= 0 || off >= this.cc) return EMPTY;
    if (off + len > this.cc) len = this.cc - off;
    let i = 0;
    let pos = this.head + off;
    while (pos >= this.chunkEnd(i)) {
      pos -= this.chunkEnd(i);
      i++;
    }
    const c = this.chunks[i];
    if (pos + len <= this.chunkEnd(i)) return c.subarray(pos, pos + len);
    const out = new Uint8Array(len);
    let got = 0;
    while (got < len) {
      const end = this.chunkEnd(i);
      const n = Math.min(end - pos, len - got);
      out.set(this.chunks[i].subarray(pos, pos + n), got);
      got += n;
      i++;
      pos = 0;
    }
    return out;
  }

  /** Removes `n` bytes from the front. */
  drop(n: number): void {
    if (n >= this.cc) {
      this.clear();
      return;
    }
    this.cc -= n;
    while (n > 0) {
      const avail = this.chunkEnd(0) - this.head;
      if (n < avail) {
        this.head += n;
        return;
      }
      n -= avail;
      this.chunks.shift();
      this.head = 0;
    }
  }

  /** Removes and returns up to `max` bytes from the front. */
  read(max: number): Uint8Array {
    const n = max < this.cc ? max : this.cc;
    if (n <= 0) return EMPTY;
    const first = this.chunks[0];
    let out: Uint8Array;
    // A view is safe: bytes once written are never rewritten, and these leave the buffer.
    if (this.head + n <= this.chunkEnd(0)) out = first.subarray(this.head, this.head + n);
    else out = this.peek(0, n);
    this.drop(n);
    return out;
  }

  clear(): void {
    if (this.chunks.length) this.drained = this.chunks[0];
    this.cc = 0;
    this.chunks.length = 0;
    this.head = 0;
    this.tailUsed = 0;
  }
}
