/**
 * Internet protocol control blocks, partitioned per CPU, as DragonFly's
 * sys/netinet/in_pcb.c (`tcbinfo[cpu]`).
 *
 * - Each CPU (netisr) has an `InpcbInfo`: the list of the PCBs it owns (walked
 *   by the listing cursor, in_pcblist.ts), the exact 4-tuple hash of connected
 *   PCBs, the wildcard (listen) hash and the SO_REUSEPORT local groups. Nothing
 *   in it is touched by another CPU.
 * - A connected PCB lives only on the CPU its symmetric Toeplitz hash selects
 *   (`netisr_hashcpu(h)`); inserting it anywhere else throws
 *   InpcbWrongCpuError, so a test or a caller that breaks ownership fails loudly.
 * - A listen PCB lives on CPU 0's list (DragonFly's bind/listen run on netisr0)
 *   and is *referenced* from every CPU's wildcard hash and local group, in the
 *   same order everywhere (paper §1.2, Figure 1.6).
 * - `InpcbHost` holds all CPUs' tables of one host plus the local port table
 *   (DragonFly's `portinfo`, one map here: its per-CPU split only spreads
 *   token contention, which a single-threaded process does not have).
 *
 * Addresses are big-endian 32-bit numbers (10.0.0.1 = 0x0a000001), ports host
 * numbers. "f" is the foreign (remote) end, "l" the local end, as in BSD; a
 * received segment has faddr = ip_src, fport = th_sport.
 *
 * Limits: IPv4 only; no jails, credentials or SO_REUSEADDR multicast rules;
 * local groups are not capped (DragonFly's INP_LOCALGROUP_SIZMAX check is
 * compiled out in its current tree).
 */
import { netisrHashcpu, NETISR_CPUMAX } from "../rss/netisr.js";
import { symmetric, toeplitzHash } from "../rss/toeplitz.js";
import type { ListenSocket, ListenerMigrationStats } from "./so_listen.js";
import { newListenerMigrationStats } from "./so_listen.js";

export const INADDR_ANY = 0;

/** `inp_flags` bits this module uses (values are ours; names are DragonFly's). */
export const INP = {
  /** In every CPU's wildcard hash (a listener). */
  WILDCARD: 0x01,
  /** In its CPU's exact 4-tuple hash. */
  CONNECTED: 0x02,
  /** A listing cursor's marker: skipped by every walk, never hashed. */
  PLACEMARKER: 0x04,
  /** The local port was picked by the stack (connect without bind). */
  ANONPORT: 0x08,
  /** On a CPU's list (counted in ipi_count). */
  ONLIST: 0x10,
  /** SO_REUSEPORT was set when it was bound. */
  REUSEPORT: 0x20,
  /** SO_REUSEADDR was set when it was bound. */
  REUSEADDR: 0x40,
} as const;

/** `IPPORT_RESERVED` / `IPPORT_USERRESERVED`: DragonFly's default ephemeral range 1024..5000. */
export const IPPORT_FIRSTAUTO = 1024;
export const IPPORT_LASTAUTO = 5000;

function fmtAddr(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}`;
}
function fmtEnd(a: number, p: number): string {
  return `${fmtAddr(a)}:${p}`;
}

/** EADDRINUSE: the local address/port (or the whole 4-tuple) is taken. */
export class InpcbAddrInUseError extends Error {
  override readonly name = "InpcbAddrInUseError";
  constructor(
    readonly laddr: number,
    readonly lport: number,
    readonly faddr: number = INADDR_ANY,
    readonly fport: number = 0,
  ) {
    super(
      faddr === INADDR_ANY
        ? `local address ${fmtEnd(laddr, lport)} is already in use`
        : `connection ${fmtEnd(laddr, lport)} <-> ${fmtEnd(faddr, fport)} already exists`,
    );
  }
}

/** EADDRNOTAVAIL: every port of the ephemeral range is taken for this destination. */
export class InpcbAddrNotAvailError extends Error {
  override readonly name = "InpcbAddrNotAvailError";
  constructor(
    readonly laddr: number,
    readonly faddr: number,
    readonly fport: number,
    readonly first: number,
    readonly last: number,
  ) {
    super(`no free local port in ${first}..${last} on ${fmtAddr(laddr)} for ${fmtEnd(faddr, fport)}`);
  }
}

/** EINVAL: bind/port search on a PCB that already has a local port or address. */
export class InpcbAlreadyBoundError extends Error {
  override readonly name = "InpcbAlreadyBoundError";
  constructor(
    readonly laddr: number,
    readonly lport: number,
  ) {
    super(`PCB is already bound to ${fmtEnd(laddr, lport)}`);
  }
}

/** The connect port search needs a local address first (in_pcbladdr's job). */
export class InpcbLaddrUnsetError extends Error {
  override readonly name = "InpcbLaddrUnsetError";
  constructor() {
    super("PCB has no local address; pick the source address before the port search");
  }
}

/** A PCB was linked, hashed or looked up on a CPU that does not own it. */
export class InpcbWrongCpuError extends Error {
  override readonly name = "InpcbWrongCpuError";
  constructor(
    readonly cpu: number,
    readonly owner: number,
    what: string,
  ) {
    super(`${what} on cpu ${cpu}, but cpu ${owner} owns it`);
  }
}

/** A PCB operation that does not fit the PCB's state (e.g. listen on a connected PCB). */
export class InpcbStateError extends Error {
  override readonly name = "InpcbStateError";
  constructor(message: string) {
    super(message);
  }
}

/** Bad host configuration (CPU count, port range, try count). */
export class InpcbConfigError extends Error {
  override readonly name = "InpcbConfigError";
  constructor(
    message: string,
    readonly field: string,
    readonly value: unknown,
  ) {
    super(message);
  }
}

let gencntSeq = 0;

/** `struct inpcb`: one endpoint. `P` is the protocol's control block (the TCB). */
export class Inpcb<P = unknown> {
  laddr = INADDR_ANY;
  lport = 0;
  faddr = INADDR_ANY;
  fport = 0;
  flags = 0;
  /** The CPU whose list holds it (`inp_pcbinfo->cpu`); -1 while unlinked (migrating). */
  cpu = -1;
  /** `inp_hashval`: the 16-bit Toeplitz hash of the 4-tuple once connected. */
  hash = 0;
  /** `inp_lgrpindex`: slot in the SO_REUSEPORT group, -1 until it joins one. */
  lgrpindex = -1;
  /** `inp_gencnt`. */
  readonly gencnt = ++gencntSeq;
  /** The protocol control block (`inp_ppcb`). */
  ppcb: P | undefined;
  /** The listen socket, when this is a listener. */
  so: ListenSocket<P> | undefined;
  /** `so_head`: the listener whose accept queue holds this connection until accepted. */
  head: ListenSocket<P> | undefined;
  /** @internal per-CPU list links (`inp_list`). */
  listPrev: Inpcb<P> | null = null;
  /** @internal */
  listNext: Inpcb<P> | null = null;
  /** @internal exact-hash chain (`inp_hash`). */
  connNext: Inpcb<P> | null = null;
  /** @internal local-port list (`inp_portlist`). */
  portPrev: Inpcb<P> | null = null;
  /** @internal */
  portNext: Inpcb<P> | null = null;
  /** @internal in the host's port table */
  inPortHash = false;

  constructor(ppcb?: P) {
    this.ppcb = ppcb;
  }

  get isListener(): boolean {
    return (this.flags & INP.WILDCARD) !== 0;
  }
  get isConnected(): boolean {
    return (this.flags & INP.CONNECTED) !== 0;
  }
  get isMarker(): boolean {
    return (this.flags & INP.PLACEMARKER) !== 0;
  }
}

/** A marker for list walks (`INP_PLACEMARKER`). */
export function inPcbMarker<P>(): Inpcb<P> {
  const m = new Inpcb<P>();
  m.flags = INP.PLACEMARKER;
  return m;
}

/** `struct inp_localgroup`: the SO_REUSEPORT listeners on one laddr:lport, sorted by lgrpindex. */
export class InpLocalGroup<P = unknown> {
  readonly members: Inpcb<P>[] = [];
  constructor(
    readonly laddr: number,
    readonly lport: number,
  ) {}
  get count(): number {
    return this.members.length;
  }
  /** `inp_localgroup_lookup`: member `(h & 127) % count` (netisr_hashlsb, a0602d99d3). */
  select(hash: number): Inpcb<P> {
    return this.members[(hash & 127) % this.members.length];
  }
}

/** Exact-hash key: a 32-bit mix of the 4-tuple; chains resolve collisions. */
function connKey(faddr: number, fport: number, laddr: number, lport: number): number {
  let h = Math.imul(faddr ^ 0x9e3779b9, 0x85ebca6b);
  h ^= laddr;
  h = Math.imul(h ^ (h >>> 16), 0xc2b2ae35);
  h ^= (fport << 16) | lport;
  h = Math.imul(h ^ (h >>> 13), 0x27d4eb2f);
  return (h ^ (h >>> 16)) | 0;
}

/** Per-CPU counters of the PCB layer (summed only when read). */
export interface InpcbStats {
  /** connect(): the port search found a port whose hash lands on the calling CPU. */
  connectLocal: number;
  /** connect(): the connection moved to its owner CPU (dfly_tcp_connect_migrations_total). */
  connectMigrations: number;
  /** connect(): local-port candidates examined by the search. */
  portSearchTries: number;
  /** Listener close: moves and resets by policy and result (dfly_so_listener_migrations_total). */
  listenerMigrations: ListenerMigrationStats;
  /** Linux `LINUX_MIB_TCPMIGRATEREQSUCCESS`. */
  TcpMigrateReqSuccess: number;
  /** Linux `LINUX_MIB_TCPMIGRATEREQFAILURE`. */
  TcpMigrateReqFailure: number;
}

function newInpcbStats(): InpcbStats {
  return {
    connectLocal: 0,
    connectMigrations: 0,
    portSearchTries: 0,
    listenerMigrations: newListenerMigrationStats(),
    TcpMigrateReqSuccess: 0,
    TcpMigrateReqFailure: 0,
  };
}

/** `struct inpcbinfo` of one CPU. */
export class InpcbInfo<P = unknown> {
  /** `ipi_count`: PCBs on the list (markers excluded). */
  count = 0;
  /** Connected PCBs in the exact hash. */
  connCount = 0;
  private head: Inpcb<P> | null = null;
  private readonly conn = new Map<number, Inpcb<P>>();
  private readonly wild = new Map<number, Inpcb<P>[]>();
  private readonly lgroups = new Map<number, InpLocalGroup<P>[]>();

  constructor(
    readonly cpu: number,
    private readonly hashcpu: (hash: number) => number,
  ) {}

  // ---- the list (inp_list) ----

  /** First node of the list (may be a marker). */
  first(): Inpcb<P> | null {
    return this.head;
  }

  /** @internal LIST_INSERT_HEAD without counting (markers). */
  listInsertHead(n: Inpcb<P>): void {
    n.listPrev = null;
    n.listNext = this.head;
    if (this.head) this.head.listPrev = n;
    this.head = n;
  }

  /** @internal LIST_INSERT_AFTER. */
  listInsertAfter(ref: Inpcb<P>, n: Inpcb<P>): void {
    n.listPrev = ref;
    n.listNext = ref.listNext;
    if (ref.listNext) ref.listNext.listPrev = n;
    ref.listNext = n;
  }

  /** @internal LIST_REMOVE. */
  listRemove(n: Inpcb<P>): void {
    if (n.listPrev) n.listPrev.listNext = n.listNext;
    else if (this.head === n) this.head = n.listNext;
    if (n.listNext) n.listNext.listPrev = n.listPrev;
    n.listPrev = n.listNext = null;
  }

  /** `in_pcbonlist`. */
  onlist(inp: Inpcb<P>): void {
    if (inp.flags & INP.ONLIST) throw new InpcbStateError(`PCB is already on cpu ${inp.cpu}'s list`);
    inp.flags |= INP.ONLIST;
    inp.cpu = this.cpu;
    this.listInsertHead(inp);
    this.count++;
  }

  /** `in_pcbofflist`. */
  offlist(inp: Inpcb<P>): void {
    if (!(inp.flags & INP.ONLIST) || inp.cpu !== this.cpu) {
      throw new InpcbStateError(`PCB is not on cpu ${this.cpu}'s list (it is on ${inp.cpu})`);
    }
    inp.flags &= ~INP.ONLIST;
    this.listRemove(inp);
    this.count--;
  }

  // ---- exact 4-tuple hash ----

  /** The connected PCB of this exact 4-tuple on this CPU. */
  lookupConn(faddr: number, fport: number, laddr: number, lport: number): Inpcb<P> | undefined {
    for (let i = this.conn.get(connKey(faddr, fport, laddr, lport)) ?? null; i; i = i.connNext) {
      if (i.faddr === faddr && i.fport === fport && i.laddr === laddr && i.lport === lport) return i;
    }
    return undefined;
  }

  /**
   * `in_pcbinsconnhash`: the PCB must be on this CPU's list and its 4-tuple
   * must hash to this CPU. Throws InpcbAddrInUseError on a duplicate 4-tuple.
   */
  insConnHash(inp: Inpcb<P>): void {
    if (inp.flags & (INP.CONNECTED | INP.WILDCARD)) throw new InpcbStateError("PCB is already hashed");
    if (inp.cpu !== this.cpu) throw new InpcbWrongCpuError(this.cpu, inp.cpu, "insconnhash of a PCB listed");
    const owner = this.hashcpu(inp.hash);
    if (owner !== this.cpu) throw new InpcbWrongCpuError(this.cpu, owner, `connection ${fmtEnd(inp.laddr, inp.lport)} <-> ${fmtEnd(inp.faddr, inp.fport)}`);
    if (this.lookupConn(inp.faddr, inp.fport, inp.laddr, inp.lport)) {
      throw new InpcbAddrInUseError(inp.laddr, inp.lport, inp.faddr, inp.fport);
    }
    const k = connKey(inp.faddr, inp.fport, inp.laddr, inp.lport);
    inp.connNext = this.conn.get(k) ?? null;
    this.conn.set(k, inp);
    inp.flags |= INP.CONNECTED;
    this.connCount++;
  }

  /** `in_pcbremconnhash`. */
  remConnHash(inp: Inpcb<P>): void {
    if (!(inp.flags & INP.CONNECTED)) return;
    const k = connKey(inp.faddr, inp.fport, inp.laddr, inp.lport);
    let prev: Inpcb<P> | null = null;
    for (let i = this.conn.get(k) ?? null; i; prev = i, i = i.connNext) {
      if (i !== inp) continue;
      if (prev) prev.connNext = i.connNext;
      else if (i.connNext) this.conn.set(k, i.connNext);
      else this.conn.delete(k);
      break;
    }
    inp.connNext = null;
    inp.flags &= ~INP.CONNECTED;
    this.connCount--;
  }

  // ---- wildcard hash and local groups (listeners, by reference) ----

  /** @internal `in_pcbinswildcardhash_oncpu` (+ `in_pcbinslocalgrphash_oncpu` for SO_REUSEPORT). */
  insWildcardOncpu(inp: Inpcb<P>): void {
    const list = this.wild.get(inp.lport);
    if (list) list.unshift(inp);
    else this.wild.set(inp.lport, [inp]);
    if (inp.flags & INP.REUSEPORT) this.insLocalGroupOncpu(inp);
  }

  /** @internal `in_pcbremwildcardhash_oncpu` (+ local group slot). */
  remWildcardOncpu(inp: Inpcb<P>): void {
    this.remLocalGroupOncpu(inp);
    const list = this.wild.get(inp.lport);
    if (!list) return;
    const i = list.indexOf(inp);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.wild.delete(inp.lport);
  }

  /** The group bound to exactly laddr:lport (laddr may be INADDR_ANY). */
  localGroup(laddr: number, lport: number): InpLocalGroup<P> | undefined {
    const hdr = this.lgroups.get(lport);
    if (!hdr) return undefined;
    for (const g of hdr) if (g.laddr === laddr) return g;
    return undefined;
  }

  /** All local groups on this CPU (for listings and tests). */
  localGroups(): InpLocalGroup<P>[] {
    return [...this.lgroups.values()].flat();
  }

  /**
   * `in_pcbinslocalgrphash_oncpu`: keep the group sorted by lgrpindex; a new
   * member takes the first gap (the first slot i whose member has an index
   * > i) or the end. The index is assigned once (on the first CPU, or by the
   * control) and reused on every other CPU: a member that arrives with its
   * index goes where that index sorts, so a CPU that installs a group's
   * members later, in any order, holds them in the same order as one that
   * saw every open and close (and a restarted worker gets its old slot back).
   */
  private insLocalGroupOncpu(inp: Inpcb<P>): void {
    let g = this.localGroup(inp.laddr, inp.lport);
    if (!g) {
      g = new InpLocalGroup<P>(inp.laddr, inp.lport);
      const hdr = this.lgroups.get(inp.lport);
      if (hdr) hdr.unshift(g);
      else this.lgroups.set(inp.lport, [g]);
    }
    const m = g.members;
    if (inp.lgrpindex < 0) {
      let i = 0;
      while (i < m.length && m[i].lgrpindex <= i) i++;
      inp.lgrpindex = i;
    }
    let at = m.length;
    while (at > 0 && m[at - 1].lgrpindex > inp.lgrpindex) at--;
    m.splice(at, 0, inp);
  }

  /** `in_pcbremlocalgrphash_oncpu`: compact; destroy the group when empty. */
  private remLocalGroupOncpu(inp: Inpcb<P>): void {
    const hdr = this.lgroups.get(inp.lport);
    if (!hdr) return;
    for (let gi = 0; gi < hdr.length; gi++) {
      const g = hdr[gi];
      const i = g.members.indexOf(inp);
      if (i < 0) continue;
      g.members.splice(i, 1);
      if (g.members.length === 0) {
        hdr.splice(gi, 1);
        if (hdr.length === 0) this.lgroups.delete(inp.lport);
      }
      return;
    }
  }

  /**
   * `in_pcblocalgroup_last`: the heir of a closing SO_REUSEPORT listener — the
   * last member of its group, or the second-to-last when the closing one is
   * last; undefined when the group has one member or none.
   */
  localGroupLast(inp: Inpcb<P>): Inpcb<P> | undefined {
    const g = this.localGroup(inp.laddr, inp.lport);
    if (!g || g.count < 2) return undefined;
    const i = g.members.indexOf(inp);
    if (i < 0) return undefined;
    const last = i === g.count - 1 ? g.count - 2 : g.count - 1;
    return g.members[last];
  }

  /**
   * `inp_localgroup_lookup`: the member for a SYN with this hash; a group on
   * the exact laddr wins over the INADDR_ANY group.
   */
  localGroupLookup(laddr: number, lport: number, hash: number): Inpcb<P> | undefined {
    const hdr = this.lgroups.get(lport);
    if (!hdr) return undefined;
    let wild: Inpcb<P> | undefined;
    for (const g of hdr) {
      if (g.laddr === laddr) return g.select(hash);
      if (g.laddr === INADDR_ANY) wild = g.select(hash);
    }
    return wild;
  }

  /** Plain wildcard lookup: a listener on the exact laddr wins over one on INADDR_ANY. */
  lookupWildcard(laddr: number, lport: number): Inpcb<P> | undefined {
    const list = this.wild.get(lport);
    if (!list) return undefined;
    let wild: Inpcb<P> | undefined;
    for (const inp of list) {
      if (inp.laddr === laddr) return inp;
      if (inp.laddr === INADDR_ANY) wild ??= inp;
    }
    return wild;
  }

  /**
   * `in_pcblookup_pkthash`: exact 4-tuple first; then, if `wildcard`, the
   * SO_REUSEPORT local group (when the packet hash is known, i.e. `hash` is
   * given), then the plain wildcard hash.
   */
  lookupPkthash(
    faddr: number,
    fport: number,
    laddr: number,
    lport: number,
    wildcard: boolean,
    hash?: number,
  ): Inpcb<P> | undefined {
    const inp = this.lookupConn(faddr, fport, laddr, lport);
    if (inp || !wildcard) return inp;
    if (hash !== undefined) {
      const m = this.localGroupLookup(laddr, lport, hash);
      if (m) return m;
    }
    return this.lookupWildcard(laddr, lport);
  }

  /** Listeners referenced on this CPU (each once). */
  listeners(): Inpcb<P>[] {
    return [...this.wild.values()].flat();
  }
}

export interface InpcbHostOptions {
  /** netisr_ncpus, 1..128. */
  ncpus: number;
  /** Hash → owner CPU; default DragonFly's `netisr_hashcpu(h) = (h & 127) % ncpus`. */
  hashcpu?: (hash: number) => number;
  /** `net.inet.ip.portrange.first` (default 1024). */
  portFirst?: number;
  /** `net.inet.ip.portrange.last` (default 5000). */
  portLast?: number;
  /** `net.inet.ip.porthash_trycount`: default 2 × ncpus; 0 disables the hash-guided search. */
  porthashTrycount?: number;
  /** Uniform [0, 1) source for the port search start and the ehash secret (default Math.random). */
  random?: () => number;
}

export interface BindOptions {
  reuseport?: boolean;
  reuseaddr?: boolean;
}

/** All CPUs' PCB tables of one host, plus the local port table. */
export class InpcbHost<P = unknown> {
  readonly ncpus: number;
  readonly pcbinfo: readonly InpcbInfo<P>[];
  /** Per-CPU counters; sum on read. */
  readonly stats: readonly InpcbStats[];
  readonly hashcpu: (hash: number) => number;
  portFirst: number;
  portLast: number;
  porthashTrycount: number;
  /**
   * 4-tuples this host's tables do not list but that are in use where they live (a netisr CPU
   * sets it: connections homed on another CPU in its buckets). The port searches skip them.
   */
  tupleHeld: ((laddr: number, lport: number, faddr: number, fport: number) => boolean) | undefined = undefined;
  readonly random: () => number;
  /** Secret of the Linux-style ehash used by tcp_migrate_req's random-by-hash choice. */
  readonly ehashSecret: number;
  /** lport → first PCB of its port list (`phd_pcblist`). */
  private readonly ports = new Map<number, Inpcb<P>>();
  private readonly portCounts = new Map<number, number>();

  constructor(opts: InpcbHostOptions) {
    const n = opts.ncpus;
    if (!Number.isInteger(n) || n < 1 || n > NETISR_CPUMAX) {
      throw new InpcbConfigError(`ncpus ${n} is not an integer in 1..${NETISR_CPUMAX}`, "ncpus", n);
    }
    this.ncpus = n;
    this.hashcpu = opts.hashcpu ?? ((h: number) => netisrHashcpu(h, n));
    this.random = opts.random ?? Math.random;
    this.portFirst = IPPORT_FIRSTAUTO;
    this.portLast = IPPORT_LASTAUTO;
    this.setPortRange(opts.portFirst ?? IPPORT_FIRSTAUTO, opts.portLast ?? IPPORT_LASTAUTO);
    const tc = opts.porthashTrycount ?? 2 * n;
    if (!Number.isInteger(tc) || tc < 0) {
      throw new InpcbConfigError(`porthash_trycount ${tc} is not a non-negative integer`, "porthashTrycount", tc);
    }
    this.porthashTrycount = tc;
    this.ehashSecret = Math.floor(this.random() * 0x100000000) >>> 0;
    const infos: InpcbInfo<P>[] = [];
    const stats: InpcbStats[] = [];
    for (let cpu = 0; cpu < n; cpu++) {
      infos.push(new InpcbInfo<P>(cpu, this.hashcpu));
      stats.push(newInpcbStats());
    }
    this.pcbinfo = infos;
    this.stats = stats;
  }

  /** `net.inet.ip.portrange.first/last` (DragonFly clamps to 1024..65535; here out of range throws). */
  setPortRange(first: number, last: number): void {
    for (const [f, v] of [
      ["portFirst", first],
      ["portLast", last],
    ] as const) {
      if (!Number.isInteger(v) || v < 1 || v > 65535) {
        throw new InpcbConfigError(`${f} ${v} is not a port number 1..65535`, f, v);
      }
    }
    if (first > last) throw new InpcbConfigError(`port range ${first}..${last} is empty`, "portFirst", first);
    this.portFirst = first;
    this.portLast = last;
  }

  /** The 16-bit hash DragonFly keeps for a connection (`tcp_addrhash` → toeplitz_hash). */
  hashOf(faddr: number, fport: number, laddr: number, lport: number): number {
    return toeplitzHash(symmetric.hash4(faddr, laddr, fport, lport));
  }

  /** The CPU that owns this 4-tuple. */
  cpuOf(faddr: number, fport: number, laddr: number, lport: number): number {
    return this.hashcpu(this.hashOf(faddr, fport, laddr, lport));
  }

  private info(cpu: number): InpcbInfo<P> {
    const i = this.pcbinfo[cpu];
    if (!i) throw new InpcbConfigError(`cpu ${cpu} is not in 0..${this.ncpus - 1}`, "cpu", cpu);
    return i;
  }

  /** `in_pcballoc`: a new PCB on `cpu`'s list. */
  alloc(cpu: number, ppcb?: P): Inpcb<P> {
    const inp = new Inpcb<P>(ppcb);
    this.info(cpu).onlist(inp);
    return inp;
  }

  /** `in_pcbunlink`: take an unhashed PCB off its CPU's list before moving it (connect migration). */
  unlink(inp: Inpcb<P>): void {
    if (inp.flags & (INP.CONNECTED | INP.WILDCARD)) throw new InpcbStateError("cannot unlink a hashed PCB");
    this.info(inp.cpu).offlist(inp);
    inp.cpu = -1;
  }

  /** `in_pcblink`: put an unlinked PCB on `cpu`'s list. */
  link(inp: Inpcb<P>, cpu: number): void {
    if (inp.flags & INP.ONLIST) throw new InpcbStateError(`PCB is still on cpu ${inp.cpu}'s list`);
    this.info(cpu).onlist(inp);
  }

  /** unlink + link. */
  migrate(inp: Inpcb<P>, cpu: number): void {
    this.unlink(inp);
    this.link(inp, cpu);
  }

  // ---- local ports (portinfo) ----

  /** @internal `in_pcbinsporthash`. */
  insPortHash(inp: Inpcb<P>): void {
    if (inp.inPortHash) throw new InpcbStateError(`PCB already holds port ${inp.lport}`);
    const head = this.ports.get(inp.lport) ?? null;
    inp.portPrev = null;
    inp.portNext = head;
    if (head) head.portPrev = inp;
    this.ports.set(inp.lport, inp);
    this.portCounts.set(inp.lport, (this.portCounts.get(inp.lport) ?? 0) + 1);
    inp.inPortHash = true;
  }

  private remPortHash(inp: Inpcb<P>): void {
    if (!inp.inPortHash) return;
    if (inp.portPrev) inp.portPrev.portNext = inp.portNext;
    else if (inp.portNext) this.ports.set(inp.lport, inp.portNext);
    else this.ports.delete(inp.lport);
    if (inp.portNext) inp.portNext.portPrev = inp.portPrev;
    inp.portPrev = inp.portNext = null;
    inp.inPortHash = false;
    const n = (this.portCounts.get(inp.lport) ?? 1) - 1;
    if (n === 0) this.portCounts.delete(inp.lport);
    else this.portCounts.set(inp.lport, n);
  }

  /** PCBs holding this local port (any CPU). */
  portUsers(lport: number): number {
    return this.portCounts.get(lport) ?? 0;
  }

  /**
   * `in_pcblookup_local`: best match for a bind of laddr:lport (fewest
   * wildcards). Without `wildOkay` only exact matches count (faddr ANY and the
   * same laddr).
   */
  lookupLocal(laddr: number, lport: number, wildOkay: boolean): Inpcb<P> | undefined {
    let match: Inpcb<P> | undefined;
    let matchwild = 3;
    for (let inp = this.ports.get(lport) ?? null; inp; inp = inp.portNext) {
      let wildcard = 0;
      if (inp.faddr !== INADDR_ANY) wildcard++;
      if (inp.laddr !== INADDR_ANY) {
        if (laddr === INADDR_ANY) wildcard++;
        else if (inp.laddr !== laddr) continue;
      } else if (laddr !== INADDR_ANY) wildcard++;
      if (wildcard && !wildOkay) continue;
      if (wildcard < matchwild) {
        match = inp;
        matchwild = wildcard;
        if (matchwild === 0) break;
      }
    }
    return match;
  }

  /**
   * `in_pcblookup_localremote`: would laddr:lport → faddr:fport collide with a
   * PCB holding the port (a listener on it, or the same 4-tuple)?
   */
  lookupLocalRemote(laddr: number, lport: number, faddr: number, fport: number): Inpcb<P> | undefined {
    for (let inp = this.ports.get(lport) ?? null; inp; inp = inp.portNext) {
      if (inp.laddr !== INADDR_ANY && inp.laddr !== laddr) continue;
      if (inp.faddr !== INADDR_ANY && inp.faddr !== faddr) continue;
      if (inp.fport !== 0 && inp.fport !== fport) continue;
      return inp;
    }
    return undefined;
  }

  /**
   * `in_pcbbind` with an explicit local address and port (lport 0: any free
   * port of the range). Conflicts unless both sockets set SO_REUSEPORT.
   */
  bind(inp: Inpcb<P>, laddr: number, lport: number, opts: BindOptions = {}): void {
    if (inp.lport !== 0 || inp.laddr !== INADDR_ANY) throw new InpcbAlreadyBoundError(inp.laddr, inp.lport);
    if (!Number.isInteger(lport) || lport < 0 || lport > 65535) {
      throw new InpcbConfigError(`port ${lport} is not 0..65535`, "lport", lport);
    }
    const wild = !(opts.reuseaddr || opts.reuseport);
    if (lport === 0) {
      const first = this.portFirst;
      const count = this.portLast - first + 1;
      let p = first + Math.floor(this.random() * count);
      let found = 0;
      for (let i = 0; i < count; i++, p = p === this.portLast ? first : p + 1) {
        if (!this.lookupLocal(laddr, p, wild)) {
          found = p;
          break;
        }
      }
      if (!found) throw new InpcbAddrNotAvailError(laddr, INADDR_ANY, 0, first, this.portLast);
      lport = found;
      inp.flags |= INP.ANONPORT;
    } else {
      const t = this.lookupLocal(laddr, lport, wild);
      if (t && !(opts.reuseport && t.flags & INP.REUSEPORT)) throw new InpcbAddrInUseError(laddr, lport);
    }
    if (opts.reuseport) inp.flags |= INP.REUSEPORT;
    if (opts.reuseaddr) inp.flags |= INP.REUSEADDR;
    inp.laddr = laddr;
    inp.lport = lport;
    this.insPortHash(inp);
  }

  /**
   * `in_pcbinswildcardhash` on every CPU: the listener is referenced from each
   * CPU's wildcard hash (and local group, with SO_REUSEPORT); it stays on its
   * own CPU's list. Its lgrpindex is assigned on the first CPU and reused.
   */
  listen(inp: Inpcb<P>): void {
    if (inp.lport === 0) throw new InpcbStateError("listen on an unbound PCB");
    if (inp.flags & (INP.WILDCARD | INP.CONNECTED)) throw new InpcbStateError("listen on a hashed PCB");
    inp.flags |= INP.WILDCARD;
    for (const info of this.pcbinfo) info.insWildcardOncpu(inp);
  }

  /** `in_pcbremwildcardhash` on every CPU; resets lgrpindex. */
  unlisten(inp: Inpcb<P>): void {
    if (!(inp.flags & INP.WILDCARD)) return;
    for (const info of this.pcbinfo) info.remWildcardOncpu(inp);
    inp.flags &= ~INP.WILDCARD;
    inp.lgrpindex = -1;
  }

  /**
   * `tcp_connect_oncpu` / `in_pcbconnect` on the owner CPU: sets the foreign
   * end and the hash and inserts into the exact hash. The PCB must be bound
   * (laddr and lport set) and listed on `cpu`, and `cpu` must own the 4-tuple.
   * A duplicate 4-tuple throws InpcbAddrInUseError and leaves the PCB as it was.
   */
  connect(inp: Inpcb<P>, faddr: number, fport: number, cpu: number): void {
    if (inp.laddr === INADDR_ANY) throw new InpcbLaddrUnsetError();
    if (inp.lport === 0) throw new InpcbStateError("connect on a PCB without a local port");
    if (inp.flags & (INP.CONNECTED | INP.WILDCARD)) throw new InpcbStateError("connect on a hashed PCB");
    const info = this.info(cpu);
    const hash = this.hashOf(faddr, fport, inp.laddr, inp.lport);
    const owner = this.hashcpu(hash);
    if (owner !== cpu) throw new InpcbWrongCpuError(cpu, owner, `connect ${fmtEnd(inp.laddr, inp.lport)} -> ${fmtEnd(faddr, fport)}`);
    if (inp.cpu !== cpu) throw new InpcbWrongCpuError(cpu, inp.cpu, "connect of a PCB listed");
    if (info.lookupConn(faddr, fport, inp.laddr, inp.lport)) {
      throw new InpcbAddrInUseError(inp.laddr, inp.lport, faddr, fport);
    }
    inp.faddr = faddr;
    inp.fport = fport;
    inp.hash = hash;
    info.insConnHash(inp);
  }

  /**
   * A connection created by the passive side (syncache_socket): allocated on
   * `cpu`, holding laddr:lport, connected to faddr:fport. Throws like connect().
   */
  allocConnected(cpu: number, laddr: number, lport: number, faddr: number, fport: number, ppcb?: P): Inpcb<P> {
    const info = this.info(cpu);
    const hash = this.hashOf(faddr, fport, laddr, lport);
    const owner = this.hashcpu(hash);
    if (owner !== cpu) throw new InpcbWrongCpuError(cpu, owner, `connection ${fmtEnd(laddr, lport)} <-> ${fmtEnd(faddr, fport)}`);
    if (info.lookupConn(faddr, fport, laddr, lport)) throw new InpcbAddrInUseError(laddr, lport, faddr, fport);
    const inp = this.alloc(cpu, ppcb);
    inp.laddr = laddr;
    inp.lport = lport;
    inp.faddr = faddr;
    inp.fport = fport;
    inp.hash = hash;
    this.insPortHash(inp);
    info.insConnHash(inp);
    return inp;
  }

  /** `in_pcbdetach` / `in_pcbremlists`: out of every hash, the port table and its list. Idempotent. */
  detach(inp: Inpcb<P>): void {
    this.remPortHash(inp);
    if (inp.flags & INP.WILDCARD) this.unlisten(inp);
    else if (inp.flags & INP.CONNECTED) this.info(inp.cpu).remConnHash(inp);
    if (inp.flags & INP.ONLIST) this.info(inp.cpu).offlist(inp);
  }

  /** Σ ipi_count over the CPUs. */
  get count(): number {
    let n = 0;
    for (const i of this.pcbinfo) n += i.count;
    return n;
  }
}
