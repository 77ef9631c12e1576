/**
 * TCP output: a segment leaves on this CPU's TX ring of the interface its route names (a
 * gateway route through the gateway's interface), written as a frame into that ring's batch
 * (tcp_frames.ts), which leaves at the end of the burst of work.
 */
import { routeIwSegs, type TcpSeg } from "@dfly/core";
import { subjects, type Transport } from "@dfly/transport";
import type { Netisr } from "./netisr.js";
import { TcpFrameQueue } from "./tcp_frames.js";

export class TcpOutput {
  private readonly queues = new Map<number, TcpFrameQueue>();

  constructor(
    private readonly netisr: Netisr,
    private readonly transport: Transport,
    private readonly cluster: string,
    /** Counts segments that had no route out (dropped). */
    private readonly stats: { noroute: number },
  ) {}

  /** A segment out: the interface of the route to its destination, this CPU's TX ring there. */
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
    let q = this.queues.get(ifx);
    if (!q) {
      q = new TcpFrameQueue((b) => {
        const ifp = this.netisr.interfaces[ifx];
        if (!ifp) return;
        ifp.txFrames += frameCount(b);
        this.netisr.stats.batchesTx++;
        this.transport.publish(subjects.tx(this.cluster, ifp.ifname, ifp.txRing), b, { transfer: true });
      }, 64 * 1024);
      this.queues.set(ifx, q);
    }
    q.push(seg);
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
    for (const q of this.queues.values()) q.flush();
  }
}

function frameCount(batch: Uint8Array): number {
  return (batch[4] | (batch[5] << 8) | (batch[6] << 16) | (batch[7] << 24)) >>> 0;
}
