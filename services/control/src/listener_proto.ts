// The one conversion between the listener proto messages and `@dfly/wire`'s ListenerSpec.
// proto3 has no unset field: backlog 0 is somaxconn (-1 in the spec), address "" or "*" is INADDR_ANY, index only with SO_REUSEPORT.
import { formatRouteAddress, parseRouteAddress } from "@dfly/core";
import type { ListenerSpec, ListenRequest } from "@dfly/wire";
import { BadRequestError } from "./errors.js";
import type { Listener, ListenRequest as ListenRequestProto } from "./gen/dfly/netstack/v1/socket.js";

const options = (p: { nodelay: boolean; sndbuf: number; rcvbuf: number }) => ({
  ...(p.nodelay ? { nodelay: true } : {}),
  ...(p.sndbuf > 0 ? { sndbuf: p.sndbuf } : {}),
  ...(p.rcvbuf > 0 ? { rcvbuf: p.rcvbuf } : {}),
});

function laddrOf(address: string): number {
  const a = address === "" || address === "*" ? "0.0.0.0" : address;
  try {
    return parseRouteAddress(a);
  } catch {
    throw new BadRequestError("address", `"${address}" is not an IPv4 address`);
  }
}

/** A Listen call's request (BadRequestError for an address that is not IPv4). */
export function listenRequestOf(p: ListenRequestProto): ListenRequest {
  return { laddr: laddrOf(p.address), lport: p.port, reuseport: p.reuseport, backlog: p.backlog > 0 ? p.backlog : -1, owner: p.owner, ...options(p) };
}

export function listenRequestProtoOf(r: ListenRequest): ListenRequestProto {
  return {
    address: formatRouteAddress(r.laddr >>> 0),
    port: r.lport,
    reuseport: r.reuseport,
    backlog: Math.max(0, r.backlog),
    owner: r.owner,
    nodelay: r.nodelay === true,
    sndbuf: r.sndbuf ?? 0,
    rcvbuf: r.rcvbuf ?? 0,
  };
}

/** A ListListeners row: the spec and each CPU's accept-queue depth. */
export function listenerProtoOf(l: ListenerSpec, queues: readonly { cpu: number; depth: number }[] = []): Listener {
  return {
    listenerId: l.id,
    groupIndex: l.index ?? 0,
    ...listenRequestProtoOf(l),
    queues: queues.map((q) => ({ cpu: q.cpu, depth: q.depth })),
  };
}

export function listenerSpecOf(p: Listener): ListenerSpec {
  return {
    id: p.listenerId,
    ...listenRequestOf(p),
    ...(p.reuseport ? { index: p.groupIndex } : {}),
  };
}
