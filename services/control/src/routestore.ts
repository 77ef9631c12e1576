/**
 * The routes KV bucket. A single change is one key per prefix (its RouteSpec as JSON, or a
 * `{"prefix","deleted":true}` marker that also hides the prefix from an older bulk chunk); a bulk
 * load is chunks `bulk.<revision>.<n>` of route lines. Replayed in revision order, later wins.
 * The whole bucket is read in one pass; a value that does not parse is skipped, counted and
 * logged with its bucket and key (any NATS client can write the bucket), never fatal.
 */
import { RouteError, type RouteTable } from "@dfly/core";
import type { KvEntry, KvStore } from "@dfly/transport";
import { decodeRouteLines, encodeRouteLines, prefixShapeError, routeAttrsOf, type RouteSpec } from "@dfly/wire";

export const BULK_KEY_PREFIX = "bulk.";

const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

/** A stored value that was skipped. */
export interface BadRouteEntry {
  key: string;
  /** 1-based line of a bulk chunk (0: the whole value). */
  line: number;
  reason: string;
}

export interface ReadResult {
  revision: number;
  entries: number;
  bad: BadRouteEntry[];
  ms: number;
}

/** Adds or replaces (a replayed or reloaded prefix replaces what is there). */
export function upsertRoute(t: RouteTable, r: RouteSpec): boolean {
  const had = t.has(r.prefix);
  if (had) t.delete(r.prefix);
  t.add(r.prefix, routeAttrsOf(r));
  return had;
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
    const p = decodeRouteLines(e.value);
    for (const b of p.bad) why(b.line, b.reason);
    for (const r of p.routes) {
      try {
        upsertRoute(t, r);
      } catch (err) {
        why(0, `${r.prefix}: ${(err as Error).message}`);
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

/** Stores route chunks with a few puts in flight; resolves with each chunk's revision (in order). */
export async function storeChunks(kv: KvStore, base: number, chunks: readonly RouteSpec[][], inflight = 8): Promise<number[]> {
  const revs: number[] = new Array<number>(chunks.length);
  let next = 0;
  const worker = async () => {
    while (next < chunks.length) {
      const i = next++;
      revs[i] = await kv.put(`${BULK_KEY_PREFIX}${base}.${i}`, encodeRouteLines(chunks[i]));
    }
  };
  await Promise.all(Array.from({ length: Math.min(inflight, chunks.length) }, worker));
  return revs;
}
