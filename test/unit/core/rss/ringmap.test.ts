import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  RingmapConfigError,
  buildRingmap,
  ifRingcntFixup,
  ifRingmapAlloc,
  ifRingmapAlloc2,
  ifRingmapMatch,
  netisrHashcpu,
  ringForHash,
  ringmapMatchingBuckets,
  ringmapRedirect,
} from "@dfly/core";

const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);
const repeat = (xs: number[], len: number) => Array.from({ length: len }, (_, i) => xs[i % xs.length]);

describe("if_ringcnt_fixup", () => {
  it("invalid counts become the maximum, then capped at netisr_ncpus", () => {
    expect(ifRingcntFixup(0, 16, 8)).toBe(8);
    expect(ifRingcntFixup(-1, 4, 8)).toBe(4);
    expect(ifRingcntFixup(20, 16, 24)).toBe(16);
    expect(ifRingcntFixup(5, 16, 4)).toBe(4);
    expect(ifRingcntFixup(3, 16, 8)).toBe(3);
  });
  it("rejects a bad ncpus or maximum", () => {
    expect(() => ifRingcntFixup(1, 1, 0)).toThrow(RingmapConfigError);
    expect(() => ifRingcntFixup(1, 1, 129)).toThrow(/ncpus 129 is invalid/);
    expect(() => ifRingcntFixup(1, 0, 8)).toThrow(RingmapConfigError);
  });
});

describe("grid choice and ring→CPU map (hand-worked from if_ringmap_alloc_flags)", () => {
  it.each([
    // d=1: grid 8, 4 > 8/2? no; d=2: grid 4, 4 > 8/3=2 → stop
    { ncpus: 8, rings: 4, grid: 4 },
    // d=1: grid 12, 8 > 12/2=6 → stop
    { ncpus: 12, rings: 8, grid: 12 },
    // d=1: grid 22, 8 > 11? no; d=2: grid 11, 8 > 22/3=7 → stop
    { ncpus: 22, rings: 8, grid: 11 },
    // d=1: grid 24, 16 > 12 → stop
    { ncpus: 24, rings: 16, grid: 24 },
    { ncpus: 8, rings: 8, grid: 8 },
    { ncpus: 12, rings: 6, grid: 6 },
    { ncpus: 1, rings: 1, grid: 1 },
    { ncpus: 7, rings: 3, grid: 7 },
    { ncpus: 16, rings: 1, grid: 1 },
  ])("$ncpus CPUs / $rings rings → grid $grid", ({ ncpus, rings, grid }) => {
    const rm = ifRingmapAlloc({ ncpus, ringCnt: rings, ringCntmax: rings });
    expect(rm).toEqual({ ncpus, rings, grid, ringToCpu: range(rings) });
  });

  it("device unit offset = (grid * unit) % ncpus", () => {
    expect(ifRingmapAlloc({ ncpus: 8, ringCnt: 4, ringCntmax: 4, unit: 1 }).ringToCpu).toEqual([4, 5, 6, 7]); // ix1
    expect(ifRingmapAlloc({ ncpus: 8, ringCnt: 4, ringCntmax: 4, unit: 2 }).ringToCpu).toEqual([0, 1, 2, 3]);
    expect(ifRingmapAlloc({ ncpus: 22, ringCnt: 8, ringCntmax: 8, unit: 1 }).ringToCpu).toEqual(range(8, 11));
    // grid == ncpus: every unit starts at CPU 0
    expect(ifRingmapAlloc({ ncpus: 12, ringCnt: 8, ringCntmax: 8, unit: 1 }).ringToCpu).toEqual(range(8));
  });

  it("alloc2 rounds the ring count down to a power of 2", () => {
    const rm = ifRingmapAlloc2({ ncpus: 12, ringCnt: 6, ringCntmax: 16 });
    // 6 → 4; d=1: 12, 4>6 no; d=2: 6, 4>4 no; d=3: 4, 4>3 → grid 4
    expect(rm).toEqual({ ncpus: 12, rings: 4, grid: 4, ringToCpu: [0, 1, 2, 3] });
    expect(ifRingmapAlloc2({ ncpus: 12, ringCnt: 6, ringCntmax: 16, unit: 2 }).ringToCpu).toEqual([8, 9, 10, 11]);
    expect(ifRingmapAlloc2({ ncpus: 24, ringCnt: 0, ringCntmax: 16 }).rings).toBe(16);
  });

  it("the grid always divides ncpus and holds the rings; CPUs stay in range", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 128 }), fc.integer({ min: 1, max: 128 }), fc.nat(7), (ncpus, rings, unit) => {
        const rm = ifRingmapAlloc({ ncpus, ringCnt: rings, ringCntmax: rings, unit });
        expect(ncpus % rm.grid).toBe(0);
        expect(rm.grid).toBeGreaterThanOrEqual(rm.rings);
        expect(rm.rings).toBe(Math.min(rings, ncpus));
        for (const c of rm.ringToCpu) expect(c).toBeLessThan(ncpus);
      }),
    );
  });
});

describe("if_ringmap_rdrtable", () => {
  it("8 CPUs / 4 rings: 0,1,2,3 repeated", () => {
    const rm = ifRingmapAlloc({ ncpus: 8, ringCnt: 4, ringCntmax: 4 });
    expect(ringmapRedirect(rm, 128)).toEqual(repeat([0, 1, 2, 3], 128));
  });

  it("12 CPUs / 8 rings: the grid remainder is patched (source comment example)", () => {
    const rm = ifRingmapAlloc({ ncpus: 12, ringCnt: 8, ringCntmax: 8 });
    const t = ringmapRedirect(rm, 128);
    const want: number[] = [];
    for (let g = 0; g < 10; g++) want.push(...range(8), ...(g % 2 === 0 ? [0, 1, 2, 3] : [4, 5, 6, 7]));
    want.push(...range(8)); // 120..127: the 11th grid is cut before its remainder
    expect(t).toEqual(want);
    expect(t.slice(0, 32)).toEqual([...range(8), 0, 1, 2, 3, ...range(8), 4, 5, 6, 7, ...range(8)]);
  });

  it("22 CPUs / 8 rings: grid 11, remainder of 3 patched with a running index", () => {
    const rm = ifRingmapAlloc({ ncpus: 22, ringCnt: 8, ringCntmax: 8 });
    const t = ringmapRedirect(rm, 128);
    const patches = [[0, 1, 2], [3, 4, 5], [6, 7, 0], [1, 2, 3], [4, 5, 6], [7, 0, 1], [2, 3, 4], [5, 6, 7], [0, 1, 2], [3, 4, 5], [6, 7, 0]];
    const want: number[] = [];
    for (const p of patches) want.push(...range(8), ...p);
    want.push(...range(7)); // 121..127
    expect(t).toEqual(want);
  });

  it("24 CPUs / 16 rings: grid 24, remainder of 8 patched", () => {
    const rm = ifRingmapAlloc({ ncpus: 24, ringCnt: 16, ringCntmax: 16 });
    const t = ringmapRedirect(rm, 128);
    const want: number[] = [];
    for (let g = 0; g < 5; g++) want.push(...range(16), ...(g % 2 === 0 ? range(8) : range(8, 8)));
    want.push(...range(8));
    expect(t).toEqual(want);
  });

  it("a 512-entry table repeats the first 128 (not a continuation of the pattern)", () => {
    const rm = ifRingmapAlloc({ ncpus: 22, ringCnt: 8, ringCntmax: 8 });
    const t128 = ringmapRedirect(rm, 128);
    const t512 = ringmapRedirect(rm, 512);
    expect(t512.length).toBe(512);
    for (let i = 0; i < 512; i++) expect(t512[i]).toBe(t128[i % 128]);
    // 128 = 11*11 + 7: continuing the grid pattern would give ring 7; DragonFly copies entry 0
    expect(t512[128]).toBe(0);
  });

  it("rejects table sizes that are not positive multiples of 128", () => {
    const rm = ifRingmapAlloc({ ncpus: 8, ringCnt: 4, ringCntmax: 4 });
    for (const n of [0, 64, 129, -128, 1.5]) expect(() => ringmapRedirect(rm, n)).toThrow(RingmapConfigError);
    expect(ringmapRedirect(rm, 384).length).toBe(384);
  });

  it("every ring appears and every entry is a valid ring", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 128 }), fc.integer({ min: 1, max: 128 }), (ncpus, rings) => {
        const rm = ifRingmapAlloc({ ncpus, ringCnt: rings, ringCntmax: rings });
        const t = ringmapRedirect(rm, 128);
        expect(new Set(t).size).toBe(rm.rings);
      }),
    );
  });
});

describe("buckets received on their netisr CPU (notes §2 table)", () => {
  it.each([
    { ncpus: 8, rings: 8, match: 128 },
    { ncpus: 12, rings: 12, match: 128 },
    { ncpus: 8, rings: 4, match: 64 },
    { ncpus: 12, rings: 8, match: 88 },
    { ncpus: 22, rings: 8, match: 48 },
    { ncpus: 24, rings: 16, match: 88 },
  ])("$ncpus CPUs / $rings rings: $match/128", ({ ncpus, rings, match }) => {
    const b = buildRingmap({ ncpus, rings });
    expect(ringmapMatchingBuckets(b, b.redirect)).toBe(match);
    // the same count by brute force over hashes
    let n = 0;
    for (let h = 0; h < 128; h++) if (b.ringToCpu[ringForHash(b.redirect, h)] === netisrHashcpu(h, ncpus)) n++;
    expect(n).toBe(match);
  });

  it("ix1 on 8 CPUs / 4 rings receives the other half of the buckets on their own CPU", () => {
    const ix0 = buildRingmap({ ncpus: 8, rings: 4 });
    const ix1 = buildRingmap({ ncpus: 8, rings: 4, unit: 1 });
    expect(ix1.ringToCpu).toEqual([4, 5, 6, 7]);
    expect(ringmapMatchingBuckets(ix1, ix1.redirect)).toBe(64);
    for (let b = 0; b < 128; b++) {
      const own = b % 8;
      expect(ix0.ringToCpu[ix0.redirect[b]] === own).toBe(own < 4);
      expect(ix1.ringToCpu[ix1.redirect[b]] === own).toBe(own >= 4);
    }
  });
});

describe("ringForHash", () => {
  it("indexes the RETA with the low bits of the hash", () => {
    const b = buildRingmap({ ncpus: 12, rings: 8, entries: 512 });
    expect(ringForHash(b.redirect, 0x3f563f56)).toBe(b.redirect[0x3f56 & 511]);
    expect(ringForHash(b.redirect, 0xffffffff)).toBe(b.redirect[511]);
    expect(ringForHash(b.redirect, -1)).toBe(b.redirect[511]);
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), (h) => {
      expect(ringForHash(b.redirect, h)).toBe(b.redirect[h & 127]);
    }));
  });
});

describe("buildRingmap", () => {
  it("applies the fix-up and validates", () => {
    const b = buildRingmap({ ncpus: 4, rings: 16 });
    expect(b).toMatchObject({ ncpus: 4, rings: 4, grid: 4, ringToCpu: [0, 1, 2, 3] });
    expect(b.redirect.length).toBe(128);
    expect(() => buildRingmap({ ncpus: 4, rings: 0 })).toThrow(/rings 0 is invalid/);
    expect(() => buildRingmap({ ncpus: 4, rings: 2, unit: -1 })).toThrow(/unit -1/);
    expect(buildRingmap({ ncpus: 12, rings: 6, powerof2: true }).rings).toBe(4);
  });
});

describe("if_ringmap_match", () => {
  it("12 CPUs, RX 4 rings on unit 1, TX 2 rings: TX shifted inside RX (source comment example)", () => {
    const rx = ifRingmapAlloc({ ncpus: 12, ringCnt: 4, ringCntmax: 4, unit: 1 });
    const tx = ifRingmapAlloc({ ncpus: 12, ringCnt: 2, ringCntmax: 2, unit: 1 });
    expect(rx).toMatchObject({ grid: 4, ringToCpu: [4, 5, 6, 7] });
    expect(tx).toMatchObject({ grid: 2, ringToCpu: [2, 3] });
    const [rx2, tx2] = ifRingmapMatch(rx, tx, 1);
    expect(rx2.ringToCpu).toEqual([4, 5, 6, 7]);
    // aligned on grid 4 → [4,5]; mod = 4/2 = 2, divisor = 12/4 = 3, offset = ((1/3)%2)*2 = 0
    expect(tx2).toMatchObject({ grid: 4, ringToCpu: [4, 5] });
    const [, tx3] = ifRingmapMatch(
      ifRingmapAlloc({ ncpus: 12, ringCnt: 4, ringCntmax: 4, unit: 3 }),
      ifRingmapAlloc({ ncpus: 12, ringCnt: 2, ringCntmax: 2, unit: 3 }),
      3,
    );
    // unit 3: RX at (4*3)%12 = 0 → [0..3]; TX aligned [0,1], offset ((3/3)%2)*2 = 2 → [2,3]
    expect(tx3.ringToCpu).toEqual([2, 3]);
  });
});
