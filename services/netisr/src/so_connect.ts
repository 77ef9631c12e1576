/**
 * connect(2) of a program's socket (DragonFly's soconnect): placed locally, or by a netmsg to the home
 * CPU's port. A program on a netisr CPU whose port search settles on another CPU's 4-tuple migrates
 * the connect there with its candidate port (DragonFly's tcp_connect moves the socket): the owner
 * takes that port or another of its own, and the program holds a remote socket.
 */
import { INADDR_ANY, type TcpConnOptions } from "@dfly/core";
import { SoEvent } from "./so.js";
import { SockError } from "./so_api.js";
import { TcpNotLocalError } from "./tcp_connect.js";
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
      this.connectRemote(fd, r, faddr >>> 0, fport, this.x.cpu, r.laddr, 0);
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
    let so;
    try {
      so = this.x.host.connect(this.x.cpu, null, laddr, faddr >>> 0, fport, this.x.so, opts, r.lport);
    } catch (err) {
      if (!(err instanceof TcpNotLocalError) || r.lport !== 0 || !this.x.remote) throw err;
      this.connectRemote(fd, r, faddr >>> 0, fport, err.cpu, laddr, err.lport);
      return;
    }
    const c = new ConnRec(r.handler, so, null);
    c.sync = r.syncSend;
    this.x.fds.set(fd, c);
    so.fd = fd;
  }

  /** The descriptor becomes connected when the reply of CPU `cpu` names the socket (`lport` ≠ 0: the candidate port for it). */
  private connectRemote(fd: number, r: FdRec, faddr: number, fport: number, cpu: number, laddr: number, lport: number): void {
    if (!this.x.remote) throw new SockError("EOPNOTSUPP", "no remote socket calls", fd);
    r.kind = K_CONN_PENDING;
    this.x.remote
      .connect(cpu, {
        owner: this.x.owner,
        laddr,
        faddr,
        fport,
        ...(lport !== 0 ? { lport } : {}),
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
          if (Number.isSafeInteger(c.sndwin) && c.sndwin! > 0) rc.credit = c.sndwin!;
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
