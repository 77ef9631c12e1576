/** The control service from its parts (cluster, routes, CPU ports, gRPC, /metrics); `startControl` is called by main.ts, embedded mode and tests. */
import type { Server as HttpServer } from "node:http";
import type { Registry } from "prom-client";
import { type Transport } from "@dfly/transport";
import { DEFAULT_CLUSTER, serveMetrics } from "@dfly/service";
import { encodeNetmsg, type InterfaceSpecT } from "@dfly/wire";
import { Cluster } from "./cluster.js";
import { controlMetrics } from "./metrics.js";
import { CpuPorts } from "./ports.js";
import { RouteManager } from "./routes.js";
import { IpfwManager } from "./ipfw.js";
import type { ApplyMode } from "./routechain.js";
import { ListenerManager } from "./listeners.js";
import { SysctlManager } from "./sysctl.js";
import { ListenerPolicy } from "@dfly/core";
import { startGrpcServer, type ControlParts } from "./server.js";
import type { ControlAuth } from "./grpc_auth.js";
import { NatsHealth, natsHealthMetrics } from "./health.js";

export interface ControlOptions {
  transport: Transport;
  /** Subject prefix and KV bucket prefix (DFLY_CLUSTER). */
  cluster?: string;
  grpcHost?: string;
  /** 0 picks a free port. */
  grpcPort?: number;
  /** /metrics port; undefined = no HTTP server. 0 picks a free port. */
  metricsPort?: number;
  metricsHost?: string;
  heartbeatMs?: number;
  cpuTimeoutMs?: number;
  /** How long a CPU has to confirm a route change. */
  applyTimeoutMs?: number;
  /** Interfaces known from configuration (a NIC may also register its own). */
  interfaces?: InterfaceSpecT[];
  /** What closing a SO_REUSEPORT listener does by default (DFLY_LISTENER_POLICY; default dragonfly). */
  listenerPolicy?: ListenerPolicy;
  /** TLS and the token of the gRPC API (grpc_auth.ts); default: plaintext, open. */
  auth?: ControlAuth;
  /** Route changes CPU by CPU ("chain", DragonFly's order; default) or to all at once ("parallel", for measuring). */
  routeApplyMode?: ApplyMode;
}

export interface ControlHandle {
  readonly grpcAddr: string;
  readonly metricsAddr: string | undefined;
  readonly parts: ControlParts;
  readonly registry: Registry;
  /** Drains: stops expiry, ends watch streams, grpc tryShutdown (forced after graceMs), closes /metrics. */
  stop(graceMs?: number): Promise<void>;
}

export async function startControl(o: ControlOptions): Promise<ControlHandle> {
  const name = o.cluster ?? DEFAULT_CLUSTER;
  const topologyKv = await o.transport.kv(`${name}-topology`);
  const cluster = await Cluster.load({
    kv: topologyKv,
    ...(o.heartbeatMs !== undefined ? { heartbeatMs: o.heartbeatMs } : {}),
    ...(o.cpuTimeoutMs !== undefined ? { cpuTimeoutMs: o.cpuTimeoutMs } : {}),
  });
  for (const i of o.interfaces ?? []) await cluster.registerInterface(i);
  const ports = new CpuPorts(o.transport, name, o.applyTimeoutMs ?? 2000);
  const routes = await RouteManager.load(await o.transport.kv(`${name}-routes`), cluster, ports, { bucket: `${name}-routes`, ...(o.routeApplyMode ? { mode: o.routeApplyMode } : {}) });
  for (const cpu of cluster.liveCpus()) cluster.heartbeat(cpu); // reading a big table took a while: not the CPUs' silence
  const listeners = await ListenerManager.load(await o.transport.kv(`${name}-listeners`), cluster, ports, o.listenerPolicy ?? ListenerPolicy.DRAGONFLY);
  const ipfw = await IpfwManager.load(await o.transport.kv(`${name}-ipfw`), cluster, ports);
  const sysctl = await SysctlManager.load(await o.transport.kv(`${name}-sysctl`), cluster, ports);
  const parts: ControlParts = { cluster, routes, ports, listeners, ipfw, sysctl, name, streams: new Set() };
  const { registry } = controlMetrics(cluster, routes);
  const health = new NatsHealth(o.transport, topologyKv);
  await health.start();
  natsHealthMetrics(registry, health);

  // Every new topology is pushed to each live CPU's port (fire and forget; heartbeats catch misses).
  cluster.onChange((t) => ports.publishAll(t.cpus, encodeNetmsg.topology(t)));
  // A CPU that (re)registers starts with no rules: it is sent the set (and again by the expiry tick until it confirms).
  cluster.onRegister((cpu) => {
    ipfw.forget(cpu);
    void ipfw.reconcile();
  });
  const expiry = setInterval(() => {
    cluster.expire().catch((err) => console.error("control: expiring CPUs failed:", err));
    void ipfw.reconcile();
  }, cluster.heartbeatMs);
  expiry.unref();
  // CPUs that missed a stored route change are asked to reload the table until they re-register.
  const repair = setInterval(() => void routes.repair().catch(() => undefined), cluster.heartbeatMs);
  repair.unref();

  const host = o.grpcHost ?? "127.0.0.1";
  const grpc = await startGrpcServer(parts, host, o.grpcPort ?? 50051, o.auth);
  let http: HttpServer | undefined;
  if (o.metricsPort !== undefined) http = await serveMetrics(registry, o.metricsHost ?? "127.0.0.1", o.metricsPort, () => true, { health: (q) => health.healthz(q) });
  const addr = http?.address();
  const metricsAddr = addr && typeof addr === "object" ? `${o.metricsHost ?? "127.0.0.1"}:${addr.port}` : undefined;

  return {
    grpcAddr: `${host}:${grpc.port}`,
    metricsAddr,
    parts,
    registry,
    stop: async (graceMs = 5000) => {
      clearInterval(expiry);
      health.stop();
      clearInterval(repair);
      await grpc.shutdown(graceMs);
      if (http) {
        http.closeAllConnections();
        await new Promise<void>((res) => http!.close(() => res()));
      }
    },
  };
}
