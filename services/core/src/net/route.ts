/**
 * net/route.ts — the IPv4 route table of one CPU.
 *
 * DragonFly keeps one radix tree per netisr CPU (`rt_tables[cpu][AF_INET]`, sys/net/route.c) and
 * replicates every static route to all of them; here each netisr process holds one `RouteTable`
 * and the control plane keeps the replicas equal, comparing them by `digest()`.
 *
 * Longest-prefix match is DIR-24-8 (Gupta, Lin, McKeown, INFOCOM 1998):
 *   - level 1: one Int32Array entry per /24 (2^24 entries), indexed by `addr >>> 8`;
 *   - level 2: a 256-entry chunk for each /24 that holds a prefix longer than /24.
 * An entry is 0 (nothing more specific than the default route), `index + 1` (the best route of that
 * /24 or address), or, in level 1 only, `~chunk` (negative: look in that chunk). A lookup is one or
 * two array reads and never allocates. Each entry holds the best route covering it, so an add
 * writes the entries its prefix covers that hold a less specific route, and a delete writes the
 * entries holding the deleted route back to its next-shorter covering route (found by exact-match
 * probes of every shorter length). The default route (/0) is not written anywhere: entry 0 means
 * "the default route, if any".
 *
 * Memory: level 1 is 2^24 × 4 B = 64 MiB, allocated at construction (the OS zero-fills pages
 * lazily, so an empty table costs little resident memory); level 2 is 1 KiB per /24 holding a longer
 * prefix; each route costs 29 B of typed arrays + an 8 B name slot + 8–16 B of exact-match index
 * (arrays grow by doubling). The 901,899-prefix Internet table: 451 chunks (0.5 MiB), route arrays
 * at capacity 2^20 (≈ 37 MiB) and a 2^21-slot index (8 MiB): ≈ 110 MiB in all (`dfly bench core`
 * reports the measured figure). Measured alternative: a 16-8-8 trie over the same table needs
 * 25 MiB instead of 64 MiB for its first two levels at ≈ 1.1× the lookup time; DIR-24-8 is kept
 * for its simpler updates (two levels, one rule for adds and deletes).
 *
 * Digest: an incrementally maintained XOR, over all routes, of a 128-bit MurmurHash3 (x86_128
 * construction, seed 0) of each route's canonical encoding (see `RouteTable.mix`); `digest()` hashes
 * (route count, that XOR) once more and prints 32 hex digits. It costs O(1) to read and O(1) per
 * change, does not depend on insertion order or CPU, and changes whenever a route or one of its
 * attributes is added, removed or changed. It detects accidental divergence between replicas; it
 * is not a cryptographic commitment (MurmurHash3 is not collision resistant against an adversary).
 */

/** DragonFly's route flags (sys/net/route.h), those this table stores. */
export const RTF = {
  UP: 0x1,
  GATEWAY: 0x2,
  HOST: 0x4,
  REJECT: 0x8,
  STATIC: 0x800,
  BLACKHOLE: 0x1000,
  PROTO2: 0x4000,
  PROTO1: 0x8000,
  PROTO3: 0x40000,
} as const;
export type RouteFlag = (typeof RTF)[keyof typeof RTF];

/** Flags a caller may set; UP, GATEWAY and HOST are derived (always UP; GATEWAY iff a gateway; HOST iff /32). */
export const RTF_SETTABLE = RTF.REJECT | RTF.STATIC | RTF.BLACKHOLE | RTF.PROTO1 | RTF.PROTO2 | RTF.PROTO3;
const RTF_DERIVED = RTF.UP | RTF.GATEWAY | RTF.HOST;

/** Most routes one table holds (route indexes are < this). Per-route arrays and index at this size: ≈ 190 MiB. */
export const ROUTE_MAX_ROUTES = 1 << 22; // 4,194,304
/** Most level-2 chunks (/24s holding a prefix longer than /24): 64 MiB of chunks at most. */
export const ROUTE_MAX_CHUNKS = 1 << 16; // 65,536
/** Longest interface name (DragonFly IFNAMSIZ 16, less the NUL). */
export const ROUTE_IFNAME_MAX = 15;
/** DragonFly's TCP_IW_MAXSEGS_DFLT / TCP_IW_CAPSEGS_DFLT: per-route IW values below these are ignored. */
export const TCP_IW_SEGS_MIN = 4;
/** Returned by `lookup` when no route (not even a default route) matches. */
export const NO_ROUTE = -1;

const U32_MAX = 0xffffffff;
const INITIAL_ROUTES = 1024;
const INITIAL_CHUNKS = 16;

// ───────────────────────────── errors (one class per failure) ─────────────────────────────

/** Base of every route-table error (catch this to map them all, e.g. to a gRPC status). */
export abstract class RouteError extends Error {}

/** The prefix text is not `a.b.c.d/len` or `a.b.c.d` (decimal octets 0–255, no leading zeros). */
export class RoutePrefixSyntaxError extends RouteError {
  override readonly name = "RoutePrefixSyntaxError";
  constructor(readonly text: string, readonly reason: string, options?: ErrorOptions) {
    super(`bad prefix "${text}": ${reason}`, options);
  }
}

/** The prefix length (mask) is not an integer 0–32. */
export class RoutePrefixLengthError extends RouteError {
  override readonly name = "RoutePrefixLengthError";
  constructor(readonly prefix: string, readonly len: number) {
    super(`bad prefix "${prefix}": mask /${len} is not 0–32`);
  }
}

/** Bits beyond the mask are set (10.0.0.1/8). Rejected rather than silently masked. */
export class RouteHostBitsError extends RouteError {
  override readonly name = "RouteHostBitsError";
  constructor(readonly prefix: string, readonly suggested: string) {
    super(`prefix ${prefix} has host bits set beyond the mask; did you mean ${suggested}?`);
  }
}

/** `add` of a prefix that is already in the table (use `change` to replace its attributes). */
export class RouteExistsError extends RouteError {
  override readonly name = "RouteExistsError";
  constructor(readonly prefix: string) {
    super(`route ${prefix} already exists`);
  }
}

/** `delete`/`change` of a prefix that is not in the table. */
export class RouteNotFoundError extends RouteError {
  override readonly name = "RouteNotFoundError";
  constructor(readonly prefix: string) {
    super(`route ${prefix} not found`);
  }
}

/** An attribute value out of range (gateway, ifname, metric, mtu, iwmaxsegs, iwcapsegs, flags). */
export class RouteAttributeError extends RouteError {
  override readonly name = "RouteAttributeError";
  constructor(readonly prefix: string, readonly attribute: string, readonly value: unknown, readonly expected: string) {
    super(`route ${prefix}: ${attribute} ${JSON.stringify(value)} is invalid (expected ${expected})`);
  }
}

/** A route with neither a gateway nor an interface (allowed only with RTF_BLACKHOLE or RTF_REJECT). */
export class RouteNoNextHopError extends RouteError {
  override readonly name = "RouteNoNextHopError";
  constructor(readonly prefix: string) {
    super(`route ${prefix} needs a gateway or an interface (or the blackhole/reject flag)`);
  }
}

/** A limit of the table was reached: ROUTE_MAX_ROUTES routes or ROUTE_MAX_CHUNKS level-2 chunks. */
export class RouteTableFullError extends RouteError {
  override readonly name = "RouteTableFullError";
  constructor(readonly prefix: string, readonly limit: "routes" | "chunks", readonly max: number) {
    super(`route ${prefix} not added: the table is full (${max} ${limit})`);
  }
}

// ───────────────────────────── prefixes ─────────────────────────────

/** A network: `addr` is the uint32 network address (host bits zero), `len` 0–32. */
export interface Prefix {
  readonly addr: number;
  readonly len: number;
}

/** `len`'s netmask as uint32. */
export function prefixMask(len: number): number {
  return len === 0 ? 0 : (U32_MAX << (32 - len)) >>> 0;
}

/** Parses dotted-quad text in [start, end) to a uint32; -1 if it is not one. */
function parseQuad(s: string, start: number, end: number): number {
  let addr = 0;
  let octets = 0;
  let i = start;
  while (i <= end) {
    let v = 0;
    let digits = 0;
    const first = i;
    while (i < end) {
      const c = s.charCodeAt(i);
      if (c < 48 || c > 57) break;
      v = v * 10 + (c - 48);
      digits++;
      i++;
    }
    if (digits === 0 || digits > 3 || v > 255) return -1;
    if (digits > 1 && s.charCodeAt(first) === 48) return -1; // leading zero: octal in inet_aton; refuse
    addr = addr * 256 + v;
    octets++;
    if (i === end) break;
    if (s.charCodeAt(i) !== 46 || octets === 4) return -1; // '.'
    i++;
  }
  return octets === 4 ? addr : -1;
}

/** Parses an IPv4 address "a.b.c.d" to a uint32 (throws RoutePrefixSyntaxError). */
export function parseRouteAddress(text: string): number {
  const a = parseQuad(text, 0, text.length);
  if (a < 0) throw new RoutePrefixSyntaxError(text, "not a dotted-quad IPv4 address");
  return a;
}

/** Formats a uint32 as "a.b.c.d". */
export function formatRouteAddress(addr: number): string {
  return `${(addr >>> 24) & 255}.${(addr >>> 16) & 255}.${(addr >>> 8) & 255}.${addr & 255}`;
}

/**
 * Parses "10.0.0.0/8" (a bare address means /32). Throws RoutePrefixSyntaxError (not an address, or
 * the length is not decimal), RoutePrefixLengthError (length > 32) or RouteHostBitsError.
 */
export function parsePrefix(text: string): Prefix {
  const slash = text.indexOf("/");
  const end = slash < 0 ? text.length : slash;
  const addr = parseQuad(text, 0, end);
  if (addr < 0) throw new RoutePrefixSyntaxError(text, "the address is not a dotted-quad IPv4 address");
  let len = 32;
  if (slash >= 0) {
    const n = text.length - slash - 1;
    if (n < 1 || n > 3) throw new RoutePrefixSyntaxError(text, "the mask is not a decimal length");
    len = 0;
    for (let i = slash + 1; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c < 48 || c > 57) throw new RoutePrefixSyntaxError(text, "the mask is not a decimal length");
      len = len * 10 + (c - 48);
    }
    if (len > 32) throw new RoutePrefixLengthError(text, len);
  }
  if ((addr & ~prefixMask(len)) !== 0) {
    throw new RouteHostBitsError(text, formatPrefix((addr & prefixMask(len)) >>> 0, len));
  }
  return { addr, len };
}

/** Formats a prefix as "10.0.0.0/8". */
export function formatPrefix(addr: number, len: number): string {
  return `${formatRouteAddress(addr)}/${len}`;
}

function checkPrefix(p: string | Prefix): Prefix {
  if (typeof p === "string") return parsePrefix(p);
  const { addr, len } = p;
  if (!Number.isInteger(len) || len < 0 || len > 32) throw new RoutePrefixLengthError(`${String(addr)}/${len}`, len);
  if (!Number.isInteger(addr) || addr < -0x80000000 || addr > U32_MAX) {
    throw new RoutePrefixSyntaxError(`${String(addr)}/${len}`, "the address is not a uint32");
  }
  const a = addr >>> 0;
  if ((a & ~prefixMask(len)) !== 0) {
    throw new RouteHostBitsError(formatPrefix(a, len), formatPrefix((a & prefixMask(len)) >>> 0, len));
  }
  return a === addr ? p : { addr: a, len };
}

// ───────────────────────────── routes ─────────────────────────────

/** What `add`/`change` take. Exactly what is given is stored; 0 means "unset" for the numbers. */
export interface RouteAttrs {
  /** Next-hop address (uint32 or "a.b.c.d"). Sets RTF_GATEWAY. */
  gateway?: number | string;
  /** Outgoing interface name, e.g. "ix0" (1–15 of [A-Za-z0-9_.-], starting with a letter). */
  ifname?: string;
  /** Hop count / preference (rmx_hopcount), uint32. */
  metric?: number;
  /** Path MTU (rmx_mtu): 0 (use the interface's) or 68–65535. */
  mtu?: number;
  /** Initial-window segment limits (rmx_iwmaxsegs / rmx_iwcapsegs), uint32; see `routeIwSegs`. */
  iwmaxsegs?: number;
  iwcapsegs?: number;
  /** RTF_* bits from RTF_SETTABLE (RTF.STATIC, RTF.BLACKHOLE, …); UP/GATEWAY/HOST are derived. */
  flags?: number;
}

/** One route as stored. */
export interface Route {
  readonly addr: number;
  readonly len: number;
  /** "10.0.0.0/8" */
  readonly prefix: string;
  /** uint32, or undefined for an interface / blackhole route. */
  readonly gateway: number | undefined;
  readonly ifname: string | undefined;
  readonly metric: number;
  readonly mtu: number;
  readonly iwmaxsegs: number;
  readonly iwcapsegs: number;
  /** RTF_* including the derived UP, GATEWAY, HOST. */
  readonly flags: number;
}

/**
 * The initial-window segment limits a route imposes, as DragonFly's `tcp_rmx_iwsegs`
 * (sys/netinet/tcp_input.c): the route's values are used only when both are ≥ 4
 * (TCP_IW_MAXSEGS_DFLT / TCP_IW_CAPSEGS_DFLT); otherwise undefined (use the sysctl defaults).
 */
export function routeIwSegs(r: Pick<Route, "iwmaxsegs" | "iwcapsegs">): { maxsegs: number; capsegs: number } | undefined {
  if (r.iwmaxsegs < TCP_IW_SEGS_MIN || r.iwcapsegs < TCP_IW_SEGS_MIN) return undefined;
  return { maxsegs: r.iwmaxsegs, capsegs: r.iwcapsegs };
}

interface CheckedAttrs {
  gateway: number; // valid iff flags & GATEWAY
  ifname: string | undefined;
  metric: number;
  mtu: number;
  iwmaxsegs: number;
  iwcapsegs: number;
  flags: number;
}

const IFNAME_RE = /^[A-Za-z][A-Za-z0-9_.-]{0,14}$/;

function u32(p: Prefix, name: string, v: unknown): number {
  if (v === undefined) return 0;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > U32_MAX) {
    throw new RouteAttributeError(formatPrefix(p.addr, p.len), name, v, "an integer 0–4294967295");
  }
  return v;
}

function checkAttrs(p: Prefix, a: RouteAttrs): CheckedAttrs {
  const text = (): string => formatPrefix(p.addr, p.len); // only for errors
  let flags = u32(p, "flags", a.flags);
  if ((flags & ~(RTF_SETTABLE | RTF_DERIVED)) !== 0) {
    throw new RouteAttributeError(text(), "flags", a.flags, `only bits of 0x${RTF_SETTABLE.toString(16)} (STATIC, BLACKHOLE, REJECT, PROTO1-3)`);
  }
  flags = (flags & RTF_SETTABLE) | RTF.UP | (p.len === 32 ? RTF.HOST : 0);
  let gateway = 0;
  if (a.gateway !== undefined) {
    if (typeof a.gateway === "string") {
      gateway = parseQuad(a.gateway, 0, a.gateway.length);
      if (gateway < 0) throw new RouteAttributeError(text(), "gateway", a.gateway, "a dotted-quad IPv4 address");
    } else {
      gateway = u32(p, "gateway", a.gateway);
    }
    flags |= RTF.GATEWAY;
  }
  if (a.ifname !== undefined && (typeof a.ifname !== "string" || !IFNAME_RE.test(a.ifname))) {
    throw new RouteAttributeError(text(), "ifname", a.ifname, `1–${ROUTE_IFNAME_MAX} of [A-Za-z0-9_.-] starting with a letter`);
  }
  if (a.gateway === undefined && a.ifname === undefined && (flags & (RTF.BLACKHOLE | RTF.REJECT)) === 0) {
    throw new RouteNoNextHopError(text());
  }
  const mtu = u32(p, "mtu", a.mtu);
  if (mtu !== 0 && (mtu < 68 || mtu > 65535)) throw new RouteAttributeError(text(), "mtu", a.mtu, "0 (unset) or 68–65535");
  return {
    gateway,
    ifname: a.ifname,
    metric: u32(p, "metric", a.metric),
    mtu,
    iwmaxsegs: u32(p, "iwmaxsegs", a.iwmaxsegs),
    iwcapsegs: u32(p, "iwcapsegs", a.iwcapsegs),
    flags,
  };
}

// ───────────────────────────── digest hashing ─────────────────────────────

/** Scratch for one route's canonical words: 9 fixed + ≤ 15 name chars, padded to 4-word blocks. */
const WORDS = new Int32Array(24);
const H = new Int32Array(4);

/**
 * MurmurHash3 x86_128 (seed 0) of `n` 32-bit little-endian words (n a multiple of 4), into H.
 * Integer-only arithmetic, so every CPU computes the same bits.
 */
function murmur128(w: Int32Array, n: number): void {
  let h1 = 0, h2 = 0, h3 = 0, h4 = 0;
  const c1 = 0x239b961b, c2 = 0xab0e9789, c3 = 0x38b34ae5, c4 = 0xa1e38b93;
  for (let i = 0; i < n; i += 4) {
    let k1 = w[i], k2 = w[i + 1], k3 = w[i + 2], k4 = w[i + 3];
    k1 = Math.imul(k1, c1); k1 = (k1 << 15) | (k1 >>> 17); k1 = Math.imul(k1, c2); h1 ^= k1;
    h1 = (h1 << 19) | (h1 >>> 13); h1 = (h1 + h2) | 0; h1 = (Math.imul(h1, 5) + 0x561ccd1b) | 0;
    k2 = Math.imul(k2, c2); k2 = (k2 << 16) | (k2 >>> 16); k2 = Math.imul(k2, c3); h2 ^= k2;
    h2 = (h2 << 17) | (h2 >>> 15); h2 = (h2 + h3) | 0; h2 = (Math.imul(h2, 5) + 0x0bcaa747) | 0;
    k3 = Math.imul(k3, c3); k3 = (k3 << 17) | (k3 >>> 15); k3 = Math.imul(k3, c4); h3 ^= k3;
    h3 = (h3 << 15) | (h3 >>> 17); h3 = (h3 + h4) | 0; h3 = (Math.imul(h3, 5) + 0x96cd1c35) | 0;
    k4 = Math.imul(k4, c4); k4 = (k4 << 18) | (k4 >>> 14); k4 = Math.imul(k4, c1); h4 ^= k4;
    h4 = (h4 << 13) | (h4 >>> 19); h4 = (h4 + h1) | 0; h4 = (Math.imul(h4, 5) + 0x32ac3b17) | 0;
  }
  const len = n * 4;
  h1 ^= len; h2 ^= len; h3 ^= len; h4 ^= len;
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0; h3 = (h3 + h1) | 0; h4 = (h4 + h1) | 0;
  h1 = fmix32(h1); h2 = fmix32(h2); h3 = fmix32(h3); h4 = fmix32(h4);
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0; h3 = (h3 + h1) | 0; h4 = (h4 + h1) | 0;
  H[0] = h1; H[1] = h2; H[2] = h3; H[3] = h4;
}

/** Slot hash of a prefix for the exact-match index. */
function exactHash(addr: number, len: number): number {
  return fmix32(addr ^ Math.imul(len + 1, 0x9e3779b9));
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

// ───────────────────────────── the table ─────────────────────────────

/**
 * One CPU's IPv4 route table. `lookup(addr)` is the hot path: a uint32 address in, a route
 * index (or NO_ROUTE) out, no allocation; `gatewayOf`/`ifnameOf`/`mtuOf`/`flagsOf`/`route` read
 * that route. A route index stays valid until its route is deleted (indexes are then reused).
 */
export class RouteTable {
  /** Level 1: one entry per /24. */
  private readonly l1 = new Int32Array(1 << 24);
  /** Level 2: chunks of 256 entries, chunk c at [c << 8, (c + 1) << 8). Grows by doubling. */
  private l2 = new Int32Array(INITIAL_CHUNKS << 8);
  /** Number of routes longer than /24 in each chunk; the chunk is freed when it drops to 0. */
  private chunkRoutes = new Int32Array(INITIAL_CHUNKS);
  private chunksUsed = 0;
  private readonly freeChunks: number[] = [];

  /** Index of the default route, or NO_ROUTE. */
  private dflt = NO_ROUTE;

  // Per-route attributes, by route index (structure of arrays; grown by doubling).
  private rAddr = new Uint32Array(INITIAL_ROUTES);
  private rLen = new Uint8Array(INITIAL_ROUTES);
  private rFlags = new Uint32Array(INITIAL_ROUTES); // 0 = free slot (live routes always have RTF_UP)
  private rGateway = new Uint32Array(INITIAL_ROUTES);
  private rMetric = new Uint32Array(INITIAL_ROUTES);
  private rMtu = new Uint32Array(INITIAL_ROUTES);
  private rIwMax = new Uint32Array(INITIAL_ROUTES);
  private rIwCap = new Uint32Array(INITIAL_ROUTES);
  private rIfname: (string | undefined)[] = [];
  private slotsUsed = 0;
  private readonly freeSlots: number[] = [];
  private count = 0;

  /**
   * Exact match (addr, len) → route index: open addressing with linear probing over route
   * index + 1 (0 = empty), at most half full; deletion shifts the probe run back (no tombstones).
   * Typed arrays rather than a Map: no per-key boxing of addresses ≥ 2^30, no GC churn.
   */
  private exact = new Int32Array(INITIAL_ROUTES * 2);

  /** XOR over routes of their 128-bit hashes. */
  private readonly acc = new Int32Array(4);

  /** Number of routes. */
  get size(): number {
    return this.count;
  }

  /** Level-2 chunks in use (for memory accounting). */
  get chunks(): number {
    return this.chunksUsed - this.freeChunks.length;
  }

  /** Longest-prefix match: the index of the best route for `addr` (uint32 or int32), or NO_ROUTE. */
  lookup(addr: number): number {
    let e = this.l1[addr >>> 8];
    if (e < 0) e = this.l2[(~e << 8) | (addr & 0xff)];
    return e === 0 ? this.dflt : e - 1;
  }

  /** The best route for `addr` as an object (allocates; not for the packet path). */
  match(addr: number): Route | undefined {
    const i = this.lookup(addr);
    return i === NO_ROUTE ? undefined : this.route(i);
  }

  gatewayOf(index: number): number {
    return this.rGateway[index];
  }
  ifnameOf(index: number): string | undefined {
    return this.rIfname[index];
  }
  mtuOf(index: number): number {
    return this.rMtu[index];
  }
  flagsOf(index: number): number {
    return this.rFlags[index];
  }

  /** The route at `index` (as returned by `lookup`). */
  route(index: number): Route {
    const addr = this.rAddr[index];
    const len = this.rLen[index];
    const flags = this.rFlags[index];
    return {
      addr,
      len,
      prefix: formatPrefix(addr, len),
      gateway: flags & RTF.GATEWAY ? this.rGateway[index] : undefined,
      ifname: this.rIfname[index],
      metric: this.rMetric[index],
      mtu: this.rMtu[index],
      iwmaxsegs: this.rIwMax[index],
      iwcapsegs: this.rIwCap[index],
      flags,
    };
  }

  /** Exact match (RTM_GET with RTS_EXACTMATCH). */
  get(prefix: string | Prefix): Route | undefined {
    const p = checkPrefix(prefix);
    const i = this.find(p.addr, p.len);
    return i < 0 ? undefined : this.route(i);
  }

  has(prefix: string | Prefix): boolean {
    const p = checkPrefix(prefix);
    return this.find(p.addr, p.len) >= 0;
  }

  /** Every route, sorted by network address then length. */
  list(): Route[] {
    const idx: number[] = [];
    for (let i = 0; i < this.slotsUsed; i++) if (this.rFlags[i] !== 0) idx.push(i);
    idx.sort((a, b) => this.rAddr[a] - this.rAddr[b] || this.rLen[a] - this.rLen[b]);
    return idx.map((i) => this.route(i));
  }

  /**
   * Adds a route (RTM_ADD). Throws RouteExistsError if the exact prefix is present, the
   * validation errors above, or RouteTableFullError; on any error the table is unchanged.
   * Returns the new route's index.
   */
  add(prefix: string | Prefix, attrs: RouteAttrs = {}): number {
    const p = checkPrefix(prefix);
    const a = checkAttrs(p, attrs);
    const { addr, len } = p;
    if (this.find(addr, len) >= 0) throw new RouteExistsError(formatPrefix(addr, len));
    if (this.freeSlots.length === 0 && this.slotsUsed === ROUTE_MAX_ROUTES) {
      throw new RouteTableFullError(formatPrefix(addr, len), "routes", ROUTE_MAX_ROUTES);
    }
    const l1i = addr >>> 8;
    if (len > 24 && this.l1[l1i] >= 0 && this.freeChunks.length === 0 && this.chunksUsed === ROUTE_MAX_CHUNKS) {
      throw new RouteTableFullError(formatPrefix(addr, len), "chunks", ROUTE_MAX_CHUNKS);
    }
    // Nothing below throws.
    const i = this.allocSlot();
    this.store(i, addr, len, a);
    this.insertExact(i);
    this.count++;
    this.mix(i);
    const v = i + 1;
    if (len === 0) {
      this.dflt = i;
    } else if (len <= 24) {
      const l1 = this.l1;
      const end = l1i + (1 << (24 - len));
      for (let j = l1i; j < end; j++) {
        const e = l1[j];
        if (e < 0) this.fillChunk(~e << 8, 256, len, v);
        else if (e === 0 || this.rLen[e - 1] < len) l1[j] = v;
      }
    } else {
      let e = this.l1[l1i];
      if (e >= 0) {
        const c = this.allocChunk();
        this.l2.fill(e, c << 8, (c + 1) << 8);
        this.l1[l1i] = e = ~c;
      }
      this.chunkRoutes[~e]++;
      this.fillChunk((~e << 8) | (addr & 0xff), 1 << (32 - len), len, v);
    }
    return i;
  }

  /** Removes every route at once (a replica about to load a whole table again; 900K deletes took seconds). The arrays are kept, zeroed. */
  clear(): void {
    this.l1.fill(0);
    this.chunkRoutes.fill(0);
    this.chunksUsed = 0;
    this.freeChunks.length = 0;
    this.dflt = NO_ROUTE;
    this.rFlags.fill(0);
    this.rIfname = [];
    this.slotsUsed = 0;
    this.freeSlots.length = 0;
    this.count = 0;
    this.exact.fill(0);
    this.acc.fill(0);
  }

  /** Deletes the exact prefix (RTM_DELETE); the addresses it covered fall back to the next-shorter covering route. */
  delete(prefix: string | Prefix): Route {
    const p = checkPrefix(prefix);
    const { addr, len } = p;
    const i = this.find(addr, len);
    if (i < 0) throw new RouteNotFoundError(formatPrefix(addr, len));
    const gone = this.route(i);
    const v = i + 1;
    const pv = this.coveringValue(addr, len);
    if (len === 0) {
      this.dflt = NO_ROUTE;
    } else if (len <= 24) {
      const l1 = this.l1;
      const l1i = addr >>> 8;
      const end = l1i + (1 << (24 - len));
      for (let j = l1i; j < end; j++) {
        const e = l1[j];
        if (e < 0) this.replaceChunk(~e << 8, 256, v, pv);
        else if (e === v) l1[j] = pv;
      }
    } else {
      const l1i = addr >>> 8;
      const c = ~this.l1[l1i];
      this.replaceChunk((c << 8) | (addr & 0xff), 1 << (32 - len), v, pv);
      if (--this.chunkRoutes[c] === 0) {
        // No prefix longer than /24 is left here, so every entry holds the /24's best route.
        this.l1[l1i] = this.l2[c << 8];
        this.freeChunks.push(c);
      }
    }
    this.mix(i); // XOR out
    this.removeExact(i);
    this.rFlags[i] = 0;
    this.rIfname[i] = undefined;
    this.freeSlots.push(i);
    this.count--;
    return gone;
  }

  /** Replaces the attributes of an existing route in place (RTM_CHANGE); its index is kept. */
  change(prefix: string | Prefix, attrs: RouteAttrs): Route {
    const p = checkPrefix(prefix);
    const i = this.find(p.addr, p.len);
    if (i < 0) throw new RouteNotFoundError(formatPrefix(p.addr, p.len));
    const a = checkAttrs(p, attrs);
    this.mix(i);
    this.store(i, p.addr, p.len, a);
    this.mix(i);
    return this.route(i);
  }

  /** 32 hex digits identifying the set of routes and their attributes (see the file comment). */
  digest(): string {
    const w = WORDS;
    w.fill(0);
    w[0] = this.count;
    w[1] = this.acc[0];
    w[2] = this.acc[1];
    w[3] = this.acc[2];
    w[4] = this.acc[3];
    w[5] = 0x64666c79; // "dfly"
    w[6] = 1; // digest version
    murmur128(w, 8);
    let s = "";
    for (let k = 0; k < 4; k++) s += (H[k] >>> 0).toString(16).padStart(8, "0");
    return s;
  }

  // ─── internals ───

  /** Writes `v` over the `n` entries of l2 from `base` that hold a route shorter than `len`. */
  private fillChunk(base: number, n: number, len: number, v: number): void {
    const l2 = this.l2;
    const rLen = this.rLen;
    for (let k = base, end = base + n; k < end; k++) {
      const o = l2[k];
      if (o === 0 || rLen[o - 1] < len) l2[k] = v;
    }
  }

  private replaceChunk(base: number, n: number, v: number, pv: number): void {
    const l2 = this.l2;
    for (let k = base, end = base + n; k < end; k++) if (l2[k] === v) l2[k] = pv;
  }

  /** Entry value of the longest route strictly covering addr/len: index + 1, or 0 (default / none). */
  private coveringValue(addr: number, len: number): number {
    for (let l = len - 1; l >= 1; l--) {
      const i = this.find((addr & prefixMask(l)) >>> 0, l);
      if (i >= 0) return i + 1;
    }
    return 0;
  }

  /** Route index of exactly addr/len, or -1. */
  private find(addr: number, len: number): number {
    const t = this.exact;
    const mask = t.length - 1;
    for (let h = exactHash(addr, len) & mask; ; h = (h + 1) & mask) {
      const v = t[h];
      if (v === 0) return -1;
      if (this.rAddr[v - 1] === addr && this.rLen[v - 1] === len) return v - 1;
    }
  }

  private insertExact(i: number): void {
    if ((this.count + 1) * 2 > this.exact.length) {
      const old = this.exact;
      this.exact = new Int32Array(old.length * 2);
      for (let k = 0; k < old.length; k++) if (old[k] !== 0) this.placeExact(old[k] - 1);
    }
    this.placeExact(i);
  }

  private placeExact(i: number): void {
    const t = this.exact;
    const mask = t.length - 1;
    let h = exactHash(this.rAddr[i], this.rLen[i]) & mask;
    while (t[h] !== 0) h = (h + 1) & mask;
    t[h] = i + 1;
  }

  /** Removes route i (present) from the exact index, shifting later members of its probe run back. */
  private removeExact(i: number): void {
    const t = this.exact;
    const mask = t.length - 1;
    let hole = exactHash(this.rAddr[i], this.rLen[i]) & mask;
    while (t[hole] !== i + 1) hole = (hole + 1) & mask;
    for (let j = (hole + 1) & mask; t[j] !== 0; j = (j + 1) & mask) {
      const v = t[j];
      const home = exactHash(this.rAddr[v - 1], this.rLen[v - 1]) & mask;
      // v may move into the hole unless its home lies cyclically in (hole, j].
      const stays = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!stays) {
        t[hole] = v;
        hole = j;
      }
    }
    t[hole] = 0;
  }

  private allocChunk(): number {
    const f = this.freeChunks.pop();
    if (f !== undefined) return f;
    const c = this.chunksUsed++;
    if (c === this.chunkRoutes.length) {
      const n = Math.min(this.chunkRoutes.length * 2, ROUTE_MAX_CHUNKS);
      const l2 = new Int32Array(n << 8);
      l2.set(this.l2);
      this.l2 = l2;
      const cr = new Int32Array(n);
      cr.set(this.chunkRoutes);
      this.chunkRoutes = cr;
    }
    return c;
  }

  private allocSlot(): number {
    const f = this.freeSlots.pop();
    if (f !== undefined) return f;
    const i = this.slotsUsed++;
    if (i === this.rAddr.length) {
      const n = Math.min(this.rAddr.length * 2, ROUTE_MAX_ROUTES);
      const grow = <T extends Uint32Array | Uint8Array>(a: T, make: (n: number) => T): T => {
        const b = make(n);
        b.set(a);
        return b;
      };
      this.rAddr = grow(this.rAddr, (k) => new Uint32Array(k));
      this.rLen = grow(this.rLen, (k) => new Uint8Array(k));
      this.rFlags = grow(this.rFlags, (k) => new Uint32Array(k));
      this.rGateway = grow(this.rGateway, (k) => new Uint32Array(k));
      this.rMetric = grow(this.rMetric, (k) => new Uint32Array(k));
      this.rMtu = grow(this.rMtu, (k) => new Uint32Array(k));
      this.rIwMax = grow(this.rIwMax, (k) => new Uint32Array(k));
      this.rIwCap = grow(this.rIwCap, (k) => new Uint32Array(k));
    }
    return i;
  }

  private store(i: number, addr: number, len: number, a: CheckedAttrs): void {
    this.rAddr[i] = addr;
    this.rLen[i] = len;
    this.rFlags[i] = a.flags;
    this.rGateway[i] = a.gateway;
    this.rMetric[i] = a.metric;
    this.rMtu[i] = a.mtu;
    this.rIwMax[i] = a.iwmaxsegs;
    this.rIwCap[i] = a.iwcapsegs;
    this.rIfname[i] = a.ifname;
  }

  /**
   * XORs route i's hash into the digest accumulator. Canonical encoding, 32-bit words:
   * [addr, len, flags, gateway (0 without RTF_GATEWAY), metric, mtu, iwmaxsegs, iwcapsegs,
   *  ifname length (0 = none), one word per ifname UTF-16 unit], zero-padded to a multiple of 4.
   */
  private mix(i: number): void {
    const w = WORDS;
    w.fill(0);
    w[0] = this.rAddr[i];
    w[1] = this.rLen[i];
    w[2] = this.rFlags[i];
    w[3] = this.rGateway[i];
    w[4] = this.rMetric[i];
    w[5] = this.rMtu[i];
    w[6] = this.rIwMax[i];
    w[7] = this.rIwCap[i];
    const name = this.rIfname[i] ?? "";
    w[8] = name.length;
    for (let k = 0; k < name.length; k++) w[9 + k] = name.charCodeAt(k);
    murmur128(w, (9 + name.length + 3) & ~3);
    const acc = this.acc;
    acc[0] ^= H[0];
    acc[1] ^= H[1];
    acc[2] ^= H[2];
    acc[3] ^= H[3];
  }
}
