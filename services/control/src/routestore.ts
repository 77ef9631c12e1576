/**
 * The routes KV bucket. A single change is one key per prefix (its RouteSpec as JSON, or a
 * `{"prefix","deleted":true}` marker that also hides the prefix from an older bulk chunk); a bulk
 * load is chunks `bulk.<revision>.<n>` of binary route records (wire's routebin). Replayed in revision order, later wins.
 * The whole bucket is read in one pass; a value that does not parse is skipped, counted and
 * logged with its bucket and key (any NATS client can write the bucket), never fatal.
 */
import { RouteError, type Route, type RouteTable } from "@dfly/core";
import type { KvEntry, KvStore } from "@dfly/transport";
import { decodeRouteRecs, prefixShapeError, recAttrs, recPrefix, routeAttrsOf, type RouteRec, type RouteSpec } from "@dfly/wire";

export const BULK_KEY_PREFIX = "bulk.";

const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

/** A stored value that was skipped. */
export interface BadRouteEntry {
  key: string;
  /** 1-based record of a bulk chunk (0: the whole value). */
  line: number;
  reason: string;
}

export interface ReadResult {
  revision: number;
  entries: number;
  bad: BadRouteEntry[];
  ms: number;
}

/** Adds or replaces (a replayed or reloaded prefix replaces what is there); the route's index. */
export function upsertRoute(t: RouteTable, r: RouteSpec): number {
  if (t.has(r.prefix)) t.delete(r.prefix);
  return t.add(r.prefix, routeAttrsOf(r));
}

/** `upsertRoute` of a binary record. */
export function upsertRec(t: RouteTable, r: RouteRec): number {
  const p = recPrefix(r);
  if (t.has(p)) t.delete(p);
  return t.add(p, recAttrs(r));
}

/** A table route as a record (iw: both limits are set together through this API). */
export function recOf(r: Route): RouteRec {
  const o: RouteRec = { addr: r.addr, len: r.len };
  if (r.gateway !== undefined) o.gateway = r.gateway;
  if (r.ifname !== undefined) o.ifname = r.ifname;
  if (r.metric) o.metric = r.metric;
  if (r.mtu) o.mtu = r.mtu;
  if (r.iwmaxsegs) o.iw = r.iwmaxsegs;
  return o;
}

function specOf(v: unknown): RouteSpec | { deleted: string } | string {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return "not a JSON object";
  const o = v as Record<string, unknown>;
  if (typeof o.prefix !== "string") return "no prefix";
  const bad = prefixShapeError(o.prefix);
  if (bad) return bad;
  if (o.deleted === true) return { deleted: o.prefix };
  for (const k of ["gateway", "ifname"]) if (o[k] !== undefined && typeof o[k] !== "string") return `${k} is not a string`;
  for (const k of ["metric", "mtu", "iw"]) if (o[k] !== undefined && !Number.isInteger(o[k])) return `${k} is not an integer`;
  return o as unknown as RouteSpec;
}

function applyEntry(t: RouteTable, e: KvEntry, bad: BadRouteEntry[]): void {
  const why = (line: number, reason: string): void => void bad.push({ key: e.key, line, reason });
  if (e.key.startsWith(BULK_KEY_PREFIX)) {
    const recs = decodeRouteRecs(e.value);
    if (typeof recs === "string") return why(0, recs);
    for (let i = 0; i < recs.length; i++) {
      try {
        upsertRec(t, recs[i]);
      } catch (err) {
        if (!(err instanceof RouteError)) throw err;
        why(i + 1, err.message);
      }
    }
    return;
  }
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(e.value));
  } catch (err) {
    return why(0, `not JSON: ${(err as Error).message}`);
  }
  const s = specOf(v);
  if (typeof s === "string") return why(0, s);
  try {
    if ("deleted" in s) {
      if (t.has(s.deleted)) t.delete(s.deleted);
    } else upsertRoute(t, s);
  } catch (err) {
    if (!(err instanceof RouteError)) throw err;
    why(0, err.message);
  }
}

/** Reads the bucket into `t`. */
export async function readRoutes(kv: KvStore, t: RouteTable): Promise<ReadResult> {
  const t0 = performance.now();
  const entries = await kv.entries();
  entries.sort((a, b) => a.revision - b.revision);
  const bad: BadRouteEntry[] = [];
  let revision = 0;
  for (const e of entries) {
    applyEntry(t, e, bad);
    revision = Math.max(revision, e.revision);
  }
  return { revision, entries: entries.length, bad, ms: performance.now() - t0 };
}

export const storeRoute = (kv: KvStore, key: string, r: RouteSpec) => kv.put(key, enc(r));
export const storeDeleted = (kv: KvStore, key: string, prefix: string) => kv.put(key, enc({ prefix, deleted: true }));

export const chunkKey = (base: number, i: number) => `${BULK_KEY_PREFIX}${base}.${i}`;

/** Stores route chunks with a few puts in flight; resolves with each chunk's revision (in order). */
export async function storeChunks(kv: KvStore, base: number, chunks: readonly Uint8Array[], inflight = 4): Promise<number[]> {
  const revs: number[] = new Array<number>(chunks.length);
  let next = 0;
  const worker = async () => {
    while (next < chunks.length) {
      const i = next++;
      revs[i] = await kv.put(chunkKey(base, i), chunks[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(inflight, chunks.length) }, worker));
  return revs;
}

/** Removes what a failed load stored (best effort: a chunk left behind is replayed at start-up). */
export async function dropChunks(kv: KvStore, base: number, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await kv.delete(chunkKey(base, i)).catch(() => undefined);
}
