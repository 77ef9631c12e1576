/**
 * One emulated interface: what its driver tells the control plane at attach (the
 * InterfaceSpec: model, delivery mode, the rings usable in that mode, device unit, addresses,
 * RETA size), and the steering state built from it for a set of CPUs — DragonFly's
 * if_ringmap_alloc / if_ringmap_rdrtable (sys/net/if.c) via core's buildRingmap: rings after
 * the fix-up, ring → CPU map staggered by the unit (ix0 and ix1 start on different CPUs),
 * redirection table. `ifnetTopology` builds exactly what the control's ClusterService
 * builds (same function, same arguments), so the embedded benchmark, tests and the
 * control agree.
 *
 * CPU ids: a cluster's live CPUs are a sorted list of ids (pods come and go);
 * netisr_hashcpu's result i, and the ringmap's CPU i, name `cpus[i]`.
 * Simplification: igb drivers allocate with if_ringmap_alloc2 (power-of-2 ring count);
 * here every model uses if_ringmap_alloc, as the control does.
 */
import { buildRingmap } from "@dfly/core";
import type { InterfaceSpecT, InterfaceTopology } from "@dfly/wire";
import { nicModel, usableRings, type NicMode } from "./models.js";

export interface IfnetConfig {
  ifname: string;
  model: string;
  mode: NicMode;
  /** Requested ring count; ≤ 0 or absent means all the mode can use. */
  rings?: number;
  /** `a.b.c.d/len` addresses; default `defaultIfAddress(ifname)`. */
  addresses?: readonly string[];
  /** ifpoll frequency for polling mode (default 6000). */
  pollhz?: number;
}

/** The trailing number of an interface name (device_get_unit): ix0 → 0, ix12 → 12. */
export function ifUnit(ifname: string): number {
  const m = /(\d+)$/.exec(ifname);
  return m ? Number(m[1]) : 0;
}

/**
 * Each interface gets a /24 of the RFC 2544 benchmark range 198.18.0.0/15: unit u has
 * 198.18.u.1/24 (so ix0 = 198.18.0.1, ix1 = 198.18.1.1). Only used as packet contents.
 */
export function defaultIfAddress(ifname: string): string {
  return `198.18.${ifUnit(ifname) & 0xff}.1/24`;
}

export class IfnetConfigError extends Error {
  override readonly name = "IfnetConfigError";
  constructor(
    readonly ifname: string,
    message: string,
  ) {
    super(`${ifname}: ${message}`);
  }
}

/** What the NIC registers with the control for one interface (ClusterService.RegisterInterface). */
export function nicInterfaceSpec(c: IfnetConfig): InterfaceSpecT {
  const model = nicModel(c.model);
  const max = usableRings(model, c.mode);
  if (c.rings !== undefined && !Number.isInteger(c.rings)) throw new IfnetConfigError(c.ifname, `ring count ${c.rings} is not an integer`);
  const rings = c.rings !== undefined && c.rings > 0 ? Math.min(c.rings, max) : max;
  return {
    ifname: c.ifname,
    model: model.name,
    mode: c.mode,
    rings,
    unit: ifUnit(c.ifname),
    addresses: [...(c.addresses ?? [defaultIfAddress(c.ifname)])],
    pollhz: c.pollhz ?? 6000,
    redirectEntries: model.retaEntries,
  };
}

/** Steering state of one interface for `cpus` (what ClusterService computes). */
export function ifnetTopology(spec: InterfaceSpecT, cpus: readonly number[]): InterfaceTopology {
  const base = {
    ifname: spec.ifname,
    model: spec.model,
    mode: spec.mode,
    addresses: [...spec.addresses],
    unit: spec.unit,
    pollhz: spec.pollhz,
    hwRings: spec.rings,
  };
  if (cpus.length === 0) return { ...base, rings: 0, ringToCpu: [], redirect: [] };
  const rm = buildRingmap({ ncpus: cpus.length, rings: spec.rings, unit: spec.unit, entries: spec.redirectEntries || 128 });
  return { ...base, rings: rm.rings, ringToCpu: rm.ringToCpu.map((i) => cpus[i]), redirect: rm.redirect };
}

/** An interface with no CPUs yet: frames that arrive are counted as `notopology` drops. */
export function ifnetUnsteered(spec: InterfaceSpecT): InterfaceTopology {
  return ifnetTopology(spec, []);
}
