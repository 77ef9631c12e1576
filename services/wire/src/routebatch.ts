/**
 * Route batch netmsg (control → one CPU's port): many adds/deletes under one revision, in the
 * order to apply them. Layout: type, id u32 LE, revision f64 LE, then lines `+<route line>` or
 * `-<prefix>` (routelines.ts). A batch with any malformed line is dropped whole (`badbody`):
 * applying part of it would leave the CPU's table different from the control's.
 */
import { NetmsgType } from "./netmsg_type.js";
import type { RouteSpec } from "./route.js";
import { parseRouteLine, prefixShapeError, routeLine } from "./routelines.js";

export type RouteBatchOp = { op: "add"; route: RouteSpec } | { op: "delete"; prefix: string };

/** Lines a batch may hold (bounds what a forged message can make a CPU allocate and apply). */
export const ROUTE_BATCH_MAX = 65536;
const HEADER = 13;
const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });

function header(type: number, id: number, len: number): { out: Uint8Array; dv: DataView } {
  const out = new Uint8Array(len);
  out[0] = type;
  const dv = new DataView(out.buffer);
  dv.setUint32(1, id >>> 0, true);
  return { out, dv };
}

export function encodeRouteBatch(id: number, revision: number, ops: readonly RouteBatchOp[]): Uint8Array {
  if (ops.length > ROUTE_BATCH_MAX) throw new RangeError(`route batch of ${ops.length} > ${ROUTE_BATCH_MAX}`);
  const body = enc.encode(ops.map((o) => (o.op === "add" ? "+" + routeLine(o.route) : "-" + o.prefix)).join("\n"));
  const { out, dv } = header(NetmsgType.routeBatch, id, HEADER + body.length);
  dv.setFloat64(5, revision, true);
  out.set(body, HEADER);
  return out;
}

/** "Reload your whole table from the control" (the control's repair of a CPU that missed changes). */
export function encodeRouteResync(id: number): Uint8Array {
  return header(NetmsgType.routeResync, id, 5).out;
}

export type RouteBatchMsg = { type: typeof NetmsgType.routeBatch; id: number; revision: number; ops: RouteBatchOp[] };

/** The batch, or why it is dropped ("tooshort" | "badbody"). */
export function decodeRouteBatch(data: Uint8Array): RouteBatchMsg | "tooshort" | "badbody" {
  if (data.length < HEADER) return "tooshort";
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const id = dv.getUint32(1, true);
  const revision = dv.getFloat64(5, true);
  if (!Number.isSafeInteger(revision) || revision < 0) return "badbody";
  let text: string;
  try {
    text = dec.decode(data.subarray(HEADER));
  } catch {
    return "badbody";
  }
  const ops: RouteBatchOp[] = [];
  if (text !== "") {
    const lines = text.split("\n");
    if (lines.length > ROUTE_BATCH_MAX) return "badbody";
    for (const l of lines) {
      if (l[0] === "+") {
        const r = parseRouteLine(l.slice(1));
        if (typeof r === "string") return "badbody";
        ops.push({ op: "add", route: r });
      } else if (l[0] === "-" && prefixShapeError(l.slice(1)) === undefined) ops.push({ op: "delete", prefix: l.slice(1) });
      else return "badbody";
    }
  }
  return { type: NetmsgType.routeBatch, id, revision, ops };
}
