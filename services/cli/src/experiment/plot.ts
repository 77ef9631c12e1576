/**
 * An experiment's plot: vega-lite compiled to a vega spec, rendered to SVG by vega's headless
 * view (no browser, no canvas). Bars are the medians, rules the quartiles, dots every sample.
 */
import { compile, type TopLevelSpec } from "vega-lite";
import { parse, View } from "vega";

export interface PlotInput {
  title: string;
  metric: string;
  unit: string;
  conditions: readonly { name: string; median: number; p25: number; p75: number; samples: readonly number[] }[];
}

export function plotSpec(p: PlotInput): TopLevelSpec {
  const order = p.conditions.map((c) => c.name);
  const summary = p.conditions.map((c) => ({ condition: c.name, median: c.median, p25: c.p25, p75: c.p75 }));
  const samples = p.conditions.flatMap((c) => c.samples.map((v, i) => ({ condition: c.name, value: v, run: i + 1 })));
  const y = `${p.metric} (${p.unit})`;
  const x = { field: "condition", type: "nominal" as const, sort: order, title: null, axis: { labelAngle: 0 } };
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: p.title,
    width: 360,
    height: 240,
    background: "white",
    layer: [
      { data: { values: summary }, mark: { type: "bar", color: "#4c78a8", opacity: 0.8 }, encoding: { x, y: { field: "median", type: "quantitative", title: y } } },
      { data: { values: summary }, mark: { type: "rule", color: "#222", strokeWidth: 2 }, encoding: { x, y: { field: "p25", type: "quantitative" }, y2: { field: "p75" } } },
      { data: { values: samples }, mark: { type: "point", filled: true, color: "#e45756", opacity: 1, size: 40 }, encoding: { x, y: { field: "value", type: "quantitative" } } },
    ],
  };
}

export async function renderSvg(p: PlotInput): Promise<string> {
  const vg = compile(plotSpec(p)).spec;
  const view = new View(parse(vg), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
