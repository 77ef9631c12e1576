// ipfw tables of prefixes (DragonFly's sys/net/ipfw3/ip_fw3_table.c, `table(NAME)` in a rule): one hash set per prefix length.
import { parsePrefix, formatPrefix, prefixMask } from "../route.js";
import { IpfwRuleError } from "./ip_fw3_rule.js";

/** Most prefixes one table may hold (a message carrying more is refused before allocating). */
export const IPFW_TABLE_MAX = 65536;

export class IpfwTable {
  /** Prefix lengths present, longest first; `sets[k]` holds the masked addresses of `lens[k]`. */
  private lens: number[] = [];
  private sets: Set<number>[] = [];
  private n = 0;

  constructor(readonly name: string) {}

  get size(): number {
    return this.n;
  }

  /** Adds a prefix ("10.0.0.0/8" or a host); false when it was there. */
  add(text: string): boolean {
    let p: { addr: number; len: number };
    try {
      p = parsePrefix(text.includes("/") ? text : `${text}/32`);
    } catch (e) {
      throw new IpfwRuleError(`table ${this.name} add ${text}`, (e as Error).message);
    }
    if (this.n >= IPFW_TABLE_MAX) throw new IpfwRuleError(`table ${this.name} add ${text}`, `table holds ${IPFW_TABLE_MAX} prefixes already`);
    let k = this.lens.indexOf(p.len);
    if (k < 0) {
      this.lens.push(p.len);
      this.lens.sort((a, b) => b - a);
      k = this.lens.indexOf(p.len);
      this.sets.splice(k, 0, new Set());
    }
    if (this.sets[k].has(p.addr)) return false;
    this.sets[k].add(p.addr);
    this.n++;
    return true;
  }

  /** True when some prefix of the table covers `addr`. */
  lookup(addr: number): boolean {
    const lens = this.lens;
    for (let k = 0; k < lens.length; k++) if (this.sets[k].has((addr & prefixMask(lens[k])) >>> 0)) return true;
    return false;
  }

  /** Every prefix, sorted (address, then length). */
  list(): string[] {
    const all: [number, number][] = [];
    this.lens.forEach((len, k) => this.sets[k].forEach((a) => all.push([a, len])));
    all.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
    return all.map(([a, l]) => formatPrefix(a, l));
  }
}
