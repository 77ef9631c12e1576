#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { dispatch } from "./dispatch.js";

// `dfly … | head`: the reader went away; stop quietly instead of an unhandled EPIPE.
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code !== "EPIPE") throw e;
  process.exit(process.exitCode ?? 0);
});

const io = {
  stdout: (s: string) => void process.stdout.write(s),
  stderr: (s: string) => void process.stderr.write(s),
  stdin: async () => readFileSync(0, "utf8"),
};

process.exitCode = await dispatch(process.argv.slice(2), io);
