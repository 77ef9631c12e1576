/**
 * Real Linux peers over a TUN device (embedded mode):
 *
 *   - `serve`: the stack (N netisr CPUs, the NIC with ix0 = 198.18.0.1/24 wired to the TUN
 *     device) runs the servers of services/apps serve.ts; Linux reaches them at 198.18.0.1
 *     from the device's side (default 198.18.0.2/24);
 *   - `client`: our TCP (an emulated client host at 198.18.0.1, services/apps httpclient.ts)
 *     runs HTTP short connections against a real server on the Linux side.
 */
import { HttpClientHost, clientSnapshot, latencyFromSnapshot, serveProgramModule, type HttpClientSnapshot } from "@dfly/apps";
import { parseRouteAddress, type TcpConfig } from "@dfly/core";
import { PcapFile, TunDevice, type ImpairConfig, type TunWireSpec } from "@dfly/nic";
import { EmbeddedCluster } from "./cluster.js";

/** ix0's address (the NIC's default for unit 0, defaultIfAddress) and its connected prefix. */
export const TUN_STACK_ADDR = "198.18.0.1";
export const TUN_STACK_PREFIX = "198.18.0.0/24";

export interface ServeRunOptions {
  cpus: number;
  tun: string;
  tunAddr?: string;
  pcap?: string;
  impair?: ImpairConfig;
  /** TCP settings on every CPU (TcpConfig fields). */
  tcpConfig?: Partial<TcpConfig>;
  /** Run this long; absent: until `stop` resolves. */
  durationMs?: number;
  stop: Promise<unknown>;
  log: (s: string) => void;
  /** net.inet sysctls written through the control once every CPU is up (as `dfly sysctl -w`). */
  sysctl?: { name: string; value: string }[];
}

export interface ServeReport {
  workload: "serve";
  tun: string;
  durationMs: number;
  serve: Record<string, number>;
  nic: Record<string, { rx: number[]; tx: number[]; dropped: Record<string, number>; interrupts: number }>;
  tcp: Record<string, number>;
  /** ipstat sums (ip_reass: fragments, reassembled, fragdropped, …). */
  ip: Record<string, number>;
  pcap?: { file: string; frames: number };
}

interface ServeSnap {
  ip?: Record<string, number>;
  tcp?: Record<string, Record<string, number>>;
  programs?: (Record<string, number> | undefined)[];
}

export async function runServe(o: ServeRunOptions): Promise<ServeReport> {
  const spec: TunWireSpec = { tun: o.tun, ...(o.tunAddr ? { addr: o.tunAddr } : {}), ...(o.pcap ? { pcap: o.pcap } : {}) };
  const ec = await EmbeddedCluster.start({
    cpus: o.cpus,
    interfaces: [{ ifname: "ix0", model: "82599", mode: "interrupt" }],
    wires: new Map([["ix0", spec]]),
    routes: [{ prefix: TUN_STACK_PREFIX, ifname: "ix0" }],
    programs: [{ module: serveProgramModule(), export: "serveProgram" }],
    tcp: { somaxconn: 1024, ...(o.tcpConfig ? { config: o.tcpConfig } : {}) },
    ...(o.impair ? { impair: o.impair } : {}),
    log: () => undefined,
  });
  try {
    if (o.sysctl) await ec.control.parts.sysctl!.set(o.sysctl);
    for (const w of ec.workers) await w.call(0, "listen");
    const t0 = performance.now();
    o.log(`dfly serve: ${TUN_STACK_ADDR} http :80, echo :7, discard :9 on ${o.cpus} CPUs; tun ${o.tun} (Linux side ${o.tunAddr ?? "198.18.0.2/24"})`);
    const waits: Promise<unknown>[] = [o.stop];
    let timer: NodeJS.Timeout | undefined;
    if (o.durationMs !== undefined) waits.push(new Promise((r) => (timer = setTimeout(r, o.durationMs))));
    await Promise.race(waits);
    if (timer) clearTimeout(timer);
    const snaps = (await Promise.all(ec.workers.map((w) => w.snapshot<ServeSnap>()))).map((s) => s ?? {});
    const serve: Record<string, number> = {};
    const tcp: Record<string, number> = {};
    const ip: Record<string, number> = {};
    for (const s of snaps) {
      for (const [k, v] of Object.entries(s.ip ?? {})) ip[k] = (ip[k] ?? 0) + v;
      for (const [k, v] of Object.entries(s.programs?.[0] ?? {})) serve[k] = (serve[k] ?? 0) + v;
      for (const [k, v] of Object.entries(s.tcp?.tcp ?? {})) tcp[k] = (tcp[k] ?? 0) + v;
    }
    const tw = ec.nic.tunWires.get("ix0");
    return {
      workload: "serve",
      tun: o.tun,
      durationMs: Math.round(performance.now() - t0),
      serve,
      nic: ec.nic.nic.snapshot(),
      tcp,
      ip,
      ...(tw?.pcap ? { pcap: { file: tw.pcap.path, frames: tw.pcap.frames } } : {}),
    };
  } finally {
    await ec.stop();
  }
}

export interface TunClientOptions {
  tun: string;
  tunAddr?: string;
  /** The real server, a.b.c.d:port on the Linux side. */
  target: { addr: number; port: number };
  clients: number;
  durationMs: number;
  /** Stop after this many responses (default: the duration decides). */
  requests?: number;
  path?: string;
  pcap?: string;
  stop: Promise<unknown>;
  log: (s: string) => void;
}

export interface TunClientReport {
  workload: "http-short";
  tun: string;
  target: string;
  durationMs: number;
  completed: number;
  tps: number;
  bytes: number;
  errors: Record<string, number>;
  errorCount: number;
  unfinished: number;
  latency: ReturnType<ReturnType<typeof latencyFromSnapshot>["summary"]>;
  pcap?: { file: string; frames: number };
}

export async function runTunClient(o: TunClientOptions): Promise<TunClientReport> {
  const pcap = o.pcap ? new PcapFile(o.pcap) : undefined;
  const rx: { host?: HttpClientHost } = {};
  const dev = await TunDevice.open({
    name: o.tun,
    ...(o.tunAddr ? { addr: o.tunAddr } : {}),
    onBatch: (b) => rx.host?.rxBatch(b),
    ...(pcap ? { tap: (p: Uint8Array) => pcap.add(p) } : {}),
  }).catch((err) => {
    pcap?.close();
    throw err;
  });
  const host = new HttpClientHost({
    cpus: 1,
    clients: o.clients,
    server: o.target.addr,
    port: o.target.port,
    addrs: [parseRouteAddress(TUN_STACK_ADDR)],
    path: o.path ?? "/",
    send: (b) => dev.sendBatch(b),
  });
  rx.host = host;
  const ticker = setInterval(() => host.tick(), 10);
  try {
    const target = `${o.target.addr >>> 24}.${(o.target.addr >>> 16) & 255}.${(o.target.addr >>> 8) & 255}.${o.target.addr & 255}:${o.target.port}`;
    o.log(`dfly http-short: ${o.clients} clients from ${TUN_STACK_ADDR} to ${target} over tun ${o.tun}`);
    const t0 = performance.now();
    host.start();
    let timer: NodeJS.Timeout | undefined;
    let poll: NodeJS.Timeout | undefined;
    const waits: Promise<unknown>[] = [o.stop, new Promise((r) => (timer = setTimeout(r, o.durationMs)))];
    if (o.requests !== undefined) {
      const want = o.requests;
      waits.push(new Promise<void>((r) => (poll = setInterval(() => host.stats.completed + host.stats.errorCount >= want && r(), 5))));
    }
    await Promise.race(waits);
    clearTimeout(timer);
    clearInterval(poll);
    const drained = await host.stop(5000);
    const elapsed = performance.now() - t0;
    const cs: HttpClientSnapshot = clientSnapshot(host);
    const errorCount = Object.values(cs.errors).reduce((n, v) => n + v, 0);
    return {
      workload: "http-short",
      tun: o.tun,
      target,
      durationMs: Math.round(elapsed),
      completed: cs.completed,
      tps: Math.round(cs.completed / (elapsed / 1000)),
      bytes: cs.bytes,
      errors: cs.errors,
      errorCount,
      unfinished: drained ? 0 : cs.active,
      latency: latencyFromSnapshot(cs.latency).summary(),
      ...(pcap ? { pcap: { file: pcap.path, frames: pcap.frames } } : {}),
    };
  } finally {
    clearInterval(ticker);
    host.close();
    await dev.close();
    pcap?.close();
  }
}
