/** Socket netmsgs (0x20–0x2f, control framing) on a CPU's port, and the socket events on `<c>.sock.<owner>`; bodies checked, never thrown. */
import type { ListenerSpec } from "./listener.js";

/** A CPU's answer to `closeListener`. */
export interface ListenerCloseWire {
  policy: string;
  heir: string | null;
  moved: number;
  reset: number;
  syncacheMoved: number;
  syncacheDropped: number;
  syncachePending: number;
}

/** A CPU's share of a listener (answer to `listeners`). */
export interface ListenerQueueWire {
  id: string;
  qlen: number;
  qlimit: number;
  overflows: number;
}

/** One PCB row of the listing (answer to `list`). */
export interface PcbWire {
  cpu: number;
  laddr: string;
  lport: number;
  faddr: string;
  fport: number;
  state: string;
  recvQ: number;
  sendQ: number;
  qlimit: number;
  listener: string;
  index: number;
}

export interface PcbPageWire {
  /** Cursor token for the next step (0 when done). */
  token: number;
  done: boolean;
  rows: PcbWire[];
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isPort = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 65535;
const isU32 = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;

/** The listener in a `listen` body, or why it is malformed. */
export function sockBodyListener(body: unknown): ListenerSpec | string {
  if (!isObj(body) || !isObj(body.listener)) return "body.listener missing";
  const l = body.listener;
  if (typeof l.id !== "string" || l.id.length === 0 || l.id.length > 64) return "listener.id";
  if (!isU32(l.laddr)) return "listener.laddr";
  if (!isPort(l.lport) || l.lport === 0) return "listener.lport";
  if (typeof l.reuseport !== "boolean") return "listener.reuseport";
  if (typeof l.backlog !== "number" || !Number.isInteger(l.backlog)) return "listener.backlog";
  if (typeof l.owner !== "string" || !/^[-_a-zA-Z0-9]{1,64}$/.test(l.owner)) return "listener.owner";
  if (l.index !== undefined && (typeof l.index !== "number" || !Number.isInteger(l.index) || l.index < 0 || l.index > 65535)) return "listener.index";
  for (const k of ["sndbuf", "rcvbuf"] as const) {
    if (l[k] !== undefined && (typeof l[k] !== "number" || !Number.isInteger(l[k]) || (l[k] as number) < 0)) return `listener.${k}`;
  }
  if (l.nodelay !== undefined && typeof l.nodelay !== "boolean") return "listener.nodelay";
  return l as unknown as ListenerSpec;
}

/** Owner names are subject tokens: `<c>.sock.<owner>`. */
export function isOwnerName(s: unknown): s is string {
  return typeof s === "string" && /^[-_a-zA-Z0-9]{1,64}$/.test(s);
}
