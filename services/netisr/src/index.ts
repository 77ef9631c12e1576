/** @dfly/netisr's public surface; tests reach the rest through `@dfly/netisr/internal`. */
export { startNetisr, NetisrStartError, type StartNetisrOptions, type NetisrHandle, type NetisrDrainOptions } from "./cpu.js";
export { main, netisrConfigFromEnv, cpuFromEnv, NetisrEnvError, DRAIN_LINGER_MS_DEFAULT, type NetisrProcessConfig } from "./main.js";
export { netisrWorkerPath } from "./worker_path.js";
export type { NetisrWorkerData, NetisrWorkerEvent, NetisrWorkerCommand } from "./worker.js";
export type { NetisrSnapshot } from "./service.js";
export { IfpollConfigError, type IopollOptions } from "./ifpoll.js";
export { NetisrConfigError } from "./netisr.js";
export { IfStatCounters, IfStatConfigError, IfStat, IFSTAT_SHARED_BYTES, type IfStatLayout } from "./if_stats.js";
export { SoEvent, So, type SoOwner, type ListenOwner } from "./so.js";
export { TcpNotLocalError } from "./tcp_connect.js";
export { TcpHost, TcpHostError, type TcpHostOptions, type TcpOutputFn } from "./tcp_host.js";
export {
  SockOpt,
  SockError,
  HostListenBackend,
  type SockHandler,
  type ListenBackend,
  type ListenReply,
  type ListenCloseReply,
  type SockRemote,
  type RemoteConnInfo,
  type SocketsOptions,
} from "./so_api.js";
export { Sockets } from "./so_sockets.js";
export { TcpFrameQueue } from "./tcp_frames.js";
export { ControlListenBackend } from "./tcp_netisr.js";
export { PortSockRemote, SockRemoteError, attachSockEvents, type SockEventBody, type SockEventWire } from "./so_port.js";
export { loadProgram, ProgramLoadError, type ProgramSpec, type ProgramContext, type Program, type ProgramFactory } from "./program.js";
export { TcpCpuIdError, type DrainReport } from "./tcp_rescale.js";
export { UdpNetisr } from "./udp_netisr.js";
export { UdpSockets, UdpSockStats, UdpSocketError, UDP_RCVQ_DEFAULT } from "./udp_sockets.js";
