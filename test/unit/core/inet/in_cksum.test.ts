import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  cksumAdjust,
  cksumAdjust32,
  cksumSum,
  inCksum,
  inCksumPseudo,
  inPseudo,
  ipTtlDecrement,
  writeIpv4Header,
} from "@dfly/core";

/** Bit-for-bit reference: RFC 1071's loop, big-endian words, end-around carry at the end. */
function refSum(b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i + 1 < b.length; i += 2) s += (b[i] << 8) | b[i + 1];
  if (b.length & 1) s += b[b.length - 1] << 8;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}
const refCksum = (b: Uint8Array) => ~refSum(b) & 0xffff;

/** `data` placed at an arbitrary byte offset of a larger buffer (exercises every alignment). */
function at(data: Uint8Array, shift: number): Uint8Array {
  const buf = new Uint8Array(data.length + shift + 3);
  buf.set(data, shift);
  return buf.subarray(shift, shift + data.length);
}

describe("inCksum", () => {
  it("matches RFC 1071's worked example and a known IPv4 header", () => {
    // RFC 1071 §3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
    expect(cksumSum(Uint8Array.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]))).toBe(0xddf2);
    expect(inCksum(Uint8Array.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]))).toBe(0x220d);
    const hdr = Uint8Array.from([0x45, 0, 0, 0x73, 0, 0, 0x40, 0, 0x40, 0x11, 0, 0, 0xc0, 0xa8, 0, 1, 0xc0, 0xa8, 0, 0xc7]);
    expect(inCksum(hdr)).toBe(0xb861);
    hdr[10] = 0xb8;
    hdr[11] = 0x61;
    expect(inCksum(hdr)).toBe(0);
  });

  it("equals the reference for any data, length, offset and alignment (both code paths)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.integer({ min: 0, max: 7 }), (data, shift) => {
        const view = at(data, shift);
        expect(cksumSum(view)).toBe(refSum(data));
        expect(inCksum(view)).toBe(refCksum(data));
        // a sub-range of a bigger buffer
        const big = at(Uint8Array.from([1, 2, 3, ...data, 4, 5]), shift);
        expect(cksumSum(big, 3, data.length)).toBe(refSum(data));
      }),
      { numRuns: 400 },
    );
  });

  it("sums more words than one float chunk exactly (ranges over 4 MiB)", () => {
    const data = new Uint8Array((1 << 22) + 13);
    for (let i = 0; i < data.length; i++) data[i] = 0xff - (i % 7);
    expect(cksumSum(data)).toBe(refSum(data));
    expect(cksumSum(at(data, 1))).toBe(refSum(data));
  });

  it("all-zero data sums to 0; any non-zero data never sums to the -0 form", () => {
    expect(cksumSum(new Uint8Array(200))).toBe(0);
    expect(inCksum(new Uint8Array(7))).toBe(0xffff);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }).filter((b) => b.some((x) => x !== 0)), (b) => {
        expect(cksumSum(b)).toBeGreaterThan(0);
      }),
    );
  });

  it("a buffer with its checksum field filled in verifies to 0", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 2, maxLength: 2000 }), fc.nat(), (data, pos) => {
        const b = data.slice();
        const i = (pos % (b.length >> 1)) * 2; // an even field offset, as in every header
        b[i] = b[i + 1] = 0;
        const c = inCksum(b);
        b[i] = c >>> 8;
        b[i + 1] = c;
        expect(inCksum(b)).toBe(0);
      }),
    );
  });
});

describe("pseudo-header", () => {
  it("equals summing a real pseudo-header in front of the segment", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1600 }), fc.nat(0xffffffff), fc.nat(0xffffffff), fc.constantFrom(6, 17), (seg, src, dst, p) => {
        const ph = new Uint8Array(12 + seg.length);
        const dv = new DataView(ph.buffer);
        dv.setUint32(0, src);
        dv.setUint32(4, dst);
        ph[9] = p;
        dv.setUint16(10, seg.length);
        ph.set(seg, 12);
        expect(inCksumPseudo(seg, 0, seg.length, src, dst, p)).toBe(refCksum(ph));
        expect(inPseudo(src, dst, p, seg.length)).toBe(refSum(ph.subarray(0, 12)));
      }),
    );
  });
});

describe("RFC 1624 incremental update", () => {
  const header = fc.record({
    tos: fc.nat(255), id: fc.nat(0xffff), ttl: fc.integer({ min: 0, max: 255 }), p: fc.nat(255),
    src: fc.nat(0xffffffff), dst: fc.nat(0xffffffff), len: fc.nat(2000),
  });
  const build = (h: { tos: number; id: number; ttl: number; p: number; src: number; dst: number; len: number }) => {
    const b = new Uint8Array(20);
    writeIpv4Header(b, 0, h, h.len);
    return b;
  };

  it("cksumAdjust on any 16-bit word change equals a full recompute", () => {
    fc.assert(
      fc.property(header, fc.integer({ min: 0, max: 9 }), fc.nat(0xffff), (h, w, nv) => {
        if (w === 5) return; // the checksum word itself
        const b = build(h);
        const old = (b[2 * w] << 8) | b[2 * w + 1];
        const adj = cksumAdjust((b[10] << 8) | b[11], old, nv);
        b[2 * w] = nv >>> 8;
        b[2 * w + 1] = nv;
        b[10] = b[11] = 0;
        expect(adj).toBe(inCksum(b, 0, 20));
      }),
    );
  });

  it("cksumAdjust32 on an address change (NAT) equals a full recompute", () => {
    fc.assert(
      fc.property(header, fc.boolean(), fc.nat(0xffffffff), (h, srcSide, na) => {
        const b = build(h);
        const i = srcSide ? 12 : 16;
        const old = new DataView(b.buffer).getUint32(i);
        const adj = cksumAdjust32((b[10] << 8) | b[11], old, na);
        new DataView(b.buffer).setUint32(i, na);
        b[10] = b[11] = 0;
        expect(adj).toBe(inCksum(b, 0, 20));
      }),
    );
  });

  it("ipTtlDecrement patches the checksum like a recompute, and refuses TTL ≤ 1", () => {
    fc.assert(
      fc.property(header, (h) => {
        const b = build(h);
        const before = b.slice();
        const r = ipTtlDecrement(b);
        if (h.ttl <= 1) {
          expect(r).toBe(-1);
          expect(b).toEqual(before);
          return;
        }
        expect(r).toBe(h.ttl - 1);
        expect(b[8]).toBe(h.ttl - 1);
        expect(inCksum(b, 0, 20)).toBe(0);
        expect(b).toEqual(build({ ...h, ttl: h.ttl - 1 }));
      }),
    );
  });
});
