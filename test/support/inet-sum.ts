/** RFC 1071 Internet checksum for hand-built headers, written out here (independent of the stack's code). */

/** The one's-complement sum of 16-bit big-endian words, complemented: the value a header carries. */
export function sum16(b: number[]): number {
  let s = 0;
  for (let i = 0; i < b.length; i += 2) s += (b[i] << 8) | (b[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** Writes the checksum of `b` (its field at `at` still zero) into `b` at `at`, big-endian; returns `b`. */
export function withSum(b: number[], at: number): number[] {
  const c = sum16(b);
  b[at] = c >> 8;
  b[at + 1] = c & 255;
  return b;
}
