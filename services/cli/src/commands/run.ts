/**
 * `dfly run --cpus N --workload forward --duration D`: the embedded mode — control, NIC,
 * pktgen and sink in this process, each netisr CPU on its own worker_thread — and a
 * per-CPU report. `make run` runs it.
 */
import { UsageError, type CliIO, type Command } from "../command.js";
import { intOpt, parseDuration, parseFlags } from "../flags.js";
import { runHttpShortCli } from "./http.js";
import { runTunCli, tunRunUsage } from "./tun.js";
import { formatForwardReport, runForward } from "../embedded/forward.js";
import { runProgress } from "../load/target.js";

export const runCommand: Command = {
  path: ["run"],
  summary: "embedded mode: every part in one process, run a workload, print a per-CPU report",
  usage:
    "dfly run [--cpus N] [--workload forward] [--duration D] [--rate PPS] [--flows F] [--size BYTES]\n" +
    "         [--dst PREFIX[,PREFIX...]] [--model 82599|82576|x550|...] [--mode interrupt|polling] [--rings R] [--pollhz HZ]\n" +
    "         [--loss P] [--pcap FILE] [--json] [--progress]\n" +
    "dfly run --workload http-short [--cpus N] [--client-cpus N] [--clients C] [--duration D] [--warmup D] [--pcap FILE]\n" +
    "         [--transport embedded|nats|direct] [--nats URL] [--policy dragonfly|linux|linux_migrate_req] [--close-listener CPU@T]\n" +
    "         [--httpd cpu|remote] [--send async|sync] [--json] [--progress]\n" +
    tunRunUsage + "\n" +
    "  defaults: 2 CPUs, 3s, 100000 pps, 1024 flows, 64-byte packets to 10.0.0.0/8, 82599, interrupt mode",
  async run(argv: string[], io: CliIO): Promise<number> {
    // A TUN wire (real Linux peers) has options of its own (commands/tun.ts).
    if (argv.some((a) => a === "--tun" || a.startsWith("--tun="))) return runTunCli(argv, io);
    // The HTTP short-connection workload has options of its own (commands/http.ts).
    const wl = argv.findIndex((a) => a === "--workload" || a.startsWith("--workload="));
    if (wl >= 0 && (argv[wl] === "--workload=http-short" || argv[wl + 1] === "http-short")) return runHttpShortCli(argv, io);
    const v = parseFlags(argv, {
      cpus: { type: "string" },
      workload: { type: "string" },
      duration: { type: "string" },
      rate: { type: "string" },
      flows: { type: "string" },
      size: { type: "string" },
      dst: { type: "string" },
      model: { type: "string" },
      mode: { type: "string" },
      rings: { type: "string" },
      pollhz: { type: "string" },
      loss: { type: "string" },
      pcap: { type: "string" },
      json: { type: "boolean", default: false },
      progress: { type: "boolean", default: false },
    });
    const workload = v.workload ?? "forward";
    if (workload !== "forward") throw new UsageError(`--workload ${workload}: want forward or http-short`);
    if (v.mode !== undefined && v.mode !== "interrupt" && v.mode !== "polling") throw new UsageError(`--mode ${v.mode}: want interrupt or polling`);
    let loss: number | undefined;
    if (v.loss !== undefined) {
      loss = Number(v.loss);
      if (!/^\d*\.?\d+$/.test(v.loss) || !(loss >= 0 && loss <= 1)) throw new UsageError(`--loss ${v.loss}: want a probability 0..1`);
    }
    const r = await runForward({
      cpus: intOpt("cpus", v.cpus, 1, 128) ?? 2,
      durationMs: parseDuration(v.duration ?? "3s"),
      rate: intOpt("rate", v.rate, 1, 100_000_000),
      flows: intOpt("flows", v.flows, 1, 1_000_000),
      size: intOpt("size", v.size, 44, 9000),
      ...(v.dst ? { dst: v.dst.split(",").map((s) => s.trim()).filter(Boolean) } : {}),
      ...(v.model ? { model: v.model } : {}),
      ...(v.mode ? { mode: v.mode as "interrupt" | "polling" } : {}),
      rings: intOpt("rings", v.rings, 1, 1024),
      pollhz: intOpt("pollhz", v.pollhz, 1, 30000),
      ...(loss !== undefined ? { loss } : {}),
      ...(v.pcap ? { pcap: v.pcap } : {}),
      log: v.json ? undefined : (s) => io.stderr(`${s}\n`),
      ...runProgress(io, "dfly run forward", "pkt", v.json, v.progress),
    });
    // With --json --progress stdout is JSON lines: the report is the last one.
    io.stdout(v.json ? JSON.stringify(r, null, v.progress ? undefined : 2) + "\n" : formatForwardReport(r));
    return 0;
  },
};

export const runCommands: Command[] = [runCommand];
