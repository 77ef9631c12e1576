/**
 * The binary form of routes on the bulk paths (KV chunks, batch netmsgs, the table stream): parsing
 * text was most of a 900K-route load. Layout, little-endian: u16 ifname count, each ifname as u8
 * length + ASCII; u32 record count; records of 24 bytes: addr u32, len u8, flags u8 (1 gateway,
 * 2 ifname, 4 delete), ifname index u16, gateway u32, metric u32, mtu u32, iw u32. Decoding is
 * strict (exact size, known flag bits, lengths ≤ 32, valid interface names, indexes in range);
 * the RouteTable that takes a route checks the rest (host bits, attribute ranges).
 */
import type { Prefix, RouteAttrs } from "@dfly/core";
import { routeAttrsOf } from "./route.js";

export const ROUTE_REC_BYTES = 24;
const F_GW = 1;
const F_IF = 2;
const F_DEL = 4;
const IFNAME = /^[A-Za-z][A-Za-z0-9_.-]{0,14}$/;

/** One route (or delete) as the bulk paths carry it; `iw` sets both iwmaxsegs and iwcapsegs. */
export interface RouteRec {
  addr: number;
  len: number;
  gateway?: number;
  ifname?: string;
  metric?: number;
  mtu?: number;
  iw?: number;
  /** A delete of the prefix (batch netmsgs only). */
  del?: boolean;
}

export function encodeRouteRecs(recs: readonly RouteRec[]): Uint8Array {
  const names: string[] = [];
  const index = new Map<string, number>();
  for (const r of recs) if (r.ifname !== undefined && !index.has(r.ifname)) index.set(r.ifname, names.push(r.ifname) - 1);
  if (names.length > 0xffff) throw new RangeError("more than 65535 interface names");
  let head = 2 + 4;
  for (const n of names) head += 1 + n.length;
  const out = new Uint8Array(head + recs.length * ROUTE_REC_BYTES);
  const dv = new DataView(out.buffer);
  let o = 0;
  dv.setUint16(o, names.length, true);
  o += 2;
  for (const n of names) {
    out[o++] = n.length;
    for (let i = 0; i < n.length; i++) out[o++] = n.charCodeAt(i) & 0x7f;
  }
  dv.setUint32(o, recs.length, true);
  o += 4;
  for (const r of recs) {
    dv.setUint32(o, r.addr >>> 0, true);
    out[o + 4] = r.len;
    out[o + 5] = (r.gateway !== undefined ? F_GW : 0) | (r.ifname !== undefined ? F_IF : 0) | (r.del ? F_DEL : 0);
    dv.setUint16(o + 6, r.ifname !== undefined ? index.get(r.ifname)! : 0, true);
    dv.setUint32(o + 8, (r.gateway ?? 0) >>> 0, true);
    dv.setUint32(o + 12, r.metric ?? 0, true);
    dv.setUint32(o + 16, r.mtu ?? 0, true);
    dv.setUint32(o + 20, r.iw ?? 0, true);
    o += ROUTE_REC_BYTES;
  }
  return out;
}

/** The records, or why the block is malformed. */
export function decodeRouteRecs(data: Uint8Array, allowDelete = false): RouteRec[] | string {
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (data.length < 6) return "shorter than its header";
  let o = 0;
  const nNames = dv.getUint16(0, true);
  o = 2;
  const names: string[] = [];
  for (let i = 0; i < nNames; i++) {
    if (o >= data.length) return "truncated interface names";
    const l = data[o++];
    if (o + l > data.length) return "truncated interface names";
    const n = String.fromCharCode(...data.subarray(o, o + l));
    if (!IFNAME.test(n)) return `interface name ${JSON.stringify(n.slice(0, 16))} is not 1-15 of [A-Za-z0-9_.-], a letter first`;
    names.push(n);
    o += l;
  }
  if (o + 4 > data.length) return "no record count";
  const count = dv.getUint32(o, true);
  o += 4;
  if (data.length - o !== count * ROUTE_REC_BYTES) return `${count} records do not fill ${data.length - o} bytes`;
  const recs: RouteRec[] = new Array<RouteRec>(count);
  for (let i = 0; i < count; i++, o += ROUTE_REC_BYTES) {
    const len = data[o + 4];
    const flags = data[o + 5];
    if (len > 32) return `record ${i + 1}: length ${len} above 32`;
    if (flags & ~(F_GW | F_IF | F_DEL) || (flags & F_DEL && !allowDelete)) return `record ${i + 1}: flags 0x${flags.toString(16)}`;
    const r: RouteRec = { addr: dv.getUint32(o, true), len };
    if (flags & F_DEL) {
      r.del = true;
      recs[i] = r;
      continue;
    }
    if (flags & F_GW) r.gateway = dv.getUint32(o + 8, true);
    if (flags & F_IF) {
      const k = dv.getUint16(o + 6, true);
      if (k >= names.length) return `record ${i + 1}: interface index ${k} of ${names.length}`;
      r.ifname = names[k];
    }
    if (!(flags & (F_GW | F_IF))) return `record ${i + 1}: neither a gateway nor an interface`;
    const metric = dv.getUint32(o + 12, true);
    const mtu = dv.getUint32(o + 16, true);
    const iw = dv.getUint32(o + 20, true);
    if (metric) r.metric = metric;
    if (mtu) r.mtu = mtu;
    if (iw) r.iw = iw;
    recs[i] = r;
  }
  return recs;
}

export function recPrefix(r: RouteRec): Prefix {
  return { addr: r.addr >>> 0, len: r.len };
}

export function recAttrs(r: RouteRec): RouteAttrs {
  return routeAttrsOf(r);
}
