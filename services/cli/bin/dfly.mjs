#!/usr/bin/env node
// The `dfly` bin. It is committed (not built) so that `npm install` on a fresh clone links it
// into node_modules/.bin before anything is built; it runs the compiled CLI that `make build`
// writes to ../dist/main.js.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const main = fileURLToPath(new URL("../dist/main.js", import.meta.url));
if (!existsSync(main)) {
  process.stderr.write(`dfly: ${main} is missing: run "make build" first\n`);
  process.exit(1);
}
await import(main);
