/**
 * `dfly run --progress`: a line a second while the load runs. With --json, JSON lines on stdout
 * whose totals only grow and never pass what pktgen reports as sent at the end; the last line is
 * the report. Without --progress, --json stays one JSON document (other tools parse it whole).
 */
import { describe, expect, it } from "vitest";
import { runCli as run } from "../../support/cli.js";

type Line = { event?: string; t?: number; rate?: number; total?: number; received?: number };

describe("dfly run --progress", () => {
  it("forward --json --progress: one progress line a second, totals rising, the report last", { timeout: 60_000 }, async () => {
    const r = await run("run", "--cpus", "2", "--duration", "3s", "--rate", "20000", "--json", "--progress");
    expect(r.code, r.err).toBe(0);
    const lines = r.out.trim().split("\n").map((l) => JSON.parse(l) as Line & { pktgen?: { sent: number } });
    const progress = lines.filter((l) => l.event === "progress");
    const report = lines[lines.length - 1];
    expect(report.pktgen, "the last line is the report").toBeDefined();
    // 3 s of load at one line a second: 2 or 3 lines (the last second may end with the load).
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress.length).toBeLessThanOrEqual(3);
    for (let i = 1; i < progress.length; i++) {
      expect(progress[i].total!).toBeGreaterThanOrEqual(progress[i - 1].total!);
      expect(progress[i].t!).toBeGreaterThan(progress[i - 1].t!);
    }
    expect(progress[0].total!).toBeGreaterThan(0);
    expect(progress[progress.length - 1].total!).toBeLessThanOrEqual(report.pktgen!.sent);
    for (const p of progress) expect(p.received!).toBeLessThanOrEqual(p.total!);
  });

  it("--json without --progress is one JSON document; text --progress writes lines to stderr", { timeout: 60_000 }, async () => {
    const j = await run("run", "--cpus", "1", "--duration", "500ms", "--rate", "5000", "--json");
    expect(j.code, j.err).toBe(0);
    expect(() => JSON.parse(j.out) as unknown).not.toThrow();
    const t = await run("run", "--cpus", "1", "--duration", "2500ms", "--rate", "5000", "--progress");
    expect(t.code, t.err).toBe(0);
    const lines = t.err.split("\n").filter((l) => /^dfly run forward: \d+\.\d s {2}\d+ pkt\/s {2}total \d+/.test(l));
    expect(lines.length, t.err).toBeGreaterThanOrEqual(2);
  });
});
