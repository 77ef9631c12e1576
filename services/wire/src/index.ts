export { NETMSG, NetmsgType, SockNetmsg, RescaleNetmsg, type NetmsgName } from "./netmsg_type.js";
export { NetmsgDrop, type NetmsgDropReason, type Netmsg, encodeNetmsg, netmsgType, decodeNetmsg } from "./netmsg.js";
export { encodeRouteBatch, encodeRouteResync, decodeRouteBatch, ROUTE_BATCH_MAX, type RouteBatchMsg } from "./routebatch.js";
export { encodeRouteRecs, decodeRouteRecs, recPrefix, recAttrs, ROUTE_REC_BYTES, type RouteRec } from "./routebin.js";
export { prefixShapeError, addressShapeError } from "./routeshape.js";
export { normalizeRouteSpec, routeAttrsOf, type RouteSpec } from "./route.js";
export { InterfaceModes, type InterfaceModeName, type InterfaceSpecT, type InterfaceTopology, type TopologyMsg } from "./topology.js";
export type { ListenerSpec, ListenRequest } from "./listener.js";
export {
  sockBodyListener,
  isOwnerName,
  type ListenerCloseWire,
  type ListenerQueueWire,
  type PcbWire,
  type PcbPageWire,
} from "./socknetmsg.js";
export { encodeSysctlNetmsg, decodeSysctlNetmsg, SYSCTL_MAX_NAMES, type SysctlNetmsg, type SysctlSetting } from "./sysctl.js";
export { TOPOLOGY_LIMITS, checkTopology, isCidr, topologyAddresses } from "./topology_check.js";
export { encodeIpfwNetmsg, decodeIpfwNetmsg, IPFW_WIRE_LIMITS, type IpfwNetmsg, type IpfwSetWire, type IpfwStateWire } from "./ipfw.js";
