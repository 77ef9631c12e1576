/** A program's descriptor table (DragonFly's kern_descrip.c): `FdRec` (unconnected, listening) and `ConnRec` (connected). */
import { INADDR_ANY } from "@dfly/core";
import type { So, SoOwner } from "./so.js";
import { SockError, type SockHandler, type SockRemote } from "./so_api.js";
import type { RemoteEvents } from "./so_remote.js";
import type { TcpHost } from "./tcp_host.js";

/** A remote connection's state on the program side: data pushed by its CPU waits here for recv(). */
/** Send credit of a remote connection when the owner did not name its send buffer's size (tcp_sendspace). */
export const SO_REMOTE_SEND_WINDOW = 57344;

export class RemoteConn {
  chunks: Uint8Array[] = [];
  bytes = 0;
  eof = false;
  error: string | null = null;
  closed = false;
  /** Bytes an asynchronous send may still hand the owner CPU (its send buffer's size, less what it has not yet taken in). */
  credit = SO_REMOTE_SEND_WINDOW;
  /** A send was short: WRITABLE follows when credit comes back. */
  wantWrite = false;
  constructor(
    /** Where the socket lives (changes when its CPU leaves and hands it over: MOVED). */
    public cpu: number,
    public id: number,
    readonly laddr: number,
    readonly lport: number,
    readonly faddr: number,
    readonly fport: number,
  ) {}
}

export const K_NEW = 0;
export const K_LISTEN = 1;
export const K_CONN = 2;
export const K_CLOSED = 3;
/** A remote connect in flight (waiting for the CPU to name the socket). */
export const K_CONN_PENDING = 4;

export class FdRec {
  kind = K_NEW;
  laddr = INADDR_ANY;
  lport = 0;
  reuseport = false;
  nodelay = false;
  keepalive = false;
  syncSend = false;
  sndbuf = 0;
  rcvbuf = 0;
  listener: string | null = null;
  /** Listener: connections taken from other CPUs' queues, waiting for accept(). */
  pending: RemoteConn[] | null = null;
  /** Listener: close() was called; the fd lives until `pending` is drained. */
  closing = false;
  /** Listener: remote accepts in flight, by CPU. */
  fetching: Set<number> | null = null;
  constructor(public handler: SockHandler | null) {}
}

/** A connected descriptor; small on purpose (memory per connection). */
export class ConnRec {
  kind = K_CONN;
  /** SO_SYNCSEND was set (sends of a remote socket wait for the owner CPU). */
  sync = false;
  constructor(
    public handler: SockHandler | null,
    public so: So | null,
    public rconn: RemoteConn | null,
  ) {}
}

export type Rec = FdRec | ConnRec;

export class FdTable {
  private readonly fds: (Rec | undefined)[] = [];
  private readonly free: number[] = [];

  get(fd: number): Rec | undefined {
    return this.fds[fd];
  }

  /** Replaces the record of an open `fd` (a descriptor that becomes connected). */
  set(fd: number, r: Rec): void {
    this.fds[fd] = r;
  }

  /** The record of an open `fd` (EBADF otherwise). */
  rec(fd: number): Rec {
    const r = this.fds[fd];
    if (r === undefined || r.kind === K_CLOSED) throw new SockError("EBADF", `fd ${fd} is not an open socket`, fd);
    return r;
  }

  /** A connected descriptor (ENOTCONN otherwise). */
  conn(fd: number): ConnRec {
    const r = this.rec(fd);
    if (!(r instanceof ConnRec)) throw new SockError("ENOTCONN", "socket is not connected", fd);
    return r;
  }

  /** A descriptor that is not connected (new or listening). */
  unconnected(fd: number, what: string): FdRec {
    const r = this.rec(fd);
    if (r instanceof ConnRec) throw new SockError(what === "connect" ? "EISCONN" : "EINVAL", `${what} on a connected socket`, fd);
    return r;
  }

  alloc(r: Rec): number {
    const fd = this.free.length ? this.free.pop()! : this.fds.length;
    this.fds[fd] = r;
    return fd;
  }

  release(fd: number): void {
    const r = this.fds[fd];
    if (!r) return;
    r.kind = K_CLOSED;
    this.fds[fd] = undefined;
    this.free.push(fd);
  }

  get open(): number {
    return this.fds.length - this.free.length;
  }

  /** The highest descriptor number ever used, plus one. */
  get size(): number {
    return this.fds.length;
  }
}

/** What the parts of one program's `Sockets` share. */
export interface SoCtx {
  readonly host: TcpHost;
  readonly cpu: number;
  readonly owner: string;
  /** The `Sockets` (owner of its local sockets). */
  readonly so: SoOwner;
  readonly fds: FdTable;
  readonly rev: RemoteEvents;
  readonly remote: SockRemote | undefined;
}
