/**
 * The paper's lessons as experiments: each names what it compares, the paper's section and
 * claim, and how to measure one sample of each condition with the stack's own runners
 * (embedded/http.ts for the HTTP short-connection workload, bench/forward.ts for forwarding).
 * Conditions are listed in the paper's order: `effect` = second ÷ first, the way the paper's
 * figure goes.
 */
import { runHttpShort, type HttpShortRunOptions } from "../embedded/http.js";
import { forwardOnce, type ForwardOnceOptions } from "../bench/forward.js";

export type Transport = "embedded" | "nats";

/** How long one sample runs; --quick shortens every sample. */
export interface SampleSize {
  quick: boolean;
  transport: Transport;
  /** A nats-server the run started (nats transport). */
  natsUrl?: string;
}

/** One measurement of one condition: the experiment's metric and its further metrics (`ExperimentDef.more`, in order). */
export interface Sample {
  value: number;
  more?: number[];
}

export interface ConditionDef {
  name: string;
  measure(s: SampleSize): Promise<Sample>;
}

/**
 * What the paper reports, the same way round as `effect`: a number where the paper gives
 * one, else the direction (">1": the second condition is higher, "<1": lower, "0": none
 * of the metric in the second condition).
 */
export type PaperEffect = number | ">1" | "<1" | "0";

export interface ExperimentDef {
  name: string;
  compares: string;
  paperSection: string;
  paperClaim: string;
  metric: string;
  unit: string;
  /** Whether a higher value of the metric is better (for the report's words). */
  higherIsBetter: boolean;
  /** Further metrics each sample reports (latency, CPU cost, wake-ups): the report's table shows their medians. */
  more?: readonly { metric: string; unit: string }[];
  paperEffect: PaperEffect;
  /** Why the emulator shows (or does not show) the paper's effect: the report's sentences. */
  why: string;
  /** What in the emulator's cost model or a shared machine can turn the direction round (the report shows it when it does). */
  disagree: string;
  /** Transports the experiment can run over. */
  transports: readonly Transport[];
  conditions: readonly ConditionDef[];
}

const HTTP_CPUS = 2;

function httpOpts(s: SampleSize): HttpShortRunOptions {
  return {
    cpus: HTTP_CPUS,
    clients: s.quick ? 64 : 256,
    durationMs: s.quick ? 400 : 3000,
    warmupMs: s.quick ? 100 : 1000,
    transport: s.transport,
    ...(s.natsUrl ? { natsUrl: s.natsUrl } : {}),
  };
}

async function http(s: SampleSize, o: Partial<HttpShortRunOptions>): Promise<Sample> {
  const r = await runHttpShort({ ...httpOpts(s), ...o });
  return { value: r.tps, more: [r.latency.avgMs, r.cpuMs > 0 ? Math.round((r.completed / r.cpuMs) * 1000) : 0] };
}

function fwdOpts(s: SampleSize): Omit<ForwardOnceOptions, "threads"> {
  return {
    transport: s.transport,
    ...(s.natsUrl ? { natsUrl: s.natsUrl } : {}),
    durationMs: s.quick ? 300 : 2000,
    warmupMs: s.quick ? 100 : 500,
    batch: 256,
    window: 4,
  };
}

/**
 * Forwarding's second metric: packets per CPU-second the process used. On a shared machine the
 * scheduler's share of the cores moves pps; this is what each frame cost, whatever the share.
 */
const CPU_COST = { metric: "packets per CPU-second", unit: "packets/CPU-s" };

/** HTTP's further metrics: average latency, and transactions per CPU-second the process used (as CPU_COST). */
const HTTP_MORE = [
  { metric: "latency avg", unit: "ms" },
  { metric: "transactions per CPU-second", unit: "transactions/CPU-s" },
];

async function forward(s: SampleSize, o: Pick<ForwardOnceOptions, "threads" | "rings" | "ifstat">): Promise<Sample> {
  const r = await forwardOnce({ ...fwdOpts(s), ...o });
  return { value: r.pps, more: [r.cpuMs > 0 ? Math.round((r.frames / r.cpuMs) * 1000) : 0] };
}

const CLOSE_CPU = 0;

async function listenerClose(s: SampleSize, policy: "dragonfly" | "linux" | "linux_migrate_req"): Promise<Sample> {
  const o = httpOpts(s);
  const r = await runHttpShort({ ...o, policy, closeListener: { cpu: CLOSE_CPU, atMs: Math.round(o.durationMs / 2) } });
  // The client host's count: connections the clients saw reset (not the server's own report).
  return { value: r.errors.ECONNRESET ?? 0, more: [r.listenerClose?.migrated ?? 0] };
}

export const EXPERIMENTS: readonly ExperimentDef[] = [
  {
    name: "async-send",
    compares: "synchronous vs asynchronous socket calls (send, setsockopt(TCP_NODELAY)) from httpd outside the netisr threads, short HTTP",
    paperSection: "§2.4",
    paperClaim: "asynchronous setsockopt(TCP_NODELAY) and send: short-lived HTTP/1.1 156K → 186K tps (+19 %)",
    metric: "tps",
    unit: "transactions/s",
    higherIsBetter: true,
    more: HTTP_MORE,
    paperEffect: 1.19,
    why:
      "httpd runs in the main thread and reaches each socket over the CPU's message port (the user/kernel boundary). " +
      "Synchronous, each response waits for the netisr's reply before the connection is closed, so a worker holds a connection " +
      "for a round trip between threads; asynchronous, send returns at once and the calls pipeline. The emulator's round trip " +
      "(a postMessage or a NATS hop) costs far more than an IPI, so the gap is wider than the paper's.",
    disagree:
      "The main thread carries the client host, the NIC and the remote httpd; when it, not the wait for the CPU's reply, is the bottleneck, or the scheduler's share of the two cores swings between samples, asynchronous sends gain nothing measurable.",
    transports: ["embedded", "nats"],
    conditions: [
      { name: "sync", measure: (s) => http(s, { httpd: "remote", syncSend: true }) },
      { name: "async", measure: (s) => http(s, { httpd: "remote" }) },
    ],
  },
  {
    name: "reuseport",
    compares: "one listener (no SO_REUSEPORT, CPU 0's httpd accepts everything) vs one SO_REUSEPORT listener per CPU, short HTTP",
    paperSection: "§1.6/§2.6, Fig. 1.12",
    paperClaim: "SO_REUSEPORT on nginx: more tps and lower latency",
    metric: "tps",
    unit: "transactions/s",
    higherIsBetter: true,
    more: HTTP_MORE,
    paperEffect: ">1",
    why:
      "With one listener every connection queues on one accept queue and one httpd worker takes them all; connections owned " +
      "by the other CPU are served across threads. With a listener per CPU each SYN picks the member on its own CPU, so " +
      "accepting and serving stay on the connection's CPU and both workers share the load.",
    disagree:
      "At a few hundred to a few thousand tps CPU 0's single worker is not saturated and one accept queue is not contended as on the paper's many-core machine; the extra cost of one listener (the other CPU's connections accepted across threads) is then smaller than the noise of a shared 2-core machine.",
    transports: ["embedded", "nats"],
    conditions: [
      { name: "one listener", measure: (s) => http(s, { listeners: "one" }) },
      { name: "reuseport per CPU", measure: (s) => http(s, { listeners: "per-cpu" }) },
    ],
  },
  {
    name: "listener-close",
    compares: "closing one SO_REUSEPORT listener under load: Linux (reset) vs DragonFly (inherit) vs Linux tcp_migrate_req",
    paperSection: "§1.6",
    paperClaim: "closing a listener aborts its accept queue on Linux; DragonFly moves the queue to another member: no resets",
    metric: "connections reset",
    unit: "connections",
    higherIsBetter: false,
    more: [{ metric: "connections migrated", unit: "connections" }],
    paperEffect: "0",
    why:
      "CPU 0's listener is closed halfway through the run. With Linux's policy its accept queue (and syncache) is reset, and the " +
      "clients count the RSTs; DragonFly hands them to the heir, Linux 5.14's tcp_migrate_req to a live member, so nobody sees a reset. " +
      "The count under Linux is the queue length at that moment, which depends on how far the httpd worker lags.",
    disagree:
      "Linux's policy resets only what is queued when the listener closes: if the worker had accepted everything at that moment there is nothing to reset and no ratio.",
    transports: ["embedded"],
    conditions: [
      { name: "linux", measure: (s) => listenerClose(s, "linux") },
      { name: "dragonfly", measure: (s) => listenerClose(s, "dragonfly") },
      { name: "linux_migrate_req", measure: (s) => listenerClose(s, "linux_migrate_req") },
    ],
  },
  {
    name: "polling",
    compares: "interrupt (8 rings: 10 MSI-X vectors) vs ring polling(4) (all 16 rings) on an 82576, short HTTP",
    paperSection: "§1.7, Fig. 1.14",
    paperClaim: "NIC ring polling(4) gives the best performance (207K tps) and lowest average latency (48 ms)",
    metric: "tps",
    unit: "transactions/s",
    higherIsBetter: true,
    more: HTTP_MORE,
    paperEffect: ">1",
    why:
      "In interrupt mode the emulated NIC delivers a ring's frames when its moderation timer fires (6000/s per vector); polling(4) " +
      "takes them at the CPU's poll tick, and all 16 rings are usable instead of 8. The CPUs see larger, more regular batches.",
    disagree:
      "The emulated poll is driven by a Node timer, which fires at most every millisecond (1000 Hz, not the paper's 6000 Hz hardclock), and each tick takes a bounded burst per ring; interrupt mode hands a ring's frames over as soon as moderation lets it. So here polling adds up to a millisecond per hop and caps frames per tick: higher latency and fewer tps, the opposite of a kernel where polling saves the interrupt cost.",
    transports: ["embedded"],
    conditions: [
      { name: "interrupt", measure: (s) => http(s, { nic: { model: "82576", mode: "interrupt" } }) },
      { name: "polling", measure: (s) => http(s, { nic: { model: "82576", mode: "polling" } }) },
    ],
  },
  {
    name: "percpu-stats",
    compares: "ifnet packet/byte counters shared by the CPUs' threads (Atomics on one SharedArrayBuffer) vs per-CPU counters, IPv4 forwarding",
    paperSection: "§2.5",
    paperClaim: "making ifnet statistics per-CPU was the largest forwarding improvement, bigger than multiple TX rings",
    metric: "forwarding",
    unit: "packets/s",
    higherIsBetter: true,
    more: [CPU_COST],
    paperEffect: ">1",
    why:
      "Two netisr threads forward 64-byte frames; each frame updates four ifnet counters. Shared, every update is an atomic " +
      "read-modify-write on a cache line both cores write, so the line moves between them; per CPU, each thread writes its own. " +
      "Everything else a frame costs here (JavaScript, message passing) is larger than on the paper's kernel, so the share the " +
      "counters take, and the win, is smaller.",
    disagree:
      "pps follows the share of the 2 cores the scheduler gives the threads, which other processes on a shared machine move by more than the counters cost; packets per CPU-second is the figure that shows what the shared counters cost per packet.",
    transports: ["embedded"],
    conditions: [
      { name: "shared", measure: (s) => forward(s, { threads: 2, ifstat: "shared" }) },
      { name: "per-CPU", measure: (s) => forward(s, { threads: 2, ifstat: "percpu" }) },
    ],
  },
  {
    name: "netisr-threads",
    compares: "one netisr thread per CPU vs two threads per CPU sharing its rings (4 RX rings on 2 CPUs), IPv4 forwarding",
    paperSection: "§2.3",
    paperClaim: "multiple per-CPU threads handling almost the same kind of tasks do not play well",
    metric: "forwarding",
    unit: "packets/s",
    higherIsBetter: true,
    more: [CPU_COST],
    paperEffect: "<1",
    why:
      "Both conditions have 4 RX rings on a 2-core machine. One thread per CPU polls two rings; with two threads per CPU each ring " +
      "has its own thread, and four threads take turns on two cores: more context switches, colder caches, and a thread with work " +
      "waiting behind one without.",
    disagree:
      "Linux preempts user threads, unlike DragonFly's non-preemptive kernel threads that locked each other out; and on an oversubscribed machine four threads get a larger share of the two cores than two, so pps can rise while each packet costs more CPU (packets per CPU-second).",
    transports: ["embedded"],
    conditions: [
      { name: "1 thread/CPU", measure: (s) => forward(s, { threads: 2, rings: 4 }) },
      { name: "2 threads/CPU", measure: (s) => forward(s, { threads: 4, rings: 4 }) },
    ],
  },
  {
    name: "batching",
    compares: "one frame per ring message vs batches of 256 frames (the same 1024 frames in flight per ring), IPv4 forwarding: pps and wake-ups",
    paperSection: "§2.2",
    paperClaim: "aggregating packets in the interrupt handler and dispatching the batch avoids IPIs; forwarding improved",
    metric: "forwarding",
    unit: "packets/s",
    higherIsBetter: true,
    more: [{ metric: "wake-ups", unit: "ring messages/s" }],
    paperEffect: ">1",
    why:
      "Each ring message wakes the netisr thread (a message delivery, the IPI of the paper). One frame per message pays that per " +
      "frame; a batch pays it once per 256 frames. A message costs far more here than an IPI, so batching matters more than in the paper.",
    disagree:
      "Nothing in the cost model favours one frame per message; a disagreement would mean the run was starved of CPU.",
    transports: ["embedded"],
    conditions: [
      { name: "1 frame/message", measure: (s) => batching(s, 1, 1024) },
      { name: "256 frames/message", measure: (s) => batching(s, 256, 4) },
    ],
  },
];

async function batching(s: SampleSize, batch: number, window: number): Promise<Sample> {
  const o = fwdOpts(s);
  const r = await forwardOnce({ ...o, threads: 2, batch, window });
  return { value: r.pps, more: [Math.round((r.rxMessages / r.ms) * 1000)] };
}

export class UnknownExperimentError extends Error {
  override readonly name = "UnknownExperimentError";
}

/** The experiments `name` selects ("all": every one). */
export function selectExperiments(name: string): readonly ExperimentDef[] {
  if (name === "all") return EXPERIMENTS;
  const e = EXPERIMENTS.find((x) => x.name === name);
  if (!e) throw new UnknownExperimentError(`no experiment "${name}": want all | ${EXPERIMENTS.map((x) => x.name).join(" | ")}`);
  return [e];
}
