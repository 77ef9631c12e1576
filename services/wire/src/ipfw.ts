// The ipfw netmsgs on a CPU's port: the whole rule set (control → every CPU), a show request (counters and digest),
// and the states a leaving CPU hands to a flow's new owner. Same framing as the control netmsgs: type, id (u32 LE), JSON.
import type { IpfwStateRecord } from "@dfly/core";
import { NETMSG } from "./netmsg_type.js";
import { controlFrame } from "./netmsg.js";

/** A rule set on the wire: canonical rule texts and tables (checked again where it lands). */
export interface IpfwSetWire {
  rules: string[];
  tables: Record<string, string[]>;
}

/** One state in a hand-over: core's record as it is, JSON numbers (isState checks each field). */
export type IpfwStateWire = IpfwStateRecord;

export type IpfwNetmsg =
  | { type: typeof NETMSG.ipfwSet; id: number; set: IpfwSetWire; revision: number }
  | { type: typeof NETMSG.ipfwShow; id: number }
  | { type: typeof NETMSG.ipfwStates; id: number; states: IpfwStateWire[] };

/** Most rules, table names, prefixes and states one message may carry (bounds what a CPU allocates for it). */
export const IPFW_WIRE_LIMITS = { rules: 4096, ruleChars: 512, tables: 256, prefixes: 65536, states: 65536 } as const;

const dec = new TextDecoder("utf-8", { fatal: true });


export const encodeIpfwNetmsg = {
  set: (id: number, set: IpfwSetWire, revision: number) => controlFrame(NETMSG.ipfwSet, id, { set, revision }),
  show: (id: number) => controlFrame(NETMSG.ipfwShow, id, {}),
  states: (states: IpfwStateWire[]) => controlFrame(NETMSG.ipfwStates, 0, { states }),
} as const;

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v);

function isSet(v: unknown): v is IpfwSetWire {
  if (!isObj(v) || !Array.isArray(v.rules) || !isObj(v.tables)) return false;
  const L = IPFW_WIRE_LIMITS;
  if (v.rules.length > L.rules || !v.rules.every((r) => typeof r === "string" && r.length <= L.ruleChars)) return false;
  const names = Object.keys(v.tables);
  if (names.length > L.tables) return false;
  let n = 0;
  for (const k of names) {
    const t = v.tables[k];
    if (!Array.isArray(t) || !t.every((p) => typeof p === "string" && p.length <= 18)) return false;
    n += t.length;
  }
  return n <= L.prefixes;
}

function isState(v: unknown): v is IpfwStateWire {
  return isObj(v) && isInt(v.a) && isInt(v.b) && isInt(v.ports) && isInt(v.proto) && isInt(v.ttl) && isInt(v.tcp) && isInt(v.rule) && isInt(v.src);
}

/** Decodes an ipfw netmsg; a reason string when malformed (counted by the port). */
export function decodeIpfwNetmsg(data: Uint8Array): IpfwNetmsg | "tooshort" | "badjson" | "badbody" | "badtype" {
  if (data.length < 5) return "tooshort";
  const type = data[0];
  const id = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(1, true);
  let body: unknown;
  try {
    body = JSON.parse(dec.decode(data.subarray(5)));
  } catch {
    return "badjson";
  }
  if (!isObj(body)) return "badbody";
  switch (type) {
    case NETMSG.ipfwSet:
      return isSet(body.set) && isInt(body.revision) && body.revision >= 0 ? { type, id, set: body.set, revision: body.revision } : "badbody";
    case NETMSG.ipfwShow:
      return { type, id };
    case NETMSG.ipfwStates:
      return Array.isArray(body.states) && body.states.length <= IPFW_WIRE_LIMITS.states && body.states.every(isState)
        ? { type, id, states: body.states }
        : "badbody";
    default:
      return "badtype";
  }
}
