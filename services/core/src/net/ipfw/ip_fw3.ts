// The ipfw rule chain of one CPU (DragonFly's sys/net/ipfw3/ip_fw3.c `ipfw_chk`): numbered rules walked in order, the first
// deciding action wins, per-rule counters of this CPU only. The rule set is replicated (every CPU holds the same one,
// compared by digest); the states are this CPU's own (ip_fw3_state.ts). No allocation per packet.
import { prefixMask } from "../route.js";
import {
  formatIpfwRule,
  IPFW_DEFAULT_RULE,
  IpfwAction,
  IpfwDir,
  IpfwRuleError,
  ipfwRuleIfnames,
  ipfwRuleTables,
  parseIpfwRule,
  type IpfwAddr,
  type IpfwRule,
} from "./ip_fw3_rule.js";
import { ipfwStateKey, type IpfwStateTable } from "./ip_fw3_state.js";
import { IpfwTable, IPFW_TABLE_MAX } from "./ip_fw3_table.js";

/** Most rules in a set. */
export const IPFW_RULES_MAX = 4096;

/** What the chain decided. */
export const IPFW_PASS = 0;
export const IPFW_DENY = 1;
/** Deny a TCP segment and answer it with a RST. */
export const IPFW_RESET = 2;

/** Why a packet was refused (dfly_ipfw_rejected_total{reason}). */
export const IpfwReject = { deny: 0, reset: 1, limit: 2, statefull: 3 } as const;
export const IPFW_REJECT_REASONS = ["deny", "reset", "limit", "statefull"] as const;

/** The wire form of a rule set: canonical rule texts (sorted by number) and tables by name. */
export interface IpfwRulesetSpec {
  rules: string[];
  tables: Record<string, string[]>;
}

/** A checked rule set: parsed rules in order, tables, digest. Immutable once built. */
export class IpfwRuleset {
  private constructor(
    readonly rules: readonly IpfwRule[],
    readonly tables: ReadonlyMap<string, IpfwTable>,
    readonly digest: string,
  ) {}

  static readonly empty = IpfwRuleset.build({ rules: [], tables: {} });

  /** Parses and checks a whole set: every rule, tables named exist, interfaces are in `ifnames` when given, skipto goes forward. */
  static build(spec: IpfwRulesetSpec, ifnames?: readonly string[]): IpfwRuleset {
    if (spec.rules.length > IPFW_RULES_MAX) throw new IpfwRuleError(`(${spec.rules.length} rules)`, `more than ${IPFW_RULES_MAX} rules`);
    const names = Object.keys(spec.tables);
    if (names.length > 256) throw new IpfwRuleError(`(${names.length} tables)`, "more than 256 tables");
    const tables = new Map<string, IpfwTable>();
    let entries = 0;
    for (const name of names.sort()) {
      if (!/^[A-Za-z0-9_.-]{1,32}$/.test(name)) throw new IpfwRuleError(`table ${name}`, "table name: want 1-32 of A-Z a-z 0-9 _ . -");
      const list = spec.tables[name];
      entries += list.length;
      if (entries > IPFW_TABLE_MAX) throw new IpfwRuleError(`table ${name}`, `tables hold more than ${IPFW_TABLE_MAX} prefixes`);
      const t = new IpfwTable(name);
      for (const p of list) t.add(p);
      tables.set(name, t);
    }
    const rules = spec.rules.map((s) => parseIpfwRule(s));
    for (const r of rules) {
      const text = formatIpfwRule(r);
      for (const t of ipfwRuleTables(r)) if (!tables.has(t)) throw new IpfwRuleError(text, `unknown table "${t}" (tables: ${[...tables.keys()].join(", ") || "none"})`);
      if (ifnames) for (const n of ipfwRuleIfnames(r)) if (!ifnames.includes(n)) throw new IpfwRuleError(text, `unknown interface "${n}" (interfaces: ${ifnames.join(", ") || "none"})`);
    }
    rules.sort((a, b) => a.num - b.num);
    const texts = rules.map(formatIpfwRule);
    const tableText = [...tables.values()].map((t) => `table ${t.name} ${t.list().join(" ")}`);
    return new IpfwRuleset(rules, tables, ipfwDigest([...texts, ...tableText]));
  }

  /** The wire form (canonical texts, tables' prefixes sorted). */
  spec(): IpfwRulesetSpec {
    const tables: Record<string, string[]> = {};
    for (const [n, t] of this.tables) tables[n] = t.list();
    return { rules: this.rules.map(formatIpfwRule), tables };
  }
}

/** FNV-1a 64 over the lines, hex (the same on every CPU for the same canonical set). */
export function ipfwDigest(lines: readonly string[]): string {
  let h0 = 0x84222325;
  let h1 = 0xcbf29ce4;
  const feed = (c: number) => {
    h0 ^= c;
    // × 0x100000001b3: low word × 0x1b3, high gets low × 1 (<<8 of 2^32 part) plus high × 0x1b3.
    const lo = h0 * 0x1b3;
    const hi = h1 * 0x1b3 + h0 * 0x100 + Math.floor(lo / 0x100000000);
    h0 = lo >>> 0;
    h1 = hi >>> 0;
  };
  for (const l of lines) {
    for (let i = 0; i < l.length; i++) feed(l.charCodeAt(i) & 0xff);
    feed(10);
  }
  return h1.toString(16).padStart(8, "0") + h0.toString(16).padStart(8, "0");
}

const A_ANY = 0;
const A_ME = 1;
const A_PREFIX = 2;
const A_TABLE = 3;

/** A rule compiled for one CPU: flat numeric fields, interfaces as indexes (-1 any, -2 not on this CPU). */
class CompiledRule {
  num: number;
  action: number;
  next: number;
  proto: number;
  sk: number;
  snot: boolean;
  saddr: number;
  smask: number;
  stab: IpfwTable | null;
  dk: number;
  dnot: boolean;
  daddr: number;
  dmask: number;
  dtab: IpfwTable | null;
  sports: Int32Array;
  dports: Int32Array;
  dir: number;
  recv = -1;
  xmit = -1;
  via = -1;
  flagsSet: number;
  flagsClear: number;
  established: boolean;
  keepState: boolean;
  limit: number;

  constructor(
    readonly rule: IpfwRule,
    tables: ReadonlyMap<string, IpfwTable>,
  ) {
    this.num = rule.num;
    this.action = rule.action;
    this.next = -1;
    this.proto = rule.proto;
    const addr = (a: IpfwAddr): [number, boolean, number, number, IpfwTable | null] => {
      switch (a.kind) {
        case "any":
          return [A_ANY, a.not, 0, 0, null];
        case "me":
          return [A_ME, a.not, 0, 0, null];
        case "prefix":
          return [A_PREFIX, a.not, a.addr, prefixMask(a.len), null];
        case "table":
          return [A_TABLE, a.not, 0, 0, tables.get(a.name) ?? null];
      }
    };
    [this.sk, this.snot, this.saddr, this.smask, this.stab] = addr(rule.src);
    [this.dk, this.dnot, this.daddr, this.dmask, this.dtab] = addr(rule.dst);
    this.sports = Int32Array.from(rule.srcPorts);
    this.dports = Int32Array.from(rule.dstPorts);
    this.dir = rule.dir;
    this.flagsSet = rule.flagsSet;
    this.flagsClear = rule.flagsClear;
    this.established = rule.established;
    this.keepState = rule.keepState;
    this.limit = rule.limit;
  }
}

function portIn(p: Int32Array, port: number): boolean {
  for (let k = 0; k < p.length; k += 2) if (port >= p[k] && port <= p[k + 1]) return true;
  return false;
}

/** Counters of one CPU's chain (plain numbers, one writer). */
export class IpfwStats {
  stateCreated = 0;
  stateExpired = 0;
  stateHits = 0;
  /** A packet found no state here while another CPU held one for its flow (audit probe only; 0 by design). */
  crossCpuLookups = 0;
  readonly rejected = new Float64Array(IPFW_REJECT_REASONS.length);
}

export interface IpfwChainOptions {
  states: IpfwStateTable;
  /** What the default rule 65535 does (default allow: an empty chain leaves a router forwarding, IPFIREWALL_DEFAULT_TO_ACCEPT). */
  defaultDeny?: boolean;
}

export class IpfwChain {
  readonly stats = new IpfwStats();
  readonly states: IpfwStateTable;
  private rs: IpfwRuleset = IpfwRuleset.empty;
  private rules: CompiledRule[] = [];
  /** Per rule (last: the default rule): packets and bytes on this CPU. */
  packets = new Float64Array(1);
  bytes = new Float64Array(1);
  private defaultDeny: boolean;
  /** Local addresses (`me`). */
  me = new Uint32Array(0);
  /** Coarse clock, seconds (time_uptime); `tick` advances it. */
  now = 0;
  /** Per-source state counts for `limit src-addr`. */
  private readonly perSrc = new Map<number, number>();
  private readonly key = new Int32Array(4);
  /**
   * The packet whose inbound check just found its state at rule 0 (check-state first): its outbound check would find
   * the same state at the same rule, with the same flags (a no-op walk), so it passes at once — the matched dyn rule
   * that ipfw carries with the packet. Cleared by every check.
   */
  private hitBuf: Uint8Array | null = null;
  private hitOff = -1;
  /** Audit only: does another CPU hold a live state for this key? (never set on the packet path of a deployment). */
  peerProbe: ((key: Int32Array, proto: number) => boolean) | undefined = undefined;

  constructor(o: IpfwChainOptions) {
    this.states = o.states;
    this.defaultDeny = o.defaultDeny ?? false;
    this.states.onLimitedRelease = (src) => {
      const n = (this.perSrc.get(src) ?? 1) - 1;
      if (n <= 0) this.perSrc.delete(src);
      else this.perSrc.set(src, n);
    };
  }

  get ruleset(): IpfwRuleset {
    return this.rs;
  }

  /** True when there are rules to walk (an empty chain is skipped by the hooks). */
  get active(): boolean {
    return this.rules.length > 0;
  }

  /** Installs a rule set; counters of rules that stay (same text) are kept; states of rules that left are removed. */
  install(rs: IpfwRuleset, ifindexOf: (name: string) => number): void {
    const old = new Map<string, [number, number]>();
    this.rules.forEach((r, i) => old.set(formatIpfwRule(r.rule), [this.packets[i], this.bytes[i]]));
    const dflt: [number, number] = [this.packets[this.rules.length], this.bytes[this.rules.length]];
    const rules = rs.rules.map((r) => new CompiledRule(r, rs.tables));
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i];
      if (r.action === IpfwAction.skipto) {
        let j = i + 1;
        while (j < rules.length && rules[j].num < r.rule.target) j++;
        r.next = j;
      }
    }
    this.rules = rules;
    this.bindInterfaces(ifindexOf);
    this.packets = new Float64Array(rules.length + 1);
    this.bytes = new Float64Array(rules.length + 1);
    rules.forEach((r, i) => {
      const o = old.get(formatIpfwRule(r.rule));
      if (o) [this.packets[i], this.bytes[i]] = o;
    });
    [this.packets[rules.length], this.bytes[rules.length]] = dflt;
    this.rs = rs;
    const stateful = new Set(rules.filter((r) => r.keepState || r.action === IpfwAction.checkState).map((r) => r.num));
    if (stateful.size === 0) this.states.clear();
    else this.states.sweep(this.now, this.states.buckets, (n) => stateful.has(n));
  }

  /** Resolves interface names again (the topology changed). */
  bindInterfaces(ifindexOf: (name: string) => number): void {
    const idx = (n: string) => (n === "" ? -1 : ifindexOf(n) >= 0 ? ifindexOf(n) : -2);
    for (const r of this.rules) {
      r.recv = idx(r.rule.recv);
      r.xmit = idx(r.rule.xmit);
      r.via = idx(r.rule.via);
    }
  }

  /** Advances the clock and removes expired states, `budget` buckets per call. Returns states expired. */
  tick(nowSec: number, budget = 4096): number {
    this.now = nowSec;
    const n = this.states.sweep(nowSec, budget);
    this.stats.stateExpired += n;
    return n;
  }

  private isMe(a: number): boolean {
    const me = this.me;
    for (let k = 0; k < me.length; k++) if (me[k] === a) return true;
    return false;
  }

  private addrMatch(kind: number, not: boolean, addr: number, mask: number, tab: IpfwTable | null, a: number): boolean {
    let m: boolean;
    if (kind === A_ANY) m = true;
    else if (kind === A_PREFIX) m = ((a & mask) >>> 0) === addr;
    else if (kind === A_ME) m = this.isMe(a);
    else m = tab !== null && tab.lookup(a);
    return m !== not;
  }

  /**
   * `ipfw_chk` for the IPv4 packet at `buf[off, off+iplen)` with header length `hlen` (already checked by ip_input).
   * `dir`: IpfwDir.in or .out; `rcvif`/`oif`: interface indexes (-1 unknown). Returns IPFW_PASS, IPFW_DENY or IPFW_RESET.
   */
  chk(buf: Uint8Array, off: number, hlen: number, iplen: number, dir: number, rcvif: number, oif: number): number {
    const rules = this.rules;
    const n = rules.length;
    if (this.hitBuf === buf && this.hitOff === off && dir === IpfwDir.out) {
      this.hitBuf = null;
      this.stats.stateHits++;
      this.packets[0]++;
      this.bytes[0] += iplen;
      return IPFW_PASS;
    }
    this.hitBuf = null;
    const proto = buf[off + 9];
    const src = ((buf[off + 12] << 24) | (buf[off + 13] << 16) | (buf[off + 14] << 8) | buf[off + 15]) >>> 0;
    const dst = ((buf[off + 16] << 24) | (buf[off + 17] << 16) | (buf[off + 18] << 8) | buf[off + 19]) >>> 0;
    const frag = ((buf[off + 6] << 8) | buf[off + 7]) & 0x1fff;
    let sport = 0;
    let dport = 0;
    let ported = false;
    let flags = 0;
    if (frag === 0 && (proto === 6 || proto === 17) && iplen >= hlen + 4) {
      const l4 = off + hlen;
      sport = (buf[l4] << 8) | buf[l4 + 1];
      dport = (buf[l4 + 2] << 8) | buf[l4 + 3];
      ported = true;
      if (proto === 6 && iplen >= hlen + 14) flags = buf[l4 + 13];
    }
    let looked = false;
    for (let i = 0; i < n; i++) {
      const r = rules[i];
      if (r.keepState || r.action === IpfwAction.checkState) {
        if (!looked) {
          looked = true;
          if (ported || (proto !== 6 && proto !== 17)) {
            const k = ipfwStateKey(this.key, src, dst, sport, dport);
            const hit = this.states.lookup(k, proto, flags, this.now);
            if (hit > 0) {
              this.stats.stateHits++;
              this.packets[i]++;
              this.bytes[i] += iplen;
              if (i === 0 && dir === IpfwDir.in) {
                this.hitBuf = buf;
                this.hitOff = off;
              }
              return IPFW_PASS;
            }
            if (hit < 0) this.stats.stateExpired++;
            else if (this.peerProbe !== undefined && this.peerProbe(k, proto)) this.stats.crossCpuLookups++;
          }
        }
        if (r.action === IpfwAction.checkState) continue;
      }
      if (r.proto >= 0 && r.proto !== proto) continue;
      if (r.dir !== 0 && r.dir !== dir) continue;
      if (r.sk !== A_ANY || r.snot) if (!this.addrMatch(r.sk, r.snot, r.saddr, r.smask, r.stab, src)) continue;
      if (r.dk !== A_ANY || r.dnot) if (!this.addrMatch(r.dk, r.dnot, r.daddr, r.dmask, r.dtab, dst)) continue;
      if (r.sports.length > 0 && (!ported || !portIn(r.sports, sport))) continue;
      if (r.dports.length > 0 && (!ported || !portIn(r.dports, dport))) continue;
      if (r.recv !== -1 && r.recv !== rcvif) continue;
      if (r.xmit !== -1 && (dir !== IpfwDir.out || r.xmit !== oif)) continue;
      if (r.via !== -1 && r.via !== (dir === IpfwDir.out ? oif : rcvif)) continue;
      if (r.flagsSet | r.flagsClear) {
        if (proto !== 6 || (flags & r.flagsSet) !== r.flagsSet || (flags & r.flagsClear) !== 0) continue;
      }
      if (r.established && (proto !== 6 || (flags & 0x14) === 0)) continue;
      this.packets[i]++;
      this.bytes[i] += iplen;
      switch (r.action) {
        case IpfwAction.allow:
          if (r.keepState) return this.keepState(r, src, dst, sport, dport, proto, flags, ported);
          return IPFW_PASS;
        case IpfwAction.deny:
          this.stats.rejected[IpfwReject.deny]++;
          return IPFW_DENY;
        case IpfwAction.reset:
          this.stats.rejected[IpfwReject.reset]++;
          return proto === 6 && ported && (flags & 0x04) === 0 ? IPFW_RESET : IPFW_DENY;
        case IpfwAction.skipto:
          i = r.next - 1;
          continue;
        default:
          continue; // count
      }
    }
    this.packets[n]++;
    this.bytes[n] += iplen;
    if (this.defaultDeny) {
      this.stats.rejected[IpfwReject.deny]++;
      return IPFW_DENY;
    }
    return IPFW_PASS;
  }

  private keepState(r: CompiledRule, src: number, dst: number, sport: number, dport: number, proto: number, flags: number, ported: boolean): number {
    if (!ported && (proto === 6 || proto === 17)) return IPFW_PASS; // a later fragment: no ports, no state
    if (r.limit > 0) {
      const have = this.perSrc.get(src | 0) ?? 0;
      if (have >= r.limit) {
        this.stats.rejected[IpfwReject.limit]++;
        return IPFW_DENY;
      }
    }
    const k = ipfwStateKey(this.key, src, dst, sport, dport);
    if (!this.states.insert(k, proto, flags, r.num, src | 0, r.limit > 0, this.now)) {
      this.stats.rejected[IpfwReject.statefull]++;
      return IPFW_DENY;
    }
    if (r.limit > 0) this.perSrc.set(src | 0, (this.perSrc.get(src | 0) ?? 0) + 1);
    this.stats.stateCreated++;
    return IPFW_PASS;
  }

  /** `ipfw show`'s rows for this CPU: canonical text, packets, bytes (the default rule last). */
  show(): { num: number; rule: string; packets: number; bytes: number }[] {
    const rows = this.rules.map((r, i) => ({ num: r.num, rule: formatIpfwRule(r.rule), packets: this.packets[i], bytes: this.bytes[i] }));
    const n = this.rules.length;
    rows.push({
      num: IPFW_DEFAULT_RULE,
      rule: `${IPFW_DEFAULT_RULE} ${this.defaultDeny ? "deny" : "allow"} ip from any to any`,
      packets: this.packets[n],
      bytes: this.bytes[n],
    });
    return rows;
  }
}
