// The ipfw service's logic: the authoritative rule set (checked as the CPUs check it), kept in the KV bucket `<c>-ipfw`
// under one key (a change of several rules is one revision), sent whole to every live CPU before a change returns.
// A CPU that registers later (a topology change) or missed a change is sent the set again by `reconcile`. Serialized.
import { IPFW_AUTOINC_STEP, IPFW_RULE_MAX, IpfwRuleError, IpfwRuleset, parseIpfwRule, formatIpfwRule, trace, TraceArea, type IpfwRulesetSpec } from "@dfly/core";
import type { KvStore } from "@dfly/transport";
import { encodeIpfwNetmsg } from "@dfly/wire";
import type { Cluster } from "./cluster.js";
import { CpuApplyError } from "./errors.js";
import type { CpuPorts } from "./ports.js";

const KEY = "ruleset";

/** A delete of rule numbers that are not in the set. */
export class IpfwRuleNotFoundError extends Error {
  override readonly name = "IpfwRuleNotFoundError";
  constructor(readonly numbers: readonly number[]) {
    super(`ipfw: no rule ${numbers.join(", ")}`);
  }
}

export interface IpfwChangeResult {
  revision: number;
  digest: string;
  applied: number[];
  rules: string[];
}

export interface IpfwCpuShow {
  cpu: number;
  digest: string;
  revision: number;
  rules: { num: number; rule: string; packets: number; bytes: number }[];
  states: number;
  created: number;
  expired: number;
  crossCpu: number;
}

const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const dec = <T>(u: Uint8Array) => JSON.parse(new TextDecoder().decode(u)) as T;

export class IpfwManager {
  private rs: IpfwRuleset = IpfwRuleset.empty;
  private rev = 0;
  private chain: Promise<unknown> = Promise.resolve();
  /** The revision each CPU confirmed. */
  private readonly acked = new Map<number, number>();
  /** Called after each change with its result ("ok" | "error" | "partial"), for metrics. */
  onOp: (op: string, result: string) => void = () => {};

  private constructor(
    private readonly kv: KvStore,
    private readonly cluster: Cluster,
    private readonly ports: CpuPorts,
  ) {}

  /** Loads the stored set (a restarted control resumes it). */
  static async load(kv: KvStore, cluster: Cluster, ports: CpuPorts): Promise<IpfwManager> {
    const m = new IpfwManager(kv, cluster, ports);
    const e = await kv.get(KEY);
    if (e) {
      m.rs = IpfwRuleset.build(dec<IpfwRulesetSpec>(e.value));
      m.rev = e.revision;
    }
    return m;
  }

  get revision(): number {
    return this.rev;
  }

  get ruleset(): IpfwRuleset {
    return this.rs;
  }

  /** Adds rules (all or none); a rule without a number gets the last number + 100. */
  add(texts: readonly string[]): Promise<IpfwChangeResult> {
    return this.change("add", () => {
      if (texts.length === 0) throw new IpfwRuleError("", "no rule given");
      const spec = this.rs.spec();
      let last = this.rs.rules.length > 0 ? this.rs.rules[this.rs.rules.length - 1].num : 0;
      const added: string[] = [];
      for (const t of texts) {
        const auto = Math.min(IPFW_RULE_MAX, last + IPFW_AUTOINC_STEP);
        const r = parseIpfwRule(t, auto);
        last = Math.max(last, r.num);
        added.push(formatIpfwRule(r));
      }
      spec.rules.push(...added);
      return { spec, added };
    });
  }

  /** Deletes every rule with one of these numbers (ipfw delete N); unknown numbers: nothing changes. */
  delete(numbers: readonly number[]): Promise<IpfwChangeResult> {
    return this.change("delete", () => {
      if (numbers.length === 0) throw new IpfwRuleError("", "no rule number given");
      const have = new Set(this.rs.rules.map((r) => r.num));
      const missing = numbers.filter((n) => !have.has(n));
      if (missing.length > 0) throw new IpfwRuleNotFoundError(missing);
      const spec = this.rs.spec();
      const drop = new Set(numbers);
      spec.rules = this.rs.rules.filter((r) => !drop.has(r.num)).map(formatIpfwRule);
      return { spec, added: [] };
    });
  }

  flush(): Promise<IpfwChangeResult> {
    return this.change("flush", () => ({ spec: { rules: [], tables: {} }, added: [] }));
  }

  /** Adds prefixes to a table (created when new). */
  tableAdd(name: string, prefixes: readonly string[]): Promise<IpfwChangeResult> {
    return this.change("table_add", () => {
      const spec = this.rs.spec();
      spec.tables[name] = [...(spec.tables[name] ?? []), ...prefixes.filter((p) => !(spec.tables[name] ?? []).includes(p))];
      return { spec, added: [] };
    });
  }

  /** Removes prefixes from a table; with none given, the table (refused while a rule names it). */
  tableDelete(name: string, prefixes: readonly string[]): Promise<IpfwChangeResult> {
    return this.change("table_delete", () => {
      const spec = this.rs.spec();
      if (!spec.tables[name]) throw new IpfwRuleError(`table ${name}`, "no such table");
      if (prefixes.length === 0) delete spec.tables[name];
      else spec.tables[name] = spec.tables[name].filter((p) => !prefixes.includes(p));
      return { spec, added: [] };
    });
  }

  /** Each live CPU's counters and states (ipfw show), and the CPUs that did not answer. */
  async show(): Promise<{ cpus: IpfwCpuShow[]; unreachable: number[] }> {
    const replies = await this.ports.requestAll(this.cluster.liveCpus(), (id) => encodeIpfwNetmsg.show(id));
    const cpus: IpfwCpuShow[] = [];
    const unreachable: number[] = [];
    for (const r of replies) {
      if (r.ok && r.body && typeof r.body === "object") cpus.push({ ...(r.body as IpfwCpuShow), cpu: r.cpu });
      else unreachable.push(r.cpu);
    }
    return { cpus, unreachable };
  }

  /** Each live CPU's digest against ours. */
  async verify(): Promise<{ expectedDigest: string; revision: number; cpus: { cpu: number; digest: string; revision: number; match: boolean; error: string }[]; consistent: boolean }> {
    const expectedDigest = this.rs.digest;
    const revision = this.rev;
    const replies = await this.ports.requestAll(this.cluster.liveCpus(), (id) => encodeIpfwNetmsg.show(id));
    const cpus = replies.map((r) => {
      const b = (r.body ?? {}) as { digest?: unknown; revision?: unknown };
      const digest = r.ok && typeof b.digest === "string" ? b.digest : "";
      const rv = r.ok && typeof b.revision === "number" ? b.revision : 0;
      return { cpu: r.cpu, digest, revision: rv, match: digest === expectedDigest, error: r.ok ? "" : (r.error ?? "") };
    });
    return { expectedDigest, revision, cpus, consistent: cpus.every((c) => c.match) };
  }

  /** Sends the set to every live CPU that has not confirmed the current revision (a CPU that joined, or missed one). */
  reconcile(): Promise<void> {
    return this.serial(async () => {
      const live = this.cluster.liveCpus();
      for (const c of [...this.acked.keys()]) if (!live.includes(c)) this.acked.delete(c);
      const behind = live.filter((c) => this.acked.get(c) !== this.rev);
      if (behind.length > 0) await this.fanout(behind);
    });
  }

  /** Forgets what a CPU confirmed (it registered afresh: its table is empty). */
  forget(cpu: number): void {
    this.acked.delete(cpu);
  }

  private change(op: string, make: () => { spec: IpfwRulesetSpec; added: string[] }): Promise<IpfwChangeResult> {
    return this.serial(async () => {
      let rs: IpfwRuleset;
      let added: string[];
      try {
        const m = make();
        added = m.added;
        rs = IpfwRuleset.build(m.spec, this.cluster.interfaces().map((i) => i.ifname));
      } catch (err) {
        this.onOp(op, "error");
        throw err;
      }
      const revision = await this.kv.put(KEY, enc(rs.spec()));
      this.rs = rs;
      this.rev = revision;
      const { applied, failures } = await this.fanout(this.cluster.liveCpus());
      trace(TraceArea.route, () => `ipfw ${op}: revision ${revision} digest ${rs.digest} on cpus [${applied.join(",")}]`);
      if (failures.length > 0) {
        this.onOp(op, "partial");
        throw new CpuApplyError(`ipfw ${op}`, failures, applied);
      }
      this.onOp(op, "ok");
      return { revision, digest: rs.digest, applied, rules: added };
    });
  }

  private async fanout(cpus: readonly number[]): Promise<{ applied: number[]; failures: { cpu: number; reason: string }[] }> {
    const rev = this.rev;
    const spec = this.rs.spec();
    const replies = await this.ports.requestAll(cpus, (id) => encodeIpfwNetmsg.set(id, spec, rev));
    const applied: number[] = [];
    const failures: { cpu: number; reason: string }[] = [];
    for (const r of replies) {
      if (r.ok) {
        applied.push(r.cpu);
        this.acked.set(r.cpu, rev);
      } else failures.push({ cpu: r.cpu, reason: r.error ?? "failed" });
    }
    return { applied, failures };
  }

  private serial<T>(f: () => Promise<T>): Promise<T> {
    const run = this.chain.then(f, f);
    this.chain = run.catch(() => undefined);
    return run;
  }
}
