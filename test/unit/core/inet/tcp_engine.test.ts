/**
 * Two TcpEngines back to back over a lossy, reordering, duplicating, corrupting
 * channel (real IPv4/TCP frames with checksums, simulated time): 1 MB one way and
 * 256 KB the other arrive intact and both ends close cleanly. Also the engine's
 * plumbing: event delivery after the call, config validation, timer heap order.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  buildTcpPacket, ipAddr, TcpConfigError, TcpEngine, TcpEvent, TcpFlags, TcpRxSegPool, TcpState, tcpSegDecode, tcpSegFromFrame, TcpTimerHeap,
  type TcpCb, type TcpConfig, type TcpSeg,
} from "@dfly/core";

/** mulberry32: small seeded PRNG so every run is the same. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface ChannelOpts {
  loss: number;
  dup: number;
  corrupt: number;
  delay: number;
  jitter: number;
}

interface Flight {
  at: number;
  seq: number;
  to: 0 | 1;
  frame: Uint8Array;
}

interface RunResult {
  aGot: Uint8Array;
  bGot: Uint8Array;
  a: TcpCb;
  b: TcpCb;
  engines: TcpEngine[];
  resets: number;
  delivered: number;
  dropped: number;
  now: number;
}

function payload(seed: number, n: number): Uint8Array {
  const r = prng(seed);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (r() * 256) | 0;
  return b;
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const n = chunks.reduce((s, c) => s + c.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/** Client A sends `aToB` bytes and reads; server B sends `bToA` bytes and reads; both close. */
/** With `reuse`: frames decode into pooled segments (tcpSegDecode) and the programs read with recvInto. */
function loopback(seed: number, ch: ChannelOpts, aToB: Uint8Array, bToA: Uint8Array, config: Partial<TcpConfig> = {}, lendSegs = false, reuse = false): RunResult {
  const rnd = prng(seed);
  const addr = [ipAddr("10.1.0.1"), ipAddr("10.2.0.2")];
  const port = [49152, 80];
  let flights: Flight[] = [];
  let fseq = 0;
  let delivered = 0;
  let dropped = 0;
  const send = (to: 0 | 1, seg: TcpSeg, now: number) => {
    if (rnd() < ch.loss) {
      dropped++;
      return;
    }
    const copies = rnd() < ch.dup ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      const frame = buildTcpPacket(seg);
      if (rnd() < ch.corrupt) frame[20 + ((rnd() * (frame.length - 20)) | 0)] ^= 1 << ((rnd() * 8) | 0);
      flights.push({ at: now + ch.delay + rnd() * ch.jitter, seq: fseq++, to, frame });
    }
  };
  const tps: (TcpCb | null)[] = [null, null];
  const rxPool = new TcpRxSegPool();
  const got: Uint8Array[][] = [[], []];
  const out = [aToB, bToA];
  const sent = [0, 0];
  let resets = 0;
  let now = 0;

  const pump = (i: 0 | 1) => {
    const tp = tps[i]!;
    const e = engines[i];
    while (sent[i] < out[i].length && tp.state !== TcpState.CLOSED) {
      const n = e.send(tp, out[i].subarray(sent[i], sent[i] + 10_000), now);
      if (n === 0) return;
      sent[i] += n;
    }
    // everything queued: FIN after it (shutdown is idempotent)
    if (sent[i] === out[i].length && (tp.state === TcpState.ESTABLISHED || tp.state === TcpState.CLOSE_WAIT)) e.shutdown(tp, now);
  };
  const rbuf = new Uint8Array(3000);
  const drainRecv = (i: 0 | 1) => {
    const tp = tps[i]!;
    if (reuse) {
      for (let n = engines[i].recvInto(tp, rbuf, 0, rbuf.length, now); n > 0; n = engines[i].recvInto(tp, rbuf, 0, rbuf.length, now)) got[i].push(rbuf.slice(0, n));
      return;
    }
    for (;;) {
      const d = engines[i].recv(tp, now, 3000);
      if (d === null || d.length === 0) return;
      got[i].push(d);
    }
  };
  const onEvent = (i: 0 | 1) => (tp: TcpCb, ev: TcpEvent) => {
    switch (ev) {
      case TcpEvent.ESTABLISHED:
      case TcpEvent.WRITABLE:
        pump(i);
        break;
      case TcpEvent.READABLE:
        drainRecv(i);
        break;
      case TcpEvent.PEER_CLOSED:
        drainRecv(i);
        pump(i);
        break;
      case TcpEvent.RESET:
        resets++;
        break;
    }
    void tp;
  };
  const common = { msl: 50, ...config };
  const engines = [0, 1].map(
    (i) => new TcpEngine({ cpu: i, config: common, now: 0, lendSegs, issSecret: 1 + i, tsSecret: 7 + i, output: (seg) => send((1 - i) as 0 | 1, seg, now), onEvent: onEvent(i as 0 | 1) }),
  );

  tps[0] = engines[0].connect(addr[0], port[0], addr[1], port[1], 0);
  let iter = 0;
  for (; iter < 500_000; iter++) {
    if (tps[0]!.state === TcpState.CLOSED && tps[1]?.state === TcpState.CLOSED && flights.length === 0) break;
    let next = Infinity;
    for (const f of flights) if (f.at < next) next = f.at;
    for (const e of engines) {
      const t = e.nextTimerAt();
      if (t !== null && t < next) next = t;
    }
    if (next === Infinity) break;
    now = Math.max(now, next);
    const due = flights.filter((f) => f.at <= now).sort((x, y) => x.at - y.at || x.seq - y.seq);
    flights = flights.filter((f) => f.at > now);
    for (const f of due) {
      const e = engines[f.to];
      const rx = reuse ? rxPool.get() : null;
      const fast = rx ? tcpSegDecode(f.frame, 0, f.frame.length, rx) : null;
      const r = fast ? null : tcpSegFromFrame(f.frame, e.stats);
      if (r && !r.ok) continue; // counted (rcvbadsum)
      delivered++;
      const seg = fast ?? r!.seg!;
      let tp = tps[f.to];
      if (f.to === 1 && (!tp || tp.state === TcpState.CLOSED) && seg.flags & 2 && !(seg.flags & 16)) {
        if (!tp) {
          tps[1] = tp = e.listenInput(seg, now);
          continue;
        }
      }
      const res = e.input(tp && tp.state !== TcpState.CLOSED ? tp : null, seg, now);
      expect(res).not.toBe("reuse");
      if (rx) rxPool.put(rx);
    }
    for (const e of engines) e.advance(now);
  }
  expect(iter).toBeLessThan(500_000);
  return { aGot: concat(got[0]), bGot: concat(got[1]), a: tps[0]!, b: tps[1]!, engines, resets, delivered, dropped, now };
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
}

describe("two engines back to back", () => {
  const A2B = payload(1, 1 << 20);
  const B2A = payload(2, 256 << 10);
  const lossy: ChannelOpts = { loss: 0.02, dup: 0.005, corrupt: 0.005, delay: 5, jitter: 4 };

  it("transfer 1 MB and 256 KB intact over a lossy, reordering channel (SACK, timestamps, window scaling)", () => {
    const r = loopback(42, lossy, A2B, B2A, { recvspace: 256 << 10 });
    expect(same(r.bGot, A2B)).toBe(true);
    expect(same(r.aGot, B2A)).toBe(true);
    expect(r.resets).toBe(0);
    expect(r.a.state).toBe(TcpState.CLOSED);
    expect(r.b.state).toBe(TcpState.CLOSED);
    const [sa, sb] = r.engines.map((e) => e.stats);
    expect(r.dropped).toBeGreaterThan(10);
    expect(sa.sndrexmitpack + sb.sndrexmitpack).toBeGreaterThan(0);
    expect(sa.sack_recovery_episode + sb.sack_recovery_episode).toBeGreaterThan(0);
    expect(sa.rcvbadsum + sb.rcvbadsum).toBeGreaterThan(0);
    expect(r.a.rcv_scale).toBeGreaterThan(0);
    // nothing left in any timer heap
    for (const e of r.engines) expect(e.timers.size).toBe(0);
  });

  it("the same with NewReno (no SACK) and no timestamps", () => {
    const r = loopback(7, lossy, A2B, B2A, { sack: false, rfc1323: false });
    expect(same(r.bGot, A2B)).toBe(true);
    expect(same(r.aGot, B2A)).toBe(true);
    expect(r.resets).toBe(0);
    const [sa, sb] = r.engines.map((e) => e.stats);
    expect(sa.newreno_recovery_episode + sb.newreno_recovery_episode + sa.rexmttimeo + sb.rexmttimeo).toBeGreaterThan(0);
    expect(sa.sack_recovery_episode + sb.sack_recovery_episode).toBe(0);
  });

  it("engines that lend their output segments (lendSegs) send the same segments", () => {
    const plain = loopback(42, lossy, A2B, B2A, { recvspace: 256 << 10 });
    const lent = loopback(42, lossy, A2B, B2A, { recvspace: 256 << 10 }, true);
    expect(same(lent.bGot, A2B)).toBe(true);
    expect(same(lent.aGot, B2A)).toBe(true);
    expect(lent.delivered).toBe(plain.delivered);
    expect(lent.engines.map((e) => ({ ...e.stats }))).toEqual(plain.engines.map((e) => ({ ...e.stats })));
    expect(lent.engines[0].stats.sack_send_blocks).toBeGreaterThan(0);
  });

  it("pooled decoding and recvInto (no view of a segment or a receive buffer kept) deliver the same bytes and segments", () => {
    const plain = loopback(42, lossy, A2B, B2A, { recvspace: 256 << 10 }, true);
    const reuse = loopback(42, lossy, A2B, B2A, { recvspace: 256 << 10 }, true, true);
    expect(same(reuse.bGot, A2B)).toBe(true);
    expect(same(reuse.aGot, B2A)).toBe(true);
    expect(reuse.delivered).toBe(plain.delivered);
    expect(reuse.engines.map((e) => ({ ...e.stats }))).toEqual(plain.engines.map((e) => ({ ...e.stats })));
    expect(reuse.engines[1].stats.rcvoopack).toBeGreaterThan(0);
  });

  it("a clean channel needs no retransmission", () => {
    const r = loopback(3, { loss: 0, dup: 0, corrupt: 0, delay: 2, jitter: 0 }, A2B.subarray(0, 200_000), B2A.subarray(0, 50_000));
    expect(same(r.bGot, A2B.subarray(0, 200_000))).toBe(true);
    expect(same(r.aGot, B2A.subarray(0, 50_000))).toBe(true);
    for (const e of r.engines) expect(e.stats.sndrexmitpack).toBe(0);
  });
});

describe("engine plumbing", () => {
  function connectAndSend(aggregateAcks: boolean): { order: string[]; out: TcpSeg[] } {
    const order: string[] = [];
    const out: TcpSeg[] = [];
    const e: TcpEngine = new TcpEngine({
      now: 0,
      config: { aggregateAcks },
      output: (seg) => {
        order.push("output");
        out.push(seg);
      },
      onEvent: (tp, ev) => {
        order.push(ev);
        if (ev === TcpEvent.ESTABLISHED) e.send(tp, new Uint8Array(10), 0);
      },
    });
    const tp = e.connect(1, 1000, 2, 80, 0);
    const synack: TcpSeg = {
      src: 2, dst: 1, sport: 80, dport: 1000, seq: 5, ack: (out[0].seq + 1) >>> 0,
      flags: 0x12, window: 1000, options: { mss: 1000 }, payload: new Uint8Array(0),
    };
    order.length = 0;
    out.length = 0;
    e.input(tp, synack, 1);
    return { order, out };
  }

  it("delivers events after the call returns, so handlers may call back in; the ACK rides on what they send", () => {
    // aggregate_acks (default): the handshake's ACK waits for the end of the call and leaves
    // with the 10 bytes the handler sent on ESTABLISHED.
    const agg = connectAndSend(true);
    expect(agg.order).toEqual(["established", "output"]);
    expect(agg.out[0].payload.length).toBe(10);
    expect(agg.out[0].flags & TcpFlags.ACK).toBeTruthy();
    expect(agg.out[0].ack).toBe(6);
    // Without aggregation: the ACK at once, then the data.
    const now = connectAndSend(false);
    expect(now.order).toEqual(["output", "established", "output"]);
    expect(now.out[0].payload.length).toBe(0);
    expect(now.out[1].payload.length).toBe(10);
  });

  it("rejects bad configuration with the field named", () => {
    expect(() => new TcpEngine({ output: () => {}, config: { mss: 10 } })).toThrow(TcpConfigError);
    expect(() => new TcpEngine({ output: () => {}, config: { msl: -1 } })).toThrow(/msl/);
    expect(() => new TcpEngine({ output: () => {}, config: { recvspace: Number.NaN } })).toThrow(/recvspace/);
  });

  it("the timer heap pops in key order under random schedule, re-key and remove", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 19 }), fc.integer({ min: 0, max: 10_000 }), fc.boolean()), { maxLength: 200 }),
        (ops) => {
          const h = new TcpTimerHeap();
          const items = Array.from({ length: 20 }, () => ({ t_tkey: -1, t_tidx: -1 }));
          const ref = new Map<number, number>();
          for (const [i, key, rm] of ops) {
            const it = items[i] as unknown as TcpCb;
            if (rm) {
              h.remove(it);
              ref.delete(i);
            } else {
              h.schedule(it, key);
              ref.set(i, Math.min(ref.get(i) ?? Infinity, key));
            }
          }
          expect(h.size).toBe(ref.size);
          const popped: number[] = [];
          for (let x = h.pop(); x; x = h.pop()) {
            const i = items.indexOf(x as unknown as (typeof items)[number]);
            expect(x.t_tkey).toBe(ref.get(i));
            expect(x.t_tidx).toBe(-1);
            popped.push(x.t_tkey);
          }
          expect(popped).toEqual([...ref.values()].sort((a, b) => a - b));
        },
      ),
      { numRuns: 300 },
    );
  });
});
