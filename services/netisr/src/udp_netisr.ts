/**
 * UDP on one netisr CPU: its `udbinfo[cpu]`, udp_input() from the netisr's local delivery and
 * udp_output() into this CPU's TX batch. A datagram reaches this CPU because its address pair
 * hashes here (ip_hashfn: toeplitz of src|dst), which is also the CPU a socket's send to that
 * pair runs on (udp_addrcpu).
 */
import { IPPROTO, UDP_HDRLEN, UdpPcbInfo, UdpStats, UDP_STAT_NAMES, udpInput, writeIpv4Header, writeUdp } from "@dfly/core";
import type { LocalInput, Netisr } from "./netisr.js";

export class UdpNetisr {
  readonly pcbinfo: UdpPcbInfo;
  readonly stats = new UdpStats();
  /** udp_output() found no route to the destination (dropped). */
  noroute = 0;
  private ipId = 1;
  /** udp_input(): false (not consumed) when no socket has the port, so ip_input answers with ICMP port unreachable. */
  readonly localInput: LocalInput;

  constructor(readonly netisr: Netisr) {
    this.pcbinfo = new UdpPcbInfo(netisr.cpu);
    this.localInput = (proto, buf, off, hlen, iplen) => {
      if (proto !== IPPROTO.UDP) return false;
      return udpInput(this.pcbinfo, this.stats, buf, off, hlen, iplen) !== "noport";
    };
  }

  /** netstat -s "udp" counters of this CPU, by udpstat name (the control sums them over the CPUs). */
  statsBody(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const k of UDP_STAT_NAMES) out[k] = this.stats[k];
    out.udps_noroute = this.noroute;
    return out;
  }

  get cpu(): number {
    return this.netisr.cpu;
  }

  /** The interface index of the route to `dst` (a gateway's through its own), or -1. */
  private routeIf(dst: number): number {
    const n = this.netisr;
    const routes = n.routes;
    let ri = routes.lookup(dst);
    let ifname = ri >= 0 ? routes.ifnameOf(ri) : undefined;
    if (ri >= 0 && ifname === undefined) {
      ri = routes.lookup(routes.gatewayOf(ri));
      ifname = ri >= 0 ? routes.ifnameOf(ri) : undefined;
    }
    return ifname === undefined ? -1 : n.ifindex(ifname);
  }

  /** in_pcbladdr(): the address of the interface the route to `dst` leaves by (0: no route). */
  sourceAddr(dst: number): number {
    const ifp = this.netisr.interfaces[this.routeIf(dst)];
    return ifp !== undefined && ifp.addrs.length > 0 ? ifp.addrs[0] : 0;
  }

  /** udp_output(): one datagram out the interface of the route to `dst`; `src` 0 takes that interface's address. */
  output(src: number, sport: number, dst: number, dport: number, data: Uint8Array): boolean {
    const n = this.netisr;
    const ifx = this.routeIf(dst);
    const ifp = n.interfaces[ifx];
    if (ifp === undefined) {
      this.noroute++;
      return false;
    }
    const from = src !== 0 ? src : ifp.addrs.length > 0 ? ifp.addrs[0] : 0;
    const len = 20 + UDP_HDRLEN + data.length;
    const at = n.tx.reserve(ifx, len, 0);
    if (at < 0) {
      n.tx.odropped();
      return false;
    }
    const b = n.tx.writer(ifx).buffer;
    writeIpv4Header(b, at, { src: from, dst, p: IPPROTO.UDP, id: this.ipId }, UDP_HDRLEN + data.length);
    writeUdp(b, at + 20, { sport, dport }, data, from, dst);
    this.ipId = (this.ipId + 1) & 0xffff;
    this.stats.udps_opackets++;
    n.tx.flushSoon();
    return true;
  }
}
