/** The netmsg registry of a CPU's port: type byte → name and handler (DragonFly's `nm_dispatch`); unknown types are counted, never thrown. */
import { NETMSG, SockNetmsg, encodeNetmsg, NetmsgType } from "@dfly/wire";
import { type Msg } from "@dfly/transport";
import { RescaleNetmsg } from "./rescale_netmsg.js";
import type { PortGate } from "./port_check.js";

/** Every netmsg type a CPU's port takes, by name. */
export const PORT_NETMSGS = {
  frames: NetmsgType.frames,
  routeAdd: NetmsgType.routeAdd,
  routeDelete: NetmsgType.routeDelete,
  statsRequest: NetmsgType.statsRequest,
  digestRequest: NetmsgType.digestRequest,
  topology: NetmsgType.topology,
  sysctlSet: NETMSG.sysctlSet,
  sysctlGet: NETMSG.sysctlGet,
  routeBatch: NetmsgType.routeBatch,
  routeResync: NetmsgType.routeResync,
  listen: SockNetmsg.listen,
  closeListener: SockNetmsg.closeListener,
  accept: SockNetmsg.accept,
  send: SockNetmsg.send,
  shutdown: SockNetmsg.shutdown,
  close: SockNetmsg.close,
  setopt: SockNetmsg.setopt,
  list: SockNetmsg.list,
  listeners: SockNetmsg.listeners,
  connect: SockNetmsg.connect,
  segments: RescaleNetmsg.segments,
  home: RescaleNetmsg.home,
  handover: RescaleNetmsg.handover,
  leaving: RescaleNetmsg.leaving,
  chase: RescaleNetmsg.chase,
  fence: RescaleNetmsg.fence,
  ipfwSet: NETMSG.ipfwSet,
  ipfwShow: NETMSG.ipfwShow,
  ipfwStates: NETMSG.ipfwStates,
} as const;
export type PortNetmsgName = keyof typeof PORT_NETMSGS;

/** Why the port dropped a message (dfly_netisr_port_dropped_total{reason}). */
export const PortDrop = {
  /** Empty message. */
  tooshort: "tooshort",
  /** A type byte with no handler on this CPU. */
  unknown: "unknown",
} as const;
export type PortDropReason = (typeof PortDrop)[keyof typeof PortDrop];

export type NetmsgHandler = (m: Msg) => void;

interface Entry {
  readonly name: PortNetmsgName;
  readonly handler: NetmsgHandler;
}

/** A second handler for one type (a wiring mistake, found at start-up). */
export class NetmsgRegistryError extends Error {
  override readonly name = "NetmsgRegistryError";
  constructor(readonly type: number) {
    super(`netmsg type 0x${type.toString(16)} registered twice`);
  }
}

export class NetmsgRegistry {
  private readonly table: (Entry | undefined)[] = new Array<Entry | undefined>(256).fill(undefined);
  readonly dropped: Record<PortDropReason, number> = { tooshort: 0, unknown: 0 };
  /** Messages handled, by type name. */
  readonly handled: Partial<Record<PortNetmsgName, number>> = {};

  /** Checks each message before its handler (port_check.ts); refusals are counted there. */
  gate: PortGate | undefined;

  constructor(private readonly cpu: number) {}

  /** Registers the handler of one or more types (by name). */
  register(names: PortNetmsgName | readonly PortNetmsgName[], handler: NetmsgHandler): void {
    for (const name of typeof names === "string" ? [names] : names) {
      const type = PORT_NETMSGS[name];
      if (this.table[type]) throw new NetmsgRegistryError(type);
      this.table[type] = { name, handler };
    }
  }

  /** The handler's name for a type byte (undefined: not registered). */
  nameOf(type: number): PortNetmsgName | undefined {
    return this.table[type & 255]?.name;
  }

  /** One message on the port: to its type's handler, or counted. `fromControl`: it came on the control-only subject. */
  dispatch(m: Msg, fromControl = false): void {
    const d = m.data;
    if (d.length === 0) {
      this.dropped.tooshort++;
      return;
    }
    const e = this.table[d[0]];
    if (!e) {
      this.dropped.unknown++;
      if (m.reply) m.respond(encodeNetmsg.reply(0, false, undefined, `netisr ${this.cpu}: unknown netmsg 0x${d[0].toString(16)}`));
      return;
    }
    const refused = this.gate?.check(d, fromControl);
    if (refused !== undefined) {
      const id = d.length >= 5 ? d[1] | (d[2] << 8) | (d[3] << 16) | (d[4] << 24) : 0;
      if (m.reply) m.respond(encodeNetmsg.reply(id >>> 0, false, undefined, `netisr ${this.cpu}: ${e.name} refused: ${refused}`));
      return;
    }
    this.handled[e.name] = (this.handled[e.name] ?? 0) + 1;
    e.handler(m);
  }
}
