/**
 * Hash → netisr CPU, as DragonFly's sys/net/netisr.h and netisr2.h (current
 * code, after a1fe5deb78 of 2017: a modulo over netisr_ncpus, so every CPU is
 * used even when the count is not a power of 2).
 */

/** `NETISR_CPUMAX`: "MUST be power-of-2", the RETA size most NICs support. */
export const NETISR_CPUMAX = 128;
/** `NETISR_CPUMASK`. */
export const NETISR_CPUMASK = NETISR_CPUMAX - 1;

/** `netisr_hashlsb(h)` = h & 127: the bucket a hash falls in. */
export function netisrHashlsb(h: number): number {
  return h & NETISR_CPUMASK;
}

/**
 * `netisr_hashcpu(h)` = (h & 127) % ncpus. `ncpus` is netisr_ncpus (1..128;
 * not checked here, this is the hot path: callers validate it once). When
 * ncpus does not divide 128 the low-numbered CPUs get one extra bucket.
 */
export function netisrHashcpu(h: number, ncpus: number): number {
  return (h & NETISR_CPUMASK) % ncpus;
}
