/** Live rescale of TCP (README "Live rescale"): where a local segment goes while CPUs join or leave, and the topology changes. */
import { NETISR_CPUMAX, TcpFlags, type Inpcb, type TcpCb } from "@dfly/core";
import { subjects, type Transport, type Msg } from "@dfly/transport";
import type { Netisr } from "./netisr.js";
import type { TcpHost } from "./tcp_host.js";
import type { TcpUsrreq } from "./tcp_usrreq.js";
import { RescaleChase } from "./rescale_chase.js";
import { RescaleGrace } from "./rescale_grace.js";
import { RescaleHandover, type DrainReport } from "./rescale_handover.js";
import { RescaleHome, tupleKey } from "./rescale_home.js";
import { decodeLeaving } from "./rescale_netmsg.js";
import type { IpfwHook } from "./ip_fw.js";
import { ipfwRescaleBind } from "./rescale_ipfw.js";

export { MAX_HOPS } from "./rescale_home.js";
export { RescaleNetmsg, type PendingSendState } from "./rescale_netmsg.js";
export type { DrainReport } from "./rescale_handover.js";

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

/** What the rescale layer uses of the CPU's TCP (TcpNetisr): its host and its socket port. */
export interface RescaleTcp {
  readonly cpu: number;
  readonly transport: Transport;
  readonly cluster: string;
  readonly host: TcpHost | undefined;
  ensureHost(): TcpHost;
  readonly usrreq: TcpUsrreq;
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

function rd32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
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

export class TcpRescale {
  readonly stats = new TcpRescaleStats();
  readonly me: number;
  readonly now: () => number;
  readonly home: RescaleHome;
  readonly grace: RescaleGrace;
  readonly chase: RescaleChase;
  readonly handover: RescaleHandover;
  /** This CPU's firewall: its states travel with the connections (rescale_ipfw.ts). */
  ipfw: IpfwHook | undefined;
  /** This CPU's states were handed to their flows' future owners (the end of a drain). */
  ipfwHanded = false;
  /** CPUs known to be leaving (their drain announced). */
  readonly leaving = new Set<number>();
  /** The hash whose segment is being processed here outside its bucket (see claim). */
  private claimHash = -1;
  private epoch = -1;
  private readonly t = new TupleOf();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly tcp: RescaleTcp,
    readonly netisr: Netisr,
    o: TcpRescaleOptions = {},
  ) {
    this.me = tcp.cpu;
    this.now = o.now ?? (() => performance.now());
    const requestMs = o.requestMs ?? 5000;
    this.home = new RescaleHome(this);
    this.grace = new RescaleGrace(this, o.graceMs ?? 2000, o.holdMax ?? 8192);
    this.chase = new RescaleChase(this, o.fenceMs ?? 3000, requestMs);
    this.handover = new RescaleHandover(this, o.drainMs ?? 6000, requestMs, o.announceMs ?? 50);
  }

  setIpfw(h: IpfwHook): void {
    this.ipfw = h;
    ipfwRescaleBind(this, h);
  }

  /** Connections living on another CPU whose bucket this CPU owns: key → home. */
  get foreign(): Map<string, number> {
    return this.home.foreign;
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
    this.home.flush();
  }

  get inGrace(): boolean {
    return this.grace.active;
  }

  get heldNow(): number {
    return this.grace.count;
  }

  get drainingNow(): boolean {
    return this.handover.draining;
  }

  /** @internal */
  get draining(): boolean {
    return this.handover.draining;
  }

  /** A connection placed here by another CPU's connect(): registered with its bucket's owner when that is not this CPU. */
  placed(inp: Inpcb<TcpCb>): void {
    const owner = this.netisr.ownerOf(inp.hash);
    if (owner !== this.me && !this.draining) this.home.register(inp, owner);
  }

  /** The netisr adopted a topology (call after `NetisrService.setTopology`). */
  onTopology(): void {
    const n = this.netisr;
    if (n.epoch === this.epoch) return;
    this.epoch = n.epoch;
    const cpus = [...n.liveCpus];
    this.grace.begin();
    const host = this.tcp.host;
    if (host) this.attach(host);
    for (const c of this.leaving) if (!cpus.includes(c)) this.leaving.delete(c);
    this.home.topology(cpus);
    this.home.reregister();
    this.grace.retry(false);
  }

  /** @internal publishes a netmsg on `cpu`'s port. */
  publish(cpu: number, data: Uint8Array): void {
    this.tcp.transport.publish(subjects.netisr(this.tcp.cluster, cpu), data);
  }

  /** The `leaving` netmsg: that CPU is not a hand-over target any more. */
  onLeaving(m: Msg): void {
    const cpu = decodeLeaving(m.data);
    if (cpu === undefined) this.stats.dropped.bad++;
    else if (cpu !== this.me) this.leaving.add(cpu);
  }

  /** A TCP datagram for a local address (the netisr's localInput): `b[at, at+len)`, its RSS hash if known (else -1). */
  input(b: Uint8Array, at = 0, len = b.length - at, rawHash = -1): void {
    // Steady state (no entries, moves, grace or drain): straight to TCP.
    if (this.home.foreign.size === 0 && this.home.registered.size === 0 && this.chase.moved.size === 0 && this.grace.count === 0 && !this.draining && !this.grace.active) {
      this.tcp.ensureHost().inputFrameAt(b, at, len, rawHash);
      return;
    }
    this.segment(b.subarray(at, at + len), 0, false);
  }

  /** @internal where one segment goes: TCP here, redispatch to its home, or the grace hold. */
  segment(frame: Uint8Array, hops: number, redispatched: boolean): void {
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
    const mv = this.chase.moved.get(key);
    if (mv) {
      this.home.forward(mv.cpu, frame, hash, hops);
      return;
    }
    const home = this.home.foreign.get(key);
    if (home !== undefined && home !== me) {
      this.home.forward(home, frame, hash, hops);
      return;
    }
    const sc = host.syncaches[me];
    if (sc.count > 0 && sc.lookup(src, sport, dst, dport)) {
      this.local(frame, hash, src, sport, dst, dport);
      return;
    }
    if (this.draining) {
      const f = this.handover.futureOwner(hash);
      if (f !== undefined) {
        this.home.forward(f, frame, hash, hops);
        return;
      }
    }
    if (redispatched) {
      this.stats.dropped.nopcb++;
      return;
    }
    const syn = (flags & TcpFlags.SYN) !== 0 && (flags & TcpFlags.ACK) === 0;
    if (!syn && this.grace.active) {
      this.grace.hold(key, frame, hash);
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
    if (inp && !this.draining) this.home.register(inp, owner);
  }

  /** @internal a held segment's connection is known here now (an entry, a move, or its PCB). */
  known(key: string): boolean {
    if (this.home.foreign.has(key) || this.chase.moved.has(key)) return true;
    const host = this.tcp.host;
    if (!host) return false;
    const [l, lp, f, fp] = key.split(":").map(Number);
    return host.pcb.pcbinfo[this.me].lookupConn(f, fp, l, lp) !== undefined;
  }

  /** The CPUs that remain once this one (and every CPU known to be leaving) is gone. */
  futureCpus(): number[] {
    return this.handover.futureCpus();
  }

  /** Hands every connection to its future owner (idempotent); the caller deregisters afterwards. */
  drain(): Promise<DrainReport> {
    return this.handover.drain();
  }

  /** Every 50 ms: the end of a grace period, fences that waited too long, stale registrations. */
  tick(): void {
    const now = this.now();
    this.grace.tick(now);
    this.chase.tick(now);
    this.home.sweepGone();
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
      foreign_entries: this.home.foreign.size,
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
      grace_ms_left: this.grace.left(this.now()),
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
