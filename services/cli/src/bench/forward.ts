/**
 * `dfly bench forward`: IPv4 forwarding throughput of N netisr CPUs against the raw
 * transport moving the same bytes in the same batches, measured in the same run.
 *
 * Setup: ix0 and ix1 (82599) with one RX ring per CPU (so every frame arrives on its owner
 * and nothing is redispatched), routes as the forward workload's. pktgen builds 64-byte UDP
 * frames for `flows` flows and the NIC's steering (the Toeplitz hash and the redirection
 * table) is applied once, before timing: the frames are laid out in RX-ring batches as the
 * NIC would deliver them (hashing is the NIC hardware's work; the software NIC of `dfly run`
 * does it per frame on the main thread). The timed loop then only publishes those batches on
 * the ring subjects and counts what comes back on ix1's TX rings: a closed loop with
 * `window` batches in flight per ring, so the CPUs never starve and queues stay bounded.
 * In-process, a returned buffer goes round again (transferred, not copied): its frames left
 * with TTL - 1 and valid checksums, so they are forwarded again as they are until the TTL
 * (255 at the start) runs low, when the buffer is refilled from its template.
 *
 * Two phases per run, each after a warm-up:
 *   baseline — each worker republishes every RX batch unchanged on its TX ring (echo);
 *   netisr   — each worker runs the netisr: ip_input checks, LPM, TTL/checksum rewrite in
 *              place, the same batch out to TX.
 * `ratio` = netisr pps / baseline pps. With `--transport nats` the workers and this thread
 * each have their own NATS connection to a nats-server (started here when no --nats URL).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { spawnSync } from "node:child_process";
import { freePort } from "../local/freeport.js";
import os from "node:os";
import { FlowSet } from "@dfly/apps";
import { IpfwStateTable } from "@dfly/core";
import { nicInterfaceSpec, ifnetTopology } from "@dfly/nic";
import { BATCH_HEADER_BYTES, createTransport, FRAME_HEADER_BYTES, frameBatchCount, FrameBatchWriter, InprocHub, subjects, type Subscription, type Transport } from "@dfly/transport";
import { type InterfaceTopology, type RouteSpec, type TopologyMsg } from "@dfly/wire";
import { IFSTAT_SHARED_BYTES, type IfStatLayout, type NetisrSnapshot } from "@dfly/netisr";
import { forwardRoutes } from "../embedded/forward.js";
import { CpuWorker } from "../embedded/workers.js";
import { AllocSampler, ALLOC_SAMPLE_BYTES, type AllocSite } from "./alloc.js";
import type { NetisrWorkerData } from "@dfly/netisr";

interface IpfwSnap {
  states: number;
  hits: number;
  rejected: Record<string, number>;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return Math.round((s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2) * 1000) / 1000;
}

/**
 * The firewall of the ipfw phase: rule 100 check-state, then `rules - 2` deny rules for sources the traffic does not
 * come from (a packet of a new flow walks them all), then the keep-state rule for the benchmark's UDP flows. Each phase
 * gets fresh workers, so a fresh table: states made up front, and the flows' own states in the warm-up.
 */
function ipfwBenchSetup(o: { rules: number; states: number; shared?: boolean }, cpus: number): () => NetisrWorkerData["ipfw"] {
  const rules = ["100 check-state"];
  for (let i = 0; i < o.rules - 2; i++) rules.push(`${200 + i * 10} deny udp from 192.0.${(i >> 8) & 255}.${i & 255} to any 7`);
  rules.push(`${200 + o.rules * 10} allow udp from any to 10.0.0.0/8 keep-state`);
  const perCpu = Math.ceil(o.states / cpus);
  // Room for the made-up states and the flows' own.
  const max = Math.max(1024, (o.shared ? o.states : perCpu) + 65536);
  return () => ({
    options: { stateMax: max, ...(o.shared ? { sharedStates: IpfwStateTable.sharedBuffer(max) } : {}) },
    set: { rules, tables: {} },
    prefill: perCpu,
  });
}

export interface BenchForwardOptions {
  cpus: number;
  transport: "embedded" | "nats";
  natsUrl?: string;
  /** Timed part of each phase (default 2000 ms). */
  durationMs?: number;
  warmupMs?: number;
  /**
   * Frames per ring batch. Default 1024 embedded (what interrupt moderation gathers at ~8 Mpps
   * per ring), 256 over NATS (≈ 18 KiB messages: nats.js moves those fastest; 64+ KiB
   * messages go several times slower per byte).
   */
  batch?: number;
  size?: number;
  flows?: number;
  /** Batches in flight per ring (default 4 embedded, 16 over NATS, whose round trip is longer). */
  window?: number;
  /** Phases are repeated this often; the best of each is kept (default 2). */
  runs?: number;
  /**
   * The firewall: `rules` ipfw rules (check-state first, then rules the traffic does not match, the keep-state rule
   * last) and `states` states made up front over the CPUs. The baseline is then the netisr without the firewall, in the
   * same run; `shared` puts every CPU's states in one table shared by the threads (per-bucket-stripe locks).
   */
  ipfw?: { rules: number; states: number; shared?: boolean };
  /** Extra routes in every CPU's table (e.g. a full Internet table), same next hop as the workload's. */
  prefixes?: readonly string[];
  /** Run one more netisr phase with the CPUs' heap allocations sampled (default true). */
  alloc?: boolean;
  log?: (s: string) => void;
}

export interface BenchPhase {
  pps: number;
  frames: number;
  ms: number;
}

export interface BenchForwardResult {
  bench: "forward";
  transport: "embedded" | "nats";
  cpus: number;
  pps: number;
  baselinePps: number;
  ratio: number;
  batchFrames: number;
  frameBytes: number;
  flows: number;
  window: number;
  durationMs: number;
  /** Routes in each CPU's table. */
  routes: number;
  runs: { baseline: BenchPhase; netisr: BenchPhase }[];
  /** Frames each CPU forwarded in the best netisr phase (from the CPUs' own counters). */
  perCpuForwarded: number[];
  /**
   * Heap bytes the netisr CPUs allocated per forwarded frame, in a phase of its own (V8's
   * sampling heap profiler in each CPU's thread; frames from the CPUs' forwarded counters).
   */
  allocBytesPerPacket: number | null;
  alloc: { bytes: number; packets: number; sampleBytes: number; top: AllocSite[] } | null;
  /** What `ratio` divides by (measured ÷ baseline, higher is better). */
  baseline: string;
  machine: { cpus: number; model: string; node: string; loadavg: number[] };
  /** With --ipfw-rules: the firewall phase's set-up and what the CPUs' chains counted in the best run. */
  ipfw?: { rules: number; states: number; shared: boolean; perCpuStates: number[]; stateHits: number; rejected: number; medianRatio: number };
  targets: { embeddedOneCpuPps: number; natsRatio: number; twoCpuScaling: number };
}

export class BenchForwardError extends Error {
  override readonly name = "BenchForwardError";
}

const CLUSTER = "dflybench";

/** A local nats-server on a free 127.0.0.1 port (Debian's binary; scripts/setup-machine.sh installs it). */
export async function startLocalNats(extra: string[] = []): Promise<{ url: string; child: ChildProcess; stop(): Promise<void> }> {
  const which = spawnSync("sh", ["-c", "command -v nats-server || ls /usr/sbin/nats-server /usr/bin/nats-server 2>/dev/null"], { encoding: "utf8" });
  const exe = which.stdout.trim().split("\n")[0];
  if (!exe) throw new BenchForwardError("nats-server is not installed: run scripts/setup-machine.sh (apt-get install nats-server), or pass --nats URL");
  const port = await freePort();
  const child = spawn(exe, ["-a", "127.0.0.1", "-p", String(port), ...extra], { stdio: ["ignore", "pipe", "pipe"] });
  await new Promise<void>((res, rej) => {
    let log = "";
    const t = setTimeout(() => rej(new BenchForwardError(`nats-server did not start in 10 s:\n${log}`)), 10_000);
    const on = (d: Buffer) => {
      log += d.toString();
      if (/Server is ready/.test(log)) {
        clearTimeout(t);
        res();
      }
    };
    child.stdout!.on("data", on);
    child.stderr!.on("data", on);
    child.once("exit", (code) => {
      clearTimeout(t);
      rej(new BenchForwardError(`nats-server exited (${code}):\n${log}`));
    });
  });
  return {
    url: `nats://127.0.0.1:${port}`,
    child,
    stop: () =>
      new Promise<void>((res) => {
        if (child.exitCode !== null) return res();
        child.once("exit", () => res());
        child.kill("SIGTERM");
      }),
  };
}

/** The static topology of the benchmark: one ring per CPU on ix0 and ix1 (or `rings`, spread over the CPUs by the ringmap). */
export function benchTopology(cpus: number, rings = cpus): TopologyMsg {
  const ids = Array.from({ length: cpus }, (_, i) => i);
  const interfaces = ["ix0", "ix1"].map((ifname) => ifnetTopology(nicInterfaceSpec({ ifname, model: "82599", mode: "interrupt", rings }), ids));
  return { epoch: 1, cpus: ids, interfaces, rssKey: "6d5a".repeat(20) };
}

/** RX-ring batches as the NIC would deliver them: `count` batches per ring of `batch` frames each. */
export function ringBatches(ix0: InterfaceTopology, flows: FlowSet, batch: number, count: number): Uint8Array[][] {
  const byRing: number[][] = Array.from({ length: ix0.rings }, () => []);
  for (let f = 0; f < flows.count; f++) byRing[ix0.redirect[flows.hashes[f] & (ix0.redirect.length - 1)]].push(f);
  return byRing.map((fl, ring) => {
    if (fl.length === 0) throw new BenchForwardError(`no flow hashes to ring ${ring}; use more --flows`);
    const out: Uint8Array[] = [];
    let k = 0;
    for (let b = 0; b < count; b++) {
      const w = new FrameBatchWriter(Math.min(1024 * 1023, 12 + batch * (8 + flows.size)));
      for (let i = 0; i < batch; i++) {
        const flow = fl[k++ % fl.length];
        const at = w.reserve(flows.size, flows.hashes[flow], 0);
        if (at < 0) break;
        flows.write(w.buffer, at, flow, b, 0);
      }
      out.push(w.take());
    }
    return out;
  });
}

interface Bus {
  main: Transport;
  worker(cpu: number): { link?: ReturnType<InprocHub["link"]>; natsUrl?: string };
  close(): Promise<void>;
}

async function openBus(o: BenchForwardOptions, log: (s: string) => void): Promise<Bus> {
  if (o.transport === "embedded") {
    const hub = new InprocHub();
    const main = await hub.connect();
    return {
      main,
      worker: () => ({ link: hub.link() }),
      close: async () => {
        await main.close();
        hub.close();
      },
    };
  }
  let local: Awaited<ReturnType<typeof startLocalNats>> | undefined;
  let url = o.natsUrl;
  if (!url) {
    local = await startLocalNats();
    url = local.url;
    log(`nats-server: ${url}`);
  }
  const main = await createTransport({ natsUrl: url, name: "dfly-bench-forward" });
  return {
    main,
    worker: () => ({ natsUrl: url }),
    close: async () => {
      await main.close();
      await local?.stop();
    },
  };
}

/** The workload's routes plus `prefixes` via its next hop (a prefix the workload has is left as it is). */
function withPrefixes(base: RouteSpec[], prefixes: readonly string[]): RouteSpec[] {
  const have = new Set(base.map((r) => r.prefix));
  const gateway = base[base.length - 1].gateway;
  const out = [...base];
  for (const p of prefixes) if (!have.has(p)) out.push({ prefix: p, gateway });
  return out;
}

async function phase(
  bus: Bus,
  o: Required<Pick<BenchForwardOptions, "cpus" | "durationMs" | "warmupMs" | "window">> & { ifstat?: IfStatLayout; routes: RouteSpec[] },
  topo: TopologyMsg,
  batches: Uint8Array[][],
  echo: boolean,
  sample = false,
  ipfw?: NetisrWorkerData["ipfw"],
): Promise<{ phase: BenchPhase; perCpu: number[]; rxMessages: number; cpuMs: number; snaps: (NetisrSnapshot | undefined)[]; ipfw?: IpfwSnap[]; alloc?: { bytes: number; packets: number; top: AllocSite[] } }> {
  const ix0 = topo.interfaces[0];
  const ix1 = topo.interfaces[1];
  const workers: CpuWorker[] = [];
  const subs: Subscription[] = [];
  try {
    for (let cpu = 0; cpu < o.cpus; cpu++) {
      const w = bus.worker(cpu);
      workers.push(
        new CpuWorker(
          {
            cpu,
            cluster: CLUSTER,
            ...w,
            topology: topo,
            routes: o.routes,
            icmplim: 0,
            ...(echo ? { echo: true, echoIfname: "ix1" } : {}),
            ...(o.ifstat ? { ifstat: o.ifstat } : {}),
            ...(ipfw ? { ipfw } : {}),
          },
          w.link ? w.link.transferList : [],
        ),
      );
    }
    await Promise.all(workers.map((w) => w.ready));
    const t = bus.main;
    // ix1 TX ring → the ix0 RX rings of the same CPU (credit goes back to them).
    const rxRingsOfCpu = new Map<number, number[]>();
    for (let r = 0; r < ix0.rings; r++) rxRingsOfCpu.set(ix0.ringToCpu[r], [...(rxRingsOfCpu.get(ix0.ringToCpu[r]) ?? []), r]);
    let frames = 0;
    let rxMessages = 0;
    const next = new Int32Array(ix0.rings);
    const rr = new Int32Array(ix1.rings);
    const rxSubject = Array.from({ length: ix0.rings }, (_, r) => subjects.rx(CLUSTER, "ix0", r));
    /**
     * Publishes ring `ring`'s next batch. In-process, a returned TX buffer is refilled and
     * handed over again (`transfer`): buffers cycle between the threads instead of a fresh
     * 64+ KiB allocation per batch, whose first cross-thread transfer costs more than the
     * forwarding itself. NATS copies into its socket buffer, so the template goes as is.
     */
    const send = (ring: number, recycle?: Uint8Array) => {
      rxMessages++;
      const list = batches[ring];
      const tpl = list[next[ring]++ % list.length];
      if (recycle && recycle.byteOffset === 0 && recycle.buffer.byteLength >= tpl.length && recycle.buffer instanceof ArrayBuffer) {
        const b = new Uint8Array(recycle.buffer, 0, tpl.length);
        // The frames left with TTL - 1 (their checksums patched, still valid IPv4). They go
        // round again as they are while the TTL lasts (templates start at 255), and are
        // refilled from the template (the DMA of fresh frames) before it runs out.
        if (b.length !== recycle.length || b[BATCH_HEADER_BYTES + FRAME_HEADER_BYTES + 8] <= 2) b.set(tpl);
        t.publish(rxSubject[ring], b, { transfer: true });
      } else {
        t.publish(rxSubject[ring], tpl);
      }
    };
    const recycle = t.kind === "inproc";
    for (let tr = 0; tr < ix1.rings; tr++) {
      const rings = rxRingsOfCpu.get(ix1.ringToCpu[tr]) ?? [];
      const txRing = tr;
      subs.push(
        t.subscribe(subjects.tx(CLUSTER, "ix1", tr), (m) => {
          frames += frameBatchCount(m.data);
          if (rings.length > 0) send(rings[rr[txRing]++ % rings.length], recycle ? m.data : undefined);
        }),
      );
    }
    await t.flush();
    for (let r = 0; r < ix0.rings; r++) for (let i = 0; i < o.window; i++) send(r);
    await new Promise((r) => setTimeout(r, o.warmupMs));
    const forwarded = async () => (await Promise.all(workers.map((w) => w.snapshot<NetisrSnapshot>()))).reduce((n, s) => n + (s?.forwarded ?? 0), 0);
    const fw0 = sample ? await forwarded() : 0;
    const sampler = sample ? await AllocSampler.start({ workers: true }) : undefined;
    const f0 = frames;
    const m0 = rxMessages;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, o.durationMs));
    const f1 = frames;
    const m1 = rxMessages;
    const cpu = process.cpuUsage(cpu0);
    const ms = performance.now() - t0;
    const heap = await sampler?.stop();
    const fw1 = sample ? await forwarded() : 0;
    for (const s of subs) s.unsubscribe();
    subs.length = 0;
    const snaps = await Promise.all(workers.map((w) => w.snapshot<NetisrSnapshot & { echo?: boolean; ipfw?: IpfwSnap }>()));
    return {
      phase: { pps: Math.round(((f1 - f0) / ms) * 1000), frames: f1 - f0, ms: Math.round(ms) },
      perCpu: snaps.map((s) => s?.forwarded ?? 0),
      rxMessages: m1 - m0,
      cpuMs: Math.round((cpu.user + cpu.system) / 1000),
      snaps,
      ...(ipfw ? { ipfw: snaps.map((s) => s?.ipfw ?? { states: 0, hits: 0, rejected: {} }) } : {}),
      ...(heap ? { alloc: { bytes: heap.workers.reduce((a, b) => a + b, 0), packets: fw1 - fw0, top: heap.top } } : {}),
    };
  } finally {
    for (const s of subs) s.unsubscribe();
    await Promise.all(workers.map((w) => w.stop()));
  }
}

export async function benchForward(o: BenchForwardOptions): Promise<BenchForwardResult> {
  const log = o.log ?? (() => undefined);
  if (!Number.isInteger(o.cpus) || o.cpus < 1 || o.cpus > 16) throw new BenchForwardError(`--cpus ${o.cpus}: want 1..16 (one 82599 ring per CPU)`);
  const cfg = {
    cpus: o.cpus,
    durationMs: o.durationMs ?? 2000,
    warmupMs: o.warmupMs ?? 500,
    window: o.window ?? (o.transport === "nats" ? 16 : 4),
    routes: withPrefixes(forwardRoutes(["10.0.0.0/8"]), o.prefixes ?? []),
  };
  const batch = o.batch ?? (o.transport === "nats" ? 256 : 1024);
  const size = o.size ?? 64;
  const flows = new FlowSet({ flows: o.flows ?? 4096, size, dst: ["10.0.0.0/8"], ttl: 255 });
  const topo = benchTopology(o.cpus);
  const batches = ringBatches(topo.interfaces[0], flows, batch, 8);
  const bus = await openBus(o, log);
  const runs: { baseline: BenchPhase; netisr: BenchPhase }[] = [];
  let best = { pps: 0, perCpu: [] as number[], ipfw: [] as IpfwSnap[] };
  const fw = o.ipfw ? ipfwBenchSetup(o.ipfw, o.cpus) : undefined;
  let alloc: { bytes: number; packets: number; top: AllocSite[] } | null = null;
  try {
    for (let i = 0; i < (o.runs ?? 2); i++) {
      // With the firewall, the baseline is the netisr without it (same run, same batches).
      const b = await phase(bus, cfg, topo, batches, !fw);
      log(`run ${i + 1}: baseline ${b.phase.pps} pps${fw ? " (netisr, no firewall)" : ""}`);
      const n = await phase(bus, cfg, topo, batches, false, false, fw?.());
      log(`run ${i + 1}: netisr${fw ? "+ipfw" : "  "} ${n.phase.pps} pps  per CPU forwarded ${n.perCpu.join(" ")}`);
      runs.push({ baseline: b.phase, netisr: n.phase });
      if (n.phase.pps > best.pps) best = { pps: n.phase.pps, perCpu: n.perCpu, ipfw: n.ipfw ?? [] };
    }
    if (o.alloc !== false && !fw) {
      const a = await phase(bus, { ...cfg, durationMs: Math.min(cfg.durationMs, 1000) }, topo, batches, false, true);
      alloc = a.alloc ?? null;
      if (alloc) log(`alloc: ${alloc.bytes} heap bytes over ${alloc.packets} forwarded frames`);
    }
  } finally {
    await bus.close();
  }
  const baselinePps = Math.max(...runs.map((r) => r.baseline.pps));
  const pps = best.pps;
  return {
    bench: "forward",
    transport: o.transport,
    cpus: o.cpus,
    pps,
    baselinePps,
    ratio: baselinePps > 0 ? Math.round((pps / baselinePps) * 1000) / 1000 : 0,
    batchFrames: batch,
    frameBytes: size,
    flows: flows.count,
    window: cfg.window,
    durationMs: cfg.durationMs,
    routes: cfg.routes.length,
    runs,
    perCpuForwarded: best.perCpu,
    allocBytesPerPacket: alloc && alloc.packets > 0 ? Math.round((alloc.bytes / alloc.packets) * 100) / 100 : null,
    alloc: alloc ? { ...alloc, sampleBytes: ALLOC_SAMPLE_BYTES } : null,
    baseline: "the same batches echoed by the same CPUs without the netisr (raw transport)",
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? "", node: process.version, loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100) },
    targets: { embeddedOneCpuPps: 5_000_000, natsRatio: 0.7, twoCpuScaling: 1.8 },
    ...(o.ipfw
      ? {
          ipfw: {
            rules: o.ipfw.rules,
            states: o.ipfw.states,
            shared: o.ipfw.shared ?? false,
            perCpuStates: best.ipfw.map((s) => s.states),
            stateHits: best.ipfw.reduce((n, s) => n + s.hits, 0),
            rejected: best.ipfw.reduce((n, s) => n + Object.values(s.rejected).reduce((a, b) => a + b, 0), 0),
            medianRatio: median(runs.map((r) => (r.baseline.pps > 0 ? r.netisr.pps / r.baseline.pps : 0))),
          },
          baseline: "the netisr forwarding the same batches without the firewall, same run",
        }
      : {}),
  };
}

export interface ForwardOnceOptions {
  /** Netisr threads (each one owns its share of the rings). */
  threads: number;
  /** RX/TX rings per interface (default one per thread). */
  rings?: number;
  transport: "embedded" | "nats";
  natsUrl?: string;
  durationMs: number;
  warmupMs: number;
  batch: number;
  window: number;
  flows?: number;
  size?: number;
  /** ifnet's per-packet counters: per CPU, or one set shared by every thread (Atomics on a SharedArrayBuffer). */
  ifstat?: "percpu" | "shared";
  log?: (s: string) => void;
}

export interface ForwardOnceResult extends BenchPhase {
  /** RX ring messages (batches) the threads were handed in the timed part: each one a wake-up of its thread. */
  rxMessages: number;
  /**
   * CPU time this process (every thread: the CPUs', the publisher's, V8's) used in the timed
   * part: what the frames cost, whatever share of the cores the scheduler gave it.
   */
  cpuMs: number;
  perThread: number[];
  /** The ifnet counters summed over the threads (percpu) or as the shared set holds them (mod 2^32). */
  ifstat?: { ipackets: number; opackets: number };
}

/** One timed netisr forwarding phase (no echo baseline): the knobs the experiments vary. */
export async function forwardOnce(o: ForwardOnceOptions): Promise<ForwardOnceResult> {
  const log = o.log ?? (() => undefined);
  const rings = o.rings ?? o.threads;
  if (!Number.isInteger(o.threads) || o.threads < 1 || o.threads > 16) throw new BenchForwardError(`threads ${o.threads}: want 1..16`);
  if (!Number.isInteger(rings) || rings < o.threads || rings > 16) throw new BenchForwardError(`rings ${rings}: want ${o.threads}..16 (82599)`);
  const flows = new FlowSet({ flows: o.flows ?? 4096, size: o.size ?? 64, dst: ["10.0.0.0/8"], ttl: 255 });
  const topo = benchTopology(o.threads, rings);
  const batches = ringBatches(topo.interfaces[0], flows, o.batch, 8);
  const shared = o.ifstat === "shared" ? new SharedArrayBuffer(IFSTAT_SHARED_BYTES) : undefined;
  const ifstat: IfStatLayout | undefined = shared ? { layout: "shared", buffer: shared } : o.ifstat === "percpu" ? { layout: "percpu" } : undefined;
  const bus = await openBus({ cpus: o.threads, transport: o.transport, ...(o.natsUrl ? { natsUrl: o.natsUrl } : {}) }, log);
  try {
    const r = await phase(bus, { cpus: o.threads, durationMs: o.durationMs, warmupMs: o.warmupMs, window: o.window, routes: forwardRoutes(["10.0.0.0/8"]), ...(ifstat ? { ifstat } : {}) }, topo, batches, false);
    let counters: ForwardOnceResult["ifstat"];
    if (shared) {
      // Read here, in another thread: the same memory the CPUs' threads updated.
      const v = new Int32Array(shared);
      counters = { ipackets: Atomics.load(v, 0) >>> 0, opackets: Atomics.load(v, 2) >>> 0 };
    } else if (ifstat) {
      counters = { ipackets: 0, opackets: 0 };
      for (const s of r.snaps) {
        counters.ipackets += s?.ifstat?.ipackets ?? 0;
        counters.opackets += s?.ifstat?.opackets ?? 0;
      }
    }
    return { ...r.phase, rxMessages: r.rxMessages, cpuMs: r.cpuMs, perThread: r.perCpu, ...(counters ? { ifstat: counters } : {}) };
  } finally {
    await bus.close();
  }
}
