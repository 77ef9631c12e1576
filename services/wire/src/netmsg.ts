// Netmsgs on a netisr's port `<c>.netisr.<cpu>` (DragonFly's `lwkt_sendmsg` to a netisr port): a type byte, then the payload (README).
import { NetmsgType } from "./netmsg_type.js";
import type { RouteSpec } from "./route.js";
import { decodeRouteBatch, type RouteBatchMsg } from "./routebatch.js";
import type { TopologyMsg } from "./topology.js";

export const NetmsgDrop = {
  tooshort: "tooshort",
  badtype: "badtype",
  badjson: "badjson",
  badbody: "badbody",
} as const;
export type NetmsgDropReason = (typeof NetmsgDrop)[keyof typeof NetmsgDrop];

export type Netmsg =
  | { type: typeof NetmsgType.frames; batch: Uint8Array }
  | { type: typeof NetmsgType.routeAdd; id: number; route: RouteSpec; revision: number }
  | { type: typeof NetmsgType.routeDelete; id: number; prefix: string; revision: number }
  | { type: typeof NetmsgType.statsRequest; id: number }
  | { type: typeof NetmsgType.digestRequest; id: number }
  | RouteBatchMsg
  | { type: typeof NetmsgType.routeResync; id: number }
  | { type: typeof NetmsgType.topology; id: number; topology: TopologyMsg }
  | { type: typeof NetmsgType.reply; id: number; ok: boolean; error?: string; body?: unknown }
  | { type: "socket"; code: number; id: number; body: unknown };

const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });

/** A control netmsg: type byte, u32 LE id, then the body as JSON (nothing when undefined). */
export function controlFrame(type: number, id: number, body: unknown): Uint8Array {
  const json = body === undefined ? new Uint8Array(0) : enc.encode(JSON.stringify(body));
  const out = new Uint8Array(5 + json.length);
  out[0] = type;
  new DataView(out.buffer).setUint32(1, id >>> 0, true);
  out.set(json, 5);
  return out;
}

export const encodeNetmsg = {
  routeAdd: (id: number, route: RouteSpec, revision: number) => controlFrame(NetmsgType.routeAdd, id, { route, revision }),
  routeDelete: (id: number, prefix: string, revision: number) => controlFrame(NetmsgType.routeDelete, id, { prefix, revision }),
  statsRequest: (id: number) => controlFrame(NetmsgType.statsRequest, id, undefined),
  digestRequest: (id: number) => controlFrame(NetmsgType.digestRequest, id, undefined),
  topology: (topology: TopologyMsg) => controlFrame(NetmsgType.topology, 0, topology),
  reply: (id: number, ok: boolean, body?: unknown, error?: string) =>
    controlFrame(NetmsgType.reply, id, { ok, ...(error !== undefined ? { error } : {}), ...(body !== undefined ? { body } : {}) }),
  socket: (type: number, id: number, body: unknown) => {
    if (type < NetmsgType.socketFirst || type > NetmsgType.socketLast) throw new RangeError(`socket netmsg type 0x${type.toString(16)} outside 0x20-0x3f`);
    return controlFrame(type, id, body);
  },
} as const;

/** The type byte (0 for an empty message). Cheap: the netisr's first branch on its port. */
export function netmsgType(data: Uint8Array): number {
  return data.length === 0 ? 0 : data[0];
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isOptNum = (v: unknown) => v === undefined || (typeof v === "number" && Number.isFinite(v));
const isOptStr = (v: unknown) => v === undefined || typeof v === "string";
const isRev = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0;

function isRoute(v: unknown): v is RouteSpec {
  return (
    isObj(v) &&
    typeof v.prefix === "string" &&
    isOptStr(v.gateway) &&
    isOptStr(v.ifname) &&
    isOptNum(v.metric) &&
    isOptNum(v.mtu) &&
    isOptNum(v.iw)
  );
}

function isTopology(v: unknown): v is TopologyMsg {
  return (
    isObj(v) &&
    isRev(v.epoch) &&
    Array.isArray(v.cpus) &&
    v.cpus.every((c) => Number.isInteger(c)) &&
    Array.isArray(v.interfaces) &&
    v.interfaces.every(
      (i) => isObj(i) && typeof i.ifname === "string" && Array.isArray(i.ringToCpu) && Array.isArray(i.redirect) && typeof i.rings === "number",
    ) &&
    typeof v.rssKey === "string"
  );
}

/** Decodes a port message; a malformed one gives a drop reason. */
export function decodeNetmsg(data: Uint8Array): Netmsg | NetmsgDropReason {
  if (data.length === 0) return NetmsgDrop.tooshort;
  const type = data[0];
  if (type === NetmsgType.frames) return { type, batch: data };
  const control = (type >= NetmsgType.routeAdd && type <= NetmsgType.reply) || (type >= NetmsgType.socketFirst && type <= NetmsgType.socketLast);
  if (!control) return NetmsgDrop.badtype;
  if (data.length < 5) return NetmsgDrop.tooshort;
  if (type === NetmsgType.routeBatch) return decodeRouteBatch(data);
  const id = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(1, true);
  let body: unknown = undefined;
  if (data.length > 5) {
    try {
      body = JSON.parse(dec.decode(data.subarray(5)));
    } catch {
      return NetmsgDrop.badjson;
    }
  }
  if (type >= NetmsgType.socketFirst) return { type: "socket", code: type, id, body };
  switch (type) {
    case NetmsgType.routeAdd:
      return isObj(body) && isRoute(body.route) && isRev(body.revision) ? { type, id, route: body.route, revision: body.revision } : NetmsgDrop.badbody;
    case NetmsgType.routeDelete:
      return isObj(body) && typeof body.prefix === "string" && isRev(body.revision)
        ? { type, id, prefix: body.prefix, revision: body.revision }
        : NetmsgDrop.badbody;
    case NetmsgType.statsRequest:
      return body === undefined ? { type, id } : NetmsgDrop.badbody;
    case NetmsgType.routeResync:
      return body === undefined ? { type, id } : NetmsgDrop.badbody;
    case NetmsgType.digestRequest:
      return body === undefined ? { type, id } : NetmsgDrop.badbody;
    case NetmsgType.topology:
      return isTopology(body) ? { type, id, topology: body } : NetmsgDrop.badbody;
    case NetmsgType.reply:
      return isObj(body) && typeof body.ok === "boolean" && isOptStr(body.error)
        ? { type, id, ok: body.ok, ...(body.error !== undefined ? { error: body.error as string } : {}), ...("body" in body ? { body: body.body } : {}) }
        : NetmsgDrop.badbody;
    default:
      return NetmsgDrop.badtype;
  }
}
