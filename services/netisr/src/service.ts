/** A `Netisr` on a Transport (sys/net/netisr.c's thread and port): RX ring subscriptions, polling, the port's netmsg registry, snapshots. */
import { RouteError, type RouteTable } from "@dfly/core";
import { routeAttrsOf, decodeNetmsg, encodeNetmsg, NetmsgType, topologyAddresses, type TopologyMsg } from "@dfly/wire";
import { compactFrameBatch, frameBatchCount, subjects, validateFrameBatch, type Msg, type Subscription, type Transport } from "@dfly/transport";
import { NetmsgRegistry } from "./netmsg.js";
import { PortGate } from "./port_check.js";
import { IFPOLL, IopollCtx, RxRing, type IopollOptions } from "./ifpoll.js";
import { IP_DROP_REASONS } from "./ipstat.js";
import { Netisr, type CtlInput, type LocalInput, type NetisrOutput } from "./netisr.js";
import type { IfStatCounters, IfStatLayout } from "./if_stats.js";

export interface NetisrServiceOptions {
  transport: Transport;
  cluster: string;
  cpu: number;
  topology: TopologyMsg;
  routes: RouteTable;
  /** ifpoll settings for rings in polling mode. */
  ifpoll?: IopollOptions;
  /** RX descriptors per ring in polling mode (default 1024, ix's IX_DEF_RXD). */
  rxd?: number;
  icmplim?: number;
  localInput?: LocalInput;
  ctlInput?: CtlInput;
  ifstat?: IfStatLayout;
  /** Takes the port's control netmsgs (the control agent); without it the service answers them itself. */
  onControl?: (msg: Msg) => void;
  /** Called after a route change or topology change was applied (e.g. to refresh /readyz). */
  onChange?: () => void;
}

const RXD_DEFAULT = 1024;

interface PolledRing {
  ifx: number;
  ring: number;
  rx: RxRing;
}

interface RingSub {
  ifx: number;
  ring: number;
  sub: Subscription;
  polled?: PolledRing;
}

export class NetisrService {
  readonly netisr: Netisr;
  readonly cpu: number;
  readonly routes: RouteTable;
  private readonly t: Transport;
  private readonly c: string;
  private readonly o: NetisrServiceOptions;
  /** RX ring subscriptions by `ifname/ring/mode`. */
  private readonly rings = new Map<string, RingSub>();
  private portSub: Subscription | undefined;
  private ctlSub: Subscription | undefined;
  private polled: PolledRing[] = [];
  readonly iopoll: IopollCtx;
  private pollTimer: NodeJS.Timeout | undefined;
  private lastTickUs = 0;
  private closed = false;
  /** Highest route revision applied (control's replication order). */
  routeRevision = 0;
  /** Port messages of a registered type that did not decode. */
  badPortMsgs = 0;
  readonly port: NetmsgRegistry;
  /** What the port refused, by reason. */
  readonly gate: PortGate;

  constructor(o: NetisrServiceOptions) {
    this.o = o;
    this.t = o.transport;
    this.c = o.cluster;
    this.cpu = o.cpu;
    this.routes = o.routes;
    this.iopoll = new IopollCtx(o.ifpoll);
    this.port = new NetmsgRegistry(o.cpu);
    this.gate = new PortGate({ epoch: () => this.netisr.epoch, addresses: () => this.addresses() });
    this.port.gate = this.gate;
    this.port.register("frames", (m) => this.netisr.portFrames(m.data));
    this.port.register(["routeAdd", "routeDelete", "statsRequest", "digestRequest", "topology", "routeBatch", "routeResync"], o.onControl ?? ((m) => this.handleControl(m)));
    const t = this.t;
    const c = this.c;
    const output: NetisrOutput = {
      tx: (ifname, ring, batch) => t.publish(subjects.tx(c, ifname, ring), batch, { transfer: true }),
      redispatch: (cpu, batch) => t.publish(subjects.netisr(c, cpu), batch, { transfer: true }),
    };
    this.netisr = new Netisr({
      cpu: o.cpu,
      topology: o.topology,
      routes: o.routes,
      output,
      ...(o.icmplim !== undefined ? { icmplim: o.icmplim } : {}),
      ...(o.localInput ? { localInput: o.localInput } : {}),
      ...(o.ctlInput ? { ctlInput: o.ctlInput } : {}),
      ...(o.ifstat ? { ifstat: o.ifstat } : {}),
    });
  }

  /** Subscribes the port and this CPU's rings; resolves once the subscriptions reached the bus. */
  async start(): Promise<void> {
    this.portSub = this.t.subscribe(subjects.netisr(this.c, this.cpu), (m) => this.port.dispatch(m));
    this.ctlSub = this.t.subscribe(subjects.ctl(this.c, this.cpu), (m) => this.port.dispatch(m, true));
    this.subscribeRings();
    await this.t.flush();
  }

  /** Installs a new topology (epoch change): re-subscribes the rings this CPU now owns. */
  setTopology(t: TopologyMsg): void {
    if (t.epoch < this.netisr.epoch) return;
    if (!t.cpus.includes(this.cpu)) return; // not (yet) a member: keep the old view
    this.netisr.setTopology(t);
    this.subscribeRings();
    this.o.onChange?.();
  }

  /** Subscribes the RX rings this CPU owns; a ring that stays keeps its subscription so nothing is lost during a topology change. */
  private subscribeRings(): void {
    const want = new Map<string, { ifx: number; ifname: string; ring: number; polling: boolean }>();
    if (!this.closed) {
      for (const ifp of this.netisr.interfaces) {
        const polling = ifp.topo.mode === "polling";
        for (const ring of ifp.rxRings) want.set(`${ifp.ifname}/${ring}/${polling ? "p" : "i"}`, { ifx: ifp.index, ifname: ifp.ifname, ring, polling });
      }
    }
    for (const [key, r] of this.rings) {
      if (want.has(key)) continue;
      r.sub.unsubscribe();
      this.rings.delete(key);
    }
    for (const [key, w] of want) {
      const have = this.rings.get(key);
      if (have) {
        have.ifx = w.ifx;
        if (have.polled) have.polled.ifx = w.ifx;
        continue;
      }
      const rec: RingSub = { ifx: w.ifx, ring: w.ring, sub: undefined as unknown as Subscription };
      const subject = subjects.rx(this.c, w.ifname, w.ring);
      if (w.polling) {
        const pr = { ifx: w.ifx, ring: w.ring, rx: new RxRing(this.o.rxd ?? RXD_DEFAULT) };
        rec.polled = pr;
        rec.sub = this.t.subscribe(subject, (m) => this.ringIn(pr, m.data));
      } else {
        rec.sub = this.t.subscribe(subject, (m) => this.netisr.rxBatch(rec.ifx, rec.ring, m.data));
      }
      this.rings.set(key, rec);
    }
    // Polled rings no longer owned keep draining until empty (their frames were accepted).
    const active = [...this.rings.values()].filter((r) => r.polled).map((r) => r.polled!);
    this.polled = [...active, ...this.polled.filter((p) => !active.includes(p) && !p.rx.empty)];
    if (this.polled.length > 0) this.startPolling();
    else this.stopPolling();
  }

  /** Polling mode: the batch lands in the RX descriptor ring (what does not fit is dropped). */
  private ringIn(pr: PolledRing, batch: Uint8Array): void {
    if (validateFrameBatch(batch) !== null) {
      this.netisr.stats.badBatches++;
      return;
    }
    let n = frameBatchCount(batch);
    const room = pr.rx.room();
    if (n > room) {
      const keep = new Uint8Array(n);
      keep.fill(1, 0, room);
      this.netisr.interfaces[pr.ifx].rxRingDropped[pr.ring] += n - room;
      batch = compactFrameBatch(batch, keep);
      n = room;
    }
    pr.rx.push(batch, n, performance.now());
  }

  private startPolling(): void {
    if (this.pollTimer !== undefined || this.closed) return;
    this.lastTickUs = performance.now() * 1000;
    const wake = () => {
      this.pollTimer = setTimeout(wake, 1);
      this.pollWake();
    };
    this.pollTimer = setTimeout(wake, 1);
  }

  private stopPolling(): void {
    if (this.pollTimer !== undefined) clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
  }

  /** One timer wake-up: run every poll tick that came due. */
  pollWake(): void {
    const ctx = this.iopoll;
    const period = 1e6 / ctx.pollhz;
    const now = performance.now() * 1000;
    let due = Math.floor((now - this.lastTickUs) / period);
    if (due <= 0) return;
    if (due > IFPOLL.STALL_PENDING) {
      ctx.stalled++;
      ctx.lostPolls += due - 1;
      ctx.pollBurst = Math.max(1, ctx.pollBurst - Math.trunc(ctx.pollBurst / 8));
      due = 1;
      this.lastTickUs = now;
    } else {
      this.lastTickUs += due * period;
    }
    for (let i = 0; i < due; i++) this.pollTick();
  }

  /** One ifpoll tick: iopoll_clock, then iopoll_handler / iopollmore_handler rounds. */
  pollTick(): void {
    const ctx = this.iopoll;
    ctx.clock(performance.now() * 1000);
    do {
      const cycles = ctx.handler(performance.now() * 1000);
      for (const pr of this.polled) {
        pr.rx.take(cycles, (batch, from, to, whole, arrivedMs) => {
          this.netisr.stats.lagSeconds = (performance.now() - arrivedMs) / 1000;
          this.netisr.rxBatch(pr.ifx, pr.ring, batch, from, to, whole);
        });
      }
    } while (ctx.more(performance.now() * 1000));
  }

  /** Answers a control netmsg (route add/delete, stats, digest, topology). */
  handleControl(m: Msg): void {
    const r = decodeNetmsg(m.data);
    if (typeof r === "string") {
      this.badPortMsgs++;
      return;
    }
    switch (r.type) {
      case NetmsgType.routeAdd: {
        const spec = r.route;
        try {
          const have = this.routes.get(spec.prefix);
          // Replays (a re-registering CPU, a retried fan-out) are idempotent.
          if (have) this.routes.delete(spec.prefix);
          this.routes.add(spec.prefix, routeAttrsOf(spec));
          this.routeRevision = Math.max(this.routeRevision, r.revision);
          this.netisr.routesChanged();
          this.o.onChange?.();
          m.respond(encodeNetmsg.reply(r.id, true, { digest: this.routes.digest(), routes: this.routes.size }));
        } catch (err) {
          m.respond(encodeNetmsg.reply(r.id, false, undefined, err instanceof RouteError ? err.message : String(err)));
        }
        return;
      }
      case NetmsgType.routeDelete: {
        if (this.routes.has(r.prefix)) this.routes.delete(r.prefix);
        this.routeRevision = Math.max(this.routeRevision, r.revision);
        this.netisr.routesChanged();
        this.o.onChange?.();
        m.respond(encodeNetmsg.reply(r.id, true, { digest: this.routes.digest(), routes: this.routes.size }));
        return;
      }
      case NetmsgType.statsRequest:
        m.respond(encodeNetmsg.reply(r.id, true, this.statsBody()));
        return;
      case NetmsgType.digestRequest:
        m.respond(encodeNetmsg.reply(r.id, true, { digest: this.routes.digest(), routes: this.routes.size, revision: this.routeRevision }));
        return;
      case NetmsgType.topology:
        this.setTopology(r.topology);
        return;
      default:
        m.respond(encodeNetmsg.reply("id" in r ? r.id : 0, false, undefined, `netisr ${this.cpu}: unhandled netmsg`));
    }
  }

  /** netstat -s counters of this CPU, BSD names by protocol (control's StatsService sums them). */
  statsBody(): Record<string, Record<string, number>> {
    const s = this.netisr.stats;
    const ip: Record<string, number> = {
      total: s.ip.total,
      forward: s.ip.forwarded,
      delivered: s.ip.delivered,
      fragmented: s.ip.fragmented,
      ofragments: s.ip.ofragments,
      fragments: this.netisr.reass.stats.fragments,
      reassembled: this.netisr.reass.stats.reassembled,
      fragtimeout: this.netisr.reass.stats.fragtimeout,
      toolong: this.netisr.reass.stats.toolong,
    };
    for (let i = 0; i < IP_DROP_REASONS.length; i++) ip[IP_DROP_REASONS[i]] = s.ip.dropped[i];
    const icmp: Record<string, number> = { ratelimited: s.ip.icmpRatelimited };
    for (let t = 0; t < 256; t++) if (s.ip.icmpOut[t] > 0) icmp[`outhist_${t}`] = s.ip.icmpOut[t];
    const netisr: Record<string, number> = {
      redispatched: s.redispatched,
      redispatch_received: s.redispatchReceived,
      bad_batches: s.badBatches,
      bad_port_msgs: this.badPortMsgs,
      rx: this.netisr.interfaces.reduce((n, i) => n + i.rxFrames.reduce((a, b) => a + b, 0), 0),
      tx: this.netisr.interfaces.reduce((n, i) => n + i.txFrames, 0),
    };
    for (const [reason, n] of Object.entries(this.gate.refused)) netisr[`port_refused_${reason}`] = n;
    return { ip, icmp, netisr };
  }

  /** This host's addresses (u32) in the topology this CPU runs. */
  private addresses(): number[] {
    return topologyAddresses({ epoch: 0, cpus: [], rssKey: "", interfaces: this.netisr.interfaces.map((i) => i.topo) });
  }

  /** A JSON snapshot of this CPU (reports, the embedded runner). */
  snapshot(): NetisrSnapshot {
    const s = this.netisr.stats;
    const ifs: NetisrSnapshot["interfaces"] = {};
    for (const i of this.netisr.interfaces) {
      ifs[i.ifname] = { rx: [...i.rxFrames], tx: i.txFrames, rxRingDropped: [...i.rxRingDropped], txRing: i.txRing, rxRings: [...i.rxRings] };
    }
    return {
      cpu: this.cpu,
      epoch: this.netisr.epoch,
      rx: Object.values(ifs).reduce((n, i) => n + i.rx.reduce((a, b) => a + b, 0), 0),
      forwarded: s.ip.forwarded,
      delivered: s.ip.delivered,
      dropped: s.ip.droppedByReason(),
      droppedTotal: s.ip.droppedTotal(),
      redispatched: s.redispatched,
      redispatchReceived: s.redispatchReceived,
      icmpOut: Object.fromEntries([...s.ip.icmpOut.entries()].filter(([, v]) => v > 0).map(([k, v]) => [String(k), v])),
      badBatches: s.badBatches,
      interfaces: ifs,
      routes: this.routes.size,
      routeDigest: this.routes.digest(),
      ifpoll: { burst: this.iopoll.pollBurst, ticks: this.iopoll.ticks, stalled: this.iopoll.stalled, kernFrac: this.iopoll.kernFrac },
      ...(this.netisr.ifstat ? { ifstat: this.netisr.ifstat.read() } : {}),
    };
  }

  async stop(): Promise<void> {
    this.closed = true;
    this.stopPolling();
    for (const r of this.rings.values()) r.sub.unsubscribe();
    this.rings.clear();
    this.portSub?.unsubscribe();
    this.portSub = undefined;
    this.ctlSub?.unsubscribe();
    this.ctlSub = undefined;
  }
}

export interface NetisrSnapshot {
  cpu: number;
  epoch: number;
  rx: number;
  forwarded: number;
  delivered: number;
  dropped: Record<string, number>;
  droppedTotal: number;
  redispatched: number;
  redispatchReceived: number;
  icmpOut: Record<string, number>;
  badBatches: number;
  interfaces: Record<string, { rx: number[]; tx: number; rxRingDropped: number[]; txRing: number; rxRings: number[] }>;
  routes: number;
  routeDigest: string;
  ifpoll: { burst: number; ticks: number; stalled: number; kernFrac: number };
  /** ifnet counters when kept (if_stats.ts). */
  ifstat?: ReturnType<IfStatCounters["read"]>;
}
