/** A route as the control replicates it, and its core RouteTable attributes (identical everywhere, so digests agree). */
import type { RouteAttrs } from "@dfly/core";
import type { RouteRec } from "./routebin.js";

export interface RouteSpec {
  /** `a.b.c.d/len`, host bits zero. */
  prefix: string;
  /** Next hop `a.b.c.d`; a route has either a gateway or an outgoing `ifname` (directly connected). */
  gateway?: string;
  ifname?: string;
  metric?: number;
  mtu?: number;
  /** Initial congestion window, in segments (TCP). */
  iw?: number;
}

/** Drops unset fields ("" and 0 mean unset in proto3). */
export function normalizeRouteSpec(r: RouteSpec): RouteSpec {
  const out: RouteSpec = { prefix: r.prefix.trim() };
  if (r.gateway) out.gateway = r.gateway;
  if (r.ifname) out.ifname = r.ifname;
  if (r.metric) out.metric = r.metric;
  if (r.mtu) out.mtu = r.mtu;
  if (r.iw) out.iw = r.iw;
  return out;
}

/** Text (RouteSpec) or binary (RouteRec) form alike. `iw` sets both rmx_iwmaxsegs and rmx_iwcapsegs (DragonFly's `route add -iwmaxsegs N -iwcapsegs N`). */
export function routeAttrsOf(r: RouteSpec | RouteRec): RouteAttrs {
  const a: RouteAttrs = {};
  if (r.gateway !== undefined) a.gateway = r.gateway;
  if (r.ifname !== undefined) a.ifname = r.ifname;
  if (r.metric !== undefined) a.metric = r.metric;
  if (r.mtu !== undefined) a.mtu = r.mtu;
  if (r.iw !== undefined) {
    a.iwmaxsegs = r.iw;
    a.iwcapsegs = r.iw;
  }
  return a;
}
