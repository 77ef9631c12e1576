/** A promise-based client of the control API: each call has a deadline and waits for the connection up to it; gRPC errors keep code and metadata. */
import { Metadata, type CallOptions, type ClientUnaryCall, type ServiceError } from "@grpc/grpc-js";
import type { InterfaceSpecT, ListenerSpec, ListenRequest as ListenRequestSpec, TopologyMsg } from "@dfly/wire";
import {
  ClusterServiceClient,
  type DeregisterResponse,
  type GetTopologyResponse,
  type HeartbeatResponse,
  type InterfaceSpec,
  type RegisterInterfaceResponse,
  type RegisterResponse,
  type Topology,
} from "./gen/dfly/netstack/v1/cluster.js";
import {
  RouteServiceClient,
  type AddRouteResponse,
  type DeleteRouteResponse,
  type GetRouteRequest,
  type GetRouteResponse,
  type ListRoutesResponse,
  type LoadRoutesRequest,
  type LoadRoutesResponse,
  type Route,
  type RouteChunk,
  type StreamRoutesRequest,
  type VerifyRoutesResponse,
  type WatchRoutesResponse,
} from "./gen/dfly/netstack/v1/route.js";
import {
  SocketServiceClient,
  type CloseListenerResponse,
  type ListenRequest,
  type ListenResponse,
  type ListListenersResponse,
} from "./gen/dfly/netstack/v1/socket.js";
import { StatsServiceClient, type GetStatsResponse, type ListPcbsResponse } from "./gen/dfly/netstack/v1/stats.js";
import {
  SysctlServiceClient,
  type GetSysctlResponse,
  type ListSysctlResponse,
  type SetSysctlResponse,
  type SysctlAssignment,
} from "./gen/dfly/netstack/v1/sysctl.js";
import { listenerSpecOf, listenRequestProtoOf } from "./listener_proto.js";
import { interfaceSpecProtoOf, topologyMsgOf } from "./topology_proto.js";
import { authMetadata, channelCredentialsOf, controlClientAuthFromEnv, type ControlClientAuth } from "./grpc_auth.js";

type Unary<Req, Res> = (
  req: Req,
  md: Metadata,
  opts: Partial<CallOptions>,
  cb: (err: ServiceError | null, res: Res) => void,
) => ClientUnaryCall;

export const DEFAULT_CONTROL_ADDR = "127.0.0.1:50051";

export class ControlClient {
  readonly route: RouteServiceClient;
  readonly cluster: ClusterServiceClient;
  readonly stats: StatsServiceClient;
  readonly socket: SocketServiceClient;
  readonly sysctl: SysctlServiceClient;

  constructor(
    readonly addr: string = process.env.DFLY_CONTROL_ADDR ?? DEFAULT_CONTROL_ADDR,
    readonly deadlineMs = 10_000,
    /** CA, client certificate, token; default from the environment (DFLY_CONTROL_TLS_CA, DFLY_CONTROL_TOKEN, …). */
    readonly auth: ControlClientAuth = controlClientAuthFromEnv(),
  ) {
    const creds = channelCredentialsOf(auth);
    // A restarted control is found again quickly (the default backoff grows to 120 s).
    const opts = { "grpc.initial_reconnect_backoff_ms": 100, "grpc.max_reconnect_backoff_ms": 1000 };
    this.route = new RouteServiceClient(addr, creds, opts);
    this.cluster = new ClusterServiceClient(addr, creds, opts);
    this.stats = new StatsServiceClient(addr, creds, opts);
    this.socket = new SocketServiceClient(addr, creds, opts);
    this.sysctl = new SysctlServiceClient(addr, creds, opts);
  }

  private call<Req, Res>(client: object, fn: Unary<Req, Res>, req: Req, deadlineMs = this.deadlineMs): Promise<Res> {
    return new Promise((res, rej) => {
      fn.call(client, req, authMetadata(this.auth, { waitForReady: true }), { deadline: Date.now() + deadlineMs }, (err, r) => (err ? rej(err) : res(r)));
    });
  }

  getSysctl(names: string[]): Promise<GetSysctlResponse> {
    return this.call(this.sysctl, this.sysctl.getSysctl as Unary<{ names: string[] }, GetSysctlResponse>, { names });
  }
  setSysctl(assignments: SysctlAssignment[]): Promise<SetSysctlResponse> {
    return this.call(this.sysctl, this.sysctl.setSysctl as Unary<{ assignments: SysctlAssignment[] }, SetSysctlResponse>, { assignments });
  }
  listSysctl(): Promise<ListSysctlResponse> {
    return this.call(this.sysctl, this.sysctl.listSysctl as Unary<object, ListSysctlResponse>, {});
  }

  addRoute(route: Partial<Route> & { prefix: string }): Promise<AddRouteResponse> {
    const r: Route = { gateway: "", ifname: "", metric: 0, mtu: 0, iw: 0, ...route };
    return this.call(this.route, this.route.addRoute as Unary<{ route: Route }, AddRouteResponse>, { route: r });
  }
  deleteRoute(prefix: string): Promise<DeleteRouteResponse> {
    return this.call(this.route, this.route.deleteRoute as Unary<{ prefix: string }, DeleteRouteResponse>, { prefix });
  }
  getRoute(key: GetRouteRequest): Promise<GetRouteResponse> {
    return this.call(this.route, this.route.getRoute as Unary<GetRouteRequest, GetRouteResponse>, key);
  }
  /** At most `limit` routes (0: the server's cap); `total` says how many matched. */
  listRoutes(limit = 0, prefix = ""): Promise<ListRoutesResponse> {
    return this.call(this.route, this.route.listRoutes as Unary<object, ListRoutesResponse>, { limit, prefix });
  }
  /** The table in chunks, each handed to `fn` as it arrives (flow-controlled: `fn` may be slow). */
  streamRoutes(req: Partial<StreamRoutesRequest>, fn: (c: RouteChunk) => void, deadlineMs = 120_000): Promise<void> {
    return new Promise((res, rej) => {
      const s = this.route.streamRoutes({ limit: 0, prefix: "", compact: false, unlessDigest: "", ...req }, authMetadata(this.auth, { waitForReady: true }), { deadline: Date.now() + deadlineMs });
      s.on("data", (c: RouteChunk) => {
        try {
          fn(c);
        } catch (err) {
          s.cancel();
          rej(err as Error);
        }
      });
      s.on("error", rej);
      s.on("end", () => res());
    });
  }
  /** A bulk load: `chunks` of "prefix [gateway]" lines; the first message carries the defaults. */
  loadRoutes(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, defaults: { gateway?: string; ifname?: string; metric?: number } = {}, deadlineMs = 300_000): Promise<LoadRoutesResponse> {
    return new Promise((res, rej) => {
      const call = this.route.loadRoutes(authMetadata(this.auth, { waitForReady: true }), { deadline: Date.now() + deadlineMs }, (err, r) => (err ? rej(err) : res(r)));
      void (async () => {
        let first = true;
        for await (const u8 of chunks) {
          const lines = Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
          const m: LoadRoutesRequest = first ? { lines, gateway: defaults.gateway ?? "", ifname: defaults.ifname ?? "", metric: defaults.metric ?? 0 } : { lines, gateway: "", ifname: "", metric: 0 };
          first = false;
          if (!call.write(m)) await new Promise<void>((r) => call.once("drain", r));
        }
        if (first) call.write({ lines: Buffer.alloc(0), gateway: defaults.gateway ?? "", ifname: defaults.ifname ?? "", metric: defaults.metric ?? 0 });
        call.end();
      })().catch((err: Error) => {
        call.cancel();
        rej(err);
      });
    });
  }
  verifyRoutes(): Promise<VerifyRoutesResponse> {
    return this.call(this.route, this.route.verifyRoutes as Unary<object, VerifyRoutesResponse>, {});
  }
  register(cpu: number, metricsAddr = ""): Promise<RegisterResponse> {
    return this.call(this.cluster, this.cluster.register as Unary<object, RegisterResponse>, { cpu, metricsAddr });
  }
  heartbeat(cpu: number, epoch: number, deadlineMs?: number): Promise<HeartbeatResponse> {
    return this.call(this.cluster, this.cluster.heartbeat as Unary<object, HeartbeatResponse>, { cpu, epoch }, deadlineMs);
  }
  deregister(cpu: number, deadlineMs?: number): Promise<DeregisterResponse> {
    return this.call(this.cluster, this.cluster.deregister as Unary<object, DeregisterResponse>, { cpu }, deadlineMs);
  }
  registerInterface(spec: InterfaceSpec): Promise<RegisterInterfaceResponse> {
    return this.call(this.cluster, this.cluster.registerInterface as Unary<object, RegisterInterfaceResponse>, { spec });
  }
  getTopology(): Promise<GetTopologyResponse> {
    return this.call(this.cluster, this.cluster.getTopology as Unary<object, GetTopologyResponse>, {});
  }
  getStats(): Promise<GetStatsResponse> {
    return this.call(this.stats, this.stats.getStats as Unary<object, GetStatsResponse>, {});
  }
  /** netstat -an: every CPU's PCBs, CPU after CPU (`page` rows per cursor step). */
  listPcbs(page = 256): Promise<ListPcbsResponse> {
    return this.call(this.stats, this.stats.listPcbs as Unary<object, ListPcbsResponse>, { page });
  }
  /** Registers a listener on every CPU (SO_REUSEPORT: joins the group; events go to `<c>.sock.<owner>`). */
  listen(req: Partial<ListenRequest> & { port: number; owner: string }): Promise<ListenResponse> {
    const r: ListenRequest = { address: "0.0.0.0", reuseport: false, backlog: 0, nodelay: false, sndbuf: 0, rcvbuf: 0, ...req };
    return this.call(this.socket, this.socket.listen as Unary<ListenRequest, ListenResponse>, r);
  }
  /** Closes a listener on every CPU; `policy` "" = the control's default. */
  closeListener(listenerId: string, policy = ""): Promise<CloseListenerResponse> {
    return this.call(this.socket, this.socket.closeListener as Unary<object, CloseListenerResponse>, { listenerId, policy });
  }
  listListeners(withoutQueues = false): Promise<ListListenersResponse> {
    return this.call(this.socket, this.socket.listListeners as Unary<object, ListListenersResponse>, { withoutQueues });
  }
  /** `listen` with the spec's request (what a CPU's program asks). */
  async listenSpec(req: ListenRequestSpec): Promise<{ id: string; index: number; size: number }> {
    const r = await this.listen(listenRequestProtoOf(req));
    return { id: r.listenerId, index: r.groupIndex, size: r.groupSize };
  }
  /** Every listener the control has, as the specs a CPU installs. */
  async listenerSpecs(): Promise<ListenerSpec[]> {
    return (await this.listListeners(true)).listeners.map(listenerSpecOf);
  }

  /** Registers a NIC's interface; the topology after it. */
  async registerInterfaceSpec(spec: InterfaceSpecT): Promise<TopologyMsg | undefined> {
    const r = await this.registerInterface(interfaceSpecProtoOf(spec));
    return r.topology ? topologyMsgOf(r.topology) : undefined;
  }
  /** `watchTopology` with each topology as the CPUs and NICs hold it. */
  watchTopologyMsg(fn: (t: TopologyMsg) => void, onError?: (e: ServiceError) => void): () => void {
    return this.watchTopology((t) => fn(topologyMsgOf(t)), onError);
  }

  /** Streams topologies (the current one first) until the returned function is called. */
  watchTopology(fn: (t: Topology) => void, onError?: (e: ServiceError) => void): () => void {
    const s = this.cluster.watchTopology({}, authMetadata(this.auth));
    s.on("data", (d: { topology?: Topology }) => d.topology && fn(d.topology));
    s.on("error", (e: ServiceError) => onError?.(e));
    return () => s.cancel();
  }

  watchRoutes(fn: (e: WatchRoutesResponse) => void, onError?: (e: ServiceError) => void): () => void {
    const s = this.route.watchRoutes({}, authMetadata(this.auth));
    s.on("data", fn);
    s.on("error", (e: ServiceError) => onError?.(e));
    return () => s.cancel();
  }

  close(): void {
    this.route.close();
    this.cluster.close();
    this.stats.close();
    this.socket.close();
    this.sysctl.close();
  }
}
