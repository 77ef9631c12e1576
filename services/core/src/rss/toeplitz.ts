/**
 * Toeplitz RSS hash, as DragonFly's sys/net/toeplitz.c and toeplitz2.h.
 *
 * - `Toeplitz`: any 40-byte key, one 256-entry table per input byte position
 *   (36 positions, the longest input a 40-byte key covers), so a hash is one
 *   table load per input byte and no bit loop. For the IPv4 4-tuple and
 *   address pair it also keeps eight 4096-entry tables indexed by 12 input
 *   bits each (`TUPLE_CHUNKS`): 8 loads for hash4 and 6 for hash2 instead of
 *   12 and 8.
 * - `symmetric`: DragonFly's own method for its key (0x6d,0x5a repeated): the
 *   key has a 16-bit period, so the 32-bit key window of an input byte depends
 *   only on whether its position is even or odd, and two tables
 *   (`toeplitz_cache[2][256]`) serve every position. `toeplitzRawhashAddrport`
 *   / `toeplitzRawhashAddr` are toeplitz2.h's functions load for load.
 *
 * Input order (toeplitz_rawhash_addrport): faddr(4) | laddr(4) | fport(2) |
 * lport(2), network byte order; on receive DragonFly passes (ip_src, ip_dst,
 * th_sport, th_dport), i.e. source first. Addresses here are the big-endian
 * 32-bit value (10.0.0.1 = 0x0a000001); ports are host numbers 0..65535.
 * Results are unsigned 32-bit.
 */

/** `TOEPLITZ_KEYLEN_MAX` (toeplitz.h): keys are 40 bytes. */
export const TOEPLITZ_KEYLEN = 40;
/** Longest input a 40-byte key can hash: every input bit needs a 32-bit key window. */
export const TOEPLITZ_INPUT_MAX = TOEPLITZ_KEYLEN - 4;
/** `TOEPLITZ_KEYSEED0` / `TOEPLITZ_KEYSEED1` (toeplitz.c). */
export const TOEPLITZ_KEYSEED0 = 0x6d;
export const TOEPLITZ_KEYSEED1 = 0x5a;

/** A key that is not 40 bytes, or a key string that is neither a known name nor 80 hex digits. */
export class RssKeyError extends Error {
  override readonly name = "RssKeyError";
  constructor(
    message: string,
    readonly input: string,
  ) {
    super(message);
  }
}

/** `hashBytes` input longer than the key covers (36 bytes for a 40-byte key). */
export class RssInputLengthError extends Error {
  override readonly name = "RssInputLengthError";
  constructor(readonly length: number) {
    super(`Toeplitz input of ${length} bytes is longer than the ${TOEPLITZ_INPUT_MAX} bytes a ${TOEPLITZ_KEYLEN}-byte key covers`);
  }
}

/**
 * `toeplitz_get_key()`: key[i] = seeds[i % 2]. DragonFly panics on keylen > 40;
 * here that is an RssKeyError.
 */
export function toeplitzGetKey(keylen: number = TOEPLITZ_KEYLEN, seed0 = TOEPLITZ_KEYSEED0, seed1 = TOEPLITZ_KEYSEED1): Uint8Array {
  if (!Number.isInteger(keylen) || keylen < 1 || keylen > TOEPLITZ_KEYLEN) {
    throw new RssKeyError(`key length ${keylen} is not in 1..${TOEPLITZ_KEYLEN}`, String(keylen));
  }
  const key = new Uint8Array(keylen);
  for (let i = 0; i < keylen; i++) key[i] = (i % 2 === 0 ? seed0 : seed1) & 0xff;
  return key;
}

/** DragonFly's key: 0x6d,0x5a repeated 20 times. Makes the TCP hash commutative. */
export const SYMMETRIC_KEY: Uint8Array = toeplitzGetKey();

function hexKey(hex: string): Uint8Array {
  const key = new Uint8Array(hex.length / 2);
  for (let i = 0; i < key.length; i++) key[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return key;
}

/** The example key of Microsoft's RSS specification (its verification table uses it). */
export const MICROSOFT_KEY: Uint8Array = hexKey(
  "6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa",
);

/**
 * "symmetric" | "microsoft" | 80 hex digits (optionally prefixed by 0x; `:` or
 * whitespace between bytes allowed). Returns a fresh copy. Throws RssKeyError.
 */
export function parseKey(s: string): Uint8Array {
  const name = s.trim().toLowerCase();
  if (name === "symmetric") return SYMMETRIC_KEY.slice();
  if (name === "microsoft") return MICROSOFT_KEY.slice();
  const hex = name.replace(/^0x/, "").replace(/[:\s]/g, "");
  if (!/^[0-9a-f]*$/.test(hex)) {
    throw new RssKeyError(`key "${s}" is not "symmetric", "microsoft" or ${2 * TOEPLITZ_KEYLEN} hex digits (non-hex character)`, s);
  }
  if (hex.length !== 2 * TOEPLITZ_KEYLEN) {
    throw new RssKeyError(`key "${s}" has ${hex.length} hex digits; want ${2 * TOEPLITZ_KEYLEN} (a ${TOEPLITZ_KEYLEN}-byte key)`, s);
  }
  return hexKey(hex);
}

/** The 32 key bits starting at key bit `bit` (MSB of key[0] is bit 0); bits past the key are 0. */
function keyWindow(key: Uint8Array, bit: number): number {
  let w = 0;
  for (let i = 0; i < 32; i++) {
    const b = bit + i;
    const byte = b >>> 3;
    const set = byte < key.length ? (key[byte] >>> (7 - (b & 7))) & 1 : 0;
    w = (w << 1) | set;
  }
  return w >>> 0;
}

/**
 * `toeplitz_cache_create()` generalised: for each of `npos` input byte
 * positions, table[pos*256 + v] = XOR of the key windows of v's set bits
 * (bit 7 of v is input bit pos*8). Built once; hashing never loops over bits.
 */
function cacheCreate(key: Uint8Array, npos: number): Uint32Array {
  const t = new Uint32Array(npos * 256);
  for (let pos = 0; pos < npos; pos++) {
    const base = pos * 256;
    const win = new Uint32Array(8);
    for (let b = 0; b < 8; b++) win[b] = keyWindow(key, pos * 8 + b);
    for (let v = 1; v < 256; v++) {
      // v = (v without its lowest set bit) | lowest set bit
      const low = v & -v;
      const b = 7 - (31 - Math.clz32(low)); // bit 0x80 is window 0
      t[base + v] = t[base + (v ^ low)] ^ win[b];
    }
  }
  return t;
}

function range(first: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => first + i);
}

/**
 * The 96 input bits of src(4)|dst(4)|sport(2)|dport(2) (bit 0 = MSB of src,
 * 32 = MSB of dst, 64 = MSB of sport, 80 = MSB of dport) cut into eight
 * 12-bit table indexes, most significant index bit first. The cuts follow the
 * fields so each index is one or two operations on an argument:
 *   0: src >>> 20            1: src & 0xfff
 *   2: dst >>> 20            3: dst & 0xfff
 *   4: (sport >>> 4) & 0xfff 5: (dport >>> 4) & 0xfff
 *   6: src bits 19..12 then sport bits 3..0: ((src >>> 8) & 0xff0) | (sport & 0xf)
 *   7: dst bits 19..12 then dport bits 3..0: ((dst >>> 8) & 0xff0) | (dport & 0xf)
 * A zero field contributes nothing, so hash2 uses tables 0-3, 6 and 7 only.
 */
const TUPLE_CHUNKS: readonly (readonly number[])[] = [
  range(0, 12),
  range(20, 12),
  range(32, 12),
  range(52, 12),
  range(64, 12),
  range(80, 12),
  [...range(12, 8), ...range(76, 4)],
  [...range(44, 8), ...range(92, 4)],
];
const WIDE_BITS = 12;

/**
 * Wide tables: for each chunk (a list of input bit numbers, the first one is
 * index bit WIDE_BITS-1), table[c << WIDE_BITS | v] = XOR of the key windows of
 * the chunk bits set in v. 8 × 4096 entries = 128 KiB per key.
 */
function wideCacheCreate(key: Uint8Array, chunks: readonly (readonly number[])[]): Uint32Array {
  const n = 1 << WIDE_BITS;
  const t = new Uint32Array(chunks.length * n);
  const win = new Uint32Array(WIDE_BITS);
  for (let c = 0; c < chunks.length; c++) {
    const bits = chunks[c];
    const base = c * n;
    for (let j = 0; j < WIDE_BITS; j++) win[j] = keyWindow(key, bits[j]);
    for (let v = 1; v < n; v++) {
      const low = v & -v;
      t[base + v] = t[base + (v ^ low)] ^ win[WIDE_BITS - 1 - (31 - Math.clz32(low))];
    }
  }
  return t;
}

/** Toeplitz hash over an arbitrary 40-byte key. */
export class Toeplitz {
  /** A copy of the key. */
  readonly key: Uint8Array;
  /** 36 positions × 256 entries, flat (one typed array keeps the loads monomorphic). For hashBytes. */
  private readonly t: Uint32Array;
  /** TUPLE_CHUNKS' 8 × 4096 entries, flat. For hash4 and hash2. */
  private readonly w: Uint32Array;

  constructor(key: Uint8Array) {
    if (!(key instanceof Uint8Array) || key.length !== TOEPLITZ_KEYLEN) {
      const len = key instanceof Uint8Array ? key.length : typeof key;
      throw new RssKeyError(`Toeplitz key must be ${TOEPLITZ_KEYLEN} bytes, got ${len}`, String(len));
    }
    this.key = key.slice();
    this.t = cacheCreate(this.key, TOEPLITZ_INPUT_MAX);
    this.w = wideCacheCreate(this.key, TUPLE_CHUNKS);
  }

  /** Raw hash of src(4)|dst(4)|sport(2)|dport(2): eight loads (TUPLE_CHUNKS). Ports use their low 16 bits. */
  hash4(src: number, dst: number, sport: number, dport: number): number {
    const w = this.w;
    return (
      (w[src >>> 20] ^
        w[0x1000 | (src & 0xfff)] ^
        w[0x2000 | (dst >>> 20)] ^
        w[0x3000 | (dst & 0xfff)] ^
        w[0x4000 | ((sport >>> 4) & 0xfff)] ^
        w[0x5000 | ((dport >>> 4) & 0xfff)] ^
        w[0x6000 | ((src >>> 8) & 0xff0) | (sport & 0xf)] ^
        w[0x7000 | ((dst >>> 8) & 0xff0) | (dport & 0xf)]) >>>
      0
    );
  }

  /** Raw hash of src(4)|dst(4) (the address pair, as for UDP and IP fragments): six loads. */
  hash2(src: number, dst: number): number {
    const w = this.w;
    return (
      (w[src >>> 20] ^
        w[0x1000 | (src & 0xfff)] ^
        w[0x2000 | (dst >>> 20)] ^
        w[0x3000 | (dst & 0xfff)] ^
        w[0x6000 | ((src >>> 8) & 0xff0)] ^
        w[0x7000 | ((dst >>> 8) & 0xff0)]) >>>
      0
    );
  }

  /** Raw hash of any input up to 36 bytes (e.g. IPv6 addresses and ports). Throws RssInputLengthError. */
  hashBytes(input: Uint8Array): number {
    const n = input.length;
    if (n > TOEPLITZ_INPUT_MAX) throw new RssInputLengthError(n);
    const t = this.t;
    let h = 0;
    for (let i = 0; i < n; i++) h ^= t[(i << 8) | input[i]];
    return h >>> 0;
  }
}

/**
 * DragonFly's `toeplitz_cache[2][256]` for the 0x6d5a key, flat: [0..255] is
 * cache[0] (even input byte positions), [256..511] is cache[1] (odd).
 * `toeplitz_cache_create(cache, 2, key, 6)` needs only 2 + 4 key bytes.
 */
const CACHE: Uint32Array = cacheCreate(SYMMETRIC_KEY.subarray(0, 2 + 4), 2);

/** One entry of DragonFly's `toeplitz_cache[table][v]` (for tests and `dfly rss` tooling). */
export function toeplitzCacheEntry(table: 0 | 1, v: number): number {
  return CACHE[(table << 8) | (v & 0xff)];
}

/**
 * `toeplitz_rawhash_addrport(faddr, laddr, fport, lport)` exactly as
 * toeplitz2.h writes it: twelve loads, cache[0] for the bytes at even offsets
 * and cache[1] for the odd ones. (symmetric.hash4 computes the same value
 * with two loads.)
 */
export function toeplitzRawhashAddrport(faddr: number, laddr: number, fport: number, lport: number): number {
  const c = CACHE;
  return (
    (c[faddr >>> 24] ^
      c[(faddr >>> 8) & 0xff] ^
      c[laddr >>> 24] ^
      c[(laddr >>> 8) & 0xff] ^
      c[(fport >>> 8) & 0xff] ^
      c[(lport >>> 8) & 0xff] ^
      c[256 | ((faddr >>> 16) & 0xff)] ^
      c[256 | (faddr & 0xff)] ^
      c[256 | ((laddr >>> 16) & 0xff)] ^
      c[256 | (laddr & 0xff)] ^
      c[256 | (fport & 0xff)] ^
      c[256 | (lport & 0xff)]) >>>
    0
  );
}

/** `toeplitz_rawhash_addr(faddr, laddr)` as toeplitz2.h writes it (eight loads). */
export function toeplitzRawhashAddr(faddr: number, laddr: number): number {
  const c = CACHE;
  return (
    (c[faddr >>> 24] ^
      c[(faddr >>> 8) & 0xff] ^
      c[laddr >>> 24] ^
      c[(laddr >>> 8) & 0xff] ^
      c[256 | ((faddr >>> 16) & 0xff)] ^
      c[256 | (faddr & 0xff)] ^
      c[256 | ((laddr >>> 16) & 0xff)] ^
      c[256 | (laddr & 0xff)]) >>>
    0
  );
}

/**
 * The symmetric key (0x6d,0x5a ×20) hashed with DragonFly's two tables
 * `toeplitz_cache[2][256]`. Each table is linear over XOR
 * (cache[i][a] ^ cache[i][b] == cache[i][a ^ b]), so instead of XOR-ing twelve
 * entries as toeplitz2.h does, the even-offset input bytes are XOR-ed together
 * and looked up in cache[0] once, the odd-offset bytes in cache[1] once: the
 * same value (tested against toeplitzRawhashAddrport and the generic tables)
 * with two loads. hash4(a,b,p,q) == hash4(b,a,q,p); the raw value always has
 * the form XYXY (high half == low half).
 */
export const symmetric = {
  hash4(src: number, dst: number, sport: number, dport: number): number {
    const even = (src >>> 24) ^ (src >>> 8) ^ (dst >>> 24) ^ (dst >>> 8) ^ (sport >>> 8) ^ (dport >>> 8);
    const odd = (src >>> 16) ^ src ^ (dst >>> 16) ^ dst ^ sport ^ dport;
    return (CACHE[even & 0xff] ^ CACHE[256 | (odd & 0xff)]) >>> 0;
  },
  hash2(src: number, dst: number): number {
    const even = (src >>> 24) ^ (src >>> 8) ^ (dst >>> 24) ^ (dst >>> 8);
    const odd = (src >>> 16) ^ src ^ (dst >>> 16) ^ dst;
    return (CACHE[even & 0xff] ^ CACHE[256 | (odd & 0xff)]) >>> 0;
  },
};

/** `toeplitz_hash()`: the 16 bits DragonFly stores in m_pkthdr.hash. */
export function toeplitzHash(raw: number): number {
  return raw & 0xffff;
}
