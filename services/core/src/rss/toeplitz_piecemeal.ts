/**
 * Piecemeal Toeplitz hashing for the symmetric key, as DragonFly's
 * `toeplitz_piecemeal_addr()` / `toeplitz_piecemeal_port()` (toeplitz2.h).
 *
 * Toeplitz is linear over XOR: the hash of faddr|laddr|fport|lport is the XOR
 * of each field's contribution at its byte offset. With the 0x6d5a key the
 * contribution of a byte depends only on whether its offset is even or odd,
 * and every field of the TCP input starts at an even offset, so a field's
 * piece is the same wherever it sits. `in_pcbbind_remote()` uses this to hash
 * (faddr, laddr, fport) once and then try local ports with two table loads
 * each (connect's local port search, DragonFly 02353b181a).
 *
 * Addresses are the big-endian 32-bit value (10.0.0.1 = 0x0a000001), ports
 * host numbers; results are raw unsigned 32-bit (mask with toeplitzHash()).
 */
import { symmetric } from "./toeplitz.js";

/** cache[0] (even offsets) and cache[1] (odd offsets), derived from the hash itself by linearity. */
const EVEN = new Uint32Array(256);
const ODD = new Uint32Array(256);
for (let v = 0; v < 256; v++) {
  // A port at offset 8 (even): its high byte is even, its low byte odd.
  EVEN[v] = symmetric.hash4(0, 0, v << 8, 0);
  ODD[v] = symmetric.hash4(0, 0, v, 0);
}

/** `toeplitz_piecemeal_addr(addr)`: the raw-hash piece of a 4-byte address at an even offset. */
export function toeplitzPiecemealAddr(addr: number): number {
  return (EVEN[addr >>> 24] ^ ODD[(addr >>> 16) & 0xff] ^ EVEN[(addr >>> 8) & 0xff] ^ ODD[addr & 0xff]) >>> 0;
}

/** `toeplitz_piecemeal_port(port)`: the raw-hash piece of a 2-byte port at an even offset. */
export function toeplitzPiecemealPort(port: number): number {
  return (EVEN[(port >>> 8) & 0xff] ^ ODD[port & 0xff]) >>> 0;
}

/**
 * The pieces combined: equal to `symmetric.hash4(faddr, laddr, fport, lport)`
 * (and, the key being symmetric, to the reverse direction's hash).
 */
export function toeplitzPiecemealAddrport(faddr: number, laddr: number, fport: number, lport: number): number {
  return (
    (toeplitzPiecemealAddr(faddr) ^ toeplitzPiecemealAddr(laddr) ^ toeplitzPiecemealPort(fport) ^ toeplitzPiecemealPort(lport)) >>>
    0
  );
}
