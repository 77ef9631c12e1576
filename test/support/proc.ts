/** The process table as /proc has it (Linux), for tests that check what a command left running. */
import { readdirSync, readFileSync } from "node:fs";

/** True while `pid` exists and is not a zombie (exited, not yet reaped by its parent). */
export function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

/** Child pids of `pid` whose executable name is `comm`. */
export function childrenOf(pid: number, comm: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const m = /^\d+ \((.*)\) \S+ (\d+)/.exec(readFileSync(`/proc/${d}/stat`, "utf8"));
      if (m && m[1] === comm && Number(m[2]) === pid) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}
