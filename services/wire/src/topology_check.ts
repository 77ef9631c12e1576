/** A topology as a receiver checks it, whoever sent it: the shape the control builds and the bounds its API enforces, so one message cannot make a CPU allocate without limit. */
import { NETISR_CPUMAX } from "@dfly/core";
import { InterfaceModes, type TopologyMsg } from "./topology.js";

/** Bounds of one topology (the control's: CPU ids 0–1023, hw rings 1–1024, ≤ 512 redirection entries). */
export const TOPOLOGY_LIMITS = {
  cpuIdMax: 1023,
  interfaces: 64,
  addresses: 64,
  hwRings: 1024,
  redirect: 512,
  unitMax: 1023,
  pollhzMax: 100_000,
  modelLen: 32,
  /** The 40-byte RSS key as hex (or "" before any interface registered). */
  rssKeyHex: 80,
} as const;

const IFNAME_RE = /^[A-Za-z][A-Za-z0-9_.-]{0,14}$/;
const CIDR_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;
const HEX_RE = /^[0-9a-f]*$/;

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isInt = (v: unknown, min: number, max: number): v is number => typeof v === "number" && Number.isInteger(v) && v >= min && v <= max;
const optInt = (v: unknown, min: number, max: number) => v === undefined || isInt(v, min, max);

/** True for `a.b.c.d/len` with octets ≤ 255 and len ≤ 32. */
export function isCidr(a: unknown): a is string {
  if (typeof a !== "string") return false;
  const m = CIDR_RE.exec(a);
  return m !== null && m.slice(1, 5).every((o) => Number(o) <= 255) && Number(m[5]) <= 32;
}

/** Why `v` is not a topology a CPU may install (a short field path), or undefined when it is. Checks sizes before walking arrays. */
export function checkTopology(v: unknown): string | undefined {
  const L = TOPOLOGY_LIMITS;
  if (!isObj(v)) return "topology";
  if (!isInt(v.epoch, 0, 0xffffffff)) return "epoch";
  const cpus = v.cpus;
  if (!Array.isArray(cpus) || cpus.length > L.cpuIdMax + 1) return "cpus";
  for (let i = 0; i < cpus.length; i++) {
    if (!isInt(cpus[i], 0, L.cpuIdMax) || (i > 0 && (cpus[i] as number) <= (cpus[i - 1] as number))) return "cpus";
  }
  if (typeof v.rssKey !== "string" || (v.rssKey.length !== 0 && v.rssKey.length !== L.rssKeyHex) || !HEX_RE.test(v.rssKey)) return "rssKey";
  const ifs = v.interfaces;
  if (!Array.isArray(ifs) || ifs.length > L.interfaces) return "interfaces";
  const names = new Set<string>();
  for (const i of ifs as unknown[]) {
    if (!isObj(i)) return "interfaces";
    if (typeof i.ifname !== "string" || !IFNAME_RE.test(i.ifname) || names.has(i.ifname)) return "interfaces.ifname";
    names.add(i.ifname);
    if (typeof i.model !== "string" || i.model.length > L.modelLen) return "interfaces.model";
    if (i.mode !== InterfaceModes.interrupt && i.mode !== InterfaceModes.polling) return "interfaces.mode";
    // After the ringmap fix-up a ring count is at most the CPU count (and NETISR_CPUMAX); no CPUs, no rings.
    if (!isInt(i.rings, 0, Math.min(NETISR_CPUMAX, cpus.length)) || (cpus.length > 0 && i.rings === 0)) return "interfaces.rings";
    const r2c = i.ringToCpu;
    if (!Array.isArray(r2c) || r2c.length !== i.rings || !r2c.every((c) => isInt(c, 0, L.cpuIdMax) && cpus.includes(c))) return "interfaces.ringToCpu";
    const rdr = i.redirect;
    if (!Array.isArray(rdr) || rdr.length > L.redirect || (i.rings > 0 && rdr.length === 0) || !rdr.every((r) => isInt(r, 0, (i.rings as number) - 1))) {
      return "interfaces.redirect";
    }
    const addrs = i.addresses;
    if (!Array.isArray(addrs) || addrs.length > L.addresses || !addrs.every(isCidr)) return "interfaces.addresses";
    if (!optInt(i.unit, 0, L.unitMax)) return "interfaces.unit";
    if (!optInt(i.pollhz, 1, L.pollhzMax)) return "interfaces.pollhz";
    if (!optInt(i.hwRings, 1, L.hwRings)) return "interfaces.hwRings";
  }
  return undefined;
}

/** The host addresses (u32) of a topology's interfaces. */
export function topologyAddresses(t: TopologyMsg): number[] {
  const out: number[] = [];
  for (const i of t.interfaces) {
    for (const a of i.addresses) {
      const q = a.split("/")[0].split(".").map(Number);
      out.push(((q[0] << 24) | (q[1] << 16) | (q[2] << 8) | q[3]) >>> 0);
    }
  }
  return out;
}
