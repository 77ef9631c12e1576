/** One CPU's TCP (DragonFly's tcp_input after the PCB lookup): segments to engines or syncaches, events to owners, timers. */
import {
  INP,
  SyncacheExpandKind,
  TcpEngine,
  TcpEvent,
  TcpFlags,
  TF,
  soqremque,
  tcpConnOptionsMerge,
  type ListenSocket,
  type TcpCb,
  type TcpConfig,
  type TcpErrno,
  type TcpSeg,
  type TcpSynEntry,
  type TcpSyncache,
  type SynCookie,
  type TcpCtl,
} from "@dfly/core";
import { So, SoEvent } from "./so.js";
import type { TcpHost } from "./tcp_host.js";

/** Per-CPU counters of the host glue (the engine keeps tcpstat, the syncache its own). */
export class TcpCpuStats {
  segsIn = 0;
  /** Segments that arrived on a CPU that does not own them (dropped: a steering bug). */
  wrongcpu = 0;
  /** Frames that were not TCP/IPv4 or failed the decode step (the engine counted TCP reasons). */
  badframes = 0;
  segsOut = 0;
  /** Connections handed to a listener's accept queue. */
  completed = 0;
  accepted = 0;
  /** Connect calls that started here and the connections they made (possibly on another CPU). */
  connects = 0;
  /** ICMP errors quoting a segment of a connection or syncache entry here (tcp_ctlinput), and those that matched nothing. */
  ctlinput = 0;
  ctlnomatch = 0;
}

export class TcpCpu {
  readonly engine: TcpEngine;
  readonly syncache: TcpSyncache<TcpSynEntry, TcpCb>;
  readonly stats = new TcpCpuStats();
  private readonly synWnd: number;

  constructor(
    readonly host: TcpHost,
    readonly index: number,
    config: Partial<TcpConfig> | undefined,
    now: number,
    lendSegs = false,
  ) {
    this.engine = new TcpEngine({
      cpu: index,
      lendSegs,
      ...(config ? { config } : {}),
      now,
      output: (seg, tp) => this.output(seg, tp),
      onEvent: (tp, ev, err) => this.onEvent(tp, ev, err),
    });
    this.syncache = host.syncaches[index];
    this.synWnd = Math.min(this.engine.config.recvspace, 65535);
  }

  private output(seg: TcpSeg, tp: TcpCb | null): void {
    this.stats.segsOut++;
    this.host.out(this.index, seg, tp ? (tp.so as So | null) : null);
  }

  /** Engine events → the socket's owner; CLOSED releases the PCB. */
  private onEvent(tp: TcpCb, ev: TcpEvent, err: TcpErrno | null): void {
    const so = tp.so as So | null;
    if (!so) return;
    const o = so.owner;
    switch (ev) {
      case TcpEvent.ESTABLISHED:
        // Passive sockets are announced by the listener (after they are on its queue).
        if (o && !(tp.t_flags & TF.PASSIVE)) o.soEvent(so, SoEvent.CONNECTED, null);
        return;
      case TcpEvent.READABLE:
        o?.soEvent(so, SoEvent.READABLE, null);
        return;
      case TcpEvent.WRITABLE:
        o?.soEvent(so, SoEvent.WRITABLE, null);
        return;
      case TcpEvent.PEER_CLOSED:
        o?.soEvent(so, SoEvent.EOF, null);
        return;
      case TcpEvent.RESET:
        o?.soEvent(so, SoEvent.ERROR, err);
        return;
      case TcpEvent.CLOSED: {
        const inp = so.inp;
        if (inp.head) soqremque(inp);
        this.host.pcb.detach(inp);
        this.host.forget(so);
        if (o) {
          so.owner = null;
          o.soEvent(so, SoEvent.CLOSED, err);
        }
        return;
      }
    }
  }

  /** One segment on this CPU; `hash` (16-bit Toeplitz) picks the SO_REUSEPORT member. */
  input(seg: TcpSeg, hash: number): void {
    const host = this.host;
    if (host.pcb.hashcpu(hash) !== this.index) {
      this.stats.wrongcpu++;
      return;
    }
    this.stats.segsIn++;
    host.traceFn?.(this.index, seg, hash);
    const now = host.now();
    const info = host.pcb.pcbinfo[this.index];
    let inp = info.lookupPkthash(seg.src, seg.sport, seg.dst, seg.dport, true, hash);
    if (inp !== undefined && inp.flags & INP.CONNECTED) {
      const tp = inp.ppcb;
      const r = this.engine.input(tp ?? null, seg, now);
      if (r !== "reuse") return;
      // TIME_WAIT recycled (its CLOSED event released the PCB): the SYN goes to the listener.
      inp = info.lookupPkthash(seg.src, seg.sport, seg.dst, seg.dport, true, hash);
    }
    if (inp === undefined || !(inp.flags & INP.WILDCARD) || !inp.so) {
      this.engine.input(null, seg, now); // RST per RFC 9293 (counted noport)
      host.dropFn?.(this.index, "noport");
      return;
    }
    this.listenInput(inp.so, seg, hash, now);
  }

  /** LISTEN processing with the syncache (tcp_input's `TCPS_LISTEN` case, syncache_add/expand). */
  private listenInput(ls: ListenSocket<TcpCb>, seg: TcpSeg, hash: number, now: number): void {
    const f = seg.flags;
    const st = this.engine.stats;
    const sc = this.syncache;
    if (f & TcpFlags.RST) {
      st.rcvtotal++;
      sc.chkrst(seg.src, seg.sport, seg.dst, seg.dport, seg.seq);
      return;
    }
    if (f & TcpFlags.SYN) {
      if (f & (TcpFlags.ACK | TcpFlags.FIN)) {
        // SYN|ACK at a listener: RST (tcp_input dropwithreset); SYN|FIN: dropped and counted.
        this.engine.input(null, seg, now);
        return;
      }
      st.rcvtotal++;
      const rec = this.host.listenerOf(ls);
      const ro = this.host.routeOpts?.(seg.src);
      const o = this.engine.synEntry(seg, now, ro || rec ? tcpConnOptionsMerge(ro, rec ? this.host.connOptions(rec.spec) : undefined) : undefined);
      const cookie = sc.cookieIss(seg.src, seg.sport, seg.dst, seg.dport, o.irs, o.peerMss, now);
      if (cookie !== undefined && !sc.lookup(seg.src, seg.sport, seg.dst, seg.dport)) o.iss = cookie;
      const { entry } = sc.add(
        { faddr: seg.src, fport: seg.sport, laddr: seg.dst, lport: seg.dport, hash, listener: ls, iss: o.iss, irs: o.irs, wnd: this.synWnd, opts: o },
        now,
      );
      this.engine.sendSynAck(entry.opts, now);
      return;
    }
    if (!(f & TcpFlags.ACK)) {
      st.rcvtotal++;
      st.listendrop++;
      return;
    }
    // One engine call around expansion and accept, so the program's response (and close) leaves as one output.
    this.engine.enter(now);
    try {
      this.expand(ls, seg, now);
    } finally {
      this.engine.leave();
    }
  }

  /** The handshake's last ACK: the syncache entry becomes a connection on the listener's queue. */
  private expand(ls: ListenSocket<TcpCb>, seg: TcpSeg, now: number): void {
    const st = this.engine.stats;
    const r = this.syncache.expand(seg.src, seg.sport, seg.dst, seg.dport, seg.ack, (e, cinp) => {
      const so = new So(this.index, cinp);
      const rec = e.listener ? this.host.listenerOf(e.listener) : undefined;
      const opts = tcpConnOptionsMerge(this.host.routeOpts?.(seg.src), rec ? this.host.connOptions(rec.spec) : undefined, so);
      const tp = this.engine.syncacheSocket(e.opts, seg, now, opts);
      so.tp = tp;
      return tp;
    }, { seq: seg.seq, listener: ls, now, opts: (k) => this.cookieEntry(ls, seg, k) });
    if (r.reset) {
      st.rcvtotal++;
      this.engine.respondReset(seg, now);
      return;
    }
    if (r.kind === SyncacheExpandKind.COMPLETED) {
      this.stats.completed++;
      this.host.acceptable(r.listener, this.index);
    } else {
      st.rcvtotal++;
      if (r.kind === SyncacheExpandKind.OVERFLOW) this.host.dropFn?.(this.index, "listendrop");
    }
  }

  /**
   * `tcp_ctlinput` for an ICMP error quoting laddr:lport → faddr:fport at `seq`: the connection's
   * engine acts on it; with no connection, a syncache entry whose SYN|ACK it quotes (`syncache_unreach`).
   */
  ctlinput(ctl: TcpCtl, laddr: number, lport: number, faddr: number, fport: number, seq: number, nextMtu: number, quotedIpLen: number): string {
    const inp = this.host.pcb.pcbinfo[this.index].lookupConn(faddr, fport, laddr, lport);
    const tp = inp?.ppcb;
    if (tp) {
      this.stats.ctlinput++;
      return this.engine.ctlinput(tp, ctl, seq, nextMtu, quotedIpLen, this.host.now());
    }
    if (this.syncache.lookup(faddr, fport, laddr, lport)) {
      this.stats.ctlinput++;
      return this.syncache.unreach(faddr, fport, laddr, lport, seq) ? "dropped" : "marked";
    }
    this.stats.ctlnomatch++;
    return "nomatch";
  }

  /**
   * The entry a SYN cookie stands for: the ISNs and the peer's MSS it carries, the MSS our SYN|ACK advertised;
   * no window scaling, SACK or timestamps (DragonFly's cookie does not carry them).
   */
  private cookieEntry(ls: ListenSocket<TcpCb>, seg: TcpSeg, k: SynCookie): TcpSynEntry {
    const rec = this.host.listenerOf(ls);
    const o = tcpConnOptionsMerge(this.host.routeOpts?.(seg.src), rec ? this.host.connOptions(rec.spec) : undefined);
    return {
      laddr: seg.dst >>> 0, lport: seg.dport, faddr: seg.src >>> 0, fport: seg.sport,
      irs: k.irs, iss: k.iss, peerMss: k.peerMss, mss: o.mss ?? this.engine.config.mss,
      peerWscale: -1, rcvWscale: 0, sackOk: false, tsOk: false, tsRecent: 0, peerWindow: seg.window, rxtUsed: 0,
    };
  }

  /** Timers due by `now`: the engine's (retransmit, delayed ACK, 2MSL, …) and the syncache's. */
  tick(now: number): void {
    this.engine.advance(now);
    if (this.syncache.count === 0) return;
    const t = this.syncache.timer(now);
    for (const e of t.retransmit) this.engine.sendSynAck(e.opts, now);
  }

}
