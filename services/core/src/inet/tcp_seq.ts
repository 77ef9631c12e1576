/**
 * Sequence-number arithmetic modulo 2^32 (sys/netinet/tcp_seq.h).
 *
 * Inside the engine every sequence number, acknowledgment number and timestamp is
 * kept as a signed 32-bit integer (`x | 0`): V8 stores those as small integers in
 * the object itself, which keeps a TCB compact. Comparisons use the sign of the
 * 32-bit difference, exactly as `SEQ_LT(a, b)` is `(int)((a) - (b)) < 0` in C.
 * On the wire (TcpSeg) numbers are unsigned; `seqU32` converts back.
 */

/** a < b in sequence space. */
export function SEQ_LT(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}
/** a <= b in sequence space. */
export function SEQ_LEQ(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}
/** a > b in sequence space. */
export function SEQ_GT(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}
/** a >= b in sequence space. */
export function SEQ_GEQ(a: number, b: number): boolean {
  return ((a - b) | 0) >= 0;
}
/** The earlier of two sequence numbers. */
export function SEQ_MIN(a: number, b: number): number {
  return SEQ_LT(a, b) ? a : b;
}
/** The later of two sequence numbers. */
export function SEQ_MAX(a: number, b: number): number {
  return SEQ_GT(a, b) ? a : b;
}
/** a + n as a signed 32-bit sequence number. */
export function seqAdd(a: number, n: number): number {
  return (a + n) | 0;
}
/** Signed distance b − a (how far b is ahead of a), in −2^31 … 2^31−1. */
export function seqDiff(b: number, a: number): number {
  return (b - a) | 0;
}
/** Internal (signed) → wire (unsigned 0 … 2^32−1). */
export function seqU32(a: number): number {
  return a >>> 0;
}
/** Wire (unsigned) or any number → internal signed 32-bit. */
export function seqI32(a: number): number {
  return a | 0;
}
/** a ≤ x < b in sequence space (a half-open window). */
export function seqInWindow(x: number, a: number, b: number): boolean {
  return SEQ_LEQ(a, x) && SEQ_LT(x, b);
}
