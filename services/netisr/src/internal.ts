/** The netisr's internals, for its tests (as nats.js's `internal_mod`). */
export * from "./index.js";
export {
  IpDrop,
  IP_DROP_REASONS,
  IP_DROP_COUNT,
  IcmpType,
  IpStats,
  type IpDropReason,
  type IcmpTypeName,
} from "./ipstat.js";
export {
  ipInputCheck,
  ipDoOptions,
  ipHasOptions,
  IP_OK,
  OptVerdict,
  type OptResult,
  type OptVerdictCode,
} from "./ip_input.js";
export {
  Fib,
  ForwardResult,
  ipForward,
  FWD_OK,
  FWD_FRAGMENT,
  IF_MTU_DEFAULT,
} from "./ip_forward.js";
export {
  ICMPLIM_DEFAULT,
  Bandlim,
  IcmpRateLimit,
  inCanforward,
  icmpErrorAllowed,
  icmpErrorLength,
  writeIcmpError,
  icmpInputCheck,
  icmpEchoReflect,
  IcmpTcpQuote,
  icmpTcpQuote,
  type BandlimKind,
} from "./ip_icmp.js";
export { IFPOLL, IopollCtx, RxRing } from "./ifpoll.js";
export {
  Netisr,
  NetisrIf,
  NetisrStats,
  parseCidr,
  type NetisrConfig,
  type NetisrOutput,
  type LocalInput,
} from "./netisr.js";
export { NetisrService, type NetisrServiceOptions } from "./service.js";
export { netisrMetrics, serveNetisrMetrics } from "./metrics.js";
export { TcpCpu, TcpCpuStats } from "./tcp_dispatch.js";
export { tcpFrameLength, writeTcpFrame } from "./tcp_host.js";
export { ListenerRec, type ListenCloseResult } from "./tcp_listen.js";
export { TcpNetisr, type TcpNetisrOptions } from "./tcp_netisr.js";
export { SockPortStats } from "./tcp_usrreq.js";
export { SO_REMOTE_SEND_WINDOW } from "./so_fd.js";
export { b64, unb64 } from "./so_port.js";
export { tcpMetrics } from "./tcp_metrics.js";
export {
  TcpRescale,
  TcpRescaleStats,
  RescaleNetmsg,
  RescaleDrop,
  MAX_HOPS,
  type TcpRescaleOptions,
  type RescaleDropReason,
  type RescaleTcp,
  type PendingSendState,
} from "./tcp_rescale.js";
export { rescaleMetrics } from "./tcp_rescale_metrics.js";
export {
  NetmsgRegistry,
  NetmsgRegistryError,
  PORT_NETMSGS,
  PortDrop,
  type PortDropReason,
  type PortNetmsgName,
  type NetmsgHandler,
} from "./netmsg.js";
export {
  encodeHome,
  decodeHome,
  encodeLeaving,
  decodeLeaving,
  encodeChase,
  decodeChase,
  encodeSegments,
  encodeHandover,
  decodeHandover,
  type HomeMsg,
  type HandoverMsg,
  type HandoverConn,
  type HandoverSyn,
  type Tuple,
} from "./rescale_netmsg.js";
export { RescaleHome, tupleKey } from "./rescale_home.js";
export { RescaleGrace } from "./rescale_grace.js";
export { RescaleChase, PER_SOCKET_CALLS, type Moved } from "./rescale_chase.js";
export { RescaleHandover } from "./rescale_handover.js";
export { TcpOutput } from "./tcp_output.js";
export { IfTx, copyFrame, takeExact } from "./if_tx.js";
export { TcpUsrreq, RemoteOwner } from "./tcp_usrreq.js";
export { ListenerSync, LISTENER_SYNC_MS, LISTENER_SYNC_DEADLINE_MS, type ListenerSyncReport } from "./listener_sync.js";
export { PcbCursors } from "./pcb_cursor.js";
export { HostListeners, listenerConnOptions } from "./tcp_listen.js";
export { CONNECT_FIRST, ConnectPort, tcpConnectStep, tcpHostConnect, TcpPortShareExhaustedError, type ConnectHop, type ConnectStep } from "./tcp_connect.js";
export { FdTable, FdRec, ConnRec, RemoteConn } from "./so_fd.js";
export { RemoteEvents } from "./so_remote.js";
export { SoAccept } from "./so_accept.js";
export { SoConnect } from "./so_connect.js";
export { IpfwHook, IPFW_STATE_MAX_DEFAULT, type IpfwHookOptions } from "./ip_fw.js";
export { registerIpfwPort, ipfwShowBody, type IpfwPort } from "./ip_fw_port.js";
