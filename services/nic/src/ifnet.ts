/**
 * One emulated interface's steering state, as DragonFly's drivers set it up at attach
 * (if_ringmap_alloc / if_ringmap_rdrtable in sys/net/if.c, called from igb/ix attach):
 * the ring count after the fix-up, the ring → CPU map (staggered by the device unit, so
 * ix0 and ix1 start on different CPUs), the RSS redirection table and the RSS key.
 *
 * CPU ids: a cluster's live CPUs are a sorted list of ids (pods may come and go);
 * netisr_hashcpu's result i, and the ringmap's CPU i, name `cpus[i]`.
 */
import { buildRingmap, SYMMETRIC_KEY } from "@dfly/core";
import type { InterfaceTopology } from "@dfly/transport";
import { nicModel, usableRings, type NicMode, type NicModel } from "./models.js";

export interface IfnetConfig {
  ifname: string;
  model: string;
  mode: NicMode;
  /** Requested ring count; ≤ 0 or absent means all the mode can use. */
  rings?: number;
  /** Live CPU ids (netisr_ncpus = cpus.length). */
  cpus: readonly number[];
  /** `a.b.c.d/len` addresses; default `defaultIfAddress(ifname)`. */
  addresses?: readonly string[];
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

/** Steering state of one interface in the form the control plane pushes (TopologyMsg.interfaces[]). */
export function ifnetTopology(c: IfnetConfig): InterfaceTopology {
  if (c.cpus.length === 0) throw new IfnetConfigError(c.ifname, "no CPUs");
  const model: NicModel = nicModel(c.model);
  const max = usableRings(model, c.mode);
  const rm = buildRingmap({
    ncpus: c.cpus.length,
    rings: c.rings !== undefined && c.rings > 0 ? c.rings : max,
    ringsMax: max,
    unit: ifUnit(c.ifname),
    entries: model.retaEntries,
    powerof2: model.ringsPowerOf2,
  });
  return {
    ifname: c.ifname,
    model: model.name,
    mode: c.mode,
    rings: rm.rings,
    ringToCpu: rm.ringToCpu.map((i) => c.cpus[i]),
    redirect: rm.redirect,
    addresses: [...(c.addresses ?? [defaultIfAddress(c.ifname)])],
  };
}

/** The RSS key every interface is programmed with: DragonFly's symmetric 0x6d5a key, as hex. */
export function rssKeyHex(): string {
  return Buffer.from(SYMMETRIC_KEY).toString("hex");
}

