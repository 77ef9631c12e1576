/**
 * Stops what a command started when the command is interrupted (Ctrl-C's SIGINT, SIGTERM):
 * a command registers each thing it starts (a child process, a temporary directory) with
 * `onInterrupt` and releases it when it stops it itself. While anything is registered this
 * process handles SIGINT and SIGTERM: it runs the cleanups (newest first, at most
 * `graceMs` in all), then exits 128 + the signal's number. A second signal exits at once.
 * Commands that register nothing (the services, which drain on SIGTERM themselves) are
 * left alone.
 */
import { readdirSync, readFileSync } from "node:fs";
import { constants } from "node:os";

type Cleanup = () => void | Promise<void>;

/** How long the cleanups may take in all before the process exits anyway. */
const graceMs = 10_000;
const cleanups: Cleanup[] = [];
let installed = false;
let stopping = false;

function onSignal(sig: NodeJS.Signals): void {
  const code = 128 + (constants.signals[sig] ?? 2);
  if (stopping) process.exit(code);
  stopping = true;
  const all = (async () => {
    for (const f of [...cleanups].reverse()) {
      try {
        await f();
      } catch {
        // the others still run
      }
    }
  })();
  const timer = new Promise((r) => setTimeout(r, graceMs).unref());
  void Promise.race([all, timer]).then(() => process.exit(code));
}


function sync(): void {
  const want = cleanups.length > 0;
  if (want === installed) return;
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    if (want) process.on(sig, onSignal);
    else process.off(sig, onSignal);
  }
  installed = want;
}

/** Runs `f` if the process is interrupted before the returned release is called. */
export function onInterrupt(f: Cleanup): () => void {
  cleanups.push(f);
  sync();
  return () => {
    const i = cleanups.indexOf(f);
    if (i >= 0) cleanups.splice(i, 1);
    sync();
  };
}

/** This process's children whose executable is `comm` (Linux /proc; none elsewhere). */
export function childrenNamed(comm: string): number[] {
  const out: number[] = [];
  let pids: string[] = [];
  try {
    pids = readdirSync("/proc").filter((d) => /^\d+$/.test(d));
  } catch {
    return out;
  }
  for (const d of pids) {
    try {
      const m = /^\d+ \((.*)\) \S+ (\d+)/.exec(readFileSync(`/proc/${d}/stat`, "utf8"));
      if (m && m[1] === comm && Number(m[2]) === process.pid) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** SIGTERM to this process's children named `comm`, SIGKILL to those still there after `graceMs`. */
export async function stopChildrenNamed(comm: string, graceMs = 3000): Promise<void> {
  const pids = childrenNamed(comm);
  for (const p of pids) process.kill(p, "SIGTERM");
  const end = Date.now() + graceMs;
  while (Date.now() < end && childrenNamed(comm).length > 0) await new Promise((r) => setTimeout(r, 50));
  for (const p of childrenNamed(comm)) process.kill(p, "SIGKILL");
}
