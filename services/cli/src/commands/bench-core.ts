/**
 * `dfly bench core`: Toeplitz, LPM and checksum speed next to baselines measured in the same run
 * (the logic is in ../bench/core.ts). `make bench` runs it with --json.
 */
import { UsageError, type CliIO, type Command } from "../command.js";
import { parseFlags } from "../flags.js";
import { BenchOptionError, benchCore, type BenchCoreOptions, type BenchCoreResult } from "../bench/core.js";

function count(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d{1,10}$/.test(v)) throw new UsageError(`--${name} wants a whole number, got "${v}"`);
  return Number(v);
}

function text(r: BenchCoreResult): string {
  const t = r.toeplitz;
  const l = r.lpm;
  const c = r.cksum;
  const lines = [
    `dfly bench core — ${r.cpu}, node ${r.node}, ${r.statistic}`,
    `toeplitz symmetric  ${t.symmetricNsPerHash} ns/hash` + (t.c ? ` (C ${t.c.symmetricKeyNsPerHash} ns, ratio ${t.ratio?.symmetric})` : ""),
    `toeplitz generic    ${t.genericNsPerHash} ns/hash` + (t.c ? ` (C ${t.c.genericKeyNsPerHash} ns, ratio ${t.ratio?.generic})` : ""),
    ...(t.cError ? [`toeplitz C baseline: ${t.cError}`] : []),
    `lpm table           ${l.table} ${l.source ?? ""} ${l.routes} routes, ${l.chunks} chunks, load ${l.loadMs} ms + build ${l.buildMs} ms`,
    ...(l.note ? [`lpm note            ${l.note}`] : []),
    `lpm random          ${(l.lookupsPerSec.random / 1e6).toFixed(1)} M lookups/s (${l.nsPerLookup.random} ns; baseline ${l.baseline.nsPerLookup} ns, ratio ${l.ratio.random})`,
    `lpm routed          ${(l.lookupsPerSec.routed / 1e6).toFixed(1)} M lookups/s (${l.nsPerLookup.routed} ns, ratio ${l.ratio.routed})`,
    `in_cksum            ${c.inCksumGBps} GB/s (byte sum ${c.baseline.GBps} GB/s, ratio ${c.ratio})`,
    `targets             ${JSON.stringify(r.targets)}`,
  ];
  return lines.join("\n") + "\n";
}

export const benchCoreCommand: Command = {
  path: ["bench", "core"],
  summary: "Toeplitz, route lookup and checksum speed vs baselines (JSON with --json)",
  usage:
    "dfly bench core [--json] [--prefixes FILE | --synthetic N] [--iterations N] [--runs N] [--cc gcc]\n" +
    "  --prefixes FILE  prefix list, text or .gz, one per line, IPv6 lines skipped\n" +
    "                   (default: ../shared/testdata/ipv4-ipv6-prefixes.txt.gz when present, else a synthetic table)\n" +
    "  --synthetic N    a synthetic table of N prefixes with the Internet table's length mix\n" +
    "  --iterations N   hashes / lookups per timed run (default 4194304); --runs N timed runs, best kept (default 5)",
  async run(argv: string[], io: CliIO): Promise<number> {
    const v = parseFlags(argv, {
      json: { type: "boolean" },
      prefixes: { type: "string" },
      synthetic: { type: "string" },
      iterations: { type: "string" },
      runs: { type: "string" },
      cc: { type: "string" },
    });
    if (v.prefixes !== undefined && v.synthetic !== undefined) throw new UsageError("--prefixes and --synthetic exclude each other");
    const opts: BenchCoreOptions = {
      prefixes: v.prefixes,
      synthetic: count("synthetic", v.synthetic),
      iterations: count("iterations", v.iterations),
      runs: count("runs", v.runs),
      cc: v.cc,
    };
    let r: BenchCoreResult;
    try {
      r = benchCore(opts);
    } catch (e) {
      if (e instanceof BenchOptionError) throw new UsageError(e.message);
      throw e;
    }
    io.stdout(v.json ? JSON.stringify(r, null, 2) + "\n" : text(r));
    return 0;
  },
};

export const benchCoreCommands: Command[] = [benchCoreCommand];
