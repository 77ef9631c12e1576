import { describe, expect, it } from "vitest";
import { quantile, summarize, ratio } from "../../../services/cli/src/experiment/stats.js";
import { directionAgrees } from "../../../services/cli/src/experiment/results.js";
import { roundOrder } from "../../../services/cli/src/experiment/runner.js";

describe("experiment statistics", () => {
  // Worked by hand with numpy's default (linear) rule: position (n-1)q between order statistics.
  it.each([
    [[1, 2, 3, 4, 5], 0.5, 3],
    [[1, 2, 3, 4, 5], 0.25, 2],
    [[1, 2, 3, 4, 5], 0.75, 4],
    [[10, 20, 30, 40], 0.5, 25], // position 1.5
    [[10, 20, 30, 40], 0.25, 17.5], // position 0.75: 10 + 0.75·10
    [[10, 20, 30, 40], 0.75, 32.5], // position 2.25: 30 + 0.25·10
    [[7], 0.25, 7],
    [[5, 1, 4, 2, 3], 0.5, 3], // unsorted input
  ])("quantile(%j, %d) = %d", (xs, q, want) => {
    expect(quantile(xs, q)).toBeCloseTo(want, 9);
  });

  it("summarize gives median and quartiles; quantile of nothing is an error", () => {
    expect(summarize([300, 100, 200, 400, 500])).toEqual({ median: 300, p25: 200, p75: 400 });
    expect(() => quantile([], 0.5)).toThrow(RangeError);
  });

  it("effect is second ÷ first; no ratio when the first is 0", () => {
    expect(ratio(186, 156)).toBe(1.192);
    expect(ratio(0, 128)).toBe(0);
    expect(ratio(5, 0)).toBeNull();
  });

  it.each([
    [1.2, 1.19, true],
    [0.9, 1.19, false],
    [1.5, ">1", true],
    [0.7, ">1", false],
    [0.7, "<1", true],
    [1.01, "<1", false],
    [0, "0", true],
    [0.1, "0", false],
    [null, ">1", false],
  ] as const)("direction of %s against the paper's %s: %s", (effect, paper, want) => {
    expect(directionAgrees(effect, paper)).toBe(want);
  });

  it("conditions alternate, and every other round starts with the other one", () => {
    expect([0, 1, 2, 3].map((r) => roundOrder(2, r))).toEqual([[0, 1], [1, 0], [0, 1], [1, 0]]);
    expect(roundOrder(3, 1)).toEqual([2, 1, 0]);
  });
});
