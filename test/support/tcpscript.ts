/**
 * A small packetdrill-like harness for the TCP engine: the script plays the remote
 * peer, injects segments at chosen times and asserts what the stack under test
 * sends back, and when.
 *
 * Sequence numbers in scripts are relative, as in packetdrill: what the script
 * injects is relative to the peer's ISN (`peerIsn`) for `seq` and to the stack's ISN
 * for `ack`; what the stack sends is checked relative to its own ISN (learned from
 * its first SYN or SYN|ACK) for `seq` and to the peer's ISN for `ack`.
 *
 * Every segment crosses a real wire in both directions: it is built into an IPv4
 * frame with `buildTcpPacket` (checksums and all) and parsed back with
 * `tcpSegFromFrame`, so the engine never sees anything the codec could not carry.
 */
import {
  buildTcpPacket, ipAddr, TcpEngine, tcpSegFromFrame, TcpFlags,
  type TcpCb, type TcpConfig, type TcpConnOptions, type TcpErrno, type TcpEvent, type TcpInputStatus,
  type TcpOptions, type TcpSeg,
} from "@dfly/core";

/** "S", "S.", ".", "P.", "F.", "FP.", "R", "R." — S SYN, F FIN, P PSH, R RST, "." ACK; E ECE, W CWR. */
export type FlagSpec = string;

export function parseFlags(f: FlagSpec): number {
  let v = 0;
  for (const c of f) {
    switch (c) {
      case "S": v |= TcpFlags.SYN; break;
      case "F": v |= TcpFlags.FIN; break;
      case "P": v |= TcpFlags.PSH; break;
      case "R": v |= TcpFlags.RST; break;
      case ".": v |= TcpFlags.ACK; break;
      case "U": v |= TcpFlags.URG; break;
      case "E": v |= TcpFlags.ECE; break;
      case "W": v |= TcpFlags.CWR; break;
      default: throw new Error(`unknown flag '${c}' in "${f}"`);
    }
  }
  return v;
}

export function flagString(v: number): string {
  let s = "";
  if (v & TcpFlags.SYN) s += "S";
  if (v & TcpFlags.FIN) s += "F";
  if (v & TcpFlags.PSH) s += "P";
  if (v & TcpFlags.RST) s += "R";
  if (v & TcpFlags.URG) s += "U";
  if (v & TcpFlags.ECE) s += "E";
  if (v & TcpFlags.CWR) s += "W";
  if (v & TcpFlags.ACK) s += ".";
  return s;
}

export interface InjectSpec {
  flags: FlagSpec;
  /** Relative to peerIsn (default: the peer's next sequence number). */
  seq?: number;
  /** Relative to the stack's ISN (default: what the stack sent so far, i.e. snd_max). */
  ack?: number;
  /** Window field as carried (default 65535). */
  win?: number;
  mss?: number;
  ws?: number;
  sackOk?: boolean;
  /** [TSval, TSecr] as absolute values; "echo" = [1000 + script time, last stack TSval]. */
  ts?: [number, number] | "echo";
  /** SACK blocks relative to the stack's ISN. */
  sack?: [number, number][];
  /** Payload bytes, or a length (filled with a counter pattern from the seq). */
  data?: Uint8Array | number;
  /** Skip the relative translation of seq/ack (raw wire values). */
  raw?: boolean;
  /** IP TOS byte (its low two bits are the ECN field; 3 = CE). */
  tos?: number;
}

export interface ExpectSpec {
  flags?: FlagSpec;
  /** Relative to the stack's ISN. */
  seq?: number;
  /** Relative to the peer's ISN. */
  ack?: number;
  win?: number;
  /** Payload length. */
  len?: number;
  /** When the stack sent it (ms, the script clock). */
  at?: number;
  mss?: number;
  ws?: number | null;
  sackOk?: boolean;
  /** SACK blocks relative to the peer's ISN; [] = no SACK option. */
  sack?: [number, number][];
  /** TSecr must equal this absolute value. */
  tsecr?: number;
  raw?: boolean;
  /** IP TOS byte. */
  tos?: number;
}

export interface SentSeg {
  t: number;
  seg: TcpSeg;
}

export interface ScriptOptions {
  config?: Partial<TcpConfig>;
  /** Stack address/port (default 192.0.2.1:8080). */
  local?: string;
  lport?: number;
  /** Peer address/port (default 198.51.100.2:40000). */
  remote?: string;
  rport?: number;
  /** Peer ISN (default 1_000_000). */
  peerIsn?: number;
  tsSecret?: number;
  issSecret?: number;
}

/** Deterministic payload: byte i of the stream at relative offset o is (o + i) & 0xff. */
export function pattern(offset: number, len: number): Uint8Array {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = (offset + i) & 0xff;
  return b;
}

export class TcpScript {
  readonly engine: TcpEngine;
  readonly laddr: number;
  readonly faddr: number;
  readonly lport: number;
  readonly fport: number;
  readonly peerIsn: number;
  /** Stack's ISN (unsigned), known after its first SYN. */
  localIsn: number | null = null;
  /** The connection under test. */
  tp: TcpCb | null = null;
  /** Segments the stack sent that the script has not examined yet. */
  readonly out: SentSeg[] = [];
  /** Every segment the stack sent. */
  readonly sent: SentSeg[] = [];
  readonly events: { t: number; ev: TcpEvent; err: TcpErrno | null; tp: TcpCb }[] = [];
  /** Input results, in order. */
  readonly results: TcpInputStatus[] = [];
  now = 0;
  /** The peer's next sequence number (relative) — moved by injected SYN/data/FIN. */
  peerNxt = 0;
  lastTsVal = 0;
  private listening: TcpConnOptions | null = null;
  /** TIME_WAIT reuse: new passive connections replace `tp`. */
  readonly passive: TcpCb[] = [];

  constructor(o: ScriptOptions = {}) {
    this.laddr = ipAddr(o.local ?? "192.0.2.1");
    this.faddr = ipAddr(o.remote ?? "198.51.100.2");
    this.lport = o.lport ?? 8080;
    this.fport = o.rport ?? 40000;
    this.peerIsn = (o.peerIsn ?? 1_000_000) >>> 0;
    this.engine = new TcpEngine({
      cpu: 0,
      config: o.config,
      now: 0,
      tsSecret: o.tsSecret ?? 0x1234,
      issSecret: o.issSecret ?? 0x5678,
      output: (seg) => this.onOutput(seg),
      onEvent: (tp, ev, err) => this.events.push({ t: this.engine.clock(), ev, err, tp }),
    });
  }

  private onOutput(seg: TcpSeg): void {
    // Across the wire and back: real bytes with checksums.
    const frame = buildTcpPacket(seg);
    const r = tcpSegFromFrame(frame);
    if (!r.ok) throw new Error(`stack sent a segment the codec rejects: ${r.layer}/${r.reason}`);
    const s = r.seg;
    s.payload = s.payload.slice();
    if (this.localIsn === null && s.flags & TcpFlags.SYN) this.localIsn = s.seq >>> 0;
    if (s.options?.timestamp) this.lastTsVal = s.options.timestamp.val;
    const e = { t: this.engine.clock(), seg: s };
    this.out.push(e);
    this.sent.push(e);
  }

  /** The stack listens on lport (LISTEN processing without a syncache). */
  listen(opts: TcpConnOptions = {}): this {
    this.listening = opts;
    return this;
  }

  /** Active open from the stack at the current time. */
  connect(opts: TcpConnOptions = {}): TcpCb {
    this.tp = this.engine.connect(this.laddr, this.lport, this.faddr, this.fport, this.now, opts);
    return this.tp;
  }

  /** Moves the clock to `t`, firing due timers at their deadlines. */
  at(t: number): this {
    if (t < this.now) throw new Error(`time goes backwards: ${t} < ${this.now}`);
    this.engine.advance(t);
    this.now = t;
    return this;
  }

  /** Advances by `dt`. */
  wait(dt: number): this {
    return this.at(this.now + dt);
  }

  /** Builds (but does not send) the segment a spec describes. */
  build(spec: InjectSpec): TcpSeg {
    const flags = parseFlags(spec.flags);
    const rel = !spec.raw;
    const seqRel = spec.seq ?? this.peerNxt;
    const seq = rel ? (this.peerIsn + seqRel) >>> 0 : seqRel >>> 0;
    let ack = 0;
    if (flags & TcpFlags.ACK) {
      if (spec.ack !== undefined) ack = rel ? ((this.localIsn ?? 0) + spec.ack) >>> 0 : spec.ack >>> 0;
      else ack = this.tp ? this.tp.snd_max >>> 0 : 0;
    }
    let payload: Uint8Array;
    if (spec.data instanceof Uint8Array) payload = spec.data;
    else if (typeof spec.data === "number") payload = pattern(seqRel - 1, spec.data);
    else payload = new Uint8Array(0);
    const o: TcpOptions = {};
    let anyOpt = false;
    if (spec.mss !== undefined) { o.mss = spec.mss; anyOpt = true; }
    if (spec.ws !== undefined) { o.wscale = spec.ws; anyOpt = true; }
    if (spec.sackOk) { o.sackPermitted = true; anyOpt = true; }
    if (spec.ts) {
      o.timestamp = spec.ts === "echo" ? { val: (this.now + 1000) >>> 0, ecr: this.lastTsVal >>> 0 } : { val: spec.ts[0] >>> 0, ecr: spec.ts[1] >>> 0 };
      anyOpt = true;
    }
    if (spec.sack) {
      const base = this.localIsn ?? 0;
      o.sack = spec.sack.map(([l, r]) => ({ start: (base + l) >>> 0, end: (base + r) >>> 0 }));
      anyOpt = true;
    }
    const seg: TcpSeg = {
      src: this.faddr, dst: this.laddr, sport: this.fport, dport: this.lport,
      seq, ack, flags, window: spec.win ?? 65535, payload,
    };
    if (spec.tos !== undefined) seg.tos = spec.tos;
    if (anyOpt) seg.options = o;
    return seg;
  }

  /** Injects a segment now (through the wire codec) and returns the engine's verdict. */
  inject(spec: InjectSpec): TcpInputStatus | "listen" {
    const seg = this.build(spec);
    // next expected peer sequence number (relative), for defaults
    if (!spec.raw) {
      const seqRel = spec.seq ?? this.peerNxt;
      let len = seg.payload.length;
      if (seg.flags & TcpFlags.SYN) len++;
      if (seg.flags & TcpFlags.FIN) len++;
      if (((seqRel + len - this.peerNxt) | 0) > 0) this.peerNxt = seqRel + len;
    }
    return this.deliver(seg);
  }

  /** Delivers an already built segment (wire round trip, then demux as an INPCB layer would). */
  deliver(seg: TcpSeg): TcpInputStatus | "listen" {
    const frame = buildTcpPacket(seg);
    const r = tcpSegFromFrame(frame, this.engine.stats);
    if (!r.ok) throw new Error(`script built a bad segment: ${r.reason}`);
    return this.demux(r.seg);
  }

  private demux(seg: TcpSeg): TcpInputStatus | "listen" {
    const tp = this.tp && this.tp.state !== 0 ? this.tp : null;
    if (!tp && this.listening && seg.flags & TcpFlags.SYN && !(seg.flags & TcpFlags.ACK)) {
      const n = this.engine.listenInput(seg, this.now, this.listening);
      if (n) {
        this.tp = n;
        this.passive.push(n);
      }
      return "listen";
    }
    const res = this.engine.input(tp, seg, this.now);
    this.results.push(res);
    if (res === "reuse") {
      this.tp = null;
      return this.demux(seg);
    }
    return res;
  }

  /** Injects raw bytes as a frame (bad checksums etc.); returns the decode verdict. */
  injectFrame(frame: Uint8Array): string {
    const r = tcpSegFromFrame(frame, this.engine.stats);
    if (!r.ok) return r.reason;
    const res = this.demux(r.seg);
    return res;
  }

  /** Next segment the stack sent, checked against `spec`. */
  expect(spec: ExpectSpec = {}): TcpSeg {
    const e = this.out.shift();
    if (!e) throw new Error(`expected a segment ${JSON.stringify(spec)} at ${this.now} ms, the stack sent nothing`);
    const s = e.seg;
    const where = `segment ${this.describe(e)}`;
    const fail = (what: string, want: unknown, got: unknown) => {
      throw new Error(`${where}: ${what} ${String(got)}, expected ${String(want)}`);
    };
    if (spec.flags !== undefined && s.flags !== parseFlags(spec.flags)) fail("flags", spec.flags, flagString(s.flags));
    if (spec.seq !== undefined) {
      const got = spec.raw ? s.seq >>> 0 : this.relLocal(s.seq);
      if (got !== (spec.raw ? spec.seq >>> 0 : spec.seq)) fail("seq", spec.seq, got);
    }
    if (spec.ack !== undefined) {
      const got = spec.raw ? s.ack >>> 0 : this.relPeer(s.ack);
      if (got !== (spec.raw ? spec.ack >>> 0 : spec.ack)) fail("ack", spec.ack, got);
    }
    if (spec.win !== undefined && s.window !== spec.win) fail("win", spec.win, s.window);
    if (spec.len !== undefined && s.payload.length !== spec.len) fail("len", spec.len, s.payload.length);
    if (spec.at !== undefined && e.t !== spec.at) fail("time", spec.at, e.t);
    if (spec.mss !== undefined && s.options?.mss !== spec.mss) fail("mss", spec.mss, s.options?.mss);
    if (spec.ws !== undefined && (s.options?.wscale ?? null) !== spec.ws) fail("wscale", spec.ws, s.options?.wscale);
    if (spec.sackOk !== undefined && !!s.options?.sackPermitted !== spec.sackOk) fail("sackOK", spec.sackOk, !!s.options?.sackPermitted);
    if (spec.tos !== undefined && (s.tos ?? 0) !== spec.tos) fail("tos", spec.tos, s.tos ?? 0);
    if (spec.tsecr !== undefined && s.options?.timestamp?.ecr !== spec.tsecr >>> 0) fail("TSecr", spec.tsecr, s.options?.timestamp?.ecr);
    if (spec.sack !== undefined) {
      const got = (s.options?.sack ?? []).map((b) => [this.relPeer(b.start), this.relPeer(b.end)]);
      if (JSON.stringify(got) !== JSON.stringify(spec.sack)) fail("SACK", JSON.stringify(spec.sack), JSON.stringify(got));
    }
    return s;
  }

  /** Asserts the stack has sent nothing not yet examined. */
  expectNone(): void {
    if (this.out.length) throw new Error(`unexpected segment(s): ${this.out.map((e) => this.describe(e)).join("; ")}`);
  }

  /** Takes every segment not yet examined. */
  drain(): SentSeg[] {
    return this.out.splice(0);
  }

  relLocal(seq: number): number {
    return ((seq >>> 0) - (this.localIsn ?? 0)) | 0;
  }

  relPeer(seq: number): number {
    return ((seq >>> 0) - this.peerIsn) | 0;
  }

  describe(e: SentSeg): string {
    const s = e.seg;
    const o = s.options;
    const opts: string[] = [];
    if (o?.mss !== undefined) opts.push(`mss ${o.mss}`);
    if (o?.wscale !== undefined) opts.push(`wscale ${o.wscale}`);
    if (o?.sackPermitted) opts.push("sackOK");
    if (o?.timestamp) opts.push(`TS val ${o.timestamp.val} ecr ${o.timestamp.ecr}`);
    if (o?.sack) opts.push(`sack ${o.sack.map((b) => `${this.relPeer(b.start)}:${this.relPeer(b.end)}`).join(" ")}`);
    return `${e.t}ms ${flagString(s.flags)} ${this.relLocal(s.seq)}:${this.relLocal(s.seq) + s.payload.length}(${s.payload.length}) ack ${this.relPeer(s.ack)} win ${s.window}${opts.length ? ` <${opts.join(",")}>` : ""}`;
  }

  /** Events of one kind so far. */
  eventsOf(ev: TcpEvent): { t: number; err: TcpErrno | null }[] {
    return this.events.filter((x) => x.ev === ev).map((x) => ({ t: x.t, err: x.err }));
  }

  /** Wire round trip of a script-built segment (checksums verified on the way). */
  private roundTrip(seg: TcpSeg): TcpSeg {
    const r = tcpSegFromFrame(buildTcpPacket(seg));
    if (!r.ok) throw new Error(`script built a bad segment: ${r.reason}`);
    return r.seg;
  }

  /**
   * Passive handshake through the syncache interface (synEntry → sendSynAck →
   * syncacheSocket), as the netisr glue does with tcp_syncache.ts. Returns the SYN|ACK.
   */
  acceptViaSyncache(syn: Partial<InjectSpec> = {}, ack: Partial<InjectSpec> = {}, opts: TcpConnOptions = {}): TcpSeg {
    const synSeg = this.roundTrip(this.build({ flags: "S", seq: 0, win: 65535, mss: 1460, ...syn }));
    this.peerNxt = 1;
    const entry = this.engine.synEntry(synSeg, this.now, opts);
    this.engine.sendSynAck(entry, this.now);
    // SYN|ACK, with ECE when it answers an ECN-setup SYN (RFC 3168 §6.1.1).
    const sa = this.expect({ seq: 0, ack: 1 });
    if ((sa.flags & ~TcpFlags.ECE) !== (TcpFlags.SYN | TcpFlags.ACK)) throw new Error(`expected a SYN|ACK, got ${flagString(sa.flags)}`);
    const ackSeg = this.roundTrip(this.build({ flags: ".", seq: 1, ack: 1, ...ack }));
    const tp = this.engine.syncacheSocket(entry, ackSeg, this.now, opts);
    if (!tp) throw new Error("syncacheSocket refused the handshake ACK");
    this.tp = tp;
    return sa;
  }

  /**
   * Passive handshake helper: peer SYN (with the given options), expects the SYN|ACK,
   * completes with an ACK. Returns the SYN|ACK.
   */
  acceptHandshake(syn: Partial<InjectSpec> = {}, ackOpts: Partial<InjectSpec> = {}): TcpSeg {
    this.listen();
    this.inject({ flags: "S", seq: 0, win: 65535, mss: 1460, ...syn });
    const sa = this.expect({ flags: "S.", seq: 0, ack: 1 });
    this.inject({ flags: ".", seq: 1, ack: 1, ...ackOpts });
    return sa;
  }
}
