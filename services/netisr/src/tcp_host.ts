/** The TCP layer of one host (per-CPU TCP over core's `InpcbHost`): segments run on the CPU their hash names; elsewhere they count `wrongcpu`. */
import {
  INADDR_ANY,
  INP,
  InpcbHost,
  ListenerPolicy,
  SOMAXCONN,
  TCP_STATE_NAMES,
  TcpErrno,
  TcpSyncache,
  tcpSegFromFrame,
  tcpSegDecode,
  TcpRxSegPool,
  tcpFrameWrite,
  toeplitzHash,
  tcpFrameLength as coreTcpFrameLength,
  type ListenSocket,
  type SyncacheOptions,
  type TcpCb,
  type TcpConfig,
  type TcpConnOptions,
  type TcpSeg,
  type TcpSynEntry,
} from "@dfly/core";
import type { FrameBatchCursor } from "@dfly/transport";
import type { ListenOwner, So, SoOwner } from "./so.js";
import { TcpCpu } from "./tcp_dispatch.js";
import { ConnectPort, TcpNotLocalError, tcpHostConnect } from "./tcp_connect.js";
import { HostListeners, listenerConnOptions, type ListenCloseResult, type ListenerRec } from "./tcp_listen.js";
import type { ListenerSpec } from "@dfly/wire";

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
  /** Hash → owner CPU index (default `(h & 127) % ncpus`); a netisr CPU passes its topology's table. */
  hashcpu?: (hash: number) => number;
  /** A segment dropped for a tcpstat reason (`rcvbadsum`, `rcvshort`, `rcvbadoff`, `badoptions`, `noport`, `listendrop`). */
  drop?: (cpu: number, reason: string) => void;
  /** Per-route connection options for a peer (initial window, MSS from the route MTU). */
  routeOpts?: (faddr: number) => TcpConnOptions | undefined;
}

export class TcpHostError extends Error {
  override readonly name = "TcpHostError";
}

/** Frame length of a segment as `writeTcpFrame` lays it out. */
export const tcpFrameLength = coreTcpFrameLength;

/** Writes `seg` as an IPv4 frame (DF set, TTL 64, both checksums) at `buf[at…]`; returns its length. */
export function writeTcpFrame(buf: Uint8Array, at: number, seg: TcpSeg, ipId: number): number {
  return tcpFrameWrite(buf, at, seg, ipId & 0xffff);
}

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
  readonly listeners: HostListeners;
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
    this.listeners = new HostListeners(this, o.remoteOwner);
    // `local: []`: a program's view with no CPU of its own (every socket call goes to a port).
    const local = o.local ?? Array.from({ length: o.ncpus }, (_, i) => i);
    for (const c of local) if (!Number.isInteger(c) || c < 0 || c >= o.ncpus) throw new TcpHostError(`local cpu ${c} is not in 0..${o.ncpus - 1}`);
    this.local = [...local];
    // Non-local CPUs' syncaches stay empty here: one bucket each keeps a 128-CPU replica small.
    this.syncaches = Array.from({ length: o.ncpus }, (_, c) =>
      local.includes(c)
        ? new TcpSyncache<TcpSynEntry, TcpCb>(this.pcb, c, o.syncache)
        : new TcpSyncache<TcpSynEntry, TcpCb>(this.pcb, c, { hashSize: 1, bucketLimit: 1 }),
    );
    const t0 = this.now();
    this.cpus = Array.from({ length: o.ncpus }, (_, c) => (this.local.includes(c) ? new TcpCpu(this, c, o.config, t0, o.lendSegs === true) : undefined));
  }

  cpu(i: number): TcpCpu {
    const c = this.cpus[i];
    if (!c) throw new TcpNotLocalError(i);
    return c;
  }

  /** The 16-bit hash and owner CPU index of a 4-tuple (as the NIC and connect() compute them). */
  hashOf(faddr: number, fport: number, laddr: number, lport: number): number {
    return this.pcb.hashOf(faddr, fport, laddr, lport);
  }

  /** A received IPv4 frame: decoded and run on the CPU its hash names; false when not TCP or malformed. */
  inputFrame(frame: Uint8Array): boolean {
    return this.inputFrameAt(frame, 0, frame.length);
  }

  /** `inputFrame` of `b[at, at+len)`; `rawHash` ≥ 0: ip_input already verified the IP header and hashed, so neither is redone. */
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
        // Addresses as int32: a uint32 above 2^31 passed to a call is a heap number per frame.
        hash = this.pcb.hashOf(seg.src | 0, seg.sport, seg.dst | 0, seg.dport);
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

  /** Every frame of a frame batch, at one time read once (as DragonFly reads `ticks` per message). */
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

  tick(now = this.now()): void {
    for (const i of this.local) this.cpus[i]!.tick(now);
  }

  listenInstall(spec: ListenerSpec): ListenerRec {
    return this.listeners.install(spec);
  }

  newListenerId(): string {
    return this.listeners.newId();
  }

  listener(id: string): ListenerRec | undefined {
    return this.listeners.get(id);
  }

  listenerOf(ls: ListenSocket<TcpCb>): ListenerRec | undefined {
    return this.listeners.of(ls);
  }

  listenerList(): ListenerRec[] {
    return this.listeners.list();
  }

  connOptions(spec: ListenerSpec): TcpConnOptions {
    return listenerConnOptions(spec);
  }

  listenClose(id: string, policy: ListenerPolicy = this.policy): ListenCloseResult {
    return this.listeners.close(id, policy);
  }

  acceptable(ls: ListenSocket<TcpCb>, cpu: number): void {
    this.listeners.acceptable(ls, cpu);
  }

  accept(rec: ListenerRec, owner: SoOwner): So | undefined {
    return this.listeners.accept(rec, owner);
  }

  /** connect(2) from CPU `from` (tcp_connect.ts; `mode`: how the local port is chosen). */
  connect(from: number, so: So | null, laddr: number, faddr: number, fport: number, owner: SoOwner, opts: TcpConnOptions = {}, lport = 0, mode: ConnectPort = ConnectPort.SEARCH): So {
    return tcpHostConnect(this, from, so, laddr, faddr, fport, owner, opts, lport, mode);
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
