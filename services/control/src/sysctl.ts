// The cluster's net.inet sysctls: written values persisted per name in a KvStore (`<c>-sysctl`) with their revision,
// applied on every live CPU before a write returns (as a route change), read from every CPU to show any that differs.
import { BadRequestError } from "./errors.js";
import { SYSCTL_TABLE, sysctlLookup, sysctlMatch, sysctlParseAssignments } from "@dfly/core";
import { kvKey, kvKeyDecode, type KvStore } from "@dfly/transport";
import { encodeSysctlNetmsg, type SysctlSetting } from "@dfly/wire";
import type { Cluster } from "./cluster.js";
import { CpuApplyError } from "./errors.js";
import type { CpuPorts } from "./ports.js";

export interface SysctlRowResult {
  name: string;
  value: number;
  kind: "bool" | "int";
  description: string;
  differing: { cpu: number; value: number }[];
}

const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const dec = (u: Uint8Array) => JSON.parse(new TextDecoder().decode(u)) as { value: number };

export class SysctlManager {
  /** Written values by name (absent: never written, each CPU has its default). */
  private readonly stored = new Map<string, SysctlSetting>();
  private chain: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly kv: KvStore,
    private readonly cluster: Cluster,
    private readonly ports: CpuPorts,
  ) {}

  /** Loads the stored values (a restarted control keeps them); a key not in the table is skipped. */
  static async load(kv: KvStore, cluster: Cluster, ports: CpuPorts): Promise<SysctlManager> {
    const m = new SysctlManager(kv, cluster, ports);
    for (const key of await kv.keys()) {
      const e = await kv.get(key);
      const name = kvKeyDecode(key);
      if (!e || !SYSCTL_TABLE.some((o) => o.name === name)) continue;
      const v = dec(e.value).value;
      if (Number.isInteger(v)) m.stored.set(name, { value: v, revision: e.revision });
    }
    return m;
  }

  /** Every stored value with its revision (a registering CPU applies them). */
  list(): { name: string; value: number; revision: number }[] {
    return [...this.stored].map(([name, s]) => ({ name, ...s })).sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** Each name's value as the CPUs hold it; the stored value (else the first CPU's) and the CPUs that differ. */
  async get(prefixes: readonly string[]): Promise<{ rows: SysctlRowResult[]; unreachable: number[] }> {
    const oids = prefixes.length === 0 ? [...SYSCTL_TABLE] : [...new Map(prefixes.flatMap((p) => sysctlMatch(p)).map((o) => [o.name, o])).values()];
    oids.sort((a, b) => (a.name < b.name ? -1 : 1));
    const replies = await this.ports.requestAll(this.cluster.liveCpus(), (id) => encodeSysctlNetmsg.get(id));
    const ok = replies.filter((r) => r.ok && typeof r.body === "object" && r.body !== null);
    const rows = oids.map((o) => {
      const per = ok.map((r) => ({ cpu: r.cpu, value: (r.body as Record<string, number>)[o.name] }));
      const value = this.stored.get(o.name)?.value ?? per[0]?.value ?? o.defaultValue;
      return { name: o.name, value, kind: o.kind, description: o.descr, differing: per.filter((p) => p.value !== value) };
    });
    return { rows, unreachable: replies.filter((r) => !ok.includes(r)).map((r) => r.cpu) };
  }

  /**
   * Checks every assignment (one bad name or value: an error, nothing stored or sent), stores each value
   * under a new revision, then applies them on every live CPU; a CPU that fails is named (CpuApplyError)
   * and gets the stored values when it registers again.
   */
  set(assignments: readonly { name: string; value: string }[]): Promise<{ settings: { name: string; value: number; revision: number }[]; applied: number[] }> {
    return this.serial(async () => {
      if (assignments.length === 0) throw new BadRequestError("assignments", "give at least one name=value");
      const values = sysctlParseAssignments(assignments);
      const settings: { name: string; value: number; revision: number }[] = [];
      const wire: Record<string, SysctlSetting> = {};
      for (const [name, value] of values) {
        sysctlLookup(name);
        const revision = await this.kv.put(kvKey(name), enc({ value }));
        this.stored.set(name, { value, revision });
        settings.push({ name, value, revision });
        wire[name] = { value, revision };
      }
      const replies = await this.ports.requestAll(this.cluster.liveCpus(), (id) => encodeSysctlNetmsg.set(id, wire));
      const applied = replies.filter((r) => r.ok).map((r) => r.cpu);
      const failures = replies.filter((r) => !r.ok).map((r) => ({ cpu: r.cpu, reason: r.error ?? "failed" }));
      const what = `sysctl ${settings.map((s) => `${s.name}=${s.value}`).join(" ")}`;
      if (failures.length > 0) throw new CpuApplyError(what, failures, applied);
      return { settings, applied };
    });
  }

  private serial<T>(f: () => Promise<T>): Promise<T> {
    const run = this.chain.then(f, f);
    this.chain = run.catch(() => undefined);
    return run;
  }
}
