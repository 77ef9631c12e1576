/** The replicated form of a route (`@dfly/wire`'s RouteSpec) from a core Route and to the proto message. */
import { formatRouteAddress, parsePrefix, type Route } from "@dfly/core";
import { normalizeRouteSpec, type RouteSpec } from "@dfly/wire";
import type { Route as RouteProto } from "./gen/dfly/netstack/v1/route.js";

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
