import { describe, expect, it } from "vitest";
import { NETISR_CPUMAX, netisrHashcpu, netisrHashlsb, symmetric, toeplitzHash } from "@dfly/core";

const ip = (s: string): number => s.split(".").reduce((a, o) => a * 256 + Number(o), 0);

describe("netisr_hashcpu", () => {
  it("is (h & 127) % ncpus, a modulo not a mask", () => {
    expect(NETISR_CPUMAX).toBe(128);
    expect(netisrHashlsb(0x3f56)).toBe(0x56);
    expect(netisrHashcpu(0x3f56, 8)).toBe(6);
    expect(netisrHashcpu(0x3f56, 12)).toBe(86 % 12);
    expect(netisrHashcpu(0xffffffff, 24)).toBe(127 % 24);
  });

  it("reproduces the cpu columns of the notes' vector table", () => {
    const cases: [string, string, number, number, number, number][] = [
      ["66.9.149.187", "161.142.100.80", 2794, 1766, 4, 4],
      ["161.142.100.80", "66.9.149.187", 1766, 2794, 4, 4],
      ["10.0.0.1", "10.0.0.2", 12345, 80, 6, 2],
      ["192.168.1.10", "192.168.1.20", 40000, 443, 0, 8],
    ];
    for (const [s, d, sp, dp, c8, c12] of cases) {
      const h = toeplitzHash(symmetric.hash4(ip(s), ip(d), sp, dp));
      expect(netisrHashcpu(h, 8)).toBe(c8);
      expect(netisrHashcpu(h, 12)).toBe(c12);
    }
  });

  it("with 12 CPUs, CPUs 0-7 own 11 buckets and 8-11 own 10", () => {
    const owned = new Array(12).fill(0);
    for (let b = 0; b < 128; b++) owned[netisrHashcpu(b, 12)]++;
    expect(owned).toEqual([11, 11, 11, 11, 11, 11, 11, 11, 10, 10, 10, 10]);
  });
});
