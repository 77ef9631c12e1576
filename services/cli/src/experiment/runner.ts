/**
 * Runs experiments: every condition measured in the same run, alternated (ABAB…, and the
 * order reversed on every other round so neither condition always goes first), repeated;
 * writes DIR/NAME/results.json, run.json and NAME.svg.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startLocalNats } from "../bench/forward.js";
import { onInterrupt } from "../local/interrupt.js";
import type { ExperimentDef, Sample, Transport } from "./catalog.js";
import type { ExperimentProgress } from "./progress.js";
import { renderSvg } from "./plot.js";
import { experimentResults, machine, moreResults, type ExperimentResults, type RunInfo } from "./results.js";

export interface RunOptions {
  quick: boolean;
  repeat: number;
  transport: Transport;
  out: string;
  progress: ExperimentProgress;
}

export class ExperimentRunError extends Error {
  override readonly name = "ExperimentRunError";
}

/** The order of round `round`: as listed on even rounds, reversed on odd ones. */
export function roundOrder(n: number, round: number): number[] {
  const idx = Array.from({ length: n }, (_, i) => i);
  return round % 2 === 0 ? idx : idx.reverse();
}

export function samplesPerRun(defs: readonly ExperimentDef[], repeat: number): number {
  return defs.reduce((n, d) => n + d.conditions.length * repeat, 0);
}

export async function runExperiments(defs: readonly ExperimentDef[], o: RunOptions): Promise<ExperimentResults[]> {
  for (const d of defs) {
    if (!d.transports.includes(o.transport)) throw new ExperimentRunError(`${d.name} runs over ${d.transports.join(" | ")}, not ${o.transport}`);
  }
  let nats: Awaited<ReturnType<typeof startLocalNats>> | undefined;
  let store: string | undefined;
  let release = () => {};
  try {
    if (o.transport === "nats") {
      // One nats-server (with JetStream: the control's KV buckets) for the whole run; a fresh store.
      store = mkdtempSync(join(tmpdir(), "dfly-experiment-nats-"));
      const dir = store;
      release = onInterrupt(async () => {
        await nats?.stop();
        rmSync(dir, { recursive: true, force: true });
      });
      nats = await startLocalNats(["-js", "-sd", store]);
    }
    const out: ExperimentResults[] = [];
    for (const d of defs) out.push(await runOne(d, o, nats?.url));
    return out;
  } finally {
    await nats?.stop();
    if (store) rmSync(store, { recursive: true, force: true });
    release();
  }
}

async function runOne(d: ExperimentDef, o: RunOptions, natsUrl: string | undefined): Promise<ExperimentResults> {
  const started = new Date();
  const t0 = performance.now();
  const values: number[][] = d.conditions.map(() => []);
  const more: (number[] | undefined)[][] = d.conditions.map(() => []);
  const order: string[] = [];
  const size = { quick: o.quick, transport: o.transport, ...(natsUrl ? { natsUrl } : {}) };
  for (let round = 0; round < o.repeat; round++) {
    for (const i of roundOrder(d.conditions.length, round)) {
      const c = d.conditions[i];
      const label = `${d.name} ${c.name} ${round + 1}/${o.repeat}`;
      o.progress.starting(label);
      let s: Sample;
      try {
        s = await c.measure(size);
      } catch (err) {
        throw new ExperimentRunError(`${label}: ${(err as Error).message}`, { cause: err });
      }
      values[i].push(s.value);
      more[i].push(s.more);
      order.push(c.name);
      const extra = (d.more ?? []).map((m, k) => (s.more?.[k] !== undefined ? `, ${m.metric} ${s.more[k]} ${m.unit}` : "")).join("");
      o.progress.finished(label, `${s.value} ${d.unit}${extra}`);
    }
  }
  const res = experimentResults(d, values);
  const moreRes = moreResults(d, more);
  const info: RunInfo = {
    experiment: d.name,
    transport: o.transport,
    quick: o.quick,
    repeat: o.repeat,
    order,
    ...(moreRes ? { more: moreRes } : {}),
    machine: machine(),
    startedAt: started.toISOString(),
    seconds: Math.round((performance.now() - t0) / 100) / 10,
  };
  const dir = join(o.out, d.name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "results.json"), JSON.stringify(res, null, 2) + "\n");
  writeFileSync(join(dir, "run.json"), JSON.stringify(info, null, 2) + "\n");
  const title = `${d.name} (${d.paperSection}), ${o.transport}, ${o.repeat}× each`;
  writeFileSync(join(dir, `${d.name}.svg`), await renderSvg({ title, metric: d.metric, unit: d.unit, conditions: res.conditions }));
  return res;
}
