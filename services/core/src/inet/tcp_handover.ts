/**
 * Moving a TCB from one CPU's engine to another's (the "INPCB hand-over" netmsg of
 * DESIGN.md §3, used when a CPU leaves the cluster). DragonFly never does this — its CPU
 * count is fixed at boot — but a connection there already changes threads once: a
 * migrating connect() (`TCP_STATE_MIGRATE_START`, tcp_usrreq.c) is unlinked from one
 * CPU's tcbinfo and linked on another's. Here the whole TCB moves, so its state must be
 * expressed without references to the first engine:
 *
 *   - every numeric field of the TCB is copied by name (sequence space, windows,
 *     congestion state, RTT estimator, negotiated options, flags, state);
 *   - engine times (timer deadlines, last receive time, the RTT sample's send time,
 *     ts_recent's age) become offsets from the exporting engine's `now` and are rebased on
 *     the importing engine's clock;
 *   - the RFC 7323 timestamp clock must not step back (the peer would PAWS-drop every
 *     later segment), so the importer picks `ts_offset` so that its TSval continues from
 *     the exporter's value at export time;
 *   - send buffer, receive buffer, reassembly queue and SACK scoreboard are copied as bytes.
 *
 * `tcpHandoverExport` reads; `tcpHandoverRelease` takes the TCB out of its engine without
 * a segment or an event (the connection lives on elsewhere); `tcpHandoverImport` builds
 * the TCB on the new engine with its timers armed; `tcpHandoverResume` sends what the
 * window allows at once. Pure: no I/O. Limits: both engines must run the same TcpConfig
 * (MSS, buffer sizes are per connection and travel; timer constants do not).
 */
import { TcpState, TF, TIMER_OFF, TcpCb, type TcpErrno } from "./tcp_var.js";
import type { TcpEngine } from "./tcp_engine.js";
import { SockBuf } from "./tcp_sockbuf.js";
import { TcpReassQueue } from "./tcp_reass.js";
import { tcpOutput } from "./tcp_output.js";

/** Fields not copied by name: set by the constructor, engine-bound, or rebased below. */
const NOT_COPIED: ReadonlySet<string> = new Set([
  "lport",
  "fport",
  "inp_laddr",
  "inp_faddr",
  "t_tkey",
  "t_tidx",
  "t_rcvtime",
  "ts_recent_age",
  "ts_offset",
  "t_rtttime",
  "tt_rexmt",
  "tt_delack",
  "tt_keep",
  "tt_2msl",
]);

/** Engine-time fields carried as offsets from the exporter's `now` (null: not running / none). */
export interface TcpHandoverTimes {
  rcvtime: number;
  tsRecentAge: number;
  rtttime: number | null;
  rexmt: number | null;
  delack: number | null;
  keep: number | null;
  twomsl: number | null;
}

/** One TCB, independent of any engine (JSON-safe apart from the byte arrays). */
export interface TcpHandoverState {
  v: 1;
  laddr: number;
  lport: number;
  faddr: number;
  fport: number;
  /** Numeric TCB fields by name. */
  f: Record<string, number>;
  t: TcpHandoverTimes;
  /** The exporter's TSval at export time (`now + ts_offset`). */
  tsNow: number;
  err: TcpErrno | null;
  snd: Uint8Array | null;
  rcv: Uint8Array | null;
  reass: { seq: number; data: Uint8Array; fin: boolean }[] | null;
  reassLast: number;
  scb: number[] | null;
}

/** A state that cannot be imported (wrong version, a field of the wrong type). */
export class TcpHandoverStateError extends Error {
  override readonly name = "TcpHandoverStateError";
  constructor(readonly field: string) {
    super(`TCP hand-over state: bad ${field}`);
  }
}

const off = (v: number, now: number): number | null => (v === TIMER_OFF ? null : v - now);

/** The state of `tp` on its engine at `now` (caller's clock). Does not change `tp`. */
export function tcpHandoverExport(tp: TcpCb, now: number): TcpHandoverState {
  const e = tp.engine;
  e.setNow(now);
  const n = e.now;
  const f: Record<string, number> = {};
  const rec = tp as unknown as Record<string, unknown>;
  for (const k of Object.keys(rec)) {
    const v = rec[k];
    if (typeof v === "number" && !NOT_COPIED.has(k)) f[k] = v;
  }
  return {
    v: 1,
    laddr: tp.laddr,
    lport: tp.lport,
    faddr: tp.faddr,
    fport: tp.fport,
    f,
    t: {
      rcvtime: tp.t_rcvtime - n,
      tsRecentAge: tp.ts_recent_age - n,
      rtttime: tp.t_rtttime < 0 ? null : tp.t_rtttime - n,
      rexmt: off(tp.tt_rexmt, n),
      delack: off(tp.tt_delack, n),
      keep: off(tp.tt_keep, n),
      twomsl: off(tp.tt_2msl, n),
    },
    tsNow: (n + tp.ts_offset) | 0,
    err: tp.t_error,
    snd: tp.snd_sb && tp.snd_sb.cc > 0 ? tp.snd_sb.peek(0, tp.snd_sb.cc).slice() : null,
    rcv: tp.rcv_sb && tp.rcv_sb.cc > 0 ? tp.rcv_sb.peek(0, tp.rcv_sb.cc).slice() : null,
    reass: tp.t_reass && tp.t_reass.segs.length > 0 ? tp.t_reass.segs.map((s) => ({ seq: s.seq, data: s.data.slice(), fin: s.fin })) : null,
    reassLast: tp.t_reass ? tp.t_reass.lastSeq : 0,
    scb: tp.t_scb ? [...tp.t_scb] : null,
  };
}

/**
 * Takes `tp` out of its engine for good without a segment or an event: timers off,
 * buffers dropped, state CLOSED with the CLOSED event marked as already reported (the
 * connection goes on elsewhere; the caller unlinks the PCB).
 */
export function tcpHandoverRelease(tp: TcpCb): void {
  tp.tt_rexmt = tp.tt_delack = tp.tt_keep = tp.tt_2msl = TIMER_OFF;
  tp.engine.timers.remove(tp);
  tp.t_state = TcpState.CLOSED;
  tp.t_flags |= TF.CLOSEDEVENT | TF.CANTSENDMORE | TF.CANTRCVMORE;
  tp.snd_sb = null;
  tp.rcv_sb = null;
  tp.t_reass = null;
  tp.t_scb = null;
}

function num(v: unknown, field: string): number {
  if (typeof v !== "number" || !Number.isFinite(v)) throw new TcpHandoverStateError(field);
  return v;
}

/**
 * Builds the TCB of `s` on engine `e` at `now` (caller's clock), holding `so` (the socket
 * layer's handle), with its timers armed on `e`. Unknown fields are ignored (an exporter
 * with more fields); missing ones keep the constructor's values.
 */
export function tcpHandoverImport(e: TcpEngine, s: TcpHandoverState, now: number, so: unknown = null): TcpCb {
  if (s.v !== 1) throw new TcpHandoverStateError("version");
  e.setNow(now);
  const n = e.now;
  const tp = new TcpCb(e, num(s.laddr, "laddr") >>> 0, num(s.lport, "lport"), num(s.faddr, "faddr") >>> 0, num(s.fport, "fport"));
  const rec = tp as unknown as Record<string, unknown>;
  if (typeof s.f !== "object" || s.f === null) throw new TcpHandoverStateError("f");
  for (const [k, v] of Object.entries(s.f)) {
    if (NOT_COPIED.has(k) || typeof rec[k] !== "number") continue;
    rec[k] = num(v, k);
  }
  const t = s.t;
  if (typeof t !== "object" || t === null) throw new TcpHandoverStateError("t");
  tp.t_rcvtime = n + num(t.rcvtime, "t.rcvtime");
  tp.ts_recent_age = n + num(t.tsRecentAge, "t.tsRecentAge");
  const rtt = t.rtttime === null ? -1 : n + num(t.rtttime, "t.rtttime");
  tp.t_rtttime = rtt < 0 ? -1 : rtt;
  // A deadline already passed fires on the next advance(); never TIMER_OFF by accident.
  const at = (v: number | null, field: string) => (v === null ? TIMER_OFF : Math.max(n, n + num(v, field)));
  tp.tt_rexmt = at(t.rexmt, "t.rexmt");
  tp.tt_delack = at(t.delack, "t.delack");
  tp.tt_keep = at(t.keep, "t.keep");
  tp.tt_2msl = at(t.twomsl, "t.twomsl");
  tp.ts_offset = (num(s.tsNow, "tsNow") - n) | 0;
  tp.t_error = s.err ?? null;
  if (s.snd && s.snd.length > 0) {
    tp.snd_sb = new SockBuf();
    tp.snd_sb.append(s.snd);
  }
  if (s.rcv && s.rcv.length > 0) {
    tp.rcv_sb = new SockBuf();
    tp.rcv_sb.append(s.rcv);
  }
  if (s.reass && s.reass.length > 0) {
    const q = new TcpReassQueue();
    for (const g of s.reass) {
      q.segs.push({ seq: num(g.seq, "reass.seq") | 0, data: g.data.slice(), fin: g.fin === true });
      q.bytes += g.data.length;
    }
    q.lastSeq = num(s.reassLast, "reassLast") | 0;
    tp.t_reass = q;
  }
  tp.t_scb = s.scb ? s.scb.map((x) => num(x, "scb") | 0) : null;
  // Queued for output on the exporter's engine (exported inside an engine call): not here.
  tp.t_flags &= ~TF.ONOUTPUTQ;
  tp.so = so;
  let first = TIMER_OFF;
  for (const d of [tp.tt_rexmt, tp.tt_delack, tp.tt_keep, tp.tt_2msl]) if (d !== TIMER_OFF && (first === TIMER_OFF || d < first)) first = d;
  if (first !== TIMER_OFF) e.timers.schedule(tp, first);
  return tp;
}

/** After an import: send what the windows allow now (queued data, a pending ACK or FIN). */
export function tcpHandoverResume(tp: TcpCb, now: number): void {
  const e = tp.engine;
  if (tp.t_state === TcpState.CLOSED || tp.t_state === TcpState.TIME_WAIT) return;
  e.enter(now);
  try {
    tcpOutput(tp);
  } finally {
    e.leave();
  }
}
