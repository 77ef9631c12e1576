/**
 * `dfly bench forward`: netisr forwarding pps against the raw transport (same bytes, same
 * batches, same run); the logic is in ../bench/forward.ts. Prints JSON with --json.
 */
import { UsageError, type CliIO, type Command } from "../command.js";
import { benchForward, BenchForwardError, type BenchForwardResult } from "../bench/forward.js";
import { intOpt, parseDuration, parseFlags } from "../flags.js";
import { onInterrupt, stopChildrenNamed } from "../local/interrupt.js";
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";

/** The IPv4 prefixes of a prefix file (one a line, .gz gunzipped; IPv6 lines and comments skipped). */
function readPrefixes(path: string): string[] {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new UsageError(`--prefixes ${path}: ${(e as Error).message}`);
  }
  const text = (path.endsWith(".gz") ? gunzipSync(buf) : buf).toString("utf8");
  const out: string[] = [];
  for (const raw of text.split("\n")) {
    const l = raw.trim().split(/\s+/)[0];
    if (!l || l.startsWith("#") || l.includes(":")) continue;
    if (!/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(l)) throw new UsageError(`--prefixes ${path}: "${l.slice(0, 40)}" is not a.b.c.d/len`);
    out.push(l);
  }
  return out;
}

function text(r: BenchForwardResult): string {
  const lines = [
    `dfly bench forward — ${r.cpus} CPU(s), ${r.transport}, ${r.frameBytes}-byte frames, ${r.batchFrames} per batch, ${r.flows} flows, ${r.routes} routes`,
    ...r.runs.map((x, i) => `run ${i + 1}: baseline ${x.baseline.pps} pps, netisr ${x.netisr.pps} pps`),
    `pps ${r.pps} (${(r.pps / 1e6).toFixed(2)} Mpps), baseline ${r.baselinePps}, ratio ${r.ratio}`,
    `per CPU forwarded: ${r.perCpuForwarded.join(" ")}`,
    `machine: ${r.machine.cpus} cores ${r.machine.model}, load ${r.machine.loadavg.join(" ")}`,
  ];
  return lines.join("\n") + "\n";
}

export const benchForwardCommand: Command = {
  path: ["bench", "forward"],
  summary: "IPv4 forwarding pps of N netisr CPUs vs the raw transport baseline (JSON with --json)",
  usage:
    "dfly bench forward [--cpus N] [--transport embedded|nats] [--nats URL] [--duration D] [--batch FRAMES]\n" +
    "                   [--size BYTES] [--flows F] [--window BATCHES] [--runs N] [--prefixes FILE] [--json]\n" +
    "                   [--ipfw-rules N --ipfw-states M [--ipfw-shared]]\n" +
    "  --ipfw-rules: the netisr with an ipfw chain of N rules and M states against the netisr without it, same run;\n" +
    "  --ipfw-shared puts the states of all CPUs in one table shared by their threads (the comparison)\n" +
    "  --prefixes FILE: every IPv4 prefix of FILE (one a line, .gz ok) also in each CPU's table\n" +
    "  defaults: 1 CPU, embedded, 2s per phase, 64-byte frames, 4096 flows, 2 runs; batches of 1024 frames with 4 in flight\n" +
    "  per ring embedded, 256 frames with 16 in flight over NATS\n" +
    "  --transport nats starts a local nats-server unless --nats URL is given",
  async run(argv: string[], io: CliIO): Promise<number> {
    const v = parseFlags(argv, {
      cpus: { type: "string" },
      transport: { type: "string" },
      nats: { type: "string" },
      duration: { type: "string" },
      warmup: { type: "string" },
      batch: { type: "string" },
      size: { type: "string" },
      flows: { type: "string" },
      window: { type: "string" },
      runs: { type: "string" },
      prefixes: { type: "string" },
      json: { type: "boolean", default: false },
      "ipfw-rules": { type: "string" },
      "ipfw-states": { type: "string" },
      "ipfw-shared": { type: "boolean", default: false },
    });
    const ipfwRules = intOpt("ipfw-rules", v["ipfw-rules"], 2, 4096);
    const ipfwStates = intOpt("ipfw-states", v["ipfw-states"], 0, 4_000_000);
    if (ipfwRules === undefined && (ipfwStates !== undefined || v["ipfw-shared"])) throw new UsageError("--ipfw-states and --ipfw-shared need --ipfw-rules N");
    const transport = v.transport ?? (v.nats ? "nats" : "embedded");
    if (transport !== "embedded" && transport !== "nats") throw new UsageError(`--transport ${transport}: want embedded or nats`);
    if (v.nats !== undefined && !/^nats:\/\/[^\s/]+:\d{1,5}$/.test(v.nats)) throw new UsageError(`--nats ${v.nats}: want nats://HOST:PORT`);
    // Interrupted: the nats-server the bench started for itself goes too.
    const release = transport === "nats" && !v.nats ? onInterrupt(() => stopChildrenNamed("nats-server")) : () => undefined;
    try {
      const r = await benchForward({
        cpus: intOpt("cpus", v.cpus, 1, 16) ?? 1,
        transport,
        ...(v.nats ? { natsUrl: v.nats } : {}),
        ...(v.duration ? { durationMs: parseDuration(v.duration) } : {}),
        ...(v.warmup ? { warmupMs: parseDuration(v.warmup) } : {}),
        batch: intOpt("batch", v.batch, 1, 8192),
        size: intOpt("size", v.size, 44, 1500),
        flows: intOpt("flows", v.flows, 16, 1_000_000),
        window: intOpt("window", v.window, 1, 64),
        runs: intOpt("runs", v.runs, 1, 10),
        ...(ipfwRules !== undefined ? { ipfw: { rules: ipfwRules, states: ipfwStates ?? 0, shared: v["ipfw-shared"] === true } } : {}),
        ...(v.prefixes ? { prefixes: readPrefixes(v.prefixes) } : {}),
        log: v.json ? undefined : (s) => io.stderr(`${s}\n`),
      });
      io.stdout(v.json ? JSON.stringify(r, null, 2) + "\n" : text(r));
      return 0;
    } catch (e) {
      if (e instanceof BenchForwardError) {
        io.stderr(`dfly bench forward: ${e.message}\n`);
        return 1;
      }
      throw e;
    } finally {
      release();
    }
  },
};

export const benchForwardCommands: Command[] = [benchForwardCommand];
