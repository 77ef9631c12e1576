/**
 * results.json (the shape the JSON Schema services/cli/schema/experiment-results.schema.json
 * fixes) and run.json (how it was measured: transport, repeats, machine, a second metric).
 */
import os from "node:os";
import type { ExperimentDef, PaperEffect, Transport } from "./catalog.js";
import { ratio, summarize } from "./stats.js";

export interface ConditionResult {
  name: string;
  median: number;
  p25: number;
  p75: number;
  samples: number[];
}

export interface ExperimentResults {
  experiment: string;
  paperSection: string;
  paperClaim: string;
  metric: string;
  unit: string;
  conditions: ConditionResult[];
  /** The second condition's median ÷ the first's (null when the first is 0). */
  effect: number | null;
  paperEffect: PaperEffect;
  directionAgrees: boolean;
}

export interface RunInfo {
  experiment: string;
  transport: Transport;
  quick: boolean;
  repeat: number;
  /** The order the samples were taken in (condition names). */
  order: string[];
  /** The further metrics (ExperimentDef.more), each summarized like the main one. */
  more?: { metric: string; unit: string; conditions: ConditionResult[] }[];
  machine: { cpus: number; model: string; node: string; loadavg: number[] };
  startedAt: string;
  seconds: number;
}

function condition(name: string, samples: number[]): ConditionResult {
  return { name, ...summarize(samples), samples };
}

/** Whether `effect` goes the way the paper's does (a number: the same side of 1). */
export function directionAgrees(effect: number | null, paper: PaperEffect): boolean {
  if (effect === null) return false;
  if (paper === "0") return effect === 0;
  if (paper === ">1") return effect > 1;
  if (paper === "<1") return effect < 1;
  return paper > 1 ? effect > 1 : paper < 1 ? effect < 1 : effect === 1;
}

export function experimentResults(def: ExperimentDef, samples: number[][]): ExperimentResults {
  const conditions = def.conditions.map((c, i) => condition(c.name, samples[i]));
  const effect = ratio(conditions[1].median, conditions[0].median);
  return {
    experiment: def.name,
    paperSection: def.paperSection,
    paperClaim: def.paperClaim,
    metric: def.metric,
    unit: def.unit,
    conditions,
    effect,
    paperEffect: def.paperEffect,
    directionAgrees: directionAgrees(effect, def.paperEffect),
  };
}

/** `samples[condition][round]` is that sample's `more` array. */
export function moreResults(def: ExperimentDef, samples: (number[] | undefined)[][]): RunInfo["more"] {
  const out: NonNullable<RunInfo["more"]> = [];
  (def.more ?? []).forEach((m, k) => {
    const conditions = def.conditions.map((c, i) => condition(c.name, samples[i].map((s) => s?.[k]).filter((x): x is number => typeof x === "number")));
    if (conditions.every((c) => c.samples.length > 0)) out.push({ ...m, conditions });
  });
  return out.length > 0 ? out : undefined;
}

export function machine(): RunInfo["machine"] {
  return { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? "", node: process.version, loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100) };
}
