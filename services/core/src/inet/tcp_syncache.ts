/**
 * The per-CPU TCP SYN cache, as DragonFly's sys/netinet/tcp_syncache.c.
 *
 * A SYN for a listener makes an entry on the CPU that received it (its hash
 * CPU) holding the chosen listener (`sc_tp`); the SYN|ACK is retransmitted on
 * DragonFly's syncache backoff — slot s waits TCPTV_RTOBASE × backoff[s] with
 * backoff {1,1,2,4,8,…} (low_rtobase) — so SYN|ACKs go out at 0, 1, 2 and 4 s
 * and the entry expires at 8 s (SYNCACHE_MAXREXMTS = 3). The final ACK turns
 * the entry into a connection: a PCB on this CPU, an ESTABLISHED TCB built by
 * the engine's `attach` callback, queued at the tail of the listener's accept
 * queue — unless the queue is over `3 × so_qlimit / 2` (counted:
 * tcps_listendrop, tcps_sc_aborted; no RST, the peer's retransmitted ACK will
 * get one).
 *
 * The cache never builds or sends segments. `add` returns the entry (the
 * engine sends its SYN|ACK), `timer(now)` returns the entries whose SYN|ACK
 * the engine must resend, `expand` says whether the engine must answer with a
 * RST. Time is milliseconds on any monotonic clock the caller chooses.
 *
 * Listener close (reuseport.ts): DragonFly re-points a closing member's
 * entries to its heir on every CPU (`syncache_destroy(tp, tp_inh)`); with no
 * heir, or under Linux's original policy, they are dropped (here at once,
 * where DragonFly leaves `sc_tp = NULL` for the next timer run to drop as
 * stale). Under tcp_migrate_req they stay on the closed listener and migrate
 * to a random live member when the SYN|ACK is retransmitted or the final ACK
 * arrives (Linux's migration points 2 and 3), counted as
 * TcpMigrateReqSuccess / TcpMigrateReqFailure.
 *
 * A SYN that overflows a bucket or the cache evicts the oldest entry, as
 * DragonFly does; with `syncookies` (net.inet.tcp.syncookies, on) every
 * SYN|ACK's ISS is a cookie (tcp_syncookie.ts), so the evicted entry's final
 * ACK still makes its connection (`expand` with a cookie request:
 * tcps_sc_recvcookie).
 * Bounds: TCP_SYNCACHE_HASHSIZE buckets × TCP_SYNCACHE_BUCKETLIMIT entries.
 */
import { INP, InpcbAddrInUseError, InpcbStateError, InpcbWrongCpuError, type Inpcb, type InpcbHost } from "./in_pcb.js";
import { ListenerPolicy, soqAdmits, soqinsque, type ListenSocket } from "./so_listen.js";
import { reuseportMigrateSelect } from "./reuseport.js";
import { SYNCOOKIE_TIMEOUT_MS, SynCookieJar, type SynCookie } from "./tcp_syncookie.js";

/** SYN|ACK retransmissions before an entry expires. */
export const SYNCACHE_MAXREXMTS = 3;
/** Buckets per CPU (a power of 2). */
export const TCP_SYNCACHE_HASHSIZE = 512;
/** Entries per bucket; a full bucket drops its oldest entry. */
export const TCP_SYNCACHE_BUCKETLIMIT = 30;
/** `TCPTV_RTOBASE` with net.inet.tcp.low_rtobase=1: 1 s. */
export const TCPTV_RTOBASE_MS = 1000;
/** `tcp_backoff[]` with low_rtobase=1 (tcp_timer.c): the syncache uses slots 0..3. */
export const TCP_SYN_BACKOFF: readonly number[] = [1, 1, 2, 4, 8, 8, 16, 16, 32, 64, 64, 64, 64];

/** BSD `tcpstat` syncache counters of one CPU. */
export interface SyncacheStats {
  sc_added: number;
  sc_retransmitted: number;
  sc_dupsyn: number;
  sc_dropped: number;
  sc_completed: number;
  sc_bucketoverflow: number;
  sc_cacheoverflow: number;
  sc_reset: number;
  sc_stale: number;
  sc_aborted: number;
  sc_badack: number;
  sc_unreach: number;
  /** Entries re-pointed to a closing listener's heir. */
  sc_inherited: number;
  /** sonewconn refused: the listener's queue was over 3 × qlimit / 2. */
  listendrop: number;
  /** SYN|ACKs sent with a cookie as ISS. */
  sc_sendcookie: number;
  /** Connections made from a valid cookie (no entry left). */
  sc_recvcookie: number;
}

function newSyncacheStats(): SyncacheStats {
  return {
    sc_added: 0,
    sc_retransmitted: 0,
    sc_dupsyn: 0,
    sc_dropped: 0,
    sc_completed: 0,
    sc_bucketoverflow: 0,
    sc_cacheoverflow: 0,
    sc_reset: 0,
    sc_stale: 0,
    sc_aborted: 0,
    sc_badack: 0,
    sc_unreach: 0,
    sc_inherited: 0,
    listendrop: 0,
    sc_sendcookie: 0,
    sc_recvcookie: 0,
  };
}

/** `struct syncache`. `O` is whatever the engine keeps to build the SYN|ACK and the TCB (options, MSS, wscale, timestamps). */
export class SyncacheEntry<O = unknown, P = unknown> {
  /** Retransmit slot: the entry waits rtoBase × backoff[rxtslot]. */
  rxtslot = 0;
  /** When the current slot expires (ms). */
  rxttime = 0;
  /** Time spent waiting on SYN|ACK retransmits so far (ms), DragonFly's sc_rxtused → t_rxtsyn. */
  rxtused = 0;
  /** One ICMP unreachable already seen (SCF_UNREACH). */
  unreach = false;
  /** @internal timer queue links */
  tqPrev: SyncacheEntry<O, P> | null = null;
  /** @internal */
  tqNext: SyncacheEntry<O, P> | null = null;
  /** @internal */
  bucket = 0;

  constructor(
    readonly cpu: number,
    readonly faddr: number,
    readonly fport: number,
    readonly laddr: number,
    readonly lport: number,
    /** 16-bit Toeplitz hash of the 4-tuple. */
    readonly hash: number,
    /** Our initial sequence number. */
    readonly iss: number,
    /** The peer's initial sequence number (the SYN's seq). */
    readonly irs: number,
    /** Receive window offered in the SYN|ACK. */
    readonly wnd: number,
    public opts: O,
    /** `sc_tp`: the listener the completed connection will be queued on. */
    public listener: ListenSocket<P> | null,
  ) {}
}

export interface SyncacheAddRequest<O, P> {
  faddr: number;
  fport: number;
  laddr: number;
  lport: number;
  /** The packet's 16-bit hash if known (m_pkthdr.hash); computed otherwise. */
  hash?: number;
  listener: ListenSocket<P>;
  iss: number;
  irs: number;
  wnd: number;
  opts: O;
}

export const SyncacheExpandKind = {
  /** No entry: answer the ACK with a RST. */
  NONE: "none",
  /** th_ack ≠ iss + 1: answer with a RST; the entry stays. */
  BADACK: "badack",
  /** Handshake done: `inp` is on the listener's accept queue. */
  COMPLETED: "completed",
  /** The listener's queue is full: entry dropped, no RST. */
  OVERFLOW: "overflow",
  /** The entry's listener is gone: entry dropped, RST. */
  STALE: "stale",
  /** tcp_migrate_req found no live listener: entry dropped, RST. */
  MIGRATE_FAILED: "migrate_failed",
  /** The 4-tuple is already connected on this CPU, or the engine refused the TCB: entry dropped, RST. */
  ABORTED: "aborted",
} as const;
export type SyncacheExpandKind = (typeof SyncacheExpandKind)[keyof typeof SyncacheExpandKind];

export type SyncacheExpandResult<O, P> =
  | { kind: "none"; reset: true }
  | { kind: "badack"; reset: true; entry: SyncacheEntry<O, P> }
  | { kind: "completed"; reset: false; entry: SyncacheEntry<O, P>; inp: Inpcb<P>; listener: ListenSocket<P> }
  | { kind: "overflow"; reset: false; entry: SyncacheEntry<O, P>; listener: ListenSocket<P> }
  | { kind: "stale" | "migrate_failed" | "aborted"; reset: true; entry: SyncacheEntry<O, P> };

/** What `expand` needs to make a connection from a cookie when no entry is left. */
export interface SyncacheCookieRequest<O, P> {
  /** The ACK's sequence number (the peer's ISN + 1). */
  seq: number;
  /** The listener the PCB lookup found for the ACK. */
  listener: ListenSocket<P>;
  now: number;
  /** The entry's options from the cookie's content (ISNs, MSS; no other option). */
  opts(c: SynCookie): O;
}

export interface SyncacheTimerResult<O, P> {
  /** Resend these entries' SYN|ACK now. */
  retransmit: SyncacheEntry<O, P>[];
  /** Expired or stale; already removed. */
  dropped: SyncacheEntry<O, P>[];
}

export interface SyncacheOptions {
  /** TCPTV_RTOBASE in ms (default 1000). */
  rtoBaseMs?: number;
  /** `net.inet.tcp.syncache.rexmtlimit` (default and maximum SYNCACHE_MAXREXMTS). */
  rexmtLimit?: number;
  /** Bucket count, a power of 2 (default 512). */
  hashSize?: number;
  /** Entries per bucket (default 30). */
  bucketLimit?: number;
  /** Entries on this CPU (default hashSize × bucketLimit). */
  cacheLimit?: number;
}

/** Bad syncache configuration. */
export class SyncacheConfigError extends Error {
  override readonly name = "SyncacheConfigError";
  constructor(
    readonly field: string,
    readonly value: unknown,
    why: string,
  ) {
    super(`syncache ${field} ${String(value)}: ${why}`);
  }
}

function seqGeq(a: number, b: number): boolean {
  return ((a - b) | 0) >= 0;
}
function seqLeq(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}

/** `tcp_syncache_percpu[cpu]`. */
export class TcpSyncache<O = unknown, P = unknown> {
  readonly stats: SyncacheStats = newSyncacheStats();
  /** `cache_count`. */
  count = 0;
  readonly rtoBaseMs: number;
  readonly rexmtLimit: number;
  readonly hashSize: number;
  readonly bucketLimit: number;
  readonly cacheLimit: number;
  private readonly buckets: SyncacheEntry<O, P>[][];
  private readonly tqHead: (SyncacheEntry<O, P> | null)[] = [];
  private readonly tqTail: (SyncacheEntry<O, P> | null)[] = [];
  private readonly secret: number;
  /** net.inet.tcp.syncookies. */
  syncookies = true;
  /** `tcp_secret[]` of this CPU. */
  readonly cookies = new SynCookieJar();
  /** When each listener last lost an entry to an overflow (DragonFly's `ts_recent` of the listen tcpcb). */
  private readonly overflowedAt = new WeakMap<ListenSocket<P>, number>();

  constructor(
    readonly host: InpcbHost<P>,
    readonly cpu: number,
    opts: SyncacheOptions = {},
  ) {
    if (!Number.isInteger(cpu) || cpu < 0 || cpu >= host.ncpus) throw new SyncacheConfigError("cpu", cpu, `not in 0..${host.ncpus - 1}`);
    this.rtoBaseMs = opts.rtoBaseMs ?? TCPTV_RTOBASE_MS;
    if (!(this.rtoBaseMs > 0)) throw new SyncacheConfigError("rtoBaseMs", this.rtoBaseMs, "must be > 0");
    this.rexmtLimit = opts.rexmtLimit ?? SYNCACHE_MAXREXMTS;
    if (!Number.isInteger(this.rexmtLimit) || this.rexmtLimit < 0) {
      throw new SyncacheConfigError("rexmtLimit", this.rexmtLimit, "must be a non-negative integer");
    }
    this.hashSize = opts.hashSize ?? TCP_SYNCACHE_HASHSIZE;
    if (!Number.isInteger(this.hashSize) || this.hashSize < 1 || (this.hashSize & (this.hashSize - 1)) !== 0) {
      throw new SyncacheConfigError("hashSize", this.hashSize, "must be a power of 2");
    }
    this.bucketLimit = opts.bucketLimit ?? TCP_SYNCACHE_BUCKETLIMIT;
    if (!Number.isInteger(this.bucketLimit) || this.bucketLimit < 1) {
      throw new SyncacheConfigError("bucketLimit", this.bucketLimit, "must be a positive integer");
    }
    this.cacheLimit = opts.cacheLimit ?? this.hashSize * this.bucketLimit;
    if (!Number.isInteger(this.cacheLimit) || this.cacheLimit < 1) {
      throw new SyncacheConfigError("cacheLimit", this.cacheLimit, "must be a positive integer");
    }
    this.buckets = Array.from({ length: this.hashSize }, () => []);
    for (let s = 0; s <= SYNCACHE_MAXREXMTS; s++) {
      this.tqHead.push(null);
      this.tqTail.push(null);
    }
    this.secret = Math.floor(host.random() * 0x100000000) >>> 0;
  }

  /** `SYNCACHE_HASH`. */
  private bucketOf(faddr: number, fport: number, lport: number): number {
    return (this.secret ^ faddr ^ (faddr >>> 16) ^ fport ^ lport) & (this.hashSize - 1);
  }

  /** `syncache_lookup`. */
  lookup(faddr: number, fport: number, laddr: number, lport: number): SyncacheEntry<O, P> | undefined {
    for (const sc of this.buckets[this.bucketOf(faddr, fport, lport)]) {
      if (sc.faddr === faddr && sc.fport === fport && sc.laddr === laddr && sc.lport === lport) return sc;
    }
    return undefined;
  }

  // ---- timer queues ----

  private tqRemove(sc: SyncacheEntry<O, P>): void {
    const s = sc.rxtslot;
    if (sc.tqPrev) sc.tqPrev.tqNext = sc.tqNext;
    else this.tqHead[s] = sc.tqNext;
    if (sc.tqNext) sc.tqNext.tqPrev = sc.tqPrev;
    else this.tqTail[s] = sc.tqPrev;
    sc.tqPrev = sc.tqNext = null;
  }

  /** `syncache_timeout`: wait rtoBase × backoff[slot] from now, at the tail of the slot's queue. */
  private timeout(sc: SyncacheEntry<O, P>, slot: number, now: number): void {
    sc.rxtslot = slot;
    sc.rxttime = now + this.rtoBaseMs * TCP_SYN_BACKOFF[slot];
    sc.tqNext = null;
    sc.tqPrev = this.tqTail[slot];
    if (sc.tqPrev) sc.tqPrev.tqNext = sc;
    else this.tqHead[slot] = sc;
    this.tqTail[slot] = sc;
  }

  /** `syncache_drop`: out of its bucket and timer queue. */
  drop(sc: SyncacheEntry<O, P>): void {
    const b = this.buckets[sc.bucket];
    const i = b.indexOf(sc);
    if (i < 0) return;
    b.splice(i, 1);
    this.tqRemove(sc);
    this.count--;
    this.stats.sc_dropped++;
    sc.listener = null;
  }

  /**
   * `syncache_add`: a SYN for `req.listener` (already chosen by the local
   * group lookup on this CPU). A SYN for an existing entry is a duplicate
   * (tcps_sc_dupsyn): the entry picks up the listener and restarts its
   * current slot; resend its SYN|ACK.
   */
  add(req: SyncacheAddRequest<O, P>, now: number): { entry: SyncacheEntry<O, P>; dup: boolean } {
    const hash = req.hash ?? this.host.hashOf(req.faddr, req.fport, req.laddr, req.lport);
    const owner = this.host.hashcpu(hash);
    if (owner !== this.cpu) throw new InpcbWrongCpuError(this.cpu, owner, "SYN processed");
    if (!req.listener.listening) throw new InpcbStateError(`SYN for listener ${req.listener.id}, which is closed`);
    const old = this.lookup(req.faddr, req.fport, req.laddr, req.lport);
    if (old) {
      this.stats.sc_dupsyn++;
      old.listener = req.listener;
      this.tqRemove(old);
      this.timeout(old, old.rxtslot, now);
      return { entry: old, dup: true };
    }
    const bi = this.bucketOf(req.faddr, req.fport, req.lport);
    const bucket = this.buckets[bi];
    if (bucket.length >= this.bucketLimit) {
      this.evict(bucket[0], now);
      this.stats.sc_bucketoverflow++;
    } else if (this.count >= this.cacheLimit) {
      for (let s = SYNCACHE_MAXREXMTS; s >= 0; s--) {
        const oldest = this.tqHead[s];
        if (oldest) {
          this.evict(oldest, now);
          break;
        }
      }
      this.stats.sc_cacheoverflow++;
    }
    const sc = new SyncacheEntry<O, P>(
      this.cpu,
      req.faddr,
      req.fport,
      req.laddr,
      req.lport,
      hash,
      req.iss >>> 0,
      req.irs >>> 0,
      req.wnd,
      req.opts,
      req.listener,
    );
    sc.bucket = bi;
    this.timeout(sc, 0, now);
    bucket.push(sc);
    this.count++;
    this.stats.sc_added++;
    return { entry: sc, dup: false };
  }

  /** Drops an entry for room, noting that its listener overflowed (cookies for it are accepted for a while). */
  private evict(sc: SyncacheEntry<O, P>, now: number): void {
    if (sc.listener) this.overflowedAt.set(sc.listener, now);
    this.drop(sc);
  }

  /** The ISS for a SYN: a cookie when syncookies are on (counted), else undefined (the caller's own ISS). */
  cookieIss(faddr: number, fport: number, laddr: number, lport: number, irs: number, peerMss: number, now: number): number | undefined {
    if (!this.syncookies) return undefined;
    this.stats.sc_sendcookie++;
    return this.cookies.generate(laddr, lport, faddr, fport, irs >>> 0, peerMss, now);
  }

  /** `syncookie_lookup` for an ACK with no entry: a transient entry from a valid cookie, or undefined. */
  private fromCookie(faddr: number, fport: number, laddr: number, lport: number, ack: number, c: SyncacheCookieRequest<O, P>): SyncacheEntry<O, P> | undefined {
    if (!this.syncookies) return undefined;
    const at = this.overflowedAt.get(c.listener);
    if (at === undefined || at + SYNCOOKIE_TIMEOUT_MS < c.now) return undefined;
    const k = this.cookies.lookup(laddr, lport, faddr, fport, c.seq, ack, c.now);
    if (!k) return undefined;
    this.stats.sc_recvcookie++;
    const hash = this.host.hashOf(faddr, fport, laddr, lport);
    return new SyncacheEntry<O, P>(this.cpu, faddr, fport, laddr, lport, hash, k.iss, k.irs, 0, c.opts(k), c.listener);
  }

  /**
   * The entry's listener, after tcp_migrate_req if it was closed under that
   * policy; null when there is none (the caller drops the entry).
   */
  private liveListener(sc: SyncacheEntry<O, P>): ListenSocket<P> | null {
    const ls = sc.listener;
    if (!ls) return null;
    if (ls.listening) return ls;
    if (!ls.migrateReq) return null;
    const st = this.host.stats[this.cpu];
    const to = reuseportMigrateSelect(this.host, this.cpu, ls, sc);
    if (to) {
      st.TcpMigrateReqSuccess++;
      st.listenerMigrations[ListenerPolicy.LINUX_MIGRATE_REQ].syncache_moved++;
      sc.listener = to;
      return to;
    }
    st.TcpMigrateReqFailure++;
    st.listenerMigrations[ListenerPolicy.LINUX_MIGRATE_REQ].syncache_dropped++;
    return null;
  }

  /**
   * `syncache_expand`: an ACK (no SYN) for laddr:lport with no connection.
   * `attach(entry, inp)` builds the ESTABLISHED TCB for the new PCB (already
   * in this CPU's exact hash); it becomes `inp.ppcb` and the PCB goes to the
   * tail of the listener's accept queue. If `attach` returns null (the engine
   * could not establish it) the PCB is removed, the entry dropped
   * (tcps_sc_aborted) and the result is "aborted" (RST); if it throws, the
   * same cleanup happens and the error is rethrown. With no entry, `cookie`
   * (when given) lets a valid SYN cookie stand in for it.
   */
  expand(
    faddr: number,
    fport: number,
    laddr: number,
    lport: number,
    ack: number,
    attach: (entry: SyncacheEntry<O, P>, inp: Inpcb<P>) => P | null,
    cookie?: SyncacheCookieRequest<O, P>,
  ): SyncacheExpandResult<O, P> {
    const sc = this.lookup(faddr, fport, laddr, lport) ?? (cookie ? this.fromCookie(faddr, fport, laddr, lport, ack, cookie) : undefined);
    if (!sc) return { kind: SyncacheExpandKind.NONE, reset: true };
    if (ack >>> 0 !== (sc.iss + 1) >>> 0) return { kind: SyncacheExpandKind.BADACK, reset: true, entry: sc };
    const wasMigrating = sc.listener !== null && !sc.listener.listening;
    const ls = this.liveListener(sc);
    if (!ls) {
      this.drop(sc);
      if (wasMigrating) return { kind: SyncacheExpandKind.MIGRATE_FAILED, reset: true, entry: sc };
      this.stats.sc_stale++;
      return { kind: SyncacheExpandKind.STALE, reset: true, entry: sc };
    }
    if (!soqAdmits(ls)) {
      this.stats.listendrop++;
      this.stats.sc_aborted++;
      ls.overflows++;
      this.drop(sc);
      return { kind: SyncacheExpandKind.OVERFLOW, reset: false, entry: sc, listener: ls };
    }
    let inp: Inpcb<P>;
    try {
      inp = this.host.allocConnected(this.cpu, laddr, lport, faddr, fport);
    } catch (err) {
      if (!(err instanceof InpcbAddrInUseError)) throw err;
      this.stats.sc_aborted++;
      this.drop(sc);
      return { kind: SyncacheExpandKind.ABORTED, reset: true, entry: sc };
    }
    let tcb: P | null;
    try {
      tcb = attach(sc, inp);
    } catch (err) {
      this.host.detach(inp);
      this.stats.sc_aborted++;
      this.drop(sc);
      throw err;
    }
    if (tcb === null) {
      this.host.detach(inp);
      this.stats.sc_aborted++;
      this.drop(sc);
      return { kind: SyncacheExpandKind.ABORTED, reset: true, entry: sc };
    }
    inp.ppcb = tcb;
    this.drop(sc);
    this.stats.sc_completed++;
    soqinsque(ls, inp);
    return { kind: SyncacheExpandKind.COMPLETED, reset: false, entry: sc, inp, listener: ls };
  }

  /**
   * `syncache_timer_handler` for every slot: entries whose slot expired are
   * dropped after the last retransmit (tcps_sc_stale) or when their listener
   * is gone, otherwise returned for a SYN|ACK retransmit and moved to the next
   * slot (tcps_sc_retransmitted).
   */
  timer(now: number): SyncacheTimerResult<O, P> {
    const out: SyncacheTimerResult<O, P> = { retransmit: [], dropped: [] };
    for (let slot = 0; slot <= SYNCACHE_MAXREXMTS; slot++) {
      for (let sc = this.tqHead[slot]; sc && sc.rxttime <= now; sc = this.tqHead[slot]) {
        if (slot === SYNCACHE_MAXREXMTS || slot >= this.rexmtLimit || !this.liveListener(sc)) {
          this.drop(sc);
          this.stats.sc_stale++;
          out.dropped.push(sc);
          continue;
        }
        this.tqRemove(sc);
        sc.rxtused += this.rtoBaseMs * TCP_SYN_BACKOFF[slot];
        this.timeout(sc, slot + 1, now);
        this.stats.sc_retransmitted++;
        out.retransmit.push(sc);
      }
    }
    return out;
  }

  /** When `timer` next has work (ms), or undefined when the cache is empty. */
  nextTimeout(): number | undefined {
    let t: number | undefined;
    for (const sc of this.tqHead) if (sc && (t === undefined || sc.rxttime < t)) t = sc.rxttime;
    return t;
  }

  /** `syncache_chkrst`: a RST with seq in [irs, irs + wnd] removes the entry. True if it did. */
  chkrst(faddr: number, fport: number, laddr: number, lport: number, seq: number): boolean {
    const sc = this.lookup(faddr, fport, laddr, lport);
    if (!sc) return false;
    if (seqGeq(seq, sc.irs) && seqLeq(seq, (sc.irs + sc.wnd) >>> 0)) {
      this.drop(sc);
      this.stats.sc_reset++;
      return true;
    }
    return false;
  }

  /** `syncache_badack`: drop the entry (the engine got an unacceptable ACK for it). */
  badack(faddr: number, fport: number, laddr: number, lport: number): boolean {
    const sc = this.lookup(faddr, fport, laddr, lport);
    if (!sc) return false;
    this.drop(sc);
    this.stats.sc_badack++;
    return true;
  }

  /**
   * `syncache_unreach`: an ICMP unreachable quoting our SYN|ACK (seq = iss).
   * The first one only marks the entry; it is dropped on a later one after
   * the third retransmit.
   */
  unreach(faddr: number, fport: number, laddr: number, lport: number, seq: number): boolean {
    const sc = this.lookup(faddr, fport, laddr, lport);
    if (!sc || seq >>> 0 !== sc.iss) return false;
    if (!sc.unreach || sc.rxtslot < 3) {
      sc.unreach = true;
      return false;
    }
    this.drop(sc);
    this.stats.sc_unreach++;
    return true;
  }

  /** Every entry (timer-queue order, slot 0 first). */
  *entries(): IterableIterator<SyncacheEntry<O, P>> {
    for (let s = 0; s <= SYNCACHE_MAXREXMTS; s++) {
      for (let sc = this.tqHead[s]; sc; sc = sc.tqNext) yield sc;
    }
  }

  /** Entries bound to `ls`. */
  entriesOf(ls: ListenSocket<P>): SyncacheEntry<O, P>[] {
    const out: SyncacheEntry<O, P>[] = [];
    for (const sc of this.entries()) if (sc.listener === ls) out.push(sc);
    return out;
  }

  /** `syncache_destroy(tp, tp_inh)` with an heir: re-point `ls`'s entries to `heir`. Returns how many. */
  inherit(ls: ListenSocket<P>, heir: ListenSocket<P>): number {
    if (!(heir.inp.flags & INP.WILDCARD) || !heir.listening) throw new InpcbStateError(`heir listener ${heir.id} is not listening`);
    let n = 0;
    for (const sc of this.entries()) {
      if (sc.listener !== ls) continue;
      sc.listener = heir;
      n++;
    }
    this.stats.sc_inherited += n;
    return n;
  }

  /** Drop every entry bound to `ls` (no heir, or Linux's original policy). Counted as stale. Returns them. */
  dropListener(ls: ListenSocket<P>): SyncacheEntry<O, P>[] {
    const gone = this.entriesOf(ls);
    for (const sc of gone) {
      this.drop(sc);
      this.stats.sc_stale++;
    }
    return gone;
  }
}
