/** The live-rescale netmsgs' binary codecs (layouts in the README); decoders never throw and allocate no more than the length allows. */
import type { TcpErrno, TcpHandoverState, TcpSynEntry } from "@dfly/core";
import { RescaleNetmsg } from "@dfly/wire";

export { RescaleNetmsg };

/** A connection's 4-tuple as the home netmsg carries it: [laddr, lport, faddr, fport]. */
export type Tuple = [number, number, number, number];

export interface HomeMsg {
  from: number;
  add: Tuple[];
  forget: Tuple[];
}

/** Bytes a remote program sent that were not in the send buffer yet. */
export interface PendingSendState {
  chunks: Uint8Array[];
  shutdown: boolean;
  close: boolean;
}

/** One connection of a hand-over request. */
export interface HandoverConn {
  s: TcpHandoverState;
  /** The remote owner's name; null: nobody holds it. */
  owner: string | null;
  /** Held by a program of the leaving CPU's thread: closed on arrival. */
  orphan: boolean;
  listener: string | null;
  oldId: number;
  pend: PendingSendState | undefined;
}

/** One half-open handshake (syncache entry) of a hand-over request. */
export interface HandoverSyn {
  /** The negotiated parameters (`rxtUsed` = the SYN|ACK time spent so far). */
  e: TcpSynEntry;
  /** Receive window offered in the SYN|ACK. */
  wnd: number;
  /** The listener the completed connection is queued on (its id, the same on every CPU). */
  listener: string;
}

export interface HandoverMsg {
  from: number;
  conns: HandoverConn[];
  syn: HandoverSyn[];
}

const HDR = 4;
const TUPLE = 12;
const NULL16 = 0xffff;
const NULL32 = 0xffffffff;
const utf8 = new TextEncoder();
const utf8d = new TextDecoder();

/** Appends little-endian fields to a growing buffer. */
class Writer {
  buf = new Uint8Array(256);
  dv = new DataView(this.buf.buffer);
  n = 0;
  private room(k: number): void {
    if (this.n + k <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.n + k) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.buf.subarray(0, this.n));
    this.buf = b;
    this.dv = new DataView(b.buffer);
  }
  u8(v: number): void {
    this.room(1);
    this.buf[this.n++] = v;
  }
  u16(v: number): void {
    this.room(2);
    this.dv.setUint16(this.n, v, true);
    this.n += 2;
  }
  u32(v: number): void {
    this.room(4);
    this.dv.setUint32(this.n, v >>> 0, true);
    this.n += 4;
  }
  f64(v: number): void {
    this.room(8);
    this.dv.setFloat64(this.n, v, true);
    this.n += 8;
  }
  bytes(b: Uint8Array | null): void {
    if (b === null) return this.u32(NULL32);
    this.u32(b.length);
    this.room(b.length);
    this.buf.set(b, this.n);
    this.n += b.length;
  }
  str(s: string | null): void {
    if (s === null) return this.u16(NULL16);
    const b = utf8.encode(s);
    this.u16(b.length);
    this.room(b.length);
    this.buf.set(b, this.n);
    this.n += b.length;
  }
  done(): Uint8Array {
    return this.buf.subarray(0, this.n);
  }
}

/** Reads little-endian fields; past the end it reads zeros and sets `bad`. */
class Reader {
  private readonly dv: DataView;
  bad = false;
  constructor(
    private readonly b: Uint8Array,
    public at: number,
  ) {
    this.dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
  get left(): number {
    return this.b.length - this.at;
  }
  private take(k: number): number {
    if (this.bad || this.at + k > this.b.length) {
      this.bad = true;
      return -1;
    }
    const o = this.at;
    this.at += k;
    return o;
  }
  u8(): number {
    const o = this.take(1);
    return o < 0 ? 0 : this.b[o];
  }
  u16(): number {
    const o = this.take(2);
    return o < 0 ? 0 : this.dv.getUint16(o, true);
  }
  u32(): number {
    const o = this.take(4);
    return o < 0 ? 0 : this.dv.getUint32(o, true);
  }
  f64(): number {
    const o = this.take(8);
    const v = o < 0 ? 0 : this.dv.getFloat64(o, true);
    if (!Number.isFinite(v)) this.bad = true;
    return v;
  }
  /** A byte string (copied), or null. */
  bytes(): Uint8Array | null {
    const k = this.u32();
    if (k === NULL32) return null;
    const o = this.take(k);
    return o < 0 ? null : this.b.slice(o, o + k);
  }
  str(): string | null {
    const k = this.u16();
    if (k === NULL16) return null;
    const o = this.take(k);
    return o < 0 ? null : utf8d.decode(this.b.subarray(o, o + k));
  }
  /** A count of items of at least `min` bytes each, or -1 when the rest cannot hold them. */
  count(min: number, nullable = false): number {
    const k = this.u32();
    if (nullable && k === NULL32) return -1;
    if (k * min > this.left) {
      this.bad = true;
      return 0;
    }
    return k;
  }
}

function header(w: Writer, type: RescaleNetmsg): void {
  w.u32(type);
}

export function encodeHome(m: HomeMsg): Uint8Array {
  const w = new Writer();
  header(w, RescaleNetmsg.home);
  w.u32(m.from);
  w.u32(m.add.length);
  w.u32(m.forget.length);
  for (const l of [m.add, m.forget]) {
    for (const [laddr, lport, faddr, fport] of l) {
      w.u32(laddr);
      w.u32(faddr);
      w.u16(lport);
      w.u16(fport);
    }
  }
  return w.done().slice();
}

export function decodeHome(d: Uint8Array): HomeMsg | undefined {
  if (d.length < HDR + 12 || d[0] !== RescaleNetmsg.home) return undefined;
  const r = new Reader(d, HDR);
  const from = r.u32();
  const na = r.u32();
  const nf = r.u32();
  if ((na + nf) * TUPLE !== r.left) return undefined;
  const tuples = (k: number): Tuple[] => {
    const out: Tuple[] = new Array<Tuple>(k);
    for (let i = 0; i < k; i++) {
      const laddr = r.u32();
      const faddr = r.u32();
      out[i] = [laddr, r.u16(), faddr, r.u16()];
    }
    return out;
  };
  const add = tuples(na);
  const forget = tuples(nf);
  return r.bad ? undefined : { from, add, forget };
}

export function encodeLeaving(cpu: number): Uint8Array {
  const w = new Writer();
  header(w, RescaleNetmsg.leaving);
  w.u32(cpu);
  return w.done().slice();
}

export function decodeLeaving(d: Uint8Array): number | undefined {
  return d.length === HDR + 4 && d[0] === RescaleNetmsg.leaving ? new Reader(d, HDR).u32() : undefined;
}

// ---- chase and segments (a header in front of a message or a frame batch) ----

/** `[type][0 0 0][u32 a][u32 b]…`: the chase header (from, old socket id) in front of `inner`. */
export function encodeChase(from: number, oldId: number, inner: Uint8Array): Uint8Array {
  const d = new Uint8Array(12 + inner.length);
  d[0] = RescaleNetmsg.chase;
  const dv = new DataView(d.buffer);
  dv.setUint32(4, from >>> 0, true);
  dv.setUint32(8, oldId >>> 0, true);
  d.set(inner, 12);
  return d;
}

export function decodeChase(d: Uint8Array): { from: number; oldId: number; inner: Uint8Array } | undefined {
  if (d.length < 13 || d[0] !== RescaleNetmsg.chase) return undefined;
  const r = new Reader(d, HDR);
  return { from: r.u32(), oldId: r.u32(), inner: d.subarray(12) };
}

/** The segments netmsg around a frame batch. */
export function encodeSegments(from: number, batch: Uint8Array): Uint8Array {
  const d = new Uint8Array(8 + batch.length);
  d[0] = RescaleNetmsg.segments;
  new DataView(d.buffer).setUint32(4, from >>> 0, true);
  d.set(batch, 8);
  return d;
}

const TIMES = ["rtttime", "rexmt", "delack", "keep", "twomsl"] as const;
const SYN_NUMBERS = ["laddr", "lport", "faddr", "fport", "irs", "iss", "peerMss", "mss", "peerWscale", "rcvWscale", "tsRecent", "peerWindow", "rxtUsed"] as const;

function writeState(w: Writer, s: TcpHandoverState): void {
  w.u8(s.v);
  w.u32(s.laddr);
  w.u16(s.lport);
  w.u32(s.faddr);
  w.u16(s.fport);
  const keys = Object.keys(s.f);
  w.u16(keys.length);
  for (const k of keys) {
    w.str(k);
    w.f64(s.f[k]);
  }
  w.f64(s.t.rcvtime);
  w.f64(s.t.tsRecentAge);
  let mask = 0;
  TIMES.forEach((k, i) => {
    if (s.t[k] !== null) mask |= 1 << i;
  });
  w.u8(mask);
  for (const k of TIMES) if (s.t[k] !== null) w.f64(s.t[k]);
  w.f64(s.tsNow);
  w.str(s.err);
  w.bytes(s.snd);
  w.bytes(s.rcv);
  if (s.reass === null) w.u32(NULL32);
  else {
    w.u32(s.reass.length);
    for (const g of s.reass) {
      w.u32(g.seq);
      w.u8(g.fin ? 1 : 0);
      w.bytes(g.data);
    }
  }
  w.f64(s.reassLast);
  if (s.scb === null) w.u32(NULL32);
  else {
    w.u32(s.scb.length);
    for (const v of s.scb) w.f64(v);
  }
}

function readState(r: Reader): TcpHandoverState | undefined {
  const v = r.u8();
  const laddr = r.u32();
  const lport = r.u16();
  const faddr = r.u32();
  const fport = r.u16();
  const nf = r.u16();
  if (nf * 11 > r.left) return undefined;
  const f: Record<string, number> = {};
  for (let i = 0; i < nf && !r.bad; i++) {
    const k = r.str();
    const x = r.f64();
    if (k === null || k === "__proto__") return undefined;
    f[k] = x;
  }
  const rcvtime = r.f64();
  const tsRecentAge = r.f64();
  const mask = r.u8();
  const opt = TIMES.map((_, i) => (mask & (1 << i) ? r.f64() : null));
  const tsNow = r.f64();
  const err = r.str() as TcpErrno | null;
  const snd = r.bytes();
  const rcv = r.bytes();
  const nr = r.count(9, true);
  let reass: TcpHandoverState["reass"] = null;
  if (nr >= 0) {
    reass = [];
    for (let i = 0; i < nr && !r.bad; i++) {
      const seq = r.u32();
      const fin = r.u8() === 1;
      reass.push({ seq, fin, data: r.bytes() ?? new Uint8Array(0) });
    }
  }
  const reassLast = r.f64();
  const ns = r.count(8, true);
  let scb: number[] | null = null;
  if (ns >= 0) {
    scb = [];
    for (let i = 0; i < ns && !r.bad; i++) scb.push(r.f64());
  }
  if (r.bad || v !== 1) return undefined;
  const [rtttime, rexmt, delack, keep, twomsl] = opt;
  return { v: 1, laddr, lport, faddr, fport, f, t: { rcvtime, tsRecentAge, rtttime, rexmt, delack, keep, twomsl }, tsNow, err, snd, rcv, reass, reassLast, scb };
}

function writeConn(w: Writer, c: HandoverConn): void {
  writeState(w, c.s);
  w.str(c.owner);
  w.u8(c.orphan ? 1 : 0);
  w.str(c.listener);
  w.u32(c.oldId);
  if (!c.pend) return w.u8(0);
  w.u8(1 | (c.pend.shutdown ? 2 : 0) | (c.pend.close ? 4 : 0));
  w.u32(c.pend.chunks.length);
  for (const b of c.pend.chunks) w.bytes(b);
}

function readConn(r: Reader): HandoverConn | undefined {
  const s = readState(r);
  const owner = r.str();
  const orphan = r.u8() === 1;
  const listener = r.str();
  const oldId = r.u32();
  const p = r.u8();
  let pend: PendingSendState | undefined;
  if (p & 1) {
    const k = r.count(4);
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < k && !r.bad; i++) chunks.push(r.bytes() ?? new Uint8Array(0));
    pend = { chunks, shutdown: (p & 2) !== 0, close: (p & 4) !== 0 };
  }
  return s && !r.bad ? { s, owner, orphan, listener, oldId, pend } : undefined;
}

function writeSyn(w: Writer, s: HandoverSyn): void {
  for (const k of SYN_NUMBERS) w.f64(s.e[k]);
  w.u8((s.e.sackOk ? 1 : 0) | (s.e.tsOk ? 2 : 0) | (s.e.ecnOk ? 4 : 0));
  w.f64(s.wnd);
  w.str(s.listener);
}

function readSyn(r: Reader): HandoverSyn | undefined {
  const e = {} as Record<string, number | boolean>;
  for (const k of SYN_NUMBERS) e[k] = r.f64();
  const fl = r.u8();
  e.sackOk = (fl & 1) !== 0;
  e.tsOk = (fl & 2) !== 0;
  if (fl & 4) e.ecnOk = true; // optional in TcpSynEntry: absent means no ECN
  const wnd = r.f64();
  const listener = r.str();
  return r.bad || listener === null ? undefined : { e: e as unknown as TcpSynEntry, wnd, listener };
}

export function encodeHandover(m: HandoverMsg): Uint8Array {
  const w = new Writer();
  header(w, RescaleNetmsg.handover);
  w.u32(m.from);
  w.u32(m.conns.length);
  w.u32(m.syn.length);
  for (const c of m.conns) writeConn(w, c);
  for (const s of m.syn) writeSyn(w, s);
  return w.done().slice();
}

/** Smallest encoding of a connection / a syncache entry (bounds the counts before allocation). */
const CONN_MIN = 64;
const SYN_MIN = SYN_NUMBERS.length * 8 + 11;

export function decodeHandover(d: Uint8Array): HandoverMsg | undefined {
  if (d.length < HDR + 12 || d[0] !== RescaleNetmsg.handover) return undefined;
  const r = new Reader(d, HDR);
  const from = r.u32();
  const nc = r.u32();
  const ns = r.u32();
  if (nc * CONN_MIN + ns * SYN_MIN > r.left) return undefined;
  const conns: HandoverConn[] = [];
  for (let i = 0; i < nc; i++) {
    const c = readConn(r);
    if (!c) return undefined;
    conns.push(c);
  }
  const syn: HandoverSyn[] = [];
  for (let i = 0; i < ns; i++) {
    const s = readSyn(r);
    if (!s) return undefined;
    syn.push(s);
  }
  return r.bad || r.left !== 0 ? undefined : { from, conns, syn };
}
