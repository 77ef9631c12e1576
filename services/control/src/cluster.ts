// CPU membership and the steering topology: a CPU silent for `cpuTimeoutMs` is removed; each change rebuilds the ringmaps under a new epoch.
// CPUs, interfaces and epoch live in a KvStore so a restarted control resumes them. No I/O besides the store.
import { buildRingmap, SYMMETRIC_KEY } from "@dfly/core";
import type { KvStore } from "@dfly/transport";
import type { InterfaceSpecT, InterfaceTopology, TopologyMsg } from "@dfly/wire";
import { BadRequestError, UnknownCpuError } from "./errors.js";

export interface CpuInfo {
  cpu: number;
  metricsAddr: string;
  lastSeen: number;
}

export interface ClusterOptions {
  kv: KvStore;
  heartbeatMs?: number;
  cpuTimeoutMs?: number;
  now?: () => number;
}

/** Upper bound on CPU ids (DragonFly's NETISR_CPUMAX is 128 buckets; ids beyond make no sense). */
export const MAX_CPU_ID = 1023;
const IFNAME_RE = /^[A-Za-z][A-Za-z0-9_.-]{0,14}$/;
const CIDR_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const dec = <T>(u: Uint8Array) => JSON.parse(new TextDecoder().decode(u)) as T;
const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");

export function checkInterfaceSpec(s: InterfaceSpecT): InterfaceSpecT {
  if (!IFNAME_RE.test(s.ifname)) throw new BadRequestError("spec.ifname", `"${s.ifname}" is not an interface name (1-15 of [A-Za-z0-9_.-], a letter first)`);
  if (s.mode !== "interrupt" && s.mode !== "polling") throw new BadRequestError("spec.mode", `"${String(s.mode)}" is not interrupt or polling`);
  if (!Number.isInteger(s.rings) || s.rings < 1 || s.rings > 1024) throw new BadRequestError("spec.rings", `${s.rings} is not 1-1024`);
  if (!Number.isInteger(s.unit) || s.unit < 0 || s.unit > 1023) throw new BadRequestError("spec.unit", `${s.unit} is not 0-1023`);
  const entries = s.redirectEntries || 128;
  if (entries % 128 !== 0 || entries > 512) throw new BadRequestError("spec.redirect_entries", `${entries} is not 128, 256, 384 or 512`);
  for (const a of s.addresses) {
    const m = CIDR_RE.exec(a);
    if (!m || m.slice(1, 5).some((o) => Number(o) > 255) || Number(m[5]) > 32) throw new BadRequestError("spec.addresses", `"${a}" is not a.b.c.d/len`);
  }
  return { ...s, redirectEntries: entries, pollhz: s.pollhz || 6000 };
}

export type TopologyListener = (t: TopologyMsg) => void;

export class Cluster {
  readonly heartbeatMs: number;
  readonly cpuTimeoutMs: number;
  private readonly kv: KvStore;
  private readonly now: () => number;
  private readonly cpus = new Map<number, CpuInfo>();
  private readonly ifaces = new Map<string, InterfaceSpecT>();
  private epochN = 0;
  private current: TopologyMsg | undefined;
  private readonly listeners = new Set<TopologyListener>();
  private readonly registerListeners = new Set<(cpu: number) => void>();

  private constructor(opts: ClusterOptions) {
    this.kv = opts.kv;
    this.heartbeatMs = opts.heartbeatMs ?? 1000;
    this.cpuTimeoutMs = opts.cpuTimeoutMs ?? 5 * this.heartbeatMs;
    this.now = opts.now ?? Date.now;
  }

  /** Resumes from the store (CPUs found there get a fresh timeout). */
  static async load(opts: ClusterOptions): Promise<Cluster> {
    const c = new Cluster(opts);
    for (const key of await c.kv.keys()) {
      const e = await c.kv.get(key);
      if (!e) continue;
      if (key === "epoch") c.epochN = dec<number>(e.value);
      else if (key.startsWith("cpu.")) {
        const v = dec<{ cpu: number; metricsAddr: string }>(e.value);
        c.cpus.set(v.cpu, { ...v, lastSeen: c.now() });
      } else if (key.startsWith("if.")) {
        const v = dec<InterfaceSpecT>(e.value);
        c.ifaces.set(v.ifname, v);
      }
    }
    c.current = c.build();
    return c;
  }

  get epoch(): number {
    return this.epochN;
  }

  /** Live CPU ids, ascending. */
  liveCpus(): number[] {
    return [...this.cpus.keys()].sort((a, b) => a - b);
  }

  cpuInfo(): CpuInfo[] {
    return this.liveCpus().map((c) => this.cpus.get(c)!);
  }

  interfaces(): InterfaceSpecT[] {
    return [...this.ifaces.values()].sort((a, b) => (a.ifname < b.ifname ? -1 : 1));
  }

  interface(ifname: string): InterfaceSpecT | undefined {
    return this.ifaces.get(ifname);
  }

  topology(): TopologyMsg {
    return (this.current ??= this.build());
  }

  /** Called with the id of every CPU that registers (also one already known: it may have restarted). */
  onRegister(fn: (cpu: number) => void): () => void {
    this.registerListeners.add(fn);
    return () => void this.registerListeners.delete(fn);
  }

  onChange(fn: TopologyListener): () => void {
    this.listeners.add(fn);
    return () => void this.listeners.delete(fn);
  }

  async register(cpu: number, metricsAddr = ""): Promise<TopologyMsg> {
    if (!Number.isInteger(cpu) || cpu < 0 || cpu > MAX_CPU_ID) throw new BadRequestError("cpu", `${cpu} is not 0-${MAX_CPU_ID}`);
    const known = this.cpus.get(cpu);
    this.cpus.set(cpu, { cpu, metricsAddr, lastSeen: this.now() });
    if (!known || known.metricsAddr !== metricsAddr) await this.kv.put(`cpu.${cpu}`, enc({ cpu, metricsAddr }));
    if (!known) await this.changed();
    for (const f of [...this.registerListeners]) f(cpu);
    return this.topology();
  }

  /** Refreshes a CPU; `registered: false` tells it to register again. */
  heartbeat(cpu: number): { epoch: number; registered: boolean } {
    const c = this.cpus.get(cpu);
    if (c) c.lastSeen = this.now();
    return { epoch: this.epochN, registered: c !== undefined };
  }

  async deregister(cpu: number): Promise<number> {
    if (!this.cpus.has(cpu)) throw new UnknownCpuError(cpu);
    this.cpus.delete(cpu);
    await this.kv.delete(`cpu.${cpu}`);
    await this.changed();
    return this.epochN;
  }

  async registerInterface(spec: InterfaceSpecT): Promise<TopologyMsg> {
    const s = checkInterfaceSpec(spec);
    const known = this.ifaces.get(s.ifname);
    if (known && JSON.stringify(known) === JSON.stringify(s)) return this.topology();
    // Validate the ringmap before committing (a bad ring count must not poison the topology).
    buildRingmap({ ncpus: Math.max(1, this.cpus.size), rings: s.rings, unit: s.unit, entries: s.redirectEntries });
    this.ifaces.set(s.ifname, s);
    await this.kv.put(`if.${s.ifname}`, enc(s));
    await this.changed();
    return this.topology();
  }

  /** Removes the CPUs silent for longer than the timeout; returns their ids. */
  async expire(): Promise<number[]> {
    const dead = [...this.cpus.values()].filter((c) => this.now() - c.lastSeen > this.cpuTimeoutMs).map((c) => c.cpu);
    if (dead.length === 0) return dead;
    for (const cpu of dead) {
      this.cpus.delete(cpu);
      await this.kv.delete(`cpu.${cpu}`);
    }
    await this.changed();
    return dead;
  }

  private async changed(): Promise<void> {
    this.epochN++;
    await this.kv.put("epoch", enc(this.epochN));
    this.current = this.build();
    for (const l of [...this.listeners]) l(this.current);
  }

  private build(): TopologyMsg {
    const cpus = this.liveCpus();
    const interfaces: InterfaceTopology[] = this.interfaces().map((s) => {
      const base = {
        ifname: s.ifname,
        model: s.model,
        mode: s.mode,
        addresses: s.addresses,
        unit: s.unit,
        pollhz: s.pollhz,
        hwRings: s.rings,
      };
      if (cpus.length === 0) return { ...base, rings: 0, ringToCpu: [], redirect: [] };
      const rm = buildRingmap({ ncpus: cpus.length, rings: s.rings, unit: s.unit, entries: s.redirectEntries });
      return { ...base, rings: rm.rings, ringToCpu: rm.ringToCpu.map((i) => cpus[i]), redirect: rm.redirect };
    });
    return { epoch: this.epochN, cpus, interfaces, rssKey: hex(SYMMETRIC_KEY) };
  }
}
