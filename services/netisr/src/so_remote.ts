/** Events of a program's sockets on other CPUs, applied in arrival order and followed across a MOVED (DragonFly's `tcp_sosetport`). */
import { SoEvent } from "./so.js";
import type { SockRemote } from "./so_api.js";
import { ConnRec, type FdTable, type RemoteConn } from "./so_fd.js";

type EarlyEvent = { ev: SoEvent; err: string | null; data?: Uint8Array };

export class RemoteEvents {
  /** Descriptors of remote sockets, by `<cpu>/<id>`. */
  private readonly byRemote = new Map<string, number>();
  /** Events for sockets not (yet) known here, e.g. racing their accept reply. */
  private readonly early = new Map<string, EarlyEvent[]>();

  constructor(
    private readonly fds: FdTable,
    private readonly remote: SockRemote | undefined,
  ) {}

  /** `fd` holds remote socket `c`. */
  add(c: RemoteConn, fd: number): void {
    this.byRemote.set(`${c.cpu}/${c.id}`, fd);
  }

  remove(c: RemoteConn): void {
    this.byRemote.delete(`${c.cpu}/${c.id}`);
  }

  /** An event of a remote connection, from its CPU's port. */
  event(cpu: number, id: number, ev: SoEvent, err: string | null, data?: Uint8Array): void {
    const key = `${cpu}/${id}`;
    const fd = this.byRemote.get(key);
    const l = this.early.get(key);
    if (fd !== undefined && l !== undefined) {
      // Known, but earlier events still wait for drainEarly's microtask (one NATS read can deliver several): queue behind them.
      l.push({ ev, err, ...(data ? { data } : {}) });
      return;
    }
    if (fd === undefined) {
      // Not accepted yet (reply and event crossed), or a MOVED ahead of its place: keep it for a moment.
      let e = l;
      if (!e) this.early.set(key, (e = []));
      if (e.length < 1024) e.push({ ev, err, ...(data ? { data } : {}) });
      if (this.early.size > 4096) this.early.delete(this.early.keys().next().value!);
      return;
    }
    const r = this.fds.get(fd);
    if (!(r instanceof ConnRec) || !r.rconn) return;
    this.apply(fd, r, r.rconn, ev, err, data);
  }

  /** Applies the events that arrived for `c` before its descriptor existed (in a microtask). */
  drainEarly(c: RemoteConn): void {
    const key = `${c.cpu}/${c.id}`;
    const l = this.early.get(key);
    if (!l) return;
    // The list stays in `early` until applied, so that later events queue behind it (event()).
    queueMicrotask(() => {
      if (this.early.get(key) === l) this.early.delete(key);
      const fd = this.byRemote.get(key);
      if (fd === undefined) return;
      const r = this.fds.get(fd);
      if (!(r instanceof ConnRec) || r.rconn !== c) return;
      for (const e of l) this.apply(fd, r, c, e.ev, e.err, e.data);
    });
  }

  private apply(fd: number, r: ConnRec, c: RemoteConn, ev: SoEvent, err: string | null, data?: Uint8Array): void {
    if (ev === SoEvent.MOVED) {
      this.move(fd, c, err);
      return;
    }
    if (ev === SoEvent.SENT) {
      const n = Number(err);
      if (!Number.isSafeInteger(n) || n <= 0) return;
      c.credit += n;
      if (c.wantWrite) {
        c.wantWrite = false;
        r.handler?.(fd, SoEvent.WRITABLE, null);
      }
      return;
    }
    if (ev === SoEvent.READABLE && data && data.length) {
      c.chunks.push(data);
      c.bytes += data.length;
    } else if (ev === SoEvent.EOF) c.eof = true;
    else if (ev === SoEvent.ERROR) c.error = err ?? "ECONNRESET";
    else if (ev === SoEvent.CLOSED) {
      c.closed = true;
      this.remove(c);
    }
    r.handler?.(fd, ev, err);
  }

  /** The connection moved to `to`: apply the new place's early events; the fence keeps later calls behind those already sent. */
  private move(fd: number, c: RemoteConn, to: string | null): void {
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
}
