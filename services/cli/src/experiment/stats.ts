/** Medians and quartiles of repeated measurements (linear interpolation between order statistics, as numpy's default). */

/** The q-quantile (0..1) of `xs` (not empty). */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) throw new RangeError("quantile of no samples");
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

export interface Summary {
  median: number;
  p25: number;
  p75: number;
}

export function summarize(xs: readonly number[]): Summary {
  return { median: round(quantile(xs, 0.5)), p25: round(quantile(xs, 0.25)), p75: round(quantile(xs, 0.75)) };
}

/** Three significant decimals for ratios, whole numbers for counts and rates. */
export function round(x: number): number {
  return Math.abs(x) >= 100 ? Math.round(x) : Math.round(x * 1000) / 1000;
}

/** second ÷ first, or null when the first is 0 (no ratio). */
export function ratio(second: number, first: number): number | null {
  return first === 0 ? null : Math.round((second / first) * 1000) / 1000;
}
