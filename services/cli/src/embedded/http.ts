/**
 * The `http-short` workload (paper §1.9: nginx, a 1 KB object, HTTP/1.1, one request per
 * connection) on the real parts:
 *
 *   - the server host: N netisr CPUs (worker threads, or processes' worth of NATS clients),
 *     each running TCP on its partition and an httpd worker in its own thread with its own
 *     SO_REUSEPORT listener, registered through the control's SocketService in CPU order
 *     (worker w holds slot w, so with N workers every SYN's listener is on its own CPU);
 *   - the NIC (ix0, 82599, interrupt moderation) steering wire frames to the CPUs' rings by
 *     the symmetric Toeplitz hash;
 *   - the client host on ix0's wire (this thread): its own CPUs and TCP engines, C clients.
 *
 * The bus is the in-process transport (embedded) or a nats-server (nats). `tap` sees every
 * frame on the wire in both directions (pcap capture). `closeListener` closes one worker's
 * listener mid-run (the listener-inheritance scenario under load).
 */
import { Worker } from "node:worker_threads";
import {
  HTTP_SERVER_ADDR,
  HTTP_SHORT_TCP,
  HttpClientHost,
  HttpdWorker,
  clientSnapshot,
  httpClientWorkerPath,
  latencyFromSnapshot,
  type HttpClientSnapshot,
  type HttpClientWorkerCommand,
  type HttpClientWorkerData,
  type HttpClientWorkerEvent,
  httpClientAddrs,
  httpdProgramModule,
  type HttpShortCommon,
  type HttpShortCpuRow,
  type HttpShortReport,
} from "@dfly/apps";
import { parseRouteAddress } from "@dfly/core";
import type { ModerationConfig } from "@dfly/nic";
import { ControlClient } from "@dfly/control";
import { attachSockEvents, ControlListenBackend, PortSockRemote, Sockets, TcpHost } from "@dfly/netisr";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { subjects } from "@dfly/transport";
import { startLocalNats } from "../bench/forward.js";
import { EmbeddedCluster } from "./cluster.js";
import type { RunProgress } from "./forward.js";
import { onInterrupt } from "../local/interrupt.js";

export interface HttpShortRunOptions extends HttpShortCommon {
  /**
   * Where the httpd workers run: "cpu" (default) — one in each netisr thread, its sockets
   * local; "remote" — all in this thread, every socket call a netmsg to the socket's CPU and
   * every event a message back (the user/kernel boundary of the paper's §2.4).
   */
  httpd?: "cpu" | "remote";
  /** httpd sends synchronously (waits for the CPU) instead of asynchronously. */
  syncSend?: boolean;
  /**
   * "per-cpu" (default): one SO_REUSEPORT listener per CPU's httpd worker; "one": a single
   * listener without SO_REUSEPORT, held by CPU 0's worker, which accepts every connection
   * (the other CPUs' connections over the ports), as nginx without `reuseport`.
   */
  listeners?: "per-cpu" | "one";
  /** ix0's NIC model and mode (default 82599, interrupt). */
  nic?: { model?: string; mode?: "interrupt" | "polling" };
  /**
   * Run the client host in a worker thread of its own (default false: in this thread, with
   * the NIC — measured faster on 2 cores: one thread fewer competing for them).
   */
  clientThread?: boolean;
  transport?: "embedded" | "nats";
  /** NATS server (default: a local nats-server -js started for the run). */
  natsUrl?: string;
  moderation?: Partial<ModerationConfig>;
  /** Close CPU `cpu`'s httpd listener `atMs` into the run. */
  closeListener?: { cpu: number; atMs: number };
  /** Called `atMs` into the run with the cluster (tests: netstat -an under load). */
  during?: { atMs: number; f: (ec: EmbeddedCluster) => Promise<unknown> };
  log?: (s: string) => void;
  /** Progress of the measured run (completed transactions), a line a second. */
  progress?: RunProgress;
}

export interface HttpShortRunReport extends HttpShortReport {
  /** What closing the listener did (when asked for). */
  listenerClose?: { cpu: number; atMs: number; migrated: number; dropped: number; heir: string; error?: string };
  /** CPU time this process (every thread) used while the `completed` transactions were measured. */
  cpuMs: number;
  /** Per-CPU TCP counters as the CPUs report them (netstat -s tcp). */
  tcpPerCpu: Record<string, number>[];
  /** What each CPU's httpd worker did (it may accept other CPUs' connections, e.g. as an heir). */
  httpdPerCpu: { cpu: number; accepted: number; requests: number; responses: number; errors: number }[];
  /** Segments each client CPU processed (the client host's own partition). */
  clientPerCpu: { cpu: number; segsIn: number; segsOut: number; wrongcpu: number; connectMigrations: number }[];
  /** The NIC's counters (frames per ring, interrupts). */
  nic: Record<string, { rx: number[]; tx: number[]; dropped: Record<string, number>; interrupts: number }>;
}

function forEachFrame(batch: Uint8Array, f: (frame: Uint8Array) => void): void {
  const dv = new DataView(batch.buffer, batch.byteOffset, batch.byteLength);
  const n = dv.getUint32(4, true);
  let o = 12;
  for (let i = 0; i < n && o + 8 <= batch.length; i++) {
    const len = dv.getUint16(o + 4, true);
    f(batch.subarray(o + 8, o + 8 + len));
    o += 8 + len;
  }
}

interface WorkerSnap {
  tcp?: Record<string, Record<string, number>>;
  rescale?: Record<string, number>;
  programs?: ({ accepted: number; requests: number; responses: number; errors: number } | undefined)[];
}

export async function runHttpShort(o: HttpShortRunOptions): Promise<HttpShortRunReport> {
  const log = o.log ?? (() => undefined);
  if (o.listeners === "one" && o.httpd === "remote") throw new Error('listeners "one" needs the httpd workers in the CPUs\' threads (httpd "cpu")');
  const config = { ...HTTP_SHORT_TCP, ...o.config };
  const mode = o.transport ?? "embedded";
  let nats: Awaited<ReturnType<typeof startLocalNats>> | undefined;
  let natsUrl = o.natsUrl;
  let store: string | undefined;
  let release = () => {};
  if (mode === "nats" && !natsUrl) {
    // A fresh JetStream store: nothing from an earlier run (routes, listeners) is replayed.
    const dir = mkdtempSync(join(tmpdir(), "dfly-nats-"));
    store = dir;
    // Interrupted (Ctrl-C): the nats-server and its store go too.
    release = onInterrupt(async () => {
      await stopNats(nats);
      rmSync(dir, { recursive: true, force: true });
    });
    nats = await startLocalNats(["-js", "-sd", store]);
    natsUrl = nats.url;
    log(`nats-server: ${natsUrl}`);
  }
  // Over NATS the KV buckets are named after the cluster: a fresh name per run.
  const cluster = mode === "nats" ? `httpshort${process.pid}x${Date.now().toString(36)}` : undefined;
  let ec: EmbeddedCluster | undefined;
  let client: ClientSide | undefined;
  try {
    ec = await EmbeddedCluster.start({
      cpus: o.cpus,
      ...(cluster ? { cluster } : {}),
      interfaces: [{ ifname: "ix0", model: o.nic?.model ?? "82599", mode: o.nic?.mode ?? "interrupt" }],
      routes: [{ prefix: "198.18.0.0/24", ifname: "ix0" }],
      tcp: { config, somaxconn: o.somaxconn ?? 1024 },
      programs:
        o.httpd === "remote"
          ? []
          : [{ module: httpdProgramModule(), export: "httpdProgram", options: { ...(o.syncSend ? { syncSend: true } : {}), ...(o.listeners === "one" ? { reuseport: false } : {}) } }],
      ...(o.policy ? { listenerPolicy: o.policy } : {}),
      ...(natsUrl ? { natsUrl } : {}),
      ...(o.moderation ? { moderation: o.moderation } : {}),
      log,
    });
    // nginx's master starts its workers in order: worker w gets SO_REUSEPORT slot w.
    const remote = o.httpd === "remote" ? await remoteHttpd(ec, o.cpus, o.syncSend === true) : undefined;
    if (!remote) for (const w of o.listeners === "one" ? ec.workers.slice(0, 1) : ec.workers) await w.call(0, "listen");
    log(`httpd: ${ec.workers.length} workers ${remote ? "in this thread (remote sockets)" : "in the CPUs' threads"} listening on ${HTTP_SERVER_ADDR}:80`);

    const t = ec.transport;
    const wireIn = subjects.wireIn(ec.cluster, "ix0");
    const tap = o.tap;
    let lastWire = performance.now();
    const clientCpus = o.clientCpus ?? o.cpus;
    const clientOpts = {
      cpus: clientCpus,
      clients: o.clients,
      server: parseRouteAddress(HTTP_SERVER_ADDR),
      addrs: httpClientAddrs(o.clientAddrs ?? 16),
      config,
    };
    const subs: { unsubscribe(): void }[] = [];
    if (o.clientThread !== true) {
      const host = new HttpClientHost({
        ...clientOpts,
        send: (b) => {
          lastWire = performance.now();
          if (tap) forEachFrame(b, (f) => tap(f, true));
          t.publish(wireIn, b, { transfer: true });
        },
      });
      subs.push(
        t.subscribe(subjects.wireOut(ec.cluster, "ix0"), (m) => {
          lastWire = performance.now();
          if (tap) forEachFrame(m.data, (f) => tap(f, false));
          host.rxBatch(m.data);
        }),
      );
      client = inThreadClient(host);
    } else {
      // The client host in a thread of its own; this thread only watches the wire.
      subs.push(
        t.subscribe(wireIn, (m) => {
          lastWire = performance.now();
          if (tap) forEachFrame(m.data, (f) => tap(f, true));
        }),
      );
      if (tap) subs.push(t.subscribe(subjects.wireOut(ec.cluster, "ix0"), (m) => forEachFrame(m.data, (f) => tap(f, false))));
      client = await ClientThread.start({
        kind: "dfly-httpclient",
        ...(natsUrl ? { natsUrl } : { link: ec.hub.link() }),
        cluster: ec.cluster,
        ifname: "ix0",
        ...clientOpts,
      });
    }
    await t.flush();
    // The measured run is the steady state: the CPUs registered one after the other, and
    // each topology change starts a grace period (live rescale holds segments of connections
    // that may live elsewhere); wait for it to end on every CPU before the load starts.
    await ec.graceOver(10_000, (wait) => log(`waiting ${wait} ms for the topology's grace period to end`));
    let listenerClose: HttpShortRunReport["listenerClose"];
    const timers: NodeJS.Timeout[] = [];
    const side: Promise<unknown>[] = [];
    client.start();
    if (o.warmupMs) {
      await new Promise((r) => setTimeout(r, o.warmupMs));
      client.reset();
    }
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    if (o.closeListener) {
      const { cpu, atMs } = o.closeListener;
      timers.push(
        setTimeout(() => {
          side.push(
            ec!.workers[cpu].call<{ migrated: number; dropped: number; heir: string }>(0, "closeListener").then(
              (r) => void (listenerClose = { cpu, atMs, ...r }),
              (err: Error) => void (listenerClose = { cpu, atMs, migrated: 0, dropped: 0, heir: "", error: err.message }),
            ),
          );
        }, atMs),
      );
    }
    if (o.during) {
      const d = o.during;
      timers.push(setTimeout(() => side.push(d.f(ec!)), d.atMs));
    }
    let last = { total: 0, errors: 0 };
    let poll: NodeJS.Timeout | undefined;
    const endProgress = o.progress?.(() => last);
    const cl = client;
    if (endProgress) {
      // The sampler is synchronous: the client thread's totals are fetched a little ahead of it.
      poll = setInterval(() => {
        cl.snapshot().then(
          (sn) => void (last = { total: sn.completed, errors: Object.values(sn.errors).reduce((a, b) => a + b, 0) }),
          () => undefined,
        );
      }, 500);
    }
    await new Promise((r) => setTimeout(r, o.durationMs));
    if (poll) clearInterval(poll);
    endProgress?.();
    const atEnd = await client.snapshot();
    const completed = atEnd.completed;
    const elapsed = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const { drained } = await client.stop(5000);
    for (const x of timers) clearTimeout(x);
    await Promise.allSettled(side);
    // The last FINs and ACKs are still on their way: wait for the wire to go quiet.
    const settleEnd = performance.now() + 2000;
    while (performance.now() - lastWire < 100 && performance.now() < settleEnd) {
      ec.nic.nic.flush();
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const x of subs) x.unsubscribe();
    // After the settle: every segment the client host will ever see has been processed.
    const cs = await client.snapshot();
    const snaps = (await Promise.all(ec.workers.map((w) => w.snapshot<WorkerSnap>()))).map((s) => s ?? {});
    if (remote) snaps.forEach((s, i) => (s.programs = [remote.workers[i].stats]));
    const perCpu: HttpShortCpuRow[] = snaps.map((s, i) => {
      const tcp = s.tcp?.tcp ?? {};
      return {
        cpu: ec!.workers[i].cpu,
        segsIn: tcp.segs_in ?? 0,
        segsOut: tcp.segs_out ?? 0,
        wrongcpu: tcp.wrongcpu ?? 0,
        accepted: tcp.accepts_taken ?? 0,
        completed: tcp.accepts_queued ?? 0,
      };
    });
    const httpd = { accepted: 0, requests: 0, responses: 0, errors: 0 };
    for (const s of snaps) {
      const p = s.programs?.[0];
      if (!p) continue;
      httpd.accepted += p.accepted;
      httpd.requests += p.requests;
      httpd.responses += p.responses;
      httpd.errors += p.errors;
    }
    const sum = (f: (c: HttpClientSnapshot["perCpu"][number]) => number) => cs.perCpu.reduce((n, c) => n + f(c), 0);
    const cc = {
      segsIn: sum((c) => c.segsIn),
      segsOut: sum((c) => c.segsOut),
      wrongcpu: sum((c) => c.wrongcpu),
      connectLocal: sum((c) => c.connectLocal),
      connectMigrations: sum((c) => c.connectMigrations),
    };
    const errorCount = Object.values(cs.errors).reduce((n, v) => n + v, 0);
    const report: HttpShortRunReport = {
      workload: "http-short",
      mode,
      cpus: o.cpus,
      clientCpus,
      clients: o.clients,
      durationMs: Math.round(elapsed),
      completed,
      tps: Math.round(completed / (elapsed / 1000)),
      latency: latencyFromSnapshot(cs.latency).summary(),
      errors: cs.errors,
      errorCount,
      unfinished: drained ? 0 : cs.active,
      server: { ...httpd, perCpu },
      client: { started: cs.started, ...cc },
      ...(o.warmupMs ? { warmupMs: o.warmupMs } : {}),
      cpuMs: Math.round((cpu.user + cpu.system) / 1000),
      tcpPerCpu: snaps.map((s) => s.tcp?.tcp ?? {}),
      httpdPerCpu: snaps.map((s, i) => {
        const p = s.programs?.[0];
        return { cpu: ec!.workers[i].cpu, accepted: p?.accepted ?? 0, requests: p?.requests ?? 0, responses: p?.responses ?? 0, errors: p?.errors ?? 0 };
      }),
      nic: ec.nic.nic.snapshot(),
      clientPerCpu: cs.perCpu.map((c) => ({ cpu: c.cpu, segsIn: c.segsIn, segsOut: c.segsOut, wrongcpu: c.wrongcpu, connectMigrations: c.connectMigrations })),
      ...(listenerClose ? { listenerClose } : {}),
    };
    remote?.stop();
    return report;
  } finally {
    await client?.close();
    await ec?.stop();
    await nats?.stop();
    if (store) rmSync(store, { recursive: true, force: true });
    release();
  }
}

/** SIGTERM, and SIGKILL if it is still there after 3 s. */
async function stopNats(nats: Awaited<ReturnType<typeof startLocalNats>> | undefined): Promise<void> {
  if (!nats) return;
  const t = setTimeout(() => nats.child.kill("SIGKILL"), 3000);
  await nats.stop();
  clearTimeout(t);
}

/** The report as text (what `dfly run --workload http-short` prints without --json). */
export function formatHttpShortReport(r: HttpShortReport & Partial<Pick<HttpShortRunReport, "listenerClose">>): string {
  const out: string[] = [];
  out.push(
    `dfly run --workload http-short (${r.mode}): ${r.cpus} server CPUs, ${r.clientCpus} client CPUs, ${r.clients} clients, ${r.durationMs} ms` +
      (r.warmupMs ? ` (after ${r.warmupMs} ms warm-up)` : ""),
  );
  out.push(`  tps ${r.tps}   latency avg ${r.latency.avgMs} ms  p50 ${r.latency.p50Ms} ms  p99 ${r.latency.p99Ms} ms  max ${r.latency.maxMs} ms`);
  out.push(`  completed ${r.completed}, errors ${r.errorCount}${r.errorCount ? ` (${Object.entries(r.errors).map(([k, v]) => `${k}=${v}`).join(" ")})` : ""}${r.unfinished ? `, ${r.unfinished} unfinished` : ""}`);
  out.push("");
  out.push(`  ${"cpu".padStart(3)} ${"segs in".padStart(10)} ${"segs out".padStart(10)} ${"wrongcpu".padStart(8)} ${"queued".padStart(8)} ${"accepted".padStart(8)}`);
  for (const c of r.server.perCpu) {
    out.push(`  ${String(c.cpu).padStart(3)} ${String(c.segsIn).padStart(10)} ${String(c.segsOut).padStart(10)} ${String(c.wrongcpu).padStart(8)} ${String(c.completed).padStart(8)} ${String(c.accepted).padStart(8)}`);
  }
  out.push(`  httpd: accepted ${r.server.accepted}, requests ${r.server.requests}, responses ${r.server.responses}, errors ${r.server.errors}`);
  out.push(
    `  client host: ${r.client.started} connections, segs in ${r.client.segsIn} / out ${r.client.segsOut}, wrongcpu ${r.client.wrongcpu}, connect local ${r.client.connectLocal} / migrated ${r.client.connectMigrations}`,
  );
  if (r.listenerClose) {
    const l = r.listenerClose;
    out.push(`  listener of cpu ${l.cpu} closed at ${l.atMs} ms: migrated ${l.migrated}, dropped ${l.dropped}, heir ${l.heir || "-"}${l.error ? ` (${l.error})` : ""}`);
  }
  return out.join("\n") + "\n";
}

/** httpd workers in this thread, one per CPU, each reaching its sockets over the CPUs' ports. */
async function remoteHttpd(ec: EmbeddedCluster, cpus: number, syncSend: boolean): Promise<{ workers: HttpdWorker[]; stop(): void }> {
  const host = new TcpHost({ ncpus: cpus, local: [], output: () => undefined });
  const client = new ControlClient(ec.control.grpcAddr);
  const backend = new ControlListenBackend(client);
  const live = ec.control.parts.cluster.liveCpus();
  const workers: HttpdWorker[] = [];
  const subs: { unsubscribe(): void }[] = [];
  for (let w = 0; w < cpus; w++) {
    const sockets = new Sockets({
      host,
      cpu: w,
      owner: `httpd-remote-${w}`,
      listen: backend,
      remote: new PortSockRemote(ec.transport, ec.cluster, (i) => live[i] ?? i),
    });
    subs.push(attachSockEvents(ec.transport, ec.cluster, sockets));
    workers.push(new HttpdWorker({ sockets, ...(syncSend ? { syncSend: true } : {}) }));
  }
  await ec.transport.flush();
  for (const w of workers) await w.start();
  return {
    workers,
    stop: () => {
      for (const s of subs) s.unsubscribe();
      client.close();
    },
  };
}

/** The client host seen from the runner, wherever it runs. */
interface ClientSide {
  start(): void;
  reset(): void;
  snapshot(): Promise<HttpClientSnapshot>;
  stop(timeoutMs: number): Promise<{ drained: boolean; snap: HttpClientSnapshot }>;
  close(): Promise<void>;
}

function inThreadClient(c: HttpClientHost): ClientSide {
  const ticker = setInterval(() => c.tick(), 10);
  return {
    start: () => c.start(),
    reset: () => c.resetStats(),
    snapshot: async () => clientSnapshot(c),
    stop: async (ms) => {
      const drained = await c.stop(ms);
      return { drained, snap: clientSnapshot(c) };
    },
    close: async () => {
      clearInterval(ticker);
      c.close();
    },
  };
}

/** The client host in its own worker thread (services/apps/dist/httpclient_worker.js). */
class ClientThread implements ClientSide {
  private nextId = 1;
  private closed = false;
  private readonly waits = new Map<number, (e: HttpClientWorkerEvent) => void>();
  private constructor(private readonly w: Worker) {
    w.on("message", (e: HttpClientWorkerEvent) => {
      if (e.op === "snapshot" || e.op === "stopped") {
        const f = this.waits.get(e.id);
        this.waits.delete(e.id);
        f?.(e);
      }
    });
  }

  static async start(data: HttpClientWorkerData): Promise<ClientThread> {
    const w = new Worker(httpClientWorkerPath(), { workerData: data, transferList: data.link ? [...data.link.transferList] : [] });
    await new Promise<void>((res, rej) => {
      const onMsg = (e: HttpClientWorkerEvent) => {
        if (e.op === "ready") res();
        else if (e.op === "error") rej(new Error(`client host thread: ${e.message}`));
      };
      w.on("message", onMsg);
      w.once("error", rej);
      w.once("exit", (code) => rej(new Error(`client host thread exited (${code})`)));
    });
    return new ClientThread(w);
  }

  private ask(cmd: { op: "snapshot" } | { op: "stop"; timeoutMs: number }): Promise<HttpClientWorkerEvent> {
    const id = this.nextId++;
    return new Promise((res) => {
      this.waits.set(id, res);
      this.w.postMessage({ ...cmd, id } satisfies HttpClientWorkerCommand);
    });
  }

  start(): void {
    this.w.postMessage({ op: "start" } satisfies HttpClientWorkerCommand);
  }
  reset(): void {
    this.w.postMessage({ op: "reset" } satisfies HttpClientWorkerCommand);
  }
  async snapshot(): Promise<HttpClientSnapshot> {
    const e = await this.ask({ op: "snapshot" });
    return (e as { snap: HttpClientSnapshot }).snap;
  }
  async stop(timeoutMs: number): Promise<{ drained: boolean; snap: HttpClientSnapshot }> {
    const e = (await this.ask({ op: "stop", timeoutMs })) as Extract<HttpClientWorkerEvent, { op: "stopped" }>;
    return { drained: e.drained, snap: e.snap };
  }
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const gone = new Promise<void>((res) => this.w.once("exit", () => res()));
    this.w.postMessage({ op: "close" } satisfies HttpClientWorkerCommand);
    const t = setTimeout(() => void this.w.terminate(), 2000);
    await gone;
    clearTimeout(t);
  }
}
