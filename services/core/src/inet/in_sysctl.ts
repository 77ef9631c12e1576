/**
 * The net.inet sysctl knobs this stack has (DragonFly's SYSCTL_INT declarations in
 * tcp_subr.c, tcp_input.c, tcp_syncache.c, ip_input.c, ip_icmp.c): one table of
 * name → kind, range and the field it sets. No I/O: the control validates a write
 * with it, each CPU applies and reads with it.
 *
 * Every value is an integer, as a sysctl's is: booleans are 0/1, times are
 * milliseconds. Names and defaults are DragonFly's (shared notes §9), except
 * `net.inet.tcp.rtobase` (ms; DragonFly has the 0/1 `low_rtobase` choosing 3 s or 1 s).
 */
import { TCP_DEFAULTS, type TcpConfig } from "./tcp_var.js";
import { IP_MAXFRAGPACKETS, IP_MAXFRAGPACKETS_LIMIT, IP_MAXFRAGSPERPACKET, IP_MAXFRAGSPERPACKET_LIMIT } from "./ip_reass.js";

/** Where a knob lives on a CPU. */
export const SysctlLayer = {
  /** The TCP engine's TcpConfig. */
  tcp: "tcp",
  /** The syncache (syncookies). */
  syncache: "syncache",
  /** ip_input / ip_reass. */
  ip: "ip",
  /** ICMP (icmplim). */
  icmp: "icmp",
} as const;
export type SysctlLayer = (typeof SysctlLayer)[keyof typeof SysctlLayer];

export interface SysctlOid {
  readonly name: string;
  readonly kind: "bool" | "int";
  readonly min: number;
  readonly max: number;
  readonly layer: SysctlLayer;
  /** The field set on that layer (a TcpConfig key for `tcp`). */
  readonly field: string;
  readonly defaultValue: number;
  readonly descr: string;
}

const b = (v: boolean) => (v ? 1 : 0);
const D = TCP_DEFAULTS;

function tcpBool(name: string, field: keyof TcpConfig, descr: string): SysctlOid {
  return { name, kind: "bool", min: 0, max: 1, layer: "tcp", field, defaultValue: b(D[field] as boolean), descr };
}
function tcpInt(name: string, field: keyof TcpConfig, min: number, max: number, descr: string): SysctlOid {
  return { name, kind: "int", min, max, layer: "tcp", field, defaultValue: D[field] as number, descr };
}

/** Every knob, sorted by name. */
export const SYSCTL_TABLE: readonly SysctlOid[] = ([
  tcpBool("net.inet.tcp.aggregate_acks", "aggregateAcks", "Aggregate ACKs and output to the end of a netisr batch"),
  tcpBool("net.inet.tcp.always_keepalive", "alwaysKeepalive", "Assume SO_KEEPALIVE on all TCP connections"),
  tcpBool("net.inet.tcp.delayed_ack", "delayedAck", "Delay ACK to try and piggyback it onto a data packet"),
  tcpInt("net.inet.tcp.delacktime", "delackTime", 1, 1000, "Time before a delayed ACK is sent (ms)"),
  tcpBool("net.inet.tcp.icmp_may_rst", "icmpMayRst", "ICMP unreachable may abort a connection in SYN_SENT"),
  tcpInt("net.inet.tcp.iwcapsegs", "iwCapSegs", 4, 64, "Initial window cap, in 1460-byte segments"),
  tcpInt("net.inet.tcp.iwmaxsegs", "iwMaxSegs", 4, 64, "Initial window, in segments"),
  tcpInt("net.inet.tcp.keepcnt", "keepCnt", 1, 1000, "Keepalive probes before the connection is dropped"),
  tcpInt("net.inet.tcp.keepidle", "keepIdle", 1000, 86_400_000, "Idle time before keepalive probes begin (ms)"),
  tcpInt("net.inet.tcp.keepinit", "keepInit", 1000, 3_600_000, "Time to establish a connection (ms)"),
  tcpInt("net.inet.tcp.keepintvl", "keepIntvl", 1000, 3_600_000, "Time between keepalive probes (ms)"),
  tcpBool("net.inet.tcp.limitedtransmit", "limitedTransmit", "Limited transmit, RFC 3042"),
  tcpInt("net.inet.tcp.msl", "msl", 1, 300_000, "Maximum segment lifetime (ms)"),
  tcpInt("net.inet.tcp.mssdflt", "mssdflt", 256, 65495, "Default MSS when the peer sends none"),
  tcpBool("net.inet.tcp.path_mtu_discovery", "pathMtuDiscovery", "Path MTU discovery, RFC 1191"),
  tcpInt("net.inet.tcp.recvspace", "recvspace", 4096, 4 << 20, "Receive buffer size"),
  tcpInt("net.inet.tcp.rexmit_min", "rexmitMin", 0, 60_000, "Minimum retransmit timeout (ms)"),
  tcpInt("net.inet.tcp.rexmit_slop", "rexmitSlop", 0, 60_000, "Added to every retransmit timeout (ms)"),
  tcpBool("net.inet.tcp.rfc1323", "rfc1323", "Window scaling and timestamps, RFC 7323"),
  tcpInt("net.inet.tcp.rtobase", "rtoBase", 100, 60_000, "Initial retransmit timeout (ms; DragonFly: low_rtobase 1 = 1000, 0 = 3000)"),
  tcpBool("net.inet.tcp.sack", "sack", "Selective acknowledgement, RFC 2018"),
  tcpInt("net.inet.tcp.sendspace", "sendspace", 4096, 4 << 20, "Send buffer size"),
  {
    name: "net.inet.tcp.syncookies", kind: "bool", min: 0, max: 1, layer: "syncache", field: "syncookies", defaultValue: 1,
    descr: "Use TCP SYN cookies if the syncache overflows",
  },
  tcpBool("net.inet.tcp.eifel", "eifel", "Eifel detection and response, RFC 3522/4015"),
  tcpBool("net.inet.tcp.ncr", "ncr", "Non-congestion robustness, RFC 4653"),
  tcpBool("net.inet.tcp.rescuesack", "rescueSack", "Rescue retransmission, RFC 6675"),
  tcpBool("net.inet.tcp.dsack", "dsack", "D-SACK sent and used to undo, RFC 2883/3708"),
  tcpBool("net.inet.tcp.earlyretransmit", "earlyRetransmit", "Early retransmit, RFC 5827"),
  tcpBool("net.inet.tcp.ecn.enable", "ecn", "ECN, RFC 3168 (DragonFly's TCP has none: off)"),
  {
    name: "net.inet.ip.forwarding", kind: "bool", min: 0, max: 1, layer: "ip", field: "forwarding", defaultValue: 1,
    descr: "Enable IP forwarding between interfaces",
  },
  {
    name: "net.inet.ip.maxfragpackets", kind: "int", min: 0, max: IP_MAXFRAGPACKETS_LIMIT, layer: "ip", field: "maxfragpackets",
    defaultValue: IP_MAXFRAGPACKETS, descr: "Maximum number of IPv4 fragment reassembly queue entries (per CPU)",
  },
  {
    name: "net.inet.ip.maxfragsperpacket", kind: "int", min: 1, max: IP_MAXFRAGSPERPACKET_LIMIT, layer: "ip", field: "maxfragsperpacket",
    defaultValue: IP_MAXFRAGSPERPACKET, descr: "Maximum number of IPv4 fragments allowed per packet",
  },
  {
    name: "net.inet.icmp.icmplim", kind: "int", min: 0, max: 1_000_000, layer: "icmp", field: "icmplim", defaultValue: 200,
    descr: "ICMP errors and echo replies per second (per CPU here; 0 = no limit)",
  },
] satisfies SysctlOid[]).sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));

const BY_NAME = new Map(SYSCTL_TABLE.map((o) => [o.name, o]));

/** A name not in the table. */
export class SysctlUnknownError extends Error {
  override readonly name = "SysctlUnknownError";
  constructor(readonly oid: string) {
    super(`unknown oid '${oid}'`);
  }
}

/** A value the knob does not take. */
export class SysctlValueError extends Error {
  override readonly name = "SysctlValueError";
  constructor(
    readonly oid: string,
    readonly value: string,
    why: string,
  ) {
    super(`${oid}: invalid value '${value}': ${why}`);
  }
}

export function sysctlLookup(name: string): SysctlOid {
  const o = BY_NAME.get(name);
  if (!o) throw new SysctlUnknownError(name);
  return o;
}

/** Names under `prefix` ("" or "net" = all; a whole name = that one). Unknown → SysctlUnknownError. */
export function sysctlMatch(prefix: string): SysctlOid[] {
  if (prefix === "") return [...SYSCTL_TABLE];
  const exact = BY_NAME.get(prefix);
  if (exact) return [exact];
  const list = SYSCTL_TABLE.filter((o) => o.name.startsWith(prefix + "."));
  if (list.length === 0) throw new SysctlUnknownError(prefix);
  return list;
}

/** A value as written (`1`, `0`, `57344`) → the integer, checked against the knob's kind and range. */
export function sysctlParseValue(o: SysctlOid, text: string): number {
  const s = text.trim();
  if (!/^-?\d+$/.test(s)) throw new SysctlValueError(o.name, text, o.kind === "bool" ? "want 0 or 1" : "want an integer");
  const v = Number(s);
  if (v < o.min || v > o.max) throw new SysctlValueError(o.name, text, o.kind === "bool" ? "want 0 or 1" : `want ${o.min}..${o.max}`);
  return v;
}

/** `name=value` pairs → checked values, all or nothing (the first bad one throws). A name given twice keeps the last. */
export function sysctlParseAssignments(list: readonly { name: string; value: string }[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const a of list) out.set(sysctlLookup(a.name).name, sysctlParseValue(sysctlLookup(a.name), a.value));
  return out;
}

/** What a CPU's knobs are set on: read and written by field name. */
export interface SysctlTargets {
  tcp: Readonly<TcpConfig>;
  syncache: { syncookies: boolean };
  ip: { forwarding: boolean; maxfragpackets: number; maxfragsperpacket: number };
  icmp: { icmplim: number };
}

/** Every knob's current value on one CPU. */
export function sysctlRead(t: SysctlTargets): Record<string, number> {
  const out: Record<string, number> = {};
  for (const o of SYSCTL_TABLE) {
    const v = (t[o.layer] as unknown as Record<string, number | boolean>)[o.field];
    out[o.name] = typeof v === "boolean" ? b(v) : v;
  }
  return out;
}

/** Checked values → the fields to set, by layer (booleans as booleans). */
export function sysctlPatch(values: ReadonlyMap<string, number>): { [L in SysctlLayer]: Record<string, number | boolean> } {
  const p: { [L in SysctlLayer]: Record<string, number | boolean> } = { tcp: {}, syncache: {}, ip: {}, icmp: {} };
  for (const [name, v] of values) {
    const o = sysctlLookup(name);
    p[o.layer][o.field] = o.kind === "bool" ? v !== 0 : v;
  }
  return p;
}
