/**
 * The compact text form of routes for bulk paths (KV chunks, batch netmsgs, the table stream):
 * one route a line, `prefix gateway ifname metric mtu iw`, `-` for an unset field. Parsing checks
 * the shape as strictly as the gRPC API (dotted quads, /0-32, interface names, uint32 numbers);
 * the RouteTable that takes the route checks the rest (host bits, attribute ranges).
 */
import type { RouteSpec } from "./route.js";

const QUAD = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const PREFIX = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;
const IFNAME = /^[A-Za-z][A-Za-z0-9_.-]{0,14}$/;
const UINT = /^\d{1,10}$/;

const octetsOk = (m: RegExpExecArray) => Number(m[1]) <= 255 && Number(m[2]) <= 255 && Number(m[3]) <= 255 && Number(m[4]) <= 255;

/** Why a text is not `a.b.c.d/len` (undefined: it is). */
export function prefixShapeError(s: string): string | undefined {
  const m = PREFIX.exec(s);
  if (!m) return `"${s.slice(0, 64)}" is not a.b.c.d/len`;
  if (!octetsOk(m)) return `"${s}": an octet is above 255`;
  if (Number(m[5]) > 32) return `"${s}": length above 32`;
  return undefined;
}

/** Why a text is not `a.b.c.d` (undefined: it is). */
export function addressShapeError(s: string): string | undefined {
  const m = QUAD.exec(s);
  if (!m) return `"${s.slice(0, 64)}" is not a.b.c.d`;
  return octetsOk(m) ? undefined : `"${s}": an octet is above 255`;
}

function uint(s: string, what: string): number | string {
  if (s === "-") return 0;
  if (!UINT.test(s) || Number(s) > 0xffffffff) return `${what} "${s.slice(0, 16)}" is not a uint32`;
  return Number(s);
}

export function routeLine(r: RouteSpec): string {
  return `${r.prefix} ${r.gateway ?? "-"} ${r.ifname ?? "-"} ${r.metric ?? 0} ${r.mtu ?? 0} ${r.iw ?? 0}`;
}

/** One line back to a (normalized) RouteSpec, or why not. */
export function parseRouteLine(line: string): RouteSpec | string {
  const f = line.split(" ");
  if (f.length !== 6) return `want 6 fields, got ${f.length}`;
  const [prefix, gw, ifname] = f;
  const bad = prefixShapeError(prefix) ?? (gw === "-" ? undefined : addressShapeError(gw));
  if (bad) return bad;
  if (ifname !== "-" && !IFNAME.test(ifname)) return `interface "${ifname.slice(0, 16)}" is not 1-15 of [A-Za-z0-9_.-], a letter first`;
  const metric = uint(f[3], "metric");
  const mtu = uint(f[4], "mtu");
  const iw = uint(f[5], "iw");
  for (const v of [metric, mtu, iw]) if (typeof v === "string") return v;
  const r: RouteSpec = { prefix };
  if (gw !== "-") r.gateway = gw;
  if (ifname !== "-") r.ifname = ifname;
  if (metric) r.metric = metric as number;
  if (mtu) r.mtu = mtu as number;
  if (iw) r.iw = iw as number;
  if (!r.gateway && !r.ifname) return "neither a gateway nor an interface";
  return r;
}

const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });

export function encodeRouteLines(routes: readonly RouteSpec[]): Uint8Array {
  return enc.encode(routes.map(routeLine).join("\n"));
}

export interface RouteLinesParsed {
  routes: RouteSpec[];
  /** Lines that did not parse: 1-based line number and reason. */
  bad: { line: number; reason: string }[];
}

/** Parses a block of route lines; a bad line is reported, the others kept. Invalid UTF-8 is one bad line 0. */
export function decodeRouteLines(data: Uint8Array): RouteLinesParsed {
  let text: string;
  try {
    text = dec.decode(data);
  } catch {
    return { routes: [], bad: [{ line: 0, reason: "not UTF-8" }] };
  }
  const out: RouteLinesParsed = { routes: [], bad: [] };
  if (text === "") return out;
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const r = parseRouteLine(lines[i]);
    if (typeof r === "string") out.bad.push({ line: i + 1, reason: r });
    else out.routes.push(r);
  }
  return out;
}
