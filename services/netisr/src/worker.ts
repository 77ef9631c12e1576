/** Embedded mode: one netisr CPU per worker_thread (message protocol in the README); runs compiled (dist/worker.js). */
import { parentPort, workerData } from "node:worker_threads";
import { createTransport, frameBatchCount, subjects, type InprocLink, type Subscription, type Transport } from "@dfly/transport";
import { type RouteSpec, type TopologyMsg } from "@dfly/wire";
import { startNetisr, type NetisrHandle, type StartNetisrOptions } from "./cpu.js";
import { loadProgram, type Program, type ProgramSpec } from "./program.js";
import type { IopollOptions } from "./ifpoll.js";
import type { IfStatLayout } from "./if_stats.js";
import type { IpfwSetWire } from "@dfly/wire";
import type { IpfwHookOptions } from "./ip_fw.js";
import { ipfwShowBody } from "./ip_fw_port.js";

export interface NetisrWorkerData {
  cpu: number;
  cluster: string;
  link?: InprocLink;
  natsUrl?: string;
  controlAddr?: string;
  topology?: TopologyMsg;
  routes?: RouteSpec[];
  metricsPort?: number;
  ifpoll?: IopollOptions;
  rxd?: number;
  icmplim?: number;
  echo?: boolean;
  echoIfname?: string;
  /** ifnet's per-packet counters (if_stats.ts): a shared layout's buffer is the same memory in every CPU's thread. */
  ifstat?: IfStatLayout;
  /** TCP on this CPU (startNetisr's `tcp`). */
  tcp?: StartNetisrOptions["tcp"];
  /** The firewall: state table options, a rule set installed at start, states made up front (the benchmark). */
  ipfw?: { options?: IpfwHookOptions; set?: IpfwSetWire; prefill?: number };
  /** Programs to run in this thread once the CPU is ready. */
  programs?: ProgramSpec[];
}

export type NetisrWorkerEvent =
  | { op: "started"; metricsAddr?: string }
  | { op: "ready" }
  | { op: "snapshot"; id: number; snap: unknown }
  | { op: "result"; id: number; ok: boolean; value?: unknown; error?: string }
  | { op: "error"; message: string };

export type NetisrWorkerCommand =
  | { op: "snapshot"; id: number }
  | { op: "call"; id: number; program: number; method: string; args: unknown[] }
  | { op: "stop" };

/** The raw-transport baseline: RX ring batches go back out unchanged. */
async function startEcho(t: Transport, d: NetisrWorkerData): Promise<{ snapshot(): unknown; stop(): void }> {
  const topo = d.topology;
  if (!topo) throw new Error("echo worker needs a topology");
  const idx = topo.cpus.indexOf(d.cpu);
  let frames = 0;
  let batches = 0;
  const subs: Subscription[] = [];
  const out = topo.interfaces.find((i) => i.ifname === (d.echoIfname ?? topo.interfaces[0]?.ifname));
  if (!out) throw new Error(`echo worker: no interface ${d.echoIfname}`);
  const own = out.ringToCpu.indexOf(d.cpu);
  const txRing = own >= 0 ? own : idx % Math.max(1, out.rings);
  const txSubject = subjects.tx(d.cluster, out.ifname, txRing);
  for (const i of topo.interfaces) {
    for (let r = 0; r < i.rings; r++) {
      if (i.ringToCpu[r] !== d.cpu) continue;
      subs.push(
        t.subscribe(subjects.rx(d.cluster, i.ifname, r), (m) => {
          frames += frameBatchCount(m.data);
          batches++;
          t.publish(txSubject, m.data, { transfer: true });
        }),
      );
    }
  }
  await t.flush();
  return {
    snapshot: () => ({ cpu: d.cpu, echo: true, rx: frames, forwarded: frames, batches }),
    stop: () => subs.forEach((s) => s.unsubscribe()),
  };
}

async function run(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error("netisr worker must run in a worker thread");
  const d = workerData as NetisrWorkerData;
  const t = await createTransport(d.link ? { link: d.link } : { natsUrl: d.natsUrl ?? "", name: `dfly-netisr-${d.cpu}` });
  let h: NetisrHandle | undefined;
  let echo: { snapshot(): unknown; stop(): void } | undefined;
  try {
    if (d.echo) echo = await startEcho(t, d);
    else {
      h = await startNetisr({
        transport: t,
        cluster: d.cluster,
        cpu: d.cpu,
        ...(d.controlAddr !== undefined ? { controlAddr: d.controlAddr } : {}),
        ...(d.topology ? { topology: d.topology } : {}),
        ...(d.routes ? { routes: d.routes } : {}),
        ...(d.metricsPort !== undefined ? { metricsPort: d.metricsPort } : {}),
        ...(d.ifpoll ? { ifpoll: d.ifpoll } : {}),
        ...(d.rxd !== undefined ? { rxd: d.rxd } : {}),
        ...(d.icmplim !== undefined ? { icmplim: d.icmplim } : {}),
        ...(d.ifstat ? { ifstat: d.ifstat } : {}),
        ...(d.tcp !== undefined ? { tcp: d.tcp } : {}),
        ...(d.ipfw?.options ? { ipfw: d.ipfw.options } : {}),
      });
      const fw = h.service.netisr.ipfw;
      if (fw && d.ipfw?.set) fw.install(d.ipfw.set, 1);
      if (fw && d.ipfw?.prefill) fw.prefill(d.ipfw.prefill, d.cpu);
    }
  } catch (err) {
    port.postMessage({ op: "error", message: (err as Error).message } satisfies NetisrWorkerEvent);
    await t.close().catch(() => undefined);
    return;
  }
  port.postMessage({ op: "started", ...(h?.metricsAddr ? { metricsAddr: h.metricsAddr } : {}) } satisfies NetisrWorkerEvent);
  const programs: Program[] = [];
  if (h) {
    const hh = h;
    void hh.whenReady().then(async () => {
      try {
        for (const spec of d.programs ?? []) {
          if (!hh.tcp) throw new Error("programs need TCP on the CPU");
          programs.push(await loadProgram(spec, { tcp: hh.tcp, cpu: d.cpu, cluster: d.cluster, transport: t }));
        }
      } catch (err) {
        port.postMessage({ op: "error", message: (err as Error).message } satisfies NetisrWorkerEvent);
        return;
      }
      port.postMessage({ op: "ready" } satisfies NetisrWorkerEvent);
    });
  } else port.postMessage({ op: "ready" } satisfies NetisrWorkerEvent);
  port.on("message", (c: NetisrWorkerCommand) => {
    if (c.op === "snapshot") {
      const snap = h ? { ...h.service.snapshot(), ip: h.service.statsBody().ip, tcp: h.tcp?.statsBody(), rescale: h.tcp?.rescale.statsBody(), programs: programs.map((p) => p.snapshot?.()), ipfw: h.service.netisr.ipfw ? ipfwShowBody(h.service.netisr.ipfw) : undefined } : echo?.snapshot();
      port.postMessage({ op: "snapshot", id: c.id, snap } satisfies NetisrWorkerEvent);
    } else if (c.op === "call") {
      const p = programs[c.program];
      Promise.resolve()
        .then(() => {
          if (!p?.call) throw new Error(`no program ${c.program} with methods`);
          return p.call(c.method, c.args);
        })
        .then(
          (value) => port.postMessage({ op: "result", id: c.id, ok: true, value } satisfies NetisrWorkerEvent),
          (err) => port.postMessage({ op: "result", id: c.id, ok: false, error: (err as Error).message } satisfies NetisrWorkerEvent),
        );
    } else if (c.op === "stop") {
      void (async () => {
        for (const p of programs) await p.stop?.();
        echo?.stop();
        await h?.stop();
        await t.close().catch(() => undefined);
        port.close();
      })();
    }
  });
}

if (parentPort && (workerData as NetisrWorkerData | null)?.cpu !== undefined) void run();
