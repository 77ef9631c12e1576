/**
 * The TCP layer of one emulated host: DragonFly's per-CPU TCP (tcp_input → INPCB lookup on
 * the hash CPU, syncache, the TCB) glued to core's pieces — `InpcbHost` (connections
 * partitioned by the symmetric hash, listeners referenced on every CPU), one `TcpEngine`
 * and one `TcpSyncache` per CPU, SO_REUSEPORT listen/close with inheritance
 * (`tcpListen`/`tcpListenClose`), connect placement (`tcpConnectPlace`).
 *
 * A `TcpHost` runs some of the host's CPUs in this thread:
 *   - all of them (a host in one thread: the emulated client hosts, the in-memory baseline);
 *   - one of them (a netisr worker or process): the host's PCB tables are then a *replica*
 *     per CPU — this CPU's partition of the connections, plus a reference to every listener
 *     (installed on each CPU by the control's SocketService fan-out, same order everywhere).
 *
 * Every segment is processed by `TcpCpu.input` on the CPU `netisr_hashcpu(hash)` names;
 * one that arrives on another CPU is counted (`wrongcpu`) and dropped — that is a
 * steering bug, never silently fixed here. Frames leave through `TcpHostOptions.output`
 * (the caller batches them); socket events go to the socket's owner (`SoOwner`).
 *
 * Time: milliseconds from `now()` (performance.now by default). The caller drives
 * timers with `tick()` (DragonFly's per-CPU callouts; every 10 ms is hz=100).
 *
 * Limits: IPv4 only; no SYN cookies; a connection stays on the CPU that owns it when the
 * CPU count was fixed at construction (no re-homing when CPUs join or leave).
 */
import {
  INADDR_ANY,
  INP,
  InpcbAddrInUseError,
  InpcbHost,
  InpcbStateError,
  ListenerPolicy,
  ListenSocket,
  SOMAXCONN,
  SyncacheExpandKind,
  TCP_STATE_NAMES,
  TcpEngine,
  TcpErrno,
  TcpEvent,
  TcpFlags,
  TcpState,
  TcpSyncache,
  TF,
  soaccept,
  soBacklog,
  soqremque,
  tcpConnectPlace,
  tcpListenClose,
  tcpSegFromFrame,
  tcpSegDecode,
  TcpRxSegPool,
  tcpConnOptionsMerge,
  tcpFrameWrite,
  toeplitzHash,
  tcpFrameLength as coreTcpFrameLength,
  type Inpcb,
  type ListenerCloseReport,
  type SyncacheOptions,
  type TcpCb,
  type TcpConfig,
  type TcpConnOptions,
  type TcpSeg,
  type TcpSynEntry,
} from "@dfly/core";
import type { FrameBatchCursor } from "@dfly/transport";
import type { ListenerSpec } from "@dfly/wire";

/** What a socket owner hears about (kqueue-style readiness, plus the outcome of connect). */
export const SoEvent = {
  /** A listener has completed connections waiting for accept(). */
  ACCEPT: "accept",
  /** connect() completed. */
  CONNECTED: "connected",
  /** Data is waiting for recv(). */
  READABLE: "readable",
  /** The send buffer has room again after a short send(). */
  WRITABLE: "writable",
  /** The peer sent FIN: recv() returns what is left, then end of stream. */
  EOF: "eof",
  /** The connection failed (refused, reset, timed out, aborted); `err` says why. */
  ERROR: "error",
  /** The connection is gone (after ERROR, or when the TCB is released while still held). */
  CLOSED: "closed",
  /**
   * The socket moved to another CPU (live rescale: its CPU left and handed the connection
   * over; `err` carries "<cpu>/<id>", the new place). Consumed by `Sockets` (the socket's
   * handle follows it, like DragonFly's `tcp_sosetport`); program handlers never see it.
   */
  MOVED: "moved",
} as const;
export type SoEvent = (typeof SoEvent)[keyof typeof SoEvent];

/** Receives the events of the sockets it holds. */
export interface SoOwner {
  soEvent(so: So, ev: SoEvent, err: string | null): void;
}

/** Receives "connections are waiting" for the listeners it owns. */
export interface ListenOwner {
  /** Listener `rec` has completed connections on CPU `cpu` (an index). */
  acceptable(rec: ListenerRec, cpu: number): void;
}

/**
 * A connection socket on its owner CPU: the parts of `struct socket` kept outside the TCB.
 * Small on purpose (memory per connection): TCB and PCB carry the rest.
 */
export class So {
  /** The program's handle (fd) for it, -1 while nobody holds it (on an accept queue, or closed). */
  fd = -1;
  owner: SoOwner | null = null;
  /** Id for remote access over the CPU's port (0 until given one). */
  id = 0;
  tp: TcpCb | null = null;
  constructor(
    /** The CPU index that owns it. */
    public cpu: number,
    public inp: Inpcb<TcpCb>,
  ) {}

  get state(): string {
    return this.tp ? TCP_STATE_NAMES[this.tp.t_state] : "CLOSED";
  }
}

/** A listener installed on this host (one per listener id; referenced from every CPU's tables). */
export class ListenerRec {
  constructor(
    readonly spec: ListenerSpec,
    readonly ls: ListenSocket<TcpCb>,
  ) {}
  get id(): string {
    return this.spec.id;
  }
  /** SO_REUSEPORT slot, -1 without SO_REUSEPORT. */
  get index(): number {
    return this.ls.inp.lgrpindex;
  }
  get listening(): boolean {
    return this.ls.listening;
  }
}

/** What `listenClose` did on this host. */
export interface ListenCloseResult {
  policy: ListenerPolicy;
  heir: string | null;
  /** Completed connections moved to another member's accept queue. */
  moved: number;
  /** Completed connections reset. */
  reset: number;
  syncacheMoved: number;
  syncacheDropped: number;
  syncachePending: number;
}

export type TcpOutputFn = (cpu: number, seg: TcpSeg, so: So | null) => void;

export interface TcpHostOptions {
  /** The host's CPU count (netisr_ncpus), 1..128. */
  ncpus: number;
  /** CPU indices run by this thread (default: all). */
  local?: readonly number[];
  config?: Partial<TcpConfig>;
  /** Every segment a CPU sends, to be framed and queued by the caller. */
  output: TcpOutputFn;
  /** `output` consumes each segment during the call (TcpFrameQueue does): the engines lend theirs (TcpEngineOptions.lendSegs). */
  lendSegs?: boolean;
  now?: () => number;
  /** Ephemeral port range (DragonFly default 1024..5000). */
  portFirst?: number;
  portLast?: number;
  /** `kern.ipc.somaxconn` (default 128). */
  somaxconn?: number;
  /** What closing a SO_REUSEPORT member does (default DragonFly's inheritance). */
  policy?: ListenerPolicy;
  syncache?: SyncacheOptions;
  random?: () => number;
  /** Listener owners that are not in this thread (events published by the caller). */
  remoteOwner?: (owner: string) => ListenOwner | undefined;
  /** Test hook: every segment a CPU processes (after the ownership check). */
  trace?: (cpu: number, seg: TcpSeg, hash: number) => void;
  /**
   * Hash → owner CPU index (default DragonFly's `(h & 127) % ncpus`). A netisr CPU passes its
   * live topology's table, indexed by CPU id (tcp_rescale.ts).
   */
  hashcpu?: (hash: number) => number;
  /**
   * A segment dropped for a reason the host's drop counters keep (tcpstat names): the decode
   * step's (`rcvbadsum`, `rcvshort`, `rcvbadoff`, `badoptions`), `noport` (answered with a
   * RST), `listendrop` (accept queue full). The engine counts these and more in its tcpstat.
   */
  drop?: (cpu: number, reason: string) => void;
  /**
   * Per-route connection options for a peer (`tcp_rmx_iwsegs`: the route's initial window;
   * the route MTU's MSS), applied to passive and active opens.
   */
  routeOpts?: (faddr: number) => TcpConnOptions | undefined;
}

export class TcpHostError extends Error {
  override readonly name = "TcpHostError";
}

/** An operation on a CPU this thread does not run. */
export class TcpNotLocalError extends Error {
  override readonly name = "TcpNotLocalError";
  constructor(
    readonly cpu: number,
    /** connect(): the local port the search chose (the owner CPU must use it). */
    readonly lport = 0,
  ) {
    super(`cpu ${cpu} is not run by this thread`);
  }
}

/** Per-CPU counters of the host glue (the engine keeps tcpstat, the syncache its own). */
export class TcpCpuStats {
  /** Segments processed on this CPU. */
  segsIn = 0;
  /** Segments that arrived on a CPU that does not own them (dropped: a steering bug). */
  wrongcpu = 0;
  /** Frames that were not TCP/IPv4 or failed the decode step (the engine counted TCP reasons). */
  badframes = 0;
  /** Segments sent. */
  segsOut = 0;
  /** Connections handed to a listener's accept queue. */
  completed = 0;
  /** Connections accepted by a program. */
  accepted = 0;
  /** Connect calls that started here and the connections they made (possibly on another CPU). */
  connects = 0;
}

export class TcpCpu {
  readonly engine: TcpEngine;
  readonly syncache: TcpSyncache<TcpSynEntry, TcpCb>;
  readonly stats = new TcpCpuStats();
  private readonly synWnd: number;

  constructor(
    readonly host: TcpHost,
    readonly index: number,
    config: Partial<TcpConfig> | undefined,
    now: number,
    lendSegs = false,
  ) {
    this.engine = new TcpEngine({
      cpu: index,
      lendSegs,
      ...(config ? { config } : {}),
      now,
      output: (seg, tp) => this.output(seg, tp),
      onEvent: (tp, ev, err) => this.onEvent(tp, ev, err),
    });
    this.syncache = host.syncaches[index];
    this.synWnd = Math.min(this.engine.config.recvspace, 65535);
  }

  private output(seg: TcpSeg, tp: TcpCb | null): void {
    this.stats.segsOut++;
    this.host.out(this.index, seg, tp ? (tp.so as So | null) : null);
  }

  /** Engine events → the socket's owner; CLOSED releases the PCB. */
  private onEvent(tp: TcpCb, ev: TcpEvent, err: TcpErrno | null): void {
    const so = tp.so as So | null;
    if (!so) return;
    const o = so.owner;
    switch (ev) {
      case TcpEvent.ESTABLISHED:
        // Passive sockets are announced by the listener (after they are on its queue).
        if (o && !(tp.t_flags & TF.PASSIVE)) o.soEvent(so, SoEvent.CONNECTED, null);
        return;
      case TcpEvent.READABLE:
        o?.soEvent(so, SoEvent.READABLE, null);
        return;
      case TcpEvent.WRITABLE:
        o?.soEvent(so, SoEvent.WRITABLE, null);
        return;
      case TcpEvent.PEER_CLOSED:
        o?.soEvent(so, SoEvent.EOF, null);
        return;
      case TcpEvent.RESET:
        o?.soEvent(so, SoEvent.ERROR, err);
        return;
      case TcpEvent.CLOSED: {
        const inp = so.inp;
        if (inp.head) soqremque(inp);
        this.host.pcb.detach(inp);
        this.host.forget(so);
        if (o) {
          so.owner = null;
          o.soEvent(so, SoEvent.CLOSED, err);
        }
        return;
      }
    }
  }

  /**
   * One segment on this CPU (`tcp_input` after the PCB lookup moved here). `hash` is the
   * packet's 16-bit Toeplitz hash (it picks the SO_REUSEPORT member).
   */
  input(seg: TcpSeg, hash: number): void {
    const host = this.host;
    if (host.pcb.hashcpu(hash) !== this.index) {
      this.stats.wrongcpu++;
      return;
    }
    this.stats.segsIn++;
    host.traceFn?.(this.index, seg, hash);
    const now = host.now();
    const info = host.pcb.pcbinfo[this.index];
    let inp = info.lookupPkthash(seg.src, seg.sport, seg.dst, seg.dport, true, hash);
    if (inp !== undefined && inp.flags & INP.CONNECTED) {
      const tp = inp.ppcb;
      const r = this.engine.input(tp ?? null, seg, now);
      if (r !== "reuse") return;
      // TIME_WAIT recycled (its CLOSED event released the PCB): the SYN goes to the listener.
      inp = info.lookupPkthash(seg.src, seg.sport, seg.dst, seg.dport, true, hash);
    }
    if (inp === undefined || !(inp.flags & INP.WILDCARD) || !inp.so) {
      this.engine.input(null, seg, now); // RST per RFC 9293 (counted noport)
      host.dropFn?.(this.index, "noport");
      return;
    }
    this.listenInput(inp.so, seg, hash, now);
  }

  /** LISTEN processing with the syncache (tcp_input's `TCPS_LISTEN` case, syncache_add/expand). */
  private listenInput(ls: ListenSocket<TcpCb>, seg: TcpSeg, hash: number, now: number): void {
    const f = seg.flags;
    const st = this.engine.stats;
    const sc = this.syncache;
    if (f & TcpFlags.RST) {
      st.rcvtotal++;
      sc.chkrst(seg.src, seg.sport, seg.dst, seg.dport, seg.seq);
      return;
    }
    if (f & TcpFlags.SYN) {
      if (f & (TcpFlags.ACK | TcpFlags.FIN)) {
        // SYN|ACK at a listener: RST (tcp_input dropwithreset); SYN|FIN: dropped and counted.
        this.engine.input(null, seg, now);
        return;
      }
      st.rcvtotal++;
      const rec = this.host.listenerOf(ls);
      const ro = this.host.routeOpts?.(seg.src);
      const o = this.engine.synEntry(seg, now, ro || rec ? tcpConnOptionsMerge(ro, rec ? this.host.connOptions(rec.spec) : undefined) : undefined);
      const { entry } = sc.add(
        { faddr: seg.src, fport: seg.sport, laddr: seg.dst, lport: seg.dport, hash, listener: ls, iss: o.iss, irs: o.irs, wnd: this.synWnd, opts: o },
        now,
      );
      this.engine.sendSynAck(entry.opts, now);
      return;
    }
    if (!(f & TcpFlags.ACK)) {
      st.rcvtotal++;
      st.listendrop++;
      return;
    }
    // One engine call around the expansion and the accept: what the program does in its
    // handlers (the request may ride on this ACK: a response and its close) leaves as one output.
    this.engine.enter(now);
    try {
      this.expand(seg, now);
    } finally {
      this.engine.leave();
    }
  }

  /** The handshake's last ACK: the syncache entry becomes a connection on the listener's queue. */
  private expand(seg: TcpSeg, now: number): void {
    const st = this.engine.stats;
    const r = this.syncache.expand(seg.src, seg.sport, seg.dst, seg.dport, seg.ack, (e, cinp) => {
      const so = new So(this.index, cinp);
      const rec = e.listener ? this.host.listenerOf(e.listener) : undefined;
      const opts = tcpConnOptionsMerge(this.host.routeOpts?.(seg.src), rec ? this.host.connOptions(rec.spec) : undefined, so);
      const tp = this.engine.syncacheSocket(e.opts, seg, now, opts);
      so.tp = tp;
      return tp;
    });
    if (r.reset) {
      st.rcvtotal++;
      this.engine.respondReset(seg, now);
      return;
    }
    if (r.kind === SyncacheExpandKind.COMPLETED) {
      this.stats.completed++;
      this.host.acceptable(r.listener, this.index);
    } else {
      st.rcvtotal++;
      if (r.kind === SyncacheExpandKind.OVERFLOW) this.host.dropFn?.(this.index, "listendrop");
    }
  }

  /** Timers due by `now`: the engine's (retransmit, delayed ACK, 2MSL, …) and the syncache's. */
  tick(now: number): void {
    this.engine.advance(now);
    if (this.syncache.count === 0) return;
    const t = this.syncache.timer(now);
    for (const e of t.retransmit) this.engine.sendSynAck(e.opts, now);
  }

}

/** Frame length of a segment as `writeTcpFrame` lays it out. */
export const tcpFrameLength = coreTcpFrameLength;

/** Writes `seg` as an IPv4 frame (DF set, TTL 64, both checksums) at `buf[at…]`; returns its length. */
export function writeTcpFrame(buf: Uint8Array, at: number, seg: TcpSeg, ipId: number): number {
  return tcpFrameWrite(buf, at, seg, ipId & 0xffff);
}

let listenerSeq = 0;

export class TcpHost {
  readonly pcb: InpcbHost<TcpCb>;
  readonly ncpus: number;
  readonly cpus: (TcpCpu | undefined)[];
  /** One per CPU (the non-local ones stay empty); `tcpListenClose` walks them all. */
  readonly syncaches: TcpSyncache<TcpSynEntry, TcpCb>[];
  readonly local: readonly number[];
  private readonly clock: () => number;
  /** The time of the batch being processed (`inputBatch`), -1 outside one. */
  private batchNow = -1;
  readonly somaxconn: number;
  policy: ListenerPolicy;
  readonly out: TcpOutputFn;
  readonly traceFn: ((cpu: number, seg: TcpSeg, hash: number) => void) | undefined;
  readonly dropFn: ((cpu: number, reason: string) => void) | undefined;
  readonly routeOpts: ((faddr: number) => TcpConnOptions | undefined) | undefined;
  /** Listener owners in this thread, by owner name. */
  readonly owners = new Map<string, ListenOwner>();
  private readonly remoteOwner: ((owner: string) => ListenOwner | undefined) | undefined;
  private readonly listeners = new Map<string, ListenerRec>();
  private readonly byLs = new Map<number, ListenerRec>();
  /** Sockets given a remote id, by id. */
  private readonly ids = new Map<number, So>();
  private nextId = 1;
  /** Received segments are decoded into these (no object per segment). */
  private readonly rxSegs = new TcpRxSegPool();

  constructor(o: TcpHostOptions) {
    this.ncpus = o.ncpus;
    this.pcb = new InpcbHost<TcpCb>({
      ncpus: o.ncpus,
      ...(o.portFirst !== undefined ? { portFirst: o.portFirst } : {}),
      ...(o.portLast !== undefined ? { portLast: o.portLast } : {}),
      ...(o.random ? { random: o.random } : {}),
      ...(o.hashcpu ? { hashcpu: o.hashcpu } : {}),
    });
    this.clock = o.now ?? (() => performance.now());
    this.somaxconn = o.somaxconn ?? SOMAXCONN;
    this.policy = o.policy ?? ListenerPolicy.DRAGONFLY;
    this.out = o.output;
    this.traceFn = o.trace;
    this.dropFn = o.drop;
    this.routeOpts = o.routeOpts;
    this.remoteOwner = o.remoteOwner;
    // `local: []`: a program's view with no CPU of its own (every socket call goes to a port).
    const local = o.local ?? Array.from({ length: o.ncpus }, (_, i) => i);
    for (const c of local) if (!Number.isInteger(c) || c < 0 || c >= o.ncpus) throw new TcpHostError(`local cpu ${c} is not in 0..${o.ncpus - 1}`);
    this.local = [...local];
    // Non-local CPUs' syncaches never hold an entry here (tcpListenClose only needs one per
    // CPU): one bucket each, so a replica sized for 128 CPUs stays small.
    this.syncaches = Array.from({ length: o.ncpus }, (_, c) =>
      local.includes(c)
        ? new TcpSyncache<TcpSynEntry, TcpCb>(this.pcb, c, o.syncache)
        : new TcpSyncache<TcpSynEntry, TcpCb>(this.pcb, c, { hashSize: 1, bucketLimit: 1 }),
    );
    const t0 = this.now();
    this.cpus = Array.from({ length: o.ncpus }, (_, c) => (this.local.includes(c) ? new TcpCpu(this, c, o.config, t0, o.lendSegs === true) : undefined));
  }

  /** The CPU index `i` when this thread runs it. */
  cpu(i: number): TcpCpu {
    const c = this.cpus[i];
    if (!c) throw new TcpNotLocalError(i);
    return c;
  }

  /** The 16-bit hash and owner CPU index of a 4-tuple (as the NIC and connect() compute them). */
  hashOf(faddr: number, fport: number, laddr: number, lport: number): number {
    return this.pcb.hashOf(faddr, fport, laddr, lport);
  }

  /**
   * A received IPv4 frame for this host. Decodes it (checksums verified; drops counted by the
   * engine as tcpstat reasons) and runs it on the CPU its hash names, which must be local.
   * Returns false when the frame was not TCP or failed to decode.
   */
  inputFrame(frame: Uint8Array): boolean {
    return this.inputFrameAt(frame, 0, frame.length);
  }

  /**
   * `inputFrame` of the frame `b[at, at+len)` (a frame batch's buffer, decoded in place).
   * `rawHash` ≥ 0: the NIC's RSS hash of the frame, given by ip_input after it verified the IP
   * header — the common frame is then neither re-checksummed at the IP layer nor re-hashed.
   */
  inputFrameAt(b: Uint8Array, at: number, len: number, rawHash = -1): boolean {
    const first = this.cpus[this.local[0]];
    if (!first) return false;
    const rx = this.rxSegs.get();
    try {
      let seg: TcpSeg | null = tcpSegDecode(b, at, len, rx, rawHash >= 0);
      let hash: number;
      if (seg !== null && rawHash >= 0) {
        hash = toeplitzHash(rawHash);
      } else {
        if (seg === null) {
          const d = tcpSegFromFrame(b.subarray(at, at + len), first.engine.stats);
          if (!d.ok) {
            first.stats.badframes++;
            if (d.layer === "tcp") this.dropFn?.(first.index, d.reason);
            return false;
          }
          seg = d.seg;
        }
        hash = this.pcb.hashOf(seg.src, seg.sport, seg.dst, seg.dport);
      }
      const c = this.cpus[this.pcb.hashcpu(hash)];
      if (!c) {
        first.stats.wrongcpu++;
        return true;
      }
      c.input(seg, hash);
      return true;
    } finally {
      this.rxSegs.put(rx);
    }
  }

  /**
   * Every frame of a frame batch (malformed batches are ignored: the wire's sender is ours).
   * The batch is processed at one time, read once (as a netisr batch is: DragonFly reads
   * `ticks` per message, and a batch takes microseconds): socket calls made inside see it too.
   */
  inputBatch(batch: Uint8Array, cursor: FrameBatchCursor): void {
    if (cursor.reset(batch) !== null) return;
    const outer = this.batchNow < 0;
    if (outer) this.batchNow = this.clock();
    try {
      while (cursor.next()) this.inputFrameAt(cursor.buf, cursor.offset, cursor.length);
    } finally {
      if (outer) this.batchNow = -1;
    }
  }

  /** The host's clock (ms): the batch's time inside `inputBatch`. */
  now(): number {
    return this.batchNow >= 0 ? this.batchNow : this.clock();
  }

  /** Runs every local CPU's timers due by `now`. */
  tick(now = this.now()): void {
    for (const i of this.local) this.cpus[i]!.tick(now);
  }

  // ---- listeners ----

  /**
   * Installs a listener (bind + listen on CPU 0's list, referenced from every CPU's wildcard
   * hash and SO_REUSEPORT group). Idempotent per id. Without `spec.index` the slot is the
   * group's first gap. Throws InpcbAddrInUseError when the address is taken.
   */
  listenInstall(spec: ListenerSpec): ListenerRec {
    const have = this.listeners.get(spec.id);
    if (have) return have;
    const qlimit = soBacklog(spec.backlog, this.somaxconn);
    const pcb = this.pcb;
    const inp = pcb.alloc(0);
    try {
      pcb.bind(inp, spec.laddr, spec.lport, { reuseport: spec.reuseport });
    } catch (err) {
      pcb.detach(inp);
      throw err;
    }
    if (spec.index !== undefined && spec.reuseport) inp.lgrpindex = spec.index;
    pcb.listen(inp);
    const rec = new ListenerRec(spec, new ListenSocket<TcpCb>(inp, qlimit));
    this.listeners.set(spec.id, rec);
    this.byLs.set(rec.ls.id, rec);
    return rec;
  }

  /** A fresh listener id for hosts that run without a control plane. */
  newListenerId(): string {
    return `L${++listenerSeq}`;
  }

  listener(id: string): ListenerRec | undefined {
    return this.listeners.get(id);
  }

  listenerOf(ls: ListenSocket<TcpCb>): ListenerRec | undefined {
    return this.byLs.get(ls.id);
  }

  listenerList(): ListenerRec[] {
    return [...this.listeners.values()];
  }

  /** Options accepted sockets inherit from their listener. */
  connOptions(spec: ListenerSpec): TcpConnOptions {
    // One shape for every listener (read on every passive open).
    return { nodelay: spec.nodelay ? true : undefined, sndbuf: spec.sndbuf || undefined, rcvbuf: spec.rcvbuf || undefined };
  }

  /**
   * close(2) of a listener under `policy` on this host's CPUs (the control fans this out
   * to every CPU): syncache entries and not-yet-accepted connections go to the heir
   * (DragonFly), are reset (Linux), or migrate by hash (tcp_migrate_req). Resets are
   * sent by the owning CPUs' engines; the heir's owner hears ACCEPT.
   */
  listenClose(id: string, policy: ListenerPolicy = this.policy): ListenCloseResult {
    const rec = this.listeners.get(id);
    if (!rec) throw new InpcbStateError(`no listener ${id} on this host`);
    const report: ListenerCloseReport<TcpCb> = tcpListenClose(this.pcb, this.syncaches, rec.ls, policy);
    this.listeners.delete(id);
    this.byLs.delete(rec.ls.id);
    const now = this.now();
    for (const c of report.reset) {
      const tp = c.ppcb;
      const cpu = this.cpus[c.cpu];
      if (tp && cpu) cpu.engine.abort(tp, now);
      else if (!tp) this.pcb.detach(c);
    }
    const notified = new Set<string>();
    for (const c of report.moved) {
      const heir = c.head ? this.byLs.get(c.head.id) : undefined;
      if (!heir) continue;
      const k = `${heir.id}/${c.cpu}`;
      if (notified.has(k)) continue;
      notified.add(k);
      this.acceptable(heir.ls, c.cpu);
    }
    return {
      policy,
      heir: report.heir ? (this.byLs.get(report.heir.id)?.id ?? null) : null,
      moved: report.moved.length,
      reset: report.reset.length,
      syncacheMoved: report.syncacheMoved,
      syncacheDropped: report.syncacheDropped,
      syncachePending: report.syncachePending,
    };
  }

  /** Tells `ls`'s owner that CPU `cpu` has connections for it. */
  acceptable(ls: ListenSocket<TcpCb>, cpu: number): void {
    const rec = this.byLs.get(ls.id);
    if (!rec) return;
    const o = this.owners.get(rec.spec.owner) ?? this.remoteOwner?.(rec.spec.owner);
    o?.acceptable(rec, cpu);
  }

  /**
   * accept(2) on this host's share of `rec`'s queue (the connections completed on the local
   * CPUs): the oldest one, now held by `owner`; undefined when the queue is empty.
   */
  accept(rec: ListenerRec, owner: SoOwner): So | undefined {
    for (;;) {
      const inp = soaccept(rec.ls);
      if (!inp) return undefined;
      const tp = inp.ppcb;
      const so = tp ? (tp.so as So | null) : null;
      if (!so || !tp || tp.t_state === TcpState.CLOSED) continue;
      so.owner = owner;
      const c = this.cpus[so.cpu];
      if (c) c.stats.accepted++;
      return so;
    }
  }

  // ---- connections ----

  /**
   * connect(2) from CPU `from` (`tcp_connect`): the port search prefers a local port whose
   * hash lands on `from`; otherwise the connection moves to its owner CPU (counted in
   * `pcb.stats[from].connectMigrations`), which must be run by this thread. The SYN leaves
   * from the owner CPU. Throws InpcbAddrNotAvailError / InpcbAddrInUseError.
   */
  connect(
    from: number, so: So | null, laddr: number, faddr: number, fport: number, owner: SoOwner, opts: TcpConnOptions = {}, lport = 0,
    /** `lport` was picked by another CPU's port search (a migrated connect): held for this destination only. */
    searched = false,
  ): So {
    const src = this.cpu(from);
    const pcb = this.pcb;
    const inp = pcb.alloc(from);
    let cpu: number;
    try {
      if (lport !== 0 && searched) {
        inp.laddr = laddr;
        inp.lport = lport;
        inp.faddr = faddr;
        inp.fport = fport;
        inp.flags |= INP.ANONPORT;
        if (pcb.lookupLocalRemote(laddr, lport, faddr, fport)) throw new InpcbAddrInUseError(laddr, lport, faddr, fport);
        pcb.insPortHash(inp);
      } else if (lport !== 0) pcb.bind(inp, laddr, lport, {});
      else inp.laddr = laddr;
      const place = tcpConnectPlace(pcb, inp, faddr, fport, from);
      cpu = place.cpu;
      if (!this.cpus[cpu]) throw new TcpNotLocalError(cpu, place.lport);
      pcb.connect(inp, faddr, fport, cpu);
    } catch (err) {
      pcb.detach(inp);
      throw err;
    }
    src.stats.connects++;
    const s = so ?? new So(cpu, inp);
    s.cpu = cpu;
    s.inp = inp;
    s.owner = owner;
    const tp = this.cpus[cpu]!.engine.connect(laddr, inp.lport, faddr, fport, this.now(), tcpConnOptionsMerge(this.routeOpts?.(faddr), opts, s));
    inp.ppcb = tp;
    s.tp = tp;
    return s;
  }

  /** An id for remote access to `so` (kept until the socket is released). */
  idOf(so: So): number {
    if (so.id === 0) {
      so.id = this.nextId++;
      this.ids.set(so.id, so);
    }
    return so.id;
  }

  byId(id: number): So | undefined {
    return this.ids.get(id);
  }

  /** @internal the socket's TCB is gone. */
  forget(so: So): void {
    if (so.id !== 0) this.ids.delete(so.id);
  }

  // ---- counters ----

  /** Established-or-later TCBs by state name on the local CPUs. */
  connectionStates(cpu: number): Record<string, number> {
    const out: Record<string, number> = {};
    const info = this.pcb.pcbinfo[cpu];
    for (let inp = info.first(); inp; inp = inp.listNext) {
      if (inp.flags & INP.PLACEMARKER) continue;
      const tp = inp.ppcb;
      const name = inp.flags & INP.WILDCARD ? "LISTEN" : tp ? TCP_STATE_NAMES[tp.t_state] : "CLOSED";
      out[name] = (out[name] ?? 0) + 1;
    }
    return out;
  }
}

export { INADDR_ANY, TcpErrno };
