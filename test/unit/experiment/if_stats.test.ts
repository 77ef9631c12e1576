import { describe, expect, it } from "vitest";
import { Worker } from "node:worker_threads";
import { fileURLToPath } from "node:url";
import { existsSync } from "node:fs";
import { IfStatCounters, IfStatConfigError, IFSTAT_SHARED_BYTES } from "@dfly/netisr";

const compiled = fileURLToPath(new URL("../../../services/netisr/dist/if_stats.js", import.meta.url));

/** Counts `n` frames of `bytes` in a thread of its own, through the compiled module the netisr threads load. */
function countInThread(layout: unknown, n: number, bytes: number): Promise<{ ipackets: number; ibytes: number; opackets: number }> {
  const code = `
    const { parentPort, workerData } = require("node:worker_threads");
    import(workerData.url).then(({ IfStatCounters }) => {
      const c = new IfStatCounters(workerData.layout);
      for (let i = 0; i < workerData.n; i++) { c.input(workerData.bytes); c.output(workerData.bytes); }
      parentPort.postMessage(c.read());
    });`;
  const w = new Worker(code, { eval: true, workerData: { url: `file://${compiled}`, layout, n, bytes } });
  return new Promise((res, rej) => {
    w.once("message", (m) => {
      res(m);
      void w.terminate();
    });
    w.once("error", rej);
  });
}

describe("ifnet counters: per CPU or shared between the CPUs' threads", () => {
  it("the compiled module exists (make build)", () => {
    expect(existsSync(compiled)).toBe(true);
  });

  it("shared: two threads' updates land in one set, seen from a third thread", async () => {
    const buffer = new SharedArrayBuffer(IFSTAT_SHARED_BYTES);
    const n = 200_000;
    const [a, b] = await Promise.all([countInThread({ layout: "shared", buffer }, n, 64), countInThread({ layout: "shared", buffer }, n, 64)]);
    const here = new IfStatCounters({ layout: "shared", buffer }).read();
    // Atomics: no update lost although both threads wrote the same words at once.
    expect(here).toEqual({ layout: "shared", ipackets: 2 * n, ibytes: 2 * n * 64, opackets: 2 * n, obytes: 2 * n * 64 });
    // Each thread, reading the shared set when it finished, saw at least its own updates.
    expect(a.ipackets).toBeGreaterThanOrEqual(n);
    expect(b.ipackets).toBeGreaterThanOrEqual(n);
  });

  it("per CPU: each thread counts only its own", async () => {
    const [a, b] = await Promise.all([countInThread({ layout: "percpu" }, 1000, 64), countInThread({ layout: "percpu" }, 3000, 100)]);
    expect(a).toMatchObject({ ipackets: 1000, ibytes: 64_000, opackets: 1000 });
    expect(b).toMatchObject({ ipackets: 3000, ibytes: 300_000, opackets: 3000 });
  });

  it("a shared layout without a big enough SharedArrayBuffer is refused", () => {
    expect(() => new IfStatCounters({ layout: "shared", buffer: new SharedArrayBuffer(4) })).toThrow(IfStatConfigError);
    expect(() => new IfStatCounters({ layout: "shared", buffer: new ArrayBuffer(16) as unknown as SharedArrayBuffer })).toThrow(IfStatConfigError);
  });
});
