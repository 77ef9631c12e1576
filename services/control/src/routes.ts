// The route service: the authoritative table (a core RouteTable, validating as the CPUs do), persisted in a KvStore (routestore.ts).
// A change is stored, then applied CPU by CPU (routechain.ts); a CPU that misses it is pending until repaired. Serialized.
import { formatRouteAddress, parsePrefix, parseRouteAddress, prefixMask, RouteTable, RouteNotFoundError, trace, TraceArea, type Route } from "@dfly/core";
import { kvKey, type KvStore } from "@dfly/transport";
import { encodeNetmsg, encodeRouteBatch, encodeRouteRecs, normalizeRouteSpec, recAttrs, recPrefix, routeAttrsOf, type RouteRec, type RouteSpec } from "@dfly/wire";
import type { Cluster } from "./cluster.js";
import { GatewayUnreachableError, UnknownInterfaceError, BadRequestError, RouteNotStoredError } from "./errors.js";
import type { CpuPorts } from "./ports.js";
import { applyStatus, RouteChain, type ApplyMode } from "./routechain.js";
import { routeSpecOf } from "./routespec.js";
import { dropChunks, readRoutes, recOf, storeChunks, storeDeleted, storeRoute, type BadRouteEntry } from "./routestore.js";

export const RouteOps = { add: "add", delete: "delete" } as const;
export type RouteOpName = (typeof RouteOps)[keyof typeof RouteOps];

export interface RouteEvent {
  op: RouteOpName;
  route: RouteSpec;
  revision: number;
}

export interface RouteChangeResult {
  revision: number;
  applied: number[];
  pending: number[];
  /** "stored, applied on CPUs 0,1, pending on CPU 2 (timeout after 2000 ms)" */
  status: string;
  route: RouteSpec;
}

export interface LoadResult {
  loaded: number;
  replaced: number;
  revision: number;
  applied: number[];
  pending: number[];
  status: string;
  storeMs: number;
  applyMs: number;
  cpuMs: { cpu: number; ms: number }[];
  tableSize: number;
}

export interface CpuDigestResult {
  cpu: number;
  digest: string;
  routes: number;
  match: boolean;
  error: string;
}

export interface VerifyResult {
  expectedDigest: string;
  revision: number;
  cpus: CpuDigestResult[];
  consistent: boolean;
}

/** Routes a bulk chunk and a batch netmsg carry (24 bytes each: about 200 KB, under NATS's 1 MB max_payload). */
export const ROUTE_CHUNK = 8192;

function covers(cidr: string, addr: number): boolean {
  const [a, l] = cidr.split("/");
  const m = prefixMask(Number(l));
  return ((parseRouteAddress(a) & m) >>> 0) === ((addr & m) >>> 0);
}

function within(r: Route, p: { addr: number; len: number } | undefined): boolean {
  if (!p) return true;
  const m = prefixMask(p.len);
  return r.len >= p.len && ((r.addr & m) >>> 0) === p.addr;
}

export interface RouteManagerOptions {
  /** The bucket's name, for the log of skipped values. */
  bucket?: string;
  mode?: ApplyMode;
  log?: (s: string) => void;
}

export class RouteManager {
  readonly table = new RouteTable();
  readonly chain: RouteChain;
  /** Values skipped when the bucket was read (named in the log; dfly_control_route_kv_bad). */
  badEntries: BadRouteEntry[] = [];
  private rev = 0;
  private serialQ: Promise<unknown> = Promise.resolve();
  private readonly listeners = new Set<(e: RouteEvent) => void>();
  private snapshotCache: { revision: number; chunks: Uint8Array[]; digest: string; total: number } | undefined;
  /** Called after each change with its result ("ok" | "error" | "partial"), for metrics. */
  onOp: (op: RouteOpName, result: string) => void = () => {};

  private constructor(
    private readonly kv: KvStore,
    private readonly cluster: Cluster,
    private readonly ports: CpuPorts,
    private readonly o: RouteManagerOptions,
  ) {
    this.chain = new RouteChain(ports, cluster, o.mode ?? "chain");
  }

  /** Reads every stored route in one pass (a restarted control resumes its table); bad values are skipped and logged. */
  static async load(kv: KvStore, cluster: Cluster, ports: CpuPorts, o: RouteManagerOptions = {}): Promise<RouteManager> {
    const m = new RouteManager(kv, cluster, ports, o);
    const r = await readRoutes(kv, m.table);
    m.rev = r.revision;
    m.badEntries = r.bad;
    const log = o.log ?? ((s: string) => console.error(s));
    const bucket = o.bucket ?? "routes";
    for (const b of r.bad.slice(0, 20)) log(`control: KV bucket ${bucket} key "${b.key}"${b.line ? ` line ${b.line}` : ""}: skipped: ${b.reason}`);
    if (r.bad.length > 20) log(`control: KV bucket ${bucket}: ${r.bad.length - 20} more bad values skipped`);
    if (r.entries > 0) log(`control: ${m.table.size} routes from ${r.entries} KV entries of bucket ${bucket} in ${r.ms.toFixed(0)} ms (${r.bad.length} skipped)`);
    return m;
  }

  get revision(): number {
    return this.rev;
  }

  get size(): number {
    return this.table.size;
  }

  digest(): string {
    return this.table.digest();
  }

  /** Up to `limit` routes within `prefix` (sorted), the number that matched, the revision. */
  list(limit = Infinity, prefix = ""): { routes: RouteSpec[]; total: number; revision: number; digest: string } {
    const p = prefix ? parsePrefix(prefix) : undefined;
    const all = this.table.list();
    const routes: RouteSpec[] = [];
    let total = 0;
    for (const r of all) {
      if (!within(r, p)) continue;
      if (total++ < limit) routes.push(routeSpecOf(r));
    }
    return { routes, total, revision: this.rev, digest: this.table.digest() };
  }

  /** The whole table as compact line chunks of one revision (cached: CPUs joining together share it). */
  snapshot(): { revision: number; chunks: Uint8Array[]; digest: string; total: number } {
    if (this.snapshotCache?.revision === this.rev && this.snapshotCache.total === this.table.size) return this.snapshotCache;
    const recs = this.table.list().map(recOf);
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < recs.length; i += ROUTE_CHUNK) chunks.push(encodeRouteRecs(recs.slice(i, i + ROUTE_CHUNK)));
    return (this.snapshotCache = { revision: this.rev, chunks, digest: this.table.digest(), total: recs.length });
  }

  get(prefix: string): RouteSpec {
    const r = this.table.get(parsePrefix(prefix));
    if (!r) throw new RouteNotFoundError(prefix);
    return routeSpecOf(r);
  }

  /** Longest-prefix match of an address. */
  match(address: string): RouteSpec {
    const r = this.table.match(parseRouteAddress(address));
    if (!r) throw new RouteNotFoundError(`${address}/32`);
    return routeSpecOf(r);
  }

  onChange(fn: (e: RouteEvent) => void): () => void {
    this.listeners.add(fn);
    return () => void this.listeners.delete(fn);
  }

  /** Checks the interface and resolves a gateway's interface from the registered subnets. */
  resolve(spec: RouteSpec): RouteSpec {
    const s = normalizeRouteSpec(spec);
    if (s.prefix === "") throw new BadRequestError("route.prefix", "missing");
    parsePrefix(s.prefix);
    const ifs = this.cluster.interfaces();
    if (s.ifname !== undefined && !this.cluster.interface(s.ifname)) throw new UnknownInterfaceError(s.ifname, ifs.map((i) => i.ifname));
    if (s.gateway !== undefined && s.ifname === undefined) {
      const gw = parseRouteAddress(s.gateway);
      const withAddrs = ifs.filter((i) => i.addresses.length > 0);
      const on = withAddrs.find((i) => i.addresses.some((a) => covers(a, gw)));
      if (on) s.ifname = on.ifname;
      else if (withAddrs.length > 0) throw new GatewayUnreachableError(s.gateway, s.prefix);
    }
    return s;
  }

  add(spec: RouteSpec): Promise<RouteChangeResult> {
    return this.serial(async () => {
      let s: RouteSpec;
      try {
        s = this.resolve(spec);
        this.table.add(s.prefix, routeAttrsOf(s)); // validates: typed core errors
      } catch (err) {
        this.onOp("add", "error");
        throw err;
      }
      let revision: number;
      try {
        revision = await storeRoute(this.kv, kvKey(s.prefix), s);
      } catch (err) {
        this.table.delete(s.prefix);
        this.onOp("add", "error");
        throw new RouteNotStoredError(`route add ${s.prefix}`, { cause: err });
      }
      this.rev = revision;
      this.emit({ op: "add", route: s, revision });
      return { ...(await this.replicate("add", (id) => encodeNetmsg.routeAdd(id, s, revision), `route add ${s.prefix}`)), revision, route: s };
    });
  }

  delete(prefix: string): Promise<RouteChangeResult> {
    return this.serial(async () => {
      let route: RouteSpec;
      try {
        if (prefix === "") throw new BadRequestError("prefix", "missing");
        const p = parsePrefix(prefix);
        const r = this.table.get(p);
        if (!r) throw new RouteNotFoundError(prefix);
        route = routeSpecOf(r);
      } catch (err) {
        this.onOp("delete", "error");
        throw err;
      }
      // A marker, not a tombstone: it must also hide the prefix from an older bulk chunk.
      let revision: number;
      try {
        revision = await storeDeleted(this.kv, kvKey(route.prefix), route.prefix);
      } catch (err) {
        this.onOp("delete", "error");
        throw new RouteNotStoredError(`route delete ${route.prefix}`, { cause: err });
      }
      this.table.delete(route.prefix);
      this.rev = revision;
      this.emit({ op: "delete", route, revision });
      return { ...(await this.replicate("delete", (id) => encodeNetmsg.routeDelete(id, route.prefix, revision), `route delete ${route.prefix}`)), revision, route };
    });
  }

  /**
   * A bulk load: every route validated into the table first (any error: the table is restored and
   * nothing stored), stored as chunks, then sent to the CPUs in batches. Duplicates: the last wins.
   */
  loadRoutes(recs: readonly RouteRec[]): Promise<LoadResult> {
    return this.serial(async () => {
      // The interface of each distinct next hop is resolved once (the load's lines share a few).
      const via = new Map<string, RouteSpec>();
      const undo: { p: { addr: number; len: number }; was: Route | undefined }[] = [];
      const rollback = () => {
        for (let i = undo.length - 1; i >= 0; i--) {
          const { p, was } = undo[i];
          if (this.table.has(p)) this.table.delete(p);
          if (was) this.table.add(p, { gateway: was.gateway, ifname: was.ifname, metric: was.metric, mtu: was.mtu, iwmaxsegs: was.iwmaxsegs, iwcapsegs: was.iwcapsegs, flags: was.flags });
        }
      };
      // Duplicates: the last wins, so each prefix is stored and sent once (a native sort finds
      // whether there are any; the per-prefix map is built only then).
      const keys = Float64Array.from(recs, (r) => r.addr * 64 + r.len).sort();
      let last: Map<number, number> | undefined;
      for (let i = 1; i < keys.length && !last; i++) {
        if (keys[i] !== keys[i - 1]) continue;
        last = new Map<number, number>();
        for (let j = 0; j < recs.length; j++) last.set(recs[j].addr * 64 + recs[j].len, j);
      }
      let lastVia: { gatewayN: number | undefined; ifnameIn: string | undefined; spec: RouteSpec } | undefined;
      const out: RouteRec[] = [];
      let replaced = 0;
      try {
        for (let i = 0; i < recs.length; i++) {
          // Heartbeats and other calls get their turn during a long load (else CPUs time out).
          if (i % 16384 === 16383) await new Promise((res) => setImmediate(res));
          const r0 = recs[i];
          if (last && last.get(r0.addr * 64 + r0.len) !== i) continue;
          // Lines share a next hop or a few: the last one's resolution is reused without a key.
          let v = lastVia && r0.gateway === lastVia.gatewayN && r0.ifname === lastVia.ifnameIn ? lastVia.spec : undefined;
          const k = v ? "" : `${r0.gateway ?? ""} ${r0.ifname ?? ""}`;
          if (!v) v = via.get(k);
          if (!v) {
            const gw = r0.gateway === undefined ? undefined : formatRouteAddress(r0.gateway);
            via.set(k, (v = this.resolve({ prefix: `${formatRouteAddress(r0.addr)}/${r0.len}`, ...(gw ? { gateway: gw } : {}), ...(r0.ifname ? { ifname: r0.ifname } : {}) })));
          }
          lastVia = { gatewayN: r0.gateway, ifnameIn: r0.ifname, spec: v };
          const r: RouteRec = v.ifname === undefined || v.ifname === r0.ifname ? r0 : { ...r0, ifname: v.ifname };
          const p = recPrefix(r);
          const was = this.table.get(p);
          undo.push({ p, was });
          if (was) {
            this.table.delete(p);
            replaced++;
          }
          this.table.add(p, recAttrs(r));
          out.push(r);
        }
      } catch (err) {
        rollback();
        this.onOp("add", "error");
        throw err;
      }
      const chunks: Uint8Array[] = [];
      const parts: RouteRec[][] = [];
      for (let i = 0; i < out.length; i += ROUTE_CHUNK) parts.push(out.slice(i, i + ROUTE_CHUNK));
      for (const c of parts) chunks.push(encodeRouteRecs(c));
      const t0 = performance.now();
      const base = this.rev + 1;
      let revs: number[];
      try {
        revs = await storeChunks(this.kv, base, chunks);
      } catch (err) {
        rollback();
        await dropChunks(this.kv, base, chunks.length);
        this.onOp("add", "error");
        throw new RouteNotStoredError(`route load of ${out.length}`, { cause: err });
      }
      const storeMs = performance.now() - t0;
      this.rev = Math.max(this.rev, ...revs);
      const t1 = performance.now();
      const r = await this.chain.applyBatches(parts.map((c, i) => (id: number) => encodeRouteBatch(id, revs[i], c)));
      const applyMs = performance.now() - t1;
      const status = applyStatus(r);
      trace(TraceArea.route, () => `route load of ${out.length}: ${status}`);
      // The table a CPU that (re)starts will stream, built now rather than while it waits.
      setImmediate(() => this.snapshot());
      this.onOp("add", r.pending.length > 0 ? "partial" : "ok");
      return {
        loaded: out.length,
        replaced,
        revision: this.rev,
        applied: r.applied,
        pending: r.pending.map((p) => p.cpu),
        status,
        storeMs,
        applyMs,
        cpuMs: r.cpuMs,
        tableSize: this.table.size,
      };
    });
  }

  /** Repairs the pending CPUs between changes (routechain.ts). */
  repair(): Promise<void> {
    if (this.chain.pendingCpus().length === 0) return Promise.resolve();
    return this.serial(() => this.chain.repair(this.table.digest()));
  }

  /** Each live CPU's digest against ours. */
  async verify(): Promise<VerifyResult> {
    const expectedDigest = this.table.digest();
    const revision = this.rev;
    const replies = await this.ports.requestAll(this.cluster.liveCpus(), (id) => encodeNetmsg.digestRequest(id));
    const cpus = replies.map((r) => {
      const b = (r.body ?? {}) as { digest?: unknown; routes?: unknown };
      const digest = r.ok && typeof b.digest === "string" ? b.digest : "";
      const routes = r.ok && typeof b.routes === "number" ? b.routes : 0;
      return { cpu: r.cpu, digest, routes, match: digest === expectedDigest, error: r.ok ? "" : (r.error ?? "") };
    });
    return { expectedDigest, revision, cpus, consistent: cpus.every((c) => c.match) };
  }

  private async replicate(op: RouteOpName, make: (id: number) => Uint8Array, what: string): Promise<{ applied: number[]; pending: number[]; status: string }> {
    const r = await this.chain.apply(make);
    const status = applyStatus(r);
    trace(TraceArea.route, () => `${what}: ${status}`);
    this.onOp(op, r.pending.length > 0 ? "partial" : "ok");
    return { applied: r.applied, pending: r.pending.map((p) => p.cpu), status };
  }

  private emit(e: RouteEvent): void {
    for (const l of [...this.listeners]) l(e);
  }

  private serial<T>(f: () => Promise<T>): Promise<T> {
    const run = this.serialQ.then(f, f);
    this.serialQ = run.catch(() => undefined);
    return run;
  }
}
