import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  MICROSOFT_KEY,
  RssInputLengthError,
  RssKeyError,
  SYMMETRIC_KEY,
  Toeplitz,
  parseKey,
  symmetric,
  toeplitzCacheEntry,
  toeplitzRawhashAddr,
  toeplitzRawhashAddrport,
  toeplitzGetKey,
  toeplitzHash,
} from "@dfly/core";

interface Row {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  hash4: string;
  hash2: string;
}
const vectors = JSON.parse(readFileSync(new URL("../../../fixtures/rss-vectors.json", import.meta.url), "utf8")) as {
  keys: { microsoft: string; symmetric: string };
  microsoft: Row[];
  symmetric: Row[];
};

const ip = (s: string): number => s.split(".").reduce((a, o) => a * 256 + Number(o), 0);
const hex = (h: number): string => "0x" + h.toString(16).padStart(8, "0");

/** Bit-by-bit Toeplitz straight from the RSS specification: the independent reference. */
function reference(key: Uint8Array, input: Uint8Array): number {
  let result = 0;
  for (let i = 0; i < input.length * 8; i++) {
    if ((input[i >> 3] >> (7 - (i & 7))) & 1) {
      let w = 0;
      for (let j = 0; j < 32; j++) w = (w << 1) | ((key[(i + j) >> 3] >> (7 - ((i + j) & 7))) & 1);
      result ^= w;
    }
  }
  return result >>> 0;
}
function tupleBytes(src: number, dst: number, sport: number, dport: number): Uint8Array {
  const b = new Uint8Array(12);
  const v = new DataView(b.buffer);
  v.setUint32(0, src);
  v.setUint32(4, dst);
  v.setUint16(8, sport);
  v.setUint16(10, dport);
  return b;
}

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const port = fc.integer({ min: 0, max: 0xffff });

describe("keys", () => {
  it("SYMMETRIC_KEY is 0x6d,0x5a ×20 and MICROSOFT_KEY the spec key", () => {
    expect(SYMMETRIC_KEY.length).toBe(40);
    for (let i = 0; i < 40; i++) expect(SYMMETRIC_KEY[i]).toBe(i % 2 ? 0x5a : 0x6d);
    expect(Buffer.from(MICROSOFT_KEY).toString("hex")).toBe(vectors.keys.microsoft);
    expect(Buffer.from(SYMMETRIC_KEY).toString("hex")).toBe(vectors.keys.symmetric);
    expect(toeplitzGetKey(6)).toEqual(SYMMETRIC_KEY.subarray(0, 6));
  });

  it("parseKey accepts the two names and 80 hex digits, returns copies", () => {
    expect(parseKey("symmetric")).toEqual(SYMMETRIC_KEY);
    expect(parseKey("Microsoft")).toEqual(MICROSOFT_KEY);
    expect(parseKey(vectors.keys.microsoft.toUpperCase())).toEqual(MICROSOFT_KEY);
    expect(parseKey("0x" + vectors.keys.symmetric)).toEqual(SYMMETRIC_KEY);
    const k = parseKey("symmetric");
    k[0] = 0;
    expect(SYMMETRIC_KEY[0]).toBe(0x6d);
  });

  it("parseKey rejects bad keys with RssKeyError naming the input", () => {
    for (const bad of ["", "sym", "6d5a", vectors.keys.microsoft + "00", vectors.keys.microsoft.slice(0, 78) + "zz"]) {
      expect(() => parseKey(bad)).toThrow(RssKeyError);
    }
    try {
      parseKey("6d5a");
      expect.unreachable();
    } catch (e) {
      expect((e as RssKeyError).input).toBe("6d5a");
      expect((e as Error).message).toMatch(/4 hex digits; want 80/);
    }
  });

  it("Toeplitz rejects keys that are not 40 bytes", () => {
    expect(() => new Toeplitz(new Uint8Array(39))).toThrow(RssKeyError);
    expect(() => new Toeplitz(new Uint8Array(41))).toThrow(RssKeyError);
  });
});

describe("Microsoft RSS verification table (spec key)", () => {
  const t = new Toeplitz(MICROSOFT_KEY);
  it.each(vectors.microsoft)("$src:$sport -> $dst:$dport", (r) => {
    expect(hex(t.hash4(ip(r.src), ip(r.dst), r.sport, r.dport))).toBe(r.hash4);
    expect(hex(t.hash2(ip(r.src), ip(r.dst)))).toBe(r.hash2);
    expect(hex(t.hashBytes(tupleBytes(ip(r.src), ip(r.dst), r.sport, r.dport)))).toBe(r.hash4);
  });
  it("has all 5 rows", () => expect(vectors.microsoft.length).toBe(5));
});

describe("symmetric vectors (key 0x6d5a)", () => {
  const t = new Toeplitz(SYMMETRIC_KEY);
  it("reproduces all 200 rows with the generic and the two-table method", () => {
    expect(vectors.symmetric.length).toBe(200);
    for (const r of vectors.symmetric) {
      const [s, d] = [ip(r.src), ip(r.dst)];
      expect(hex(t.hash4(s, d, r.sport, r.dport))).toBe(r.hash4);
      expect(hex(symmetric.hash4(s, d, r.sport, r.dport))).toBe(r.hash4);
      expect(hex(t.hash2(s, d))).toBe(r.hash2);
      expect(hex(symmetric.hash2(s, d))).toBe(r.hash2);
      expect(hex(toeplitzRawhashAddrport(s, d, r.sport, r.dport))).toBe(r.hash4);
      expect(hex(toeplitzRawhashAddr(s, d))).toBe(r.hash2);
    }
  });

  it("matches the notes' table and DragonFly's toeplitz_cache entries", () => {
    expect(hex(symmetric.hash4(ip("66.9.149.187"), ip("161.142.100.80"), 2794, 1766))).toBe("0x9fcc9fcc");
    expect(hex(symmetric.hash2(ip("66.9.149.187"), ip("161.142.100.80")))).toBe("0x0a590a59");
    expect(hex(symmetric.hash4(ip("10.0.0.1"), ip("10.0.0.2"), 12345, 80))).toBe("0x3f563f56");
    expect(hex(symmetric.hash2(ip("10.0.0.1"), ip("10.0.0.2")))).toBe("0xadfbadfb");
    expect(hex(symmetric.hash4(ip("192.168.1.10"), ip("192.168.1.20"), 40000, 443))).toBe("0x28502850");
    expect(toeplitzHash(0x3f563f56)).toBe(0x3f56);
    expect(hex(toeplitzCacheEntry(0, 0x01))).toBe("0xad36ad36");
    expect(hex(toeplitzCacheEntry(0, 0x02))).toBe("0x569b569b");
    expect(hex(toeplitzCacheEntry(0, 0x80))).toBe("0x6d5a6d5a");
    expect(hex(toeplitzCacheEntry(1, 0x01))).toBe("0x36ad36ad");
    expect(hex(toeplitzCacheEntry(1, 0x80))).toBe("0x5a6d5a6d");
  });
});

describe("properties", () => {
  const t = new Toeplitz(SYMMETRIC_KEY);
  it("symmetric key: both directions of a tuple hash the same", () => {
    fc.assert(
      fc.property(u32, u32, port, port, (s, d, sp, dp) => {
        expect(symmetric.hash4(s, d, sp, dp)).toBe(symmetric.hash4(d, s, dp, sp));
        expect(t.hash4(s, d, sp, dp)).toBe(t.hash4(d, s, dp, sp));
        expect(symmetric.hash2(s, d)).toBe(symmetric.hash2(d, s));
      }),
      { numRuns: 2000 },
    );
  });

  it("two-table method == generic byte tables == bit-by-bit reference; raw is XYXY", () => {
    fc.assert(
      fc.property(u32, u32, port, port, (s, d, sp, dp) => {
        const h = symmetric.hash4(s, d, sp, dp);
        expect(h).toBe(t.hash4(s, d, sp, dp));
        expect(h).toBe(reference(SYMMETRIC_KEY, tupleBytes(s, d, sp, dp)));
        expect(h).toBe(toeplitzRawhashAddrport(s, d, sp, dp));
        expect(symmetric.hash2(s, d)).toBe(t.hash2(s, d));
        expect(symmetric.hash2(s, d)).toBe(toeplitzRawhashAddr(s, d));
        expect(h >>> 16).toBe(h & 0xffff);
      }),
      { numRuns: 1000 },
    );
  });

  it("generic tables equal the reference for random keys and inputs up to 36 bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 40, maxLength: 40 }), fc.uint8Array({ maxLength: 36 }), (key, input) => {
        expect(new Toeplitz(key).hashBytes(input)).toBe(reference(key, input));
      }),
      { numRuns: 200 },
    );
  });

  it("hash4/hash2 (12-bit wide tables) equal the reference and the byte tables for random keys and tuples", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 40, maxLength: 40 }), fc.array(fc.tuple(u32, u32, port, port), { minLength: 1, maxLength: 8 }), (key, tuples) => {
        const g = new Toeplitz(key);
        for (const [s, d, sp, dp] of tuples) {
          const bytes = tupleBytes(s, d, sp, dp);
          const h4 = g.hash4(s, d, sp, dp);
          expect(h4).toBe(reference(key, bytes));
          expect(h4).toBe(g.hashBytes(bytes));
          const h2 = g.hash2(s, d);
          expect(h2).toBe(reference(key, bytes.subarray(0, 8)));
          expect(h2).toBe(g.hashBytes(bytes.subarray(0, 8)));
          expect(g.hash4(s, d, 0, 0)).toBe(h2);
        }
      }),
      { numRuns: 150 },
    );
  });

  it("hash4 on a single set input bit is that bit's key window (each of the 96 bits lands in the right table)", () => {
    const key = MICROSOFT_KEY;
    const g = new Toeplitz(key);
    for (let bit = 0; bit < 96; bit++) {
      const b = new Uint8Array(12);
      b[bit >> 3] = 0x80 >> (bit & 7);
      const v = new DataView(b.buffer);
      const h = g.hash4(v.getUint32(0), v.getUint32(4), v.getUint16(8), v.getUint16(10));
      expect(h).toBe(reference(key, b));
      expect(h).not.toBe(0);
    }
  });

  it("ports use their low 16 bits, as the byte tables did", () => {
    const g = new Toeplitz(MICROSOFT_KEY);
    fc.assert(
      fc.property(u32, u32, port, port, fc.integer({ min: 1, max: 0xffff }), (s, d, sp, dp, hi) => {
        expect(g.hash4(s, d, sp + hi * 0x10000, dp + hi * 0x10000)).toBe(g.hash4(s, d, sp, dp));
      }),
      { numRuns: 200 },
    );
  });

  it("accepts addresses given as signed int32 (same bits)", () => {
    fc.assert(
      fc.property(u32, u32, port, port, (s, d, sp, dp) => {
        expect(symmetric.hash4(s | 0, d | 0, sp, dp)).toBe(symmetric.hash4(s, d, sp, dp));
        expect(t.hash4(s | 0, d | 0, sp, dp)).toBe(t.hash4(s, d, sp, dp));
      }),
      { numRuns: 200 },
    );
  });
});

describe("byte order matters", () => {
  const s = ip("10.0.0.1");
  const d = ip("10.0.0.2");
  it("the 0x5a6d key hashes differently from 0x6d5a (and is not merely the halves swapped)", () => {
    const swapped = new Toeplitz(toeplitzGetKey(40, 0x5a, 0x6d));
    const a = symmetric.hash4(s, d, 12345, 80);
    const b = swapped.hash4(s, d, 12345, 80);
    expect(b).not.toBe(a);
    expect(hex(b)).not.toBe(hex(((a << 16) | (a >>> 16)) >>> 0));
    let differ = 0;
    for (const r of vectors.symmetric) if (swapped.hash4(ip(r.src), ip(r.dst), r.sport, r.dport) !== Number(r.hash4)) differ++;
    expect(differ).toBeGreaterThan(190);
  });

  it("the Microsoft key reversed gives different hashes", () => {
    const rev = new Toeplitz(MICROSOFT_KEY.slice().reverse());
    for (const r of vectors.microsoft) expect(hex(rev.hash4(ip(r.src), ip(r.dst), r.sport, r.dport))).not.toBe(r.hash4);
  });

  it("an address passed little-endian (host order on x86) gives a different hash", () => {
    const le = (x: number) => (((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24)) >>> 0;
    expect(symmetric.hash4(le(s), le(d), 12345, 80)).not.toBe(symmetric.hash4(s, d, 12345, 80));
  });
});

describe("hashBytes", () => {
  it("throws RssInputLengthError past 36 bytes", () => {
    const t = new Toeplitz(MICROSOFT_KEY);
    expect(() => t.hashBytes(new Uint8Array(37))).toThrow(RssInputLengthError);
    expect(t.hashBytes(new Uint8Array(36))).toBe(0);
    expect(t.hashBytes(new Uint8Array(0))).toBe(0);
  });
});
