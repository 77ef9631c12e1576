/**
 * Every experiment's --quick form (one round each, to keep the suite's time), its results.json
 * against the JSON Schema in the repository (ajv), its SVG parsed by a real browser, and the
 * report opened in Debian's chromium (headless, over the DevTools protocol): no console errors,
 * one plot per experiment, a screenshot that is not blank.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Ajv } from "ajv";
import { runCli } from "../../support/cli.js";
import { Chromium } from "../../support/chromium.js";
import { readPng, type Png } from "../../support/png.js";

const NAMES = ["async-send", "reuseport", "listener-close", "polling", "percpu-stats", "netisr-threads", "batching"];
const SCHEMA = fileURLToPath(new URL("../../../services/cli/schema/experiment-results.schema.json", import.meta.url));

/** Pixels whose colour is the plots' bar blue (#4c78a8 at opacity 0.8 on white) or sample red (#e45756), give or take antialiasing. */
function colouredPixels(p: Png): { bar: number; point: number; nonWhite: number } {
  let bar = 0;
  let point = 0;
  let nonWhite = 0;
  for (let i = 0; i < p.rgba.length; i += 4) {
    const [r, g, b] = [p.rgba[i], p.rgba[i + 1], p.rgba[i + 2]];
    if (r < 245 || g < 245 || b < 245) nonWhite++;
    if (Math.abs(r - 112) < 24 && Math.abs(g - 147) < 24 && Math.abs(b - 185) < 24) bar++;
    if (Math.abs(r - 228) < 24 && Math.abs(g - 87) < 24 && Math.abs(b - 86) < 24) point++;
  }
  return { bar, point, nonWhite };
}

describe("dfly experiment run all --quick, report, in chromium", () => {
  let dir = "";
  let run: Awaited<ReturnType<typeof runCli>>;
  let browser: Chromium | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "dfly-experiment-"));
    run = await runCli("experiment", "run", "all", "--quick", "--repeat", "1", "--out", dir);
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("runs every experiment, printing a plain progress line per sample (not a terminal)", () => {
    expect(run.err).not.toMatch(/\r/);
    expect(run.code, run.err).toBe(0);
    const lines = run.err.split("\n").filter((l) => /^\[\d+\/\d+\] /.test(l));
    expect(lines).toHaveLength(15); // 6 experiments × 2 conditions + listener-close's 3, one round each
    for (const n of NAMES) expect(run.out).toContain(n);
  });

  it("each results.json is valid against the repository's JSON Schema, in the issue's shape", () => {
    const ajv = new Ajv({ allErrors: true, strict: true });
    const validate = ajv.compile(JSON.parse(readFileSync(SCHEMA, "utf8")) as object);
    for (const n of NAMES) {
      const r = JSON.parse(readFileSync(join(dir, n, "results.json"), "utf8")) as {
        experiment: string;
        conditions: { median: number; samples: number[] }[];
        effect: number | null;
      };
      expect(validate(r), `${n}: ${ajv.errorsText(validate.errors)}`).toBe(true);
      expect(r.experiment).toBe(n);
      // One round: the median is the sample; the effect is second ÷ first as the issue defines it.
      for (const c of r.conditions) expect(c.median).toBe(c.samples[0]);
      const [a, b] = r.conditions;
      if (a.median > 0) expect(r.effect).toBeCloseTo(b.median / a.median, 2);
      else expect(r.effect).toBeNull();
    }
    // The schema rejects what the shape does not allow.
    expect(validate({ experiment: "polling", paperSection: "§1.7", paperClaim: "x", metric: "tps", unit: "t/s", conditions: [], effect: 1, paperEffect: ">1", directionAgrees: true })).toBe(false);
    expect(validate({ experiment: "nope" })).toBe(false);
  });

  it("the plots parse as SVG in a browser, with bars and sample points (data marks)", async () => {
    browser ??= Chromium.start();
    for (const n of ["async-send", "batching"]) {
      const page = await browser.open(pathToFileURL(join(dir, n, `${n}.svg`)).href);
      const r = await page.evaluate<{ root: string; ns: string; parseErrors: number; bars: number; points: number }>(
        `({ root: document.documentElement.localName, ns: document.documentElement.namespaceURI,
           parseErrors: document.getElementsByTagName("parsererror").length,
           bars: document.querySelectorAll("g.mark-rect path").length,
           points: document.querySelectorAll("g.mark-symbol path").length })`,
      );
      expect(r).toMatchObject({ root: "svg", ns: "http://www.w3.org/2000/svg", parseErrors: 0 });
      expect(r.bars).toBe(2); // one median bar per condition
      expect(r.points).toBe(2); // one dot per sample
    }
  }, 60_000);

  it("report.html loads in chromium with no console errors, one plot per experiment, and is not blank", async () => {
    const rep = await runCli("experiment", "report", dir);
    expect(rep.code, rep.err).toBe(0);
    expect(readFileSync(join(dir, "report.md"), "utf8")).toMatch(/\| experiment \| paper \| ours \(medians\) \| direction agrees \| effect/);
    browser ??= Chromium.start();
    const page = await browser.open(pathToFileURL(join(dir, "report.html")).href);
    await new Promise((r) => setTimeout(r, 300));
    expect(page.problems.filter((p) => p.level === "error" || p.level === "warning" || p.kind === "exception")).toEqual([]);
    const plots = await page.evaluate<{ id: string; w: number; h: number; x: number; y: number; bars: number }[]>(
      `[...document.querySelectorAll("section.experiment")].map((s) => {
         const svg = s.querySelectorAll("figure.plot > svg");
         const r = svg.length === 1 ? svg[0].getBoundingClientRect() : { width: 0, height: 0, x: 0, y: 0 };
         return { id: s.id, w: r.width, h: r.height, x: r.x + scrollX, y: r.y + scrollY, bars: s.querySelectorAll("figure.plot g.mark-rect path").length };
       })`,
    );
    expect(plots.map((p) => p.id)).toEqual(NAMES);
    for (const p of plots) {
      expect(p.w, p.id).toBeGreaterThan(200);
      expect(p.h, p.id).toBeGreaterThan(150);
      expect(p.bars, p.id).toBe(p.id === "listener-close" ? 3 : 2);
    }
    const whole = colouredPixels(readPng(await page.screenshot()));
    expect(whole.nonWhite).toBeGreaterThan(10_000);
    // Each plot, as the browser drew it: bars in the bar colour. (A condition whose median is 0,
    // e.g. DragonFly's resets, has a zero-height bar; every plot has at least one that is not.)
    for (const p of plots) {
      const shot = colouredPixels(readPng(await page.screenshot({ x: p.x, y: p.y, width: p.w, height: p.h })));
      expect(shot.bar, p.id).toBeGreaterThan(100);
      expect(shot.point, p.id).toBeGreaterThan(0);
    }
  }, 90_000);

  it("the console check sees errors when a page has them (the same browser, a page that fails)", async () => {
    browser ??= Chromium.start();
    const bad = `data:text/html,${encodeURIComponent('<p>x</p><script>console.error("e1"); nope();</script><img src="file:///nonexistent.png">')}`;
    const page = await browser.open(bad);
    await new Promise((r) => setTimeout(r, 300));
    const kinds = page.problems.map((p) => `${p.kind}:${p.level}`);
    expect(kinds).toContain("console:error");
    expect(kinds).toContain("exception:error");
  }, 30_000);
});
