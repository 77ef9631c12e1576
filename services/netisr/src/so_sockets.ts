/** The sockets API a program uses (BSD names, descriptors, readiness events); remote sockets go over their ports. Misuse throws `SockError`. */
import { TcpConnectionError, TcpState } from "@dfly/core";
import type { SoEvent, So, ListenOwner, SoOwner } from "./so.js";
import { SoAccept } from "./so_accept.js";
import { SockError, SockOpt, type ListenCloseReply, type ListenReply, type SockHandler, type SocketsOptions } from "./so_api.js";
import { SoConnect } from "./so_connect.js";
import { ConnRec, FdRec, FdTable, K_CONN, K_LISTEN, K_NEW } from "./so_fd.js";
import { RemoteEvents } from "./so_remote.js";
import type { TcpHost } from "./tcp_host.js";
import type { ListenerRec } from "./tcp_listen.js";

export class Sockets implements SoOwner, ListenOwner {
  readonly host: TcpHost;
  readonly cpu: number;
  readonly owner: string;
  private readonly fds = new FdTable();
  private readonly rev: RemoteEvents;
  private readonly acc: SoAccept;
  private readonly con: SoConnect;
  private readonly remote: SocketsOptions["remote"];
  private closed = false;

  constructor(o: SocketsOptions) {
    this.host = o.host;
    this.cpu = o.cpu;
    this.owner = o.owner;
    this.remote = o.remote;
    this.rev = new RemoteEvents(this.fds, o.remote);
    const x = { host: o.host, cpu: o.cpu, owner: o.owner, so: this, fds: this.fds, rev: this.rev, remote: o.remote };
    this.acc = new SoAccept(x, o.listen, o.acceptBatch ?? 32);
    this.con = new SoConnect(x, o.source);
    // A program without CPUs of its own (host.local empty) reaches everything over the ports.
    if (o.host.local.length > 0) o.host.cpu(o.cpu);
    else if (!o.remote) throw new SockError("EINVAL", "a program with no local CPU needs remote socket calls");
    o.host.owners.set(o.owner, this);
  }

  get open(): number {
    return this.fds.open;
  }

  socket(handler: SockHandler | null = null): number {
    if (this.closed) throw new SockError("EINVAL", "sockets closed");
    return this.fds.alloc(new FdRec(handler));
  }

  onEvent(fd: number, handler: SockHandler | null): void {
    this.fds.rec(fd).handler = handler;
  }

  setsockopt(fd: number, opt: SockOpt, value: number | boolean): void {
    const r = this.fds.rec(fd);
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
    const r = this.fds.unconnected(fd, "bind");
    if (r.kind !== K_NEW) throw new SockError("EINVAL", "bind on a listening or connected socket", fd);
    if (!Number.isInteger(lport) || lport < 0 || lport > 65535) throw new SockError("EINVAL", `port ${lport} is not 0..65535`, fd);
    r.laddr = laddr >>> 0;
    r.lport = lport;
  }

  /** Registers the listener on every CPU; connections then announce themselves with ACCEPT events. */
  listen(fd: number, backlog = -1): Promise<ListenReply> {
    return this.acc.listen(fd, backlog);
  }

  /** The listener id of a listening fd. */
  listenerId(fd: number): string | null {
    const r = this.fds.rec(fd);
    return r instanceof ConnRec ? null : r.listener;
  }

  /** accept(2), non-blocking: a new fd or -1 (EAGAIN); data or a FIN already there is announced right after. */
  accept(fd: number, handler?: SockHandler | null): number {
    return this.acc.accept(fd, handler);
  }

  /** ListenOwner: CPU `cpu` has connections for listener `rec`. */
  acceptable(rec: ListenerRec, cpu: number): void {
    this.acc.acceptable(rec, cpu);
  }

  /** A remote CPU announced connections for `listener` (event from its port). */
  remoteAcceptable(listener: string, cpu: number): void {
    this.acc.remoteAcceptable(listener, cpu);
  }

  /** Active open from this program's CPU (so_connect.ts); CONNECTED or ERROR follows. */
  connect(fd: number, faddr: number, fport: number): void {
    this.con.connect(fd, faddr, fport);
  }

  /** Queues `data`; returns the bytes taken (fewer: send buffer full, WRITABLE follows). */
  send(fd: number, data: Uint8Array): number {
    const r = this.fds.conn(fd);
    if (r.so) {
      const tp = r.so.tp;
      if (!tp) throw new SockError("ENOTCONN", "socket is not connected", fd);
      return this.host.cpu(r.so.cpu).engine.send(tp, data, this.host.now());
    }
    const c = r.rconn;
    if (!c) throw new SockError("ENOTCONN", "socket is not connected", fd);
    if (c.error) throw new TcpConnectionError(c.error as never);
    if (c.closed) throw new SockError("ENOTCONN", "socket is closed", fd);
    // What fits the owner's send buffer goes at once; 0 is EWOULDBLOCK, and WRITABLE follows when the owner takes bytes in.
    const n = Math.min(data.length, c.credit);
    if (n < data.length) c.wantWrite = true;
    if (n === 0) return 0;
    c.credit -= n;
    this.remote!.send(c.cpu, c.id, n === data.length ? data : data.subarray(0, n));
    return n;
  }

  /** Synchronous send: resolves once the owner CPU took the data (the count it took: the rest is not queued; WRITABLE follows a short count). */
  async sendSync(fd: number, data: Uint8Array): Promise<number> {
    const r = this.fds.conn(fd);
    if (r.so) return this.send(fd, data);
    const c = r.rconn;
    if (!c) throw new SockError("ENOTCONN", "socket is not connected", fd);
    return this.remote!.sendSync(c.cpu, c.id, data);
  }

  /** Up to `max` bytes; an empty array when nothing is there yet (EAGAIN); null at end of stream. */
  recv(fd: number, max = 65536): Uint8Array | null {
    const r = this.fds.conn(fd);
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

  /** `recv` into `dst[at, at+max)`: bytes copied (0 when nothing is there yet), -1 at end of stream. */
  recvInto(fd: number, dst: Uint8Array, at = 0, max = dst.length - at): number {
    const r = this.fds.conn(fd);
    if (r.so) {
      const tp = r.so.tp;
      if (!tp) throw new SockError("ENOTCONN", "socket is not connected", fd);
      return this.host.cpu(r.so.cpu).engine.recvInto(tp, dst, at, max, this.host.now());
    }
    const d = this.recv(fd, max);
    if (d === null) return -1;
    dst.set(d, at);
    return d.length;
  }

  shutdown(fd: number): void {
    const r = this.fds.conn(fd);
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

  /** close(2): a connection sends queued data then FIN (`abort`: RST); a listener is closed by the control on every CPU. */
  close(fd: number, abort = false): Promise<ListenCloseReply> | undefined {
    const r = this.fds.rec(fd);
    if (!(r instanceof ConnRec)) {
      if (r.kind === K_LISTEN) return this.acc.close(fd, r);
      this.fds.release(fd);
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
      this.rev.remove(c);
    }
    this.fds.release(fd);
    return undefined;
  }

  /** The addresses and state of a connected fd. */
  info(fd: number): { cpu: number; laddr: number; lport: number; faddr: number; fport: number; state: string; remote: boolean } {
    const r = this.fds.rec(fd);
    if (!(r instanceof ConnRec)) return { cpu: this.cpu, laddr: r.laddr, lport: r.lport, faddr: 0, fport: 0, state: r.kind === K_LISTEN ? "LISTEN" : "CLOSED", remote: false };
    if (r.so) {
      const i = r.so.inp;
      return { cpu: r.so.cpu, laddr: i.laddr, lport: i.lport, faddr: i.faddr, fport: i.fport, state: r.so.state, remote: false };
    }
    const c = r.rconn!;
    return { cpu: c.cpu, laddr: c.laddr, lport: c.lport, faddr: c.faddr, fport: c.fport, state: c.error ? "CLOSED" : c.eof ? "CLOSE_WAIT" : "ESTABLISHED", remote: true };
  }

  /** SoOwner: an event of a local socket this program holds. */
  soEvent(so: So, ev: SoEvent, err: string | null): void {
    const fd = so.fd;
    if (fd < 0) return;
    const r = this.fds.get(fd);
    if (!(r instanceof ConnRec) || r.so !== so) return;
    r.handler?.(fd, ev, err);
  }

  /** An event of a remote connection, from its CPU's port (so_remote.ts). */
  remoteEvent(cpu: number, id: number, ev: SoEvent, err: string | null, data?: Uint8Array): void {
    this.rev.event(cpu, id, ev, err, data);
  }

  /** Stops: every open socket is aborted (connections) or left as is (listeners stay registered). */
  shutdownAll(): void {
    this.closed = true;
    for (let fd = 0; fd < this.fds.size; fd++) {
      const r = this.fds.get(fd);
      if (r && r.kind === K_CONN) this.close(fd, true);
    }
    this.host.owners.delete(this.owner);
  }
}
