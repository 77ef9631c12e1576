/**
 * TCP inside one netisr CPU: the `TcpHost` replica of this CPU (its partition of the
 * connections, a reference to every listener), fed by the netisr's local delivery
 * (`localInput`: TCP datagrams addressed to this host), sending on the TX ring of the
 * interface the route names, answering socket netmsgs on the CPU's port, and publishing
 * socket events to programs on `<c>.sock.<owner>`.
 *
 *   - listeners arrive from the control's SocketService fan-out (`listen`/`closeListener`
 *     netmsgs); the CPU reconciles its control-made listeners with the control's list
 *     (`reconcileListeners()`) each time it (re-)registers and every `listenerSyncMs`: it
 *     installs those it lacks (a CPU that starts later) and closes, under its policy, those the
 *     control no longer has (a close it missed while it was unreachable);
 *   - programs in this thread (e.g. an httpd worker bound to this CPU) get a `Sockets` from
 *     `sockets(owner)`; programs elsewhere use the remote calls (so_port.ts);
 *   - `list` netmsgs step a PCB listing cursor through this CPU's list (netstat -an);
 *   - timers run every `tickMs` (hz = 100 by default).
 *
 * The replica is indexed by CPU id (NETISR_CPUMAX slots, so CPUs joining and leaving never
 * rebuild it); its owner function is the live topology's (`Netisr.ownerOf`), so connect
 * placement, SYN steering and the NIC agree. Live rescale (tcp_rescale.ts) sits in front of
 * the TCP input: connections stay where they live across epochs (the owner redispatches
 * their segments there) and move with their full state when their CPU leaves (`drain()`).
 */
import {
  INP,
  NETISR_CPUMAX,
  InpcbAddrInUseError,
  InpcbListCursor,
  InpcbStateError,
  ListenerPolicy,
  parseRouteAddress,
  formatRouteAddress,
  routeIwSegs,
  TCP_STATE_NAMES,
  TcpState,
  trace,
  TraceArea,
  type TcpCb,
  type TcpConfig,
  type TcpSeg,
} from "@dfly/core";
import { ControlClient, SockNetmsg, isOwnerName, sockBodyListener, type ListenerWire, type PcbWire } from "@dfly/control";
import { decodeNetmsg, encodeNetmsg, NetmsgType, subjects, type Msg, type Transport } from "@dfly/transport";
import type { LocalInput, Netisr } from "./netisr.js";
import type { NetmsgRegistry } from "./netmsg.js";
import { IpDrop } from "./ipstat.js";
import { TcpFrameQueue } from "./tcp_frames.js";
import { SoEvent, So, TcpHost, TcpNotLocalError, type ListenCloseResult, type ListenOwner, type ListenerRec, type ListenerSpec, type SoOwner } from "./tcp_host.js";
import { Sockets, SockOpt, type ListenBackend, type ListenCloseReply, type ListenReply, type ListenRequest } from "./so_sockets.js";
import { attachSockEvents, b64, PortSockRemote, unb64, type SockEventBody, type SockEventWire } from "./so_port.js";
import { TcpCpuIdError, TcpRescale, type PendingSendState, type RescaleTcp, type TcpRescaleOptions } from "./tcp_rescale.js";

export interface TcpNetisrOptions {
  transport: Transport;
  cluster: string;
  /** This CPU's id. */
  cpu: number;
  netisr: Netisr;
  config?: Partial<TcpConfig>;
  /** kern.ipc.somaxconn (default 128). */
  somaxconn?: number;
  policy?: ListenerPolicy;
  /** Control address: programs' listen() goes to its SocketService; listeners are loaded from it. */
  controlAddr?: string;
  /** Timer period (default 10 ms, hz = 100). */
  tickMs?: number;
  /** Live rescale knobs (grace period, drain bounds). */
  rescale?: TcpRescaleOptions;
  /**
   * Period of the listener reconciliation with the control (default 10 s; 0 turns the
   * periodic run off, leaving the one at each registration). Needs `controlAddr`.
   */
  listenerSyncMs?: number;
  /** Deadline of a reconciliation's ListListeners call (default 5 s; above the control's CPU apply timeout, 2 s). */
  listenerSyncDeadlineMs?: number;
  now?: () => number;
}

/** Remote-send bytes a CPU holds for a socket beyond its send buffer before it resets it. */
export const SO_REMOTE_SEND_MAX = 4 * 1024 * 1024;
/** TCP drop reasons also counted among the CPU's IP drops (the names ipstat.ts shares with tcpstat). */
const TCP_IP_DROPS = new Set(["noport", "listendrop", "rcvbadsum", "rcvshort", "rcvbadoff"]);
/** An abandoned listing cursor is closed after this long. */
const CURSOR_IDLE_MS = 30_000;

/** Counters of the port side (socket netmsgs). */
export class SockPortStats {
  calls = 0;
  /** Malformed socket netmsgs (bad type, JSON or body). */
  bad = 0;
  /** Calls for a socket id that does not exist (any more). */
  nosock = 0;
  /** Segments that had no route out (dropped). */
  noroute = 0;
  eventsOut = 0;
  /** Listener reconciliations with the control that completed. */
  listenerSyncs = 0;
  /** Reconciliations whose ListListeners call failed (nothing changed; retried next time). */
  listenerSyncFailed = 0;
  /** Listeners installed by a reconciliation (the control had them, this CPU did not). */
  listenerSyncInstalled = 0;
  /** Listeners closed by a reconciliation (this CPU had them, the control no longer does). */
  listenerSyncClosed = 0;
  /** Listed listeners a reconciliation could not install (address in use here). */
  listenerSyncInstallFailed = 0;
}

/** Default period of the listener reconciliation. */
export const LISTENER_SYNC_MS = 10_000;
/** Default deadline of a reconciliation's ListListeners call. */
export const LISTENER_SYNC_DEADLINE_MS = 5_000;

/** What one listener reconciliation did on this CPU. */
export interface ListenerSyncReport {
  /** Ids installed (listed by the control, missing here). */
  installed: string[];
  /** Ids closed here (installed from the control, no longer listed by it), with what each close did. */
  closed: (ListenCloseResult & { id: string })[];
  /** Ids the control lists that could not be installed here (address in use by a listener not from the control). */
  failed: { id: string; reason: string }[];
}

/** A program elsewhere that owns listeners/sockets of this CPU: its events are batched and published. */
class RemoteOwner implements SoOwner, ListenOwner {
  ev: SockEventWire[] = [];
  acc = new Set<string>();
  private queued = false;
  constructor(
    readonly name: string,
    private readonly tn: TcpNetisr,
  ) {}

  soEvent(so: So, ev: SoEvent, err: string | null): void {
    const tn = this.tn;
    const host = tn.host!;
    switch (ev) {
      case SoEvent.READABLE:
      case SoEvent.EOF: {
        // Read on the program's behalf and push the bytes along.
        const tp = so.tp!;
        const eng = host.cpu(so.cpu).engine;
        for (;;) {
          let b: Uint8Array | null;
          try {
            b = eng.recv(tp, host.now());
          } catch {
            break;
          }
          if (b === null) {
            this.push([so.id, SoEvent.EOF, null, null]);
            break;
          }
          if (b.length === 0) break;
          this.push([so.id, SoEvent.READABLE, null, b64(b)]);
        }
        return;
      }
      case SoEvent.WRITABLE:
        tn.flushPendingSend(so);
        return;
      case SoEvent.CONNECTED:
      case SoEvent.ERROR:
        this.push([so.id, ev, err, null]);
        return;
      case SoEvent.CLOSED:
        tn.dropPendingSend(so);
        this.push([so.id, ev, err, null]);
        return;
      default:
        return;
    }
  }

  acceptable(rec: ListenerRec): void {
    this.acc.add(rec.id);
    this.schedule();
  }

  /** The socket `oldId` moved to `newId` on CPU `cpu` (published at once, after what is queued). */
  moved(oldId: number, cpu: number, newId: number): void {
    this.ev.push([oldId, SoEvent.MOVED, `${cpu}/${newId}`, null]);
    this.flush();
  }

  private push(e: SockEventWire): void {
    this.ev.push(e);
    this.schedule();
  }

  private schedule(): void {
    if (this.queued) return;
    this.queued = true;
    queueMicrotask(() => this.flush());
  }

  flush(): void {
    this.queued = false;
    if (this.ev.length === 0 && this.acc.size === 0) return;
    const body: SockEventBody = { cpu: this.tn.index, ev: this.ev, acc: [...this.acc] };
    this.ev = [];
    this.acc.clear();
    this.tn.stats.eventsOut++;
    this.tn.transport.publish(subjects.sock(this.tn.cluster, this.name), encodeNetmsg.socket(SockNetmsg.event, 0, body));
  }
}

interface PendingSend {
  chunks: Uint8Array[];
  bytes: number;
  shutdown: boolean;
  close: boolean;
}

/** Listen through the control's SocketService (installed on every CPU before it returns). */
export class ControlListenBackend implements ListenBackend {
  constructor(private readonly client: ControlClient) {}
  async listen(req: ListenRequest): Promise<ListenReply> {
    const r = await this.client.listen({
      address: formatRouteAddress(req.laddr),
      port: req.lport,
      reuseport: req.reuseport,
      backlog: req.backlog < 0 ? 0 : req.backlog,
      owner: req.owner,
      nodelay: req.nodelay === true,
      sndbuf: req.sndbuf ?? 0,
      rcvbuf: req.rcvbuf ?? 0,
    });
    return { id: r.listenerId, index: r.groupIndex, size: r.groupSize };
  }
  async close(id: string): Promise<ListenCloseReply> {
    const r = await this.client.closeListener(id);
    return { migrated: r.migrated, dropped: r.dropped, heir: r.heirListenerId };
  }
}

export class TcpNetisr {
  readonly transport: Transport;
  readonly cluster: string;
  readonly cpu: number;
  readonly stats = new SockPortStats();
  host: TcpHost | undefined;
  /** This CPU's index in the host: its CPU id (the replica has a slot per possible CPU). */
  readonly index: number;
  /** Live rescale: redispatch to where connections live, hand-over on leave. */
  readonly rescale: TcpRescale;
  private readonly netisr: Netisr;
  private readonly o: TcpNetisrOptions;
  private readonly queues = new Map<number, TcpFrameQueue>();
  private readonly owners = new Map<string, RemoteOwner>();
  private readonly pending = new Map<So, PendingSend>();
  private readonly specs = new Map<string, ListenerSpec>();
  private readonly cursors = new Map<number, { c: InpcbListCursor<TcpCb>; at: number; listeners: boolean }>();
  private nextCursor = 1;
  private readonly programs = new Map<string, Sockets>();
  private readonly eventSubs: { unsubscribe(): void }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private syncTimer: NodeJS.Timeout | undefined;
  private syncRunning: Promise<ListenerSyncReport> | undefined;
  private syncQueued: Promise<ListenerSyncReport> | undefined;
  /** Ids closed by a `closeListener` netmsg while a reconciliation's ListListeners call is out. */
  private closedDuringSync: Set<string> | undefined;
  /** Why the last reconciliation failed (undefined after one that completed). */
  listenerSyncError: string | undefined;
  private client: ControlClient | undefined;
  /** The reconciliation's own client (its deadline is shorter than the programs' calls'). */
  private syncClient: ControlClient | undefined;
  readonly localInput: LocalInput;

  constructor(o: TcpNetisrOptions) {
    this.o = o;
    this.transport = o.transport;
    this.cluster = o.cluster;
    this.cpu = o.cpu;
    this.netisr = o.netisr;
    if (!Number.isInteger(o.cpu) || o.cpu < 0 || o.cpu >= NETISR_CPUMAX) throw new TcpCpuIdError(o.cpu);
    this.index = o.cpu;
    const hostOf = () => this.host;
    const self: RescaleTcp = {
      cpu: o.cpu,
      transport: o.transport,
      cluster: o.cluster,
      get host() {
        return hostOf();
      },
      ensureHost: () => this.ensureHost(),
      ownerNameOf: (so) => (so.owner === null ? null : so.owner instanceof RemoteOwner ? so.owner.name : undefined),
      flushOwner: (name) => this.owners.get(name)?.flush(),
      ownerMoved: (name, oldId, cpu, newId) => this.remoteOwner(name)?.moved(oldId, cpu, newId),
      remoteOwnerOf: (name) => this.remoteOwner(name) ?? null,
      takePending: (so) => this.takePending(so),
      putPending: (so, p) => this.putPending(so, p),
      flushPendingSend: (so) => this.flushPendingSend(so),
      socketPort: (m) => this.socketPort(m),
    };
    this.rescale = new TcpRescale(self, o.netisr, o.rescale);
    this.localInput = (proto, buf, off, _hlen, iplen) => {
      if (proto !== 6) return false;
      this.rescale.input(buf, off, iplen);
      return true;
    };
  }

  /** Starts the timers. */
  start(): void {
    const ms = this.o.tickMs ?? 10;
    this.timer = setInterval(() => {
      const h = this.host;
      if (h) h.tick();
      this.expireCursors();
    }, ms);
    this.timer.unref?.();
    this.rescale.start();
    const syncMs = this.o.listenerSyncMs ?? LISTENER_SYNC_MS;
    if (this.o.controlAddr && syncMs > 0) {
      this.syncTimer = setInterval(() => void this.reconcileListeners().catch(() => undefined), syncMs);
      this.syncTimer.unref?.();
    }
  }

  private control(): ControlClient | undefined {
    if (!this.client && this.o.controlAddr) this.client = new ControlClient(this.o.controlAddr);
    return this.client;
  }

  /** The replica (built on first use; it follows every topology through `rescale.hashcpu`). */
  ensureHost(): TcpHost {
    if (this.host) return this.host;
    this.host = new TcpHost({
      ncpus: NETISR_CPUMAX,
      local: [this.index],
      hashcpu: (h) => this.rescale.hashcpu(h),
      ...(this.o.config ? { config: this.o.config } : {}),
      ...(this.o.somaxconn !== undefined ? { somaxconn: this.o.somaxconn } : {}),
      ...(this.o.policy ? { policy: this.o.policy } : {}),
      ...(this.o.now ? { now: this.o.now } : {}),
      output: (_cpu, seg) => this.output(seg),
      remoteOwner: (name) => this.remoteOwner(name),
      routeOpts: (faddr) => this.routeOpts(faddr),
      drop: (_cpu, reason) => {
        // TCP drops join the CPU's drop counters under their tcpstat names (dfly_ip_dropped_total{reason}).
        if (TCP_IP_DROPS.has(reason)) this.netisr.stats.ip.dropped[(IpDrop as Record<string, number>)[reason]]++;
      },
    });
    this.rescale.attach(this.host);
    for (const s of this.specs.values()) this.host.listenInstall(s);
    return this.host;
  }

  /** @internal the publisher of a remote program's socket events. */
  remoteOwner(name: string): RemoteOwner | undefined {
    if (!isOwnerName(name)) return undefined;
    let o = this.owners.get(name);
    if (!o) this.owners.set(name, (o = new RemoteOwner(name, this)));
    return o;
  }

  /** The route's initial window (rmx_iwmaxsegs, honoured when ≥ 4) and MTU for a peer. */
  private routeOpts(faddr: number): { iwSegs?: number; mss?: number } | undefined {
    const routes = this.netisr.routes;
    const ri = routes.lookup(faddr);
    if (ri < 0) return undefined;
    const r = routes.route(ri);
    const iw = routeIwSegs(r);
    if (!iw && !r.mtu) return undefined;
    return { ...(iw ? { iwSegs: iw.maxsegs } : {}), ...(r.mtu ? { mss: r.mtu - 40 } : {}) };
  }

  /** A segment out: the interface of the route to its destination, this CPU's TX ring there. */
  private output(seg: TcpSeg): void {
    const routes = this.netisr.routes;
    let ri = routes.lookup(seg.dst);
    let ifname = ri >= 0 ? routes.ifnameOf(ri) : undefined;
    if (ri >= 0 && ifname === undefined) {
      ri = routes.lookup(routes.gatewayOf(ri));
      ifname = ri >= 0 ? routes.ifnameOf(ri) : undefined;
    }
    const ifx = ifname === undefined ? -1 : this.netisr.ifindex(ifname);
    if (ifx < 0) {
      this.stats.noroute++;
      return;
    }
    let q = this.queues.get(ifx);
    if (!q) {
      q = new TcpFrameQueue((b) => {
        const ifp = this.netisr.interfaces[ifx];
        if (!ifp) return;
        ifp.txFrames += frameCount(b);
        this.netisr.stats.batchesTx++;
        this.transport.publish(subjects.tx(this.cluster, ifp.ifname, ifp.txRing), b, { transfer: true });
      }, 64 * 1024);
      this.queues.set(ifx, q);
    }
    q.push(seg);
  }

  // ---- programs in this thread ----

  /**
   * The sockets API for a program running on this CPU (in this thread). Its listeners go
   * through the control (every CPU gets them); events for its sockets on other CPUs arrive
   * on `<c>.sock.<owner>`.
   */
  sockets(owner: string): Sockets {
    if (!isOwnerName(owner)) throw new InpcbStateError(`owner "${owner}" must be 1-64 of [-_a-zA-Z0-9]`);
    const have = this.programs.get(owner);
    if (have) return have;
    const host = this.ensureHost();
    const c = this.control();
    const s = new Sockets({
      host,
      cpu: this.index,
      owner,
      ...(c ? { listen: new ControlListenBackend(c) } : {}),
      remote: new PortSockRemote(this.transport, this.cluster, (i) => i),
      source: () => this.primaryAddr(),
    });
    this.programs.set(owner, s);
    this.eventSubs.push(attachSockEvents(this.transport, this.cluster, s));
    return s;
  }

  private primaryAddr(): number {
    for (const i of this.netisr.interfaces) if (i.addrs.length > 0) return i.addrs[0];
    return 0;
  }

  /** Installs every listener the control knows that this CPU lacks (and closes the ones it dropped): the count installed. */
  async loadListeners(): Promise<number> {
    return (await this.reconcileListeners()).installed.length;
  }

  /**
   * Makes this CPU's control-made listeners what the control lists (`ListListeners`): installs
   * the ones missing here and closes, on this CPU only and under its policy, the ones installed
   * from the control (a `listen` netmsg or an earlier reconciliation) that the control no longer
   * has — the close it fanned out while this CPU was unreachable. The close is the one a
   * `closeListener` netmsg runs: syncache entries and the accept queue go to the heir, or are
   * reset, counted in the listener-migration stats. Listeners installed otherwise (not from the
   * control) are never touched.
   *
   * Runs at each (re-)registration (cpu.ts) and every `listenerSyncMs`. Calls while one runs
   * are folded into one more run after it. A failed ListListeners call changes nothing (counted
   * in `listenerSyncFailed`, the reason in `listenerSyncError`) and rejects; the next run retries.
   *
   * Races: only listeners installed before the call went out can be closed (one a `listen`
   * netmsg installs meanwhile is newer than the list), and one a `closeListener` netmsg closes
   * meanwhile is not installed again from the (older) list. Listener ids are never reused.
   */
  reconcileListeners(): Promise<ListenerSyncReport> {
    if (this.syncQueued) return this.syncQueued;
    if (this.syncRunning) {
      const q = this.syncRunning.then(
        () => undefined,
        () => undefined,
      ).then(() => {
        this.syncQueued = undefined;
        return this.runListenerSync();
      });
      this.syncQueued = q;
      return q;
    }
    return this.runListenerSync();
  }

  private runListenerSync(): Promise<ListenerSyncReport> {
    const p = this.listenerSync().finally(() => {
      if (this.syncRunning === p) this.syncRunning = undefined;
    });
    this.syncRunning = p;
    return p;
  }

  private async listenerSync(): Promise<ListenerSyncReport> {
    const report: ListenerSyncReport = { installed: [], closed: [], failed: [] };
    if (!this.o.controlAddr) return report;
    const c = (this.syncClient ??= new ControlClient(this.o.controlAddr, this.o.listenerSyncDeadlineMs ?? LISTENER_SYNC_DEADLINE_MS));
    const before = new Set(this.specs.keys());
    const closedMeanwhile = new Set<string>();
    this.closedDuringSync = closedMeanwhile;
    let listed: ListenerSpec[];
    try {
      const r = await c.listListeners(true);
      listed = r.listeners.map((l) => ({
        id: l.listenerId,
        laddr: parseRouteAddress(l.address || "0.0.0.0"),
        lport: l.port,
        reuseport: l.reuseport,
        backlog: l.backlog > 0 ? l.backlog : -1,
        owner: l.owner,
        ...(l.reuseport ? { index: l.groupIndex } : {}),
        ...(l.nodelay ? { nodelay: true } : {}),
        ...(l.sndbuf > 0 ? { sndbuf: l.sndbuf } : {}),
        ...(l.rcvbuf > 0 ? { rcvbuf: l.rcvbuf } : {}),
      }));
    } catch (err) {
      this.stats.listenerSyncFailed++;
      this.listenerSyncError = err instanceof Error ? err.message : String(err);
      trace(TraceArea.reuseport, () => `cpu ${this.cpu}: listener sync failed, nothing changed: ${this.listenerSyncError}`);
      throw err;
    } finally {
      if (this.closedDuringSync === closedMeanwhile) this.closedDuringSync = undefined;
    }
    const ids = new Set(listed.map((l) => l.id));
    // Closes first: a listener the control replaced (same address, new id) frees its port.
    for (const id of before) {
      if (ids.has(id) || !this.specs.has(id)) continue;
      report.closed.push({ id, ...this.closeLocal(id, this.ensureHost().policy) });
      this.stats.listenerSyncClosed++;
    }
    for (const spec of listed) {
      if (this.specs.has(spec.id) || closedMeanwhile.has(spec.id)) continue;
      try {
        this.ensureHost().listenInstall(spec);
      } catch (err) {
        // The address is taken here by a listener the control does not know: left as it is.
        if (!(err instanceof InpcbAddrInUseError)) throw err;
        report.failed.push({ id: spec.id, reason: err.message });
        this.stats.listenerSyncInstallFailed++;
        continue;
      }
      this.specs.set(spec.id, spec);
      report.installed.push(spec.id);
      this.stats.listenerSyncInstalled++;
    }
    this.stats.listenerSyncs++;
    this.listenerSyncError = undefined;
    if (report.installed.length > 0 || report.closed.length > 0) {
      trace(TraceArea.reuseport, () => `cpu ${this.cpu}: listener sync installed [${report.installed.join(",")}] closed [${report.closed.map((x) => `${x.id} moved=${x.moved} reset=${x.reset} heir=${x.heir ?? "none"}`).join(",")}]`);
    }
    return report;
  }

  /** Closes a control-made listener on this CPU (a `closeListener` netmsg or a reconciliation). */
  private closeLocal(id: string, policy: ListenerPolicy): ListenCloseResult {
    this.specs.delete(id);
    this.closedDuringSync?.add(id);
    const host = this.ensureHost();
    if (!host.listener(id)) return { policy, heir: null, moved: 0, reset: 0, syncacheMoved: 0, syncacheDropped: 0, syncachePending: 0 };
    return host.listenClose(id, policy);
  }

  // ---- the port ----

  /** Registers the socket calls and the rescale netmsgs on this CPU's port. */
  registerPort(port: NetmsgRegistry): void {
    const r = this.rescale;
    const call = (m: Msg) => void this.socketPort(m);
    port.register(["listen", "closeListener", "accept", "list", "listeners", "connect"], call);
    port.register(["send", "shutdown", "close", "setopt"], (m) => {
      if (!r.chase.onSocketCall(m)) this.socketPort(m);
    });
    port.register("segments", (m) => r.home.onSegments(m));
    port.register("home", (m) => r.home.onHome(m));
    port.register("handover", (m) => r.handover.onHandover(m));
    port.register("leaving", (m) => r.onLeaving(m));
    port.register("chase", (m) => r.chase.onChase(m));
    port.register("fence", (m) => r.chase.onFence(m));
  }

  /** @internal a socket netmsg (also what the rescale layer hands on: chased and released calls). */
  socketPort(m: Msg): boolean {
    const d = m.data;
    if (d.length === 0) return false;
    this.stats.calls++;
    const r = decodeNetmsg(d);
    if (typeof r === "string" || r.type !== "socket") {
      this.stats.bad++;
      m.respond(encodeNetmsg.reply(0, false, undefined, `malformed socket netmsg: ${typeof r === "string" ? r : "type"}`));
      return true;
    }
    const ok = (body?: unknown) => m.respond(encodeNetmsg.reply(r.id, true, body));
    const fail = (why: string) => m.respond(encodeNetmsg.reply(r.id, false, undefined, why));
    const body = (typeof r.body === "object" && r.body !== null ? r.body : {}) as Record<string, unknown>;
    try {
      this.dispatch(r.code, body, ok, fail);
    } catch (err) {
      fail(err instanceof Error ? `${err.name}: ${err.message}` : String(err));
    }
    return true;
  }

  private dispatch(code: number, b: Record<string, unknown>, ok: (body?: unknown) => void, fail: (why: string) => void): void {
    const host = this.ensureHost();
    switch (code) {
      case SockNetmsg.listen: {
        const l = sockBodyListener(b);
        if (typeof l === "string") {
          this.stats.bad++;
          return fail(`bad listen body: ${l}`);
        }
        const spec = specOf(l);
        let rec: ListenerRec;
        try {
          rec = host.listenInstall(spec);
        } catch (err) {
          if (err instanceof InpcbAddrInUseError) return fail(err.message);
          throw err;
        }
        this.specs.set(spec.id, spec);
        return ok({ index: rec.index, qlimit: rec.ls.qlimit });
      }
      case SockNetmsg.closeListener: {
        const id = b.id;
        const policy = (b.policy ?? host.policy) as ListenerPolicy;
        if (typeof id !== "string" || !(Object.values(ListenerPolicy) as string[]).includes(policy)) {
          this.stats.bad++;
          return fail("bad closeListener body");
        }
        return ok(this.closeLocal(id, policy));
      }
      case SockNetmsg.listeners:
        return ok({ listeners: host.listenerList().map((l) => ({ id: l.id, qlen: l.ls.qlen, qlimit: l.ls.qlimit, overflows: l.ls.overflows })) });
      case SockNetmsg.list:
        return ok(this.listStep(host, Number(b.token) || 0, Math.max(1, Math.min(4096, Number(b.limit) || 256))));
      case SockNetmsg.accept: {
        const { listener, owner } = b;
        const max = Math.max(1, Math.min(1024, Number(b.max) || 32));
        if (typeof listener !== "string" || !isOwnerName(owner)) {
          this.stats.bad++;
          return fail("bad accept body");
        }
        const rec = host.listener(listener);
        if (!rec) return ok({ conns: [] });
        const ro = this.remoteOwner(owner)!;
        const conns: unknown[] = [];
        while (conns.length < max) {
          const so = host.accept(rec, ro);
          if (!so) break;
          const id = host.idOf(so);
          const tp = so.tp!;
          const eng = host.cpu(so.cpu).engine;
          let data: Uint8Array | null = null;
          let eof = false;
          try {
            const got = eng.recv(tp, host.now());
            if (got === null) eof = true;
            else if (got.length > 0) data = got;
          } catch {
            eof = true;
          }
          const i = so.inp;
          conns.push({ id, laddr: i.laddr >>> 0, lport: i.lport, faddr: i.faddr >>> 0, fport: i.fport, ...(data ? { data: b64(data) } : {}), ...(eof ? { eof } : {}) });
        }
        return ok({ conns });
      }
      case SockNetmsg.send: {
        const so = this.sockOf(b.id);
        const data = typeof b.data === "string" ? unb64(b.data) : null;
        if (!so || !data) {
          if (b.sync) return fail(so ? "bad send body" : `no socket ${String(b.id)}`);
          return;
        }
        const n = this.remoteSend(host, so, data);
        if (b.sync) ok({ n });
        return;
      }
      case SockNetmsg.shutdown:
      case SockNetmsg.close: {
        const so = this.sockOf(b.id);
        if (!so) {
          if (code === SockNetmsg.close) return; // already gone: closing twice is harmless
          return;
        }
        const p = this.pending.get(so);
        if (code === SockNetmsg.close) {
          so.owner = null;
          so.fd = -1;
        }
        if (p && b.abort !== true) {
          if (code === SockNetmsg.close) p.close = true;
          else p.shutdown = true;
          return;
        }
        this.dropPendingSend(so);
        const tp = so.tp;
        if (!tp || tp.t_state === TcpState.CLOSED) return;
        const eng = host.cpu(so.cpu).engine;
        if (code === SockNetmsg.shutdown) eng.shutdown(tp, host.now());
        else if (b.abort === true) eng.abort(tp, host.now());
        else eng.close(tp, host.now());
        return;
      }
      case SockNetmsg.connect:
        return this.connect(host, b, ok, fail);
      case SockNetmsg.setopt: {
        const so = this.sockOf(b.id);
        if (!so?.tp) return;
        if (b.opt === SockOpt.TCP_NODELAY) host.cpu(so.cpu).engine.setNodelay(so.tp, b.value === true || b.value === 1, host.now());
        else if (b.opt === SockOpt.SO_SNDBUF && typeof b.value === "number" && b.value >= 512) so.tp.snd_hiwat = b.value;
        return;
      }
      default:
        this.stats.bad++;
        return fail(`unknown socket netmsg 0x${code.toString(16)}`);
    }
  }

  /**
   * connect() for a program elsewhere (`tcp_connect`): the port search prefers a port whose
   * hash lands on this CPU; otherwise the connection migrates — this CPU counts it and
   * forwards the call, with the chosen port, to the owner CPU's port, whose answer goes back
   * to the caller.
   */
  private connect(host: TcpHost, b: Record<string, unknown>, ok: (body?: unknown) => void, fail: (why: string) => void): void {
    const { owner, faddr, fport } = b;
    const laddr = typeof b.laddr === "number" && b.laddr !== 0 ? b.laddr >>> 0 : this.primaryAddr();
    const lport = typeof b.lport === "number" ? b.lport : 0;
    if (!isOwnerName(owner) || typeof faddr !== "number" || typeof fport !== "number" || !Number.isInteger(fport) || fport < 1 || fport > 65535) {
      this.stats.bad++;
      return fail("bad connect body");
    }
    const ro = this.remoteOwner(owner)!;
    const so = new So(this.index, undefined as never);
    const opts = {
      ...(b.nodelay === true ? { nodelay: true } : {}),
      ...(typeof b.sndbuf === "number" ? { sndbuf: b.sndbuf } : {}),
      ...(typeof b.rcvbuf === "number" ? { rcvbuf: b.rcvbuf } : {}),
    };
    try {
      host.idOf(so);
      if (lport === 0) host.connect(this.index, so, laddr, faddr >>> 0, fport, ro, opts, lport, false);
      else {
        // Placed here by the port search of the CPU the program called (under its view of the
        // topology): the connection lives here even if this CPU's newer view names another owner.
        this.rescale.claim(host.hashOf(faddr >>> 0, fport, laddr, lport), () => host.connect(this.index, so, laddr, faddr >>> 0, fport, ro, opts, lport, true));
        this.rescale.placed(so.inp);
      }
    } catch (err) {
      host.forget(so);
      if (err instanceof TcpNotLocalError && lport === 0) {
        const to = err.cpu;
        const req = encodeNetmsg.socket(SockNetmsg.connect, 0, { ...b, laddr, lport: err.lport });
        this.transport.request(subjects.netisr(this.cluster, to), req, { timeoutMs: 5000 }).then(
          (m) => {
            const r = decodeNetmsg(m.data);
            if (typeof r === "string" || r.type !== NetmsgType.reply) return fail("bad reply from the owner CPU");
            if (r.ok) ok(r.body);
            else fail(r.error ?? "refused by the owner CPU");
          },
          (e: Error) => fail(`owner cpu ${to}: ${e.message}`),
        );
        return;
      }
      return fail(err instanceof Error ? `${err.name}: ${err.message}` : String(err));
    }
    const i = so.inp;
    ok({ cpu: this.index, id: so.id, laddr: i.laddr >>> 0, lport: i.lport, faddr: i.faddr >>> 0, fport: i.fport });
  }

  private sockOf(id: unknown): So | undefined {
    const so = typeof id === "number" ? this.host?.byId(id) : undefined;
    if (!so) this.stats.nosock++;
    return so;
  }

  /** Queues remote-sent bytes: into the send buffer while it has room, the rest held here. */
  private remoteSend(host: TcpHost, so: So, data: Uint8Array): number {
    const tp = so.tp;
    if (!tp || tp.t_state === TcpState.CLOSED) return 0;
    const p = this.pending.get(so);
    if (p) {
      p.chunks.push(data);
      p.bytes += data.length;
      if (p.bytes > SO_REMOTE_SEND_MAX) {
        this.dropPendingSend(so);
        host.cpu(so.cpu).engine.abort(tp, host.now());
      }
      return 0;
    }
    let n = 0;
    try {
      n = host.cpu(so.cpu).engine.send(tp, data, host.now());
    } catch {
      return 0;
    }
    if (n < data.length) this.pending.set(so, { chunks: [data.subarray(n)], bytes: data.length - n, shutdown: false, close: false });
    return n;
  }

  /** @internal WRITABLE: move held bytes into the send buffer, then a held shutdown/close. */
  flushPendingSend(so: So): void {
    const p = this.pending.get(so);
    const host = this.host;
    if (!p || !host || !so.tp) return;
    const eng = host.cpu(so.cpu).engine;
    while (p.chunks.length > 0) {
      const c = p.chunks[0];
      let n = 0;
      try {
        n = eng.send(so.tp, c, host.now());
      } catch {
        this.dropPendingSend(so);
        return;
      }
      p.bytes -= n;
      if (n < c.length) {
        p.chunks[0] = c.subarray(n);
        return;
      }
      p.chunks.shift();
    }
    this.pending.delete(so);
    if (p.close) eng.close(so.tp, host.now());
    else if (p.shutdown) eng.shutdown(so.tp, host.now());
  }

  /** @internal */
  dropPendingSend(so: So): void {
    this.pending.delete(so);
  }

  /** @internal hand-over: the bytes held for `so` beyond its send buffer leave with it. */
  takePending(so: So): PendingSendState | undefined {
    const p = this.pending.get(so);
    if (!p) return undefined;
    this.pending.delete(so);
    return { chunks: p.chunks, shutdown: p.shutdown, close: p.close };
  }

  /** @internal hand-over: bytes held for a socket that arrived here. */
  putPending(so: So, p: PendingSendState): void {
    this.pending.set(so, { chunks: [...p.chunks], bytes: p.chunks.reduce((n, c) => n + c.length, 0), shutdown: p.shutdown, close: p.close });
  }

  // ---- netstat -an ----

  private listStep(host: TcpHost, token: number, limit: number): { token: number; done: boolean; rows: PcbWire[] } {
    let cur = token ? this.cursors.get(token) : undefined;
    if (token && !cur) return { token: 0, done: true, rows: [] }; // expired: the walk of this CPU ends
    if (!cur) {
      token = this.nextCursor++;
      cur = { c: new InpcbListCursor<TcpCb>(host.pcb), at: Date.now(), listeners: false };
      this.cursors.set(token, cur);
    }
    cur.at = Date.now();
    const rows: PcbWire[] = [];
    const c = cur.c;
    // The cursor walks the replica's lists CPU after CPU; only this CPU's partition holds
    // connections here (the others hold nothing but listener references, listed below).
    while (rows.length < limit && !c.done) {
      const batch = c.next(limit - rows.length);
      if (batch.length === 0) break;
      for (const inp of batch) {
        if (inp.flags & INP.WILDCARD || inp.cpu !== this.index) continue;
        const tp = inp.ppcb;
        rows.push({
          cpu: this.cpu,
          laddr: formatRouteAddress(inp.laddr >>> 0),
          lport: inp.lport,
          faddr: formatRouteAddress(inp.faddr >>> 0),
          fport: inp.fport,
          state: tp ? TCP_STATE_NAMES[tp.t_state] : "CLOSED",
          recvQ: tp ? tp.rcvCc : 0,
          sendQ: tp ? tp.sndCc : 0,
          qlimit: 0,
          listener: inp.head ? (host.listenerOf(inp.head)?.id ?? "") : "",
          index: -1,
        });
      }
    }
    if (!c.done) return { token, done: false, rows };
    if (!cur.listeners) {
      cur.listeners = true;
      for (const l of host.listenerList()) {
        rows.push({
          cpu: this.cpu,
          laddr: formatRouteAddress(l.ls.laddr >>> 0),
          lport: l.ls.lport,
          faddr: "0.0.0.0",
          fport: 0,
          state: "LISTEN",
          recvQ: l.ls.qlen,
          sendQ: 0,
          qlimit: l.ls.qlimit,
          listener: l.id,
          index: l.index,
        });
      }
    }
    this.cursors.delete(token);
    return { token: 0, done: true, rows };
  }

  private expireCursors(): void {
    if (this.cursors.size === 0) return;
    const now = Date.now();
    for (const [k, v] of this.cursors) {
      if (now - v.at > CURSOR_IDLE_MS) {
        v.c.close();
        this.cursors.delete(k);
      }
    }
  }

  // ---- counters ----

  /** netstat -s counters of this CPU: tcp (tcpstat names + host glue), socket-port calls. */
  statsBody(): Record<string, Record<string, number>> {
    const h = this.host;
    if (!h) return {};
    const c = h.cpu(this.index);
    const tcp: Record<string, number> = {};
    for (const [k, v] of Object.entries(c.engine.stats)) if (typeof v === "number") tcp[k] = v;
    for (const [k, v] of Object.entries(c.syncache.stats)) tcp[k] = v;
    tcp.segs_in = c.stats.segsIn;
    tcp.segs_out = c.stats.segsOut;
    tcp.wrongcpu = c.stats.wrongcpu;
    tcp.badframes = c.stats.badframes;
    tcp.accepts_queued = c.stats.completed;
    tcp.accepts_taken = c.stats.accepted;
    const ps = h.pcb.stats[this.index];
    tcp.connect_local = ps.connectLocal;
    tcp.connect_migrations = ps.connectMigrations;
    tcp.TcpMigrateReqSuccess = ps.TcpMigrateReqSuccess;
    tcp.TcpMigrateReqFailure = ps.TcpMigrateReqFailure;
    const sock: Record<string, number> = { ...this.stats };
    return { tcp, sock };
  }

  /** Connections by TCP state on this CPU (dfly_tcp_connections). */
  connectionStates(): Record<string, number> {
    const h = this.host;
    if (!h) return {};
    const out: Record<string, number> = {};
    const info = h.pcb.pcbinfo[this.index];
    for (let inp = info.first(); inp; inp = inp.listNext) {
      if (inp.flags & (INP.PLACEMARKER | INP.WILDCARD)) continue;
      const tp = inp.ppcb;
      const name = tp ? TCP_STATE_NAMES[tp.t_state] : "CLOSED";
      out[name] = (out[name] ?? 0) + 1;
    }
    return out;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.syncTimer) clearInterval(this.syncTimer);
    this.syncTimer = undefined;
    this.rescale.stop();
    for (const s of this.eventSubs) s.unsubscribe();
    for (const s of this.programs.values()) s.shutdownAll();
    for (const q of this.queues.values()) q.flush();
    for (const o of this.owners.values()) o.flush();
    for (const c of this.cursors.values()) c.c.close();
    this.cursors.clear();
    this.client?.close();
    this.syncClient?.close();
  }
}

function frameCount(batch: Uint8Array): number {
  return (batch[4] | (batch[5] << 8) | (batch[6] << 16) | (batch[7] << 24)) >>> 0;
}

/** The listener spec a CPU installs from the control's wire form. */
export function specOf(l: ListenerWire): ListenerSpec {
  return {
    id: l.id,
    laddr: parseRouteAddress(l.laddr),
    lport: l.lport,
    reuseport: l.reuseport,
    backlog: l.backlog,
    owner: l.owner,
    ...(l.index >= 0 ? { index: l.index } : {}),
    ...(l.nodelay ? { nodelay: true } : {}),
    ...(l.sndbuf ? { sndbuf: l.sndbuf } : {}),
    ...(l.rcvbuf ? { rcvbuf: l.rcvbuf } : {}),
  };
}

