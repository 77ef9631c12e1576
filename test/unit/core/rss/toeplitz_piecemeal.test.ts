import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  symmetric,
  toeplitzPiecemealAddr,
  toeplitzPiecemealAddrport,
  toeplitzPiecemealPort,
} from "@dfly/core";

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const port = fc.integer({ min: 0, max: 0xffff });

describe("toeplitz piecemeal (in_pcbbind_remote's hash pieces)", () => {
  it("XOR of the pieces is symmetric.hash4, in both directions", () => {
    fc.assert(
      fc.property(u32, u32, port, port, (fa, la, fp, lp) => {
        const whole = symmetric.hash4(fa, la, fp, lp);
        expect(toeplitzPiecemealAddrport(fa, la, fp, lp)).toBe(whole);
        expect(toeplitzPiecemealAddrport(la, fa, lp, fp)).toBe(whole);
        expect((toeplitzPiecemealAddr(fa) ^ toeplitzPiecemealAddr(la) ^ toeplitzPiecemealPort(fp) ^ toeplitzPiecemealPort(lp)) >>> 0).toBe(whole);
      }),
      { numRuns: 1000 },
    );
  });

  it("a piece does not depend on where the field sits (even offsets)", () => {
    fc.assert(
      fc.property(u32, port, (a, p) => {
        expect(symmetric.hash4(a, 0, 0, 0)).toBe(toeplitzPiecemealAddr(a));
        expect(symmetric.hash4(0, a, 0, 0)).toBe(toeplitzPiecemealAddr(a));
        expect(symmetric.hash4(0, 0, p, 0)).toBe(toeplitzPiecemealPort(p));
        expect(symmetric.hash4(0, 0, 0, p)).toBe(toeplitzPiecemealPort(p));
      }),
    );
  });

  it("matches the notes' vector 66.9.149.187:2794 -> 161.142.100.80:1766 = 0x9fcc9fcc", () => {
    expect(toeplitzPiecemealAddrport(0x420995bb, 0xa18e6450, 2794, 1766)).toBe(0x9fcc9fcc);
    expect(toeplitzPiecemealPort(0)).toBe(0);
    expect(toeplitzPiecemealAddr(0)).toBe(0);
  });
});
