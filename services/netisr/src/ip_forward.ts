// IPv4 forwarding: DragonFly's `ip_forward()` (sys/netinet/ip_input.c) and the route part of `ip_output()`, checks in their order.
// Reads the frame where it lies in the batch; nothing allocates. No ICMP redirects: the emulated links have no link-layer neighbours.
import { ICMP, ICMP_TIMXCEED, ICMP_UNREACH, ipTtlDecrement, NO_ROUTE, RTF, type RouteTable } from "@dfly/core";
import { inCanforward } from "./ip_icmp.js";
import { IpDrop } from "./ipstat.js";

/** Forwarded: `res.ifindex`/`res.mtu` name the output, the frame is rewritten. */
export const FWD_OK = -1;
/** Longer than the MTU and DF clear: the caller fragments (TTL already decremented). */
export const FWD_FRAGMENT = -2;

/** Default interface MTU (ETHERMTU). */
export const IF_MTU_DEFAULT = 1500;

/** Where a forwarded frame goes, or which ICMP error the drop asks for. Reused, never allocated per packet. */
export class ForwardResult {
  ifindex = -1;
  mtu = IF_MTU_DEFAULT;
  /** ICMP type to send about a dropped frame, or -1 for none. */
  icmpType = -1;
  icmpCode = 0;
  /** Next-hop MTU for needfrag. */
  icmpParam = 0;
}

const UNRESOLVED = -2;

/** One CPU's route index → output interface index, resolved once per route and cached until `invalidate()`. */
export class Fib {
  /** Route index → output interface (UNRESOLVED until first use, -1 for none). */
  private outIf = new Int32Array(1024).fill(UNRESOLVED);
  /** Route index → path MTU, filled with outIf. */
  private pathMtu = new Int32Array(1024);

  /** `ifindexOf`: interface name → index, or -1; `ifMtu`: interface index → MTU. */
  constructor(
    readonly table: RouteTable,
    private ifindexOf: (ifname: string) => number,
    private ifMtu: (ifindex: number) => number = () => IF_MTU_DEFAULT,
  ) {}

  /** Forget cached resolutions (after any route change or interface change). */
  invalidate(ifindexOf?: (ifname: string) => number, ifMtu?: (ifindex: number) => number): void {
    if (ifindexOf) this.ifindexOf = ifindexOf;
    if (ifMtu) this.ifMtu = ifMtu;
    this.outIf.fill(UNRESOLVED);
  }

  /** Output interface of route `ri`, or -1 when it resolves to none. */
  outIfOf(ri: number): number {
    if (ri >= this.outIf.length) this.grow(ri);
    const v = this.outIf[ri];
    return v !== UNRESOLVED ? v : this.resolve(ri);
  }

  /** Path MTU of route `ri` (valid after `outIfOf(ri)` returned an interface): the route's MTU if set, else the interface's. */
  mtuOf(ri: number): number {
    return this.pathMtu[ri];
  }

  private grow(ri: number): void {
    const n = Math.max(ri + 1, this.outIf.length * 2);
    const o = new Int32Array(n).fill(UNRESOLVED);
    o.set(this.outIf);
    this.outIf = o;
    const m = new Int32Array(n);
    m.set(this.pathMtu);
    this.pathMtu = m;
  }

  private resolve(ri: number): number {
    const t = this.table;
    let ifx = -1;
    const ifname = t.ifnameOf(ri);
    if (ifname !== undefined) ifx = this.ifindexOf(ifname);
    else if (t.flagsOf(ri) & RTF.GATEWAY) {
      const gi = t.lookup(t.gatewayOf(ri));
      const gname = gi === NO_ROUTE || gi === ri ? undefined : t.ifnameOf(gi);
      if (gname !== undefined && !(t.flagsOf(gi) & RTF.GATEWAY)) ifx = this.ifindexOf(gname);
    }
    this.outIf[ri] = ifx;
    if (ifx >= 0) {
      const m = t.mtuOf(ri);
      this.pathMtu[ri] = m !== 0 ? m : this.ifMtu(ifx);
    }
    return ifx;
  }
}

/** `ip_forward()` → FWD_OK, FWD_FRAGMENT, or an IpDrop code with `res.icmp*` set; a dropped frame is left intact (the ICMP quote needs the original header). */
export function ipForward(buf: Uint8Array, off: number, iplen: number, fib: Fib, res: ForwardResult): number {
  res.icmpType = -1;
  const dst = ((buf[off + 16] << 24) | (buf[off + 17] << 16) | (buf[off + 18] << 8) | buf[off + 19]) >>> 0;
  if (!inCanforward(dst)) return IpDrop.cantforward;
  if (buf[off + 8] <= 1) {
    res.icmpType = ICMP.TIMXCEED;
    res.icmpCode = ICMP_TIMXCEED.INTRANS;
    return IpDrop.timxceed;
  }
  const t = fib.table;
  const ri = t.lookup(dst);
  if (ri === NO_ROUTE) {
    res.icmpType = ICMP.UNREACH;
    res.icmpCode = ICMP_UNREACH.HOST;
    return IpDrop.noroute;
  }
  const flags = t.flagsOf(ri);
  if (flags & (RTF.REJECT | RTF.BLACKHOLE)) {
    if (flags & RTF.REJECT) {
      res.icmpType = ICMP.UNREACH;
      res.icmpCode = ICMP_UNREACH.HOST;
    }
    return IpDrop.noroute;
  }
  const ifx = fib.outIfOf(ri);
  if (ifx < 0) {
    res.icmpType = ICMP.UNREACH;
    res.icmpCode = ICMP_UNREACH.HOST;
    return IpDrop.noroute;
  }
  const mtu = fib.mtuOf(ri);
  res.ifindex = ifx;
  res.mtu = mtu;
  if (iplen > mtu) {
    if (buf[off + 6] & 0x40) {
      res.icmpType = ICMP.UNREACH;
      res.icmpCode = ICMP_UNREACH.NEEDFRAG;
      res.icmpParam = mtu;
      return IpDrop.cantfrag;
    }
    ipTtlDecrement(buf, off);
    return FWD_FRAGMENT;
  }
  ipTtlDecrement(buf, off);
  return FWD_OK;
}
