/**
 * The HTTP short-connection workload over a direct in-memory wire: the server host (every
 * CPU's TCP and an httpd worker per CPU, `HttpServerHost`) and the client host
 * (`HttpClientHost`) in this one thread, frame batches handed across by a function call —
 * the same engines, the same real bytes and checksums, no NIC, no transport, no threads.
 * It is the baseline `dfly bench http-short` measures the embedded and NATS modes against,
 * and the quick way to look at the stack (tests, `--pcap`).
 *
 * The wire is pumped from setImmediate (so timers still run): each round hands every
 * queued batch to the other side, flushes what that produced, and runs the TCP timers of
 * both hosts every 10 ms (hz = 100).
 */
import { parseRouteAddress, type ListenerPolicy, type TcpConfig, type TcpSeg } from "@dfly/core";
import { HttpClientHost, type LatencySummary } from "./httpclient.js";
import { HttpServerHost, type HttpdStats } from "./httpd.js";

/** Addresses of the workload: the server is ix0's address, the clients sit on its /24. */
export const HTTP_SERVER_ADDR = "198.18.0.1";
export function httpClientAddrs(n: number): number[] {
  if (!Number.isInteger(n) || n < 1 || n > 200) throw new RangeError(`client addresses ${n}: want 1..200`);
  const base = parseRouteAddress("198.18.0.10");
  return Array.from({ length: n }, (_, i) => (base + i) >>> 0);
}

/** The paper's test set MSL to 20 ms on both sides (`route change -msl 20`). */
export const HTTP_SHORT_TCP: Partial<TcpConfig> = { msl: 20 };

export interface HttpShortCommon {
  /** Server CPUs. */
  cpus: number;
  /** Client host CPUs (default: as many as the server). */
  clientCpus?: number;
  /** Concurrent clients. */
  clients: number;
  durationMs: number;
  /**
   * Load before the measured window starts (JIT warm-up, the first burst of SYNs); its
   * connections are not counted (default 0).
   */
  warmupMs?: number;
  /** Client source addresses (default 16). */
  clientAddrs?: number;
  config?: Partial<TcpConfig>;
  policy?: ListenerPolicy;
  /** somaxconn for the server (default 1024: raised for the benchmark, as the paper's test did). */
  somaxconn?: number;
  /** Every frame on the wire, both directions (pcap capture). */
  tap?: (frame: Uint8Array, toServer: boolean) => void;
}

export interface HttpShortReport {
  workload: "http-short";
  mode: "direct" | "embedded" | "nats";
  cpus: number;
  clientCpus: number;
  clients: number;
  durationMs: number;
  /** Complete responses within the measured window. */
  completed: number;
  tps: number;
  latency: LatencySummary;
  /** Warm-up before the measured window (not counted). */
  warmupMs?: number;
  errors: Record<string, number>;
  errorCount: number;
  /** Connections still open when the drain gave up. */
  unfinished: number;
  server: { accepted: number; requests: number; responses: number; errors: number; perCpu: HttpShortCpuRow[] };
  client: { started: number; segsIn: number; segsOut: number; wrongcpu: number; connectLocal: number; connectMigrations: number };
}

export interface HttpShortCpuRow {
  cpu: number;
  segsIn: number;
  segsOut: number;
  wrongcpu: number;
  accepted: number;
  completed: number;
}

export interface HttpShortDirectOptions extends HttpShortCommon {
  /** Close worker `worker`'s listener `atMs` into the run (listener-inheritance scenario). */
  closeListener?: { worker: number; atMs: number };
  serverTrace?: (cpu: number, seg: TcpSeg, hash: number) => void;
  clientTrace?: (cpu: number, seg: TcpSeg, hash: number) => void;
  /** Called once the run is over, before the hosts are dropped (tests look inside). */
  inspect?: (server: HttpServerHost, client: HttpClientHost) => void;
}

function forEachFrame(batch: Uint8Array, f: (frame: Uint8Array) => void): void {
  const dv = new DataView(batch.buffer, batch.byteOffset, batch.byteLength);
  const n = dv.getUint32(4, true);
  let o = 12;
  for (let i = 0; i < n; i++) {
    const len = dv.getUint16(o + 4, true);
    f(batch.subarray(o + 8, o + 8 + len));
    o += 8 + len;
  }
}

export function httpdTotalsRow(t: HttpdStats): { accepted: number; requests: number; responses: number; errors: number } {
  return { accepted: t.accepted, requests: t.requests, responses: t.responses, errors: t.errors };
}

/** Runs the workload over the direct wire and reports tps and latency. */
export async function runHttpShortDirect(o: HttpShortDirectOptions): Promise<HttpShortReport> {
  const config = { ...HTTP_SHORT_TCP, ...o.config };
  const toServer: Uint8Array[] = [];
  const toClient: Uint8Array[] = [];
  const server = new HttpServerHost({
    cpus: o.cpus,
    config,
    send: (b) => toClient.push(b),
    ...(o.policy ? { policy: o.policy } : {}),
    somaxconn: o.somaxconn ?? 1024,
    ...(o.serverTrace ? { trace: o.serverTrace } : {}),
  });
  const clientCpus = o.clientCpus ?? o.cpus;
  const client = new HttpClientHost({
    cpus: clientCpus,
    clients: o.clients,
    server: parseRouteAddress(HTTP_SERVER_ADDR),
    addrs: httpClientAddrs(o.clientAddrs ?? 16),
    config,
    send: (b) => toServer.push(b),
    ...(o.clientTrace ? { trace: o.clientTrace } : {}),
  });
  await server.start();
  const now = () => performance.now();
  let lastTick = now();
  let done = false;
  const tap = o.tap;
  // The listener close happens right after a server step (from `atMs` on) that leaves
  // handshakes in flight: the direct wire runs both hosts in lockstep, so a timer would land
  // at the same phase every time, often one with no half-open connection to inherit.
  let closeAt = Infinity;
  const closeNow = () => {
    closeAt = Infinity;
    const w = o.closeListener ? server.workers[o.closeListener.worker] : undefined;
    void w?.closeListener().catch(() => undefined);
  };
  const pump = () => {
    let rounds = 0;
    client.flush();
    server.flush();
    while ((toServer.length > 0 || toClient.length > 0) && rounds < 32) {
      rounds++;
      if (toServer.length) {
        const l = toServer.splice(0);
        for (const b of l) {
          if (tap) forEachFrame(b, (f) => tap(f, true));
          server.rxBatch(b);
        }
        if (now() >= closeAt && server.host.syncaches.some((sc) => sc.count > 0)) closeNow();
        server.flush();
      }
      if (toClient.length) {
        const l = toClient.splice(0);
        for (const b of l) {
          if (tap) forEachFrame(b, (f) => tap(f, false));
          client.rxBatch(b);
        }
        client.flush();
      }
    }
    const t = now();
    if (t - lastTick >= 10) {
      lastTick = t;
      server.tick(t);
      client.tick(t);
      client.flush();
      server.flush();
    }
    if (!done) setImmediate(pump);
  };
  client.start();
  setImmediate(pump);
  if (o.warmupMs) {
    await new Promise((r) => setTimeout(r, o.warmupMs));
    client.resetStats();
  }
  const t0 = now();
  if (o.closeListener) closeAt = t0 + o.closeListener.atMs;
  await new Promise((r) => setTimeout(r, o.durationMs));
  const completed = client.stats.completed;
  const elapsed = now() - t0;
  const drained = await client.stop(5000);
  done = true;
  o.inspect?.(server, client);
  const perCpu: HttpShortCpuRow[] = server.host.local.map((i) => {
    const s = server.host.cpu(i).stats;
    return { cpu: i, segsIn: s.segsIn, segsOut: s.segsOut, wrongcpu: s.wrongcpu, accepted: s.accepted, completed: s.completed };
  });
  const cc = client.counters();
  const report: HttpShortReport = {
    workload: "http-short",
    mode: "direct",
    cpus: o.cpus,
    clientCpus,
    clients: o.clients,
    durationMs: Math.round(elapsed),
    completed,
    tps: Math.round(completed / (elapsed / 1000)),
    latency: client.latency.summary(),
    errors: { ...client.stats.errors },
    errorCount: client.stats.errorCount,
    unfinished: drained ? 0 : client.active,
    server: { ...httpdTotalsRow(server.totals()), perCpu },
    client: { started: client.stats.started, ...cc },
    ...(o.warmupMs ? { warmupMs: o.warmupMs } : {}),
  };
  client.close();
  return report;
}
