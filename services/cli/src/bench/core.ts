/**
 * `dfly bench core`: the speed of services/core's hot functions, each next to a baseline measured
 * in the same run on the same data, so the ratios mean something on a shared, noisy machine.
 *
 * - Toeplitz: ns/hash of `symmetric.hash4` (DragonFly's two 256-entry tables) and of
 *   `new Toeplitz(key).hash4` (eight 4096-entry tables indexed by 12 input bits: 8 loads), against a
 *   C byte-table implementation (test/bench/toeplitz_ref.c: twelve 256-entry tables, 12 loads,
 *   compiled with `gcc -O2` into a temporary directory) hashing the same tuples the same number of
 *   times. The sums of the hashes must agree, which proves equal results (not an equal method).
 * - LPM: lookups/s of `RouteTable.lookup` on one core over random addresses (uniform, and inside
 *   routed prefixes), against a raw random-index read of a 2^24-entry Int32Array (the memory access
 *   any DIR-24-8 lookup must make); plus the time to load and build the full Internet table.
 * - Checksum: GB/s of `inCksum` against a plain byte-sum loop over the same packets.
 *
 * Every time is the best of `runs` runs. Every `ratio` is measured ÷ baseline as a rate (hashes,
 * lookups, bytes per second; the baseline's time ÷ ours): higher is better, 1 = as fast.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import {
  MICROSOFT_KEY,
  RouteError,
  RouteExistsError,
  RouteTable,
  SYMMETRIC_KEY,
  Toeplitz,
  inCksum,
  parsePrefix,
  prefixMask,
  symmetric,
  type Prefix,
  type RouteAttrs,
} from "@dfly/core";

/** Size of the full IPv4 table in ../shared/testdata/ipv4-ipv6-prefixes.txt.gz, and of the synthetic one. */
export const FULL_TABLE_PREFIXES = 901_899;
/** Default operations per timed run (hashes, lookups; the checksum sums 16 bytes × this). */
export const DEFAULT_ITERATIONS = 1 << 22;
export const DEFAULT_RUNS = 5;
/** Upper bounds (bounded load loops). */
export const MAX_ITERATIONS = 1 << 28;
export const MAX_RUNS = 100;

/** Tuples hashed round-robin (48 KiB of input: in cache, as for a packet batch). */
const TUPLES = 4096;
/** Addresses looked up round-robin (4 MiB, so they are streamed rather than cached). */
const ADDRS = 1 << 20;
/** Packets checksummed round-robin: 64 of 1500 bytes. */
const PACKETS = 64;
const PACKET_BYTES = 1500;

export interface BenchCoreOptions {
  /** Prefix list (text or .gz, one prefix per line; IPv6 lines skipped). Default: the shared full table if present. */
  prefixes?: string;
  /** Use a synthetic table of this many prefixes (the length mix of the full table) instead of a file. */
  synthetic?: number;
  iterations?: number;
  runs?: number;
  /** C compiler for the baseline. Default "gcc". */
  cc?: string;
}

export interface BenchCoreResult {
  bench: "core";
  node: string;
  cpu: string;
  iterations: number;
  runs: number;
  statistic: string;
  toeplitz: {
    tuples: number;
    symmetricNsPerHash: number;
    genericNsPerHash: number;
    c: { compiler: string; symmetricKeyNsPerHash: number; genericKeyNsPerHash: number; sumsMatch: boolean } | null;
    cError?: string;
    /** What `ratio` divides by (null without a C compiler). */
    baseline: string | null;
    /** JS hashes/s ÷ C hashes/s (C ns ÷ JS ns), same key, same tuples, same count. */
    ratio: { symmetric: number; generic: number } | null;
  };
  lpm: {
    table: "file" | "synthetic";
    source: string | null;
    note?: string;
    prefixes: number;
    skipped: { ipv6: number; invalid: number; duplicate: number };
    routes: number;
    chunks: number;
    loadMs: number;
    buildMs: number;
    totalLoadMs: number;
    arrayBufferMiB: number;
    lookupsPerSec: { random: number; routed: number };
    nsPerLookup: { random: number; routed: number };
    baseline: { what: string; lookupsPerSec: number; nsPerLookup: number };
    /** LPM lookups/s ÷ baseline reads/s (baseline ns ÷ LPM ns). */
    ratio: { random: number; routed: number };
  };
  cksum: {
    packetBytes: number;
    inCksumGBps: number;
    baseline: { what: string; GBps: number };
    /** inCksum GB/s ÷ byte-sum GB/s. */
    ratio: number;
  };
  targets: {
    toeplitzWithin2xOfC: boolean | null;
    lpmAtLeast10MLookupsPerSec: boolean;
    fullTableLoadUnder10s: boolean | null;
  };
}

/** Usage mistakes in the options (the command maps this to exit code 2). */
export class BenchOptionError extends Error {
  override readonly name = "BenchOptionError";
  constructor(readonly option: string, readonly value: unknown, readonly expected: string) {
    super(`${option} ${String(value)}: expected ${expected}`);
  }
}

/** Deterministic PRNG (mulberry32), so every run measures the same inputs. */
function rng(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** Walks up from this module to the repository root (the directory holding test/bench/toeplitz_ref.c). */
function repoRoot(): string | undefined {
  let d = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(d, "test", "bench", "toeplitz_ref.c"))) return d;
    const up = dirname(d);
    if (up === d) return undefined;
    d = up;
  }
}

/**
 * Times each function `runs` times, interleaved (f0, f1, …, f0, f1, …) so that a burst of load from
 * other processes hits all of them alike; returns each one's best time in ns. A function may time
 * itself by returning a number of ns (the C baseline reports its own loop time); otherwise it
 * returns undefined and is timed here.
 */
function bestInterleaved(runs: number, fs: (() => number | void)[]): number[] {
  for (const f of fs) f(); // warm-up pass, not counted: JIT tiers up, on-stack replacement, page faults
  const b = fs.map(() => Infinity);
  for (let r = 0; r < runs; r++) {
    for (let k = 0; k < fs.length; k++) {
      const t0 = process.hrtime.bigint();
      const self = fs[k]();
      const dt = typeof self === "number" ? self : Number(process.hrtime.bigint() - t0);
      if (dt < b[k]) b[k] = dt;
    }
  }
  return b;
}

// ─── Toeplitz ───
// One loop per hasher: a shared loop with a function argument would measure a megamorphic call.
// The tuples live in module-level constant arrays (48 KiB) indexed by `k & (TUPLES - 1)`, so the
// JIT knows every index is in bounds, as C does; passed as arguments they cost ≈ 1 ns per hash in
// bounds checks that belong to this harness, not to the hash.

let sink = 0;
const SRC = new Uint32Array(TUPLES);
const DST = new Uint32Array(TUPLES);
const SPORT = new Uint16Array(TUPLES);
const DPORT = new Uint16Array(TUPLES);

function loopSymmetric(n: number): number {
  let s = 0;
  for (let k = 0; k < n; k++) {
    const i = k & (TUPLES - 1);
    s = (s + symmetric.hash4(SRC[i], DST[i], SPORT[i], DPORT[i])) | 0;
  }
  return s;
}

function loopGeneric(t: Toeplitz, n: number): number {
  let s = 0;
  for (let k = 0; k < n; k++) {
    const i = k & (TUPLES - 1);
    s = (s + t.hash4(SRC[i], DST[i], SPORT[i], DPORT[i])) | 0;
  }
  return s;
}

interface CResult {
  nsPerHash: number;
  sum: number;
}

function runC(exe: string, tuples: string, key: Uint8Array, n: number, runs: number): CResult {
  const hex = Buffer.from(key).toString("hex");
  const r = spawnSync(exe, [tuples, hex, String(n), String(runs)], { encoding: "utf8", timeout: 120_000 });
  if (r.status !== 0) throw new Error(`C baseline failed (${r.status ?? r.signal}): ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as CResult;
}

function benchToeplitz(iterations: number, runs: number, cc: string): BenchCoreResult["toeplitz"] {
  const rand = rng(0x70e1);
  const [src, dst, sp, dp] = [SRC, DST, SPORT, DPORT];
  const bytes = Buffer.alloc(TUPLES * 12);
  for (let i = 0; i < TUPLES; i++) {
    src[i] = rand();
    dst[i] = rand();
    sp[i] = rand() & 0xffff;
    dp[i] = rand() & 0xffff;
    bytes.writeUInt32BE(src[i], i * 12);
    bytes.writeUInt32BE(dst[i], i * 12 + 4);
    bytes.writeUInt16BE(sp[i], i * 12 + 8);
    bytes.writeUInt16BE(dp[i], i * 12 + 10);
  }
  const gen = new Toeplitz(MICROSOFT_KEY);
  let symSum = 0;
  let genSum = 0;
  const jsSym = (): void => void (symSum = loopSymmetric(iterations));
  const jsGen = (): void => void (genSum = loopGeneric(gen, iterations));

  const out: BenchCoreResult["toeplitz"] = {
    tuples: TUPLES,
    symmetricNsPerHash: 0,
    genericNsPerHash: 0,
    c: null,
    baseline: null,
    ratio: null,
  };
  const root = repoRoot();
  const dir = mkdtempSync(join(tmpdir(), "dfly-bench-"));
  try {
    let exe: string | undefined;
    if (!root) {
      out.cError = "test/bench/toeplitz_ref.c not found above " + dirname(fileURLToPath(import.meta.url));
    } else {
      exe = join(dir, "toeplitz_ref");
      const c = spawnSync(cc, ["-O2", "-o", exe, join(root, "test", "bench", "toeplitz_ref.c")], { encoding: "utf8", timeout: 120_000 });
      if (c.error || c.status !== 0) {
        out.cError = `cannot compile the C baseline with ${cc} -O2 (${c.error?.message ?? c.stderr.trim()}); install gcc (scripts/setup-machine.sh does)`;
        exe = undefined;
      }
    }
    if (!exe) {
      const [sym, g] = bestInterleaved(runs, [jsSym, jsGen]);
      out.symmetricNsPerHash = round(sym / iterations, 3);
      out.genericNsPerHash = round(g / iterations, 3);
      return out;
    }
    const tuples = join(dir, "tuples.bin");
    writeFileSync(tuples, bytes);
    let cSymSum = 0;
    let cGenSum = 0;
    // Each C run is its own process timing its own loop (one run per process, interleaved with ours).
    const cSym = (): number => {
      const r = runC(exe, tuples, SYMMETRIC_KEY, iterations, 1);
      cSymSum = r.sum;
      return r.nsPerHash * iterations;
    };
    const cGen = (): number => {
      const r = runC(exe, tuples, MICROSOFT_KEY, iterations, 1);
      cGenSum = r.sum;
      return r.nsPerHash * iterations;
    };
    const [sym, g, cs, cg] = bestInterleaved(runs, [jsSym, jsGen, cSym, cGen]).map((ns) => ns / iterations);
    out.symmetricNsPerHash = round(sym, 3);
    out.genericNsPerHash = round(g, 3);
    out.c = {
      compiler: `${cc} -O2`,
      symmetricKeyNsPerHash: round(cs, 3),
      genericKeyNsPerHash: round(cg, 3),
      sumsMatch: cSymSum === symSum >>> 0 && cGenSum === genSum >>> 0,
    };
    out.baseline = `C ${cc} -O2 byte tables (test/bench/toeplitz_ref.c)`;
    out.ratio = { symmetric: round(cs / sym, 3), generic: round(cg / g, 3) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

// ─── LPM ───

interface LoadedPrefixes {
  table: "file" | "synthetic";
  source: string | null;
  note?: string;
  prefixes: Prefix[];
  skipped: { ipv6: number; invalid: number; duplicate: number };
  loadMs: number;
}

/** Reads a prefix list (gzip detected by its magic bytes); IPv6 lines are counted and skipped. */
export function loadPrefixFile(path: string): LoadedPrefixes {
  const t0 = process.hrtime.bigint();
  let raw = readFileSync(path);
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) raw = gunzipSync(raw);
  const text = raw.toString("latin1");
  const prefixes: Prefix[] = [];
  const skipped = { ipv6: 0, invalid: 0, duplicate: 0 };
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    let line = text.slice(start, end);
    start = end + 1;
    if (line.endsWith("\r")) line = line.slice(0, -1);
    if (line.length === 0 || line.startsWith("#")) continue;
    if (line.includes(":")) {
      skipped.ipv6++;
      continue;
    }
    try {
      prefixes.push(parsePrefix(line));
    } catch (e) {
      if (!(e instanceof RouteError)) throw e;
      skipped.invalid++;
    }
  }
  return { table: "file", source: path, prefixes, skipped, loadMs: Number(process.hrtime.bigint() - t0) / 1e6 };
}

/** Prefix-length mix of the 901,899-prefix Internet table (/8 … /32). */
const LENGTH_MIX: [number, number][] = [
  [8, 16], [9, 13], [10, 38], [11, 103], [12, 299], [13, 581], [14, 1203], [15, 2100], [16, 13490],
  [17, 8235], [18, 13798], [19, 24870], [20, 42611], [21, 50750], [22, 108623], [23, 96510],
  [24, 537698], [25, 20], [26, 3], [27, 11], [28, 18], [29, 17], [30, 3], [31, 3], [32, 886],
];

/** A synthetic table of `n` distinct prefixes with the full table's length mix, from a fixed seed. */
export function syntheticPrefixes(n: number): LoadedPrefixes {
  const t0 = process.hrtime.bigint();
  const rand = rng(0x1bad);
  const total = LENGTH_MIX.reduce((s, [, c]) => s + c, 0);
  const seen = new Set<number>();
  const prefixes: Prefix[] = [];
  for (const [len, c] of LENGTH_MIX) {
    const want = Math.max(len >= 25 ? 1 : 0, Math.round((c * n) / total));
    for (let k = 0, tries = 0; k < want && prefixes.length < n && tries < want * 20; tries++) {
      // Unicast-looking space 1.0.0.0–223.255.255.255.
      const a = (((rand() % 223) + 1) * 0x1000000 + (rand() & 0xffffff)) >>> 0;
      const addr = (a & prefixMask(len)) >>> 0;
      const key = addr * 33 + len;
      if (seen.has(key)) continue;
      seen.add(key);
      prefixes.push({ addr, len });
      k++;
    }
  }
  // Shuffle: files are not sorted by length either.
  for (let i = prefixes.length - 1; i > 0; i--) {
    const j = rand() % (i + 1);
    [prefixes[i], prefixes[j]] = [prefixes[j], prefixes[i]];
  }
  return {
    table: "synthetic",
    source: null,
    note: `no prefix file: ${prefixes.length} random prefixes with the length mix of the ${FULL_TABLE_PREFIXES}-prefix Internet table`,
    prefixes,
    skipped: { ipv6: 0, invalid: 0, duplicate: 0 },
    loadMs: Number(process.hrtime.bigint() - t0) / 1e6,
  };
}

function loopLpm(t: RouteTable, addrs: Uint32Array, n: number): number {
  let s = 0;
  const mask = addrs.length - 1;
  for (let k = 0; k < n; k++) s = (s + t.lookup(addrs[k & mask])) | 0;
  return s;
}

function loopBaseline(base: Int32Array, addrs: Uint32Array, n: number): number {
  let s = 0;
  const mask = addrs.length - 1;
  for (let k = 0; k < n; k++) s = (s + base[addrs[k & mask] >>> 8]) | 0;
  return s;
}

function benchLpm(opts: BenchCoreOptions, iterations: number, runs: number): BenchCoreResult["lpm"] {
  let loaded: LoadedPrefixes;
  if (opts.synthetic !== undefined) {
    loaded = syntheticPrefixes(opts.synthetic);
  } else if (opts.prefixes !== undefined) {
    loaded = loadPrefixFile(opts.prefixes);
  } else {
    const root = repoRoot();
    const shared = root ? resolve(root, "..", "shared", "testdata", "ipv4-ipv6-prefixes.txt.gz") : undefined;
    loaded = shared && existsSync(shared) ? loadPrefixFile(shared) : syntheticPrefixes(FULL_TABLE_PREFIXES);
  }
  // Sixteen next hops, as a router with a few peers would have.
  const hops: RouteAttrs[] = Array.from({ length: 16 }, (_, k) => ({ gateway: 0xc0000200 + k + 1, ifname: `ix${k & 3}` }));
  const ab0 = process.memoryUsage().arrayBuffers;
  const t0 = process.hrtime.bigint();
  const table = new RouteTable();
  const ps = loaded.prefixes;
  for (let i = 0; i < ps.length; i++) {
    try {
      table.add(ps[i], hops[i & 15]);
    } catch (e) {
      if (!(e instanceof RouteExistsError)) throw e;
      loaded.skipped.duplicate++;
    }
  }
  const buildMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const arrayBufferMiB = (process.memoryUsage().arrayBuffers - ab0) / 2 ** 20;

  const rand = rng(0xadd7);
  const uniform = new Uint32Array(ADDRS);
  for (let i = 0; i < ADDRS; i++) uniform[i] = rand();
  const routed = new Uint32Array(ADDRS);
  for (let i = 0; i < ADDRS; i++) {
    const p = ps.length > 0 ? ps[rand() % ps.length] : { addr: 0, len: 0 };
    routed[i] = (p.addr | (rand() & ~prefixMask(p.len))) >>> 0;
  }
  const base = new Int32Array(1 << 24);
  for (let i = 0; i < base.length; i++) base[i] = rand() & 0xfffff; // every page resident, as the table's are

  const [nsRandom, nsRouted, nsBase] = bestInterleaved(runs, [
    () => void (sink ^= loopLpm(table, uniform, iterations)),
    () => void (sink ^= loopLpm(table, routed, iterations)),
    () => void (sink ^= loopBaseline(base, uniform, iterations)),
  ]).map((ns) => ns / iterations);
  const full = loaded.table === "file" && ps.length >= FULL_TABLE_PREFIXES;
  const out: BenchCoreResult["lpm"] = {
    table: loaded.table,
    source: loaded.source,
    prefixes: ps.length,
    skipped: loaded.skipped,
    routes: table.size,
    chunks: table.chunks,
    loadMs: round(loaded.loadMs, 1),
    buildMs: round(buildMs, 1),
    totalLoadMs: round(loaded.loadMs + buildMs, 1),
    arrayBufferMiB: round(arrayBufferMiB, 1),
    lookupsPerSec: { random: Math.round(1e9 / nsRandom), routed: Math.round(1e9 / nsRouted) },
    nsPerLookup: { random: round(nsRandom, 3), routed: round(nsRouted, 3) },
    baseline: {
      what: "random-index read of a 2^24-entry Int32Array, same addresses (addr >>> 8)",
      lookupsPerSec: Math.round(1e9 / nsBase),
      nsPerLookup: round(nsBase, 3),
    },
    ratio: { random: round(nsBase / nsRandom, 3), routed: round(nsBase / nsRouted, 3) },
  };
  if (loaded.note) out.note = loaded.note;
  else if (!full) out.note = `${ps.length} prefixes, not the full ${FULL_TABLE_PREFIXES}-prefix table`;
  return out;
}

// ─── checksum ───

function loopCksum(pkts: Uint8Array[], n: number): number {
  let s = 0;
  for (let k = 0; k < n; k++) s = (s + inCksum(pkts[k & (PACKETS - 1)])) | 0;
  return s;
}

function loopByteSum(pkts: Uint8Array[], n: number): number {
  let s = 0;
  for (let k = 0; k < n; k++) {
    const b = pkts[k & (PACKETS - 1)];
    for (let i = 0; i < b.length; i++) s = (s + b[i]) | 0;
  }
  return s;
}

function benchCksum(iterations: number, runs: number): BenchCoreResult["cksum"] {
  const rand = rng(0xc5c5);
  const pkts: Uint8Array[] = [];
  for (let k = 0; k < PACKETS; k++) {
    const b = new Uint8Array(PACKET_BYTES);
    for (let i = 0; i < b.length; i++) b[i] = rand() & 0xff;
    pkts.push(b);
  }
  const n = Math.max(1, Math.floor((iterations * 16) / PACKET_BYTES)); // 16 bytes per iteration
  const [ns, nsBase] = bestInterleaved(runs, [() => void (sink ^= loopCksum(pkts, n)), () => void (sink ^= loopByteSum(pkts, n))]);
  const bytes = n * PACKET_BYTES;
  return {
    packetBytes: PACKET_BYTES,
    inCksumGBps: round(bytes / ns, 3),
    baseline: { what: "byte-by-byte sum of the same packets", GBps: round(bytes / nsBase, 3) },
    ratio: round(nsBase / ns, 3),
  };
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function checkCount(option: string, v: number | undefined, dflt: number, max: number): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < 1 || v > max) throw new BenchOptionError(option, v, `an integer 1–${max}`);
  return v;
}

/** Runs the whole benchmark (CPU-bound, one core; ≈ 10–30 s with the defaults and the full table). */
export function benchCore(opts: BenchCoreOptions = {}): BenchCoreResult {
  const iterations = checkCount("--iterations", opts.iterations, DEFAULT_ITERATIONS, MAX_ITERATIONS);
  const runs = checkCount("--runs", opts.runs, DEFAULT_RUNS, MAX_RUNS);
  if (opts.synthetic !== undefined) checkCount("--synthetic", opts.synthetic, FULL_TABLE_PREFIXES, 4_000_000);
  if (opts.prefixes !== undefined && !existsSync(opts.prefixes)) throw new BenchOptionError("--prefixes", opts.prefixes, "an existing file");
  const toeplitz = benchToeplitz(iterations, runs, opts.cc ?? "gcc");
  const lpm = benchLpm(opts, iterations, runs);
  const cksum = benchCksum(iterations, runs);
  return {
    bench: "core",
    node: process.version,
    cpu: cpus()[0]?.model ?? "unknown",
    iterations,
    runs,
    statistic: `best of ${runs} runs; ratios are time ratios ours/baseline (>1 = slower)`,
    toeplitz,
    lpm,
    cksum,
    targets: {
      toeplitzWithin2xOfC: toeplitz.ratio ? toeplitz.ratio.symmetric >= 0.5 && toeplitz.ratio.generic >= 0.5 : null,
      lpmAtLeast10MLookupsPerSec: lpm.lookupsPerSec.random >= 10_000_000,
      fullTableLoadUnder10s: lpm.prefixes >= FULL_TABLE_PREFIXES ? lpm.totalLoadMs <= 10_000 : null,
    },
  };
}

/** Keeps the optimiser from discarding the timed loops. */
export function benchSink(): number {
  return sink;
}
