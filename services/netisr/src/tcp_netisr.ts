/** TCP inside one netisr CPU: its `TcpHost` replica with output, socket port, listener sync, PCB cursor and rescale. */
import { INP, NETISR_CPUMAX, InpcbStateError, ListenerPolicy, TCP_DEFAULTS, TCP_STATE_NAMES, tcpCtlOf, TcpEngine, type TcpConfig, type TcpCtl } from "@dfly/core";
import { ControlClient } from "@dfly/control";
import { isOwnerName, type ListenRequest } from "@dfly/wire";
import type { Transport } from "@dfly/transport";
import type { CtlInput, LocalInput, Netisr } from "./netisr.js";
import type { NetmsgRegistry } from "./netmsg.js";
import { IpDrop } from "./ipstat.js";
import { TcpHost } from "./tcp_host.js";
import type { ListenBackend, ListenCloseReply, ListenReply } from "./so_api.js";
import { Sockets } from "./so_sockets.js";
import { attachSockEvents, PortSockRemote } from "./so_port.js";
import { TcpCpuIdError, TcpRescale, type TcpRescaleOptions } from "./tcp_rescale.js";
import { tupleKey } from "./rescale_home.js";
import { TcpOutput } from "./tcp_output.js";
import { SockPortStats, TcpUsrreq } from "./tcp_usrreq.js";
import { LISTENER_SYNC_MS, ListenerSync, type ListenerSyncReport } from "./listener_sync.js";
import { PcbCursors } from "./pcb_cursor.js";

export interface TcpNetisrOptions {
  transport: Transport;
  cluster: string;
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
  /** Listener reconciliation period with the control (default 10 s; 0: only at registration). */
  listenerSyncMs?: number;
  /** Deadline of a reconciliation's ListListeners call (default 5 s; above the control's CPU apply timeout, 2 s). */
  listenerSyncDeadlineMs?: number;
  now?: () => number;
}

/** TCP drop reasons also counted among the CPU's IP drops (the names ipstat.ts shares with tcpstat). */
const TCP_IP_DROPS = new Set(["noport", "listendrop", "rcvbadsum", "rcvshort", "rcvbadoff"]);

/** Listen through the control's SocketService (installed on every CPU before it returns). */
export class ControlListenBackend implements ListenBackend {
  constructor(private readonly client: ControlClient) {}
  async listen(req: ListenRequest): Promise<ListenReply> {
    return this.client.listenSpec(req);
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
  readonly usrreq: TcpUsrreq;
  readonly listeners: ListenerSync;
  readonly cursors: PcbCursors;
  private readonly out: TcpOutput;
  private readonly netisr: Netisr;
  private readonly o: TcpNetisrOptions;
  private readonly programs = new Map<string, Sockets>();
  private readonly eventSubs: { unsubscribe(): void }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private syncTimer: NodeJS.Timeout | undefined;
  private client: ControlClient | undefined;
  readonly localInput: LocalInput;
  /** sysctl writes, kept for a host built later. */
  private configPatch: Partial<TcpConfig> | undefined;
  private syncookies = true;
  /** tcp_ctlinput for the ICMP errors the netisr steered here (by the quote's hash). */
  readonly ctlInput: CtlInput;

  constructor(o: TcpNetisrOptions) {
    this.o = o;
    this.transport = o.transport;
    this.cluster = o.cluster;
    this.cpu = o.cpu;
    this.netisr = o.netisr;
    if (!Number.isInteger(o.cpu) || o.cpu < 0 || o.cpu >= NETISR_CPUMAX) throw new TcpCpuIdError(o.cpu);
    this.index = o.cpu;
    this.out = new TcpOutput(o.netisr, this.stats);
    this.usrreq = new TcpUsrreq(this);
    this.listeners = new ListenerSync(o.cpu, () => this.ensureHost(), this.stats, o.controlAddr, o.listenerSyncDeadlineMs);
    this.cursors = new PcbCursors(o.cpu);
    this.rescale = new TcpRescale(this, o.netisr, o.rescale);
    this.localInput = (proto, buf, off, _hlen, iplen, hash) => {
      if (proto !== 6) return false;
      this.rescale.input(buf, off, iplen, hash ?? -1);
      return true;
    };
    this.ctlInput = (q) => {
      const ctl = tcpCtlOf(q.type, q.code);
      if (ctl < 0) return;
      this.host?.cpus[this.index]?.ctlinput(ctl as TcpCtl, q.src, q.sport, q.dst, q.dport, q.seq, q.nextMtu, q.iplen);
    };
  }

  /** The TCP knobs in force on this CPU (sysctl reads). */
  tcpConfig(): Readonly<TcpConfig> {
    return this.host?.cpus[this.index]?.engine.config ?? { ...TCP_DEFAULTS, ...this.o.config, ...this.configPatch };
  }

  get synCookies(): boolean {
    return this.syncookies;
  }

  /** A sysctl write: checked by a trial engine config first (TcpConfigError: nothing changed), then in force here. */
  setTcpConfig(patch: Partial<TcpConfig>, syncookies?: boolean): void {
    const engine = this.host?.cpus[this.index]?.engine;
    if (engine) engine.setConfig(patch);
    else new TcpEngine({ config: { ...this.o.config, ...this.configPatch, ...patch }, output: () => undefined });
    this.configPatch = { ...this.configPatch, ...patch };
    if (syncookies !== undefined) {
      this.syncookies = syncookies;
      const sc = this.host?.syncaches[this.index];
      if (sc) sc.syncookies = syncookies;
    }
  }

  start(): void {
    const ms = this.o.tickMs ?? 10;
    this.timer = setInterval(() => {
      const h = this.host;
      if (h) h.tick();
      this.cursors.expire();
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
      ...(this.o.config || this.configPatch ? { config: { ...this.o.config, ...this.configPatch } } : {}),
      ...(this.o.somaxconn !== undefined ? { somaxconn: this.o.somaxconn } : {}),
      ...(this.o.policy ? { policy: this.o.policy } : {}),
      ...(this.o.now ? { now: this.o.now } : {}),
      output: (_cpu, seg) => this.out.output(seg),
      lendSegs: true,
      remoteOwner: (name) => this.usrreq.remoteOwner(name),
      routeOpts: (faddr) => this.out.routeOpts(faddr),
      drop: (_cpu, reason) => {
        // TCP drops join the CPU's drop counters under their tcpstat names (dfly_ip_dropped_total{reason}).
        if (TCP_IP_DROPS.has(reason)) this.netisr.stats.ip.dropped[(IpDrop as Record<string, number>)[reason]]++;
      },
    });
    this.host.syncaches[this.index].syncookies = this.syncookies;
    this.rescale.attach(this.host);
    // connect()'s port searches skip 4-tuples living elsewhere in this CPU's buckets (home entries).
    const foreign = this.rescale.foreign;
    this.host.pcb.tupleHeld = (laddr, lport, faddr, fport) => foreign.size > 0 && foreign.has(tupleKey(laddr, lport, faddr, fport));
    for (const s of this.listeners.specs.values()) this.host.listenInstall(s);
    return this.host;
  }

  /** The sockets API for a program on this CPU; its listeners go through the control. */
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

  /** The first address of this CPU's interfaces (a connect's default source). */
  primaryAddr(): number {
    for (const i of this.netisr.interfaces) if (i.addrs.length > 0) return i.addrs[0];
    return 0;
  }

  /** Installs every listener the control knows that this CPU lacks (and closes the ones it dropped): the count installed. */
  async loadListeners(): Promise<number> {
    return (await this.reconcileListeners()).installed.length;
  }

  /** Makes this CPU's control-made listeners what the control lists (listener_sync.ts). */
  reconcileListeners(): Promise<ListenerSyncReport> {
    return this.listeners.reconcile();
  }

  /** Why the last listener reconciliation failed (undefined after one that completed). */
  get listenerSyncError(): string | undefined {
    return this.listeners.error;
  }

  /** Registers the socket calls and the rescale netmsgs on this CPU's port. */
  registerPort(port: NetmsgRegistry): void {
    const r = this.rescale;
    const u = this.usrreq;
    port.register(["listen", "closeListener", "accept", "list", "listeners", "connect"], (m) => void u.socketPort(m));
    port.register(["send", "shutdown", "close", "setopt"], (m) => {
      if (!r.chase.onSocketCall(m)) u.socketPort(m);
    });
    port.register("segments", (m) => r.home.onSegments(m));
    port.register("home", (m) => r.home.onHome(m));
    port.register("handover", (m) => r.handover.onHandover(m));
    port.register("leaving", (m) => r.onLeaving(m));
    port.register("chase", (m) => r.chase.onChase(m));
    port.register("fence", (m) => r.chase.onFence(m));
  }

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
    this.out.flush();
    this.usrreq.flushAll();
    this.cursors.close();
    this.client?.close();
    this.listeners.stop();
  }
}
