/**
 * Applying a stored route change on the CPUs, as DragonFly's rtrequest1_global: CPU 0 first, then
 * 1, … in id order, so a CPU never holds a change a lower CPU lacks. DragonFly panics when a later
 * CPU fails (its tables must stay identical); here a CPU that fails or times out is marked pending
 * and skipped by later changes until the control repairs it (a full-table resync, or its own
 * re-registration), and the chain goes on past it. `parallel` sends to all at once (measured only).
 */
import { trace, TraceArea } from "@dfly/core";
import { encodeNetmsg, encodeRouteResync } from "@dfly/wire";
import type { Cluster } from "./cluster.js";
import type { CpuPorts } from "./ports.js";

export type ApplyMode = "chain" | "parallel";

/** How long a CPU has for one batch of a bulk load (8,192 routes; a loaded machine needs seconds). */
export const BATCH_TIMEOUT_MS = 10_000;

export interface ApplyResult {
  applied: number[];
  /** Live CPUs without the change, and why. */
  pending: { cpu: number; reason: string }[];
  /** Per CPU: first send to last reply (batches). */
  cpuMs: { cpu: number; ms: number }[];
}

export function applyStatus(r: Pick<ApplyResult, "applied" | "pending">): string {
  const on = r.applied.length > 0 ? `applied on CPUs ${r.applied.join(",")}` : "applied on no CPU";
  const pend = r.pending.map((p) => `pending on CPU ${p.cpu} (${p.reason})`).join(", ");
  return `stored, ${on}${pend ? ", " + pend : ""}`;
}

export class RouteChain {
  /** CPU → why it misses changes (cleared when it re-registers, since it then loads the whole table). */
  private readonly stale = new Map<number, string>();
  private repairing = false;

  constructor(
    private readonly ports: CpuPorts,
    private readonly cluster: Cluster,
    public mode: ApplyMode = "chain",
  ) {}

  /** Live CPUs marked pending. */
  pendingCpus(): { cpu: number; reason: string }[] {
    const live = new Set(this.cluster.liveCpus());
    for (const c of [...this.stale.keys()]) if (!live.has(c)) this.stale.delete(c);
    return [...this.stale].map(([cpu, reason]) => ({ cpu, reason })).sort((a, b) => a.cpu - b.cpu);
  }

  /** The CPU (re-)registered: it loads the whole table next, so it is whole again. */
  registered(cpu: number): void {
    if (this.stale.delete(cpu)) trace(TraceArea.route, () => `cpu ${cpu} re-registered: no longer pending`);
  }

  private fail(cpu: number, reason: string): void {
    this.stale.set(cpu, reason);
    trace(TraceArea.route, () => `cpu ${cpu} pending: ${reason}`);
  }

  private targets(): number[] {
    return this.cluster.liveCpus().filter((c) => !this.stale.has(c));
  }

  /** One change on every CPU that is not pending. */
  async apply(make: (id: number) => Uint8Array): Promise<ApplyResult> {
    return this.applyBatches([make]);
  }

  /** Batches in order; in chain mode batch b reaches CPU k after CPU k−1 answered it (pipelined across batches). */
  async applyBatches(batches: readonly ((id: number) => Uint8Array)[]): Promise<ApplyResult> {
    const cpus = this.targets();
    const cpuMs: { cpu: number; ms: number }[] = [];
    const applied: number[] = [];
    let prev: Promise<unknown>[] = batches.map(() => Promise.resolve());
    const runs: Promise<void>[] = [];
    for (const cpu of cpus) {
      const done: Promise<unknown>[] = [];
      let last: Promise<unknown> = Promise.resolve();
      let failed = false;
      const t0 = performance.now();
      for (let b = 0; b < batches.length; b++) {
        const before = this.mode === "chain" ? Promise.all([prev[b], last]) : last;
        last = before.then(async () => {
          if (failed) return;
          const r = await this.ports.request(cpu, batches[b], batches.length > 1 ? Math.max(this.ports.timeoutMs, BATCH_TIMEOUT_MS) : this.ports.timeoutMs);
          if (!r.ok) {
            failed = true;
            this.fail(cpu, r.error ?? "failed");
          }
        });
        done.push(last);
      }
      runs.push(
        last.then(() => {
          cpuMs.push({ cpu, ms: performance.now() - t0 });
          if (!failed) applied.push(cpu);
        }),
      );
      prev = done;
    }
    await Promise.all(runs);
    applied.sort((a, b) => a - b);
    cpuMs.sort((a, b) => a.cpu - b.cpu);
    return { applied, pending: this.pendingCpus(), cpuMs };
  }

  /**
   * Each live pending CPU: whole again when its digest is `expected` (it applied the change but
   * answered late); else asked to reload the whole table (it answers at once, loads, re-registers).
   * Run between changes, so `expected` is exact.
   */
  async repair(expected: string): Promise<void> {
    if (this.repairing) return;
    this.repairing = true;
    try {
      for (const { cpu } of this.pendingCpus()) {
        const d = await this.ports.request(cpu, (id) => encodeNetmsg.digestRequest(id));
        if (d.ok && (d.body as { digest?: unknown } | undefined)?.digest === expected) {
          this.stale.delete(cpu);
          trace(TraceArea.route, () => `repair cpu ${cpu}: digest equal, whole again`);
          continue;
        }
        const r = await this.ports.request(cpu, (id) => encodeRouteResync(id));
        trace(TraceArea.route, () => `repair cpu ${cpu}: ${r.ok ? "resync asked" : r.error}`);
      }
    } finally {
      this.repairing = false;
    }
  }
}
