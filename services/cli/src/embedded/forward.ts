/**
 * The `forward` workload: pktgen offers UDP flows on ix0's wire, the NIC steers them to the
 * CPUs' RX rings, each netisr forwards (LPM on its replica, TTL, checksum) to ix1, the sink
 * on ix1's wire counts them per flow. Routes (through the control's route service):
 *
 *   198.18.0.0/24 dev ix0          (the senders' side; ICMP errors go back this way)
 *   198.18.1.0/24 dev ix1          (the next hop's side)
 *   <each destination prefix> via 198.18.1.2
 *
 * The report has each CPU's counters (rx, forwarded, dropped by reason, redispatched), the
 * NIC's drops by reason (e.g. `impair_loss`, the link's --loss), the pktgen/sink totals with
 * loss per flow and latency, and where every sent packet went (`accounting`).
 */
import { lossReport, Pktgen, Sink, type LossReport, type SinkSummary } from "@dfly/apps";
import type { NetisrSnapshot } from "@dfly/netisr";
import { PcapFile, type IfnetConfig, type ModerationConfig } from "@dfly/nic";
import { FrameBatchCursor, subjects } from "@dfly/transport";
import { type RouteSpec } from "@dfly/wire";
import { EmbeddedCluster } from "./cluster.js";

export interface ForwardRunOptions {
  cpus: number;
  durationMs: number;
  /** Offered rate, packets/s (default 100000). */
  rate?: number;
  flows?: number;
  size?: number;
  dst?: string[];
  model?: string;
  mode?: "interrupt" | "polling";
  rings?: number;
  batch?: number;
  moderation?: Partial<ModerationConfig>;
  pollhz?: number;
  /** Probability that the link after ix1 loses a frame (NIC impairment; counted as impair_loss). */
  loss?: number;
  /** Capture both wires' frames (ix0 in, ix1 out) to this pcap file. */
  pcap?: string;
  log?: (s: string) => void;
  /** Called once the load starts with a sampler of its totals; returns the stopper (see load/target.ts Progress). */
  progress?: RunProgress;
}

/** A run's progress reporter: given the sampler, starts reporting; returns what stops it. */
export type RunProgress = (sample: () => { total: number; [k: string]: number }) => () => void;

export interface ForwardCpuRow {
  cpu: number;
  rx: number;
  forwarded: number;
  delivered: number;
  dropped: Record<string, number>;
  droppedTotal: number;
  redispatched: number;
  redispatchReceived: number;
  tx: number;
  rxRings: Record<string, number[]>;
}

export interface ForwardReport {
  workload: "forward";
  cpus: number;
  durationMs: number;
  offeredRate: number;
  interfaces: { ifname: string; model: string; mode: string; rings: number; ringToCpu: number[] }[];
  perCpu: ForwardCpuRow[];
  totals: { rx: number; forwarded: number; delivered: number; dropped: number; redispatched: number; redispatchReceived: number };
  pktgen: { sent: number; batches: number; pps: number };
  sink: SinkSummary;
  loss: LossReport;
  nic: Record<string, { rx: number[]; tx: number[]; dropped: Record<string, number>; interrupts: number }>;
  /** sent = received + nicDropped + cpuDropped + unaccounted (0 once everything drained). */
  accounting: { sent: number; received: number; nicDropped: number; cpuDropped: number; unaccounted: number };
  routeDigests: string[];
}

/** Where every sent packet went: the sink, a NIC drop (any interface, any reason) or a CPU drop. */
export function accountingOf(r: Pick<ForwardReport, "pktgen" | "sink" | "nic" | "totals">): ForwardReport["accounting"] {
  let nicDropped = 0;
  for (const i of Object.values(r.nic)) for (const n of Object.values(i.dropped)) nicDropped += n;
  const sent = r.pktgen.sent;
  const received = r.sink.pktgen;
  const cpuDropped = r.totals.dropped;
  return { sent, received, nicDropped, cpuDropped, unaccounted: sent - received - nicDropped - cpuDropped };
}

export function forwardRoutes(dst: readonly string[]): RouteSpec[] {
  return [{ prefix: "198.18.0.0/24", ifname: "ix0" }, { prefix: "198.18.1.0/24", ifname: "ix1" }, ...dst.map((prefix) => ({ prefix, gateway: "198.18.1.2" }))];
}

function row(s: NetisrSnapshot): ForwardCpuRow {
  const rxRings: Record<string, number[]> = {};
  let tx = 0;
  for (const [ifname, i] of Object.entries(s.interfaces)) {
    rxRings[ifname] = i.rxRings;
    tx += i.tx;
  }
  return {
    cpu: s.cpu,
    rx: s.rx,
    forwarded: s.forwarded,
    delivered: s.delivered,
    dropped: s.dropped,
    droppedTotal: s.droppedTotal,
    redispatched: s.redispatched,
    redispatchReceived: s.redispatchReceived,
    tx,
    rxRings,
  };
}

export async function runForward(o: ForwardRunOptions): Promise<ForwardReport> {
  const log = o.log ?? (() => undefined);
  const dst = o.dst ?? ["10.0.0.0/8"];
  const flows = o.flows ?? 1024;
  const rate = o.rate ?? 100_000;
  const interfaces: IfnetConfig[] = ["ix0", "ix1"].map((ifname) => ({
    ifname,
    model: o.model ?? "82599",
    mode: o.mode ?? "interrupt",
    ...(o.rings !== undefined ? { rings: o.rings } : {}),
    ...(o.pollhz !== undefined ? { pollhz: o.pollhz } : {}),
  }));
  const ec = await EmbeddedCluster.start({
    cpus: o.cpus,
    interfaces,
    routes: forwardRoutes(dst),
    ...(o.moderation ? { moderation: o.moderation } : {}),
    ...(o.pollhz !== undefined ? { ifpoll: { pollhz: o.pollhz } } : {}),
    ...(o.loss !== undefined ? { impair: { loss: o.loss } } : {}),
    log,
  });
  const pcap = o.pcap ? new PcapFile(o.pcap) : undefined;
  const taps = pcap
    ? [subjects.wireIn(ec.cluster, "ix0"), subjects.wireOut(ec.cluster, "ix1")].map((subj) => {
        const c = new FrameBatchCursor();
        return ec.transport.subscribe(subj, (m) => {
          if (c.reset(m.data) === null) while (c.next()) pcap.add(c.buf.subarray(c.offset, c.offset + c.length));
        });
      })
    : [];
  try {
    const sink = new Sink({ transport: ec.transport, cluster: ec.cluster, ifnames: ["ix0", "ix1"], flows });
    await sink.start();
    const gen = new Pktgen({
      transport: ec.transport,
      cluster: ec.cluster,
      ifname: "ix0",
      flows,
      rate,
      dst,
      ...(o.size !== undefined ? { size: o.size } : {}),
      ...(o.batch !== undefined ? { batch: o.batch } : {}),
    });
    log(`pktgen: ${flows} flows, ${gen.flows.size}-byte packets, ${rate} pps for ${o.durationMs} ms`);
    const t0 = performance.now();
    const stop = setTimeout(() => gen.stop(), o.durationMs);
    const endProgress = o.progress?.(() => ({ total: gen.sent, received: sink.counter.pktgen }));
    try {
      await gen.run();
    } finally {
      endProgress?.();
    }
    clearTimeout(stop);
    const genMs = performance.now() - t0;
    // Drain: wait until the sink has everything, or nothing more arrived for 2 s (what is
    // missing then is lost, and the report says so).
    ec.nic.nic.flush();
    let last = -1;
    let quietSince = Date.now();
    while (sink.counter.pktgen < gen.sent && Date.now() - quietSince < 2000) {
      await new Promise((r) => setTimeout(r, 20));
      ec.nic.nic.flush();
      if (sink.counter.pktgen !== last) {
        last = sink.counter.pktgen;
        quietSince = Date.now();
      }
    }
    sink.stop();
    const snaps = (await ec.snapshots()).filter((s): s is NetisrSnapshot => s !== undefined);
    const perCpu = snaps.map(row);
    const sum = (f: (r: ForwardCpuRow) => number) => perCpu.reduce((n, r) => n + f(r), 0);
    const topo = ec.control.parts.cluster.topology();
    const report: Omit<ForwardReport, "accounting"> = {
      workload: "forward",
      cpus: o.cpus,
      durationMs: Math.round(genMs),
      offeredRate: rate,
      interfaces: topo.interfaces.map((i) => ({ ifname: i.ifname, model: i.model, mode: i.mode, rings: i.rings, ringToCpu: i.ringToCpu })),
      perCpu,
      totals: {
        rx: sum((r) => r.rx),
        forwarded: sum((r) => r.forwarded),
        delivered: sum((r) => r.delivered),
        dropped: sum((r) => r.droppedTotal),
        redispatched: sum((r) => r.redispatched),
        redispatchReceived: sum((r) => r.redispatchReceived),
      },
      pktgen: { sent: gen.sent, batches: gen.batches, pps: Math.round(gen.sent / (genMs / 1000)) },
      sink: sink.counter.summary(),
      loss: lossReport(gen.sentPerFlow, sink.counter.receivedPerFlow),
      nic: ec.nic.nic.snapshot(),
      routeDigests: snaps.map((s) => s.routeDigest),
    };
    return { ...report, accounting: accountingOf(report) };
  } finally {
    for (const t of taps) t.unsubscribe();
    if (pcap) {
      pcap.close();
      log(`pcap: ${pcap.frames} frames written to ${pcap.path}`);
    }
    await ec.stop();
  }
}

/** What a NIC drop reason means, where it is not plain (services/nic/src/nic.ts lists them). */
const NIC_DROP_GLOSS: Record<string, string> = { impair_loss: "lost on the link by the impairment, --loss" };

/** The report as text (what `dfly run` prints without --json). */
export function formatForwardReport(r: ForwardReport): string {
  const out: string[] = [];
  out.push(`dfly run --workload forward: ${r.cpus} CPUs, ${r.durationMs} ms, offered ${r.offeredRate} pps`);
  for (const i of r.interfaces) out.push(`  ${i.ifname}: ${i.model} ${i.mode}, ${i.rings} rings, ring→cpu [${i.ringToCpu.join(",")}]`);
  out.push("");
  out.push(`  ${"cpu".padStart(3)} ${"rx".padStart(10)} ${"forwarded".padStart(10)} ${"delivered".padStart(9)} ${"dropped".padStart(8)} ${"redisp".padStart(8)} ${"redisp-in".padStart(9)} ${"tx".padStart(10)}  drops by reason`);
  for (const c of r.perCpu) {
    const reasons = Object.entries(c.dropped).map(([k, v]) => `${k}=${v}`).join(" ") || "-";
    out.push(
      `  ${String(c.cpu).padStart(3)} ${String(c.rx).padStart(10)} ${String(c.forwarded).padStart(10)} ${String(c.delivered).padStart(9)} ${String(c.droppedTotal).padStart(8)} ${String(c.redispatched).padStart(8)} ${String(c.redispatchReceived).padStart(9)} ${String(c.tx).padStart(10)}  ${reasons}`,
    );
  }
  const t = r.totals;
  out.push(
    `  ${"all".padStart(3)} ${String(t.rx).padStart(10)} ${String(t.forwarded).padStart(10)} ${String(t.delivered).padStart(9)} ${String(t.dropped).padStart(8)} ${String(t.redispatched).padStart(8)} ${String(t.redispatchReceived).padStart(9)}`,
  );
  for (const [ifname, i] of Object.entries(r.nic)) {
    const reasons = Object.entries(i.dropped).filter(([, n]) => n > 0);
    const total = reasons.reduce((n, [, v]) => n + v, 0);
    out.push(`  nic ${ifname}: dropped ${total}${total ? ` (${reasons.map(([k, v]) => `${k}=${v}${NIC_DROP_GLOSS[k] ? `: ${NIC_DROP_GLOSS[k]}` : ""}`).join(", ")})` : ""}`);
  }
  out.push("");
  out.push(`  pktgen: sent ${r.pktgen.sent} in ${r.pktgen.batches} batches (${r.pktgen.pps} pps)`);
  const lat = r.sink.latencyUs;
  out.push(
    `  sink:   received ${r.sink.pktgen} forwarded packets (+${r.sink.other} other), lost ${r.loss.lost} (${r.loss.flowsWithLoss} flows with loss), reordered ${r.sink.reordered}` +
      (lat ? `, latency µs min ${lat.min} p50 <${lat.p50} p99 <${lat.p99} max ${lat.max}` : ""),
  );
  const a = r.accounting;
  out.push(
    `  where:  sent ${a.sent} = received ${a.received} + NIC drops ${a.nicDropped} + CPU drops ${a.cpuDropped}` +
      (a.unaccounted !== 0 ? ` + not accounted for ${a.unaccounted}` : ""),
  );
  const digests = new Set(r.routeDigests);
  out.push(`  routes: ${digests.size === 1 ? `same digest on every CPU (${[...digests][0]})` : `DIGESTS DIFFER: ${r.routeDigests.join(" ")}`}`);
  return out.join("\n") + "\n";
}
