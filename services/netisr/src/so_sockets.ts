/**
 * The sockets API programs use (BSD names, file descriptors, kqueue-style readiness events):
 * socket, bind, listen, accept, connect, send, recv, shutdown, close, setsockopt.
 *
 * A `Sockets` belongs to one program running on one CPU of a host (its "home" CPU, where
 * connect() starts, as DragonFly's `inp_initport` puts a new socket on the current CPU):
 *
 *   - sockets on a CPU this thread runs are called directly (the program runs *in* the
 *     netisr thread, as a kernel-bypass program would; every call is the netisr's own work);
 *   - sockets on other CPUs are reached over those CPUs' message ports (`SockRemote`,
 *     so_port.ts): socket calls are netmsgs to `<c>.netisr.<cpu>`, events arrive on
 *     `<c>.sock.<owner>`.
 *
 * Sends are asynchronous (paper §2.4, DragonFly's `sosendtcp` → `so_pru_send_async`):
 * `send()` queues what fits in the send buffer and returns that count at once; a short
 * count is followed by a WRITABLE event. With `SockOpt.SO_SYNCSEND` set (the paper's
 * comparison) a remote send waits for the owner CPU to take the data (`sendSync`).
 *
 * Listeners go through a `ListenBackend`: the control's SocketService (every CPU gets a
 * reference, the listener joins its SO_REUSEPORT group on all of them) or, for a host that
 * runs all its CPUs in one thread, the host itself.
 *
 * Errors: bad descriptors and misuse throw `SockError` (with an errno-style `code`); the
 * core's `TcpConnectionError` / `TcpBrokenPipeError` / `TcpNotConnectedError` and the PCB
 * errors (`InpcbAddrInUseError`, `InpcbAddrNotAvailError`) pass through unchanged.
 */
import { INADDR_ANY, TcpConnectionError, TcpState, TF, type TcpConnOptions } from "@dfly/core";
import type { ListenRequest } from "@dfly/wire";
import { SoEvent, So, TcpHost, type ListenOwner, type ListenerRec, type SoOwner } from "./tcp_host.js";

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
}

export interface RemoteConnectRequest {
  owner: string;
  /** 0: the CPU's primary address. */
  laddr: number;
  faddr: number;
  fport: number;
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
  /**
   * Live rescale: socket `id` of CPU `cpu` moved away (a MOVED event named its new place);
   * the fence goes through the old CPU behind every call already sent there, and tells the
   * new CPU that the program's direct calls may run (rescale_chase.ts).
   */
  fence?(cpu: number, id: number): void;
}

/** A remote connection's state on the program side: data pushed by its CPU waits here for recv(). */
class RemoteConn {
  chunks: Uint8Array[] = [];
  bytes = 0;
  eof = false;
  error: string | null = null;
  closed = false;
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

const K_NEW = 0;
const K_LISTEN = 1;
const K_CONN = 2;
const K_CLOSED = 3;
/** A remote connect in flight (waiting for the CPU to name the socket). */
const K_CONN_PENDING = 4;

class FdRec {
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

/**
 * A connected descriptor: kept small (it is per connection, counted in the memory per
 * connection with the PCB, the TCB and the socket).
 */
class ConnRec {
  kind = K_CONN;
  /** SO_SYNCSEND was set (sends of a remote socket wait for the owner CPU). */
  sync = false;
  constructor(
    public handler: SockHandler | null,
    public so: So | null,
    public rconn: RemoteConn | null,
  ) {}
}

type Rec = FdRec | ConnRec;

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

export class Sockets implements SoOwner, ListenOwner {
  readonly host: TcpHost;
  readonly cpu: number;
  readonly owner: string;
  private readonly fds: (Rec | undefined)[] = [];
  private readonly free: number[] = [];
  private readonly byListener = new Map<string, number>();
  private readonly byRemote = new Map<string, number>();
  private readonly backend: ListenBackend | undefined;
  private readonly remote: SockRemote | undefined;
  private readonly source: ((faddr: number) => number) | undefined;
  private readonly acceptBatch: number;
  /** Remote events for connections not (yet) known here, e.g. racing their accept reply. */
  private readonly early = new Map<string, { ev: SoEvent; err: string | null; data?: Uint8Array }[]>();
  private closed = false;

  constructor(o: SocketsOptions) {
    this.host = o.host;
    this.cpu = o.cpu;
    this.owner = o.owner;
    this.backend = o.listen;
    this.remote = o.remote;
    this.source = o.source;
    this.acceptBatch = o.acceptBatch ?? 32;
    // A program without CPUs of its own (host.local empty) reaches everything over the ports.
    if (o.host.local.length > 0) o.host.cpu(o.cpu);
    else if (!o.remote) throw new SockError("EINVAL", "a program with no local CPU needs remote socket calls");
    o.host.owners.set(o.owner, this);
  }

  private rec(fd: number): Rec {
    const r = this.fds[fd];
    if (r === undefined || r.kind === K_CLOSED) throw new SockError("EBADF", `fd ${fd} is not an open socket`, fd);
    return r;
  }

  /** A descriptor that is not connected (new or listening). */
  /** A connected descriptor (ENOTCONN otherwise). */
  private conn(fd: number): ConnRec {
    const r = this.rec(fd);
    if (!(r instanceof ConnRec)) throw new SockError("ENOTCONN", "socket is not connected", fd);
    return r;
  }

  private unconnected(fd: number, what: string): FdRec {
    const r = this.rec(fd);
    if (r instanceof ConnRec) throw new SockError(what === "connect" ? "EISCONN" : "EINVAL", `${what} on a connected socket`, fd);
    return r;
  }

  private alloc(r: Rec): number {
    const fd = this.free.length ? this.free.pop()! : this.fds.length;
    this.fds[fd] = r;
    return fd;
  }

  private release(fd: number): void {
    const r = this.fds[fd];
    if (!r) return;
    r.kind = K_CLOSED;
    this.fds[fd] = undefined;
    this.free.push(fd);
  }

  /** Open descriptors (listeners and connections). */
  get open(): number {
    return this.fds.length - this.free.length;
  }

  // ---- socket(2), setsockopt(2), bind(2) ----

  socket(handler: SockHandler | null = null): number {
    if (this.closed) throw new SockError("EINVAL", "sockets closed");
    return this.alloc(new FdRec(handler));
  }

  /** Sets the event handler of `fd`. */
  onEvent(fd: number, handler: SockHandler | null): void {
    this.rec(fd).handler = handler;
  }

  setsockopt(fd: number, opt: SockOpt, value: number | boolean): void {
    const r = this.rec(fd);
    const on = value === true || (typeof value === "number" && value !== 0);
    if (opt === SockOpt.SO_SNDBUF || opt === SockOpt.SO_RCVBUF) {
      if (typeof value !== "number" || !Number.isInteger(value) || value < 512 || value > 16 * 1024 * 1024) {
        throw new SockError("EINVAL", `${opt} ${String(value)}: want an integer 512..16777216`, fd);
      }
    }
    if (r instanceof ConnRec) {
      const tp = r.so?.tp;
      switch (opt) {
        case SockOpt.SO_SYNCSEND:
          r.sync = on;
          return;
        case SockOpt.SO_SNDBUF:
          if (tp) tp.snd_hiwat = value as number;
          if (r.rconn) this.remote!.setsockopt(r.rconn.cpu, r.rconn.id, opt, value);
          return;
        case SockOpt.TCP_NODELAY:
          if (tp && tp.t_state !== TcpState.CLOSED) this.host.cpu(r.so!.cpu).engine.setNodelay(tp, on, this.host.now());
          if (r.rconn) this.remote!.setsockopt(r.rconn.cpu, r.rconn.id, opt, on);
          return;
        case SockOpt.SO_RCVBUF:
        case SockOpt.SO_KEEPALIVE:
        case SockOpt.SO_REUSEADDR:
          return; // takes effect for new connections only
        case SockOpt.SO_REUSEPORT:
          throw new SockError("EINVAL", "SO_REUSEPORT after bind/listen", fd);
        default:
          throw new SockError("EINVAL", `unknown option ${String(opt)}`, fd);
      }
    }
    switch (opt) {
      case SockOpt.SO_REUSEPORT:
        if (r.kind !== K_NEW) throw new SockError("EINVAL", "SO_REUSEPORT after bind/listen", fd);
        r.reuseport = on;
        return;
      case SockOpt.SO_REUSEADDR:
        return;
      case SockOpt.SO_SYNCSEND:
        r.syncSend = on;
        return;
      case SockOpt.SO_KEEPALIVE:
        r.keepalive = on;
        return;
      case SockOpt.SO_SNDBUF:
        r.sndbuf = value as number;
        return;
      case SockOpt.SO_RCVBUF:
        r.rcvbuf = value as number;
        return;
      case SockOpt.TCP_NODELAY:
        r.nodelay = on;
        return;
      default:
        throw new SockError("EINVAL", `unknown option ${String(opt)}`, fd);
    }
  }

  bind(fd: number, laddr: number, lport: number): void {
    const r = this.unconnected(fd, "bind");
    if (r.kind !== K_NEW) throw new SockError("EINVAL", "bind on a listening or connected socket", fd);
    if (!Number.isInteger(lport) || lport < 0 || lport > 65535) throw new SockError("EINVAL", `port ${lport} is not 0..65535`, fd);
    r.laddr = laddr >>> 0;
    r.lport = lport;
  }

  // ---- listen(2), accept(2) ----

  /**
   * Registers the listener on every CPU (through the backend) and resolves with its id and
   * SO_REUSEPORT slot. Connections then announce themselves with ACCEPT events.
   */
  async listen(fd: number, backlog = -1): Promise<ListenReply> {
    const r = this.unconnected(fd, "listen");
    if (r.kind !== K_NEW) throw new SockError("EINVAL", "listen on a connected or listening socket", fd);
    if (r.lport === 0) throw new SockError("EINVAL", "listen on an unbound socket (bind a port first)", fd);
    if (!this.backend) throw new SockError("EOPNOTSUPP", "no listen backend", fd);
    r.kind = K_LISTEN;
    let reply: ListenReply;
    try {
      reply = await this.backend.listen({
        laddr: r.laddr,
        lport: r.lport,
        reuseport: r.reuseport,
        backlog,
        owner: this.owner,
        ...(r.nodelay ? { nodelay: true } : {}),
        ...(r.sndbuf ? { sndbuf: r.sndbuf } : {}),
        ...(r.rcvbuf ? { rcvbuf: r.rcvbuf } : {}),
      });
    } catch (err) {
      r.kind = K_NEW;
      throw err;
    }
    r.listener = reply.id;
    r.pending = [];
    r.fetching = new Set();
    this.byListener.set(reply.id, fd);
    // Connections may have completed on this CPU before the reply came back.
    const rec = this.host.listener(reply.id);
    if (rec && rec.ls.qlen > 0) queueMicrotask(() => this.acceptable(rec, this.cpu));
    return reply;
  }

  /** The listener id of a listening fd. */
  listenerId(fd: number): string | null {
    const r = this.rec(fd);
    return r instanceof ConnRec ? null : r.listener;
  }

  /**
   * accept(2), non-blocking: a new fd for the oldest waiting connection (this thread's CPUs
   * first, then those already fetched from other CPUs), or -1 (EAGAIN). Data or a FIN that
   * arrived before the accept is announced by a READABLE/EOF event right after.
   */
  accept(fd: number, handler?: SockHandler | null): number {
    const r = this.rec(fd);
    if (r instanceof ConnRec || r.kind !== K_LISTEN || r.listener === null) throw new SockError("EINVAL", "accept on a socket that is not listening", fd);
    const h = handler === undefined ? r.handler : handler;
    if (!r.closing) {
      const rec = this.host.listener(r.listener);
      if (rec) {
        const so = this.host.accept(rec, this);
        if (so) {
          const nfd = this.alloc(new ConnRec(h, so, null));
          so.fd = nfd;
          const tp = so.tp!;
          if (tp.rcvCc > 0 || tp.t_flags & TF.CANTRCVMORE) queueMicrotask(() => this.kick(nfd, so));
          return nfd;
        }
      }
    }
    const p = r.pending;
    if (p && p.length > 0) {
      const c = p.shift()!;
      const nfd = this.alloc(new ConnRec(h, null, c));
      this.byRemote.set(`${c.cpu}/${c.id}`, nfd);
      if (c.bytes > 0 || c.eof || c.error) queueMicrotask(() => this.kickRemote(nfd, c));
      this.drainEarly(c);
      if (r.closing && p.length === 0 && r.fetching!.size === 0) this.finishListenerClose(fd);
      return nfd;
    }
    if (r.closing && (r.fetching?.size ?? 0) === 0) this.finishListenerClose(fd);
    return -1;
  }

  private kick(fd: number, so: So): void {
    const r = this.fds[fd];
    if (!(r instanceof ConnRec) || r.so !== so || !r.handler) return;
    const tp = so.tp!;
    if (tp.rcvCc > 0) r.handler(fd, SoEvent.READABLE, null);
    else if (tp.t_flags & TF.CANTRCVMORE) r.handler(fd, SoEvent.EOF, null);
  }

  private kickRemote(fd: number, c: RemoteConn): void {
    const r = this.fds[fd];
    if (!(r instanceof ConnRec) || r.rconn !== c || !r.handler) return;
    if (c.bytes > 0) r.handler(fd, SoEvent.READABLE, null);
    else if (c.error) r.handler(fd, SoEvent.ERROR, c.error);
    else if (c.eof) r.handler(fd, SoEvent.EOF, null);
  }

  /** ListenOwner: CPU `cpu` has connections for listener `rec`. */
  acceptable(rec: ListenerRec, cpu: number): void {
    const fd = this.byListener.get(rec.id);
    if (fd === undefined) return;
    const r = this.fds[fd];
    if (!r || r instanceof ConnRec || r.kind !== K_LISTEN) return;
    if (this.host.cpus[cpu]) {
      if (!r.closing) r.handler?.(fd, SoEvent.ACCEPT, null);
      return;
    }
    this.fetchRemote(fd, r, cpu);
  }

  /** A remote CPU announced connections for `listener` (event from its port). */
  remoteAcceptable(listener: string, cpu: number): void {
    const fd = this.byListener.get(listener);
    if (fd === undefined) return;
    const r = this.fds[fd];
    if (!r || r instanceof ConnRec || r.kind !== K_LISTEN) return;
    this.fetchRemote(fd, r, cpu);
  }

  private fetchRemote(fd: number, r: FdRec, cpu: number): void {
    if (!this.remote || r.closing || r.fetching!.has(cpu)) return;
    r.fetching!.add(cpu);
    const id = r.listener!;
    this.remote.accept(cpu, id, this.owner, this.acceptBatch).then(
      (conns) => {
        r.fetching!.delete(cpu);
        for (const c of conns) {
          const rc = new RemoteConn(c.cpu, c.id, c.laddr, c.lport, c.faddr, c.fport);
          if (c.data && c.data.length) {
            rc.chunks.push(c.data);
            rc.bytes = c.data.length;
          }
          rc.eof = c.eof === true;
          rc.error = c.error ?? null;
          r.pending!.push(rc);
        }
        if (this.fds[fd] !== r) return;
        if (conns.length > 0) r.handler?.(fd, SoEvent.ACCEPT, null);
        // A full batch: there may be more.
        if (conns.length >= this.acceptBatch && !r.closing) this.fetchRemote(fd, r, cpu);
        if (r.closing && r.pending!.length === 0 && r.fetching!.size === 0) this.finishListenerClose(fd);
      },
      () => {
        r.fetching!.delete(cpu);
        if (r.closing && r.pending!.length === 0 && r.fetching!.size === 0 && this.fds[fd] === r) this.finishListenerClose(fd);
      },
    );
  }

  // ---- connect(2) ----

  /**
   * Active open from this program's CPU (the port search prefers a port whose hash lands
   * here; otherwise the connection migrates to its owner CPU). Returns at once; CONNECTED or
   * ERROR follows. Throws InpcbAddrNotAvailError when no local port is free.
   */
  connect(fd: number, faddr: number, fport: number): void {
    const r = this.unconnected(fd, "connect");
    if (r.kind !== K_NEW) throw new SockError("EINVAL", "connect on a listening socket", fd);
    if (!this.host.cpus[this.cpu]) {
      this.connectRemote(fd, r, faddr >>> 0, fport);
      return;
    }
    let laddr = r.laddr;
    if (laddr === INADDR_ANY) {
      if (!this.source) throw new SockError("EINVAL", "unbound socket and no source address for this host", fd);
      laddr = this.source(faddr >>> 0) >>> 0;
    }
    const opts: TcpConnOptions = {};
    if (r.nodelay) opts.nodelay = true;
    if (r.keepalive) opts.keepalive = true;
    if (r.sndbuf) opts.sndbuf = r.sndbuf;
    if (r.rcvbuf) opts.rcvbuf = r.rcvbuf;
    const so = this.host.connect(this.cpu, null, laddr, faddr >>> 0, fport, this, opts, r.lport);
    const c = new ConnRec(r.handler, so, null);
    c.sync = r.syncSend;
    this.fds[fd] = c;
    so.fd = fd;
  }

  /**
   * connect() of a program with no CPU of its own: a netmsg to its home CPU's port, which
   * places the connection (forwarding it to the owner CPU when needed). The descriptor
   * becomes connected when the reply names the socket; CONNECTED or ERROR follows.
   */
  private connectRemote(fd: number, r: FdRec, faddr: number, fport: number): void {
    if (!this.remote) throw new SockError("EOPNOTSUPP", "no remote socket calls", fd);
    r.kind = K_CONN_PENDING;
    this.remote
      .connect(this.cpu, {
        owner: this.owner,
        laddr: r.laddr,
        faddr,
        fport,
        ...(r.nodelay ? { nodelay: true } : {}),
        ...(r.sndbuf ? { sndbuf: r.sndbuf } : {}),
        ...(r.rcvbuf ? { rcvbuf: r.rcvbuf } : {}),
      })
      .then(
        (c) => {
          if (this.fds[fd] !== r) {
            this.remote!.close(c.cpu, c.id, true); // closed while connecting
            return;
          }
          const rc = new RemoteConn(c.cpu, c.id, c.laddr, c.lport, c.faddr, c.fport);
          const cr = new ConnRec(r.handler, null, rc);
          cr.sync = r.syncSend;
          this.fds[fd] = cr;
          this.byRemote.set(`${c.cpu}/${c.id}`, fd);
          this.drainEarly(rc);
        },
        (err: Error) => {
          if (this.fds[fd] !== r) return;
          r.kind = K_NEW;
          const h = r.handler;
          h?.(fd, SoEvent.ERROR, err.message);
        },
      );
  }

  // ---- send(2), recv(2) ----

  /**
   * Queues `data` and returns how many bytes were taken (asynchronous: at once). Less than
   * `data.length` means the send buffer is full; WRITABLE follows when there is room.
   */
  send(fd: number, data: Uint8Array): number {
    const r = this.conn(fd);
    if (r.so) {
      const tp = r.so.tp;
      if (!tp) throw new SockError("ENOTCONN", "socket is not connected", fd);
      return this.host.cpu(r.so.cpu).engine.send(tp, data, this.host.now());
    }
    const c = r.rconn;
    if (!c) throw new SockError("ENOTCONN", "socket is not connected", fd);
    if (c.error) throw new TcpConnectionError(c.error as never);
    if (c.closed) throw new SockError("ENOTCONN", "socket is closed", fd);
    this.remote!.send(c.cpu, c.id, data);
    return data.length;
  }

  /** Synchronous send: resolves once the owner CPU took the data (the count it took). */
  async sendSync(fd: number, data: Uint8Array): Promise<number> {
    const r = this.conn(fd);
    if (r.so) return this.send(fd, data);
    const c = r.rconn;
    if (!c) throw new SockError("ENOTCONN", "socket is not connected", fd);
    return this.remote!.sendSync(c.cpu, c.id, data);
  }

  /** Up to `max` bytes; an empty array when nothing is there yet (EAGAIN); null at end of stream. */
  recv(fd: number, max = 65536): Uint8Array | null {
    const r = this.conn(fd);
    if (r.so) {
      const tp = r.so.tp;
      if (!tp) throw new SockError("ENOTCONN", "socket is not connected", fd);
      return this.host.cpu(r.so.cpu).engine.recv(tp, this.host.now(), max);
    }
    const c = r.rconn;
    if (!c) throw new SockError("ENOTCONN", "socket is not connected", fd);
    if (c.bytes === 0) {
      if (c.error) throw new TcpConnectionError(c.error as never);
      return c.eof ? null : new Uint8Array(0);
    }
    const first = c.chunks[0];
    if (first.length <= max) {
      c.chunks.shift();
      c.bytes -= first.length;
      return first;
    }
    c.chunks[0] = first.subarray(max);
    c.bytes -= max;
    return first.subarray(0, max);
  }

  // ---- shutdown(2), close(2) ----

  shutdown(fd: number): void {
    const r = this.conn(fd);
    if (r.so) {
      const tp = r.so.tp;
      if (!tp) throw new SockError("ENOTCONN", "socket is not connected", fd);
      this.host.cpu(r.so.cpu).engine.shutdown(tp, this.host.now());
      return;
    }
    if (r.rconn) {
      this.remote!.shutdown(r.rconn.cpu, r.rconn.id);
      return;
    }
    throw new SockError("ENOTCONN", "socket is not connected", fd);
  }

  /**
   * close(2). A connection: queued data still goes out, then FIN (`abort`: RST at once). A
   * listener: the control closes it on every CPU (its queues go to the heir per policy);
   * connections already fetched here are still handed out by accept() until none is left.
   */
  close(fd: number, abort = false): Promise<ListenCloseReply> | undefined {
    const r = this.rec(fd);
    if (!(r instanceof ConnRec)) {
      if (r.kind === K_LISTEN) return this.closeListener(fd, r);
      this.release(fd);
      return undefined;
    }
    if (r.so) {
      const so = r.so;
      so.owner = null;
      so.fd = -1;
      const tp = so.tp;
      if (tp && tp.t_state !== TcpState.CLOSED) {
        const eng = this.host.cpu(so.cpu).engine;
        if (abort) eng.abort(tp, this.host.now());
        else eng.close(tp, this.host.now());
      }
    } else if (r.rconn) {
      const c = r.rconn;
      if (!c.closed) this.remote!.close(c.cpu, c.id, abort);
      c.closed = true;
      this.byRemote.delete(`${c.cpu}/${c.id}`);
    }
    this.release(fd);
    return undefined;
  }

  private closeListener(fd: number, r: FdRec): Promise<ListenCloseReply> {
    if (r.closing) return Promise.reject(new SockError("EALREADY", "listener is already closing", fd));
    r.closing = true;
    const id = r.listener!;
    if (!this.backend) return Promise.reject(new SockError("EOPNOTSUPP", "no listen backend", fd));
    return this.backend.close(id).then(
      (rep) => {
        if (this.fds[fd] === r && r.pending!.length === 0 && r.fetching!.size === 0) this.finishListenerClose(fd);
        return rep;
      },
      (err) => {
        r.closing = false;
        throw err;
      },
    );
  }

  private finishListenerClose(fd: number): void {
    const r = this.fds[fd];
    if (!r || r instanceof ConnRec || r.kind !== K_LISTEN) return;
    if (r.listener) this.byListener.delete(r.listener);
    const h = r.handler;
    this.release(fd);
    h?.(fd, SoEvent.CLOSED, null);
  }

  // ---- introspection ----

  /** The addresses and state of a connected fd. */
  info(fd: number): { cpu: number; laddr: number; lport: number; faddr: number; fport: number; state: string; remote: boolean } {
    const r = this.rec(fd);
    if (!(r instanceof ConnRec)) return { cpu: this.cpu, laddr: r.laddr, lport: r.lport, faddr: 0, fport: 0, state: r.kind === K_LISTEN ? "LISTEN" : "CLOSED", remote: false };
    if (r.so) {
      const i = r.so.inp;
      return { cpu: r.so.cpu, laddr: i.laddr, lport: i.lport, faddr: i.faddr, fport: i.fport, state: r.so.state, remote: false };
    }
    const c = r.rconn!;
    return { cpu: c.cpu, laddr: c.laddr, lport: c.lport, faddr: c.faddr, fport: c.fport, state: c.error ? "CLOSED" : c.eof ? "CLOSE_WAIT" : "ESTABLISHED", remote: true };
  }

  // ---- events ----

  /** SoOwner: an event of a local socket this program holds. */
  soEvent(so: So, ev: SoEvent, err: string | null): void {
    const fd = so.fd;
    if (fd < 0) return;
    const r = this.fds[fd];
    if (!(r instanceof ConnRec) || r.so !== so) return;
    r.handler?.(fd, ev, err);
  }

  /** An event of a remote connection, from its CPU's port (so_port.ts delivers these). */
  remoteEvent(cpu: number, id: number, ev: SoEvent, err: string | null, data?: Uint8Array): void {
    const key = `${cpu}/${id}`;
    const fd = this.byRemote.get(key);
    const l = this.early.get(key);
    if (fd !== undefined && l !== undefined) {
      // Known now, but the events that came first are still to be applied (drainEarly's
      // microtask): this one goes behind them. A transport hands over several messages in one
      // go (a NATS read), so an event of the new place can come before that microtask runs.
      l.push({ ev, err, ...(data ? { data } : {}) });
      return;
    }
    if (fd === undefined) {
      // Not accepted yet (the accept reply and this event crossed), or a MOVED that names
      // this place not here yet: keep it for a moment.
      let e = l;
      if (!e) this.early.set(key, (e = []));
      if (e.length < 1024) e.push({ ev, err, ...(data ? { data } : {}) });
      if (this.early.size > 4096) this.early.delete(this.early.keys().next().value!);
      return;
    }
    const r = this.fds[fd];
    if (!(r instanceof ConnRec) || !r.rconn) return;
    this.applyRemote(fd, r, r.rconn, ev, err, data);
  }

  private drainEarly(c: RemoteConn): void {
    const key = `${c.cpu}/${c.id}`;
    const l = this.early.get(key);
    if (!l) return;
    // The list stays in `early` until applied, so that later events queue behind it (remoteEvent).
    queueMicrotask(() => {
      if (this.early.get(key) === l) this.early.delete(key);
      const fd = this.byRemote.get(key);
      if (fd === undefined) return;
      const r = this.fds[fd];
      if (!(r instanceof ConnRec) || r.rconn !== c) return;
      for (const e of l) this.applyRemote(fd, r, c, e.ev, e.err, e.data);
    });
  }

  private applyRemote(fd: number, r: ConnRec, c: RemoteConn, ev: SoEvent, err: string | null, data?: Uint8Array): void {
    if (ev === SoEvent.MOVED) {
      this.moveRemote(fd, c, err);
      return;
    }
    if (ev === SoEvent.READABLE && data && data.length) {
      c.chunks.push(data);
      c.bytes += data.length;
    } else if (ev === SoEvent.EOF) c.eof = true;
    else if (ev === SoEvent.ERROR) c.error = err ?? "ECONNRESET";
    else if (ev === SoEvent.CLOSED) {
      c.closed = true;
      this.byRemote.delete(`${c.cpu}/${c.id}`);
    }
    r.handler?.(fd, ev, err);
  }

  /**
   * Live rescale: the connection's CPU handed it to another (`to` = "<cpu>/<id>"). Every event
   * of the old place came before this one; events of the new place that arrived first wait in
   * `early` and are applied now. Calls go to the new place from here on; the fence through the
   * old one keeps them behind those already sent there.
   */
  private moveRemote(fd: number, c: RemoteConn, to: string | null): void {
    const m = /^(\d+)\/(\d+)$/.exec(to ?? "");
    if (!m) return;
    const oldCpu = c.cpu;
    const oldId = c.id;
    if (this.byRemote.get(`${oldCpu}/${oldId}`) === fd) this.byRemote.delete(`${oldCpu}/${oldId}`);
    c.cpu = Number(m[1]);
    c.id = Number(m[2]);
    this.byRemote.set(`${c.cpu}/${c.id}`, fd);
    this.remote?.fence?.(oldCpu, oldId);
    this.drainEarly(c);
  }

  /** Stops: every open socket is aborted (connections) or left as is (listeners stay registered). */
  shutdownAll(): void {
    this.closed = true;
    for (let fd = 0; fd < this.fds.length; fd++) {
      const r = this.fds[fd];
      if (r && r.kind === K_CONN) this.close(fd, true);
    }
    this.host.owners.delete(this.owner);
  }
}
