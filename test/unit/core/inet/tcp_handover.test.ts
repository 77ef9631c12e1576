/**
 * TCB hand-over between engines (tcp_handover.ts): client A talks to server B over a lossy,
 * delaying channel of real IPv4/TCP frames in simulated time; in the middle of the transfer
 * B's TCB is exported, released from B and imported into engine C (another clock, other
 * secrets), and the transfer goes on from C. Both streams arrive intact, nobody sends or
 * receives a RST, the server's timestamps never step back, and timers armed on B fire on C.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  buildTcpPacket,
  ipAddr,
  tcpHandoverExport,
  tcpHandoverImport,
  tcpHandoverRelease,
  tcpHandoverResume,
  TcpHandoverStateError,
  TcpEngine,
  TcpEvent,
  TcpFlags,
  tcpSegFromFrame,
  TcpState,
  TF,
  TIMER_OFF,
  type TcpCb,
  type TcpSeg,
} from "@dfly/core";

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function bytes(seed: number, n: number): Uint8Array {
  const r = prng(seed);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (r() * 256) | 0;
  return b;
}

const CLIENT = ipAddr("10.1.0.1");
const SERVER = ipAddr("10.2.0.2");

interface Run {
  aGot: Uint8Array;
  bGot: Uint8Array;
  resets: number;
  rstSeen: number;
  tsBackwards: number;
  moved: boolean;
  /** The server's retransmit timer ran when it moved. */
  armedAtMove: boolean;
  serverState: string;
  rexmtOnC: number;
}

/**
 * A sends `up` to the server, the server sends `down`; both close when done. At `moveAt` ms
 * (simulated) the server's TCB moves from engine B to engine C; `lossAround` drops every
 * segment in [moveAt − 5, moveAt + 20) so that retransmission timers armed on B must fire on C.
 */
function run(seed: number, moveAt: number, loss: number, up: Uint8Array, down: Uint8Array, lossAround = false): Run {
  const rnd = prng(seed);
  let now = 0;
  const flights: { at: number; to: "a" | "s"; frame: Uint8Array; n: number }[] = [];
  let seq = 0;
  let rstSeen = 0;
  let lastTs = -1;
  let tsBackwards = 0;
  // eslint-disable-next-line prefer-const -- assigned by connect(), whose SYN already goes through send()
  let client: TcpCb | undefined;
  const send = (to: "a" | "s", seg: TcpSeg) => {
    // A RST from an end whose TCB is gone (a late duplicate after a completed close, answered as
    // RFC 9293 says) is not a reset of the connection; one from a live TCB is.
    const from = to === "a" ? server : client;
    if (seg.flags & TcpFlags.RST && from && from.t_state !== TcpState.CLOSED) rstSeen++;
    if (to === "a" && seg.options?.timestamp) {
      const v = seg.options.timestamp.val >>> 0;
      if (lastTs >= 0 && ((v - lastTs) | 0) < 0) tsBackwards++;
      lastTs = v;
    }
    if (rnd() < loss) return;
    if (lossAround && now >= moveAt - 5 && now < moveAt + 20) return;
    const frame = buildTcpPacket(seg);
    flights.push({ at: now + 2 + rnd() * 3, to, frame, n: seq++ });
  };
  const aGot: Uint8Array[] = [];
  const bGot: Uint8Array[] = [];
  let aSent = 0;
  let sSent = 0;
  let resets = 0;
  let server: TcpCb | null = null;
  let serverEngine: TcpEngine;
  const onEvent = (side: "a" | "s") => (tp: TcpCb, ev: TcpEvent) => {
    const e = tp.engine;
    if (ev === TcpEvent.RESET) resets++;
    if (ev === TcpEvent.READABLE || ev === TcpEvent.PEER_CLOSED) {
      for (;;) {
        const b = e.recv(tp, now);
        if (b === null || b.length === 0) break;
        (side === "a" ? aGot : bGot).push(b.slice());
      }
    }
    if (ev === TcpEvent.ESTABLISHED || ev === TcpEvent.WRITABLE || ev === TcpEvent.READABLE) pump(side, tp);
  };
  const pump = (side: "a" | "s", tp: TcpCb) => {
    if (tp.t_state < TcpState.ESTABLISHED || tp.t_flags & 0x20000 /* CANTSENDMORE */) return;
    const data = side === "a" ? up : down;
    let sent = side === "a" ? aSent : sSent;
    while (sent < data.length) {
      const n = tp.engine.send(tp, data.subarray(sent, Math.min(data.length, sent + 4000)), now);
      if (n === 0) break;
      sent += n;
    }
    if (side === "a") aSent = sent;
    else sSent = sent;
    if (sent === data.length) tp.engine.shutdown(tp, now);
  };
  const A = new TcpEngine({ now: 0, output: (seg) => send("s", seg), onEvent: onEvent("a") });
  const B = new TcpEngine({ now: 0, output: (seg) => send("a", seg), onEvent: onEvent("s") });
  // C started 123 s later on another clock with other secrets.
  const C = new TcpEngine({ now: -123_000, output: (seg) => send("a", seg), onEvent: onEvent("s") });
  serverEngine = B;
  client = A.connect(CLIENT, 40000, SERVER, 80, now);
  let moved = false;
  let armedAtMove = false;
  let rexmtBefore = 0;
  for (let guard = 0; guard < 200_000; guard++) {
    if (!moved && now >= moveAt && server && server.t_state !== TcpState.CLOSED) {
      armedAtMove = server.tt_rexmt !== TIMER_OFF;
      const st = tcpHandoverExport(server, now);
      // Through JSON-like cloning: the state must not share anything with B.
      const copy = structuredClone(st);
      tcpHandoverRelease(server);
      rexmtBefore = C.stats.rexmttimeo;
      server = tcpHandoverImport(C, copy, now);
      serverEngine = C;
      tcpHandoverResume(server, now);
      moved = true;
    }
    flights.sort((x, y) => x.at - y.at || x.n - y.n);
    const nextFlight = flights.length ? flights[0].at : Infinity;
    const timers = [A.nextTimerAt(), B.nextTimerAt(), C.nextTimerAt() !== null ? C.nextTimerAt()! : null].filter((x): x is number => x !== null);
    const nextTimer = timers.length ? Math.min(...timers) : Infinity;
    let next = Math.min(nextFlight, nextTimer);
    if (!moved && server && moveAt < next) next = Math.max(now, moveAt);
    if (next === Infinity) break;
    if (next > 600_000) break;
    now = Math.max(now, next);
    if (nextFlight <= now) {
      const f = flights.shift()!;
      const d = tcpSegFromFrame(f.frame, A.stats);
      if (!d.ok) throw new Error("bad frame");
      if (f.to === "a") A.input(client.t_state === TcpState.CLOSED ? null : client, d.seg, now);
      else if (server === null && d.seg.flags & TcpFlags.SYN) {
        server = B.listenInput(d.seg, now);
      } else if (server) {
        serverEngine.input(server.t_state === TcpState.CLOSED ? null : server, d.seg, now);
      }
    }
    A.advance(now);
    B.advance(now);
    C.advance(now);
    if (client.t_state === TcpState.CLOSED && server?.t_state === TcpState.CLOSED && flights.length === 0) break;
  }
  const cat = (l: Uint8Array[]) => {
    const out = new Uint8Array(l.reduce((s, x) => s + x.length, 0));
    let o = 0;
    for (const x of l) {
      out.set(x, o);
      o += x.length;
    }
    return out;
  };
  return {
    aGot: cat(aGot),
    bGot: cat(bGot),
    resets,
    rstSeen,
    tsBackwards,
    moved,
    armedAtMove,
    serverState: server ? server.stateName : "none",
    rexmtOnC: C.stats.rexmttimeo - rexmtBefore,
  };
}

const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;

describe("TCB hand-over between engines", () => {
  it("moves a connection mid-transfer: both streams intact, no RST, timestamps continue", () => {
    const up = bytes(1, 300_000);
    const down = bytes(2, 200_000);
    const r = run(7, 40, 0.02, up, down);
    expect(r.moved).toBe(true);
    expect(same(r.aGot, down)).toBe(true);
    expect(same(r.bGot, up)).toBe(true);
    expect(r.resets).toBe(0);
    expect(r.rstSeen).toBe(0);
    expect(r.tsBackwards).toBe(0);
    expect(r.serverState).toBe("CLOSED");
  });

  it("a retransmission armed on the old engine fires on the new one", () => {
    // 25 ms in, the server has data in flight (its retransmit timer runs) when it moves.
    const r = run(11, 25, 0, bytes(3, 100_000), bytes(4, 100_000), true);
    expect(r.moved).toBe(true);
    expect(r.armedAtMove).toBe(true);
    expect(r.rexmtOnC).toBeGreaterThan(0);
    expect(r.resets).toBe(0);
    expect(r.rstSeen).toBe(0);
    expect(r.tsBackwards).toBe(0);
  });

  it("property: any move time, any loss seed — intact, no RST, monotonic timestamps", () => {
    const up = bytes(5, 60_000);
    const down = bytes(6, 40_000);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 1, max: 1 << 30 }), fc.boolean(), (moveAt, seed, around) => {
        const r = run(seed, moveAt, 0.03, up, down, around);
        return same(r.aGot, down) && same(r.bGot, up) && r.resets === 0 && r.rstSeen === 0 && r.tsBackwards === 0;
      }),
      { numRuns: 40 },
    );
  });

  it("rebases timers and keeps every numeric field; release leaves no timer behind", () => {
    const out: TcpSeg[] = [];
    const B = new TcpEngine({ now: 0, output: (s) => out.push(s) });
    const tp = B.connect(CLIENT, 1234, SERVER, 80, 0);
    tp.snd_cwnd = 12345;
    tp.t_srtt = 800;
    const st = tcpHandoverExport(tp, 500);
    expect(st.t.keep).toBe(75_000 - 500);
    expect(st.t.rexmt).toBe(1000 - 500);
    tcpHandoverRelease(tp);
    expect(B.nextTimerAt()).toBeNull();
    expect(tp.t_state).toBe(TcpState.CLOSED);
    const C = new TcpEngine({ now: 10_000, output: () => undefined });
    const tc = tcpHandoverImport(C, st, 20_000);
    expect(tc.snd_cwnd).toBe(12345);
    expect(tc.t_srtt).toBe(800);
    expect(tc.iss).toBe(tp.iss);
    expect(tc.t_state).toBe(TcpState.SYN_SENT);
    expect(tc.tt_keep).toBe(C.now + 74_500);
    expect(tc.tt_delack).toBe(TIMER_OFF);
    expect(C.nextTimerAt()).toBe(20_000 + 500);
    // TSval continues from the exporter's.
    expect((C.now + tc.ts_offset) | 0).toBe(st.tsNow);
  });

  it("a TCB exported while queued for output (inside an engine call) is not stuck on the new engine", () => {
    const B = new TcpEngine({ now: 0, output: () => undefined });
    const tp = B.connect(CLIENT, 1234, SERVER, 80, 0);
    tp.t_flags |= TF.ONOUTPUTQ; // as outputSoon leaves it until the end of the call
    const st = tcpHandoverExport(tp, 0);
    const C = new TcpEngine({ now: 0, output: () => undefined });
    const tc = tcpHandoverImport(C, st, 0);
    expect(tc.t_flags & TF.ONOUTPUTQ).toBe(0);
  });

  it("refuses a malformed state with the offending field", () => {
    const C = new TcpEngine({ now: 0, output: () => undefined });
    const B = new TcpEngine({ now: 0, output: () => undefined });
    const st = tcpHandoverExport(B.connect(CLIENT, 1, SERVER, 2, 0), 0);
    expect(() => tcpHandoverImport(C, { ...st, v: 2 as 1 }, 0)).toThrow(TcpHandoverStateError);
    expect(() => tcpHandoverImport(C, { ...st, f: { ...st.f, snd_una: Number.NaN } }, 0)).toThrow(/snd_una/);
    expect(() => tcpHandoverImport(C, { ...st, t: { ...st.t, keep: "x" as unknown as number } }, 0)).toThrow(/t\.keep/);
  });
});
