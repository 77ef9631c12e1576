/**
 * `dfly experiment report DIR`: reads each DIR/NAME/results.json (+ run.json, NAME.svg) of the
 * known experiments and writes DIR/report.md and DIR/report.html (one file: the SVG plots
 * inline, no script, no external resource).
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EXPERIMENTS, type ExperimentDef } from "./catalog.js";
import type { ExperimentResults, RunInfo } from "./results.js";

export class ExperimentReportError extends Error {
  override readonly name = "ExperimentReportError";
}

interface Entry {
  def: ExperimentDef;
  res: ExperimentResults;
  run: RunInfo | undefined;
  svg: string;
}

/** Largest results.json / run.json / SVG read (a report's inputs are small; a bigger file is not one of ours). */
const MAX_FILE_BYTES = 4 * 1024 * 1024;

function readBounded(path: string): string {
  const b = readFileSync(path);
  if (b.length > MAX_FILE_BYTES) throw new ExperimentReportError(`${path}: ${b.length} bytes, more than ${MAX_FILE_BYTES}`);
  return b.toString("utf8");
}

function readJson<T>(path: string): T {
  try {
    return JSON.parse(readBounded(path)) as T;
  } catch (err) {
    if (err instanceof ExperimentReportError) throw err;
    throw new ExperimentReportError(`${path}: not JSON (${(err as Error).message})`, { cause: err });
  }
}

function check(path: string, r: ExperimentResults, def: ExperimentDef): void {
  const bad = (why: string) => new ExperimentReportError(`${path}: ${why}`);
  if (r.experiment !== def.name) throw bad(`experiment "${String(r.experiment)}", want "${def.name}"`);
  if (!Array.isArray(r.conditions) || r.conditions.length < 2) throw bad("want at least two conditions");
  for (const c of r.conditions) {
    if (typeof c?.name !== "string" || ![c.median, c.p25, c.p75].every((x) => typeof x === "number" && Number.isFinite(x)) || !Array.isArray(c.samples)) {
      throw bad("a condition lacks name, median, p25, p75 or samples");
    }
  }
}

function load(dir: string): Entry[] {
  const out: Entry[] = [];
  for (const def of EXPERIMENTS) {
    const p = join(dir, def.name, "results.json");
    if (!existsSync(p)) continue;
    const res = readJson<ExperimentResults>(p);
    check(p, res, def);
    const runPath = join(dir, def.name, "run.json");
    const svgPath = join(dir, def.name, `${def.name}.svg`);
    const svg = existsSync(svgPath) ? readBounded(svgPath) : "";
    if (svg && !/^<svg[\s>]/.test(svg.trimStart())) throw new ExperimentReportError(`${svgPath}: not an SVG document`);
    out.push({ def, res, run: existsSync(runPath) ? readJson<RunInfo>(runPath) : undefined, svg });
  }
  if (out.length === 0) throw new ExperimentReportError(`${dir}: no results (want ${dir}/NAME/results.json from dfly experiment run)`);
  return out;
}

const fmt = (x: number) => (Math.abs(x) >= 1000 ? Math.round(x).toLocaleString("en-US") : String(x));

function paperText(e: Entry): string {
  const p = e.res.paperEffect;
  return typeof p === "number" ? `×${p}` : p === "0" ? "none (0)" : p === ">1" ? "higher (>1)" : "lower (<1)";
}

function oursText(e: Entry): string {
  const main = e.res.conditions.map((c) => `${c.name} ${fmt(c.median)}`).join(" → ");
  const more = (e.run?.more ?? []).map((s) => `; ${s.metric} ${s.conditions.map((c) => fmt(c.median)).join(" → ")} ${s.unit}`).join("");
  return `${main} ${e.res.unit}${more}`;
}

function effectText(e: Entry): string {
  return e.res.effect === null ? "n/a (first condition 0)" : `×${e.res.effect}`;
}

function conditionsRows(e: Entry): string[][] {
  return e.res.conditions.map((c) => [c.name, fmt(c.median), `${fmt(c.p25)} – ${fmt(c.p75)}`, String(c.samples.length)]);
}

function howText(e: Entry): string {
  const r = e.run;
  if (!r) return "";
  return `${r.transport} transport, ${r.repeat} run${r.repeat === 1 ? "" : "s"} per condition${r.quick ? " (--quick)" : ""}, alternated; ${r.machine.cpus} CPUs (${r.machine.model}), load average ${r.machine.loadavg.join(" ")}, ${r.seconds} s`;
}

function mdTable(head: string[], rows: string[][]): string {
  const esc = (s: string) => s.replace(/\|/g, "\\|");
  return [`| ${head.map(esc).join(" | ")} |`, `|${head.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.map(esc).join(" | ")} |`)].join("\n");
}

const SUMMARY_HEAD = ["experiment", "paper", "ours (medians)", "direction agrees", "effect (ours / paper)"];

function summaryRow(e: Entry): string[] {
  return [e.def.name, `${e.res.paperSection}: ${e.res.paperClaim}`, oursText(e), e.res.directionAgrees ? "yes" : "no", `${effectText(e)} / ${paperText(e)}`];
}

export function reportMarkdown(entries: readonly Entry[]): string {
  const out = ["# dfly experiment report", "", "The paper's lessons measured on this stack. Effects are the second condition's median ÷ the first's, as the paper's figures go.", ""];
  out.push(mdTable(SUMMARY_HEAD, entries.map(summaryRow)), "");
  for (const e of entries) {
    out.push(`## ${e.def.name}`, "", `${e.def.compares}.`, "", `![${e.def.name}](${e.def.name}/${e.def.name}.svg)`, "");
    out.push(mdTable(["the paper", "ours", "direction agrees", "effect (ours / paper)"], [[`${e.res.paperSection}: ${e.res.paperClaim}`, oursText(e), e.res.directionAgrees ? "yes" : "no", `${effectText(e)} / ${paperText(e)}`]]), "");
    out.push(mdTable(["condition", `median ${e.res.metric} (${e.res.unit})`, "p25 – p75", "runs"], conditionsRows(e)), "");
    out.push(`Why: ${e.def.why}`, "");
    if (!e.res.directionAgrees) out.push(`Where it disagrees with the paper: ${e.def.disagree}`, "");
    const how = howText(e);
    if (how) out.push(`Measured: ${how}.`, "");
  }
  return out.join("\n");
}

const escHtml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

function htmlTable(head: string[], rows: string[][]): string {
  return `<table><thead><tr>${head.map((h) => `<th>${escHtml(h)}</th>`).join("")}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${escHtml(c)}</td>`).join("")}</tr>`)
    .join("")}</tbody></table>`;
}

/** An SVG from a results directory, inlined: scripts and event handlers removed (it is data, not code). */
function safeSvg(svg: string): string {
  return svg.replace(/<script[\s\S]*?<\/script>/gi, "").replace(/\son[a-z]+\s*=\s*("[^"]*"|'[^']*')/gi, "");
}

export function reportHtml(entries: readonly Entry[]): string {
  const parts = entries.map(
    (e) =>
      `<section class="experiment" id="${escHtml(e.def.name)}"><h2>${escHtml(e.def.name)}</h2><p>${escHtml(e.def.compares)}.</p>` +
      `<figure class="plot">${e.svg ? safeSvg(e.svg) : "<p>(no plot)</p>"}</figure>` +
      htmlTable(["the paper", "ours", "direction agrees", "effect (ours / paper)"], [[`${e.res.paperSection}: ${e.res.paperClaim}`, oursText(e), e.res.directionAgrees ? "yes" : "no", `${effectText(e)} / ${paperText(e)}`]]) +
      htmlTable(["condition", `median ${e.res.metric} (${e.res.unit})`, "p25 – p75", "runs"], conditionsRows(e)) +
      `<p><b>Why.</b> ${escHtml(e.def.why)}</p>` +
      (e.res.directionAgrees ? "" : `<p class="disagree"><b>Where it disagrees with the paper.</b> ${escHtml(e.def.disagree)}</p>`) +
      (howText(e) ? `<p class="how">Measured: ${escHtml(howText(e))}.</p>` : "") +
      `</section>`,
  );
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>dfly experiment report</title>
<link rel="icon" href="data:,">
<style>
body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.8em 0}th,td{border:1px solid #bbb;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#eee}.how{color:#555;font-size:90%}figure.plot{margin:1em 0}
</style></head><body>
<h1>dfly experiment report</h1>
<p>The paper's lessons measured on this stack. Effects are the second condition's median ÷ the first's, as the paper's figures go.</p>
${htmlTable(SUMMARY_HEAD, entries.map(summaryRow))}
${parts.join("\n")}
</body></html>
`;
}

export function writeReport(dir: string): { html: string; md: string; experiments: string[] } {
  const entries = load(dir);
  const html = join(dir, "report.html");
  const md = join(dir, "report.md");
  writeFileSync(html, reportHtml(entries));
  writeFileSync(md, reportMarkdown(entries));
  return { html, md, experiments: entries.map((e) => e.def.name) };
}
