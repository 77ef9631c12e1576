/**
 * `dfly pktgen`: forwarding load for a running cluster — apps' Pktgen (IPv4/UDP flows, stamped)
 * published on `<cluster>.wire.<if>.in` over NATS, at a rate, for a duration or a count. Several
 * frame sizes (--size 64,512,1500) run one generator each, the rate, flows and count split evenly.
 */
import { FlowSet, Pktgen, PktgenConfigError } from "@dfly/apps";
import type { CliIO, Command } from "../command.js";
import type { RouteSpec } from "@dfly/wire";
import { forwardRoutes } from "../embedded/forward.js";
import { parseFlags } from "../flags.js";
import {
  connectTarget,
  controlOf,
  durationArg,
  ifnameOpt,
  intArg,
  LoadArgError,
  LoadInterrupt,
  type LoadTarget,
  numberOpt,
  PcapTap,
  Progress,
  resolveTarget,
  targetFlags,
  wantsTextProgress,
} from "../load/target.js";

export interface PktgenSummary {
  event: "done";
  sent: number;
  batches: number;
  durationMs: number;
  pps: number;
  /** Packets sent per frame size. */
  perSize: Record<string, number>;
  subject: string;
  interrupted: boolean;
  pcap?: string;
}

/** The forward workload's routes (embedded/forward.ts) that the control does not have yet; returns them. */
async function addForwardRoutes(target: LoadTarget, dst: string[]): Promise<string[]> {
  const c = await controlOf(target, "--routes");
  try {
    const have = new Set((await c.listRoutes()).routes.map((r) => r.prefix));
    // Without an ix1 (the chart's default has ix0 only) the next hop is on ix0's own network.
    const ifnames = new Set(((await c.getTopology()).topology?.interfaces ?? []).map((i) => i.spec?.ifname));
    const want: RouteSpec[] = ifnames.has("ix1") ? forwardRoutes(dst) : [{ prefix: "198.18.0.0/24", ifname: "ix0" }, ...dst.map((prefix) => ({ prefix, gateway: "198.18.0.2" }))];
    const added: string[] = [];
    for (const r of want) {
      if (have.has(r.prefix)) continue;
      await c.addRoute(r);
      added.push(`${r.prefix} ${r.ifname ? `dev ${r.ifname}` : `via ${r.gateway}`}`);
    }
    return added;
  } finally {
    c.close();
  }
}

const split = (n: number, k: number, i: number) => Math.floor(n / k) + (i < n % k ? 1 : 0);

export const pktgenCommand: Command = {
  path: ["pktgen"],
  summary: "forwarding load into a running cluster (dfly up, make up, the chart): UDP flows on a wire over NATS",
  usage:
    "dfly pktgen [--rate PPS] [--flows F] [--size BYTES[,BYTES...]] [--duration D] [--count N] [--dst PREFIX[,PREFIX...]]\n" +
    "            [--ifname ix0] [--ttl T] [--batch B] [--pcap FILE] [--routes] [--control HOST:PORT] [--nats URL] [--cluster NAME] [--json] [--progress]\n" +
    "  defaults: 1000 pps, 64 flows, 64-byte packets, 10s, to 10.0.0.0/8, on ix0's wire. It sends --count packets,\n" +
    "  else rate × duration (at most 1h), and stops at the duration + 0.5 s if it fell behind. NATS and the cluster: --nats/--cluster, else\n" +
    "  DFLY_NATS_URL/DFLY_CLUSTER, else the dfly up context. Progress: a line a second on stderr on a terminal\n" +
    "  (--progress: always); --json: JSON lines on stdout, the last {\"event\":\"done\",...}. --pcap: what was sent.\n" +
    "  --routes: first add what forwarding needs where absent (198.18.0.0/24 dev ix0, 198.18.1.0/24 dev ix1,\n" +
    "  each --dst via 198.18.1.2; with no ix1: each --dst via 198.18.0.2), through the control (--control,\n" +
    "  DFLY_CONTROL_ADDR, the dfly up context).",
  async run(argv: string[], io: CliIO): Promise<number> {
    const v = parseFlags(argv, {
      ...targetFlags,
      rate: { type: "string" },
      flows: { type: "string" },
      size: { type: "string" },
      duration: { type: "string" },
      count: { type: "string" },
      dst: { type: "string" },
      ifname: { type: "string" },
      ttl: { type: "string" },
      batch: { type: "string" },
      pcap: { type: "string" },
      routes: { type: "boolean", default: false },
      control: { type: "string" },
    });
    const rate = numberOpt("rate", v.rate, 10_000_000) ?? 1000;
    const flows = intArg("flows", v.flows, 1, 1_000_000) ?? 64;
    const sizes = (v.size ?? "64").split(",").map((s) => intArg("size", s.trim(), 44, 9000)!);
    if (sizes.length > flows) throw new LoadArgError(`--size ${v.size}: ${sizes.length} sizes need at least as many --flows (got ${flows})`);
    const durationMs = durationArg("duration", v.duration) ?? 10_000;
    // Bounded both ways: --count, else what the rate gives in the duration (exact when on pace).
    const count = intArg("count", v.count, 1, 1_000_000_000) ?? Math.max(1, Math.round((rate * durationMs) / 1000));
    const ttl = intArg("ttl", v.ttl, 1, 255);
    const batch = intArg("batch", v.batch, 1, 16384);
    const ifname = ifnameOpt(v.ifname);
    const dst = v.dst?.split(",").map((s) => s.trim()).filter(Boolean);
    if (dst && dst.length === 0) throw new LoadArgError(`--dst ${v.dst}: want PREFIX[,PREFIX...]`);
    const target = resolveTarget(v);
    // Check the options (sizes, prefixes) before connecting: a one-flow FlowSet per size.
    try {
      for (const size of sizes) new FlowSet({ flows: 1, size, ...(dst ? { dst } : {}), ...(ttl ? { ttl } : {}) });
    } catch (e) {
      if (e instanceof PktgenConfigError) throw new LoadArgError(e.message);
      throw e;
    }
    if (v.routes) {
      const added = await addForwardRoutes(target, dst ?? ["10.0.0.0/8"]);
      if (!v.json) io.stderr(`pktgen: routes ${added.length ? `added: ${added.join(", ")}` : "already there"}\n`);
    }
    const conn = await connectTarget(target, "dfly-pktgen");
    const tap = v.pcap ? new PcapTap(v.pcap) : undefined;
    const transport = tap ? tap.wrap(conn) : conn;
    // Each size its own flows (a different seed for the destination hosts).
    const gens = sizes.map(
      (size, i) =>
        new Pktgen({
          transport,
          cluster: target.cluster,
          ifname,
          rate: rate / sizes.length,
          flows: split(flows, sizes.length, i),
          size,
          seed: i + 1,
          ...(dst ? { dst } : {}),
          ...(ttl ? { ttl } : {}),
          ...(batch ? { batch } : {}),
          count: split(count, sizes.length, i),
        }),
    );
    const subject = `${target.cluster}.wire.${ifname}.in`;
    if (!v.json) io.stderr(`pktgen: ${flows} flows, ${sizes.join(",")}-byte packets, ${rate} pps on ${subject} via ${target.natsUrl} (${target.from}), ${count} packets in about ${Math.round(Math.min(durationMs, (count * 1000) / rate))} ms (at most ${durationMs + 500} ms)\n`);
    const sent = () => gens.reduce((n, g) => n + g.sent, 0);
    const progress = new Progress(io, { label: "pktgen", unit: "pkt", json: v.json === true, text: wantsTextProgress(v.progress) }, () => ({ total: sent() }));
    const intr = new LoadInterrupt(() => gens.forEach((g) => g.stop()));
    try {
      progress.start();
      const stopTimer = setTimeout(() => gens.forEach((g) => g.stop()), durationMs + 500);
      await Promise.all(gens.map((g) => g.run()));
      clearTimeout(stopTimer);
      progress.stop();
      await conn.flush();
      const ms = progress.elapsedMs();
      const s: PktgenSummary = {
        event: "done",
        sent: sent(),
        batches: gens.reduce((n, g) => n + g.batches, 0),
        durationMs: Math.round(ms),
        pps: Math.round((sent() * 1000) / Math.max(1, ms)),
        perSize: Object.fromEntries(sizes.map((sz, i) => [String(sz), gens[i].sent])),
        subject,
        interrupted: intr.interrupted,
        ...(tap ? { pcap: tap.file } : {}),
      };
      tap?.save();
      if (v.json) io.stdout(JSON.stringify(s) + "\n");
      else io.stdout(`pktgen: sent ${s.sent} packets in ${s.batches} batches, ${s.durationMs} ms (${s.pps} pps) on ${subject}${intr.interrupted ? " (interrupted)" : ""}${tap ? `; what was sent: ${tap.file}` : ""}\n`);
      return 0;
    } finally {
      progress.stop();
      for (const g of gens) g.stop();
      await conn.close();
      intr.end();
    }
  },
};

export const pktgenCommands: Command[] = [pktgenCommand];
