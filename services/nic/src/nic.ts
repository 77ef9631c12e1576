/**
 * The emulated NIC: frames from the link partner (`<c>.wire.<if>.in`) are hashed with
 * the symmetric Toeplitz key (what the hardware does for IPv4/TCP and IPv4, DragonFly's
 * ip_hashfn() rules: core's `ipPacketHash`), steered by the redirection table to an RX
 * ring and published on that ring's subject (`<c>.nic.<if>.rx.<ring>`) as frame batches
 * that carry each frame's hash. Frames the CPUs transmit (`<c>.nic.<if>.tx.<ring>`) go out
 * on `<c>.wire.<if>.out` unchanged.
 *
 * Delivery to the CPU that owns a ring:
 *   - interrupt: a ring's batch is published when `moderation.frames` have gathered or
 *     `moderation.usecs` after its first frame (IntrModerator, timers here);
 *   - polling: batches go into the ring at once (the NIC's DMA); the owning CPU's ifpoll
 *     takes at most its burst per tick from its RX descriptor ring (services/netisr).
 *
 * Frames are copied once, from the wire batch into a ring batch (the DMA); nothing else is
 * allocated per frame. Drops are counted by reason: `runt` (empty frame), `oversize`
 * (longer than the interface's maximum frame), `badbatch` (a wire message that is not a
 * frame batch, counted once per message), `notopology` (no ring map yet), `impair_loss`
 * (lost on the link by a configured impairment, impair.ts), `notipv4` (a TUN wire's non-IPv4
 * packet, tun.ts). The RSS key is always
 * DragonFly's symmetric 0x6d5a key (the topology's rssKey says so; other keys are not
 * programmed).
 */
import { ipPacketHash } from "@dfly/core";
import { FrameBatchCursor, FrameBatchWriter, subjects, validateFrameBatch, frameBatchCount, type Msg, type Subscription, type Transport } from "@dfly/transport";
import { type InterfaceTopology } from "@dfly/wire";
import { NicMode, nicModel } from "./models.js";
import { checkImpair, Impairment, type ImpairConfig } from "./impair.js";
import { IntrModerator, moderationFor, type ModerationConfig } from "./moderation.js";

/**
 * The writer's batch in a buffer of exactly its size (a copy of the used bytes), and the
 * writer emptied for reuse: a buffer handed to another thread costs its size there, and
 * `take()` would hand over (and allocate anew) the whole capacity for every batch.
 */
function takeExact(w: FrameBatchWriter): Uint8Array {
  const out = w.finish().slice();
  w.reset();
  return out;
}

export const NicDrop = {
  runt: "runt",
  oversize: "oversize",
  badbatch: "badbatch",
  notopology: "notopology",
  /** Lost on the link by a configured impairment (impair.ts). */
  impair_loss: "impair_loss",
  /** A packet from a TUN wire that is not IPv4 (tun.ts). */
  notipv4: "notipv4",
} as const;
export type NicDropReason = (typeof NicDrop)[keyof typeof NicDrop];

/** Largest frame accepted from the wire by default (jumbo frames: 9000-byte MTU). */
export const NIC_MAX_FRAME_DEFAULT = 9000;

export interface NicOptions {
  transport: Transport;
  cluster: string;
  interfaces: readonly InterfaceTopology[];
  /** Interrupt moderation; default from the model's interrupt rate, 256 frames. */
  moderation?: Partial<ModerationConfig>;
  maxFrame?: number;
  /** Microsecond clock (tests inject one). */
  nowUs?: () => number;
  /** Impairments on every interface's wire-out (loss, delay, reordering). */
  impair?: ImpairConfig;
}

/** Per-interface counters (the NIC's own; exported as dfly_nic_*). */
export class NicIfStats {
  readonly rxFrames: Float64Array;
  readonly txFrames: Float64Array;
  readonly dropped = new Map<NicDropReason, number>();
  rxBatches = 0;
  interrupts = 0;
  constructor(rings: number) {
    this.rxFrames = new Float64Array(rings);
    this.txFrames = new Float64Array(rings);
  }
  drop(reason: NicDropReason, n = 1): void {
    this.dropped.set(reason, (this.dropped.get(reason) ?? 0) + n);
  }
}

class NicIf {
  readonly mode: NicMode;
  readonly writers: FrameBatchWriter[];
  readonly mods: IntrModerator[];
  readonly added: Int32Array;
  readonly rdrMask: number;

  constructor(
    readonly topo: InterfaceTopology,
    /** Replaced when the counters grow (more rings). */
    public stats: NicIfStats,
    mod: ModerationConfig,
  ) {
    this.mode = topo.mode === NicMode.polling ? NicMode.polling : NicMode.interrupt;
    this.writers = Array.from({ length: topo.rings }, () => new FrameBatchWriter());
    this.mods = Array.from({ length: topo.rings }, () => new IntrModerator(mod));
    this.added = new Int32Array(topo.rings);
    const n = topo.redirect.length;
    this.rdrMask = n > 0 && (n & (n - 1)) === 0 ? n - 1 : -1;
  }

  ring(hash: number): number {
    const r = this.topo.redirect;
    return this.rdrMask >= 0 ? r[hash & this.rdrMask] : r[(hash >>> 0) % r.length];
  }
}

export class Nic {
  private readonly t: Transport;
  private readonly c: string;
  private readonly maxFrame: number;
  private readonly nowUs: () => number;
  private readonly modOverride: Partial<ModerationConfig>;
  private readonly impairCfg: ImpairConfig | undefined;
  private readonly impairs = new Map<string, Impairment>();
  private readonly delayed = new Set<NodeJS.Timeout>();
  /** Batches held by a delay spike, per wire subject, in order; and when the spike periods began. */
  private readonly spikeHeld = new Map<string, Uint8Array[]>();
  private readonly spikeStart = performance.now();
  private ifs = new Map<string, NicIf>();
  /** Wire-in and TX subscriptions per interface name (stable across topology changes). */
  private readonly subs = new Map<string, Subscription[]>();
  /** Counters survive topology changes (keyed by interface name). */
  readonly stats = new Map<string, NicIfStats>();
  private readonly cursor = new FrameBatchCursor();
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private closed = false;

  constructor(o: NicOptions) {
    this.t = o.transport;
    this.c = o.cluster;
    this.maxFrame = o.maxFrame ?? NIC_MAX_FRAME_DEFAULT;
    this.nowUs = o.nowUs ?? (() => performance.now() * 1000);
    this.modOverride = o.moderation ?? {};
    if (o.impair) checkImpair(o.impair); // bad settings fail at construction, not on the first frame
    this.impairCfg = o.impair;
    this.setInterfaces(o.interfaces);
  }

  get interfaces(): InterfaceTopology[] {
    return [...this.ifs.values()].map((i) => i.topo);
  }

  /**
   * Installs (or replaces, on a topology change) the interfaces' steering state. The wire and
   * TX subscriptions of an interface that stays are kept (only its ring map changes), so no
   * frame is lost while the CPUs come and go; frames waiting for an interrupt are delivered
   * under the old map first.
   */
  setInterfaces(list: readonly InterfaceTopology[]): void {
    const keep = new Set(list.map((t) => t.ifname));
    for (const [ifname, i] of this.ifs) {
      this.flushAll(i);
      if (!keep.has(ifname)) {
        for (const sub of this.subs.get(ifname) ?? []) sub.unsubscribe();
        this.subs.delete(ifname);
      }
    }
    this.ifs = new Map();
    for (const topo of list) {
      const st = this.statsFor(topo.ifname, topo.rings);
      let intrRate = 8000;
      try {
        intrRate = nicModel(topo.model).intrRate;
      } catch {
        // unknown model name in a pushed topology: keep the ix default rate
      }
      const mod = { ...moderationFor(intrRate), ...this.modOverride };
      this.ifs.set(topo.ifname, new NicIf(topo, st, mod));
      if (this.closed || this.subs.has(topo.ifname)) continue;
      const ifname = topo.ifname;
      const txPrefix = subjects.tx(this.c, ifname, 0).slice(0, -1);
      this.subs.set(ifname, [
        this.t.subscribe(subjects.wireIn(this.c, ifname), (m) => {
          const nif = this.ifs.get(ifname);
          if (nif) this.wireIn(nif, m);
          else this.statsFor(ifname, 0).drop(NicDrop.notopology);
        }),
        this.t.subscribe(`${txPrefix}*`, (m) => {
          const ring = Number(m.subject.slice(txPrefix.length));
          if (Number.isInteger(ring) && ring >= 0 && ring < 4096) this.txIn(ifname, ring, m);
        }),
      ]);
    }
  }

  /** The counters of an interface, grown to at least `rings` rings (kept across topology changes). */
  private statsFor(ifname: string, rings: number): NicIfStats {
    let st = this.stats.get(ifname);
    if (!st || st.rxFrames.length < rings) {
      const fresh = new NicIfStats(Math.max(rings, st?.rxFrames.length ?? 0));
      if (st) {
        fresh.rxFrames.set(st.rxFrames);
        fresh.txFrames.set(st.txFrames);
        for (const [k, v] of st.dropped) fresh.dropped.set(k, v);
        fresh.rxBatches = st.rxBatches;
        fresh.interrupts = st.interrupts;
      }
      st = fresh;
      this.stats.set(ifname, st);
      const nif = this.ifs.get(ifname);
      if (nif) nif.stats = st;
    }
    return st;
  }

  /** A wire batch arrived from the link partner. */
  private wireIn(nif: NicIf, m: Msg): void {
    const c = this.cursor;
    const st = nif.stats;
    if (c.reset(m.data) !== null) {
      st.drop(NicDrop.badbatch);
      return;
    }
    if (nif.topo.rings === 0) {
      st.drop(NicDrop.notopology, c.count);
      return;
    }
    st.rxBatches++;
    const added = nif.added;
    const writers = nif.writers;
    const max = this.maxFrame;
    while (c.next()) {
      const len = c.length;
      if (len === 0) {
        st.drop(NicDrop.runt);
        continue;
      }
      if (len > max) {
        st.drop(NicDrop.oversize);
        continue;
      }
      // The hash is computed over the frame in place in the wire batch. A malformed frame's
      // checks may see the next frame's bytes (the bound is the batch's end): it still gets
      // some hash and a ring, and the netisr drops it with its reason.
      const h = ipPacketHash(c.buf, c.offset);
      const ring = nif.ring(h);
      let w = writers[ring];
      let at = w.reserve(len, h, 0);
      if (at < 0) {
        this.deliver(nif, ring);
        w = writers[ring];
        at = w.reserve(len, h, 0);
        if (at < 0) {
          st.drop(NicDrop.oversize);
          continue;
        }
      }
      const src = c.buf;
      const dst = w.buffer;
      const off = c.offset;
      if (len <= 256) for (let i = 0; i < len; i++) dst[at + i] = src[off + i];
      else dst.set(src.subarray(off, off + len), at);
      st.rxFrames[ring]++;
      added[ring]++;
    }
    const now = this.nowUs();
    for (let r = 0; r < added.length; r++) {
      const k = added[r];
      if (k === 0) continue;
      added[r] = 0;
      if (nif.mode === NicMode.polling) {
        this.deliver(nif, r);
        continue;
      }
      if (nif.mods[r].add(k, now) || nif.mods[r].due(now)) this.deliver(nif, r);
    }
    if (nif.mode === NicMode.interrupt) this.armTimer();
  }

  /** Publishes a ring's pending frames (the interrupt, or the DMA in polling mode). */
  private deliver(nif: NicIf, ring: number): void {
    const w = nif.writers[ring];
    nif.mods[ring].fire();
    if (w.count === 0) return;
    nif.stats.interrupts++;
    this.t.publish(subjects.rx(this.c, nif.topo.ifname, ring), takeExact(w), { transfer: true });
  }

  private flushAll(nif: NicIf): void {
    for (let r = 0; r < nif.writers.length; r++) if (nif.writers[r].count > 0) this.deliver(nif, r);
  }

  private armTimer(): void {
    if (this.timer !== undefined || this.immediate !== undefined || this.closed) return;
    const now = this.nowUs();
    let next = Infinity;
    for (const nif of this.ifs.values()) for (const m of nif.mods) next = Math.min(next, m.remaining(now));
    if (next === Infinity) return;
    if (next < 1000) {
      // Moderation intervals are sub-millisecond (8000 interrupts/s: 125 µs) and a timer
      // cannot wait less than 1 ms: check again once the event loop has done its I/O.
      this.immediate = setImmediate(() => {
        this.immediate = undefined;
        this.onTimer();
      });
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.onTimer();
    }, Math.ceil(next / 1000));
  }

  private onTimer(): void {
    const now = this.nowUs();
    for (const nif of this.ifs.values()) {
      for (let r = 0; r < nif.mods.length; r++) if (nif.mods[r].due(now)) this.deliver(nif, r);
    }
    this.armTimer();
  }

  /** A TX ring batch from a CPU: out on the wire as is (through the link's impairments, if any). */
  private txIn(ifname: string, ring: number, m: Msg): void {
    const st = this.statsFor(ifname, ring + 1);
    if (validateFrameBatch(m.data) !== null) {
      st.drop(NicDrop.badbatch);
      return;
    }
    st.txFrames[ring] += frameBatchCount(m.data);
    const subject = subjects.wireOut(this.c, ifname);
    const imp = this.impairment(ifname);
    if (!imp) {
      this.t.publish(subject, m.data, { transfer: true });
      return;
    }
    const { batch, lost } = imp.apply(m.data);
    if (lost > 0) st.drop(NicDrop.impair_loss, lost);
    if (frameBatchCount(batch) === 0) return;
    if (this.spikeHold(subject, imp, batch)) return;
    if (imp.cfg.delayMs <= 0) {
      this.t.publish(subject, batch, { transfer: true });
      return;
    }
    const timer = setTimeout(() => {
      this.delayed.delete(timer);
      if (!this.closed) this.t.publish(subject, batch, { transfer: true });
    }, imp.cfg.delayMs);
    this.delayed.add(timer);
  }

  /**
   * During a delay spike the batch waits, behind those held before it, for the spike's end;
   * true when held. A batch sent while earlier ones are still held waits too (the link keeps order).
   */
  private spikeHold(subject: string, imp: Impairment, batch: Uint8Array): boolean {
    const now = performance.now();
    const end = imp.spikeEnd(now, this.spikeStart);
    const q = this.spikeHeld.get(subject);
    if (end === 0 && !q) return false;
    if (q) {
      q.push(batch);
      return true;
    }
    const held = [batch];
    this.spikeHeld.set(subject, held);
    const timer = setTimeout(() => {
      this.delayed.delete(timer);
      this.spikeHeld.delete(subject);
      if (!this.closed) for (const b of held) this.t.publish(subject, b, { transfer: true });
    }, Math.max(1, Math.ceil(end - now)));
    this.delayed.add(timer);
    return true;
  }

  private impairment(ifname: string): Impairment | undefined {
    if (!this.impairCfg) return undefined;
    let imp = this.impairs.get(ifname);
    if (!imp) {
      const unit = Number(/(\d+)$/.exec(ifname)?.[1] ?? 0);
      imp = new Impairment({ ...this.impairCfg, seed: ((this.impairCfg.seed ?? 1) + unit * 0x9e3779b1) >>> 0 });
      this.impairs.set(ifname, imp);
    }
    return imp.active ? imp : undefined;
  }

  /** Counts a drop seen before the NIC's own path (a TUN wire's malformed packets). */
  countDrop(ifname: string, reason: NicDropReason, n = 1): void {
    this.statsFor(ifname, 0).drop(reason, n);
  }

  /** Delivers everything pending now (tests; shutdown). */
  flush(): void {
    for (const nif of this.ifs.values()) this.flushAll(nif);
  }

  close(): void {
    this.flush();
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.immediate = undefined;
    for (const t of this.delayed) clearTimeout(t);
    this.delayed.clear();
    this.timer = undefined;
    for (const subs of this.subs.values()) for (const sub of subs) sub.unsubscribe();
    this.subs.clear();
  }

  /** Snapshot for reports and stats replies. */
  snapshot(): Record<string, { rx: number[]; tx: number[]; dropped: Record<string, number>; interrupts: number }> {
    const out: Record<string, { rx: number[]; tx: number[]; dropped: Record<string, number>; interrupts: number }> = {};
    for (const [name, s] of this.stats) {
      out[name] = { rx: [...s.rxFrames], tx: [...s.txFrames], dropped: Object.fromEntries(s.dropped), interrupts: s.interrupts };
    }
    return out;
  }

}
