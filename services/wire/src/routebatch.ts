/**
 * Route batch netmsg (control → one CPU's port): many adds/deletes under one revision, in the
 * order to apply them. Layout: type, id u32 LE, revision f64 LE, then route records (routebin.ts,
 * deletes allowed). A malformed batch is dropped whole (`badbody`): applying part of it would
 * leave the CPU's table different from the control's.
 */
import { NetmsgType } from "./netmsg_type.js";
import { decodeRouteRecs, encodeRouteRecs, ROUTE_REC_BYTES, type RouteRec } from "./routebin.js";

/** Records a batch may hold (bounds what a forged message can make a CPU apply). */
export const ROUTE_BATCH_MAX = 65536;
const HEADER = 13;

export function encodeRouteBatch(id: number, revision: number, ops: readonly RouteRec[]): Uint8Array {
  if (ops.length > ROUTE_BATCH_MAX) throw new RangeError(`route batch of ${ops.length} > ${ROUTE_BATCH_MAX}`);
  const body = encodeRouteRecs(ops);
  const out = new Uint8Array(HEADER + body.length);
  const dv = new DataView(out.buffer);
  out[0] = NetmsgType.routeBatch;
  dv.setUint32(1, id >>> 0, true);
  dv.setFloat64(5, revision, true);
  out.set(body, HEADER);
  return out;
}

/** "Reload your whole table from the control" (the control's repair of a CPU that missed changes). */
export function encodeRouteResync(id: number): Uint8Array {
  const out = new Uint8Array(5);
  out[0] = NetmsgType.routeResync;
  new DataView(out.buffer).setUint32(1, id >>> 0, true);
  return out;
}

export type RouteBatchMsg = { type: typeof NetmsgType.routeBatch; id: number; revision: number; ops: RouteRec[] };

/** The batch, or why it is dropped ("tooshort" | "badbody"). */
export function decodeRouteBatch(data: Uint8Array): RouteBatchMsg | "tooshort" | "badbody" {
  if (data.length < HEADER) return "tooshort";
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const id = dv.getUint32(1, true);
  const revision = dv.getFloat64(5, true);
  if (!Number.isSafeInteger(revision) || revision < 0) return "badbody";
  if (data.length - HEADER > 6 + 65535 * 16 + ROUTE_BATCH_MAX * ROUTE_REC_BYTES) return "badbody";
  const ops = decodeRouteRecs(data.subarray(HEADER), true);
  return typeof ops === "string" ? "badbody" : { type: NetmsgType.routeBatch, id, revision, ops };
}
