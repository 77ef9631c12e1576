/**
 * Property: any stream of segments — random flags, sequence and acknowledgment
 * numbers near and far from the window, windows, options (MSS, window scale,
 * timestamps, garbage SACK blocks) and payloads — into an established connection
 * never makes the engine throw, never makes it send a RST, and never resets the
 * connection unless a RST with exactly rcv_nxt arrives (RFC 5961).
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  SEQ_LEQ, TcpBrokenPipeError, TcpConnectionError, TcpEvent, TcpFlags, TcpNotConnectedError, TcpState, tcpIsClosed,
  type TcpOptions, type TcpSeg,
} from "@dfly/core";
import { pattern, TcpScript } from "../../../support/tcpscript.js";

interface SegGen {
  flags: number;
  seqMode: number;
  seqOff: number;
  seqAny: number;
  ackMode: number;
  ackOff: number;
  ackAny: number;
  win: number;
  len: number;
  mss: number | null;
  ws: number | null;
  ts: { val: number; ecr: number; near: boolean } | null;
  sack: [number, number][] | null;
  dt: number;
}

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const segArb: fc.Arbitrary<SegGen> = fc.record({
  flags: fc.oneof(
    fc.integer({ min: 0, max: 255 }),
    fc.constantFrom(0x10, 0x18, 0x11, 0x04, 0x14, 0x02, 0x12, 0x03, 0x06, 0x08, 0x01),
  ),
  seqMode: fc.integer({ min: 0, max: 3 }), // 0 exact rcv_nxt, 1 near, 2 anywhere, 3 near with a big offset
  seqOff: fc.integer({ min: -70_000, max: 70_000 }),
  seqAny: u32,
  ackMode: fc.integer({ min: 0, max: 3 }), // 0 snd_una, 1 near snd_una, 2 anywhere, 3 snd_max
  ackOff: fc.integer({ min: -70_000, max: 70_000 }),
  ackAny: u32,
  win: fc.oneof(fc.integer({ min: 0, max: 65535 }), fc.constant(65535), fc.constant(0)),
  len: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 3000 })),
  mss: fc.option(fc.integer({ min: 0, max: 65535 })),
  ws: fc.option(fc.integer({ min: 0, max: 255 })),
  ts: fc.option(fc.record({ val: u32, ecr: u32, near: fc.boolean() })),
  sack: fc.option(fc.array(fc.tuple(fc.integer({ min: -70_000, max: 70_000 }), fc.integer({ min: -70_000, max: 70_000 })), { minLength: 1, maxLength: 3 })),
  // ≤ 60 × 200 ms + 2 s in all: below the shortest 12-retransmission give-up (≈ 17 s)
  dt: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 200 })),
});

const setupArb = fc.record({ sack: fc.boolean(), ts: fc.boolean(), ws: fc.boolean(), sendFirst: fc.integer({ min: 0, max: 20_000 }) });

describe("random segment streams into an established connection", () => {
  it("never throw, never send a RST, never reset unless a RST carries exactly rcv_nxt", () => {
    fc.assert(
      fc.property(setupArb, fc.array(segArb, { minLength: 1, maxLength: 60 }), (setup, segs) => {
        const s = new TcpScript();
        s.acceptHandshake(
          { sackOk: setup.sack, ...(setup.ts ? { ts: [1000, 0] as [number, number] } : {}), ...(setup.ws ? { ws: 4 } : {}) },
          setup.ts ? { ts: "echo" } : {},
        );
        const tp = s.tp!;
        expect(tp.state).toBe(TcpState.ESTABLISHED);
        if (setup.sendFirst) s.engine.send(tp, pattern(0, setup.sendFirst), s.now);
        for (const g of segs) {
          s.wait(g.dt);
          if (tp.state === TcpState.CLOSED) break;
          const seq = g.seqMode === 0 ? tp.rcv_nxt : g.seqMode === 1 ? tp.rcv_nxt + (g.seqOff % 3000) : g.seqMode === 2 ? g.seqAny : tp.rcv_nxt + g.seqOff;
          const ack = g.ackMode === 0 ? tp.snd_una : g.ackMode === 1 ? tp.snd_una + (g.ackOff % 3000) : g.ackMode === 2 ? g.ackAny : tp.snd_max;
          const o: TcpOptions = {};
          if (g.mss !== null) o.mss = g.mss;
          if (g.ws !== null) o.wscale = g.ws;
          if (g.ts) o.timestamp = { val: g.ts.near ? (tp.ts_recent + (g.ts.val % 2000) - 500) >>> 0 : g.ts.val, ecr: g.ts.ecr };
          if (g.sack) {
            // only as many blocks as fit in 40 option bytes
            const room = 40 - (o.mss !== undefined ? 4 : 0) - (o.wscale !== undefined ? 4 : 0) - (o.timestamp ? 12 : 0);
            const n = Math.min(g.sack.length, Math.floor((room - 4) / 8));
            if (n > 0) o.sack = g.sack.slice(0, n).map(([a, b]) => ({ start: (tp.snd_una + a) >>> 0, end: (tp.snd_una + b) >>> 0 }));
          }
          const seg: TcpSeg = {
            src: s.faddr, dst: s.laddr, sport: s.fport, dport: s.lport,
            seq: seq >>> 0, ack: ack >>> 0, flags: g.flags, window: g.win,
            payload: new Uint8Array(g.len).fill(0x5a),
          };
          if (Object.keys(o).length) seg.options = o;
          const exactRst = (g.flags & TcpFlags.RST) !== 0 && !(g.flags & TcpFlags.SYN) && (seq | 0) === tp.rcv_nxt &&
            tp.state !== TcpState.TIME_WAIT;
          const resetsBefore = s.eventsOf(TcpEvent.RESET).length;
          s.deliver(seg);
          const reset = s.eventsOf(TcpEvent.RESET).length > resetsBefore;
          if (reset || tcpIsClosed(tp)) {
            expect(exactRst).toBe(true);
            break;
          }
          // sequence-space invariants
          expect(SEQ_LEQ(tp.snd_una, tp.snd_nxt)).toBe(true);
          expect(SEQ_LEQ(tp.snd_nxt, tp.snd_max)).toBe(true);
          expect(tp.sndCc).toBeLessThanOrEqual(tp.snd_hiwat);
          expect(tp.rcvCc).toBeLessThanOrEqual(tp.rcv_hiwat);
        }
        s.wait(2000); // let timers run too
        expect(s.sent.filter((e) => e.seg.flags & TcpFlags.RST)).toEqual([]);
      }),
      { numRuns: Number(process.env.TCP_FUZZ_RUNS ?? 300) },
    );
  });
});

const actionArb = fc.oneof(
  { weight: 6, arbitrary: segArb.map((g) => ({ kind: "seg" as const, g })) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 70_000 }).map((n) => ({ kind: "send" as const, n })) },
  { weight: 1, arbitrary: fc.constant({ kind: "recv" as const }) },
  { weight: 1, arbitrary: fc.constantFrom("shutdown", "close", "abort", "nodelay").map((k) => ({ kind: k })) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 120_000 }).map((dt) => ({ kind: "wait" as const, dt })) },
);

describe("random segments and socket calls in every state", () => {
  it("never throw anything but the socket errors, and keep the sequence invariants", () => {
    fc.assert(
      fc.property(fc.boolean(), fc.array(actionArb, { maxLength: 80 }), (active, actions) => {
        const s = new TcpScript({ config: { msl: 500 } }).listen();
        if (active) s.connect();
        else s.inject({ flags: "S", seq: 0, mss: 1000, sackOk: true, ts: [5, 0] });
        for (const a of actions) {
          const tp = s.tp!;
          try {
            switch (a.kind) {
              case "seg": {
                const g = a.g;
                const seq = g.seqMode === 0 ? tp.rcv_nxt : g.seqMode === 1 ? tp.rcv_nxt + (g.seqOff % 3000) : g.seqMode === 2 ? g.seqAny : tp.rcv_nxt + g.seqOff;
                const ack = g.ackMode === 0 ? tp.snd_una : g.ackMode === 1 ? tp.snd_una + (g.ackOff % 3000) : g.ackMode === 2 ? g.ackAny : tp.snd_max;
                s.deliver({
                  src: s.faddr, dst: s.laddr, sport: s.fport, dport: s.lport,
                  seq: seq >>> 0, ack: ack >>> 0, flags: g.flags, window: g.win,
                  payload: new Uint8Array(g.len),
                  ...(g.ts ? { options: { timestamp: { val: g.ts.val, ecr: g.ts.ecr } } } : {}),
                });
                break;
              }
              case "send":
                s.engine.send(tp, new Uint8Array(a.n), s.now);
                break;
              case "recv":
                s.engine.recv(tp, s.now);
                break;
              case "shutdown":
                s.engine.shutdown(tp, s.now);
                break;
              case "close":
                s.engine.close(tp, s.now);
                break;
              case "abort":
                s.engine.abort(tp, s.now);
                break;
              case "nodelay":
                s.engine.setNodelay(tp, true, s.now);
                break;
              case "wait":
                s.wait(a.dt);
                break;
            }
          } catch (err) {
            const ok = err instanceof TcpNotConnectedError || err instanceof TcpBrokenPipeError || err instanceof TcpConnectionError;
            if (!ok) throw err;
          }
          const t = s.tp!;
          if (t.state !== TcpState.CLOSED) {
            expect(SEQ_LEQ(t.snd_una, t.snd_nxt)).toBe(true);
            expect(SEQ_LEQ(t.snd_nxt, t.snd_max)).toBe(true);
            expect(t.sndCc).toBeLessThanOrEqual(t.snd_hiwat);
          } else {
            expect(t.t_tidx).toBe(-1); // a released TCB holds no timer
          }
        }
        // at most one CLOSED event per TCB
        for (const tp of new Set(s.events.map((e) => e.tp))) {
          expect(s.events.filter((e) => e.tp === tp && e.ev === TcpEvent.CLOSED).length).toBeLessThanOrEqual(1);
        }
      }),
      { numRuns: Number(process.env.TCP_FUZZ_RUNS ?? 300) },
    );
  });
});
