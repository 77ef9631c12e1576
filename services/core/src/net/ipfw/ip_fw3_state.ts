// ipfw dynamic states (DragonFly's sys/net/ipfw3/ip_fw3_state.c; lifetimes and the TCP flag walk of ip_fw2.c's dyn rules).
// One table per CPU: symmetric RSS puts both directions of a flow on one CPU, so the CPU that created a state is the only
// one that ever looks it up, with no lock. The table is typed arrays (a chained hash, entries on a free list), so it
// can also live in a SharedArrayBuffer shared by every CPU's thread, with per-bucket-stripe spin locks: the "one
// global table with per-bucket locks" design (Linux conntrack) that the benchmark measures against.

/** ipfw's sysctl lifetimes, seconds (net.inet.ip.fw.dyn_*_lifetime). */
export const IPFW_DYN_LIFETIME = { syn: 20, ack: 300, fin: 1, rst: 1, udp: 10, short: 5 } as const;

const TH_FIN = 0x01;
const TH_SYN = 0x02;
const TH_RST = 0x04;
const TH_FLAGS = TH_FIN | TH_SYN | TH_RST;
const BOTH_SYN = TH_SYN | (TH_SYN << 8);
const BOTH_FIN = TH_FIN | (TH_FIN << 8);
const TCP_FLAGS = TH_FLAGS | (TH_FLAGS << 8);

/** Bit of `tcp[]`: the creating packet went a→b (the canonical order), else b→a. */
const ST_FWD_AB = 1 << 16;
/** Bit of `tcp[]`: the state counts against its source's `limit`. */
const ST_LIMITED = 1 << 17;

const NIL = -1;
/** Header words: count, free list head, allocation lock. */
const H_COUNT = 0;
const H_FREE = 1;
const H_LOCK = 2;
const H_WORDS = 4;
const STRIPES = 1024;
/** An entry's words: next, a, b, ports, proto, expire, tcp (flags seen and ST_* bits), rule. */
const E = 8;
const NEXT = 0;
const KA = 1;
const KB = 2;
const KP = 3;
const KPROTO = 4;
const EXPIRE = 5;
const TCP = 6;
const RULE = 7;

/** One state as it crosses CPUs in a live-rescale hand-over. */
export interface IpfwStateRecord {
  a: number;
  b: number;
  ports: number;
  proto: number;
  /** Seconds left to live. */
  ttl: number;
  tcp: number;
  rule: number;
  src: number;
}

export interface IpfwStateTableOptions {
  /** Most states (net.inet.ip.fw.dyn_max). */
  max: number;
  /** Share one table between threads: a SharedArrayBuffer from `IpfwStateTable.sharedBuffer` (locks on). */
  shared?: SharedArrayBuffer;
}

function bucketsFor(max: number): number {
  let nb = 1024;
  while (nb < max) nb <<= 1;
  return nb;
}

function words(max: number): number {
  // header, heads, locks, the entries (E words each, one cache line or less), sources.
  return H_WORDS + bucketsFor(max) + STRIPES + E * max + max;
}

/** Canonical key of a packet: (a, b, ports, fwd) with a ≤ b so both directions meet one entry. Fills `k`, returns it. */
export function ipfwStateKey(k: Int32Array, src: number, dst: number, sport: number, dport: number): Int32Array {
  if (src >>> 0 < dst >>> 0 || (src === dst && sport <= dport)) {
    k[0] = src | 0;
    k[1] = dst | 0;
    k[2] = ((sport << 16) | dport) | 0;
    k[3] = 1;
  } else {
    k[0] = dst | 0;
    k[1] = src | 0;
    k[2] = ((dport << 16) | sport) | 0;
    k[3] = 0;
  }
  return k;
}

function mix(a: number, b: number, ports: number, proto: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ b, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16) ^ ports, 0x27d4eb2f);
  h ^= proto;
  return h ^ (h >>> 15);
}

export class IpfwStateTable {
  readonly max: number;
  readonly shared: boolean;
  private readonly mask: number;
  private readonly hdr: Int32Array;
  private readonly heads: Int32Array;
  private readonly locks: Int32Array;
  /** Entries, E words each (entry e at e * E). */
  private readonly ent: Int32Array;
  private readonly src: Int32Array;
  private sweepAt = 0;

  /** A SharedArrayBuffer sized for `max` states, for `{ shared }` tables in several threads. */
  static sharedBuffer(max: number): SharedArrayBuffer {
    const sab = new SharedArrayBuffer(words(max) * 4);
    IpfwStateTable.init(new Int32Array(sab), max);
    return sab;
  }

  private static init(w: Int32Array, max: number): void {
    const nb = bucketsFor(max);
    w.fill(NIL, H_WORDS, H_WORDS + nb);
    w[H_COUNT] = 0;
    w[H_FREE] = max > 0 ? 0 : NIL;
    const ent = H_WORDS + nb + STRIPES;
    for (let i = 0; i < max; i++) w[ent + i * E + NEXT] = i + 1 < max ? i + 1 : NIL;
  }

  constructor(o: IpfwStateTableOptions) {
    if (!Number.isInteger(o.max) || o.max < 1 || o.max > 1 << 24) throw new RangeError(`ipfw state max ${o.max}: want 1..${1 << 24}`);
    this.max = o.max;
    this.shared = o.shared !== undefined;
    const nb = bucketsFor(o.max);
    this.mask = nb - 1;
    let w: Int32Array;
    if (o.shared) {
      if (o.shared.byteLength !== words(o.max) * 4) throw new RangeError("ipfw shared state buffer does not match max");
      w = new Int32Array(o.shared);
    } else {
      w = new Int32Array(words(o.max));
      IpfwStateTable.init(w, o.max);
    }
    let at = 0;
    const view = (n: number) => {
      const v = w.subarray(at, at + n);
      at += n;
      return v;
    };
    this.hdr = view(H_WORDS);
    this.heads = view(nb);
    this.locks = view(STRIPES);
    this.ent = view(E * o.max);
    this.src = view(o.max);
  }

  /** States held. */
  get size(): number {
    return this.shared ? Atomics.load(this.hdr, H_COUNT) : this.hdr[H_COUNT];
  }

  private lock(l: Int32Array, i: number): void {
    while (Atomics.compareExchange(l, i, 0, 1) !== 0) {
      /* spin: critical sections are a few dozen instructions */
    }
  }

  private unlock(l: Int32Array, i: number): void {
    Atomics.store(l, i, 0);
  }

  private bucket(a: number, b: number, ports: number, proto: number): number {
    return mix(a, b, ports, proto) & this.mask;
  }

  /**
   * Finds the state of key `k` (from `ipfwStateKey`) and walks its TCP flags and lifetime as ipfw's dyn rules do.
   * Returns the state's rule number, 0 when there is none, or -1 when it had expired (removed now; `onExpire` counts it).
   */
  lookup(k: Int32Array, proto: number, thflags: number, now: number): number {
    const a = k[0];
    const b = k[1];
    const p = k[2];
    const bk = this.bucket(a, b, p, proto);
    const s = bk & (STRIPES - 1);
    if (this.shared) this.lock(this.locks, s);
    let prev = NIL;
    let e = this.heads[bk];
    while (e !== NIL) {
      if (this.ent[e * E + KA] === a && this.ent[e * E + KB] === b && this.ent[e * E + KP] === p && this.ent[e * E + KPROTO] === proto) break;
      prev = e;
      e = this.ent[e * E + NEXT];
    }
    let r = 0;
    if (e !== NIL) {
      if (this.ent[e * E + EXPIRE] <= now) {
        this.unlink(bk, prev, e);
        r = -1;
      } else {
        if (proto === 6) {
          const fwd = ((this.ent[e * E + TCP] & ST_FWD_AB) !== 0) === (k[3] === 1);
          this.tcpUpdate(e, fwd ? thflags & TH_FLAGS : (thflags & TH_FLAGS) << 8, now);
        } else this.ent[e * E + EXPIRE] = now + (proto === 17 ? IPFW_DYN_LIFETIME.udp : IPFW_DYN_LIFETIME.short);
        r = this.ent[e * E + RULE];
      }
    }
    if (this.shared) this.unlock(this.locks, s);
    if (r === -1) this.release(e);
    return r;
  }

  private tcpUpdate(e: number, bits: number, now: number): void {
    const st = (this.ent[e * E + TCP] |= bits);
    switch (st & TCP_FLAGS) {
      case TH_SYN:
        this.ent[e * E + EXPIRE] = now + IPFW_DYN_LIFETIME.syn;
        break;
      case BOTH_SYN:
      case BOTH_SYN | TH_FIN:
      case BOTH_SYN | (TH_FIN << 8):
        this.ent[e * E + EXPIRE] = now + IPFW_DYN_LIFETIME.ack;
        break;
      case BOTH_SYN | BOTH_FIN:
        this.ent[e * E + EXPIRE] = now + IPFW_DYN_LIFETIME.fin;
        break;
      default:
        this.ent[e * E + EXPIRE] = now + IPFW_DYN_LIFETIME.rst;
    }
  }

  /** Installs a state for key `k` (the creating packet's direction is forward). Returns false when the table is full. */
  insert(k: Int32Array, proto: number, thflags: number, rule: number, src: number, limited: boolean, now: number): boolean {
    const e = this.alloc();
    if (e === NIL) return false;
    const a = k[0];
    const b = k[1];
    const p = k[2];
    this.ent[e * E + KA] = a;
    this.ent[e * E + KB] = b;
    this.ent[e * E + KP] = p;
    this.ent[e * E + KPROTO] = proto;
    this.ent[e * E + RULE] = rule;
    this.src[e] = src;
    this.ent[e * E + TCP] = (k[3] === 1 ? ST_FWD_AB : 0) | (limited ? ST_LIMITED : 0);
    if (proto === 6) this.tcpUpdate(e, thflags & TH_FLAGS, now);
    else this.ent[e * E + EXPIRE] = now + (proto === 17 ? IPFW_DYN_LIFETIME.udp : IPFW_DYN_LIFETIME.short);
    const bk = this.bucket(a, b, p, proto);
    const s = bk & (STRIPES - 1);
    if (this.shared) this.lock(this.locks, s);
    this.ent[e * E + NEXT] = this.heads[bk];
    this.heads[bk] = e;
    if (this.shared) this.unlock(this.locks, s);
    return true;
  }

  private alloc(): number {
    const h = this.hdr;
    if (this.shared) this.lock(h, H_LOCK);
    const e = h[H_FREE];
    if (e !== NIL) {
      h[H_FREE] = this.ent[e * E + NEXT];
      h[H_COUNT]++;
    }
    if (this.shared) this.unlock(h, H_LOCK);
    return e;
  }

  /** Called with the source of every removed limited state. */
  onLimitedRelease: (src: number) => void = () => {};

  private release(e: number): void {
    if (this.ent[e * E + TCP] & ST_LIMITED) this.onLimitedRelease(this.src[e]);
    const h = this.hdr;
    if (this.shared) this.lock(h, H_LOCK);
    this.ent[e * E + NEXT] = h[H_FREE];
    h[H_FREE] = e;
    h[H_COUNT]--;
    if (this.shared) this.unlock(h, H_LOCK);
  }

  private unlink(bk: number, prev: number, e: number): void {
    if (prev === NIL) this.heads[bk] = this.ent[e * E + NEXT];
    else this.ent[prev * E + NEXT] = this.ent[e * E + NEXT];
  }

  /** ipfw_tick's walk, `budget` buckets at a time from where the last one stopped: removes expired states. Returns how many. */
  sweep(now: number, budget: number, keep: (rule: number) => boolean = () => true): number {
    let n = 0;
    const nb = this.mask + 1;
    for (let c = 0; c < budget && c < nb; c++) {
      const bk = this.sweepAt;
      this.sweepAt = (bk + 1) & this.mask;
      if (this.heads[bk] === NIL) continue;
      const s = bk & (STRIPES - 1);
      if (this.shared) this.lock(this.locks, s);
      let prev = NIL;
      let e = this.heads[bk];
      while (e !== NIL) {
        const nx = this.ent[e * E + NEXT];
        if (this.ent[e * E + EXPIRE] <= now || !keep(this.ent[e * E + RULE])) {
          this.unlink(bk, prev, e);
          // Lock order bucket stripe → allocation, never the reverse: no deadlock.
          this.release(e);
          n++;
        } else prev = e;
        e = nx;
      }
      if (this.shared) this.unlock(this.locks, s);
    }
    return n;
  }

  /** Buckets in the table (a whole sweep is this budget). */
  get buckets(): number {
    return this.mask + 1;
  }

  /** Removes every state (ipfw flush). */
  clear(): number {
    const n = this.size;
    this.sweep(Number.MIN_SAFE_INTEGER, this.buckets, () => false);
    return n;
  }

  /** Removes and returns the states `pick(a, b, ports, proto)` selects (a live rescale hands them to another CPU). */
  take(pick: (a: number, b: number, ports: number, proto: number) => boolean, now: number): IpfwStateRecord[] {
    const out: IpfwStateRecord[] = [];
    for (let bk = 0; bk <= this.mask; bk++) {
      let prev = NIL;
      let e = this.heads[bk];
      while (e !== NIL) {
        const nx = this.ent[e * E + NEXT];
        if (this.ent[e * E + EXPIRE] > now && pick(this.ent[e * E + KA], this.ent[e * E + KB], this.ent[e * E + KP], this.ent[e * E + KPROTO])) {
          out.push({ a: this.ent[e * E + KA], b: this.ent[e * E + KB], ports: this.ent[e * E + KP], proto: this.ent[e * E + KPROTO], ttl: this.ent[e * E + EXPIRE] - now, tcp: this.ent[e * E + TCP], rule: this.ent[e * E + RULE], src: this.src[e] });
          this.unlink(bk, prev, e);
          this.release(e);
        } else prev = e;
        e = nx;
      }
    }
    return out;
  }

  /** Installs a state another CPU handed over (kept as it was: flags, rule, time left). False when full. */
  put(r: IpfwStateRecord, now: number): boolean {
    const e = this.alloc();
    if (e === NIL) return false;
    this.ent[e * E + KA] = r.a;
    this.ent[e * E + KB] = r.b;
    this.ent[e * E + KP] = r.ports;
    this.ent[e * E + KPROTO] = r.proto;
    this.ent[e * E + RULE] = r.rule;
    this.src[e] = r.src;
    this.ent[e * E + TCP] = r.tcp;
    this.ent[e * E + EXPIRE] = now + Math.max(1, Math.min(r.ttl, IPFW_DYN_LIFETIME.ack));
    const bk = this.bucket(r.a, r.b, r.ports, r.proto);
    this.ent[e * E + NEXT] = this.heads[bk];
    this.heads[bk] = e;
    return true;
  }

  /** True when a live state for key `k` is here (no flag walk): the audit's cross-CPU probe. */
  has(k: Int32Array, proto: number, now: number): boolean {
    let e = this.heads[this.bucket(k[0], k[1], k[2], proto)];
    while (e !== NIL) {
      if (this.ent[e * E + KA] === k[0] && this.ent[e * E + KB] === k[1] && this.ent[e * E + KP] === k[2] && this.ent[e * E + KPROTO] === proto) return this.ent[e * E + EXPIRE] > now;
      e = this.ent[e * E + NEXT];
    }
    return false;
  }
}
