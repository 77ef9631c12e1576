/** The listening side of a program's sockets (DragonFly's solisten/soaccept): listen, accept (local and other CPUs'), close. */
import { TF } from "@dfly/core";
import { SoEvent, type So } from "./so.js";
import { SockError, type ListenBackend, type ListenCloseReply, type ListenReply, type SockHandler } from "./so_api.js";
import { ConnRec, FdRec, K_LISTEN, K_NEW, RemoteConn, type SoCtx } from "./so_fd.js";
import type { ListenerRec } from "./tcp_listen.js";

export class SoAccept {
  /** Listening descriptors by listener id. */
  private readonly byListener = new Map<string, number>();

  constructor(
    private readonly x: SoCtx,
    private readonly backend: ListenBackend | undefined,
    private readonly acceptBatch: number,
  ) {}

  /** Registers the listener on every CPU (through the backend); resolves with its id and SO_REUSEPORT slot. */
  async listen(fd: number, backlog: number): Promise<ListenReply> {
    const r = this.x.fds.unconnected(fd, "listen");
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
        owner: this.x.owner,
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
    const rec = this.x.host.listener(reply.id);
    if (rec && rec.ls.qlen > 0) queueMicrotask(() => this.acceptable(rec, this.x.cpu));
    return reply;
  }

  /** accept(2), non-blocking: this thread's CPUs first, then connections fetched from others; -1 is EAGAIN. */
  accept(fd: number, handler: SockHandler | null | undefined): number {
    const r = this.x.fds.rec(fd);
    if (r instanceof ConnRec || r.kind !== K_LISTEN || r.listener === null) throw new SockError("EINVAL", "accept on a socket that is not listening", fd);
    const h = handler === undefined ? r.handler : handler;
    if (!r.closing) {
      const rec = this.x.host.listener(r.listener);
      if (rec) {
        const so = this.x.host.accept(rec, this.x.so);
        if (so) {
          const nfd = this.x.fds.alloc(new ConnRec(h, so, null));
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
      const nfd = this.x.fds.alloc(new ConnRec(h, null, c));
      this.x.rev.add(c, nfd);
      if (c.bytes > 0 || c.eof || c.error) queueMicrotask(() => this.kickRemote(nfd, c));
      this.x.rev.drainEarly(c);
      if (r.closing && p.length === 0 && r.fetching!.size === 0) this.finishClose(fd);
      return nfd;
    }
    if (r.closing && (r.fetching?.size ?? 0) === 0) this.finishClose(fd);
    return -1;
  }

  private kick(fd: number, so: So): void {
    const r = this.x.fds.get(fd);
    if (!(r instanceof ConnRec) || r.so !== so || !r.handler) return;
    const tp = so.tp!;
    if (tp.rcvCc > 0) r.handler(fd, SoEvent.READABLE, null);
    else if (tp.t_flags & TF.CANTRCVMORE) r.handler(fd, SoEvent.EOF, null);
  }

  private kickRemote(fd: number, c: RemoteConn): void {
    const r = this.x.fds.get(fd);
    if (!(r instanceof ConnRec) || r.rconn !== c || !r.handler) return;
    if (c.bytes > 0) r.handler(fd, SoEvent.READABLE, null);
    else if (c.error) r.handler(fd, SoEvent.ERROR, c.error);
    else if (c.eof) r.handler(fd, SoEvent.EOF, null);
  }

  /** CPU `cpu` has connections for listener `rec`. */
  acceptable(rec: ListenerRec, cpu: number): void {
    const fd = this.byListener.get(rec.id);
    if (fd === undefined) return;
    const r = this.x.fds.get(fd);
    if (!r || r instanceof ConnRec || r.kind !== K_LISTEN) return;
    if (this.x.host.cpus[cpu]) {
      if (!r.closing) r.handler?.(fd, SoEvent.ACCEPT, null);
      return;
    }
    this.fetchRemote(fd, r, cpu);
  }

  /** A remote CPU announced connections for `listener` (event from its port). */
  remoteAcceptable(listener: string, cpu: number): void {
    const fd = this.byListener.get(listener);
    if (fd === undefined) return;
    const r = this.x.fds.get(fd);
    if (!r || r instanceof ConnRec || r.kind !== K_LISTEN) return;
    this.fetchRemote(fd, r, cpu);
  }

  private fetchRemote(fd: number, r: FdRec, cpu: number): void {
    if (!this.x.remote || r.closing || r.fetching!.has(cpu)) return;
    r.fetching!.add(cpu);
    const id = r.listener!;
    this.x.remote.accept(cpu, id, this.x.owner, this.acceptBatch).then(
      (conns) => {
        r.fetching!.delete(cpu);
        for (const c of conns) {
          const rc = new RemoteConn(c.cpu, c.id, c.laddr, c.lport, c.faddr, c.fport);
          if (Number.isSafeInteger(c.sndwin) && c.sndwin! > 0) rc.credit = c.sndwin!;
          if (c.data && c.data.length) {
            rc.chunks.push(c.data);
            rc.bytes = c.data.length;
          }
          rc.eof = c.eof === true;
          rc.error = c.error ?? null;
          r.pending!.push(rc);
        }
        if (this.x.fds.get(fd) !== r) return;
        if (conns.length > 0) r.handler?.(fd, SoEvent.ACCEPT, null);
        // A full batch: there may be more.
        if (conns.length >= this.acceptBatch && !r.closing) this.fetchRemote(fd, r, cpu);
        if (r.closing && r.pending!.length === 0 && r.fetching!.size === 0) this.finishClose(fd);
      },
      () => {
        r.fetching!.delete(cpu);
        if (r.closing && r.pending!.length === 0 && r.fetching!.size === 0 && this.x.fds.get(fd) === r) this.finishClose(fd);
      },
    );
  }

  /** close(2) of a listener: the backend closes it on every CPU; fetched connections are still handed out. */
  close(fd: number, r: FdRec): Promise<ListenCloseReply> {
    if (r.closing) return Promise.reject(new SockError("EALREADY", "listener is already closing", fd));
    r.closing = true;
    const id = r.listener!;
    if (!this.backend) return Promise.reject(new SockError("EOPNOTSUPP", "no listen backend", fd));
    return this.backend.close(id).then(
      (rep) => {
        if (this.x.fds.get(fd) === r && r.pending!.length === 0 && r.fetching!.size === 0) this.finishClose(fd);
        return rep;
      },
      (err) => {
        r.closing = false;
        throw err;
      },
    );
  }

  private finishClose(fd: number): void {
    const r = this.x.fds.get(fd);
    if (!r || r instanceof ConnRec || r.kind !== K_LISTEN) return;
    if (r.listener) this.byListener.delete(r.listener);
    const h = r.handler;
    this.x.fds.release(fd);
    h?.(fd, SoEvent.CLOSED, null);
  }
}
