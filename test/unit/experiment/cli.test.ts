import { describe, expect, it } from "vitest";
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../../support/cli.js";

const NAMES = ["async-send", "reuseport", "listener-close", "polling", "percpu-stats", "netisr-threads", "batching"];

describe("dfly experiment: flags, list, report's input checks", () => {
  it("list --json names the seven experiments with what they compare", async () => {
    const r = await runCli("experiment", "list", "--json");
    expect(r.code).toBe(0);
    const rows = JSON.parse(r.out) as { name: string; conditions: string[]; compares: string }[];
    expect(rows.map((x) => x.name)).toEqual(NAMES);
    for (const x of rows) {
      expect(x.conditions.length).toBeGreaterThanOrEqual(2);
      expect(x.compares.length).toBeGreaterThan(10);
    }
  });

  it.each([
    [["experiment", "run"], /want one experiment name/],
    [["experiment", "run", "nope"], /no experiment "nope"/],
    [["experiment", "run", "polling", "--repeat", "0"], /--repeat 0/],
    [["experiment", "run", "polling", "--transport", "tcp"], /--transport tcp/],
    [["experiment", "run", "polling", "--transport", "nats"], /polling runs over embedded/],
    [["experiment", "run", "polling", "--bogus"], /bogus/],
    [["experiment", "report"], /results directory/],
  ])("%j is a usage error (exit 2)", async (argv, msg) => {
    const r = await runCli(...argv);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(msg);
  });

  it("report: a missing, malformed or foreign results file is a clear error, not a report", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dfly-exp-report-"));
    try {
      let r = await runCli("experiment", "report", dir);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/no results/);
      mkdirSync(join(dir, "polling"));
      writeFileSync(join(dir, "polling", "results.json"), "{not json");
      r = await runCli("experiment", "report", dir);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/polling\/results.json: not JSON/);
      writeFileSync(join(dir, "polling", "results.json"), JSON.stringify({ experiment: "batching", conditions: [] }));
      r = await runCli("experiment", "report", dir);
      expect(r.err).toMatch(/experiment "batching", want "polling"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("report escapes what the files say and drops scripts from an SVG", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dfly-exp-report-"));
    try {
      mkdirSync(join(dir, "batching"));
      const c = (name: string) => ({ name, median: 1, p25: 1, p75: 1, samples: [1] });
      writeFileSync(
        join(dir, "batching", "results.json"),
        JSON.stringify({ experiment: "batching", paperSection: "§2.2", paperClaim: "<b>x</b>", metric: "m", unit: "u", conditions: [c("<i>a</i>"), c("b")], effect: 1, paperEffect: ">1", directionAgrees: false }),
      );
      writeFileSync(join(dir, "batching", "batching.svg"), '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script><rect onload="alert(2)" width="1" height="1"/></svg>');
      const r = await runCli("experiment", "report", dir);
      expect(r.code).toBe(0);
      const html = readFileSync(join(dir, "report.html"), "utf8");
      expect(html).toContain("&lt;b&gt;x&lt;/b&gt;");
      expect(html).toContain("&lt;i&gt;a&lt;/i&gt;");
      expect(html).not.toMatch(/<script|onload|alert/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("experiment progress", () => {
  it("on a terminal: one bar redrawn in place; otherwise a plain line per sample", async () => {
    const { ExperimentProgress } = await import("../../../services/cli/src/experiment/progress.js");
    let tty = "";
    const p = new ExperimentProgress({ stdout: () => undefined, stderr: (s) => void (tty += s), stdin: async () => "" }, 4, true);
    p.starting("a x 1/2");
    p.finished("a x 1/2", "10 t/s");
    p.finished("a y 1/2", "12 t/s");
    p.end();
    expect(tty.split("\r").length).toBeGreaterThan(2);
    expect(tty).toContain(`[${"#".repeat(15)}${"-".repeat(15)}] 2/4`);
    expect(tty.split("\n")).toHaveLength(2); // only the final newline
    let plain = "";
    const q = new ExperimentProgress({ stdout: () => undefined, stderr: (s) => void (plain += s), stdin: async () => "" }, 2, false);
    q.starting("a x 1/1");
    q.finished("a x 1/1", "10 t/s");
    q.end();
    expect(plain).toBe("[1/2] a x 1/1: 10 t/s\n");
  });
});
