/**
 * `dfly bench connect`: programs on every netisr CPU open `connections` connections in all to
 * listeners on a host on ix0's wire (its own TCP in this thread, accepting everything), and keep
 * them open, so two connections with one 4-tuple would both be alive. Every connect starts with
 * DragonFly's port search on its program's CPU; one that settles on another CPU's 4-tuple migrates
 * there (connect_migrations on the CPUs). The listeners get one port each per ~3,000 connections:
 * the ephemeral range (1024..5000) is per destination.
 *
 * Reported: connects, errors, duplicateTuples (4-tuples held by more than one connection),
 * migrated (the CPUs' connect_migrations), cps (connects per second of the slowest CPU's run).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { ipAddr } from "@dfly/core";
import { FrameBatchCursor, subjects } from "@dfly/transport";
import { HostListenBackend, SoEvent, Sockets, TcpFrameQueue, TcpHost } from "@dfly/netisr";
import { EmbeddedCluster } from "../embedded/cluster.js";
import { onInterrupt } from "../local/interrupt.js";
import { startLocalNats } from "./forward.js";
import type { ConnectRunResult } from "./connect_program.js";

export interface BenchConnectOptions {
  cpus: number;
  connections: number;
  transport: "embedded" | "nats";
  natsUrl?: string;
  /** Connects in flight per CPU (default 64). */
  window?: number;
  timeoutMs?: number;
  log?: (s: string) => void;
}

export interface BenchConnectResult {
  bench: "connect";
  transport: "embedded" | "nats";
  cpus: number;
  connections: number;
  connects: number;
  errors: number;
  duplicateTuples: number;
  migrated: number;
  cps: number;
  /** Connections the listening host accepted. */
  accepted: number;
  /** Connections each CPU's program holds on another CPU (its connect migrated). */
  remotePerCpu: number[];
  /** Connections that ended on each CPU (connect_local + placed there by a migration). */
  connectLocalPerCpu: number[];
  listenerPorts: number[];
  ms: number;
  why: string[];
}

const PEER = "198.18.0.10";
const PER_PORT = 3000;

/** The compiled program module (workers import JavaScript, also when this file runs from source). */
function programModule(): string {
  const p = join(dirname(createRequire(import.meta.url).resolve("@dfly/cli")), "bench", "connect_program.js");
  if (!existsSync(p)) throw new Error(`${p} is missing: run "make build" (netisr workers load compiled JavaScript)`);
  return p;
}

interface WorkerSnap {
  tcp?: Record<string, Record<string, number>>;
  rescale?: Record<string, number>;
}

export async function benchConnect(o: BenchConnectOptions): Promise<BenchConnectResult> {
  const log = o.log ?? (() => undefined);
  let nats: Awaited<ReturnType<typeof startLocalNats>> | undefined;
  let store: string | undefined;
  let natsUrl = o.natsUrl;
  const stopNats = async () => {
    if (!nats) return;
    const n = nats;
    nats = undefined;
    const t = setTimeout(() => n.child.kill("SIGKILL"), 3000);
    await n.stop();
    clearTimeout(t);
  };
  const release = onInterrupt(async () => {
    await stopNats();
    if (store) rmSync(store, { recursive: true, force: true });
  });
  if (o.transport === "nats" && !natsUrl) {
    store = mkdtempSync(join(tmpdir(), "dfly-nats-"));
    nats = await startLocalNats(["-js", "-sd", store]);
    natsUrl = nats.url;
    log(`nats-server: ${natsUrl}`);
  }
  const cluster = o.transport === "nats" ? `benchconn${process.pid}x${Date.now().toString(36)}` : undefined;
  let ec: EmbeddedCluster | undefined;
  const cleanup: (() => void)[] = [];
  try {
    ec = await EmbeddedCluster.start({
      cpus: o.cpus,
      ...(cluster ? { cluster } : {}),
      interfaces: [{ ifname: "ix0", model: "82599", mode: "interrupt" }],
      routes: [{ prefix: "198.18.0.0/24", ifname: "ix0" }],
      tcp: { config: { msl: 20 } },
      programs: [{ module: programModule(), export: "connectProgram" }],
      ...(natsUrl ? { natsUrl } : {}),
      log,
    });
    const t = ec.transport;
    // The listening host on ix0's wire.
    const out = new TcpFrameQueue((b) => t.publish(subjects.wireIn(ec!.cluster, "ix0"), b, { transfer: true }));
    const peer = new TcpHost({ ncpus: 2, output: (_c, seg) => out.push(seg), somaxconn: 65535, config: { msl: 20 } });
    const cur = new FrameBatchCursor();
    const sub = t.subscribe(subjects.wireOut(ec.cluster, "ix0"), (m) => {
      if (cur.reset(m.data) !== null) return;
      while (cur.next()) peer.inputFrameAt(cur.buf, cur.offset, cur.length);
    });
    cleanup.push(() => sub.unsubscribe());
    const tick = setInterval(() => peer.tick(), 10);
    cleanup.push(() => clearInterval(tick));
    const srv = new Sockets({ host: peer, cpu: 0, owner: "bench-listen", listen: new HostListenBackend(peer) });
    let accepted = 0;
    const nports = Math.max(1, Math.ceil(o.connections / PER_PORT));
    const ports = Array.from({ length: nports }, (_, i) => 8000 + i);
    for (const port of ports) {
      const lfd = srv.socket((fd, ev) => {
        if (ev !== SoEvent.ACCEPT) return;
        for (let a = srv.accept(fd); a >= 0; a = srv.accept(fd)) accepted++;
      });
      srv.bind(lfd, 0, port);
      await srv.listen(lfd, 65535);
    }
    await t.flush();
    // Each topology change starts a grace period on the CPUs: start after it.
    await ec.graceOver();
    log(`connect: ${o.connections} connections from ${o.cpus} CPUs to ${PEER} ports ${ports.join(",")}`);
    const t0 = performance.now();
    const per = (i: number) => Math.floor(o.connections / o.cpus) + (i < o.connections % o.cpus ? 1 : 0);
    const runs = await Promise.all(
      ec.workers.map((w, i) =>
        w.call<ConnectRunResult>(0, "run", [{ count: per(i), faddr: ipAddr(PEER), ports, window: o.window ?? 64, timeoutMs: o.timeoutMs ?? 120_000 }]),
      ),
    );
    const ms = performance.now() - t0;
    const snaps = await Promise.all(ec.workers.map((w) => w.snapshot<WorkerSnap>()));
    const seen = new Map<string, number>();
    for (const r of runs) for (const k of r.tuples) seen.set(k, (seen.get(k) ?? 0) + 1);
    let duplicateTuples = 0;
    for (const n of seen.values()) if (n > 1) duplicateTuples += n - 1;
    const connects = runs.reduce((a, r) => a + r.connects, 0);
    const slowest = Math.max(...runs.map((r) => r.ms));
    srv.shutdownAll();
    return {
      bench: "connect",
      transport: o.transport,
      cpus: o.cpus,
      connections: o.connections,
      connects,
      errors: runs.reduce((a, r) => a + r.errors, 0),
      duplicateTuples,
      migrated: snaps.reduce((a, s) => a + (s?.tcp?.tcp?.connect_migrations ?? 0), 0),
      cps: Math.round(connects / (slowest / 1000)),
      accepted,
      remotePerCpu: runs.map((r) => r.remote),
      connectLocalPerCpu: snaps.map((s) => s?.tcp?.tcp?.connect_local ?? 0),
      listenerPorts: ports,
      ms: Math.round(ms),
      why: runs.flatMap((r) => r.why).slice(0, 5),
    };
  } finally {
    for (const f of cleanup) f();
    await ec?.stop();
    await stopNats();
    if (store) rmSync(store, { recursive: true, force: true });
    release();
  }
}
