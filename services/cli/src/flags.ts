/**
 * Command-line flags shared by the commands: strict `node:util` parseArgs whose errors are usage
 * errors (exit 2), and the value parsers for integers and durations.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";

type FlagOptions = NonNullable<ParseArgsConfig["options"]>;
import { UsageError } from "./command.js";

/** The flags' values: strict parseArgs over `argv`, no positionals; an unknown flag or a missing value is a UsageError. */
export function parseFlags<const O extends FlagOptions>(
  argv: string[],
  options: O,
): ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: false; strict: true }>>["values"] {
  try {
    return parseArgs({ args: argv, options, allowPositionals: false, strict: true }).values;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** "3s", "500ms", "2m", "1.5s" → milliseconds. */
export function parseDuration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(s.trim());
  if (!m) throw new UsageError(`duration "${s}": want e.g. 3s, 500ms, 1m`);
  const v = Number(m[1]) * (m[2] === "ms" ? 1 : m[2] === "m" ? 60_000 : 1000);
  if (!(v > 0) || v > 3_600_000) throw new UsageError(`duration "${s}": want more than 0 and at most 1h`);
  return Math.round(v);
}

/** `--name v`: an integer in min..max, or undefined when absent. */
export function intOpt(name: string, v: string | undefined, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new UsageError(`--${name} ${v}: want an integer in ${min}..${max}`);
  return Number(v);
}
