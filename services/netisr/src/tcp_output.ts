/** TCP output (DragonFly's tcp_output → ip_output): segments as frames into this CPU's TX batch (`IfTx`, shared with forwarding). */
import { routeIwSegs, type TcpSeg } from "@dfly/core";
import type { Netisr } from "./netisr.js";
import { tcpFrameLength, writeTcpFrame } from "./tcp_host.js";

export class TcpOutput {
  private ipId = 1;

  constructor(
    private readonly netisr: Netisr,
    /** Counts segments that had no route out (dropped). */
    private readonly stats: { noroute: number },
  ) {}

  /** A segment out: the interface of the route to its destination (a gateway's through its own). */
  output(seg: TcpSeg): void {
    const routes = this.netisr.routes;
    let ri = routes.lookup(seg.dst);
    let ifname = ri >= 0 ? routes.ifnameOf(ri) : undefined;
    if (ri >= 0 && ifname === undefined) {
      ri = routes.lookup(routes.gatewayOf(ri));
      ifname = ri >= 0 ? routes.ifnameOf(ri) : undefined;
    }
    const ifx = ifname === undefined ? -1 : this.netisr.ifindex(ifname);
    if (ifx < 0) {
      this.stats.noroute++;
      return;
    }
    const tx = this.netisr.tx;
    const at = tx.reserve(ifx, tcpFrameLength(seg), 0);
    if (at < 0) {
      tx.odropped();
      return;
    }
    writeTcpFrame(tx.writer(ifx).buffer, at, seg, this.ipId);
    this.ipId = (this.ipId + 1) & 0xffff;
    tx.flushSoon();
  }

  /** The route's initial window (rmx_iwmaxsegs, honoured when ≥ 4) and MTU for a peer. */
  routeOpts(faddr: number): { iwSegs?: number; mss?: number } | undefined {
    const routes = this.netisr.routes;
    const ri = routes.lookup(faddr);
    if (ri < 0) return undefined;
    const r = routes.route(ri);
    const iw = routeIwSegs(r);
    if (!iw && !r.mtu) return undefined;
    return { ...(iw ? { iwSegs: iw.maxsegs } : {}), ...(r.mtu ? { mss: r.mtu - 40 } : {}) };
  }

  flush(): void {
    this.netisr.tx.flush();
  }
}
