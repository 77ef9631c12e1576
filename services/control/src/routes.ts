// The route service: the authoritative table (a core RouteTable, validating as the CPUs do), persisted per prefix in a KvStore.
// A change is committed, then sent to every live CPU; one that misses it shows in Verify and reloads on re-registration. Serialized.
import { parsePrefix, parseRouteAddress, prefixMask, RouteTable, RouteNotFoundError, trace, TraceArea } from "@dfly/core";
import { kvKey, type KvStore } from "@dfly/transport";
import { encodeNetmsg, normalizeRouteSpec, routeAttrsOf, type RouteSpec } from "@dfly/wire";
import type { Cluster } from "./cluster.js";
import { CpuApplyError, GatewayUnreachableError, UnknownInterfaceError, BadRequestError } from "./errors.js";
import type { CpuPorts } from "./ports.js";
import { comparePrefixes, routeSpecOf } from "./routespec.js";

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
  route: RouteSpec;
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

const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const dec = <T>(u: Uint8Array) => JSON.parse(new TextDecoder().decode(u)) as T;

function covers(cidr: string, addr: number): boolean {
  const [a, l] = cidr.split("/");
  const m = prefixMask(Number(l));
  return ((parseRouteAddress(a) & m) >>> 0) === ((addr & m) >>> 0);
}

export class RouteManager {
  readonly table = new RouteTable();
  private rev = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly listeners = new Set<(e: RouteEvent) => void>();
  /** Called after each change with its result ("ok" | "error" | "partial"), for metrics. */
  onOp: (op: RouteOpName, result: string) => void = () => {};

  private constructor(
    private readonly kv: KvStore,
    private readonly cluster: Cluster,
    private readonly ports: CpuPorts,
  ) {}

  /** Loads every stored route (a restarted control resumes its table). */
  static async load(kv: KvStore, cluster: Cluster, ports: CpuPorts): Promise<RouteManager> {
    const m = new RouteManager(kv, cluster, ports);
    for (const key of await kv.keys()) {
      const e = await kv.get(key);
      if (!e) continue;
      const spec = dec<RouteSpec>(e.value);
      m.table.add(spec.prefix, routeAttrsOf(spec));
      m.rev = Math.max(m.rev, e.revision);
    }
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

  /** A consistent snapshot: every route and the revision it is current at. */
  list(): { routes: RouteSpec[]; revision: number; digest: string } {
    const routes = this.table.list().map(routeSpecOf);
    routes.sort((a, b) => comparePrefixes(a.prefix, b.prefix));
    return { routes, revision: this.rev, digest: this.table.digest() };
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
        revision = await this.kv.create(kvKey(s.prefix), enc(s));
      } catch (err) {
        this.table.delete(s.prefix);
        this.onOp("add", "error");
        throw err;
      }
      this.rev = revision;
      this.emit({ op: "add", route: s, revision });
      const applied = await this.fanout("add", (id) => encodeNetmsg.routeAdd(id, s, revision), `route add ${s.prefix}`);
      return { revision, applied, route: s };
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
      await this.kv.delete(kvKey(route.prefix));
      this.table.delete(route.prefix);
      // A delete's revision: the store's tombstone revision is not returned by every KV, so count on.
      const revision = ++this.rev;
      this.emit({ op: "delete", route, revision });
      const applied = await this.fanout("delete", (id) => encodeNetmsg.routeDelete(id, route.prefix, revision), `route delete ${route.prefix}`);
      return { revision, applied, route };
    });
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

  private async fanout(op: RouteOpName, make: (id: number) => Uint8Array, what: string): Promise<number[]> {
    const replies = await this.ports.requestAll(this.cluster.liveCpus(), make);
    const applied = replies.filter((r) => r.ok).map((r) => r.cpu);
    const failures = replies.filter((r) => !r.ok).map((r) => ({ cpu: r.cpu, reason: r.error ?? "failed" }));
    trace(TraceArea.route, () => `${what}: applied on cpus [${applied.join(",")}]${failures.map((f) => `; cpu ${f.cpu} failed: ${f.reason}`).join("")}`);
    if (failures.length > 0) {
      this.onOp(op, "partial");
      throw new CpuApplyError(what, failures, applied);
    }
    this.onOp(op, "ok");
    return applied;
  }

  private emit(e: RouteEvent): void {
    for (const l of [...this.listeners]) l(e);
  }

  private serial<T>(f: () => Promise<T>): Promise<T> {
    const run = this.chain.then(f, f);
    this.chain = run.catch(() => undefined);
    return run;
  }
}
