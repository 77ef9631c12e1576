/**
 * Scripted timer tests: RFC 6298 retransmission with DragonFly's defaults (1 s
 * initial RTO, exponential backoff, 64 s cap, 12 retransmissions), SYN backoff and
 * keepinit, delayed ACK timing, TIME_WAIT length, persist probes, keepalive.
 */
import { describe, expect, it } from "vitest";
import { TcpEvent, TcpState } from "@dfly/core";
import { pattern, TcpScript } from "../../../support/tcpscript.js";

/** Times (script clock) at which the stack sent a segment starting at relative `seq`. */
function sendTimes(s: TcpScript, seq: number, flags?: string): number[] {
  return s.sent
    .filter((e) => s.relLocal(e.seg.seq) === seq && (flags === undefined || e.seg.flags === flagsOf(flags)))
    .map((e) => e.t);
}
function flagsOf(f: string): number {
  let v = 0;
  for (const c of f) v |= c === "S" ? 2 : c === "." ? 16 : c === "P" ? 8 : c === "F" ? 1 : c === "R" ? 4 : 0;
  return v;
}
const diffs = (t: number[]) => t.slice(1).map((x, i) => x - t[i]);

describe("retransmission timeout (RFC 6298, DragonFly defaults)", () => {
  it("retransmits a dropped segment after 1 s, then backs off 2, 4, 8 … s up to 64 s, and drops after 12", () => {
    const s = new TcpScript({ config: { rexmitSlop: 0 } });
    s.acceptViaSyncache(); // no RTT sample: the RTO is the initial 1 s
    const tp = s.tp!;
    s.engine.send(tp, pattern(0, 100), s.now);
    s.at(600_000);
    const t = sendTimes(s, 1);
    expect(t).toEqual([0, 1000, 3000, 7000, 15000, 31000, 63000, 127000, 191000, 255000, 319000, 383000, 447000]);
    expect(diffs(t)).toEqual([1000, 2000, 4000, 8000, 16000, 32000, 64000, 64000, 64000, 64000, 64000, 64000]);
    for (const e of s.sent.filter((x) => s.relLocal(x.seg.seq) === 1 && x.seg.payload.length)) {
      expect(e.seg.payload.length).toBe(100);
    }
    // the 13th timeout gives up: RST to the peer, ETIMEDOUT to the application
    const rst = s.sent.at(-1)!;
    expect(rst.t).toBe(511_000);
    expect(rst.seg.flags & 4).toBe(4);
    expect(tp.state).toBe(TcpState.CLOSED);
    expect(s.eventsOf(TcpEvent.RESET)).toEqual([{ t: 511_000, err: "ETIMEDOUT" }]);
    expect(s.engine.stats.rexmttimeo).toBe(12);
    expect(s.engine.stats.timeoutdrop).toBe(1);
  });

  it("with DragonFly's rexmit_slop (160 ms) added to every backed-off RTO", () => {
    const s = new TcpScript();
    s.acceptViaSyncache();
    s.engine.send(s.tp!, pattern(0, 100), s.now);
    s.at(200_000);
    expect(diffs(sendTimes(s, 1)).slice(0, 8)).toEqual([1000, 2160, 4160, 8160, 16160, 32160, 64000, 64000]);
  });

  it("an ACK stops the timer and a fresh RTT sample sets the RTO", () => {
    const s = new TcpScript();
    s.acceptViaSyncache();
    const tp = s.tp!;
    s.engine.send(tp, pattern(0, 100), s.now);
    s.expect({ seq: 1, len: 100 });
    s.at(1000);
    s.expect({ seq: 1, len: 100, at: 1000 }); // retransmitted once
    s.at(1050);
    s.inject({ flags: ".", seq: 1, ack: 101 }); // Karn: no sample from a retransmitted segment
    expect(s.engine.stats.rttupdated).toBe(0);
    s.engine.send(tp, pattern(100, 100), s.now);
    s.expect({ seq: 101, at: 1050 });
    s.at(1090);
    s.inject({ flags: ".", seq: 1, ack: 201 });
    expect(s.engine.stats.rttupdated).toBe(1);
    // SRTT 40, RTTVAR 20: RTO = 40 + 4·20 + 160 slop = 280 ms
    expect(tp.t_rxtcur).toBe(280);
    s.engine.send(tp, pattern(200, 100), s.now);
    s.expect({ seq: 201, at: 1090 });
    s.at(2000);
    s.expect({ seq: 201, at: 1090 + 280 });
  });
});

describe("SYN retransmission (low_rtobase backoff 1,1,2,4,8,8,16,16…)", () => {
  it("retransmits the SYN at 1, 2, 4, 8, 16, 24, 40, 56 s and gives up at keepinit (75 s)", () => {
    const s = new TcpScript({ config: { rexmitSlop: 0 } });
    const tp = s.connect();
    s.at(100_000);
    const syns = s.sent.filter((e) => e.seg.flags === 2);
    expect(syns.map((e) => e.t)).toEqual([0, 1000, 2000, 4000, 8000, 16000, 24000, 40000, 56000]);
    // DragonFly stops asking for RFC 1323 options from the third retransmission on
    expect(syns.map((e) => e.seg.options?.timestamp !== undefined)).toEqual([true, true, true, false, false, false, false, false, false]);
    expect(syns.every((e) => e.seg.options?.mss === 1460 && e.seg.options.sackPermitted)).toBe(true);
    expect(tp.state).toBe(TcpState.CLOSED);
    expect(s.eventsOf(TcpEvent.RESET)).toEqual([{ t: 75_000, err: "ETIMEDOUT" }]);
    expect(s.engine.stats.conndrops).toBe(1);
  });

  it("after a retransmitted SYN the RTO is at least 3 s; after 3 s of retransmission the initial window is 2 segments", () => {
    const s = new TcpScript();
    const tp = s.connect();
    s.at(1500);
    s.inject({ flags: "S.", seq: 0, ack: 1, mss: 1460 });
    s.expect({ flags: "S", at: 0 });
    s.expect({ flags: "S", at: 1000 });
    s.expect({ flags: ".", at: 1500 });
    expect(tp.state).toBe(TcpState.ESTABLISHED);
    expect(tp.t_rxtsyn).toBe(1000);
    expect(tp.t_rxtcur).toBe(3000);
    expect(tp.snd_cwnd).toBe(4 * 1460); // 1 s of SYN retransmission: IW unchanged
    const r = new TcpScript();
    const rt = r.connect();
    r.at(5000); // SYNs at 0, 1000, 2160, 4320: t_rxtsyn = 1000 + 1160 + 2160
    r.inject({ flags: "S.", seq: 0, ack: 1, mss: 1460 });
    expect(rt.t_rxtsyn).toBe(4320);
    expect(rt.snd_cwnd).toBe(2 * 1460);
    r.drain();
    r.engine.send(rt, pattern(0, 10_000), r.now);
    expect(r.drain().map((e) => e.seg.payload.length)).toEqual([1460, 1460]);
  });

  it("a syncache entry's SYN|ACK retransmission time carries over (sc_rxtused → t_rxtsyn)", () => {
    const s = new TcpScript();
    const syn = s.build({ flags: "S", seq: 0, mss: 1460 });
    const entry = s.engine.synEntry(syn, 0);
    entry.rxtUsed = 3000; // SYN|ACKs at 0, 1, 2 s
    s.engine.sendSynAck(entry, 0);
    s.expect({ flags: "S." });
    s.peerNxt = 1;
    const tp = s.engine.syncacheSocket(entry, s.build({ flags: ".", seq: 1, ack: 1 }), 3000)!;
    expect(tp.state).toBe(TcpState.ESTABLISHED);
    expect(tp.snd_cwnd).toBe(2 * 1460);
    expect(tp.t_rxtcur).toBe(3000);
  });

  it("the initial window is 4 segments, or the per-route value", () => {
    const s = new TcpScript();
    s.acceptHandshake();
    s.engine.send(s.tp!, pattern(0, 20_000), s.now);
    expect(s.drain().length).toBe(4);
    const r = new TcpScript();
    r.acceptViaSyncache({}, {}, { iwSegs: 10 });
    r.engine.send(r.tp!, pattern(0, 20_000), r.now);
    expect(r.drain().length).toBe(10);
  });
});

describe("delayed ACK (100 ms, every second full segment)", () => {
  it("ACKs one segment after exactly 100 ms", () => {
    const s = new TcpScript();
    s.acceptHandshake();
    s.at(1000);
    s.inject({ flags: "P.", seq: 1, ack: 1, data: 100 });
    s.at(1099);
    s.expectNone();
    s.at(1200);
    s.expect({ flags: ".", ack: 101, at: 1100 });
    expect(s.engine.stats.delack).toBe(1);
  });

  it("ACKs every second full-sized segment at once", () => {
    const s = new TcpScript();
    s.acceptHandshake();
    s.at(10);
    s.inject({ flags: ".", seq: 1, ack: 1, data: 1460 });
    s.expectNone();
    s.inject({ flags: ".", seq: 1461, ack: 1, data: 1460 });
    s.expect({ flags: ".", ack: 2921, at: 10 });
    s.inject({ flags: ".", seq: 2921, ack: 1, data: 1460 });
    s.expectNone();
    s.at(200);
    s.expect({ flags: ".", ack: 4381, at: 110 });
  });

  it("a reply piggybacks the pending ACK", () => {
    const s = new TcpScript();
    s.acceptHandshake();
    s.inject({ flags: "P.", seq: 1, ack: 1, data: 50 });
    s.at(20);
    s.engine.send(s.tp!, pattern(0, 30), s.now);
    s.expect({ flags: "P.", ack: 51, len: 30, at: 20 });
    s.at(21);
    s.inject({ flags: ".", seq: 51, ack: 31 });
    s.at(500);
    s.expectNone(); // no separate delayed ACK
  });

  it("off: every segment is ACKed at once", () => {
    const s = new TcpScript({ config: { delayedAck: false } });
    s.acceptHandshake();
    s.inject({ flags: "P.", seq: 1, ack: 1, data: 50 });
    s.expect({ flags: ".", ack: 51, at: 0 });
  });
});

describe("TIME_WAIT length", () => {
  it("is 2 × MSL with DragonFly's 30 s MSL", () => {
    const s = new TcpScript();
    s.acceptHandshake();
    const tp = s.tp!;
    s.engine.close(tp, s.now);
    s.inject({ flags: "F.", seq: 1, ack: 2 });
    expect(tp.state).toBe(TcpState.TIME_WAIT);
    s.at(59_999);
    expect(tp.state).toBe(TcpState.TIME_WAIT);
    s.at(60_000);
    expect(tp.state).toBe(TcpState.CLOSED);
  });
});

describe("persist timer", () => {
  it("probes a zero window with one byte and resumes when it opens", () => {
    const s = new TcpScript();
    s.acceptHandshake({}, { win: 0 });
    const tp = s.tp!;
    s.engine.send(tp, pattern(0, 100), s.now);
    s.expectNone();
    s.at(5000);
    s.expect({ flags: ".", seq: 1, len: 1, at: 5000 });
    s.inject({ flags: ".", seq: 1, ack: 1, win: 0 });
    s.at(10_000);
    s.expect({ seq: 1, len: 1, at: 10_000 });
    expect(s.engine.stats.sndprobe).toBe(2);
    s.at(12_000);
    s.inject({ flags: ".", seq: 1, ack: 1, win: 1000 });
    s.expect({ flags: "P.", seq: 1, len: 100, at: 12_000 });
    s.inject({ flags: ".", seq: 1, ack: 101, win: 1000 });
    s.at(100_000);
    s.expectNone();
    expect(tp.state).toBe(TcpState.ESTABLISHED);
  });
});

describe("keepalive", () => {
  const config = { keepIdle: 10_000, keepIntvl: 1000, keepCnt: 3 };

  it("probes an idle connection and drops it when nothing answers", () => {
    const s = new TcpScript({ config });
    s.acceptHandshake();
    const tp = s.tp!;
    s.at(20_000);
    // <SEQ=SND.UNA−1><ACK=RCV.NXT><CTL=ACK>
    s.expect({ flags: ".", seq: 0, ack: 1, at: 10_000 });
    s.expect({ flags: ".", seq: 0, ack: 1, at: 11_000 });
    s.expect({ flags: ".", seq: 0, ack: 1, at: 12_000 });
    s.expect({ flags: "R.", at: 13_000 });
    expect(tp.state).toBe(TcpState.CLOSED);
    expect(s.eventsOf(TcpEvent.RESET)).toEqual([{ t: 13_000, err: "ETIMEDOUT" }]);
  });

  it("an answer keeps the connection", () => {
    const s = new TcpScript({ config });
    s.acceptHandshake();
    s.at(10_000);
    s.expect({ seq: 0, at: 10_000 });
    s.at(10_001);
    s.inject({ flags: ".", seq: 1, ack: 1 });
    s.at(20_000);
    s.expectNone();
    s.at(20_001);
    s.expect({ seq: 0, at: 20_001 });
    expect(s.tp!.state).toBe(TcpState.ESTABLISHED);
  });
});
