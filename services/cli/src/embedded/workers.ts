/**
 * Netisr CPUs as worker_threads of this process (embedded mode): spawn one from the
 * compiled worker (services/netisr/dist/worker.js), wait for it, ask it for its counters,
 * stop it.
 */
import { Worker } from "node:worker_threads";
import { netisrWorkerPath, type NetisrSnapshot, type NetisrWorkerCommand, type NetisrWorkerData, type NetisrWorkerEvent } from "@dfly/netisr";
import type { MessagePort } from "node:worker_threads";

export class CpuWorkerError extends Error {
  override readonly name = "CpuWorkerError";
  constructor(
    readonly cpu: number,
    message: string,
  ) {
    super(`netisr ${cpu}: ${message}`);
  }
}

export class CpuWorker {
  readonly cpu: number;
  readonly worker: Worker;
  /** Resolves once the port and rings are subscribed. */
  readonly started: Promise<{ metricsAddr?: string }>;
  /** Resolves once registered with the control and holding its table (at once without control). */
  readonly ready: Promise<void>;
  private nextId = 1;
  private readonly pending = new Map<number, (s: unknown) => void>();
  private readonly calls = new Map<number, { res: (v: unknown) => void; rej: (e: Error) => void }>();
  private exited = false;

  constructor(data: NetisrWorkerData, transferList: readonly MessagePort[] = []) {
    this.cpu = data.cpu;
    this.worker = new Worker(netisrWorkerPath(), { workerData: data, transferList: [...transferList] });
    let started!: (v: { metricsAddr?: string }) => void;
    let ready!: () => void;
    let fail!: (e: Error) => void;
    this.started = new Promise((res, rej) => {
      started = res;
      fail = rej;
    });
    const readyP = new Promise<void>((res, rej) => {
      ready = res;
      const prev = fail;
      fail = (e) => {
        prev(e);
        rej(e);
      };
    });
    this.ready = readyP;
    // Callers may await only one of the two; an unhandled rejection must not kill the process.
    this.started.catch(() => undefined);
    this.ready.catch(() => undefined);
    this.worker.on("message", (e: NetisrWorkerEvent) => {
      if (e.op === "started") started(e.metricsAddr !== undefined ? { metricsAddr: e.metricsAddr } : {});
      else if (e.op === "ready") ready();
      else if (e.op === "error") fail(new CpuWorkerError(this.cpu, e.message));
      else if (e.op === "result") {
        const c = this.calls.get(e.id);
        this.calls.delete(e.id);
        if (c && e.ok) c.res(e.value);
        else if (c) c.rej(new CpuWorkerError(this.cpu, e.error ?? "call failed"));
      } else if (e.op === "snapshot") {
        const f = this.pending.get(e.id);
        this.pending.delete(e.id);
        f?.(e.snap);
      }
    });
    this.worker.on("error", (err) => fail(new CpuWorkerError(this.cpu, err.message)));
    this.worker.on("exit", (code) => {
      this.exited = true;
      fail(new CpuWorkerError(this.cpu, `worker exited (code ${code})`));
      for (const f of this.pending.values()) f(undefined);
      this.pending.clear();
      for (const c of this.calls.values()) c.rej(new CpuWorkerError(this.cpu, "worker exited"));
      this.calls.clear();
    });
  }

  /** The CPU's counters (undefined once the worker is gone). */
  snapshot<T = NetisrSnapshot>(): Promise<T | undefined> {
    if (this.exited) return Promise.resolve(undefined);
    const id = this.nextId++;
    return new Promise((res) => {
      this.pending.set(id, (s) => res(s as T | undefined));
      this.worker.postMessage({ op: "snapshot", id } satisfies NetisrWorkerCommand);
    });
  }

  /** Calls method `method` of program `program` (in the order of NetisrWorkerData.programs) in the worker. */
  call<T = unknown>(program: number, method: string, args: unknown[] = []): Promise<T> {
    if (this.exited) return Promise.reject(new CpuWorkerError(this.cpu, "worker exited"));
    const id = this.nextId++;
    return new Promise<T>((res, rej) => {
      this.calls.set(id, { res: res as (v: unknown) => void, rej });
      this.worker.postMessage({ op: "call", id, program, method, args } satisfies NetisrWorkerCommand);
    });
  }

  /** Asks the worker to leave (deregister, unsubscribe) and waits for it to exit (terminates it after `graceMs`). */
  async stop(graceMs = 3000): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((res) => this.worker.once("exit", () => res()));
    this.worker.postMessage({ op: "stop" } satisfies NetisrWorkerCommand);
    const t = setTimeout(() => void this.worker.terminate(), graceMs);
    await gone;
    clearTimeout(t);
  }
}
