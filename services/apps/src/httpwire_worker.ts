/**
 * The direct-wire baseline (`runHttpShortDirect`) in a worker thread of its own: a fresh
 * isolate, so that the baseline and the run it is compared with do not share a heap, JIT
 * feedback or garbage (run one after the other in one thread, the second ran ~10-20 %
 * slower than alone, whichever it was).
 *
 *   worker → parent  { op: "report", report } · { op: "error", message }
 *
 * This file runs as compiled JavaScript (services/apps/dist/httpwire_worker.js).
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { parentPort, Worker, workerData } from "node:worker_threads";
import { runHttpShortDirect, type HttpShortDirectOptions, type HttpShortReport } from "./httpwire.js";

/** What the worker runs: the plain options (no callbacks cross a thread). */
export type HttpShortDirectWorkerData = Omit<HttpShortDirectOptions, "tap" | "serverTrace" | "clientTrace" | "inspect"> & {
  kind: "dfly-httpwire";
};

type Event = { op: "report"; report: HttpShortReport } | { op: "error"; message: string };

function workerPath(): string {
  const index = createRequire(import.meta.url).resolve("@dfly/apps");
  const p = join(dirname(index), "httpwire_worker.js");
  if (!existsSync(p)) throw new Error(`${p} is missing: run "make build" (workers load compiled JavaScript)`);
  return p;
}

/** `runHttpShortDirect` in a fresh worker thread; resolves with its report. */
export function runHttpShortDirectIsolated(o: Omit<HttpShortDirectWorkerData, "kind">): Promise<HttpShortReport> {
  return new Promise((resolve, reject) => {
    const w = new Worker(workerPath(), { workerData: { ...o, kind: "dfly-httpwire" } satisfies HttpShortDirectWorkerData });
    let done = false;
    w.on("message", (m: Event) => {
      done = true;
      if (m.op === "report") resolve(m.report);
      else reject(new Error(`direct baseline: ${m.message}`));
      void w.terminate();
    });
    w.on("error", (err) => {
      done = true;
      reject(err);
    });
    w.on("exit", (code) => {
      if (!done) reject(new Error(`direct baseline worker exited (${code}) without a report`));
    });
  });
}

async function run(): Promise<void> {
  const { kind: _kind, ...o } = workerData as HttpShortDirectWorkerData;
  try {
    const report = await runHttpShortDirect(o);
    parentPort!.postMessage({ op: "report", report } satisfies Event);
  } catch (err) {
    parentPort!.postMessage({ op: "error", message: (err as Error).message } satisfies Event);
  }
}

if (parentPort && (workerData as Partial<HttpShortDirectWorkerData> | null)?.kind === "dfly-httpwire") void run();
