/**
 * The replicated form of a route (transport's RouteSpec) and its conversions:
 * to core's RouteTable attributes (the same on control and on every CPU, so the
 * digests agree), from a core Route, and from/to the proto message.
 */
import { formatRouteAddress, parsePrefix, type Route, type RouteAttrs } from "@dfly/core";
import type { RouteSpec } from "@dfly/transport";
import type { Route as RouteProto } from "./gen/dfly/netstack/v1/route.js";

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

/** `iw` sets both rmx_iwmaxsegs and rmx_iwcapsegs (DragonFly's `route add -iwmaxsegs N -iwcapsegs N`). */
export function routeAttrsOf(r: RouteSpec): RouteAttrs {
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

export function routeSpecOf(r: Route): RouteSpec {
  return normalizeRouteSpec({
    prefix: r.prefix,
    gateway: r.gateway === undefined ? undefined : formatRouteAddress(r.gateway),
    ifname: r.ifname,
    metric: r.metric,
    mtu: r.mtu,
    iw: r.iwmaxsegs,
  });
}

export function routeProtoOf(r: RouteSpec): RouteProto {
  return { prefix: r.prefix, gateway: r.gateway ?? "", ifname: r.ifname ?? "", metric: r.metric ?? 0, mtu: r.mtu ?? 0, iw: r.iw ?? 0 };
}

/** Sort order of `route show`: by address, then by prefix length. */
export function comparePrefixes(a: string, b: string): number {
  const pa = parsePrefix(a);
  const pb = parsePrefix(b);
  return pa.addr - pb.addr || pa.len - pb.len;
}
