/**
 * A connection-level workload for rescale tests: long-lived TCP connections carrying data in
 * both directions while netisr CPUs come and go.
 *
 *   - the *peer*: a host on the wire of one interface (its own TcpHost with every CPU in this
 *     thread, frames in and out through the NIC's wire subjects), running an echo server on
 *     port 7 and clients that connect into the cluster;
 *   - the *app*: a program without a CPU of its own, every socket call a netmsg to a netisr
 *     port and every event a message back (so_port.ts) — how a pod's program uses the stack.
 *     It connects out to the peer's echo port and listens on `appPort` (through the control's
 *     SocketService, every CPU holds the listener).
 *
 * Each connection's sender streams a deterministic byte sequence (`chunk` bytes every
 * `periodMs`), the other end echoes it, and the sender checks every echoed byte against the
 * sequence. `errors` collects every ERROR event and mismatch on both sides; the peer's own
 * reset counters are read from its engines. Bounded: the rate is fixed and `finish()` ends it.
 */
import {
  ipAddr,
  TcpFlags,
  type TcpSeg,
} from "@dfly/core";
import { ControlClient } from "@dfly/control";
import {
  attachSockEvents,
  ControlListenBackend,
  HostListenBackend,
  PortSockRemote,
  Sockets,
  SoEvent,
  TcpFrameQueue,
  TcpHost,
} from "@dfly/netisr/internal";
import { FrameBatchCursor, subjects, type Transport } from "@dfly/transport";

export interface StreamWorkloadOptions {
  transport: Transport;
  cluster: string;
  controlAddr: string;
  ifname?: string;
  /** The peer's address on the interface's subnet (default 198.18.0.10). */
  peer?: string;
  /** The cluster's address there (default 198.18.0.1, the NIC's default for ix0). */
  host?: string;
  /** The app's listening port (default 8080). */
  appPort?: number;
  /** The CPU the app's connect() calls go to (default 0). */
  homeCpu?: number;
  chunk?: number;
  periodMs?: number;
}

/** The byte at position `i` of connection `k`'s stream. */
function streamByte(k: number, i: number): number {
  return ((Math.imul(i, 0x9e3779b1) + Math.imul(k + 1, 0x85ebca6b)) >>> 23) & 0xff;
}

function streamBytes(k: number, from: number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let j = 0; j < n; j++) b[j] = streamByte(k, from + j);
  return b;
}

export interface StreamConn {
  k: number;
  /** out: app → peer echo; in: peer → app echo. */
  dir: "out" | "in";
  fd: number;
  established: boolean;
  sent: number;
  echoed: number;
  /** Bytes queued at a local (peer-side) sender beyond what send() took. */
  backlog: Uint8Array | null;
  finishing: boolean;
  closed: boolean;
  /** The app-side socket's CPU (for "out": the sender; for "in": the echoing end), as last known. */
  cpu: number;
}

/** An echoing end: what it received and still has to send back (local peer sockets can be short). */
interface Echo {
  pending: Uint8Array[];
  eof: boolean;
}

export class StreamWorkload {
  readonly conns: StreamConn[] = [];
  readonly errors: string[] = [];
  readonly peer: TcpHost;
  readonly app: Sockets;
  readonly peerSockets: Sockets;
  private readonly o: Required<Omit<StreamWorkloadOptions, "transport" | "controlAddr">> & { transport: Transport; controlAddr: string };
  private readonly subs: { unsubscribe(): void }[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly client: ControlClient;
  private readonly echoes = new Map<string, Echo>();
  private readonly peerAddr: number;
  private readonly hostAddr: number;
  private sending = true;
  /** RST segments the peer received from the cluster. */
  rstFromCluster = 0;

  private constructor(o: StreamWorkloadOptions) {
    this.o = {
      ifname: "ix0",
      peer: "198.18.0.10",
      host: "198.18.0.1",
      appPort: 8080,
      homeCpu: 0,
      chunk: 1000,
      periodMs: 25,
      ...o,
    };
    this.peerAddr = ipAddr(this.o.peer);
    this.hostAddr = ipAddr(this.o.host);
    const t = o.transport;
    const out = new TcpFrameQueue((b) => t.publish(subjects.wireIn(o.cluster, this.o.ifname), b, { transfer: true }));
    // One CPU: its connect() port search must not prefer some buckets over others.
    this.peer = new TcpHost({ ncpus: 1, output: (_c, seg: TcpSeg) => out.push(seg), config: { delackTime: 20 } });
    this.peerSockets = new Sockets({ host: this.peer, cpu: 0, owner: "peer", listen: new HostListenBackend(this.peer), source: () => this.peerAddr });
    this.client = new ControlClient(o.controlAddr);
    this.app = new Sockets({
      host: new TcpHost({ ncpus: 1, local: [], output: () => undefined }),
      cpu: this.o.homeCpu,
      owner: "app",
      remote: new PortSockRemote(t, o.cluster, (i) => i),
      listen: new ControlListenBackend(this.client),
    });
  }

  static async start(o: StreamWorkloadOptions): Promise<StreamWorkload> {
    const w = new StreamWorkload(o);
    await w.init();
    return w;
  }

  private async init(): Promise<void> {
    const { transport: t, cluster, ifname } = this.o;
    const cur = new FrameBatchCursor();
    this.subs.push(
      t.subscribe(subjects.wireOut(cluster, ifname), (m) => {
        if (cur.reset(m.data) !== null) return;
        while (cur.next()) {
          const f = cur.buf.subarray(cur.offset, cur.offset + cur.length);
          const hl = (f[0] & 15) << 2;
          if (f[9] === 6 && f.length > hl + 13 && f[hl + 13] & TcpFlags.RST) this.rstFromCluster++;
          this.peer.inputFrame(f);
        }
      }),
    );
    this.subs.push(attachSockEvents(t, cluster, this.app));
    const tick = setInterval(() => this.peer.tick(), 10);
    tick.unref?.();
    this.timers.push(tick);
    // The peer's echo server.
    const ps = this.peerSockets;
    const lfd = ps.socket((fd, ev) => {
      if (ev !== SoEvent.ACCEPT) return;
      for (let a = ps.accept(fd); a >= 0; a = ps.accept(fd)) ps.onEvent(a, (f, e, err) => this.echoEvent("peer", ps, f, e, err));
    });
    ps.bind(lfd, 0, 7);
    await ps.listen(lfd);
    // The app's server.
    const app = this.app;
    const afd = app.socket((fd, ev) => {
      if (ev !== SoEvent.ACCEPT) return;
      for (let a = app.accept(fd); a >= 0; a = app.accept(fd)) app.onEvent(a, (f, e, err) => this.echoEvent("app", app, f, e, err));
    });
    app.bind(afd, 0, this.o.appPort);
    await app.listen(afd);
    await t.flush();
    const pump = setInterval(() => this.pump(), this.o.periodMs);
    pump.unref?.();
    this.timers.push(pump);
  }

  /** An echoing end's socket event. */
  private echoEvent(side: "peer" | "app", s: Sockets, fd: number, ev: SoEvent, err: string | null): void {
    const key = `${side}/${fd}`;
    let e = this.echoes.get(key);
    if (!e) this.echoes.set(key, (e = { pending: [], eof: false }));
    switch (ev) {
      case SoEvent.READABLE:
      case SoEvent.EOF:
        for (;;) {
          let b: Uint8Array | null;
          try {
            b = s.recv(fd);
          } catch (x) {
            this.errors.push(`${side} echo fd ${fd} recv: ${(x as Error).message}`);
            return;
          }
          if (b === null) {
            e.eof = true;
            break;
          }
          if (b.length === 0) break;
          e.pending.push(b.slice());
        }
        this.flushEcho(key, s, fd, e);
        return;
      case SoEvent.WRITABLE:
        this.flushEcho(key, s, fd, e);
        return;
      case SoEvent.ERROR:
        this.errors.push(`${side} echo fd ${fd}: ${err}`);
        return;
      default:
        return;
    }
  }

  private flushEcho(key: string, s: Sockets, fd: number, e: Echo): void {
    while (e.pending.length > 0) {
      const b = e.pending[0];
      let n: number;
      try {
        n = s.send(fd, b);
      } catch (x) {
        this.errors.push(`${key} send: ${(x as Error).message}`);
        e.pending = [];
        return;
      }
      if (n < b.length) {
        e.pending[0] = b.subarray(n);
        return;
      }
      e.pending.shift();
    }
    if (e.eof) {
      this.echoes.delete(key);
      s.close(fd);
    }
  }

  /** Opens `n` connections app → peer:7 (the app's home CPU places each). */
  openOut(n: number): void {
    for (let i = 0; i < n; i++) {
      const c = this.newConn("out");
      c.fd = this.app.socket((fd, ev, err) => this.senderEvent(c, this.app, fd, ev, err));
      this.app.connect(c.fd, this.peerAddr, 7);
    }
  }

  /** Opens `n` connections peer → the app's port (steered by the NIC's RSS). */
  openIn(n: number): void {
    for (let i = 0; i < n; i++) {
      const c = this.newConn("in");
      c.fd = this.peerSockets.socket((fd, ev, err) => this.senderEvent(c, this.peerSockets, fd, ev, err));
      this.peerSockets.connect(c.fd, this.hostAddr, this.o.appPort);
    }
  }

  private newConn(dir: "out" | "in"): StreamConn {
    const c: StreamConn = { k: this.conns.length, dir, fd: -1, established: false, sent: 0, echoed: 0, backlog: null, finishing: false, closed: false, cpu: -1 };
    this.conns.push(c);
    return c;
  }

  private senderEvent(c: StreamConn, s: Sockets, fd: number, ev: SoEvent, err: string | null): void {
    switch (ev) {
      case SoEvent.CONNECTED:
        c.established = true;
        if (c.dir === "out") c.cpu = s.info(fd).cpu;
        return;
      case SoEvent.READABLE:
      case SoEvent.EOF:
        for (;;) {
          let b: Uint8Array | null;
          try {
            b = s.recv(fd);
          } catch (x) {
            this.errors.push(`conn ${c.k} (${c.dir}) recv: ${(x as Error).message}`);
            return;
          }
          if (b === null || b.length === 0) break;
          for (let j = 0; j < b.length; j++) {
            if (b[j] !== streamByte(c.k, c.echoed + j)) {
              this.errors.push(`conn ${c.k} (${c.dir}): echoed byte ${c.echoed + j} differs`);
              c.echoed = -Infinity;
              return;
            }
          }
          c.echoed += b.length;
        }
        if (c.finishing && c.echoed === c.sent && !c.closed) {
          c.closed = true;
          s.close(fd);
        }
        return;
      case SoEvent.WRITABLE:
        this.sendMore(c, s);
        return;
      case SoEvent.ERROR:
        this.errors.push(`conn ${c.k} (${c.dir}): ${err}`);
        return;
      default:
        return;
    }
  }

  private sendMore(c: StreamConn, s: Sockets): void {
    if (c.backlog) {
      const n = s.send(c.fd, c.backlog);
      c.sent += n;
      c.backlog = n < c.backlog.length ? c.backlog.subarray(n) : null;
    }
  }

  private pump(): void {
    for (const c of this.conns) {
      if (!c.established || c.closed || c.finishing) continue;
      const s = c.dir === "out" ? this.app : this.peerSockets;
      try {
        if (c.backlog) {
          this.sendMore(c, s);
          continue;
        }
        if (!this.sending) continue;
        const chunk = streamBytes(c.k, c.sent, this.o.chunk);
        const n = s.send(c.fd, chunk);
        c.sent += n;
        if (n < chunk.length) c.backlog = chunk.subarray(n);
      } catch (x) {
        this.errors.push(`conn ${c.k} (${c.dir}) send: ${(x as Error).message}`);
        c.closed = true;
      }
    }
    // The app-side CPU of each connection, as its socket handle says now (it follows MOVED).
    for (const c of this.conns) if (c.dir === "out" && c.established && !c.closed) c.cpu = this.app.info(c.fd).cpu;
  }

  /** Every connection established and echoed at least `bytes` more than when called. */
  async progress(bytes: number, timeoutMs = 15_000): Promise<void> {
    const base = this.conns.map((c) => c.echoed);
    await until(() => this.conns.every((c, i) => c.established && c.echoed >= base[i] + bytes), `every connection echoing ${bytes} more bytes`, timeoutMs, () => this.describe());
  }

  /** Stops the streams, waits for every echo, closes every connection. */
  async finish(timeoutMs = 15_000): Promise<void> {
    this.sending = false;
    await until(() => this.conns.every((c) => !c.backlog && c.echoed === c.sent), "every echo complete", timeoutMs, () => this.describe());
    for (const c of this.conns) {
      c.finishing = true;
      if (!c.closed) {
        c.closed = true;
        (c.dir === "out" ? this.app : this.peerSockets).close(c.fd);
      }
    }
    await until(() => this.echoes.size === 0, "every echoing end closed", timeoutMs, () => `${this.echoes.size} open`);
  }

  /** RSTs the peer's engines sent and connections they dropped (resets either way). */
  peerResets(): { sndrst: number; drops: number; noport: number } {
    let sndrst = 0;
    let drops = 0;
    let noport = 0;
    for (const c of this.peer.cpus) {
      if (!c) continue;
      sndrst += c.engine.stats.sndrst;
      drops += c.engine.stats.drops;
      noport += c.engine.stats.noport;
    }
    return { sndrst, drops, noport };
  }

  get bytes(): { sent: number; echoed: number } {
    return { sent: this.conns.reduce((n, c) => n + c.sent, 0), echoed: this.conns.reduce((n, c) => n + c.echoed, 0) };
  }

  describe(): string {
    return this.conns.map((c) => `${c.k}${c.dir}:${c.established ? "E" : "-"}${c.sent}/${c.echoed}`).join(" ") + ` errors=${this.errors.length}${this.errors.length > 0 ? ` [${this.errors.slice(0, 4).join("; ")}]` : ""}`;
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    for (const s of this.subs) s.unsubscribe();
    this.client.close();
  }
}

export async function until(f: () => boolean, what: string, ms: number, detail?: () => string): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (f()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${detail ? `: ${detail()}` : ""}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

