/** Where the compiled embedded-mode worker lives (see worker.ts). */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

/** Path of services/netisr/dist/worker.js. Throws a clear error when it has not been built. */
export function netisrWorkerPath(): string {
  const index = createRequire(import.meta.url).resolve("@dfly/netisr");
  const p = join(dirname(index), "worker.js");
  if (!existsSync(p)) throw new Error(`netisr worker ${p} is missing: run "make build" (workers load compiled JavaScript from services/*/dist)`);
  return p;
}
