export { ControlAgent, type ControlAgentOptions } from "./agent.js";
export { ControlClient, DEFAULT_CONTROL_ADDR } from "./client.js";
export { startControl, type ControlOptions, type ControlHandle } from "./control.js";
export { Cluster, checkInterfaceSpec, MAX_CPU_ID, type CpuInfo } from "./cluster.js";
export { RouteManager, RouteOps, type RouteEvent, type RouteOpName, type VerifyResult, type RouteChangeResult } from "./routes.js";
export { CpuPorts, type CpuReply } from "./ports.js";
export { gatherStats, sumCounters, cleanCounters, type ProtoCounters, type StatsResult } from "./stats.js";
export { routeSpecOf, routeProtoOf, comparePrefixes } from "./routespec.js";
export {
  BadRequestError,
  UnknownInterfaceError,
  GatewayUnreachableError,
  CpuApplyError,
  UnknownCpuError,
  NotImplementedError,
  ListenerAddrInUseError,
  ListenerNotFoundError,
  grpcStatusOf,
  type CpuFailure,
} from "./errors.js";
export { topologyMsgOf, topologyProtoOf, interfaceSpecOf, interfaceSpecProtoOf } from "./topology_proto.js";
export { listenRequestOf, listenRequestProtoOf, listenerProtoOf, listenerSpecOf } from "./listener_proto.js";
export { controlConfigFromEnv, main, type ControlConfig } from "./main.js";
export { InterfaceMode } from "./gen/dfly/netstack/v1/cluster.js";
export type { Topology, InterfaceSpec, InterfaceTopology } from "./gen/dfly/netstack/v1/cluster.js";
export { RouteOp } from "./gen/dfly/netstack/v1/route.js";
export type { Route as RouteMessage, VerifyRoutesResponse, ListRoutesResponse } from "./gen/dfly/netstack/v1/route.js";
export type { GetStatsResponse, ProtocolStats, CpuStats } from "./gen/dfly/netstack/v1/stats.js";
export { status as GrpcStatus, connectivityState as GrpcConnectivityState, type ServiceError } from "@grpc/grpc-js";
export { ListenerManager, parseListenerPolicy, type ListenResult, type CloseResult, type ListenerListing } from "./listeners.js";
export { listPcbs } from "./pcblist.js";
export type { Pcb, ListPcbsResponse } from "./gen/dfly/netstack/v1/stats.js";
export type { ListenResponse, CloseListenerResponse, ListListenersResponse, Listener as ListenerMessage } from "./gen/dfly/netstack/v1/socket.js";
export { SysctlManager, type SysctlRowResult } from "./sysctl.js";
export type { GetSysctlResponse, SetSysctlResponse, ListSysctlResponse, SysctlRow } from "./gen/dfly/netstack/v1/sysctl.js";
export {
  controlAuthFromEnv,
  controlClientAuthFromEnv,
  ControlAuthConfigError,
  MUTATING_RPCS,
  type ControlAuth,
  type ControlClientAuth,
  type ControlTls,
} from "./grpc_auth.js";
export { IpfwManager, IpfwRuleNotFoundError, type IpfwChangeResult, type IpfwCpuShow } from "./ipfw.js";
export { IpfwClient } from "./ipfw_client.js";
export type { ListRulesResponse as IpfwListResponse, VerifyRulesResponse as IpfwVerifyResponse } from "./gen/dfly/netstack/v1/ipfw.js";
