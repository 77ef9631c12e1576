/** The sockets API's types (DragonFly's sys/sys/socket.h): options, errors, the listen backend, `SockRemote`. */
import type { SoEvent } from "./so.js";
import type { TcpHost } from "./tcp_host.js";
import type { ListenRequest } from "@dfly/wire";

export const SockOpt = {
  SO_REUSEPORT: "SO_REUSEPORT",
  SO_REUSEADDR: "SO_REUSEADDR",
  SO_SNDBUF: "SO_SNDBUF",
  SO_RCVBUF: "SO_RCVBUF",
  SO_KEEPALIVE: "SO_KEEPALIVE",
  TCP_NODELAY: "TCP_NODELAY",
  /** Synchronous send (wait for the owner CPU to take the data); default asynchronous. */
  SO_SYNCSEND: "SO_SYNCSEND",
} as const;
export type SockOpt = (typeof SockOpt)[keyof typeof SockOpt];

export type SockHandler = (fd: number, ev: SoEvent, err: string | null) => void;

/** Misuse of the API: bad descriptor, wrong socket kind or state (errno names). */
export class SockError extends Error {
  override readonly name = "SockError";
  constructor(
    readonly code: "EBADF" | "EINVAL" | "ENOTCONN" | "EISCONN" | "EOPNOTSUPP" | "EALREADY" | "EAGAIN",
    message: string,
    readonly fd?: number,
  ) {
    super(`${code}: ${message}`);
  }
}

export interface ListenReply {
  id: string;
  /** SO_REUSEPORT slot and group size after the join. */
  index: number;
  size: number;
}

export interface ListenCloseReply {
  /** Connections handed to the heir (over all CPUs). */
  migrated: number;
  /** Connections reset / dropped. */
  dropped: number;
  heir: string;
}

/** Registers and closes listeners for the whole host (every CPU). */
export interface ListenBackend {
  listen(req: ListenRequest): Promise<ListenReply>;
  close(id: string): Promise<ListenCloseReply>;
}

/** A host whose CPUs all run in this thread registers its listeners itself. */
export class HostListenBackend implements ListenBackend {
  constructor(readonly host: TcpHost) {}
  listen(req: ListenRequest): Promise<ListenReply> {
    const rec = this.host.listenInstall({ id: this.host.newListenerId(), ...req });
    const g = req.reuseport ? this.host.pcb.pcbinfo[0].localGroup(req.laddr, req.lport) : undefined;
    return Promise.resolve({ id: rec.id, index: Math.max(0, rec.index), size: g?.count ?? 1 });
  }
  close(id: string): Promise<ListenCloseReply> {
    const r = this.host.listenClose(id);
    return Promise.resolve({ migrated: r.moved + r.syncacheMoved, dropped: r.reset + r.syncacheDropped, heir: r.heir ?? "" });
  }
}

/** A connection accepted from another CPU's queue (what a remote accept returns). */
export interface RemoteConnInfo {
  cpu: number;
  id: number;
  laddr: number;
  lport: number;
  faddr: number;
  fport: number;
  /** Data that had already arrived, and whether the peer had already closed. */
  data?: Uint8Array;
  eof?: boolean;
  error?: string;
  /** The socket's send buffer size on its CPU: the program's send credit. */
  sndwin?: number;
}

export interface RemoteConnectRequest {
  owner: string;
  /** 0: the CPU's primary address. */
  laddr: number;
  faddr: number;
  fport: number;
  /** The candidate local port the calling CPU's search chose (the owner takes it if free there). */
  lport?: number;
  nodelay?: boolean;
  sndbuf?: number;
  rcvbuf?: number;
}

/** Socket calls on another CPU (over its message port); see so_port.ts. */
export interface SockRemote {
  accept(cpu: number, listener: string, owner: string, max: number): Promise<RemoteConnInfo[]>;
  /** Active open from CPU `cpu` (it migrates to the owner CPU when the port search must). */
  connect(cpu: number, req: RemoteConnectRequest): Promise<RemoteConnInfo>;
  /** Asynchronous send: returns at once. */
  send(cpu: number, id: number, data: Uint8Array): void;
  /** Synchronous send: resolves with the bytes the owner CPU took. */
  sendSync(cpu: number, id: number, data: Uint8Array): Promise<number>;
  shutdown(cpu: number, id: number): void;
  close(cpu: number, id: number, abort: boolean): void;
  setsockopt(cpu: number, id: number, opt: SockOpt, value: number | boolean): void;
  /** Socket `id` of CPU `cpu` moved away: the fence follows every call already sent there (rescale_chase.ts). */
  fence?(cpu: number, id: number): void;
}

export interface SocketsOptions {
  host: TcpHost;
  /** This program's CPU index (where connect() starts). */
  cpu: number;
  /** Event owner name (`<c>.sock.<owner>` for events from other CPUs). Unique per program. */
  owner: string;
  listen?: ListenBackend;
  remote?: SockRemote;
  /** Source address for a connect to `faddr` when the socket is not bound (default: error). */
  source?: (faddr: number) => number;
  /** Connections fetched per remote accept (default 32). */
  acceptBatch?: number;
}
