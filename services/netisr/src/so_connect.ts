/**
 * connect(2) of a program's socket (DragonFly's soconnect): from a CPU this thread runs, placed
 * by the host's port search (tcp_connect.ts); from a program with no CPU, a netmsg to its home
 * CPU's port, which places it.
 */
import { INADDR_ANY, type TcpConnOptions } from "@dfly/core";
import { SoEvent, type SoOwner } from "./so.js";
import { SockError, type SockRemote } from "./so_api.js";
import { ConnRec, K_CONN_PENDING, K_NEW, RemoteConn, type FdRec, type FdTable } from "./so_fd.js";
import type { RemoteEvents } from "./so_remote.js";
import type { TcpHost } from "./tcp_host.js";

export class SoConnect {
  constructor(
    private readonly host: TcpHost,
    private readonly cpu: number,
    private readonly owner: string,
    private readonly so: SoOwner,
    private readonly fds: FdTable,
    private readonly rev: RemoteEvents,
    private readonly remote: SockRemote | undefined,
    private readonly source: ((faddr: number) => number) | undefined,
  ) {}

  /** Active open; returns at once, CONNECTED or ERROR follows. Throws InpcbAddrNotAvailError when no local port is free. */
  connect(fd: number, faddr: number, fport: number): void {
    const r = this.fds.unconnected(fd, "connect");
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
    const so = this.host.connect(this.cpu, null, laddr, faddr >>> 0, fport, this.so, opts, r.lport);
    const c = new ConnRec(r.handler, so, null);
    c.sync = r.syncSend;
    this.fds.set(fd, c);
    so.fd = fd;
  }

  /** The descriptor becomes connected when the home CPU's reply names the socket. */
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
          if (this.fds.get(fd) !== r) {
            this.remote!.close(c.cpu, c.id, true); // closed while connecting
            return;
          }
          const rc = new RemoteConn(c.cpu, c.id, c.laddr, c.lport, c.faddr, c.fport);
          const cr = new ConnRec(r.handler, null, rc);
          cr.sync = r.syncSend;
          this.fds.set(fd, cr);
          this.rev.add(rc, fd);
          this.rev.drainEarly(rc);
        },
        (err: Error) => {
          if (this.fds.get(fd) !== r) return;
          r.kind = K_NEW;
          const h = r.handler;
          h?.(fd, SoEvent.ERROR, err.message);
        },
      );
  }
}
