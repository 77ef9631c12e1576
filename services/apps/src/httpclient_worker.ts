/**
 * The HTTP client host in a worker thread of its own (the paper's client boxes are other
 * machines; here they are at least another thread): it joins the bus (an in-process link or a
 * NATS URL), sends on `<c>.wire.<if>.in` and reads `<c>.wire.<if>.out`, and runs the load.
 *
 *   parent → worker  { op: "start" } · { op: "reset" } · { op: "snapshot", id } · { op: "stop", id, timeoutMs } · { op: "close" }
 *   worker → parent  { op: "ready" } · { op: "snapshot", id, snap } · { op: "stopped", id, drained, snap } · { op: "error", message }
 *
 * This file runs as compiled JavaScript (services/apps/dist/httpclient_worker.js).
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { parentPort, workerData } from "node:worker_threads";
import { createTransport, subjects, type InprocLink } from "@dfly/transport";
import type { TcpConfig } from "@dfly/core";
import { HttpClientHost, LatencyHistogram } from "./httpclient.js";

export interface HttpClientWorkerData {
  /** Marks this thread as a client host (the module is also imported elsewhere). */
  kind: "dfly-httpclient";
  link?: InprocLink;
  natsUrl?: string;
  cluster: string;
  ifname: string;
  cpus: number;
  clients: number;
  server: number;
  port?: number;
  addrs: number[];
  config?: Partial<TcpConfig>;
}

/** What the worker reports (plain data: it crosses threads). */
export interface HttpClientSnapshot {
  started: number;
  completed: number;
  bytes: number;
  errors: Record<string, number>;
  active: number;
  latency: { counts: number[]; count: number; sum: number; min: number; max: number };
  perCpu: { cpu: number; segsIn: number; segsOut: number; wrongcpu: number; connectLocal: number; connectMigrations: number }[];
}

export type HttpClientWorkerCommand =
  | { op: "start" }
  | { op: "reset" }
  | { op: "snapshot"; id: number }
  | { op: "stop"; id: number; timeoutMs: number }
  | { op: "close" };

export type HttpClientWorkerEvent =
  | { op: "ready" }
  | { op: "snapshot"; id: number; snap: HttpClientSnapshot }
  | { op: "stopped"; id: number; drained: boolean; snap: HttpClientSnapshot }
  | { op: "error"; message: string };

export function clientSnapshot(c: HttpClientHost): HttpClientSnapshot {
  const l = c.latency;
  return {
    started: c.stats.started,
    completed: c.stats.completed,
    bytes: c.stats.bytes,
    errors: { ...c.stats.errors },
    active: c.active,
    latency: { counts: [...l.counts], count: l.count, sum: l.sum, min: l.min === Infinity ? 0 : l.min, max: l.max },
    perCpu: c.host.local.map((i) => {
      const s = c.host.cpu(i).stats;
      const p = c.host.pcb.stats[i];
      return { cpu: i, segsIn: s.segsIn, segsOut: s.segsOut, wrongcpu: s.wrongcpu, connectLocal: p.connectLocal, connectMigrations: p.connectMigrations };
    }),
  };
}

/** A histogram back from its snapshot. */
export function latencyFromSnapshot(s: HttpClientSnapshot["latency"]): LatencyHistogram {
  const h = new LatencyHistogram();
  h.counts.set(s.counts.slice(0, h.counts.length));
  h.count = s.count;
  h.sum = s.sum;
  h.min = s.count ? s.min : Infinity;
  h.max = s.max;
  return h;
}

/** Path of the compiled worker entry. */
export function httpClientWorkerPath(): string {
  const index = createRequire(import.meta.url).resolve("@dfly/apps");
  const p = join(dirname(index), "httpclient_worker.js");
  if (!existsSync(p)) throw new Error(`${p} is missing: run "make build" (workers load compiled JavaScript)`);
  return p;
}

async function run(): Promise<void> {
  const port = parentPort!;
  const d = workerData as HttpClientWorkerData;
  let t;
  try {
    t = await createTransport(d.link ? { link: d.link } : { natsUrl: d.natsUrl ?? "", name: "dfly-httpclient" });
  } catch (err) {
    port.postMessage({ op: "error", message: (err as Error).message } satisfies HttpClientWorkerEvent);
    return;
  }
  const tr = t;
  const wireIn = subjects.wireIn(d.cluster, d.ifname);
  const client = new HttpClientHost({
    cpus: d.cpus,
    clients: d.clients,
    server: d.server,
    ...(d.port !== undefined ? { port: d.port } : {}),
    addrs: d.addrs,
    ...(d.config ? { config: d.config } : {}),
    send: (b) => tr.publish(wireIn, b, { transfer: true }),
  });
  const sub = tr.subscribe(subjects.wireOut(d.cluster, d.ifname), (m) => client.rxBatch(m.data));
  await tr.flush();
  const ticker = setInterval(() => client.tick(), 10);
  port.on("message", (c: HttpClientWorkerCommand) => {
    switch (c.op) {
      case "start":
        client.start();
        return;
      case "reset":
        client.resetStats();
        return;
      case "snapshot":
        port.postMessage({ op: "snapshot", id: c.id, snap: clientSnapshot(client) } satisfies HttpClientWorkerEvent);
        return;
      case "stop":
        void client.stop(c.timeoutMs).then((drained) => port.postMessage({ op: "stopped", id: c.id, drained, snap: clientSnapshot(client) } satisfies HttpClientWorkerEvent));
        return;
      case "close":
        clearInterval(ticker);
        sub.unsubscribe();
        client.close();
        void tr.close().finally(() => port.close());
        return;
    }
  });
  port.postMessage({ op: "ready" } satisfies HttpClientWorkerEvent);
}

if (parentPort && (workerData as Partial<HttpClientWorkerData> | null)?.kind === "dfly-httpclient") void run();
