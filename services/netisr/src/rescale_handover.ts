/** Drain and hand-over: a leaving CPU exports its connections and handshakes (`handover` netmsg) to their future owners, which install them. */
import {
  InpcbAddrInUseError,
  INP,
  soqinsque,
  soqremque,
  tcpHandoverExport,
  tcpHandoverImport,
  tcpHandoverRelease,
  tcpHandoverResume,
  TcpState,
  type Inpcb,
  type SyncacheEntry,
  type TcpCb,
  type TcpSynEntry,
} from "@dfly/core";
import { subjects, type Msg } from "@dfly/transport";
import { decodeNetmsg, encodeNetmsg, NetmsgType } from "@dfly/wire";
import { So, SoEvent } from "./so.js";
import { type TcpHost } from "./tcp_host.js";
import { tupleKey } from "./rescale_home.js";
import { ipfwHandStates } from "./rescale_ipfw.js";
import type { Moved } from "./rescale_chase.js";
import { decodeHandover, encodeHandover, encodeLeaving, type HandoverConn, type HandoverMsg, type HandoverSyn } from "./rescale_netmsg.js";
import type { TcpRescale } from "./tcp_rescale.js";

/** What a drain did. */
export interface DrainReport {
  handedOver: number;
  failed: number;
  /** Half-open handshakes (syncache entries) handed over / lost. */
  synHandedOver: number;
  synFailed: number;
  /** Rounds (each picks up connections completed during the previous one). */
  rounds: number;
  /** Hand-over batches sent and the slowest round trip of one (ms). */
  batches: number;
  maxBatchMs: number;
  /** From the start of the drain to the last acknowledgement. */
  ms: number;
  /** By target CPU. */
  byCpu: Record<string, number>;
}

/** A hand-over request larger than this is split (NATS' default max_payload is 1 MiB). */
const BATCH_BYTES = 384 * 1024;
const BATCH_CONNS = 512;
/** Syncache entries per hand-over request (about 130 bytes each on the wire). */
const BATCH_SYN = 1024;

interface Frozen {
  hash: number;
  conn: HandoverConn;
  mv: Moved;
  attempts: number;
}

interface FrozenSyn {
  hash: number;
  wire: HandoverSyn;
  attempts: number;
}

export class RescaleHandover {
  draining = false;
  /** The drain finished: hand-overs to this CPU are refused. */
  private drained = false;
  private report: Promise<DrainReport> | undefined;

  constructor(
    private readonly r: TcpRescale,
    private readonly drainMs: number,
    private readonly requestMs: number,
    private readonly announceMs: number,
  ) {}

  /** The CPUs that remain once this one (and every CPU known to be leaving) is gone. */
  futureCpus(): number[] {
    return this.r.netisr.liveCpus.filter((c) => c !== this.r.me && !this.r.leaving.has(c));
  }

  futureOwner(hash: number): number | undefined {
    const f = this.futureCpus();
    return f.length === 0 ? undefined : f[(hash & 127) % f.length];
  }

  /** Idempotent: a second call returns the same report. */
  drain(): Promise<DrainReport> {
    return (this.report ??= this.doDrain());
  }

  private async doDrain(): Promise<DrainReport> {
    const r = this.r;
    const t0 = r.now();
    this.draining = true;
    const host = r.tcp.ensureHost();
    const me = r.me;
    for (const c of r.netisr.liveCpus) if (c !== me) r.publish(c, encodeLeaving(me));
    // CPUs leaving together learn of each other here, so none hands its connections to another leaver.
    if (this.announceMs > 0) await new Promise((res) => setTimeout(res, this.announceMs));
    const rep: DrainReport = { handedOver: 0, failed: 0, synHandedOver: 0, synFailed: 0, rounds: 0, batches: 0, maxBatchMs: 0, ms: 0, byCpu: {} };
    const deadline = t0 + this.drainMs;
    let retry: Frozen[] = [];
    let synRetry: FrozenSyn[] = [];
    const synLost = (n: number) => {
      rep.synFailed += n;
      r.stats.synOutFailed += n;
    };
    for (;;) {
      const conns: Inpcb<TcpCb>[] = [];
      for (let inp = host.pcb.pcbinfo[me].first(); inp; inp = inp.listNext) {
        if (inp.flags & INP.CONNECTED && inp.ppcb && inp.ppcb.t_state !== TcpState.CLOSED) conns.push(inp);
      }
      if (this.futureCpus().length === 0) {
        // No CPU left to take them: what is retried and what was never frozen is lost.
        const lost = retry.length + conns.length;
        rep.failed += lost;
        r.stats.handoverOutFailed += lost;
        synLost(synRetry.length + host.syncaches[me].count);
        break;
      }
      const syn = [...synRetry, ...this.freezeSyncache(host)];
      synRetry = [];
      if (conns.length === 0 && retry.length === 0 && syn.length === 0) break;
      rep.rounds++;
      const frozen = [...retry, ...conns.map((inp) => this.freeze(host, inp))];
      retry = [];
      const sends: Promise<void>[] = [];
      for (const [to, list] of this.byOwner(frozen)) {
        for (const f of list) f.mv.cpu = to;
        for (const batch of batches(list)) {
          rep.batches++;
          sends.push(
            this.request(to, { from: me, conns: batch.map((f) => f.conn), syn: [] }, "ids").then(
              ({ res, ms }) => {
                rep.maxBatchMs = Math.max(rep.maxBatchMs, ms);
                batch.forEach((f, i) => {
                  const id = res[i];
                  if (typeof id === "number") {
                    this.acked(f, to, id);
                    rep.handedOver++;
                    rep.byCpu[to] = (rep.byCpu[to] ?? 0) + 1;
                  } else this.failedOne(f, retry, rep);
                });
              },
              () => {
                // No answer or refused (gone, or finished its own drain): not a target any more.
                r.leaving.add(to);
                for (const f of batch) this.failedOne(f, retry, rep);
              },
            ),
          );
        }
      }
      const synFailed = (f: FrozenSyn) => {
        if (++f.attempts < 3) synRetry.push(f);
        else synLost(1);
      };
      for (const [to, list] of this.byOwner(syn)) {
        for (let i = 0; i < list.length; i += BATCH_SYN) {
          const batch = list.slice(i, i + BATCH_SYN);
          rep.batches++;
          sends.push(
            this.request(to, { from: me, conns: [], syn: batch.map((f) => f.wire) }, "syn").then(
              ({ res, ms }) => {
                rep.maxBatchMs = Math.max(rep.maxBatchMs, ms);
                batch.forEach((f, j) => {
                  if (res[j] !== true) return synFailed(f);
                  rep.synHandedOver++;
                  r.stats.synOut++;
                });
              },
              () => {
                r.leaving.add(to);
                for (const f of batch) synFailed(f);
              },
            ),
          );
        }
      }
      await Promise.all(sends);
      if (r.now() > deadline) {
        // Out of time: what is left (frozen or not) is lost with this CPU.
        let left = retry.length;
        for (let inp = host.pcb.pcbinfo[me].first(); inp; inp = inp.listNext) if (inp.flags & INP.CONNECTED) left++;
        rep.failed += left;
        r.stats.handoverOutFailed += left;
        synLost(synRetry.length + host.syncaches[me].count);
        break;
      }
    }
    ipfwHandStates(r, r.ipfw);
    r.home.flush();
    rep.ms = Math.round(r.now() - t0);
    r.stats.lastDrainMs = rep.ms;
    r.stats.lastDrainConns = rep.handedOver;
    this.drained = true;
    return rep;
  }

  private byOwner<T extends { hash: number }>(list: T[]): Map<number, T[]> {
    const groups = new Map<number, T[]>();
    for (const f of list) {
      const to = this.futureOwner(f.hash)!;
      let g = groups.get(to);
      if (!g) groups.set(to, (g = []));
      g.push(f);
    }
    return groups;
  }

  private failedOne(f: Frozen, retry: Frozen[], rep: DrainReport): void {
    f.attempts++;
    if (f.attempts < 3) retry.push(f);
    else {
      rep.failed++;
      this.r.stats.handoverOutFailed++;
    }
  }

  /** One hand-over request; the reply's `ids` (connections) or `syn` (handshakes), one per item. */
  private async request(to: number, req: HandoverMsg, field: "ids" | "syn"): Promise<{ res: unknown[]; ms: number }> {
    const t = this.r.tcp;
    const t0 = this.r.now();
    const m = await t.transport.request(subjects.netisr(t.cluster, to), encodeHandover(req), { timeoutMs: this.requestMs });
    const ms = this.r.now() - t0;
    const rep = decodeNetmsg(m.data);
    if (typeof rep === "string" || rep.type !== NetmsgType.reply) throw new Error(`cpu ${to}: bad handover reply`);
    if (!rep.ok) throw new Error(`cpu ${to}: ${rep.error ?? "refused"}`);
    const res = typeof rep.body === "object" && rep.body !== null ? (rep.body as Record<string, unknown>)[field] : undefined;
    const n = field === "ids" ? req.conns.length : req.syn.length;
    if (!Array.isArray(res) || res.length !== n) throw new Error(`cpu ${to}: bad handover reply (${field})`);
    return { res, ms };
  }

  /** Takes this CPU's half-open handshakes out of its syncache; entries whose listener is not live here stay. */
  private freezeSyncache(host: TcpHost): FrozenSyn[] {
    const sc = host.syncaches[this.r.me];
    if (sc.count === 0) return [];
    const out: FrozenSyn[] = [];
    const taken: SyncacheEntry<TcpSynEntry, TcpCb>[] = [];
    for (const e of sc.entries()) {
      const rec = e.listener?.listening ? host.listenerOf(e.listener) : undefined;
      if (!rec) continue;
      taken.push(e);
      out.push({ hash: e.hash, attempts: 0, wire: { e: { ...e.opts, rxtUsed: Math.max(e.opts.rxtUsed, e.rxtused) }, wnd: e.wnd, listener: rec.id } });
    }
    for (const e of taken) sc.drop(e);
    return out;
  }

  /** Takes a connection out of this CPU: state captured, PCB unlinked, segments and calls forwarded. */
  private freeze(host: TcpHost, inp: Inpcb<TcpCb>): Frozen {
    const t = this.r.tcp;
    const tp = inp.ppcb!;
    const so = tp.so as So | null;
    const ownerName = so ? t.usrreq.ownerNameOf(so) : null;
    if (ownerName) t.usrreq.flushOwner(ownerName); // its events so far go out before MOVED
    const listener = inp.head ? (host.listenerOf(inp.head)?.id ?? null) : null;
    if (inp.head) soqremque(inp);
    const pend = so ? t.usrreq.takePending(so) : undefined;
    const s = tcpHandoverExport(tp, host.now());
    tcpHandoverRelease(tp);
    host.pcb.detach(inp);
    const oldId = so ? so.id : 0;
    if (so) host.forget(so);
    const mv = this.r.chase.leave(tupleKey(inp.laddr, inp.lport, inp.faddr, inp.fport), oldId);
    return { hash: inp.hash, conn: { s, owner: ownerName ?? null, orphan: ownerName === undefined, listener, oldId, pend }, mv, attempts: 0 };
  }

  private acked(f: Frozen, to: number, newId: number): void {
    this.r.stats.handoverOut++;
    this.r.chase.acked(f.mv, to, newId);
    const { owner, oldId } = f.conn;
    if (owner && oldId) this.r.tcp.usrreq.remoteOwner(owner)?.moved(oldId, to, newId);
  }

  /** The `handover` netmsg: installs what another CPU hands over, answers the new ids. */
  onHandover(m: Msg): void {
    const r = this.r;
    if (this.drained) {
      m.respond(encodeNetmsg.reply(0, false, undefined, `cpu ${r.me} is leaving`));
      return;
    }
    const h = decodeHandover(m.data);
    if (!h) {
      r.stats.dropped.bad++;
      m.respond(encodeNetmsg.reply(0, false, undefined, "bad handover body"));
      return;
    }
    const ids: (number | string)[] = [];
    const after: (() => void)[] = [];
    const why = (err: unknown) => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));
    for (const c of h.conns) {
      try {
        ids.push(this.install(h.from, c, after));
        r.stats.handoverIn++;
      } catch (err) {
        r.stats.handoverInFailed++;
        ids.push(why(err));
      }
    }
    const syn: (true | string)[] = [];
    for (const w of h.syn) {
      let x: true | string;
      try {
        x = this.installSyn(w, after);
      } catch (err) {
        x = why(err);
      }
      syn.push(x);
      if (x === true) r.stats.synIn++;
      else r.stats.synInFailed++;
    }
    m.respond(encodeNetmsg.reply(0, true, h.syn.length > 0 ? { ids, syn } : { ids }));
    for (const f of after) f();
  }

  /** Installs one handed-over half-open handshake in this CPU's syncache: true, or why not. */
  private installSyn(v: HandoverSyn, after: (() => void)[]): true | string {
    const host = this.r.tcp.ensureHost();
    const me = this.r.me;
    const x = v.e;
    const rec = host.listener(v.listener);
    if (!rec || !rec.ls.listening) return `no listener ${v.listener} on cpu ${me}`;
    const e: TcpSynEntry = { ...x, laddr: x.laddr >>> 0, faddr: x.faddr >>> 0, irs: x.irs >>> 0, iss: x.iss >>> 0, tsRecent: x.tsRecent >>> 0 };
    if (host.pcb.pcbinfo[me].lookupConn(e.faddr, e.fport, e.laddr, e.lport)) return `${e.faddr}:${e.fport} → ${e.laddr}:${e.lport} is connected on cpu ${me}`;
    const hash = host.hashOf(e.faddr, e.fport, e.laddr, e.lport);
    const req = { faddr: e.faddr, fport: e.fport, laddr: e.laddr, lport: e.lport, hash, listener: rec.ls, iss: e.iss, irs: e.irs, wnd: v.wnd, opts: e };
    const { entry } = this.r.claim(hash, () => host.syncaches[me].add(req, host.now()));
    entry.rxtused = e.rxtUsed;
    after.push(() => this.r.grace.release(tupleKey(e.laddr, e.lport, e.faddr, e.fport)));
    return true;
  }

  /** Installs one handed-over connection on this CPU; returns its new socket id. */
  private install(from: number, c: HandoverConn, after: (() => void)[]): number {
    const r = this.r;
    const tcp = r.tcp;
    const host = tcp.ensureHost();
    const st = c.s;
    const me = r.me;
    if (host.pcb.pcbinfo[me].lookupConn(st.faddr, st.fport, st.laddr, st.lport)) throw new InpcbAddrInUseError(st.laddr, st.lport, st.faddr, st.fport);
    const hash = host.hashOf(st.faddr, st.fport, st.laddr, st.lport);
    const inp = r.claim(hash, () => host.pcb.allocConnected(me, st.laddr, st.lport, st.faddr, st.fport));
    const so = new So(me, inp);
    let tp: TcpCb;
    try {
      tp = tcpHandoverImport(host.cpu(me).engine, st, host.now(), so);
    } catch (err) {
      host.pcb.detach(inp);
      throw err;
    }
    inp.ppcb = tp;
    so.tp = tp;
    const id = host.idOf(so);
    const rec = c.listener !== null ? host.listener(c.listener) : undefined;
    let orphan = c.orphan;
    if (rec) soqinsque(rec.ls, inp);
    else if (c.owner !== null) {
      const o = tcp.usrreq.remoteOwner(c.owner);
      if (o) so.owner = o;
      else orphan = true;
    } else if (c.listener !== null) orphan = true; // its listener closed meanwhile
    if (c.pend) tcp.usrreq.putPending(so, c.pend);
    r.chase.adopt(from, c.oldId, so, id, !!so.owner && c.oldId !== 0);
    const owner = r.netisr.ownerOf(hash);
    if (owner !== me) r.home.register(inp, owner);
    const key = tupleKey(st.laddr, st.lport, st.faddr, st.fport);
    after.push(() => {
      const now = host.now();
      const eng = host.cpu(me).engine;
      if (orphan && tp.t_state !== TcpState.CLOSED) {
        // Nobody holds it any more (a program of the CPU that left): close it as exit(2) would.
        try {
          eng.close(tp, now);
        } catch {
          tcpHandoverResume(tp, now);
        }
      } else tcpHandoverResume(tp, now);
      if (rec) host.acceptable(rec.ls, me);
      else if (so.owner && tp.rcvCc > 0) so.owner.soEvent(so, SoEvent.READABLE, null);
      if (c.pend) tcp.usrreq.flushPendingSend(so);
      r.grace.release(key);
    });
    return id;
  }
}

/** Splits a CPU's share into requests of at most BATCH_BYTES (estimated) and BATCH_CONNS. */
function* batches(list: Frozen[]): Generator<Frozen[]> {
  let cur: Frozen[] = [];
  let bytes = 0;
  for (const f of list) {
    const s = f.conn.s;
    const n = 1024 + (s.snd?.length ?? 0) + (s.rcv?.length ?? 0) + (f.conn.pend?.chunks.reduce((k, c) => k + c.length, 0) ?? 0);
    if (cur.length > 0 && (bytes + n > BATCH_BYTES || cur.length >= BATCH_CONNS)) {
      yield cur;
      cur = [];
      bytes = 0;
    }
    cur.push(f);
    bytes += n;
  }
  if (cur.length > 0) yield cur;
}

