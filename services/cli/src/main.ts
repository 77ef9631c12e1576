#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { dispatch } from "./dispatch.js";

const io = {
  stdout: (s: string) => void process.stdout.write(s),
  stderr: (s: string) => void process.stderr.write(s),
  stdin: async () => readFileSync(0, "utf8"),
};

process.exitCode = await dispatch(process.argv.slice(2), io);
