/**
 * The Internet checksum (RFC 1071), the TCP/UDP pseudo-header and the RFC 1624
 * incremental update — DragonFly's `sys/netinet/in_cksum.c` and `in_pseudo()`.
 *
 * Sums are kept as *folded ones'-complement sums*: numbers in [0, 0xffff] where 0
 * appears only for all-zero data (a ones'-complement sum of non-negative words that
 * are not all zero is never +0). The checksum field holds the complement of the
 * folded sum; a packet whose checksum field is filled in sums to 0xffff, so
 * `inCksum()` over it returns 0 — that is how receivers verify.
 *
 * Speed: short ranges (headers) are summed byte-pair by byte-pair; longer ranges are
 * read as little-endian 32-bit words through a Uint32Array view and accumulated in a
 * float64 (exact below 2^53), then reduced modulo 0xffff and byte-swapped (RFC 1071
 * §2(B): the sum is byte-order independent up to a swap). Odd start addresses reuse
 * the same trick: sum from the next byte and swap.
 */

/** Ranges shorter than this are summed with the byte loop (a typed-array view costs more). */
const VIEW_THRESHOLD = 96;
/** Words summed before reducing, so the float accumulator stays exact (< 2^53). */
const CHUNK_WORDS = 1 << 20;

function swap16(x: number): number {
  return ((x & 0xff) << 8) | (x >>> 8);
}

/** Folds an exact non-negative integer sum to the ones'-complement representative in [0, 0xffff]. */
function foldExact(s: number): number {
  if (s === 0) return 0;
  const r = s % 0xffff;
  return r === 0 ? 0xffff : r;
}

/** Byte-pair loop: big-endian 16-bit words, odd trailing byte padded with zero. */
function sumBytes(b: Uint8Array, off: number, len: number): number {
  let s = 0;
  let i = off;
  const end = off + (len & ~1);
  const end16 = off + (len & ~15);
  while (i < end16) {
    s +=
      ((b[i] << 8) | b[i + 1]) + ((b[i + 2] << 8) | b[i + 3]) +
      ((b[i + 4] << 8) | b[i + 5]) + ((b[i + 6] << 8) | b[i + 7]) +
      ((b[i + 8] << 8) | b[i + 9]) + ((b[i + 10] << 8) | b[i + 11]) +
      ((b[i + 12] << 8) | b[i + 13]) + ((b[i + 14] << 8) | b[i + 15]);
    i += 16;
    if (s > 0x3fffffff) s = (s & 0xffff) + (s >>> 16);
  }
  while (i < end) {
    s += (b[i] << 8) | b[i + 1];
    i += 2;
  }
  if (len & 1) s += b[end] << 8;
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** 4-aligned range (absolute address), summed as little-endian words; returns the big-endian folded sum. */
/**
 * 32-bit views of the whole of the last two buffers summed: the frames of one batch share a
 * buffer, so one view serves them all instead of one per call. It keeps those buffers
 * alive until two others are summed.
 */
let wordsBuf: ArrayBufferLike | null = null;
let words: Uint32Array = new Uint32Array(0);
// The view before the last one: input checksums the received batch and output the batch
// being written, alternately, so one entry would make a view per segment.
let wordsBuf2: ArrayBufferLike | null = null;
let words2: Uint32Array = new Uint32Array(0);
function wordsOf(buf: ArrayBufferLike): Uint32Array {
  if (buf === wordsBuf) return words;
  const w = buf === wordsBuf2 ? words2 : new Uint32Array(buf, 0, buf.byteLength >>> 2);
  wordsBuf2 = wordsBuf;
  words2 = words;
  wordsBuf = buf;
  words = w;
  return w;
}

function sumAligned(b: Uint8Array, off: number, len: number): number {
  const n = len >>> 2;
  const w = wordsOf(b.buffer);
  const base = (b.byteOffset + off) >>> 2;
  let acc = 0;
  let k = base;
  const last = base + n;
  while (k < last) {
    const stop = Math.min(last, k + CHUNK_WORDS);
    let s = 0;
    const stop8 = k + ((stop - k) & ~7);
    for (; k < stop8; k += 8) s += w[k] + w[k + 1] + w[k + 2] + w[k + 3] + w[k + 4] + w[k + 5] + w[k + 6] + w[k + 7];
    for (; k < stop; k++) s += w[k];
    acc = foldExact(acc + foldExact(s));
  }
  // Tail (0..3 bytes), still little-endian pairs so it joins the swapped sum.
  let i = off + n * 4;
  const end = off + len;
  let t = 0;
  if (i + 1 < end) {
    t += b[i] | (b[i + 1] << 8);
    i += 2;
  }
  if (i < end) t += b[i];
  return swap16(foldExact(acc + t));
}

/**
 * The folded ones'-complement sum of the big-endian 16-bit words of
 * `b[off, off+len)` (an odd trailing byte is padded with zero). Not complemented.
 * The range must lie inside `b` (parsers check lengths before summing).
 */
export function cksumSum(b: Uint8Array, off = 0, len = b.length - off): number {
  if (len < VIEW_THRESHOLD) return sumBytes(b, off, len);
  const abs = b.byteOffset + off;
  if (abs & 1) {
    // Words starting at an odd address straddle the grid: sum from off+1 and swap back.
    const rest = cksumSum(b, off + 1, len - 1);
    return cksumAdd(b[off] << 8, swap16(rest));
  }
  if (abs & 2) {
    return cksumAdd((b[off] << 8) | b[off + 1], sumAligned(b, off + 2, len - 2));
  }
  return sumAligned(b, off, len);
}

/** Ones'-complement addition of two (or more, summed beforehand) 16-bit partial sums. */
export function cksumAdd(a: number, c: number): number {
  let s = a + c;
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return s;
}

/**
 * The Internet checksum of `b[off, off+len)`: the complement of the folded sum.
 * Over a header or packet whose checksum field is filled in, the result is 0.
 * This is the function the benchmark measures.
 */
export function inCksum(b: Uint8Array, off = 0, len = b.length - off): number {
  return ~cksumSum(b, off, len) & 0xffff;
}

/**
 * The folded sum of the TCP/UDP pseudo-header (RFC 793/768): source and
 * destination address (uint32 values), zero, protocol, and the L4 length
 * (header + data). DragonFly's `in_pseudo(src, dst, htons(len + proto))`.
 */
export function inPseudo(src: number, dst: number, proto: number, l4len: number): number {
  const s = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + (proto & 0xff) + (l4len & 0xffff);
  return cksumAdd(s & 0xffff, s >>> 16);
}

/**
 * The TCP/UDP checksum of the segment `b[off, off+len)` including the
 * pseudo-header. Returns 0 for a segment whose checksum field is correct; over a
 * segment whose checksum field is zeroed, it returns the value to store.
 */
export function inCksumPseudo(
  b: Uint8Array, off: number, len: number, src: number, dst: number, proto: number,
): number {
  return ~cksumAdd(inPseudo(src, dst, proto, len), cksumSum(b, off, len)) & 0xffff;
}

/**
 * RFC 1624 eqn. 3 incremental update: the new checksum after one 16-bit word of
 * the covered data changes from `oldWord` to `newWord`:
 * HC' = ~(~HC + ~m + m'). Equal to a full recompute (never yields the -0 form).
 */
export function cksumAdjust(oldCksum: number, oldWord: number, newWord: number): number {
  let s = (~oldCksum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/**
 * RFC 1624 update for a 32-bit field aligned on a 16-bit boundary (an address, a
 * sequence number): both halves change.
 */
export function cksumAdjust32(oldCksum: number, oldValue: number, newValue: number): number {
  let s =
    (~oldCksum & 0xffff) +
    (~(oldValue >>> 16) & 0xffff) + (~oldValue & 0xffff) +
    ((newValue >>> 16) & 0xffff) + (newValue & 0xffff);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}
