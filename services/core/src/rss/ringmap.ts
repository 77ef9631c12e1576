/**
 * The NIC ring → CPU map and RSS redirect table of DragonFly's sys/net/if.c
 * (if_ringcnt_fixup, if_ringmap_alloc[2], if_ringmap_set_grid,
 * if_ringmap_align, if_ringmap_match, if_ringmap_rdrtable; added 68732d8f84,
 * 2017). `netisr_ncpus` and `device_get_unit(dev)`, globals there, are
 * parameters here. Functions return new objects instead of editing in place.
 */
import { NETISR_CPUMAX, NETISR_CPUMASK } from "./netisr.js";

export interface Ringmap {
  /** netisr_ncpus the map was built for. */
  readonly ncpus: number;
  /** rm_cnt: rings after the fix-up (and the power-of-2 rounding of alloc2). */
  readonly rings: number;
  /** rm_grid: a divisor of ncpus, ≥ rings; the CPUs are cut into ncpus/grid grids. */
  readonly grid: number;
  /** rm_cpumap: ring i is serviced on CPU ringToCpu[i]. */
  readonly ringToCpu: number[];
}

/** A ringmap parameter out of range (DragonFly KASSERTs or panics on these). */
export class RingmapConfigError extends Error {
  override readonly name = "RingmapConfigError";
  constructor(
    readonly param: string,
    readonly value: number,
    want: string,
  ) {
    super(`ringmap: ${param} ${value} is invalid; want ${want}`);
  }
}

/** Largest redirect table accepted (ix X550 has 512; this is a sanity bound). */
export const RDRTABLE_NENT_MAX = 8192;

function checkInt(param: string, v: number, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new RingmapConfigError(param, v, `an integer in ${min}..${max}`);
  }
}

function checkNcpus(ncpus: number): void {
  checkInt("ncpus", ncpus, 1, NETISR_CPUMAX);
}

/**
 * `if_ringcnt_fixup()`: a ring count ≤ 0 or above the hardware maximum becomes
 * the maximum; then it is capped at netisr_ncpus.
 */
export function ifRingcntFixup(ringCnt: number, ringCntmax: number, ncpus: number): number {
  checkNcpus(ncpus);
  checkInt("ringCntmax", ringCntmax, 1, Number.MAX_SAFE_INTEGER);
  if (!Number.isInteger(ringCnt)) throw new RingmapConfigError("ringCnt", ringCnt, "an integer");
  let cnt = ringCnt;
  if (cnt <= 0 || cnt > ringCntmax) cnt = ringCntmax;
  if (cnt > ncpus) cnt = ncpus;
  return cnt;
}

/**
 * `if_ringmap_set_grid()`: ring i runs on CPU offset + i, where
 * offset = (grid * unit) % ncpus, which staggers several NICs (8 CPUs, 4 rings:
 * ix0 → CPUs 0-3, ix1 → 4-7).
 */
export function ifRingmapSetGrid(rm: Ringmap, grid: number, unit: number): Ringmap {
  checkInt("grid", grid, rm.rings, rm.ncpus);
  checkInt("unit", unit, 0, Number.MAX_SAFE_INTEGER);
  const offset = (grid * unit) % rm.ncpus;
  const ringToCpu: number[] = [];
  for (let i = 0; i < rm.rings; i++) {
    const cpu = offset + i;
    // DragonFly KASSERTs this; it holds whenever grid divides ncpus.
    if (cpu >= rm.ncpus) throw new RingmapConfigError("grid", grid, `a divisor of ncpus ${rm.ncpus} (ring ${i} would land on cpu ${cpu})`);
    ringToCpu.push(cpu);
  }
  return { ncpus: rm.ncpus, rings: rm.rings, grid, ringToCpu };
}

export interface RingmapAllocArgs {
  /** netisr_ncpus, 1..128. */
  ncpus: number;
  /** Requested ring count (a tunable in DragonFly; ≤ 0 means "the maximum"). */
  ringCnt: number;
  /** Rings the hardware has. */
  ringCntmax: number;
  /** device_get_unit(dev): 0 for ix0, 1 for ix1, … Default 0. */
  unit?: number;
}

/**
 * `if_ringmap_alloc_flags()`. Grid choice: walk the divisors d of ncpus
 * upwards; grid = ncpus/d. Stop at the first d where rings > ncpus/(d+1) (the
 * next smaller grid could not hold them); if rings > grid, keep the previous
 * (larger) grid. 8/4 → 4, 12/8 → 12, 22/8 → 11, 24/16 → 24.
 */
function allocFlags(a: RingmapAllocArgs, powerof2: boolean): Ringmap {
  const { ncpus } = a;
  let cnt = ifRingcntFixup(a.ringCnt, a.ringCntmax, ncpus);
  if (powerof2) cnt = 1 << (31 - Math.clz32(cnt)); // 1 << (fls(cnt) - 1): round down
  let grid = 0;
  let prevGrid = ncpus;
  for (let i = 0; i < ncpus; i++) {
    if (ncpus % (i + 1) !== 0) continue;
    grid = ncpus / (i + 1);
    if (cnt > grid) {
      grid = prevGrid;
      break;
    }
    if (cnt > Math.trunc(ncpus / (i + 2))) break;
    prevGrid = grid;
  }
  return ifRingmapSetGrid({ ncpus, rings: cnt, grid, ringToCpu: [] }, grid, a.unit ?? 0);
}

/** `if_ringmap_alloc()`. */
export function ifRingmapAlloc(a: RingmapAllocArgs): Ringmap {
  return allocFlags(a, false);
}

/** `if_ringmap_alloc2()`: as ifRingmapAlloc, the ring count rounded down to a power of 2. */
export function ifRingmapAlloc2(a: RingmapAllocArgs): Ringmap {
  return allocFlags(a, true);
}

/** `if_ringmap_align()`: put both maps on the larger of their two grids. */
export function ifRingmapAlign(rm0: Ringmap, rm1: Ringmap, unit: number): [Ringmap, Ringmap] {
  if (rm0.grid > rm1.grid) return [rm0, ifRingmapSetGrid(rm1, rm0.grid, unit)];
  if (rm0.grid < rm1.grid) return [ifRingmapSetGrid(rm0, rm1.grid, unit), rm1];
  return [rm0, rm1];
}

/**
 * `if_ringmap_match()` (RX and TX maps of one device): align the grids, then,
 * if the larger map has room (≥ 2 of the smaller map's old grids), shift the
 * smaller map by ((unit / (ncpus/grid)) % mod) * its old grid, so that several
 * devices spread their TX rings over the RX CPUs.
 */
export function ifRingmapMatch(rm0: Ringmap, rm1: Ringmap, unit: number): [Ringmap, Ringmap] {
  if (rm0.grid === rm1.grid) return [rm0, rm1];
  if (rm0.ncpus !== rm1.ncpus) throw new RingmapConfigError("ncpus", rm1.ncpus, `the same as the other map (${rm0.ncpus})`);
  const oldGrid0 = rm0.grid;
  const oldGrid1 = rm1.grid;
  const [a0, a1] = ifRingmapAlign(rm0, rm1, unit);
  let cnt: number, subsetGrid: number, subsetIs0: boolean, rm: Ringmap;
  if (a0.rings >= 2 * oldGrid1) {
    cnt = a0.rings;
    subsetGrid = oldGrid1;
    subsetIs0 = false;
    rm = a0;
  } else if (a1.rings > 2 * oldGrid0) {
    cnt = a1.rings;
    subsetGrid = oldGrid0;
    subsetIs0 = true;
    rm = a1;
  } else {
    return [a0, a1]; // no space to shuffle
  }
  const mod = Math.trunc(cnt / subsetGrid);
  const divisor = Math.trunc(rm.ncpus / rm.grid);
  const offset = (Math.trunc(unit / divisor) % mod) * subsetGrid;
  const subset = subsetIs0 ? a0 : a1;
  const ringToCpu = subset.ringToCpu.map((c) => c + offset);
  if (ringToCpu.some((c) => c >= subset.ncpus)) {
    throw new RingmapConfigError("unit", unit, `a unit whose shifted map stays below ncpus ${subset.ncpus}`);
  }
  const shifted: Ringmap = { ...subset, ringToCpu };
  return subsetIs0 ? [shifted, a1] : [a0, shifted];
}

/**
 * `if_ringmap_rdrtable()`: the RSS redirect table (RETA) of `nent` entries,
 * nent a positive multiple of 128.
 * 1. table[i] = gridIdx++ % rings, gridIdx wrapping at grid, for i < 128;
 * 2. if grid % rings != 0, the trailing grid % rings slots of each grid are
 *    re-filled with a running idx++ % rings, to even out the remainder
 *    (12 CPUs/8 rings: 0..7,0,1,2,3, 0..7,4,5,6,7, …);
 * 3. entries 0..127 are copied over the rest, so ring choice agrees with
 *    the upper layer's (hash & NETISR_CPUMASK) % netisr_ncpus.
 */
export function ringmapRedirect(rm: Ringmap, nent: number): number[] {
  if (!Number.isInteger(nent) || nent <= 0 || (nent & NETISR_CPUMASK) !== 0 || nent > RDRTABLE_NENT_MAX) {
    throw new RingmapConfigError("nent", nent, `a positive multiple of ${NETISR_CPUMAX} up to ${RDRTABLE_NENT_MAX}`);
  }
  const cnt = rm.rings;
  const grid = rm.grid;
  const table = new Array<number>(nent);
  let gridIdx = 0;
  for (let i = 0; i < NETISR_CPUMAX; i++) {
    table[i] = gridIdx++ % cnt;
    if (gridIdx === grid) gridIdx = 0;
  }
  const patchCnt = grid % cnt;
  if (patchCnt !== 0) {
    const patchOff = grid - patchCnt;
    const gridCnt = Math.ceil(NETISR_CPUMAX / grid);
    let idx = 0;
    patch: for (let i = 0; i < gridCnt; i++) {
      for (let j = 0; j < patchCnt; j++) {
        const fix = i * grid + patchOff + j;
        if (fix >= NETISR_CPUMAX) break patch;
        table[fix] = idx++ % cnt;
      }
    }
  }
  for (let i = NETISR_CPUMAX; i < nent; i++) table[i] = table[i & NETISR_CPUMASK];
  return table;
}

/**
 * The ring a NIC steers a hash to: the NIC indexes its RETA with the low bits
 * of the 32-bit hash (7 bits for 128 entries, 9 for 512), i.e.
 * redirect[h % redirect.length] for a power-of-2 table. Since entries ≥ 128
 * repeat the first 128, this equals redirect[h & 127] for DragonFly's tables.
 */
export function ringForHash(redirect: readonly number[], h: number): number {
  return redirect[(h >>> 0) % redirect.length];
}

/**
 * How many of the 128 hash buckets are received on their own netisr CPU:
 * ringToCpu[redirect[b]] === b % ncpus. The rest are received on one CPU and
 * redispatched by ether_dispatch() to another (notes §2: 8/4 → 64, 12/8 → 88,
 * 22/8 → 48, 24/16 → 88, rings == ncpus → 128).
 */
export function ringmapMatchingBuckets(rm: Ringmap, redirect: readonly number[]): number {
  let n = 0;
  for (let b = 0; b < NETISR_CPUMAX; b++) {
    if (rm.ringToCpu[redirect[b % redirect.length]] === b % rm.ncpus) n++;
  }
  return n;
}

export interface BuildRingmapArgs {
  ncpus: number;
  /** Rings requested; the hardware maximum too unless `ringsMax` is given. */
  rings: number;
  ringsMax?: number;
  unit?: number;
  /** Redirect table entries, a multiple of 128 (ix: 128; X550: 512). Default 128. */
  entries?: number;
  /** Use if_ringmap_alloc2 (power-of-2 ring count). Default false. */
  powerof2?: boolean;
}

export interface BuiltRingmap extends Ringmap {
  readonly redirect: number[];
}

/** Ringmap plus redirect table in one call (what `dfly rss ringmap` prints). */
export function buildRingmap(a: BuildRingmapArgs): BuiltRingmap {
  const args: RingmapAllocArgs = { ncpus: a.ncpus, ringCnt: a.rings, ringCntmax: a.ringsMax ?? a.rings, unit: a.unit ?? 0 };
  if (a.ringsMax === undefined) checkInt("rings", a.rings, 1, Number.MAX_SAFE_INTEGER);
  const rm = a.powerof2 ? ifRingmapAlloc2(args) : ifRingmapAlloc(args);
  return { ...rm, redirect: ringmapRedirect(rm, a.entries ?? NETISR_CPUMAX) };
}
