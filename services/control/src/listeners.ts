// The socket service: listen sockets replicated by reference to every CPU (paper §1.2; DragonFly's `tcp_usr_listen`),
// SO_REUSEPORT slots in one order everywhere (`inp_lgrpindex`), close with inheritance under a policy. Changes are serialized.
import { formatRouteAddress, INADDR_ANY, ListenerPolicy, parseRouteAddress, trace, TraceArea } from "@dfly/core";
import { kvKey, type KvStore } from "@dfly/transport";
import { encodeNetmsg, isOwnerName, SockNetmsg, topologyAddresses, type ListenerCloseWire, type ListenerQueueWire, type ListenerSpec, type ListenRequest } from "@dfly/wire";
import type { Cluster } from "./cluster.js";
import { BadRequestError, CpuApplyError, ListenerAddrInUseError, ListenerNotFoundError } from "./errors.js";
import type { CpuPorts } from "./ports.js";

export interface ListenResult {
  id: string;
  index: number;
  size: number;
  applied: number[];
}

export interface CloseResult {
  policy: ListenerPolicy;
  migrated: number;
  dropped: number;
  heir: string;
  /** Per-CPU answers. */
  cpus: (ListenerCloseWire & { cpu: number })[];
}

export interface ListenerListing extends ListenerSpec {
  queues: { cpu: number; depth: number; qlimit: number; overflows: number }[];
}

const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const dec = <T>(u: Uint8Array) => JSON.parse(new TextDecoder().decode(u)) as T;
const NEXT_KEY = "next-id";

export function parseListenerPolicy(s: string | undefined, dflt: ListenerPolicy): ListenerPolicy {
  if (s === undefined || s === "") return dflt;
  if ((Object.values(ListenerPolicy) as string[]).includes(s)) return s as ListenerPolicy;
  throw new BadRequestError("policy", `"${s}" is not one of ${Object.values(ListenerPolicy).join(", ")}`);
}

export class ListenerManager {
  private readonly map = new Map<string, ListenerSpec>();
  private next = 1;
  private chain: Promise<unknown> = Promise.resolve();
  /** Called after each change with its result ("ok" | "error" | "partial"). */
  onOp: (op: "listen" | "close", result: string) => void = () => {};

  private constructor(
    private readonly kv: KvStore,
    private readonly cluster: Cluster,
    private readonly ports: CpuPorts,
    public policy: ListenerPolicy,
  ) {}

  /** Loads every stored listener (a restarted control keeps them). */
  static async load(kv: KvStore, cluster: Cluster, ports: CpuPorts, policy: ListenerPolicy = ListenerPolicy.DRAGONFLY): Promise<ListenerManager> {
    const m = new ListenerManager(kv, cluster, ports, policy);
    for (const key of await kv.keys()) {
      const e = await kv.get(key);
      if (!e) continue;
      if (key === NEXT_KEY) {
        m.next = Math.max(m.next, Number(new TextDecoder().decode(e.value)) || 1);
        continue;
      }
      const l = dec<ListenerSpec>(e.value);
      // Stored before the spec was one shape: dotted address, slot -1 without SO_REUSEPORT.
      if (typeof l.laddr === "string") l.laddr = parseRouteAddress(l.laddr);
      if (l.index === -1) delete l.index;
      m.map.set(l.id, l);
      const n = Number(/^L(\d+)$/.exec(l.id)?.[1] ?? 0);
      if (n >= m.next) m.next = n + 1;
    }
    return m;
  }

  private serial<T>(f: () => Promise<T>): Promise<T> {
    const p = this.chain.then(f, f);
    this.chain = p.catch(() => undefined);
    return p;
  }

  /** Every listener (what a joining CPU installs). */
  all(): ListenerSpec[] {
    return [...this.map.values()];
  }

  get(id: string): ListenerSpec | undefined {
    return this.map.get(id);
  }

  private validate(a: ListenRequest): void {
    if (!Number.isInteger(a.laddr) || a.laddr < 0 || a.laddr > 0xffffffff) throw new BadRequestError("address", `${a.laddr} is not an IPv4 address`);
    // in_pcbbind's EADDRNOTAVAIL: a specific address must be one of the host's (unchecked until an interface has addresses).
    const mine = topologyAddresses(this.cluster.topology());
    if (a.laddr !== 0 && mine.length > 0 && !mine.includes(a.laddr >>> 0)) {
      throw new BadRequestError("address", `${formatRouteAddress(a.laddr >>> 0)} is not an address of this host (${mine.map(formatRouteAddress).join(", ")})`);
    }
    if (!Number.isInteger(a.lport) || a.lport < 1 || a.lport > 65535) throw new BadRequestError("port", `${a.lport} is not 1..65535`);
    if (!isOwnerName(a.owner)) throw new BadRequestError("owner", `"${a.owner}" must be 1-64 of [-_a-zA-Z0-9] (it names the subject <c>.sock.<owner>)`);
    if (!Number.isInteger(a.backlog)) throw new BadRequestError("backlog", `${a.backlog} is not an integer`);
    for (const [k, v] of [["sndbuf", a.sndbuf], ["rcvbuf", a.rcvbuf]] as const) {
      if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > 16 * 1024 * 1024)) throw new BadRequestError(k, `${v} is not 0..16777216`);
    }
  }

  /** Registers a listener and installs it on every live CPU. */
  listen(a: ListenRequest): Promise<ListenResult> {
    return this.serial(async () => {
      this.validate(a);
      const laddr = a.laddr >>> 0;
      const address = formatRouteAddress(laddr);
      // in_pcbbind: the port is shared only when both sockets set SO_REUSEPORT.
      const group: ListenerSpec[] = [];
      for (const l of this.map.values()) {
        if (l.lport !== a.lport) continue;
        const la = l.laddr >>> 0;
        const overlap = la === laddr || la === INADDR_ANY || laddr === INADDR_ANY;
        if (!overlap) continue;
        if (!(a.reuseport && l.reuseport)) throw new ListenerAddrInUseError(address, a.lport, l.id);
        if (la === laddr) group.push(l);
      }
      let index = -1;
      if (a.reuseport) {
        const used = new Set(group.map((l) => l.index));
        index = 0;
        while (used.has(index)) index++;
      }
      const id = `L${this.next++}`;
      const l: ListenerSpec = {
        id,
        laddr,
        lport: a.lport,
        reuseport: a.reuseport,
        backlog: a.backlog <= 0 ? -1 : a.backlog,
        owner: a.owner,
        ...(a.reuseport ? { index } : {}),
        ...(a.nodelay ? { nodelay: true } : {}),
        ...(a.sndbuf ? { sndbuf: a.sndbuf } : {}),
        ...(a.rcvbuf ? { rcvbuf: a.rcvbuf } : {}),
      };
      await this.kv.put(NEXT_KEY, new TextEncoder().encode(String(this.next)));
      await this.kv.put(kvKey(id), enc(l));
      this.map.set(id, l);
      const cpus = this.cluster.liveCpus();
      const replies = await this.ports.requestAll(cpus, (rid) => encodeNetmsg.socket(SockNetmsg.listen, rid, { listener: l }));
      const failed = replies.filter((r) => !r.ok);
      const applied = replies.filter((r) => r.ok).map((r) => r.cpu);
      if (failed.length > 0) {
        this.onOp("listen", applied.length ? "partial" : "error");
        throw new CpuApplyError(`listen ${id} ${address}:${a.lport}`, failed.map((f) => ({ cpu: f.cpu, reason: f.error ?? "refused" })), applied);
      }
      this.onOp("listen", "ok");
      return { id, index: Math.max(0, index), size: a.reuseport ? group.length + 1 : 1, applied };
    });
  }

  /** Closes a listener on every live CPU under `policy`; it is gone from the control whatever the CPUs answered. */
  close(id: string, policy?: ListenerPolicy): Promise<CloseResult> {
    return this.serial(async () => {
      const l = this.map.get(id);
      if (!l) throw new ListenerNotFoundError(id);
      const p = policy ?? this.policy;
      this.map.delete(id);
      await this.kv.delete(kvKey(id));
      const cpus = this.cluster.liveCpus();
      const replies = await this.ports.requestAll(cpus, (rid) => encodeNetmsg.socket(SockNetmsg.closeListener, rid, { id, policy: p }));
      const res: CloseResult = { policy: p, migrated: 0, dropped: 0, heir: "", cpus: [] };
      for (const r of replies) {
        if (!r.ok) continue;
        const b = r.body as ListenerCloseWire;
        res.cpus.push({ cpu: r.cpu, ...b });
        res.migrated += (b.moved ?? 0) + (b.syncacheMoved ?? 0);
        res.dropped += (b.reset ?? 0) + (b.syncacheDropped ?? 0);
        if (b.heir) res.heir = b.heir;
      }
      const failed = replies.filter((r) => !r.ok);
      trace(TraceArea.reuseport, () => `close ${id} policy=${p} heir=${res.heir || "none"} migrated=${res.migrated} dropped=${res.dropped} failed=[${failed.map((f) => f.cpu).join(",")}]`);
      if (failed.length > 0) {
        this.onOp("close", "partial");
        throw new CpuApplyError(`close listener ${id}`, failed.map((f) => ({ cpu: f.cpu, reason: f.error ?? "refused" })), res.cpus.map((c) => c.cpu));
      }
      this.onOp("close", "ok");
      return res;
    });
  }

  /** Every listener with each live CPU's accept-queue depth (`withQueues` false: without asking the CPUs). */
  async list(withQueues = true): Promise<ListenerListing[]> {
    const out = new Map<string, ListenerListing>();
    for (const l of this.map.values()) out.set(l.id, { ...l, queues: [] });
    if (!withQueues) return [...out.values()].sort((a, b) => Number(a.id.slice(1)) - Number(b.id.slice(1)));
    const replies = await this.ports.requestAll(this.cluster.liveCpus(), (rid) => encodeNetmsg.socket(SockNetmsg.listeners, rid, {}));
    for (const r of replies) {
      if (!r.ok) continue;
      const qs = (r.body as { listeners?: ListenerQueueWire[] }).listeners ?? [];
      for (const q of qs) out.get(q.id)?.queues.push({ cpu: r.cpu, depth: q.qlen, qlimit: q.qlimit, overflows: q.overflows });
    }
    return [...out.values()].sort((a, b) => Number(a.id.slice(1)) - Number(b.id.slice(1)));
  }
}
