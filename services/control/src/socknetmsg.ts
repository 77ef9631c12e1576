/**
 * Socket netmsgs: the socket calls (types 0x20–0x3f of the netmsg codec, framed as control
 * netmsgs: `[type u8][request id u32 LE][UTF-8 JSON body]`) that travel on a CPU's port
 * `<c>.netisr.<cpu>`, and the socket events a CPU publishes on `<c>.sock.<owner>`.
 *
 * Control → every CPU: `listen` (install a listener reference), `closeListener` (close it
 * there under a policy), `listeners` (accept-queue depths), `list` (a step of the PCB listing
 * cursor). Programs → the CPU that owns a socket: `accept`, `send`, `shutdown`, `close`,
 * `setopt`, `connect`. CPU → program: `event`.
 *
 * The numbers live here (one registry) because both the control and the netisr use them.
 * Bodies are checked by the receiver (`sockBody*` below); a malformed one is refused with a
 * reason, never thrown.
 */

export const SockNetmsg = {
  listen: 0x20,
  closeListener: 0x21,
  accept: 0x22,
  send: 0x23,
  shutdown: 0x24,
  close: 0x25,
  setopt: 0x26,
  list: 0x27,
  listeners: 0x28,
  connect: 0x29,
  event: 0x2f,
  // 0x30–0x35: the netisr's live-rescale messages, declared with their binary codecs in
  // services/netisr/src/rescale_netmsg.ts; the port's registry is services/netisr/src/netmsg.ts.
} as const;
export type SockNetmsg = (typeof SockNetmsg)[keyof typeof SockNetmsg];

/** A listener as the control replicates it to every CPU. */
export interface ListenerWire {
  id: string;
  /** "a.b.c.d" ("0.0.0.0" = INADDR_ANY). */
  laddr: string;
  lport: number;
  reuseport: boolean;
  backlog: number;
  owner: string;
  /** SO_REUSEPORT slot (the same on every CPU), -1 without SO_REUSEPORT. */
  index: number;
  nodelay?: boolean;
  sndbuf?: number;
  rcvbuf?: number;
}

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
const isAddr = (v: unknown): v is string => typeof v === "string" && /^\d{1,3}(\.\d{1,3}){3}$/.test(v) && v.split(".").every((o) => Number(o) <= 255);

/** The listener in a `listen` body, or why it is malformed. */
export function sockBodyListener(body: unknown): ListenerWire | string {
  if (!isObj(body) || !isObj(body.listener)) return "body.listener missing";
  const l = body.listener;
  if (typeof l.id !== "string" || l.id.length === 0 || l.id.length > 64) return "listener.id";
  if (!isAddr(l.laddr)) return "listener.laddr";
  if (!isPort(l.lport) || l.lport === 0) return "listener.lport";
  if (typeof l.reuseport !== "boolean") return "listener.reuseport";
  if (typeof l.backlog !== "number" || !Number.isInteger(l.backlog)) return "listener.backlog";
  if (typeof l.owner !== "string" || !/^[-_a-zA-Z0-9]{1,64}$/.test(l.owner)) return "listener.owner";
  if (typeof l.index !== "number" || !Number.isInteger(l.index) || l.index < -1 || l.index > 65535) return "listener.index";
  for (const k of ["sndbuf", "rcvbuf"] as const) {
    if (l[k] !== undefined && (typeof l[k] !== "number" || !Number.isInteger(l[k]) || (l[k] as number) < 0)) return `listener.${k}`;
  }
  if (l.nodelay !== undefined && typeof l.nodelay !== "boolean") return "listener.nodelay";
  return l as unknown as ListenerWire;
}

/** Owner names are subject tokens: `<c>.sock.<owner>`. */
export function isOwnerName(s: unknown): s is string {
  return typeof s === "string" && /^[-_a-zA-Z0-9]{1,64}$/.test(s);
}
