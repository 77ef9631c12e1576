/**
 * The netisr's internals, for its tests (as nats.js's `internal_mod`): what other packages
 * use is in index.ts.
 */
export * from "./index.js";
export { NetmsgRegistry, NetmsgRegistryError, PORT_NETMSGS, PortDrop, type PortDropReason, type PortNetmsgName, type NetmsgHandler } from "./netmsg.js";
export {
  RescaleNetmsg,
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
export { TcpUsrreq, RemoteOwner } from "./tcp_usrreq.js";
export { ListenerSync, LISTENER_SYNC_MS, LISTENER_SYNC_DEADLINE_MS, type ListenerSyncReport } from "./listener_sync.js";
export { PcbCursors } from "./pcb_cursor.js";
