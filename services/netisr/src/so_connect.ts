/** connect(2) of a program's socket (DragonFly's soconnect): placed locally, or by a netmsg to the home CPU's port. */
import { INADDR_ANY, type TcpConnOptions } from "@dfly/core";
import { SoEvent } from "./so.js";
import { SockError } from "./so_api.js";
import { ConnRec, K_CONN_PENDING, K_NEW, RemoteConn, type FdRec, type SoCtx } from "./so_fd.js";

export class SoConnect {
  constructor(
    private readonly x: SoCtx,
    /** Source address for a connect when the socket is not bound. */
    private readonly source: ((faddr: number) => number) | undefined,
  ) {}

  /** Active open; returns at once, CONNECTED or ERROR follows. Throws InpcbAddrNotAvailError when no local port is free. */
  connect(fd: number, faddr: number, fport: number): void {
    const r = this.x.fds.unconnected(fd, "connect");
    if (r.kind !== K_NEW) throw new SockError("EINVAL", "connect on a listening socket", fd);
    if (!this.x.host.cpus[this.x.cpu]) {
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
    const so = this.x.host.connect(this.x.cpu, null, laddr, faddr >>> 0, fport, this.x.so, opts, r.lport);
    const c = new ConnRec(r.handler, so, null);
    c.sync = r.syncSend;
    this.x.fds.set(fd, c);
    so.fd = fd;
  }

  /** The descriptor becomes connected when the home CPU's reply names the socket. */
  private connectRemote(fd: number, r: FdRec, faddr: number, fport: number): void {
    if (!this.x.remote) throw new SockError("EOPNOTSUPP", "no remote socket calls", fd);
    r.kind = K_CONN_PENDING;
    this.x.remote
      .connect(this.x.cpu, {
        owner: this.x.owner,
        laddr: r.laddr,
        faddr,
        fport,
        ...(r.nodelay ? { nodelay: true } : {}),
        ...(r.sndbuf ? { sndbuf: r.sndbuf } : {}),
        ...(r.rcvbuf ? { rcvbuf: r.rcvbuf } : {}),
      })
      .then(
        (c) => {
          if (this.x.fds.get(fd) !== r) {
            this.x.remote!.close(c.cpu, c.id, true); // closed while connecting
            return;
          }
          const rc = new RemoteConn(c.cpu, c.id, c.laddr, c.lport, c.faddr, c.fport);
          const cr = new ConnRec(r.handler, null, rc);
          cr.sync = r.syncSend;
          this.x.fds.set(fd, cr);
          this.x.rev.add(rc, fd);
          this.x.rev.drainEarly(rc);
        },
        (err: Error) => {
          if (this.x.fds.get(fd) !== r) return;
          r.kind = K_NEW;
          const h = r.handler;
          h?.(fd, SoEvent.ERROR, err.message);
        },
      );
  }
}
