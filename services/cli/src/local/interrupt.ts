/**
 * Stops what a command started when the command is interrupted (Ctrl-C's SIGINT, SIGTERM):
 * a command registers each thing it starts (a child process, a temporary directory) with
 * `onInterrupt` and releases it when it stops it itself. While anything is registered this
 * process handles SIGINT and SIGTERM: it runs the cleanups (newest first, at most
 * `graceMs` in all), then exits 128 + the signal's number. A second signal exits at once.
 * Commands that register nothing (the services, which drain on SIGTERM themselves) are
 * left alone.
 */
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
