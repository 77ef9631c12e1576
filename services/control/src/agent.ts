// The control plane's agent inside a netisr CPU: registration, the route replica, heartbeats, topology, and the port's control netmsgs.
// Subscribe the CPU's port before `start()`, or the first route change finds no one there (wiring in the README).
import type { RouteTable } from "@dfly/core";
import { subjects, type Msg, type Subscription, type Transport } from "@dfly/transport";
import { DEFAULT_CLUSTER } from "@dfly/service";
import { NetmsgType, decodeNetmsg, decodeRouteRecs, encodeNetmsg, netmsgType, recAttrs, recPrefix, routeAttrsOf, type Netmsg, type NetmsgDropReason, type TopologyMsg } from "@dfly/wire";
import { ControlClient } from "./client.js";
import { topologyMsgOf } from "./topology_proto.js";

export interface ControlAgentOptions {
  cpu: number;
  transport: Transport;
  /** Control gRPC `host:port` (DFLY_CONTROL_ADDR). */
  controlAddr: string;
  /** The netisr's route replica; the agent alone writes it. */
  routes: RouteTable;
  /** Subject prefix (DFLY_CLUSTER). */
  cluster?: string;
  /** `{ ip: { forward: 3, … }, tcp: {…} }` with BSD counter names; summed by `netstat -s`. */
  getStats?: () => Record<string, Record<string, number>>;
  /** Called with each newer topology (epoch increases). */
  onTopology?: (t: TopologyMsg) => void;
  /** Called after each applied route change (e.g. to refresh route metrics). */
  onRoutes?: () => void;
  /** In touch with the control again ("registered" or "reconnected" after failed heartbeats): refetch what changed meanwhile. */
  onSync?: (why: "registered" | "reconnected") => void;
  /** Where this CPU serves /metrics, reported at registration. */
  metricsAddr?: string;
  /** Subscribe to the CPU's port itself (standalone use and tests). Default false: the netisr calls handleNetmsg. */
  subscribe?: boolean;
  /** Delay between retries while the control is unreachable (default 500 ms). */
  retryMs?: number;
  /** Where the table load is reported (default stderr). */
  log?: (s: string) => void;
}

type RouteChange = Extract<Netmsg, { type: typeof NetmsgType.routeAdd } | { type: typeof NetmsgType.routeDelete } | { type: typeof NetmsgType.routeBatch }>;

export class ControlAgent {
  readonly cpu: number;
  /** Malformed control netmsgs by reason. */
  readonly drops: Partial<Record<NetmsgDropReason, number>> = {};
  private readonly o: ControlAgentOptions;
  private readonly client: ControlClient;
  private loaded = false;
  private registered = false;
  private snapshotRevision = 0;
  private appliedRevision = 0;
  private held: RouteChange[] = [];
  private topo: TopologyMsg | undefined;
  private heartbeatMs = 1000;
  private timer: NodeJS.Timeout | undefined;
  private sub: Subscription | undefined;
  private stopped = false;
  private syncing: Promise<void> | undefined;
  /** A heartbeat failed since the last one that succeeded (or the last registration). */
  private hbFailed = false;
  private readyWaiters: (() => void)[] = [];
  private lastWhy = "";

  constructor(o: ControlAgentOptions) {
    this.o = o;
    this.cpu = o.cpu;
    this.client = new ControlClient(o.controlAddr, 5000);
  }

  /** Registered with the control and holding its whole current route table (netisr /readyz). */
  get ready(): boolean {
    return this.registered && this.loaded;
  }

  get epoch(): number {
    return this.topo?.epoch ?? 0;
  }

  get topology(): TopologyMsg | undefined {
    return this.topo;
  }

  /** Revision of the last route change applied (or of the loaded snapshot). */
  get revision(): number {
    return this.appliedRevision;
  }

  /** Resolves when ready (now, if already). */
  whenReady(): Promise<void> {
    if (this.ready) return Promise.resolve();
    return new Promise((res) => this.readyWaiters.push(res));
  }

  /** Registers, loads the table, starts heartbeats; resolves when ready. Retries while the control is down. */
  async start(): Promise<void> {
    if (this.o.subscribe) {
      const c = this.o.cluster ?? DEFAULT_CLUSTER;
      this.sub = this.o.transport.subscribe(subjects.ctl(c, this.cpu), (m) => void this.handleNetmsg(m));
      await this.o.transport.flush();
    }
    this.schedule(0);
    await this.whenReady();
  }

  /** Stops heartbeats and deregisters (a clean leave: the control drops this CPU at once); `deregister` false leaves as a crash does. */
  async stop(deregister = true): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.sub?.unsubscribe();
    if (this.registered && deregister) await this.client.deregister(this.cpu, 1000).catch(() => undefined);
    this.registered = false;
    this.client.close();
  }

  /** Handles and answers a control netmsg; false for what is not the agent's (frames, socket calls). */
  handleNetmsg(msg: Msg): boolean {
    const type = netmsgType(msg.data);
    if (type === NetmsgType.frames || type >= NetmsgType.socketFirst || type < NetmsgType.routeAdd) return false;
    const m = decodeNetmsg(msg.data);
    if (typeof m === "string") {
      this.drops[m] = (this.drops[m] ?? 0) + 1;
      return true;
    }
    switch (m.type) {
      case NetmsgType.routeAdd:
      case NetmsgType.routeDelete:
      case NetmsgType.routeBatch:
        // While the table loads, a change is queued and answered at once: it is applied, in
        // order, right after the load (when newer than the loaded table); the chain goes on.
        if (!this.loaded) {
          this.held.push(m);
          this.answer(msg, m.id, () => ({ revision: this.appliedRevision, held: true }));
        } else this.answer(msg, m.id, () => this.apply(m));
        return true;
      case NetmsgType.routeResync:
        this.answer(msg, m.id, () => ({ resync: true }));
        this.registered = false;
        void this.sync().catch(() => undefined);
        return true;
      case NetmsgType.digestRequest:
        this.answer(msg, m.id, () => ({ digest: this.o.routes.digest(), routes: this.o.routes.size, revision: this.appliedRevision }));
        return true;
      case NetmsgType.statsRequest:
        this.answer(msg, m.id, () => this.o.getStats?.() ?? {});
        return true;
      case NetmsgType.topology:
        this.setTopology(m.topology);
        return true;
      default:
        return true; // replies are not for a CPU port
    }
  }

  private answer(msg: Msg, id: number, f: () => unknown): void {
    let reply: Uint8Array;
    try {
      reply = encodeNetmsg.reply(id, true, f());
    } catch (err) {
      reply = encodeNetmsg.reply(id, false, undefined, (err as Error).message);
    }
    msg.respond(reply);
  }

  private apply(c: RouteChange): { revision: number } {
    const t = this.o.routes;
    const add = (r: { prefix: string } & Parameters<typeof routeAttrsOf>[0]) => {
      if (t.has(r.prefix)) t.delete(r.prefix);
      t.add(r.prefix, routeAttrsOf(r));
    };
    if (c.type === NetmsgType.routeAdd) add(c.route);
    else if (c.type === NetmsgType.routeBatch) {
      for (const o of c.ops) {
        const p = recPrefix(o);
        if (t.has(p)) t.delete(p);
        if (!o.del) t.add(p, recAttrs(o));
      }
    } else if (t.has(c.prefix)) t.delete(c.prefix);
    this.appliedRevision = Math.max(this.appliedRevision, c.revision);
    this.o.onRoutes?.();
    return { revision: this.appliedRevision };
  }

  private setTopology(t: TopologyMsg): void {
    if (this.topo && t.epoch <= this.topo.epoch) return;
    this.topo = t;
    this.o.onTopology?.(t);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), ms);
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    try {
      if (!this.registered || !this.loaded) await this.sync();
      else {
        const hb = await this.client.heartbeat(this.cpu, this.epoch, this.heartbeatMs * 2);
        if (!hb.registered) {
          this.registered = false;
          await this.sync();
        } else {
          if (hb.epoch > this.epoch) {
            const t = await this.client.getTopology();
            if (t.topology) this.setTopology(topologyMsgOf(t.topology));
          }
          if (this.hbFailed) {
            this.hbFailed = false;
            this.o.onSync?.("reconnected");
          }
        }
      }
      this.schedule(this.heartbeatMs);
    } catch (err) {
      if (this.registered && this.loaded) this.hbFailed = true;
      else this.notReady(err);
      this.schedule(this.o.retryMs ?? 500);
    }
  }

  /** Why it is not ready, in the log (each distinct reason once while retrying): a refused call is otherwise only a /readyz 503. */
  private notReady(err: unknown): void {
    const why = (err as Error).message?.slice(0, 200) ?? String(err);
    if (why === this.lastWhy) return;
    this.lastWhy = why;
    (this.o.log ?? ((l: string) => console.error(l)))(`netisr cpu ${this.cpu}: not ready, retrying: ${why}`);
  }

  /** Register, then load the whole table and release the held changes. */
  private sync(): Promise<void> {
    return (this.syncing ??= (async () => {
      try {
        const reg = await this.client.register(this.cpu, this.o.metricsAddr ?? "");
        this.heartbeatMs = reg.heartbeatIntervalMs || 1000;
        this.registered = true;
        if (reg.topology) this.setTopology(topologyMsgOf(reg.topology));
        this.loaded = false;
        const t0 = performance.now();
        const t = this.o.routes;
        // Back with a table (the control restarted, or a resync): kept when it is the control's.
        const mine = t.size > 0 ? t.digest() : "";
        let revision = 0;
        let kept = false;
        let first = true;
        // A big table takes longer to load than the control's CPU timeout: keep heartbeating meanwhile.
        const hb = setInterval(() => void this.client.heartbeat(this.cpu, this.epoch, this.heartbeatMs * 2).catch(() => undefined), this.heartbeatMs);
        try {
          await this.client.streamRoutes({ compact: true, unlessDigest: mine }, (c) => {
            revision = Number(c.revision);
            if (first) {
              first = false;
              kept = mine !== "" && c.digest === mine && c.records.length === 0;
              if (!kept && t.size > 0) t.clear();
            }
            if (c.records.length === 0) return; // kept, or an empty table's one chunk
            const recs = decodeRouteRecs(c.records);
            if (typeof recs === "string") throw new Error(`cpu ${this.cpu}: malformed route table chunk: ${recs}`);
            // A snapshot holds each prefix once, and the table was emptied: plain adds.
            for (const r of recs) t.add(r, recAttrs(r));
          });
        } finally {
          clearInterval(hb);
        }
        this.snapshotRevision = revision;
        this.appliedRevision = revision;
        const held = this.held;
        this.held = [];
        for (const h of held) if (h.revision > this.snapshotRevision) this.apply(h);
        this.loaded = true;
        (this.o.log ?? ((l: string) => console.error(l)))(
          `netisr cpu ${this.cpu}: ${kept ? "kept" : "loaded"} ${t.size} routes (revision ${revision}) in ${(performance.now() - t0).toFixed(0)} ms; ready`,
        );
        this.o.onRoutes?.();
        this.hbFailed = false;
        this.lastWhy = "";
        const w = this.readyWaiters;
        this.readyWaiters = [];
        for (const f of w) f();
        this.o.onSync?.("registered");
      } finally {
        this.syncing = undefined;
      }
    })());
  }
}
