// ipfw rule text → a checked rule (DragonFly's sbin/ipfw3 parser and sys/net/ipfw3/ip_fw3.c's opcodes, a subset).
// The grammar, ipfw's order: [NUM] ACTION PROTO from ADDR [PORTS] to ADDR [PORTS] [OPTIONS], or [NUM] check-state.
// Every rule prints back in one canonical form (`formatIpfwRule`), which the digest hashes.
import { parsePrefix, formatPrefix, formatRouteAddress } from "../route.js";

/** Actions (ipfw3 `O_BASIC_ACCEPT`, `_DENY`, `_RESET`, `_COUNT`, `_SKIPTO`, `_CHECK_STATE`). */
export const IpfwAction = { allow: 0, deny: 1, reset: 2, count: 3, skipto: 4, checkState: 5 } as const;
export type IpfwActionCode = (typeof IpfwAction)[keyof typeof IpfwAction];
const ACTION_NAME = ["allow", "deny", "reset", "count", "skipto", "check-state"] as const;

/** `in` / `out` match (ipfw's `in`, `out`); either when unset. */
export const IpfwDir = { any: 0, in: 1, out: 2 } as const;
export type IpfwDirCode = (typeof IpfwDir)[keyof typeof IpfwDir];

/** Highest rule number a user may give; 65535 is the default rule. */
export const IPFW_RULE_MAX = 65534;
export const IPFW_DEFAULT_RULE = 65535;
/** ipfw's autoincrement step for rules given without a number. */
export const IPFW_AUTOINC_STEP = 100;

/** Address match: any, me (a local address of this host), a prefix, or a table. */
export type IpfwAddr =
  | { kind: "any"; not: boolean }
  | { kind: "me"; not: boolean }
  | { kind: "prefix"; addr: number; len: number; not: boolean }
  | { kind: "table"; name: string; not: boolean };

/** TCP flag bits as in the header (TH_FIN … TH_CWR). */
export const TH = { fin: 0x01, syn: 0x02, rst: 0x04, psh: 0x08, ack: 0x10, urg: 0x20, ece: 0x40, cwr: 0x80 } as const;

export interface IpfwRule {
  num: number;
  action: IpfwActionCode;
  /** skipto target. */
  target: number;
  /** IP protocol, -1 for `ip` (any). */
  proto: number;
  src: IpfwAddr;
  dst: IpfwAddr;
  /** Port ranges as [lo, hi] pairs, flattened; empty = any. */
  srcPorts: number[];
  dstPorts: number[];
  dir: IpfwDirCode;
  /** `recv IF` / `xmit IF` / `via IF` interface names ("" = any). */
  recv: string;
  xmit: string;
  via: string;
  /** TCP flags that must be set / must be clear (`tcpflags syn,!ack`, `setup`, `established`). */
  flagsSet: number;
  flagsClear: number;
  /** `established`: any of RST|ACK set (ipfw's O_ESTAB). */
  established: boolean;
  keepState: boolean;
  /** `limit src-addr N`: at most N states per source address on a CPU (0: no limit clause). */
  limit: number;
}

/** A rule that does not parse or check; nothing is changed by the call that carried it. */
export class IpfwRuleError extends Error {
  override readonly name = "IpfwRuleError";
  constructor(
    readonly rule: string,
    readonly reason: string,
  ) {
    super(`ipfw rule "${rule}": ${reason}`);
  }
}

const PROTOS: Record<string, number> = { ip: -1, all: -1, icmp: 1, tcp: 6, udp: 17 };
const PROTO_NAME: Record<number, string> = { [-1]: "ip", 1: "icmp", 6: "tcp", 17: "udp" };
const ACTIONS: Record<string, IpfwActionCode> = {
  allow: IpfwAction.allow,
  accept: IpfwAction.allow,
  pass: IpfwAction.allow,
  permit: IpfwAction.allow,
  deny: IpfwAction.deny,
  drop: IpfwAction.deny,
  reset: IpfwAction.reset,
  count: IpfwAction.count,
  skipto: IpfwAction.skipto,
  "check-state": IpfwAction.checkState,
};
const NAME_RE = /^[A-Za-z0-9_.-]{1,32}$/;

function intIn(s: string | undefined, lo: number, hi: number): number | undefined {
  if (s === undefined || !/^\d{1,6}$/.test(s)) return undefined;
  const n = Number(s);
  return n >= lo && n <= hi ? n : undefined;
}

function emptyRule(num: number, action: IpfwActionCode): IpfwRule {
  const any: IpfwAddr = { kind: "any", not: false };
  return {
    num,
    action,
    target: 0,
    proto: -1,
    src: any,
    dst: { ...any },
    srcPorts: [],
    dstPorts: [],
    dir: IpfwDir.any,
    recv: "",
    xmit: "",
    via: "",
    flagsSet: 0,
    flagsClear: 0,
    established: false,
    keepState: false,
    limit: 0,
  };
}

/** Parses one rule. `num` given by the caller replaces an absent number; tables and interfaces are checked by the rule set. */
export function parseIpfwRule(text: string, autoNum = IPFW_AUTOINC_STEP): IpfwRule {
  if (text.length > 512) throw new IpfwRuleError(text.slice(0, 40) + "…", "longer than 512 characters");
  const tok = text.trim().split(/\s+/).filter((t) => t !== "");
  const fail = (why: string): never => {
    throw new IpfwRuleError(text.trim(), why);
  };
  let i = 0;
  let num = autoNum;
  if (tok.length > 0 && /^\d+$/.test(tok[0])) {
    const n = intIn(tok[0], 1, IPFW_RULE_MAX);
    if (n === undefined) fail(`rule number ${tok[0]} outside 1-${IPFW_RULE_MAX}`);
    num = n!;
    i++;
  }
  const a = tok[i++];
  if (a === undefined) fail("missing action");
  const action = ACTIONS[a];
  if (action === undefined) fail(`unknown action "${a}" (want allow, deny, reset, count, skipto N, check-state)`);
  const r = emptyRule(num, action);
  if (action === IpfwAction.checkState) {
    if (i < tok.length) fail(`check-state takes no body, found "${tok[i]}"`);
    return r;
  }
  if (action === IpfwAction.skipto) {
    const t = intIn(tok[i++], 1, IPFW_RULE_MAX);
    if (t === undefined) fail(`skipto wants a rule number 1-${IPFW_RULE_MAX}, found "${tok[i - 1] ?? ""}"`);
    if (t! <= num) fail(`skipto ${t} does not go forward from rule ${num}`);
    r.target = t!;
  }
  const p = tok[i++];
  if (p === undefined) fail("missing protocol");
  if (PROTOS[p] !== undefined) r.proto = PROTOS[p];
  else {
    const n = intIn(p, 0, 255);
    if (n === undefined) fail(`unknown protocol "${p}" (want ip, tcp, udp, icmp or 0-255)`);
    r.proto = n!;
  }
  const ported = r.proto === 6 || r.proto === 17;
  const side = (word: "from" | "to"): [IpfwAddr, number[]] => {
    if (tok[i] !== word) fail(`expected "${word}", found "${tok[i] ?? "end of rule"}"`);
    i++;
    let not = false;
    if (tok[i] === "not") {
      not = true;
      i++;
    }
    const s = tok[i++];
    let addr: IpfwAddr;
    if (s === undefined) return fail(`missing address after "${word}"`);
    if (s === "any") addr = { kind: "any", not };
    else if (s === "me") addr = { kind: "me", not };
    else if (s.startsWith("table(") && s.endsWith(")")) {
      const name = s.slice(6, -1);
      if (!NAME_RE.test(name)) fail(`table name "${name}" (want 1-32 of A-Z a-z 0-9 _ . -)`);
      addr = { kind: "table", name, not };
    } else {
      try {
        const pf = parsePrefix(s.includes("/") ? s : `${s}/32`);
        addr = { kind: "prefix", addr: pf.addr, len: pf.len, not };
      } catch (e) {
        return fail(`address "${s}": ${(e as Error).message}`);
      }
    }
    const ports: number[] = [];
    const pt = tok[i];
    if (pt !== undefined && /^\d/.test(pt)) {
      if (!ported) fail(`ports "${pt}" need proto tcp or udp`);
      i++;
      for (const part of pt.split(",")) {
        const m = /^(\d+)(?:-(\d+))?$/.exec(part);
        const lo = intIn(m?.[1], 0, 65535);
        const hi = m?.[2] === undefined ? lo : intIn(m[2], 0, 65535);
        if (lo === undefined || hi === undefined || hi < lo) fail(`port "${part}" (want N or N-M within 0-65535)`);
        ports.push(lo!, hi!);
      }
      if (ports.length > 32) fail("more than 16 port ranges");
    }
    return [addr, ports];
  };
  [r.src, r.srcPorts] = side("from");
  [r.dst, r.dstPorts] = side("to");
  while (i < tok.length) {
    const o = tok[i++];
    switch (o) {
      case "in":
      case "out":
        if (r.dir !== IpfwDir.any) fail(`"${o}" given twice or with its opposite`);
        r.dir = o === "in" ? IpfwDir.in : IpfwDir.out;
        break;
      case "via":
      case "recv":
      case "xmit": {
        const n = tok[i++];
        if (n === undefined || !NAME_RE.test(n)) fail(`${o} wants an interface name, found "${n ?? "end of rule"}"`);
        r[o] = n!;
        break;
      }
      case "setup":
      case "established":
      case "tcpflags": {
        if (r.proto !== 6) fail(`"${o}" needs proto tcp`);
        if (o === "setup") {
          r.flagsSet |= TH.syn;
          r.flagsClear |= TH.ack;
        } else if (o === "established") r.established = true;
        else {
          const spec = tok[i++];
          if (spec === undefined) fail("tcpflags wants a list such as syn,!ack");
          for (const f of spec!.split(",")) {
            const neg = f.startsWith("!");
            const bit = (TH as Record<string, number>)[neg ? f.slice(1) : f];
            if (bit === undefined) fail(`unknown TCP flag "${f}" (want fin syn rst psh ack urg ece cwr, ! to negate)`);
            if (neg) r.flagsClear |= bit;
            else r.flagsSet |= bit;
          }
        }
        break;
      }
      case "keep-state":
        r.keepState = true;
        break;
      case "limit": {
        if (tok[i++] !== "src-addr") fail(`limit wants "src-addr N", found "${tok[i - 1] ?? "end of rule"}"`);
        const n = intIn(tok[i++], 1, 65535);
        if (n === undefined) fail(`limit src-addr wants 1-65535, found "${tok[i - 1] ?? ""}"`);
        r.limit = n!;
        r.keepState = true;
        break;
      }
      default:
        fail(`unknown option "${o}"`);
    }
  }
  if (r.flagsSet & r.flagsClear) fail("a TCP flag both required and excluded");
  if (r.keepState && action !== IpfwAction.allow) fail("keep-state and limit need action allow");
  return r;
}

function formatAddr(a: IpfwAddr): string {
  const n = a.not ? "not " : "";
  switch (a.kind) {
    case "any":
      return `${n}any`;
    case "me":
      return `${n}me`;
    case "table":
      return `${n}table(${a.name})`;
    case "prefix":
      return n + (a.len === 32 ? formatRouteAddress(a.addr) : formatPrefix(a.addr, a.len));
  }
}

function formatPorts(p: number[]): string {
  if (p.length === 0) return "";
  const parts: string[] = [];
  for (let k = 0; k < p.length; k += 2) parts.push(p[k] === p[k + 1] ? `${p[k]}` : `${p[k]}-${p[k + 1]}`);
  return " " + parts.join(",");
}

const FLAG_NAMES = Object.entries(TH);

/** The canonical text of a rule (what `show` prints and the digest hashes). */
export function formatIpfwRule(r: IpfwRule): string {
  const head = `${String(r.num).padStart(5, "0")} `;
  if (r.action === IpfwAction.checkState) return head + "check-state";
  let s = head + ACTION_NAME[r.action] + (r.action === IpfwAction.skipto ? ` ${r.target}` : "");
  s += ` ${PROTO_NAME[r.proto] ?? String(r.proto)} from ${formatAddr(r.src)}${formatPorts(r.srcPorts)} to ${formatAddr(r.dst)}${formatPorts(r.dstPorts)}`;
  if (r.dir === IpfwDir.in) s += " in";
  if (r.dir === IpfwDir.out) s += " out";
  if (r.recv) s += ` recv ${r.recv}`;
  if (r.xmit) s += ` xmit ${r.xmit}`;
  if (r.via) s += ` via ${r.via}`;
  if (r.established) s += " established";
  if (r.flagsSet | r.flagsClear) {
    const f: string[] = [];
    for (const [name, bit] of FLAG_NAMES) {
      if (r.flagsSet & bit) f.push(name);
      if (r.flagsClear & bit) f.push(`!${name}`);
    }
    s += ` tcpflags ${f.join(",")}`;
  }
  if (r.limit > 0) s += ` limit src-addr ${r.limit}`;
  else if (r.keepState) s += " keep-state";
  return s;
}

/** Every table a rule names. */
export function ipfwRuleTables(r: IpfwRule): string[] {
  const out: string[] = [];
  if (r.src.kind === "table") out.push(r.src.name);
  if (r.dst.kind === "table") out.push(r.dst.name);
  return out;
}

/** Every interface a rule names. */
export function ipfwRuleIfnames(r: IpfwRule): string[] {
  return [r.recv, r.xmit, r.via].filter((n) => n !== "");
}
