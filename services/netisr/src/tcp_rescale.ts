/**
 * Live rescale of TCP: no established connection is reset when CPUs join or leave.
 *
 * DragonFly fixes its CPU count at boot: a connection's owner is `netisr_hashcpu(h) =
 * (h & 127) % ncpus` for the life of the system. Here CPUs are pods, and a new topology
 * epoch changes the owner of most buckets. Two mechanisms keep every connection alive:
 *
 * 1. **Keep serving it where it lives** (any epoch change in which its CPU stays). The CPU
 *    that holds a connection's PCB is its *home*; when the bucket's *owner* (where the NIC,
 *    the netisr redispatch and SYN steering send its segments) is another CPU, the home
 *    tells the owner once per epoch — a "home" entry 4-tuple → home CPU (`home` netmsg) —
 *    and the owner redispatches every segment of that connection to the home
 *    (`segments` netmsg, counted `redispatched`), without processing it. Entries are
 *    withdrawn when the connection's PCB goes away (a sweep on the home) or it moves.
 *    The race — a segment at the new owner before the home's entry — is covered by a
 *    grace period after each epoch change: a non-SYN segment with no PCB, no entry and no
 *    syncache entry is *held* (bounded) instead of answered with a RST, and released when
 *    the entry (or the PCB itself) arrives; only when the grace period ends without either
 *    is it processed as usual. A segment that reached a CPU by redispatch and finds no PCB
 *    there is dropped (counted `nopcb`), never reset: that only happens to a connection
 *    that just closed or moved, and its peer retransmits.
 *
 * 2. **Hand it over** (the CPU leaves: SIGTERM drain, a StatefulSet pod deleted). The
 *    leaving CPU announces itself (`leaving`), then for every connection: flushes its
 *    socket events, freezes the TCB (core's `tcpHandoverExport` + `tcpHandoverRelease`:
 *    sequence space, windows, RTT estimator, timers rebased, timestamps continued, send and
 *    receive buffers, reassembly queue, SACK scoreboard, bytes a remote program sent that
 *    did not fit yet), unlinks the PCB and sends the states in batches to the CPU that will
 *    own each bucket once it is gone (`handover` request; the reply names the new socket
 *    ids). Segments that still reach it are forwarded to the new home; socket calls for a
 *    moved socket are *chased* there (DragonFly's netmsg_service_loop forwarding a message
 *    whose `so_port` moved), held until the hand-over is acknowledged so nothing a
 *    program sent is lost. After the ack the socket's owner gets a MOVED event (the socket
 *    id and CPU change, like DragonFly's `tcp_sosetport`), and answers with a `fence`
 *    through the old CPU: the new home holds the program's direct calls for that socket
 *    until the fence arrives behind every chased call, so the byte stream keeps its order.
 *    A socket handed on again before its fence arrived (two CPUs draining at once) keeps
 *    holding them — and the program's fence of the second move — until that fence, then
 *    chases them on in order.
 *    Half-open handshakes (syncache entries) go the same way, in their own batches: the
 *    entry (ISS, IRS, negotiated options, listener id, SYN|ACK time spent) is installed in
 *    the future owner's syncache, where the final ACK — forwarded by this CPU while it
 *    lingers, or steered there once it is gone — completes it onto the same listener.
 *    Repeated rounds pick up connections completed during the drain; new SYNs are sent on
 *    to their future owner. The caller then deregisters (a new epoch without this CPU) and
 *    lingers a moment to forward what still arrives.
 *
 * Connect placement, SYN steering and the NIC all use the netisr's current topology (the
 * host's `hashcpu` is `Netisr.ownerOf`); the TCP layer processes a segment outside its
 * bucket only inside `claim(hash)` — a connection that is home here by hand-over or by a
 * handshake that completed across an epoch change.
 *
 * Netmsgs on `<c>.netisr.<cpu>` (type byte; `json` = the socket netmsg framing):
 *   0x30 segments  [0x30 0 0 0][u32 from][frame batch: tag = hop count]
 *   0x31 home      json {from, add: [laddr,lport,faddr,fport][], forget: [...]}
 *   0x32 handover  json request {from, conns: HandoverConnWire[], syn?: HandoverSynWire[]}
 *                  → reply {ids: (number|string)[], syn?: (true|string)[]}
 *   0x33 leaving   json {cpu}
 *   0x34 chase     [0x34 0 0 0][u32 from][u32 old socket id][the program's socket netmsg]
 *   0x35 fence     json {id} (program → old CPU, chased to the new home)
 *
 * Limits: a handed-over syncache entry restarts its SYN|ACK retransmit schedule on the new
 * CPU (its time spent so far is kept for the RTO); its final ACK, forwarded after the
 * hand-over request on the same subject, reaches the new CPU after the entry (NATS keeps one
 * publisher's order), one that gets there first by another path waits in the grace period
 * like any unknown segment and is released when the entry is installed; connections owned by a
 * program running in the leaving CPU's thread leave with it (handed over and closed with
 * a FIN); a hand-over that fails three times, or finds no CPU left, loses the connection
 * (counted `handoverOutFailed`; a syncache entry: `synOutFailed`, its final ACK meets a RST); CPU ids must be < 128 (NETISR_CPUMAX) for TCP.
 */
import {
  INP,
  InpcbAddrInUseError,
  NETISR_CPUMAX,
  soqinsque,
  soqremque,
  tcpHandoverExport,
  tcpHandoverImport,
  tcpHandoverRelease,
  tcpHandoverResume,
  TcpFlags,
  TcpState,
  type Inpcb,
  type SyncacheEntry,
  type TcpCb,
  type TcpHandoverState,
  type TcpSynEntry,
} from "@dfly/core";
import { decodeNetmsg, encodeNetmsg, FrameBatchCursor, FrameBatchWriter, subjects, type Msg, type Transport } from "@dfly/transport";
import type { Netisr } from "./netisr.js";
import { So, SoEvent, type TcpHost } from "./tcp_host.js";
import { b64, unb64 } from "./so_port.js";

export const RescaleNetmsg = {
  segments: 0x30,
  home: 0x31,
  handover: 0x32,
  leaving: 0x33,
  chase: 0x34,
  fence: 0x35,
} as const;
export type RescaleNetmsg = (typeof RescaleNetmsg)[keyof typeof RescaleNetmsg];

/** Socket calls that name one socket by `id` (chased / fenced); 0x23 send … 0x26 setopt. */
const PER_SOCKET_CALLS = new Set([0x23, 0x24, 0x25, 0x26, RescaleNetmsg.fence]);

/** Why the rescale layer dropped a segment or message (dfly_tcp_rescale_dropped_total{reason}). */
export const RescaleDrop = {
  /** Redispatched more than MAX_HOPS times (a loop while tables converge). */
  hops: "hops",
  /** Arrived by redispatch, no PCB here (closed or moved meanwhile): the peer retransmits. */
  nopcb: "nopcb",
  /** The hold queue of the grace period was full. */
  holdfull: "holdfull",
  /** A malformed rescale netmsg. */
  bad: "bad",
} as const;
export type RescaleDropReason = (typeof RescaleDrop)[keyof typeof RescaleDrop];

/** A segment is redispatched at most this many times. */
export const MAX_HOPS = 4;

/** Counters of one CPU (plain numbers, read by /metrics and netstat -s). */
export class TcpRescaleStats {
  /** Segments sent to the CPU where their connection lives (or will live). */
  redispatched = 0;
  redispatchReceived = 0;
  /** Segments held during a grace period, and what became of them. */
  held = 0;
  heldReleased = 0;
  heldExpired = 0;
  dropped: Record<RescaleDropReason, number> = { hops: 0, nopcb: 0, holdfull: 0, bad: 0 };
  /** Home entries sent (add / forget) and received. */
  homeAdds = 0;
  homeForgets = 0;
  homeReceived = 0;
  /** Connections handed over by this CPU / installed here. */
  handoverOut = 0;
  handoverOutFailed = 0;
  handoverIn = 0;
  handoverInFailed = 0;
  /** Half-open handshakes (syncache entries) handed over by this CPU / installed here. */
  synOut = 0;
  synOutFailed = 0;
  synIn = 0;
  synInFailed = 0;
  /** Socket calls chased to a moved socket's new CPU; direct calls held until the fence. */
  chased = 0;
  fenced = 0;
  /** Last drain: duration and connections handed over. */
  lastDrainMs = 0;
  lastDrainConns = 0;
}

/** What a drain did. */
export interface DrainReport {
  handedOver: number;
  failed: number;
  /** Half-open handshakes (syncache entries) handed over / lost. */
  synHandedOver: number;
  synFailed: number;
  /** Rounds (each picks up connections completed during the previous one). */
  rounds: number;
  /** Hand-over batches sent and the slowest round trip of one (ms). */
  batches: number;
  maxBatchMs: number;
  /** From the start of the drain to the last acknowledgement. */
  ms: number;
  /** By target CPU. */
  byCpu: Record<string, number>;
}

/** Bytes a remote program sent that were not in the send buffer yet (tcp_netisr's pending send). */
export interface PendingSendState {
  chunks: Uint8Array[];
  shutdown: boolean;
  close: boolean;
}

/** What the rescale layer needs from the CPU's TCP glue (TcpNetisr). */
export interface RescaleTcp {
  readonly cpu: number;
  readonly transport: Transport;
  readonly cluster: string;
  readonly host: TcpHost | undefined;
  ensureHost(): TcpHost;
  /** The socket's remote owner name; null: nobody holds it; undefined: a program in this thread. */
  ownerNameOf(so: So): string | null | undefined;
  /** Publishes the queued events of a remote owner now. */
  flushOwner(name: string): void;
  /** Tells a remote owner that its socket `oldId` here is now `newId` on `cpu`. */
  ownerMoved(name: string, oldId: number, cpu: number, newId: number): void;
  /** The remote owner object for a name (socket events are published for it). */
  remoteOwnerOf(name: string): So["owner"];
  takePending(so: So): PendingSendState | undefined;
  putPending(so: So, p: PendingSendState): void;
  flushPendingSend(so: So): void;
  /** The socket netmsg handling of the port (what a chased or released call goes through). */
  socketPort(m: Msg): boolean;
}

export interface TcpRescaleOptions {
  /** After an epoch change, unknown non-SYN segments are held this long (default 2000 ms). */
  graceMs?: number;
  /** Segments held at most (default 8192; more are dropped, the peers retransmit). */
  holdMax?: number;
  /** Bound on a drain (default 6000 ms). */
  drainMs?: number;
  /** A moved socket's direct calls wait at most this long for the fence (default 3000 ms). */
  fenceMs?: number;
  /** Hand-over request timeout (default 5000 ms). */
  requestMs?: number;
  /** A drain waits this long after announcing itself before it picks targets (default 50 ms). */
  announceMs?: number;
  now?: () => number;
}

const tupleKey = (laddr: number, lport: number, faddr: number, fport: number): string => `${laddr >>> 0}:${lport}:${faddr >>> 0}:${fport}`;

function rd32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}
function rdLe32(b: Uint8Array, o: number): number {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}
function wrLe32(b: Uint8Array, o: number, v: number): void {
  b[o] = v;
  b[o + 1] = v >>> 8;
  b[o + 2] = v >>> 16;
  b[o + 3] = v >>> 24;
}

/** The 4-tuple and flags of an IPv4/TCP frame, or false when it is not one (the decode step counts it). */
class TupleOf {
  src = 0;
  dst = 0;
  sport = 0;
  dport = 0;
  flags = 0;
  read(f: Uint8Array): boolean {
    if (f.length < 20 || f[0] >> 4 !== 4 || f[9] !== 6) return false;
    const hl = (f[0] & 15) << 2;
    if (hl < 20 || f.length < hl + 20) return false;
    this.src = rd32(f, 12);
    this.dst = rd32(f, 16);
    this.sport = (f[hl] << 8) | f[hl + 1];
    this.dport = (f[hl + 2] << 8) | f[hl + 3];
    this.flags = f[hl + 13];
    return true;
  }
}

/** A connection on its way to another CPU (drain), or gone there. */
interface Moved {
  cpu: number;
  oldId: number;
  newId: number;
  acked: boolean;
  /** Socket calls that arrived before the acknowledgement (chased after it, in order). */
  calls: Msg[];
}

interface Frozen {
  key: string;
  hash: number;
  state: TcpHandoverState;
  owner: string | null;
  /** Held by a program in this thread (it leaves with the CPU): closed on arrival. */
  orphan: boolean;
  listener: string | null;
  oldId: number;
  pend: PendingSendState | undefined;
  mv: Moved;
  attempts: number;
}

/** A half-open handshake taken out of this CPU's syncache (drain). */
interface FrozenSyn {
  hash: number;
  wire: HandoverSynWire;
  attempts: number;
}

/** One half-open handshake (syncache entry) on the wire of a hand-over request. */
export interface HandoverSynWire {
  /** The negotiated parameters (TcpSynEntry; `rxtUsed` = the SYN|ACK time spent so far). */
  e: TcpSynEntry;
  /** Receive window offered in the SYN|ACK. */
  wnd: number;
  /** The listener the completed connection is queued on (its id, the same on every CPU). */
  listener: string;
}

const SYN_ENTRY_NUMBERS = ["laddr", "lport", "faddr", "fport", "irs", "iss", "peerMss", "mss", "peerWscale", "rcvWscale", "tsRecent", "peerWindow", "rxtUsed"] as const;

/** A syncache entry from the wire, or why it is not one. */
function synEntryFromWire(w: unknown): { e: TcpSynEntry; wnd: number; listener: string } | string {
  if (typeof w !== "object" || w === null) return "not an object";
  const { e, wnd, listener } = w as Record<string, unknown>;
  if (typeof listener !== "string" || typeof wnd !== "number" || typeof e !== "object" || e === null) return "bad syn entry";
  const o = e as Record<string, unknown>;
  for (const k of SYN_ENTRY_NUMBERS) if (typeof o[k] !== "number" || !Number.isFinite(o[k])) return `bad syn entry field ${k}`;
  if (typeof o.sackOk !== "boolean" || typeof o.tsOk !== "boolean") return "bad syn entry flags";
  return { e: e as TcpSynEntry, wnd, listener };
}

/** One connection on the wire of a hand-over request. */
export interface HandoverConnWire {
  s: Omit<TcpHandoverState, "snd" | "rcv" | "reass"> & { snd: string | null; rcv: string | null; reass: { seq: number; data: string; fin: boolean }[] | null };
  owner: string | null;
  orphan?: boolean;
  listener: string | null;
  oldId: number;
  pend?: { c: string[]; sh: boolean; cl: boolean };
}

export function handoverStateToWire(s: TcpHandoverState): HandoverConnWire["s"] {
  return { ...s, snd: s.snd ? b64(s.snd) : null, rcv: s.rcv ? b64(s.rcv) : null, reass: s.reass ? s.reass.map((g) => ({ seq: g.seq, data: b64(g.data), fin: g.fin })) : null };
}

export function handoverStateFromWire(w: HandoverConnWire["s"]): TcpHandoverState {
  const str = (v: unknown) => (typeof v === "string" ? unb64(v) : null);
  return {
    ...w,
    snd: str(w.snd),
    rcv: str(w.rcv),
    reass: Array.isArray(w.reass) ? w.reass.map((g) => ({ seq: g.seq, data: unb64(String(g.data)), fin: g.fin === true })) : null,
  };
}

/** A hand-over request body larger than this is split (NATS' default max_payload is 1 MiB). */
const BATCH_BYTES = 384 * 1024;
const BATCH_CONNS = 512;
/** Syncache entries per hand-over request (about 400 bytes each on the wire). */
const BATCH_SYN = 1024;
const ADOPTED_KEEP_MS = 15_000;

export class TcpRescale {
  readonly stats = new TcpRescaleStats();
  private readonly me: number;
  private readonly graceMs: number;
  private readonly holdMax: number;
  private readonly drainMs: number;
  private readonly fenceMs: number;
  private readonly requestMs: number;
  private readonly announceMs: number;
  private readonly now: () => number;
  /** The hash whose segment is being processed here outside its bucket (see claim). */
  private claimHash = -1;
  private epoch = -1;
  private cpus: number[] = [];
  private graceUntil = 0;
  /** Connections living on another CPU whose bucket this CPU owns (or owned): key → home. */
  readonly foreign = new Map<string, number>();
  /** This CPU's connections whose bucket another CPU owns: where they are registered. */
  private readonly registered = new Map<Inpcb<TcpCb>, number>();
  /** Segments held during the grace period, by connection key. */
  private readonly held = new Map<string, { frames: Uint8Array[]; hash: number }>();
  private heldCount = 0;
  /** CPUs known to be leaving (their drain announced). */
  readonly leaving = new Set<number>();
  /** Drain: connections handed over (or on their way), by key and by old socket id. */
  private readonly moved = new Map<string, Moved>();
  private readonly movedById = new Map<number, Moved>();
  /** Hand-overs installed here: `${from}/${oldId}` → the socket (for chased calls). */
  private readonly adopted = new Map<string, { so: So; until: number }>();
  /** Moved sockets whose direct calls wait for the fence: new id → held calls (with their bodies). */
  private readonly fenced = new Map<number, { held: { m: Msg; b: Record<string, unknown> }[]; until: number }>();
  private draining: Promise<DrainReport> | undefined;
  private isDraining = false;
  /** The drain finished: hand-overs to this CPU are refused. */
  private drained = false;
  private readonly fwd = new Map<number, FrameBatchWriter>();
  private fwdQueued = false;
  private readonly t = new TupleOf();
  private readonly cursor = new FrameBatchCursor();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly tcp: RescaleTcp,
    private readonly netisr: Netisr,
    o: TcpRescaleOptions = {},
  ) {
    this.me = tcp.cpu;
    this.graceMs = o.graceMs ?? 2000;
    this.holdMax = o.holdMax ?? 8192;
    this.drainMs = o.drainMs ?? 6000;
    this.fenceMs = o.fenceMs ?? 3000;
    this.requestMs = o.requestMs ?? 5000;
    this.announceMs = o.announceMs ?? 50;
    this.now = o.now ?? (() => performance.now());
  }

  /** The TcpHost's owner function: the current topology's, or this CPU inside `claim`. */
  hashcpu(hash: number): number {
    return hash === this.claimHash ? this.me : this.netisr.ownerOf(hash);
  }

  /** Runs `f` with bucket `hash` treated as this CPU's (a connection that is home here). */
  claim<T>(hash: number, f: () => T): T {
    const was = this.claimHash;
    this.claimHash = hash;
    try {
      return f();
    } finally {
      this.claimHash = was;
    }
  }

  /** A host was built: connect()'s port-search budget follows the CPU count. */
  attach(host: TcpHost): void {
    host.pcb.porthashTrycount = 2 * Math.max(1, this.netisr.liveCpus.length);
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), 50);
    this.timer.unref?.();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.flushForward();
  }

  get inGrace(): boolean {
    // Asked for every segment: once the period is over, no clock read until the next one.
    if (this.graceUntil === 0) return false;
    if (this.now() < this.graceUntil) return true;
    this.graceUntil = 0;
    return false;
  }

  get heldNow(): number {
    return this.heldCount;
  }

  /** A drain has started on this CPU. */
  get drainingNow(): boolean {
    return this.isDraining;
  }

  /**
   * A connection placed here by another CPU's connect() (its port search ran there, under
   * that CPU's view of the topology): registered with the owner when that is not this CPU.
   */
  placed(inp: Inpcb<TcpCb>): void {
    const owner = this.netisr.ownerOf(inp.hash);
    if (owner !== this.me && !this.isDraining) this.register(inp, owner);
  }

  // ---- the topology ----

  /** The netisr adopted a topology (call after `NetisrService.setTopology`). */
  onTopology(): void {
    const n = this.netisr;
    if (n.epoch === this.epoch) return;
    this.epoch = n.epoch;
    this.cpus = [...n.liveCpus];
    this.graceUntil = this.now() + this.graceMs;
    const host = this.tcp.host;
    if (host) this.attach(host);
    for (const c of this.leaving) if (!this.cpus.includes(c)) this.leaving.delete(c);
    for (const [k, c] of this.foreign) if (!this.cpus.includes(c)) this.foreign.delete(k);
    this.reregister();
    this.retryHeld(false);
  }

  /** Tells each owner about this CPU's connections in its buckets (and withdraws stale entries). */
  private reregister(): void {
    const host = this.tcp.host;
    if (!host || this.isDraining) return;
    const add = new Map<number, number[][]>();
    const forget = new Map<number, number[][]>();
    const push = (m: Map<number, number[][]>, cpu: number, inp: Inpcb<TcpCb>) => {
      let l = m.get(cpu);
      if (!l) m.set(cpu, (l = []));
      l.push([inp.laddr >>> 0, inp.lport, inp.faddr >>> 0, inp.fport]);
    };
    for (let inp = host.pcb.pcbinfo[this.me].first(); inp; inp = inp.listNext) {
      if (!(inp.flags & INP.CONNECTED)) continue;
      const owner = this.netisr.ownerOf(inp.hash);
      const prev = this.registered.get(inp);
      if (owner === this.me) {
        if (prev !== undefined) {
          push(forget, prev, inp);
          this.registered.delete(inp);
        }
      } else if (prev !== owner) {
        push(add, owner, inp);
        if (prev !== undefined) push(forget, prev, inp);
        this.registered.set(inp, owner);
      }
    }
    this.sweep(forget);
    this.sendHome(add, forget);
  }

  /** Registrations of PCBs that are gone become forgets. */
  private sweep(forget: Map<number, number[][]>): void {
    for (const [inp, owner] of this.registered) {
      if (inp.flags & INP.CONNECTED) continue;
      let l = forget.get(owner);
      if (!l) forget.set(owner, (l = []));
      l.push([inp.laddr >>> 0, inp.lport, inp.faddr >>> 0, inp.fport]);
      this.registered.delete(inp);
    }
  }

  private register(inp: Inpcb<TcpCb>, owner: number): void {
    if (this.registered.get(inp) === owner) return;
    const prev = this.registered.get(inp);
    this.registered.set(inp, owner);
    const t = [inp.laddr >>> 0, inp.lport, inp.faddr >>> 0, inp.fport];
    this.sendHome(new Map([[owner, [t]]]), prev !== undefined ? new Map([[prev, [t]]]) : new Map());
  }

  private sendHome(add: Map<number, number[][]>, forget: Map<number, number[][]>): void {
    const cpus = new Set([...add.keys(), ...forget.keys()]);
    for (const cpu of cpus) {
      if (cpu === this.me) continue;
      const a = add.get(cpu) ?? [];
      const f = forget.get(cpu) ?? [];
      this.stats.homeAdds += a.length;
      this.stats.homeForgets += f.length;
      for (let i = 0; i < Math.max(a.length, f.length); i += 2048) {
        const body = { from: this.me, add: a.slice(i, i + 2048), forget: f.slice(i, i + 2048) };
        this.publish(cpu, encodeNetmsg.socket(RescaleNetmsg.home, 0, body));
      }
    }
  }

  private publish(cpu: number, data: Uint8Array): void {
    this.tcp.transport.publish(subjects.netisr(this.tcp.cluster, cpu), data);
  }

  // ---- segments ----

  /** A TCP datagram for a local address (the netisr's localInput): `b[at, at+len)`. */
  input(b: Uint8Array, at = 0, len = b.length - at): void {
    // Steady state (no entries, nothing homed outside its bucket, no grace period, no drain):
    // the segment belongs to this CPU's buckets, straight to TCP as without rescale.
    if (this.foreign.size === 0 && this.registered.size === 0 && this.moved.size === 0 && this.heldCount === 0 && !this.isDraining && !this.inGrace) {
      this.tcp.ensureHost().inputFrameAt(b, at, len);
      return;
    }
    this.segment(b.subarray(at, at + len), 0, false);
  }

  private segment(frame: Uint8Array, hops: number, redispatched: boolean): void {
    const host = this.tcp.ensureHost();
    const t = this.t;
    if (!t.read(frame)) {
      host.inputFrame(frame); // the decode step counts it
      return;
    }
    const { src, dst, sport, dport, flags } = t;
    const me = this.me;
    const hash = host.hashOf(src, sport, dst, dport);
    if (host.pcb.pcbinfo[me].lookupConn(src, sport, dst, dport)) {
      this.local(frame, hash, src, sport, dst, dport);
      return;
    }
    const key = tupleKey(dst, dport, src, sport);
    const mv = this.moved.get(key);
    if (mv) {
      this.forward(mv.cpu, frame, hash, hops);
      return;
    }
    const home = this.foreign.get(key);
    if (home !== undefined && home !== me) {
      this.forward(home, frame, hash, hops);
      return;
    }
    const sc = host.syncaches[me];
    if (sc.count > 0 && sc.lookup(src, sport, dst, dport)) {
      this.local(frame, hash, src, sport, dst, dport);
      return;
    }
    if (this.isDraining) {
      const f = this.futureOwner(hash);
      if (f !== undefined) {
        this.forward(f, frame, hash, hops);
        return;
      }
    }
    if (redispatched) {
      this.stats.dropped.nopcb++;
      return;
    }
    const syn = (flags & TcpFlags.SYN) !== 0 && (flags & TcpFlags.ACK) === 0;
    if (!syn && this.inGrace) {
      this.hold(key, frame, hash);
      return;
    }
    this.local(frame, hash, src, sport, dst, dport);
  }

  /** TCP input here; a connection made here in a bucket another CPU owns is registered with it. */
  private local(frame: Uint8Array, hash: number, src: number, sport: number, dst: number, dport: number): void {
    const host = this.tcp.ensureHost();
    const owner = this.netisr.ownerOf(hash);
    if (owner === this.me) {
      host.inputFrame(frame);
      return;
    }
    this.claim(hash, () => host.inputFrame(frame));
    const inp = host.pcb.pcbinfo[this.me].lookupConn(src, sport, dst, dport);
    if (inp && !this.isDraining) this.register(inp, owner);
  }

  private hold(key: string, frame: Uint8Array, hash: number): void {
    if (this.heldCount >= this.holdMax) {
      this.stats.dropped.holdfull++;
      return;
    }
    let h = this.held.get(key);
    if (!h) this.held.set(key, (h = { frames: [], hash }));
    h.frames.push(frame.slice());
    this.heldCount++;
    this.stats.held++;
  }

  /** Re-runs held segments whose connection is now known (`all`: the grace period is over). */
  private retryHeld(all: boolean): void {
    if (this.heldCount === 0) return;
    const host = this.tcp.host;
    for (const [key, h] of this.held) {
      const known = this.foreign.has(key) || this.moved.has(key) || (host !== undefined && this.hasPcb(host, key));
      if (!known && !all) continue;
      this.held.delete(key);
      this.heldCount -= h.frames.length;
      if (known) this.stats.heldReleased += h.frames.length;
      else this.stats.heldExpired += h.frames.length;
      for (const f of h.frames) this.segment(f, 0, false);
    }
  }

  private hasPcb(host: TcpHost, key: string): boolean {
    const [l, lp, f, fp] = key.split(":").map(Number);
    return host.pcb.pcbinfo[this.me].lookupConn(f, fp, l, lp) !== undefined;
  }

  private forward(cpu: number, frame: Uint8Array, hash: number, hops: number): void {
    if (hops >= MAX_HOPS) {
      this.stats.dropped.hops++;
      return;
    }
    let w = this.fwd.get(cpu);
    if (!w) this.fwd.set(cpu, (w = new FrameBatchWriter(64 * 1024)));
    if (!w.append(frame, hash, hops + 1)) {
      this.flushOne(cpu, w);
      w.append(frame, hash, hops + 1);
    }
    this.stats.redispatched++;
    if (!this.fwdQueued) {
      this.fwdQueued = true;
      queueMicrotask(() => this.flushForward());
    }
  }

  private flushOne(cpu: number, w: FrameBatchWriter): void {
    if (w.count === 0) return;
    const batch = w.finish();
    const msg = new Uint8Array(8 + batch.length);
    msg[0] = RescaleNetmsg.segments;
    wrLe32(msg, 4, this.me);
    msg.set(batch, 8);
    w.reset();
    this.tcp.transport.publish(subjects.netisr(this.tcp.cluster, cpu), msg, { transfer: true });
  }

  private flushForward(): void {
    this.fwdQueued = false;
    for (const [cpu, w] of this.fwd) this.flushOne(cpu, w);
  }

  // ---- the port ----

  /** A message on this CPU's port: true when it was the rescale layer's (handled). */
  onPort(m: Msg): boolean {
    const d = m.data;
    if (d.length === 0) return false;
    const type = d[0];
    if (type === RescaleNetmsg.segments) {
      this.onSegments(d);
      return true;
    }
    if (type === RescaleNetmsg.chase) {
      this.onChase(m);
      return true;
    }
    if (type >= RescaleNetmsg.home && type <= RescaleNetmsg.fence) {
      const r = decodeNetmsg(d);
      if (typeof r === "string" || r.type !== "socket" || typeof r.body !== "object" || r.body === null) {
        this.stats.dropped.bad++;
        if (m.reply) m.respond(encodeNetmsg.reply(0, false, undefined, "malformed rescale netmsg"));
        return true;
      }
      const b = r.body as Record<string, unknown>;
      switch (type) {
        case RescaleNetmsg.home:
          this.onHome(b);
          return true;
        case RescaleNetmsg.handover:
          this.onHandover(m, r.id, b);
          return true;
        case RescaleNetmsg.leaving:
          if (typeof b.cpu === "number" && b.cpu !== this.me) this.leaving.add(b.cpu);
          return true;
        case RescaleNetmsg.fence:
          this.onCall(m, b);
          return true;
      }
    }
    // A program's call for a socket that moved away from here, or one fenced here.
    if ((this.movedById.size > 0 || this.fenced.size > 0) && PER_SOCKET_CALLS.has(type)) {
      const r = decodeNetmsg(d);
      if (typeof r !== "string" && r.type === "socket" && typeof r.body === "object" && r.body !== null) return this.onCall(m, r.body as Record<string, unknown>);
    }
    return false;
  }

  private onSegments(d: Uint8Array): void {
    const c = this.cursor;
    if (d.length < 8 || c.reset(d.subarray(8)) !== null) {
      this.stats.dropped.bad++;
      return;
    }
    const frames: [Uint8Array, number][] = [];
    while (c.next()) frames.push([c.buf.subarray(c.offset, c.offset + c.length), c.tag]);
    for (const [f, hops] of frames) {
      this.stats.redispatchReceived++;
      this.segment(f, hops, true);
    }
  }

  private onHome(b: Record<string, unknown>): void {
    const from = b.from;
    if (typeof from !== "number" || !Array.isArray(b.add) || !Array.isArray(b.forget)) {
      this.stats.dropped.bad++;
      return;
    }
    const tuple = (x: unknown) => (Array.isArray(x) && x.length === 4 && x.every((v) => typeof v === "number") ? tupleKey(x[0], x[1], x[2], x[3]) : undefined);
    for (const x of b.add) {
      const k = tuple(x);
      if (k === undefined) continue;
      this.stats.homeReceived++;
      this.foreign.set(k, from);
    }
    for (const x of b.forget) {
      const k = tuple(x);
      if (k !== undefined && this.foreign.get(k) === from) this.foreign.delete(k);
    }
    this.retryHeld(false);
  }

  /**
   * A program's per-socket call (or fence) for a socket that moved away, or that is fenced here.
   * The fence comes first: a socket that arrived here and left again before its fence (moved
   * twice: two CPUs draining at once) keeps the calls made for it here — and the program's
   * fence of the second move — behind that fence, in order; released, they come back through
   * here and are chased on to where the socket went (releaseFence).
   */
  private onCall(m: Msg, b: Record<string, unknown>): boolean {
    const id = b.id;
    if (typeof id !== "number") return false;
    const f = this.fenced.get(id);
    if (f) {
      f.held.push({ m, b });
      if (m.data[0] !== RescaleNetmsg.fence) this.stats.fenced++;
      return true;
    }
    const mv = this.movedById.get(id);
    if (mv) {
      if (!mv.acked) mv.calls.push(m);
      else this.chase(mv, m);
      return true;
    }
    return m.data[0] === RescaleNetmsg.fence; // a fence for nothing here: done
  }

  /** Forwards a call to the moved socket's CPU (the reply, if any, comes back through here). */
  private chase(mv: Moved, m: Msg): void {
    const inner = m.data;
    const data = new Uint8Array(12 + inner.length);
    data[0] = RescaleNetmsg.chase;
    wrLe32(data, 4, this.me);
    wrLe32(data, 8, mv.oldId);
    data.set(inner, 12);
    this.stats.chased++;
    const subject = subjects.netisr(this.tcp.cluster, mv.cpu);
    if (!m.reply) {
      this.tcp.transport.publish(subject, data);
      return;
    }
    this.tcp.transport.request(subject, data, { timeoutMs: this.requestMs }).then(
      (r) => m.respond(r.data),
      (err: Error) => m.respond(encodeNetmsg.reply(0, false, undefined, `cpu ${mv.cpu}: ${err.message}`)),
    );
  }

  private onChase(m: Msg): void {
    const d = m.data;
    if (d.length < 13) {
      this.stats.dropped.bad++;
      return;
    }
    const from = rdLe32(d, 4);
    const oldId = rdLe32(d, 8);
    const inner = d.subarray(12);
    const ad = this.adopted.get(`${from}/${oldId}`);
    if (!ad) {
      if (m.reply) m.respond(encodeNetmsg.reply(0, false, undefined, `no socket ${from}/${oldId} here`));
      return;
    }
    if (inner[0] === RescaleNetmsg.fence) {
      this.releaseFence(ad.so.id);
      return;
    }
    const r = decodeNetmsg(inner);
    if (typeof r === "string" || r.type !== "socket" || typeof r.body !== "object" || r.body === null) {
      this.stats.dropped.bad++;
      return;
    }
    // A socket moved twice (it came here from `from` and left again): chase it on.
    const again = this.movedById.get(ad.so.id);
    const body = { ...(r.body as Record<string, unknown>), id: ad.so.id };
    const rewritten = encodeNetmsg.socket(r.code, r.id, body);
    const msg: Msg = { subject: m.subject, data: rewritten, ...(m.reply ? { reply: m.reply } : {}), respond: (x) => m.respond(x) };
    if (again) {
      if (!again.acked) again.calls.push(msg);
      else this.chase(again, msg);
      return;
    }
    this.tcp.socketPort(msg);
  }

  private releaseFence(id: number): void {
    const f = this.fenced.get(id);
    if (!f) return;
    this.fenced.delete(id);
    // Through onCall again: the socket may have moved on meanwhile (then they are chased).
    for (const { m, b } of f.held) if (!this.onCall(m, b)) this.tcp.socketPort(m);
  }

  // ---- hand-over: the receiving side ----

  private onHandover(m: Msg, id: number, b: Record<string, unknown>): void {
    if (this.drained) {
      m.respond(encodeNetmsg.reply(id, false, undefined, `cpu ${this.me} is leaving`));
      return;
    }
    const from = b.from;
    if (typeof from !== "number" || !Array.isArray(b.conns)) {
      this.stats.dropped.bad++;
      m.respond(encodeNetmsg.reply(id, false, undefined, "bad handover body"));
      return;
    }
    const ids: (number | string)[] = [];
    const after: (() => void)[] = [];
    for (const c of b.conns as HandoverConnWire[]) {
      try {
        ids.push(this.install(from, c, after));
        this.stats.handoverIn++;
      } catch (err) {
        this.stats.handoverInFailed++;
        ids.push(err instanceof Error ? `${err.name}: ${err.message}` : String(err));
      }
    }
    const syn: (true | string)[] = [];
    if (Array.isArray(b.syn)) {
      for (const w of b.syn) {
        let r: true | string;
        try {
          r = this.installSyn(w, after);
        } catch (err) {
          r = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
        }
        syn.push(r);
        if (r === true) this.stats.synIn++;
        else this.stats.synInFailed++;
      }
    }
    m.respond(encodeNetmsg.reply(id, true, Array.isArray(b.syn) ? { ids, syn } : { ids }));
    for (const f of after) f();
  }

  /** Installs one handed-over half-open handshake in this CPU's syncache: true, or why not. */
  private installSyn(w: unknown, after: (() => void)[]): true | string {
    const v = synEntryFromWire(w);
    if (typeof v === "string") {
      this.stats.dropped.bad++;
      return v;
    }
    const host = this.tcp.ensureHost();
    const me = this.me;
    const x = v.e;
    const rec = host.listener(v.listener);
    if (!rec || !rec.ls.listening) return `no listener ${v.listener} on cpu ${me}`;
    const e: TcpSynEntry = {
      laddr: x.laddr >>> 0,
      lport: x.lport,
      faddr: x.faddr >>> 0,
      fport: x.fport,
      irs: x.irs >>> 0,
      iss: x.iss >>> 0,
      peerMss: x.peerMss,
      mss: x.mss,
      peerWscale: x.peerWscale,
      rcvWscale: x.rcvWscale,
      sackOk: x.sackOk,
      tsOk: x.tsOk,
      tsRecent: x.tsRecent >>> 0,
      peerWindow: x.peerWindow,
      rxtUsed: x.rxtUsed,
    };
    if (host.pcb.pcbinfo[me].lookupConn(e.faddr, e.fport, e.laddr, e.lport)) return `${e.faddr}:${e.fport} → ${e.laddr}:${e.lport} is connected on cpu ${me}`;
    const hash = host.hashOf(e.faddr, e.fport, e.laddr, e.lport);
    const req = { faddr: e.faddr, fport: e.fport, laddr: e.laddr, lport: e.lport, hash, listener: rec.ls, iss: e.iss, irs: e.irs, wnd: v.wnd, opts: e };
    const { entry } = this.claim(hash, () => host.syncaches[me].add(req, host.now()));
    entry.rxtused = e.rxtUsed;
    after.push(() => this.releaseHeld(tupleKey(e.laddr, e.lport, e.faddr, e.fport)));
    return true;
  }

  /** Installs one handed-over connection on this CPU; returns its new socket id. */
  private install(from: number, c: HandoverConnWire, after: (() => void)[]): number {
    const tcp = this.tcp;
    const host = tcp.ensureHost();
    const st = handoverStateFromWire(c.s);
    const me = this.me;
    const info = host.pcb.pcbinfo[me];
    if (info.lookupConn(st.faddr, st.fport, st.laddr, st.lport)) throw new InpcbAddrInUseError(st.laddr, st.lport, st.faddr, st.fport);
    const hash = host.hashOf(st.faddr, st.fport, st.laddr, st.lport);
    const inp = this.claim(hash, () => host.pcb.allocConnected(me, st.laddr, st.lport, st.faddr, st.fport));
    const so = new So(me, inp);
    let tp: TcpCb;
    try {
      tp = tcpHandoverImport(host.cpu(me).engine, st, host.now(), so);
    } catch (err) {
      host.pcb.detach(inp);
      throw err;
    }
    inp.ppcb = tp;
    so.tp = tp;
    const id = host.idOf(so);
    const rec = c.listener !== null ? host.listener(c.listener) : undefined;
    let orphan = c.orphan === true;
    if (rec) soqinsque(rec.ls, inp);
    else if (c.owner !== null) {
      const o = tcp.remoteOwnerOf(c.owner);
      if (o) so.owner = o;
      else orphan = true;
    } else if (c.listener !== null) orphan = true; // its listener closed meanwhile
    if (c.pend) tcp.putPending(so, { chunks: c.pend.c.map(unb64), shutdown: c.pend.sh, close: c.pend.cl });
    this.adopted.set(`${from}/${c.oldId}`, { so, until: this.now() + ADOPTED_KEEP_MS });
    if (so.owner && c.oldId) this.fenced.set(id, { held: [], until: this.now() + this.fenceMs });
    const owner = this.netisr.ownerOf(hash);
    if (owner !== me) this.register(inp, owner);
    const key = tupleKey(st.laddr, st.lport, st.faddr, st.fport);
    after.push(() => {
      const now = host.now();
      const eng = host.cpu(me).engine;
      if (orphan && tp.t_state !== TcpState.CLOSED) {
        // Nobody holds it any more (a program of the CPU that left): close it as exit(2) would.
        try {
          eng.close(tp, now);
        } catch {
          tcpHandoverResume(tp, now);
        }
      } else tcpHandoverResume(tp, now);
      if (rec) host.acceptable(rec.ls, me);
      else if (so.owner && tp.rcvCc > 0) so.owner.soEvent(so, SoEvent.READABLE, null);
      if (c.pend) tcp.flushPendingSend(so);
      this.releaseHeld(key);
    });
    return id;
  }

  /** Segments held for a connection (or handshake) that is known here now: processed. */
  private releaseHeld(key: string): void {
    const h = this.held.get(key);
    if (!h) return;
    this.held.delete(key);
    this.heldCount -= h.frames.length;
    this.stats.heldReleased += h.frames.length;
    for (const f of h.frames) this.segment(f, 0, false);
  }

  // ---- hand-over: the leaving side ----

  /** The CPUs that remain once this one (and every CPU known to be leaving) is gone. */
  futureCpus(): number[] {
    return this.netisr.liveCpus.filter((c) => c !== this.me && !this.leaving.has(c));
  }

  private futureOwner(hash: number): number | undefined {
    const f = this.futureCpus();
    return f.length === 0 ? undefined : f[(hash & 127) % f.length];
  }

  /**
   * Hands every connection of this CPU to its future owner (see the module comment).
   * Idempotent: a second call returns the same report. The caller deregisters afterwards.
   */
  drain(): Promise<DrainReport> {
    return (this.draining ??= this.doDrain());
  }

  private async doDrain(): Promise<DrainReport> {
    const t0 = this.now();
    this.isDraining = true;
    const tcp = this.tcp;
    const host = tcp.ensureHost();
    const me = this.me;
    for (const c of this.netisr.liveCpus) if (c !== me) this.publish(c, encodeNetmsg.socket(RescaleNetmsg.leaving, 0, { cpu: me }));
    // CPUs told to leave at the same moment (a StatefulSet scaled down by several) hear of each
    // other here, so that none hands its connections to another that is leaving too. A later
    // notice only costs a second hop: a leaving CPU accepts hand-overs until its drain ends.
    if (this.announceMs > 0) await new Promise((r) => setTimeout(r, this.announceMs));
    const rep: DrainReport = { handedOver: 0, failed: 0, synHandedOver: 0, synFailed: 0, rounds: 0, batches: 0, maxBatchMs: 0, ms: 0, byCpu: {} };
    const deadline = t0 + this.drainMs;
    let retry: Frozen[] = [];
    let synRetry: FrozenSyn[] = [];
    const synLost = (n: number) => {
      rep.synFailed += n;
      this.stats.synOutFailed += n;
    };
    for (;;) {
      const conns: Inpcb<TcpCb>[] = [];
      for (let inp = host.pcb.pcbinfo[me].first(); inp; inp = inp.listNext) {
        if (inp.flags & INP.CONNECTED && inp.ppcb && inp.ppcb.t_state !== TcpState.CLOSED) conns.push(inp);
      }
      if (this.futureCpus().length === 0) {
        // No CPU left to take them (the last CPU, or every other one leaving): the ones being
        // retried and the ones never frozen are lost with this CPU, and counted as such.
        const lost = retry.length + conns.length;
        rep.failed += lost;
        this.stats.handoverOutFailed += lost;
        synLost(synRetry.length + host.syncaches[me].count);
        break;
      }
      const syn = [...synRetry, ...this.freezeSyncache(host)];
      synRetry = [];
      if (conns.length === 0 && retry.length === 0 && syn.length === 0) break;
      rep.rounds++;
      const frozen = [...retry, ...conns.map((inp) => this.freeze(host, inp))];
      retry = [];
      const groups = new Map<number, Frozen[]>();
      for (const f of frozen) {
        const to = this.futureOwner(f.hash)!;
        f.mv.cpu = to;
        let g = groups.get(to);
        if (!g) groups.set(to, (g = []));
        g.push(f);
      }
      const sends: Promise<void>[] = [];
      for (const [to, list] of groups) {
        for (const batch of this.batches(list)) {
          rep.batches++;
          sends.push(
            this.sendBatch(to, batch).then(
              ({ ids, ms }) => {
                rep.maxBatchMs = Math.max(rep.maxBatchMs, ms);
                batch.forEach((f, i) => {
                  const r = ids[i];
                  if (typeof r === "number") {
                    this.acked(f, to, r);
                    rep.handedOver++;
                    rep.byCpu[to] = (rep.byCpu[to] ?? 0) + 1;
                  } else this.failedOne(f, retry, rep);
                });
              },
              () => {
                // No answer or refused (gone, or finished its own drain): not a target any more.
                this.leaving.add(to);
                for (const f of batch) this.failedOne(f, retry, rep);
              },
            ),
          );
        }
      }
      const synGroups = new Map<number, FrozenSyn[]>();
      for (const f of syn) {
        const to = this.futureOwner(f.hash)!;
        let g = synGroups.get(to);
        if (!g) synGroups.set(to, (g = []));
        g.push(f);
      }
      const synFailed = (f: FrozenSyn) => {
        if (++f.attempts < 3) synRetry.push(f);
        else synLost(1);
      };
      for (const [to, list] of synGroups) {
        for (let i = 0; i < list.length; i += BATCH_SYN) {
          const batch = list.slice(i, i + BATCH_SYN);
          rep.batches++;
          sends.push(
            this.sendSyn(to, batch).then(
              ({ results, ms }) => {
                rep.maxBatchMs = Math.max(rep.maxBatchMs, ms);
                batch.forEach((f, j) => {
                  if (results[j] !== true) return synFailed(f);
                  rep.synHandedOver++;
                  this.stats.synOut++;
                });
              },
              () => {
                this.leaving.add(to);
                for (const f of batch) synFailed(f);
              },
            ),
          );
        }
      }
      await Promise.all(sends);
      if (this.now() > deadline) {
        // Out of time: what is left (frozen or not) is lost with this CPU.
        let left = retry.length;
        for (let inp = host.pcb.pcbinfo[me].first(); inp; inp = inp.listNext) if (inp.flags & INP.CONNECTED) left++;
        rep.failed += left;
        this.stats.handoverOutFailed += left;
        synLost(synRetry.length + host.syncaches[me].count);
        break;
      }
    }
    this.flushForward();
    rep.ms = Math.round(this.now() - t0);
    this.stats.lastDrainMs = rep.ms;
    this.stats.lastDrainConns = rep.handedOver;
    this.drained = true;
    return rep;
  }

  private failedOne(f: Frozen, retry: Frozen[], rep: DrainReport): void {
    f.attempts++;
    if (f.attempts < 3) retry.push(f);
    else {
      rep.failed++;
      this.stats.handoverOutFailed++;
    }
  }

  private *batches(list: Frozen[]): Generator<Frozen[]> {
    let cur: Frozen[] = [];
    let bytes = 0;
    for (const f of list) {
      const n = 1024 + ((f.state.snd?.length ?? 0) + (f.state.rcv?.length ?? 0) + (f.pend?.chunks.reduce((s, c) => s + c.length, 0) ?? 0)) * 1.4;
      if (cur.length > 0 && (bytes + n > BATCH_BYTES || cur.length >= BATCH_CONNS)) {
        yield cur;
        cur = [];
        bytes = 0;
      }
      cur.push(f);
      bytes += n;
    }
    if (cur.length > 0) yield cur;
  }

  private async sendBatch(to: number, batch: Frozen[]): Promise<{ ids: (number | string)[]; ms: number }> {
    const conns: HandoverConnWire[] = batch.map((f) => ({
      s: handoverStateToWire(f.state),
      owner: f.owner,
      ...(f.orphan ? { orphan: true } : {}),
      listener: f.listener,
      oldId: f.oldId,
      ...(f.pend ? { pend: { c: f.pend.chunks.map(b64), sh: f.pend.shutdown, cl: f.pend.close } } : {}),
    }));
    const { body, ms } = await this.handoverRequest(to, { from: this.me, conns });
    const ids = body.ids;
    if (!Array.isArray(ids) || ids.length !== batch.length) throw new Error("bad handover reply");
    return { ids: ids as (number | string)[], ms };
  }

  /** Hands half-open handshakes to `to`: per entry, true (installed there) or why not. */
  private async sendSyn(to: number, batch: FrozenSyn[]): Promise<{ results: (true | string)[]; ms: number }> {
    const { body, ms } = await this.handoverRequest(to, { from: this.me, conns: [], syn: batch.map((f) => f.wire) });
    const res = body.syn;
    if (!Array.isArray(res) || res.length !== batch.length) throw new Error(`cpu ${to}: bad handover reply (syncache entries)`);
    return { results: res as (true | string)[], ms };
  }

  private async handoverRequest(to: number, req: Record<string, unknown>): Promise<{ body: Record<string, unknown>; ms: number }> {
    const t0 = this.now();
    const r = await this.tcp.transport.request(subjects.netisr(this.tcp.cluster, to), encodeNetmsg.socket(RescaleNetmsg.handover, 1, req), {
      timeoutMs: this.requestMs,
    });
    const ms = this.now() - t0;
    const rep = decodeNetmsg(r.data);
    if (typeof rep === "string" || rep.type !== 0x1f) throw new Error(`cpu ${to}: bad handover reply`);
    if (!rep.ok) throw new Error(`cpu ${to}: ${rep.error ?? "refused"}`);
    if (typeof rep.body !== "object" || rep.body === null) throw new Error(`cpu ${to}: bad handover reply`);
    return { body: rep.body as Record<string, unknown>, ms };
  }

  /**
   * Takes this CPU's half-open handshakes out of its syncache (their final ACK is forwarded
   * from now on). Entries whose listener is not live here stay: their ACK gets the usual
   * answer (a RST for a stale entry).
   */
  private freezeSyncache(host: TcpHost): FrozenSyn[] {
    const sc = host.syncaches[this.me];
    if (sc.count === 0) return [];
    const out: FrozenSyn[] = [];
    const taken: SyncacheEntry<TcpSynEntry, TcpCb>[] = [];
    for (const e of sc.entries()) {
      const rec = e.listener?.listening ? host.listenerOf(e.listener) : undefined;
      if (!rec) continue;
      taken.push(e);
      out.push({ hash: e.hash, attempts: 0, wire: { e: { ...e.opts, rxtUsed: Math.max(e.opts.rxtUsed, e.rxtused) }, wnd: e.wnd, listener: rec.id } });
    }
    for (const e of taken) sc.drop(e);
    return out;
  }

  /** Takes a connection out of this CPU: state captured, PCB unlinked, segments and calls forwarded from now on. */
  private freeze(host: TcpHost, inp: Inpcb<TcpCb>): Frozen {
    const tp = inp.ppcb!;
    const so = tp.so as So | null;
    const ownerName = so ? this.tcp.ownerNameOf(so) : null;
    if (ownerName) this.tcp.flushOwner(ownerName); // its events so far go out before MOVED
    const listener = inp.head ? (host.listenerOf(inp.head)?.id ?? null) : null;
    if (inp.head) soqremque(inp);
    const pend = so ? this.tcp.takePending(so) : undefined;
    const state = tcpHandoverExport(tp, host.now());
    tcpHandoverRelease(tp);
    host.pcb.detach(inp);
    const oldId = so ? so.id : 0;
    if (so) host.forget(so);
    const key = tupleKey(inp.laddr, inp.lport, inp.faddr, inp.fport);
    const mv: Moved = { cpu: -1, oldId, newId: 0, acked: false, calls: [] };
    this.moved.set(key, mv);
    if (oldId) this.movedById.set(oldId, mv);
    return { key, hash: inp.hash, state, owner: ownerName ?? null, orphan: ownerName === undefined, listener, oldId, pend, mv, attempts: 0 };
  }

  private acked(f: Frozen, to: number, newId: number): void {
    const mv = f.mv;
    mv.cpu = to;
    mv.newId = newId;
    mv.acked = true;
    this.stats.handoverOut++;
    const calls = mv.calls;
    mv.calls = [];
    for (const m of calls) this.chase(mv, m);
    if (f.owner && f.oldId) this.tcp.ownerMoved(f.owner, f.oldId, to, newId);
  }

  // ---- timers ----

  /** Every 50 ms: the end of a grace period, fences that waited too long, stale registrations. */
  tick(): void {
    const now = this.now();
    if (this.heldCount > 0 && now >= this.graceUntil) this.retryHeld(true);
    for (const [id, f] of this.fenced) if (now >= f.until) this.releaseFence(id);
    for (const [k, a] of this.adopted) if (now >= a.until) this.adopted.delete(k);
    if (this.registered.size > 0 && !this.isDraining) {
      const forget = new Map<number, number[][]>();
      this.sweep(forget);
      if (forget.size > 0) this.sendHome(new Map(), forget);
    }
  }

  /** netstat -s counters (the `rescale` group). */
  statsBody(): Record<string, number> {
    const s = this.stats;
    return {
      redispatched: s.redispatched,
      redispatch_received: s.redispatchReceived,
      held: s.held,
      held_released: s.heldReleased,
      held_expired: s.heldExpired,
      dropped_hops: s.dropped.hops,
      dropped_nopcb: s.dropped.nopcb,
      dropped_holdfull: s.dropped.holdfull,
      dropped_bad: s.dropped.bad,
      home_adds: s.homeAdds,
      home_forgets: s.homeForgets,
      home_received: s.homeReceived,
      foreign_entries: this.foreign.size,
      handover_out: s.handoverOut,
      handover_out_failed: s.handoverOutFailed,
      handover_in: s.handoverIn,
      handover_in_failed: s.handoverInFailed,
      syn_handover_out: s.synOut,
      syn_handover_out_failed: s.synOutFailed,
      syn_handover_in: s.synIn,
      syn_handover_in_failed: s.synInFailed,
      chased: s.chased,
      fenced: s.fenced,
      last_drain_ms: s.lastDrainMs,
      last_drain_conns: s.lastDrainConns,
      // Time left of the grace period after the last topology change (0: steady state).
      grace_ms_left: Math.max(0, Math.ceil(this.graceUntil - this.now())),
    };
  }
}

/** TCP needs the CPU id as its index in the host's tables (0..NETISR_CPUMAX-1). */
export class TcpCpuIdError extends Error {
  override readonly name = "TcpCpuIdError";
  constructor(readonly cpu: number) {
    super(`cpu ${cpu}: TCP runs on CPU ids 0..${NETISR_CPUMAX - 1} only (NETISR_CPUMAX)`);
  }
}
