/** Every netmsg type byte, declared once; `NetmsgType`, `SockNetmsg` and `RescaleNetmsg` are views of this table. */
export const NETMSG = {
  routeAdd: 0x10,
  routeDelete: 0x11,
  statsRequest: 0x12,
  digestRequest: 0x13,
  topology: 0x14,
  ipfwSet: 0x19,
  ipfwShow: 0x1a,
  ipfwStates: 0x1c,
  sysctlSet: 0x15,
  sysctlGet: 0x16,
  routeBatch: 0x17,
  routeResync: 0x18,
  frames: 0x1b,
  reply: 0x1f,
  listen: 0x20,
  closeListener: 0x21,
  accept: 0x22,
  send: 0x23,
  shutdown: 0x24,
  close: 0x25,
  setopt: 0x26,
  list: 0x27,
  listeners: 0x28,
  connect: 0x29,
  event: 0x2f,
  segments: 0x30,
  home: 0x31,
  handover: 0x32,
  leaving: 0x33,
  chase: 0x34,
  fence: 0x35,
} as const;
export type NetmsgName = keyof typeof NETMSG;

/** The control netmsgs, the frames type and the range the socket-call framing accepts. */
export const NetmsgType = {
  frames: NETMSG.frames,
  routeAdd: NETMSG.routeAdd,
  routeDelete: NETMSG.routeDelete,
  statsRequest: NETMSG.statsRequest,
  digestRequest: NETMSG.digestRequest,
  topology: NETMSG.topology,
  routeBatch: NETMSG.routeBatch,
  routeResync: NETMSG.routeResync,
  reply: NETMSG.reply,
  /** First and last byte framed as a socket call (`encodeNetmsg.socket`). */
  socketFirst: NETMSG.listen,
  socketLast: 0x3f,
} as const;

/** Socket calls (control → CPUs, program → the CPU owning a socket) and socket events. */
export const SockNetmsg = {
  listen: NETMSG.listen,
  closeListener: NETMSG.closeListener,
  accept: NETMSG.accept,
  send: NETMSG.send,
  shutdown: NETMSG.shutdown,
  close: NETMSG.close,
  setopt: NETMSG.setopt,
  list: NETMSG.list,
  listeners: NETMSG.listeners,
  connect: NETMSG.connect,
  event: NETMSG.event,
} as const;
export type SockNetmsg = (typeof SockNetmsg)[keyof typeof SockNetmsg];

/** The netisr's live-rescale messages (codecs in the netisr's rescale_netmsg.ts). */
export const RescaleNetmsg = {
  segments: NETMSG.segments,
  home: NETMSG.home,
  handover: NETMSG.handover,
  leaving: NETMSG.leaving,
  chase: NETMSG.chase,
  fence: NETMSG.fence,
} as const;
export type RescaleNetmsg = (typeof RescaleNetmsg)[keyof typeof RescaleNetmsg];
