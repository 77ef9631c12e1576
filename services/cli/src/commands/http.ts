/**
 * The HTTP short-connection workload from the command line:
 *
 *   dfly run --workload http-short [--cpus N] [--clients C] [--duration D] [--pcap FILE] ...
 *   dfly bench http-short [--cpus N] [--transport embedded|nats] [--json]
 *
 * `run` prints tps and latency avg/p50/p99 and a per-CPU table; `--pcap` writes every frame of
 * the wire (both directions, real bytes) as a pcap file (LINKTYPE_RAW) Wireshark opens.
 * `bench` measures the same workload twice in one run — over the chosen transport and over
 * the direct in-memory wire (the same engines, no NIC, no transport, one thread) — and prints
 * JSON with the ratio.
 */
import { writeFileSync } from "node:fs";
import { runHttpShortDirect, runHttpShortDirectIsolated, type HttpShortReport } from "@dfly/apps";
import { ListenerPolicy, PcapWriter } from "@dfly/core";
import { UsageError, type CliIO, type Command } from "../command.js";
import { runProgress } from "../load/target.js";
import { formatHttpShortReport, runHttpShort, type HttpShortRunReport } from "../embedded/http.js";
import { intOpt, parseDuration, parseFlags } from "../flags.js";
import { ALLOC_SAMPLE_BYTES, measureTcpAlloc, type TcpAllocResult } from "../bench/alloc.js";

/** Frames kept for --pcap at most (memory bound; the rest are counted, not written). */
export const PCAP_MAX_FRAMES = 2_000_000;

const runOptions = {
  cpus: { type: "string" },
  "client-cpus": { type: "string" },
  clients: { type: "string" },
  duration: { type: "string" },
  warmup: { type: "string" },
  workload: { type: "string" },
  transport: { type: "string" },
  nats: { type: "string" },
  pcap: { type: "string" },
  policy: { type: "string" },
  "close-listener": { type: "string" },
  somaxconn: { type: "string" },
  msl: { type: "string" },
  httpd: { type: "string" },
  send: { type: "string" },
  json: { type: "boolean", default: false },
  progress: { type: "boolean", default: false },
} as const;

const parse = (argv: string[]) => parseFlags(argv, runOptions);

function policyOpt(v: string | undefined): ListenerPolicy | undefined {
  if (v === undefined) return undefined;
  if (!(Object.values(ListenerPolicy) as string[]).includes(v)) throw new UsageError(`--policy ${v}: want ${Object.values(ListenerPolicy).join(" | ")}`);
  return v as ListenerPolicy;
}

function transportOpt(v: string | undefined, allowDirect: boolean): "embedded" | "nats" | "direct" {
  const t = v ?? "embedded";
  if (t === "embedded" || t === "nats" || (allowDirect && t === "direct")) return t;
  throw new UsageError(`--transport ${t}: want embedded | nats${allowDirect ? " | direct" : ""}`);
}

/** --httpd cpu|remote and --send async|sync (the paper's §2.4 comparison). */
function httpdOpts(v: { httpd?: string; send?: string }): { httpd?: "cpu" | "remote"; syncSend?: boolean } {
  if (v.httpd !== undefined && v.httpd !== "cpu" && v.httpd !== "remote") throw new UsageError(`--httpd ${v.httpd}: want cpu (in each netisr thread) or remote (over the ports)`);
  if (v.send !== undefined && v.send !== "async" && v.send !== "sync") throw new UsageError(`--send ${v.send}: want async or sync`);
  return { ...(v.httpd ? { httpd: v.httpd as "cpu" | "remote" } : {}), ...(v.send === "sync" ? { syncSend: true } : {}) };
}

function natsOpt(v: string | undefined): string | undefined {
  if (v !== undefined && !/^nats:\/\/[^\s/]+:\d{1,5}$/.test(v)) throw new UsageError(`--nats ${v}: want nats://HOST:PORT`);
  return v;
}

/** "CPU@MS" (e.g. 0@1000): close that CPU's httpd listener that far into the run. */
function closeOpt(v: string | undefined, cpus: number): { cpu: number; atMs: number } | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d+)@(\d+(?:\.\d+)?(?:ms|s)?)$/.exec(v);
  if (!m) throw new UsageError(`--close-listener ${v}: want CPU@TIME, e.g. 0@1s`);
  const cpu = Number(m[1]);
  if (cpu >= cpus) throw new UsageError(`--close-listener ${v}: CPU ${cpu} is not in 0..${cpus - 1}`);
  return { cpu, atMs: parseDuration(m[2]) };
}

/** `dfly run --workload http-short …` (run.ts hands these arguments over). */
export async function runHttpShortCli(argv: string[], io: CliIO): Promise<number> {
  const v = parse(argv);
  const cpus = intOpt("cpus", v.cpus, 1, 128) ?? 2;
  const clientCpus = intOpt("client-cpus", v["client-cpus"], 1, 128);
  const clients = intOpt("clients", v.clients, 1, 100_000) ?? 256;
  const durationMs = parseDuration(v.duration ?? "3s");
  const warmupMs = v.warmup !== undefined ? parseDuration(v.warmup) : 500;
  const transport = transportOpt(v.transport, true);
  const policy = policyOpt(v.policy);
  const somaxconn = intOpt("somaxconn", v.somaxconn, 1, 65535);
  const msl = intOpt("msl", v.msl, 1, 120_000);
  const natsUrl = natsOpt(v.nats);
  const close = closeOpt(v["close-listener"], cpus);
  const hopts = httpdOpts(v);
  if (transport === "direct" && hopts.httpd === "remote") throw new UsageError("--httpd remote needs --transport embedded or nats");
  let pcap: PcapWriter | undefined;
  let captured = 0;
  let skipped = 0;
  const t0 = Date.now() / 1000;
  const p0 = performance.now();
  const tap = v.pcap
    ? (f: Uint8Array) => {
        if (captured >= PCAP_MAX_FRAMES) {
          skipped++;
          return;
        }
        pcap ??= new PcapWriter();
        pcap.add(f, t0 + (performance.now() - p0) / 1000);
        captured++;
      }
    : undefined;
  const common = {
    cpus,
    clients,
    durationMs,
    warmupMs,
    ...(clientCpus !== undefined ? { clientCpus } : {}),
    ...(policy ? { policy } : {}),
    ...(somaxconn !== undefined ? { somaxconn } : {}),
    ...(msl !== undefined ? { config: { msl } } : {}),
    ...(tap ? { tap } : {}),
  };
  let r: HttpShortReport | HttpShortRunReport;
  if (transport === "direct") {
    r = await runHttpShortDirect({ ...common, ...(close ? { closeListener: { worker: close.cpu, atMs: close.atMs } } : {}) });
  } else {
    r = await runHttpShort({
      ...common,
      transport,
      ...(natsUrl ? { natsUrl } : {}),
      ...(close ? { closeListener: close } : {}),
      ...hopts,
      log: v.json ? undefined : (s) => io.stderr(`${s}\n`),
      ...runProgress(io, "dfly run http-short", "conn", v.json, v.progress),
    });
  }
  if (v.pcap) {
    writeFileSync(v.pcap, (pcap ?? new PcapWriter()).bytes());
    if (!v.json) io.stderr(`pcap: ${captured} frames written to ${v.pcap}${skipped ? ` (${skipped} more not kept: limit ${PCAP_MAX_FRAMES})` : ""}\n`);
  }
  const report = { ...r, ...(v.pcap ? { pcap: { file: v.pcap, frames: captured, skipped } } : {}) };
  // With --json --progress stdout is JSON lines: the report is the last one.
  io.stdout(v.json ? JSON.stringify(report, null, v.progress ? undefined : 2) + "\n" : formatHttpShortReport(r));
  return 0;
}

export interface BenchHttpShortResult {
  bench: "http-short";
  transport: "embedded" | "nats";
  httpd: "cpu" | "remote";
  send: "async" | "sync";
  cpus: number;
  clients: number;
  tps: number;
  latency: HttpShortReport["latency"];
  errors: number;
  /** The direct in-memory wire, same engines and workload, measured in the same run. */
  baselineTps: number;
  baselineLatency: HttpShortReport["latency"];
  /** tps ÷ baselineTps (higher is better). */
  ratio: number;
  /** What `ratio` divides by. */
  baseline: string;
  /**
   * Heap bytes TCP allocates per segment on its steady path (established connections; V8's
   * sampling heap profiler, segments from the engines' tcpstat counters): see `alloc`.
   */
  allocBytesPerSegment: number;
  alloc: TcpAllocResult & { sampleBytes: number };
  target: { milestoneTps: number; paperTps: number };
  runs: { transport: HttpShortReport; baseline: HttpShortReport };
}

const benchCommand: Command = {
  path: ["bench", "http-short"],
  summary: "HTTP short-connection tps and latency over embedded|nats against the direct in-memory wire (ratio)",
  usage:
    "dfly bench http-short [--cpus N] [--client-cpus N] [--clients C] [--duration D] [--warmup D] [--transport embedded|nats] [--nats URL]\n" +
    "                      [--httpd cpu|remote] [--send async|sync] [--json]\n" +
    "  defaults: 2 CPUs, 512 clients, 3s after a 3s warm-up (JIT tiers and heap sizing settle; the topology's\n" +
    "  grace period is waited out before the load starts), embedded",
  async run(argv, io) {
    const v = parse(argv);
    const cpus = intOpt("cpus", v.cpus, 1, 128) ?? 2;
    const clientCpus = intOpt("client-cpus", v["client-cpus"], 1, 128);
    const clients = intOpt("clients", v.clients, 1, 100_000) ?? 512;
    const durationMs = parseDuration(v.duration ?? "3s");
    const warmupMs = v.warmup !== undefined ? parseDuration(v.warmup) : 3000;
    const transport = transportOpt(v.transport, false) as "embedded" | "nats";
    const natsUrl = natsOpt(v.nats);
    if (v.pcap || v["close-listener"] || v.workload) throw new UsageError("--pcap, --close-listener and --workload belong to dfly run");
    const common = { cpus, clients, durationMs, warmupMs, ...(clientCpus !== undefined ? { clientCpus } : {}) };
    const log = v.json ? () => undefined : (s: string) => io.stderr(`${s}\n`);
    // The measured run first, in a fresh process; then the baseline in a worker thread of its
    // own. Neither shares a heap or JIT state with the other (the other order, or both in this
    // thread, made the second run 10-20 % slower).
    log(`${transport}: ${cpus} netisr CPUs, ${clients} clients`);
    const hopts = httpdOpts(v);
    const run = await runHttpShort({ ...common, transport, ...(natsUrl ? { natsUrl } : {}), ...hopts });
    log(`baseline: direct in-memory wire, ${cpus} CPUs, ${clients} clients`);
    const baseline = await runHttpShortDirectIsolated(common);
    log("alloc: TCP's steady path, heap bytes per segment");
    const alloc = await measureTcpAlloc();
    const res: BenchHttpShortResult = {
      bench: "http-short",
      transport,
      httpd: hopts.httpd ?? "cpu",
      send: hopts.syncSend ? "sync" : "async",
      cpus,
      clients,
      tps: run.tps,
      latency: run.latency,
      errors: run.errorCount,
      baselineTps: baseline.tps,
      baselineLatency: baseline.latency,
      ratio: baseline.tps > 0 ? Math.round((run.tps / baseline.tps) * 1000) / 1000 : 0,
      baseline: "the direct in-memory wire (the same engines and workload, no NIC, no transport, one thread)",
      allocBytesPerSegment: alloc.bytesPerSegment,
      alloc: { ...alloc, sampleBytes: ALLOC_SAMPLE_BYTES },
      target: { milestoneTps: 50_000, paperTps: 207_000 },
      runs: { transport: run, baseline },
    };
    if (v.json) {
      io.stdout(JSON.stringify(res, null, 2) + "\n");
      return 0;
    }
    io.stdout(
      `dfly bench http-short (${transport}, ${cpus} CPUs, ${clients} clients, ${durationMs} ms after ${warmupMs} ms warm-up)\n` +
        `  ${transport.padEnd(8)} tps ${String(run.tps).padStart(7)}   latency avg ${run.latency.avgMs} ms  p50 ${run.latency.p50Ms} ms  p99 ${run.latency.p99Ms} ms  errors ${run.errorCount}\n` +
        `  ${"direct".padEnd(8)} tps ${String(baseline.tps).padStart(7)}   latency avg ${baseline.latency.avgMs} ms  p50 ${baseline.latency.p50Ms} ms  p99 ${baseline.latency.p99Ms} ms  errors ${baseline.errorCount}\n` +
        `  ratio ${res.ratio}   (milestone 50000 tps embedded; the paper 207000)\n` +
        `  TCP steady path: ${alloc.bytesPerSegment} heap bytes allocated per segment\n`,
    );
    return 0;
  },
};

export const httpCommands: Command[] = [benchCommand];
