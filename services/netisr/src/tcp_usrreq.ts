/** The program-socket port (DragonFly's tcp_usrreq behind so_port): socket netmsgs, and `RemoteOwner` publishing events. */
import { InpcbAddrInUseError, ListenerPolicy, NETISR_CPUMAX, TcpState } from "@dfly/core";
import { isOwnerName, SockNetmsg, sockBodyListener, decodeNetmsg, encodeNetmsg, NetmsgType } from "@dfly/wire";
import { subjects, type Msg } from "@dfly/transport";
import { b64, unb64, type SockEventBody, type SockEventWire } from "./so_port.js";
import { SO_REMOTE_SEND_WINDOW } from "./so_fd.js";
import { SockOpt } from "./so_api.js";
import { So, SoEvent, type ListenOwner, type SoOwner } from "./so.js";
import { tcpConnectStep, type ConnectStep } from "./tcp_connect.js";
import { type TcpHost } from "./tcp_host.js";
import { type ListenerRec } from "./tcp_listen.js";
import type { PendingSendState } from "./rescale_netmsg.js";
import type { TcpNetisr } from "./tcp_netisr.js";


/** Counters of the port side (socket netmsgs). */
export class SockPortStats {
  calls = 0;
  /** Malformed socket netmsgs (bad type, JSON or body). */
  bad = 0;
  /** Calls for a socket id that does not exist (any more). */
  nosock = 0;
  /** Segments that had no route out (dropped). */
  noroute = 0;
  eventsOut = 0;
  /** Listener reconciliations with the control that completed. */
  listenerSyncs = 0;
  /** Reconciliations whose ListListeners call failed (nothing changed; retried next time). */
  listenerSyncFailed = 0;
  /** Listeners installed by a reconciliation (the control had them, this CPU did not). */
  listenerSyncInstalled = 0;
  /** Listeners closed by a reconciliation (this CPU had them, the control no longer does). */
  listenerSyncClosed = 0;
  /** Listed listeners a reconciliation could not install (address in use here). */
  listenerSyncInstallFailed = 0;
  /** Remote sends beyond the credit the program was given (the connection is reset). */
  sendOverrun = 0;
  /** Most bytes of remote sends ever held for one socket beyond its send buffer (high-water mark). */
  sendHeldMax = 0;
}

/** A program elsewhere that owns listeners/sockets of this CPU: its events are batched and published. */
export class RemoteOwner implements SoOwner, ListenOwner {
  ev: SockEventWire[] = [];
  acc = new Set<string>();
  /** Send credit to return, by socket id (one SENT event per socket per flush). */
  private readonly credits = new Map<number, number>();
  private queued = false;
  constructor(
    readonly name: string,
    private readonly u: TcpUsrreq,
  ) {}

  soEvent(so: So, ev: SoEvent, err: string | null): void {
    const u = this.u;
    const host = u.tn.host!;
    if (u.isClosing(so)) {
      if (ev === SoEvent.WRITABLE) u.flushPendingSend(so);
      else if (ev === SoEvent.CLOSED || ev === SoEvent.ERROR) {
        u.dropPendingSend(so);
        so.owner = null;
      }
      return;
    }
    switch (ev) {
      case SoEvent.READABLE:
      case SoEvent.EOF: {
        // Read on the program's behalf and push the bytes along.
        const tp = so.tp!;
        const eng = host.cpu(so.cpu).engine;
        for (;;) {
          let b: Uint8Array | null;
          try {
            b = eng.recv(tp, host.now());
          } catch {
            break;
          }
          if (b === null) {
            this.push([so.id, SoEvent.EOF, null, null]);
            break;
          }
          if (b.length === 0) break;
          this.push([so.id, SoEvent.READABLE, null, b64(b)]);
        }
        return;
      }
      case SoEvent.WRITABLE:
        u.flushPendingSend(so);
        if (u.syncWaiting(so)) this.push([so.id, SoEvent.WRITABLE, null, null]);
        return;
      case SoEvent.CONNECTED:
      case SoEvent.ERROR:
        this.push([so.id, ev, err, null]);
        return;
      case SoEvent.CLOSED:
        u.dropPendingSend(so);
        this.push([so.id, ev, err, null]);
        return;
      default:
        return;
    }
  }

  acceptable(rec: ListenerRec): void {
    this.acc.add(rec.id);
    this.schedule();
  }

  /** `n` bytes of the program's asynchronous sends went into `so`'s send buffer: credit for the program. */
  credit(so: So, n: number): void {
    if (n <= 0) return;
    this.credits.set(so.id, (this.credits.get(so.id) ?? 0) + n);
    this.schedule();
  }

  /** The socket `oldId` moved to `newId` on CPU `cpu` (published at once, after what is queued). */
  moved(oldId: number, cpu: number, newId: number): void {
    this.ev.push([oldId, SoEvent.MOVED, `${cpu}/${newId}`, null]);
    this.flush();
  }

  private push(e: SockEventWire): void {
    this.ev.push(e);
    this.schedule();
  }

  private schedule(): void {
    if (this.queued) return;
    this.queued = true;
    queueMicrotask(() => this.flush());
  }

  flush(): void {
    this.queued = false;
    if (this.ev.length === 0 && this.acc.size === 0 && this.credits.size === 0) return;
    const tn = this.u.tn;
    // Credit first: a MOVED in this batch re-keys the socket on the program's side.
    const ev: SockEventWire[] = [];
    for (const [id, n] of this.credits) ev.push([id, SoEvent.SENT, String(n), null]);
    this.credits.clear();
    for (const e of this.ev) ev.push(e);
    const body: SockEventBody = { cpu: tn.index, ev, acc: [...this.acc] };
    this.ev = [];
    this.acc.clear();
    tn.stats.eventsOut++;
    tn.transport.publish(subjects.sock(tn.cluster, this.name), encodeNetmsg.socket(SockNetmsg.event, 0, body));
  }
}

interface PendingSend {
  chunks: Uint8Array[];
  bytes: number;
  shutdown: boolean;
  close: boolean;
}

interface PendingSend {
  chunks: Uint8Array[];
  bytes: number;
  shutdown: boolean;
  close: boolean;
}

export class TcpUsrreq {
  private readonly owners = new Map<string, RemoteOwner>();
  private readonly pending = new Map<So, PendingSend>();
  /** The send credit each remote socket's program was given (its send buffer size then). */
  private readonly windows = new WeakMap<So, number>();
  /** Sockets whose synchronous send was short: their program hears WRITABLE. */
  private readonly syncWait = new WeakSet<So>();
  /** Sockets the program closed while bytes were still held: flushed, then closed. */
  private readonly closing = new WeakSet<So>();

  constructor(readonly tn: TcpNetisr) {}

  /** The publisher of a remote program's socket events (undefined: not an owner name). */
  remoteOwner(name: string): RemoteOwner | undefined {
    if (!isOwnerName(name)) return undefined;
    let o = this.owners.get(name);
    if (!o) this.owners.set(name, (o = new RemoteOwner(name, this)));
    return o;
  }

  /** The socket's remote owner name; null: nobody holds it; undefined: a program in this thread. */
  ownerNameOf(so: So): string | null | undefined {
    return so.owner === null ? null : so.owner instanceof RemoteOwner ? so.owner.name : undefined;
  }

  /** Publishes the queued events of a remote owner now. */
  flushOwner(name: string): void {
    this.owners.get(name)?.flush();
  }

  /** A socket netmsg (also what the rescale layer hands on: chased and released calls). */
  socketPort(m: Msg): boolean {
    const d = m.data;
    this.tn.stats.calls++;
    const r = decodeNetmsg(d);
    if (typeof r === "string" || r.type !== "socket") {
      this.tn.stats.bad++;
      m.respond(encodeNetmsg.reply(0, false, undefined, `malformed socket netmsg: ${typeof r === "string" ? r : "type"}`));
      return true;
    }
    const ok = (body?: unknown) => m.respond(encodeNetmsg.reply(r.id, true, body));
    const fail = (why: string) => m.respond(encodeNetmsg.reply(r.id, false, undefined, why));
    const body = (typeof r.body === "object" && r.body !== null ? r.body : {}) as Record<string, unknown>;
    try {
      this.dispatch(r.code, body, ok, fail);
    } catch (err) {
      fail(err instanceof Error ? `${err.name}: ${err.message}` : String(err));
    }
    return true;
  }

  private dispatch(code: number, b: Record<string, unknown>, ok: (body?: unknown) => void, fail: (why: string) => void): void {
    const tn = this.tn;
    const host = tn.ensureHost();
    switch (code) {
      case SockNetmsg.listen: {
        const l = sockBodyListener(b);
        if (typeof l === "string") {
          this.tn.stats.bad++;
          return fail(`bad listen body: ${l}`);
        }
        let rec: ListenerRec;
        try {
          rec = tn.listeners.install(l);
        } catch (err) {
          if (err instanceof InpcbAddrInUseError) return fail(err.message);
          throw err;
        }
        return ok({ index: rec.index, qlimit: rec.ls.qlimit });
      }
      case SockNetmsg.closeListener: {
        const id = b.id;
        const policy = (b.policy ?? host.policy) as ListenerPolicy;
        if (typeof id !== "string" || !(Object.values(ListenerPolicy) as string[]).includes(policy)) {
          this.tn.stats.bad++;
          return fail("bad closeListener body");
        }
        return ok(tn.listeners.close(id, policy));
      }
      case SockNetmsg.listeners:
        return ok({ listeners: host.listenerList().map((l) => ({ id: l.id, qlen: l.ls.qlen, qlimit: l.ls.qlimit, overflows: l.ls.overflows })) });
      case SockNetmsg.list:
        return ok(tn.cursors.step(host, Number(b.token) || 0, Math.max(1, Math.min(4096, Number(b.limit) || 256))));
      case SockNetmsg.accept: {
        const { listener, owner } = b;
        const max = Math.max(1, Math.min(1024, Number(b.max) || 32));
        if (typeof listener !== "string" || !isOwnerName(owner)) {
          this.tn.stats.bad++;
          return fail("bad accept body");
        }
        const rec = host.listener(listener);
        if (!rec) return ok({ conns: [] });
        const ro = this.remoteOwner(owner)!;
        const conns: unknown[] = [];
        while (conns.length < max) {
          const so = host.accept(rec, ro);
          if (!so) break;
          const id = host.idOf(so);
          const tp = so.tp!;
          const eng = host.cpu(so.cpu).engine;
          let data: Uint8Array | null = null;
          let eof = false;
          try {
            const got = eng.recv(tp, host.now());
            if (got === null) eof = true;
            else if (got.length > 0) data = got;
          } catch {
            eof = true;
          }
          const i = so.inp;
          conns.push({ id, laddr: i.laddr >>> 0, lport: i.lport, faddr: i.faddr >>> 0, fport: i.fport, sndwin: this.window(so), ...(data ? { data: b64(data) } : {}), ...(eof ? { eof } : {}) });
        }
        return ok({ conns });
      }
      case SockNetmsg.send: {
        const so = this.sockOf(b.id);
        const data = typeof b.data === "string" ? unb64(b.data) : null;
        if (!so || !data) {
          if (b.sync) return fail(so ? "bad send body" : `no socket ${String(b.id)}`);
          return;
        }
        if (b.sync) return ok({ n: this.remoteSendSync(host, so, data) });
        this.remoteSend(host, so, data);
        return;
      }
      case SockNetmsg.shutdown:
      case SockNetmsg.close: {
        const so = this.sockOf(b.id);
        if (!so) {
          if (code === SockNetmsg.close) return; // already gone: closing twice is harmless
          return;
        }
        const p = this.pending.get(so);
        if (code === SockNetmsg.close) {
          so.fd = -1;
          // Held bytes still go out first: the owner stays to hear WRITABLE, telling the program nothing more.
          if (p && b.abort !== true) this.closing.add(so);
          else so.owner = null;
        }
        if (p && b.abort !== true) {
          if (code === SockNetmsg.close) p.close = true;
          else p.shutdown = true;
          return;
        }
        this.dropPendingSend(so);
        const tp = so.tp;
        if (!tp || tp.t_state === TcpState.CLOSED) return;
        const eng = host.cpu(so.cpu).engine;
        if (code === SockNetmsg.shutdown) eng.shutdown(tp, host.now());
        else if (b.abort === true) eng.abort(tp, host.now());
        else eng.close(tp, host.now());
        return;
      }
      case SockNetmsg.connect:
        return this.connect(host, b, ok, fail);
      case SockNetmsg.setopt: {
        const so = this.sockOf(b.id);
        if (!so?.tp) return;
        if (b.opt === SockOpt.TCP_NODELAY) host.cpu(so.cpu).engine.setNodelay(so.tp, b.value === true || b.value === 1, host.now());
        else if (b.opt === SockOpt.SO_SNDBUF && typeof b.value === "number" && b.value >= 512) so.tp.snd_hiwat = b.value;
        return;
      }
      default:
        this.tn.stats.bad++;
        return fail(`unknown socket netmsg 0x${code.toString(16)}`);
    }
  }

  /**
   * connect() for a program elsewhere, one CPU's step of it (tcp_connect.ts `tcpConnectStep`): placed
   * here, or passed on to the owner CPU with a candidate port, or to the next CPU with a share left.
   */
  private connect(host: TcpHost, b: Record<string, unknown>, ok: (body?: unknown) => void, fail: (why: string) => void): void {
    const { owner, faddr, fport } = b;
    const me = this.tn.index;
    const laddr = typeof b.laddr === "number" && b.laddr !== 0 ? b.laddr >>> 0 : this.tn.primaryAddr();
    const lport = typeof b.lport === "number" && Number.isInteger(b.lport) && b.lport >= 0 && b.lport <= 65535 ? b.lport : 0;
    const share = b.share === true;
    const tried = Array.isArray(b.tried) ? b.tried : [];
    if (
      !isOwnerName(owner) || typeof faddr !== "number" || typeof fport !== "number" || !Number.isInteger(fport) || fport < 1 || fport > 65535 ||
      tried.length > NETISR_CPUMAX || !tried.every((c) => Number.isInteger(c))
    ) {
      this.tn.stats.bad++;
      return fail("bad connect body");
    }
    const ro = this.remoteOwner(owner)!;
    const so = new So(me, undefined as never);
    const opts = {
      ...(b.nodelay === true ? { nodelay: true } : {}),
      ...(typeof b.sndbuf === "number" ? { sndbuf: b.sndbuf } : {}),
      ...(typeof b.rcvbuf === "number" ? { rcvbuf: b.rcvbuf } : {}),
    };
    const fa = faddr >>> 0;
    const rescale = this.tn.rescale;
    let step: ConnectStep;
    try {
      host.idOf(so);
      // A candidate was placed by the calling CPU's port search: it lives here even if this CPU's newer view names another owner.
      step = tcpConnectStep(host, me, so, laddr, fa, fport, ro, opts, { lport, share, tried: tried as number[] }, rescale.netisr.liveCpus, (h, f) => rescale.claim(h, f));
    } catch (err) {
      host.forget(so);
      return fail(err instanceof Error ? `${err.name}: ${err.message}` : String(err));
    }
    if ("to" in step) {
      host.forget(so);
      return this.forwardConnect(step.to, { ...b, laddr, lport: step.hop.lport, share: step.hop.share, tried: step.hop.tried }, ok, fail);
    }
    if (lport !== 0 && !share) rescale.placed(so.inp);
    const i = so.inp;
    ok({ cpu: me, id: so.id, laddr: i.laddr >>> 0, lport: i.lport, faddr: i.faddr >>> 0, fport: i.fport, sndwin: this.window(so) });
  }

  /** Passes a connect to CPU `to`'s port and relays its answer. */
  private forwardConnect(to: number, body: Record<string, unknown>, ok: (body?: unknown) => void, fail: (why: string) => void): void {
    const req = encodeNetmsg.socket(SockNetmsg.connect, 0, body);
    this.tn.transport.request(subjects.netisr(this.tn.cluster, to), req, { timeoutMs: 5000 }).then(
      (m) => {
        const r = decodeNetmsg(m.data);
        if (typeof r === "string" || r.type !== NetmsgType.reply) return fail("bad reply from the owner CPU");
        if (r.ok) ok(r.body);
        else fail(r.error ?? "refused by the owner CPU");
      },
      (e: Error) => fail(`owner cpu ${to}: ${e.message}`),
    );
  }

  private sockOf(id: unknown): So | undefined {
    const so = typeof id === "number" ? this.tn.host?.byId(id) : undefined;
    if (!so) this.tn.stats.nosock++;
    return so;
  }

  /** The send credit `so`'s program gets (fixed when first named: the socket's send buffer size). */
  private window(so: So): number {
    let w = this.windows.get(so);
    if (w === undefined) this.windows.set(so, (w = so.tp?.snd_hiwat ?? SO_REMOTE_SEND_WINDOW));
    return w;
  }

  /** @internal a short synchronous send left `so` waiting for room (cleared once told). */
  syncWaiting(so: So): boolean {
    if (!this.syncWait.has(so) || this.pending.has(so)) return false;
    this.syncWait.delete(so);
    return true;
  }

  /**
   * An asynchronous remote send: into the send buffer while it has room, the rest held here until
   * the buffer drains. The program sends no more than its credit (the send buffer's size), and
   * gets credit back for what goes into the buffer, so what is held stays under one buffer; a
   * program that sends beyond it is counted (`sendOverrun`) and its connection reset.
   */
  private remoteSend(host: TcpHost, so: So, data: Uint8Array): void {
    const tp = so.tp;
    if (!tp || tp.t_state === TcpState.CLOSED) return;
    const p = this.pending.get(so);
    if (p) {
      p.chunks.push(data);
      p.bytes += data.length;
      if (p.bytes > this.tn.stats.sendHeldMax) this.tn.stats.sendHeldMax = p.bytes;
      if (p.bytes > this.window(so)) {
        this.tn.stats.sendOverrun++;
        this.dropPendingSend(so);
        host.cpu(so.cpu).engine.abort(tp, host.now());
      }
      return;
    }
    let n = 0;
    try {
      n = host.cpu(so.cpu).engine.send(tp, data, host.now());
    } catch {
      return;
    }
    this.creditOf(so, n);
    if (n === data.length) return;
    this.pending.set(so, { chunks: [data.subarray(n)], bytes: data.length - n, shutdown: false, close: false });
    if (data.length - n > this.tn.stats.sendHeldMax) this.tn.stats.sendHeldMax = data.length - n;
  }

  /** SO_SYNCSEND: what fits the send buffer now (nothing while asynchronous bytes wait); the rest is the caller's to send again. */
  private remoteSendSync(host: TcpHost, so: So, data: Uint8Array): number {
    const tp = so.tp;
    if (!tp || tp.t_state === TcpState.CLOSED) return 0;
    let n = 0;
    if (!this.pending.has(so)) {
      try {
        n = host.cpu(so.cpu).engine.send(tp, data, host.now());
      } catch {
        return 0;
      }
    }
    if (n < data.length) this.syncWait.add(so);
    return n;
  }

  private creditOf(so: So, n: number): void {
    if (so.owner instanceof RemoteOwner && !this.closing.has(so)) so.owner.credit(so, n);
  }

  /** @internal the program closed `so` while bytes were held: only the flush goes on. */
  isClosing(so: So): boolean {
    return this.closing.has(so);
  }

  /** @internal WRITABLE: move held bytes into the send buffer, then a held shutdown/close. */
  flushPendingSend(so: So): void {
    const p = this.pending.get(so);
    const host = this.tn.host;
    if (!p || !host || !so.tp) return;
    const eng = host.cpu(so.cpu).engine;
    while (p.chunks.length > 0) {
      const c = p.chunks[0];
      let n = 0;
      try {
        n = eng.send(so.tp, c, host.now());
      } catch {
        this.dropPendingSend(so);
        return;
      }
      p.bytes -= n;
      this.creditOf(so, n);
      if (n < c.length) {
        p.chunks[0] = c.subarray(n);
        return;
      }
      p.chunks.shift();
    }
    this.pending.delete(so);
    if (p.close) {
      if (this.closing.delete(so)) so.owner = null;
      eng.close(so.tp, host.now());
    } else if (p.shutdown) eng.shutdown(so.tp, host.now());
  }

  /** @internal */
  dropPendingSend(so: So): void {
    this.pending.delete(so);
  }

  /** @internal hand-over: the bytes held for `so` beyond its send buffer leave with it. */
  takePending(so: So): PendingSendState | undefined {
    const p = this.pending.get(so);
    if (!p) return undefined;
    this.pending.delete(so);
    return { chunks: p.chunks, shutdown: p.shutdown, close: p.close };
  }

  /** @internal hand-over: bytes held for a socket that arrived here. */
  putPending(so: So, p: PendingSendState): void {
    this.pending.set(so, { chunks: [...p.chunks], bytes: p.chunks.reduce((n, c) => n + c.length, 0), shutdown: p.shutdown, close: p.close });
  }

  /** Publishes every queued event (stop). */
  flushAll(): void {
    for (const o of this.owners.values()) o.flush();
  }
}
