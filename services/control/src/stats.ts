/** netstat -s: every CPU's counters (BSD names) fetched over its port and summed on read (per-CPU statistics, paper §1.6). */
import { encodeNetmsg } from "@dfly/wire";
import type { CpuPorts } from "./ports.js";

export type ProtoCounters = Record<string, Record<string, number>>;

export interface StatsResult {
  total: ProtoCounters;
  cpus: { cpu: number; stats: ProtoCounters }[];
  unreachable: number[];
}

/** Keeps only finite, non-negative numbers two levels deep (a CPU's reply is untrusted input). */
export function cleanCounters(v: unknown): ProtoCounters {
  const out: ProtoCounters = {};
  if (typeof v !== "object" || v === null) return out;
  for (const [proto, counters] of Object.entries(v)) {
    if (typeof counters !== "object" || counters === null) continue;
    const c: Record<string, number> = {};
    for (const [k, n] of Object.entries(counters)) if (typeof n === "number" && Number.isFinite(n) && n >= 0) c[k] = n;
    out[proto] = c;
  }
  return out;
}

export function sumCounters(all: readonly ProtoCounters[]): ProtoCounters {
  const total: ProtoCounters = {};
  for (const s of all) {
    for (const [proto, counters] of Object.entries(s)) {
      const t = (total[proto] ??= {});
      for (const [k, n] of Object.entries(counters)) t[k] = (t[k] ?? 0) + n;
    }
  }
  return total;
}

export async function gatherStats(ports: CpuPorts, cpus: readonly number[]): Promise<StatsResult> {
  const replies = await ports.requestAll(cpus, (id) => encodeNetmsg.statsRequest(id));
  const ok = replies.filter((r) => r.ok).map((r) => ({ cpu: r.cpu, stats: cleanCounters(r.body) }));
  return { total: sumCounters(ok.map((c) => c.stats)), cpus: ok, unreachable: replies.filter((r) => !r.ok).map((r) => r.cpu) };
}
