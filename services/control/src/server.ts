/** The gRPC face of the control plane: generated service definitions bound to the logic modules; errors mapped by `grpcStatusOf`. */
import { Server, type ServerWritableStream } from "@grpc/grpc-js";
import { ClusterServiceService, type Topology, type ClusterServiceServer } from "./gen/dfly/netstack/v1/cluster.js";
import { RouteOp, RouteServiceService, type RouteServiceServer } from "./gen/dfly/netstack/v1/route.js";
import { SocketServiceService, type SocketServiceServer } from "./gen/dfly/netstack/v1/socket.js";
import { listenerProtoOf, listenRequestOf } from "./listener_proto.js";
import { ListenerManager, parseListenerPolicy } from "./listeners.js";
import { listPcbs } from "./pcblist.js";
import { StatsServiceService, type StatsServiceServer, type ProtocolStats } from "./gen/dfly/netstack/v1/stats.js";
import type { Cluster } from "./cluster.js";
import { BadRequestError, NotImplementedError } from "./errors.js";
import type { CpuPorts } from "./ports.js";
import type { RouteManager } from "./routes.js";
import { routeProtoOf } from "./routespec.js";
import { loadRoutesCall, streamRoutesCall, LIST_LIMIT } from "./route_stream.js";
import { interfaceSpecOf, topologyProtoOf } from "./topology_proto.js";
import { gatherStats, type ProtoCounters } from "./stats.js";
import { SysctlServiceService, type SysctlServiceServer } from "./gen/dfly/netstack/v1/sysctl.js";
import type { SysctlManager } from "./sysctl.js";
import { guardService, serverCredentialsOf, type ControlAuth } from "./grpc_auth.js";
import type { IpfwManager } from "./ipfw.js";
import { ipfwService, IpfwServiceService } from "./ipfw_service.js";
import { unary } from "./grpc_unary.js";

function protoStats(s: ProtoCounters): ProtocolStats[] {
  return Object.keys(s)
    .sort()
    .map((protocol) => ({ protocol, counters: s[protocol] }));
}

export interface ControlParts {
  cluster: Cluster;
  routes: RouteManager;
  ports: CpuPorts;
  /** SocketService (absent: its calls are UNIMPLEMENTED). */
  listeners?: ListenerManager;
  /** IpfwService (absent: not served). */
  ipfw?: IpfwManager;
  /** SysctlService (absent: its calls are UNIMPLEMENTED). */
  sysctl?: SysctlManager;
  /** The cluster name (subject prefix). */
  name?: string;
  /** Open watch streams, ended on shutdown so tryShutdown can finish. */
  streams?: Set<{ end(): void }>;
}

function track(p: ControlParts, call: ServerWritableStream<unknown, unknown>, stop: () => void): void {
  p.streams?.add(call);
  const done = () => {
    stop();
    p.streams?.delete(call);
  };
  call.on("cancelled", done);
  call.on("close", done);
}

export function routeService(p: ControlParts): RouteServiceServer {
  return {
    addRoute: unary(async (req) => {
      if (!req.route) throw new BadRequestError("route", "missing");
      const r = await p.routes.add(req.route);
      return { revision: r.revision, appliedCpus: r.applied, pendingCpus: r.pending, status: r.status };
    }),
    deleteRoute: unary(async (req) => {
      const r = await p.routes.delete(req.prefix);
      return { revision: r.revision, appliedCpus: r.applied, route: routeProtoOf(r.route), pendingCpus: r.pending, status: r.status };
    }),
    getRoute: unary((req) => {
      if (req.prefix) return { route: routeProtoOf(p.routes.get(req.prefix)) };
      if (req.address) return { route: routeProtoOf(p.routes.match(req.address)) };
      throw new BadRequestError("key", "give a prefix or an address");
    }),
    listRoutes: unary((req) => {
      const l = p.routes.list(Math.min(req.limit || LIST_LIMIT, LIST_LIMIT), req.prefix);
      return { routes: l.routes.map(routeProtoOf), revision: l.revision, digest: l.digest, total: l.total };
    }),
    streamRoutes: (call) => streamRoutesCall(p.routes, call),
    loadRoutes: (call, cb) => loadRoutesCall(p.routes, call, cb),
    watchRoutes: (call) => {
      const stop = p.routes.onChange((e) =>
        call.write({ op: e.op === "add" ? RouteOp.ROUTE_OP_ADD : RouteOp.ROUTE_OP_DELETE, route: routeProtoOf(e.route), revision: e.revision }),
      );
      track(p, call, stop);
    },
    verifyRoutes: unary(async () => p.routes.verify()),
  };
}

export function clusterService(p: ControlParts): ClusterServiceServer {
  return {
    register: unary(async (req) => {
      const topology = topologyProtoOf(await p.cluster.register(req.cpu, req.metricsAddr));
      p.routes.chain.registered(req.cpu); // it loads the whole table next
      return { topology, heartbeatIntervalMs: p.cluster.heartbeatMs };
    }),
    heartbeat: unary((req) => p.cluster.heartbeat(req.cpu)),
    deregister: unary(async (req) => ({ epoch: await p.cluster.deregister(req.cpu) })),
    registerInterface: unary(async (req) => ({ topology: topologyProtoOf(await p.cluster.registerInterface(interfaceSpecOf(req.spec))) })),
    getTopology: unary(() => ({ topology: topologyProtoOf(p.cluster.topology()) })),
    watchTopology: (call: ServerWritableStream<unknown, { topology: Topology }>) => {
      call.write({ topology: topologyProtoOf(p.cluster.topology()) });
      const stop = p.cluster.onChange((t) => call.write({ topology: topologyProtoOf(t) }));
      track(p, call, stop);
    },
  };
}

export function statsService(p: ControlParts): StatsServiceServer {
  return {
    getStats: unary(async () => {
      const s = await gatherStats(p.ports, p.cluster.liveCpus());
      return {
        total: protoStats(s.total),
        cpus: s.cpus.map((c) => ({ cpu: c.cpu, protocols: protoStats(c.stats) })),
        unreachableCpus: s.unreachable,
      };
    }),
    listPcbs: unary(async (req) => {
      const r = await listPcbs(p.ports, p.cluster.liveCpus(), req.page || 256);
      return { pcbs: r.pcbs, unreachableCpus: r.unreachable };
    }),
  };
}

/** Listen sockets replicated by reference to every CPU (listeners.ts). */
export function socketService(p: ControlParts): SocketServiceServer {
  const need = (): ListenerManager => {
    if (!p.listeners) throw new NotImplementedError("SocketService");
    return p.listeners;
  };
  return {
    listen: unary(async (req) => {
      const r = await need().listen(listenRequestOf(req));
      return { listenerId: r.id, groupIndex: r.index, groupSize: r.size };
    }),
    closeListener: unary(async (req) => {
      if (!req.listenerId) throw new BadRequestError("listener_id", "missing");
      const m = need();
      const r = await m.close(req.listenerId, parseListenerPolicy(req.policy, m.policy));
      return { migrated: r.migrated, dropped: r.dropped, heirListenerId: r.heir, policy: r.policy };
    }),
    listListeners: unary(async (req) => ({
      listeners: (await need().list(!req.withoutQueues)).map((l) => listenerProtoOf(l, l.queues)),
    })),
  };
}

/** net.inet sysctls of the cluster (sysctl.ts). */
export function sysctlService(p: ControlParts): SysctlServiceServer {
  const need = (): SysctlManager => {
    if (!p.sysctl) throw new NotImplementedError("SysctlService");
    return p.sysctl;
  };
  return {
    getSysctl: unary(async (req) => {
      const r = await need().get(req.names);
      return { rows: r.rows, unreachableCpus: r.unreachable };
    }),
    setSysctl: unary(async (req) => {
      const r = await need().set(req.assignments);
      return { settings: r.settings, appliedCpus: r.applied };
    }),
    listSysctl: unary(() => ({ settings: need().list() })),
  };
}

export interface GrpcServerHandle {
  server: Server;
  port: number;
  /** grpc-js tryShutdown (in-flight calls finish), forced after `graceMs`. */
  shutdown(graceMs?: number): Promise<void>;
}

export async function startGrpcServer(p: ControlParts, host: string, port: number, auth: ControlAuth = {}): Promise<GrpcServerHandle> {
  p.streams ??= new Set();
  const streams = p.streams;
  const server = new Server();
  server.addService(RouteServiceService, guardService(routeService(p), auth));
  server.addService(ClusterServiceService, guardService(clusterService(p), auth));
  server.addService(StatsServiceService, guardService(statsService(p), auth));
  server.addService(SocketServiceService, guardService(socketService(p), auth));
  if (p.ipfw) server.addService(IpfwServiceService, guardService(ipfwService(p.ipfw), auth));
  server.addService(SysctlServiceService, guardService(sysctlService(p), auth));
  const bound = await new Promise<number>((res, rej) =>
    server.bindAsync(`${host}:${port}`, serverCredentialsOf(auth), (err, prt) => (err ? rej(err) : res(prt))),
  );
  return {
    server,
    port: bound,
    shutdown: (graceMs = 5000) =>
      new Promise<void>((res) => {
        const t = setTimeout(() => {
          server.forceShutdown();
          res();
        }, graceMs);
        for (const s of [...streams]) s.end();
        server.tryShutdown(() => {
          clearTimeout(t);
          res();
        });
      }),
  };
}
