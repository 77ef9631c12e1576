/** The port's gate: what only the control may say arrives on `<c>.ctl.<cpu>` (a subject only the control's NATS user may publish on), and every control message is checked as the gRPC API checks it before any handler runs. */
import { RouteTable, parsePrefix } from "@dfly/core";
import { NETMSG, checkTopology, decodeNetmsg, routeAttrsOf, sockBodyListener, type TopologyMsg } from "@dfly/wire";

/** Why the port refused a message (dfly_netisr_port_refused_total{reason}, netstat -s `port_refused_<reason>`). */
export const PortRefuse = {
  /** A control-only type on the open port `<c>.netisr.<cpu>` (anyone may publish there). */
  notcontrol: "notcontrol",
  /** A control message that does not decode (JSON, fields). */
  badbody: "badbody",
  /** A route the control's RouteService would refuse (prefix, gateway, ifname, metric, mtu, iw). */
  badroute: "badroute",
  /** A topology outside the shape and bounds the control builds (rings, names, addresses, sizes). */
  badtopology: "badtopology",
  /** A topology older than the one this CPU runs (epochs only move forward). */
  staleepoch: "staleepoch",
  /** A listen body that is malformed or on an address that is not this host's. */
  badlistener: "badlistener",
} as const;
export type PortRefuseReason = (typeof PortRefuse)[keyof typeof PortRefuse];

/** Types anyone on the bus may send: redispatched frames, a program's calls on its sockets, CPU-to-CPU rescale traffic. Every other type is the control's. */
const PEER_TYPES: ReadonlySet<number> = new Set([
  NETMSG.frames,
  NETMSG.accept,
  NETMSG.send,
  NETMSG.shutdown,
  NETMSG.close,
  NETMSG.setopt,
  NETMSG.connect,
  NETMSG.segments,
  NETMSG.home,
  NETMSG.handover,
  NETMSG.leaving,
  NETMSG.chase,
  NETMSG.fence,
  // A leaving CPU's ipfw states, sent with its TCBs to their new owner (bounded by the wire limits and dyn_max).
  NETMSG.ipfwStates,
]);

/** Whether a type may arrive on the open port. */
export const isPeerNetmsg = (type: number): boolean => PEER_TYPES.has(type);

export interface PortGateView {
  /** The epoch this CPU runs. */
  epoch(): number;
  /** This host's addresses (u32), from the current topology; empty: none known yet, nothing to check against. */
  addresses(): readonly number[];
}

export class PortGate {
  readonly refused: Record<PortRefuseReason, number> = { notcontrol: 0, badbody: 0, badroute: 0, badtopology: 0, staleepoch: 0, badlistener: 0 };
  /** Validates a route by the core table's own rules without touching the live one. */
  private readonly scratch = new RouteTable();

  constructor(private readonly view: PortGateView) {}

  /** Why `data` must not reach its handler (counted), or undefined. `fromControl`: it arrived on the control-only subject. */
  check(data: Uint8Array, fromControl: boolean): PortRefuseReason | undefined {
    const type = data[0];
    if (PEER_TYPES.has(type)) return undefined;
    const why = fromControl ? this.content(type, data) : PortRefuse.notcontrol;
    if (why !== undefined) this.refused[why]++;
    return why;
  }

  private content(type: number, data: Uint8Array): PortRefuseReason | undefined {
    switch (type) {
      case NETMSG.routeAdd:
      case NETMSG.routeDelete:
      case NETMSG.topology: {
        const m = decodeNetmsg(data);
        if (typeof m === "string") return PortRefuse.badbody;
        if (m.type === NETMSG.routeAdd) return this.route(m.route.prefix, () => routeAttrsOf(m.route));
        if (m.type === NETMSG.routeDelete) return this.prefix(m.prefix);
        if (m.type === NETMSG.topology) return this.topology(m.topology);
        return undefined;
      }
      case NETMSG.listen: {
        const m = decodeNetmsg(data);
        if (typeof m === "string" || m.type !== "socket") return PortRefuse.badbody;
        const l = sockBodyListener(m.body);
        if (typeof l === "string") return PortRefuse.badlistener;
        const mine = this.view.addresses();
        return l.laddr === 0 || mine.length === 0 || mine.includes(l.laddr >>> 0) ? undefined : PortRefuse.badlistener;
      }
      default:
        return undefined;
    }
  }

  private route(prefix: string, attrs: () => ReturnType<typeof routeAttrsOf>): PortRefuseReason | undefined {
    try {
      this.scratch.add(prefix, attrs());
      this.scratch.delete(prefix);
      return undefined;
    } catch {
      return PortRefuse.badroute;
    }
  }

  private prefix(prefix: string): PortRefuseReason | undefined {
    try {
      parsePrefix(prefix);
      return undefined;
    } catch {
      return PortRefuse.badroute;
    }
  }

  private topology(t: TopologyMsg): PortRefuseReason | undefined {
    if (checkTopology(t) !== undefined) return PortRefuse.badtopology;
    return t.epoch < this.view.epoch() ? PortRefuse.staleepoch : undefined;
  }
}
