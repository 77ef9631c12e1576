/**
 * Loss recovery: SACK with RFC 6675 (retransmits exactly the holes) and NewReno
 * (RFC 6582) when SACK was not negotiated. Ten segments go out in the initial
 * window (per-CPU iwmaxsegs/iwcapsegs 10), segments 3 and 6 are "lost".
 *
 * These check RFC 6675 with its fixed DupThresh of 3 and NextSeg() rules 1–3, so NCR
 * (RFC 4653, which moves the threshold with the flight) and the rescue retransmission
 * (rule 4, which would also resend segment 10 here) are off; tcp_recovery.test.ts checks them.
 */
import { describe, expect, it } from "vitest";
import { TcpState, TF, tcpSackIsLost, tcpSackPipe } from "@dfly/core";
import { pattern, TcpScript } from "../../../support/tcpscript.js";

const MSS = 1460;
/** Relative sequence number of the first byte of segment k (1-based). */
const S = (k: number) => 1 + (k - 1) * MSS;

function tenSegments(sack: boolean): TcpScript {
  const s = new TcpScript({ config: { iwMaxSegs: 10, iwCapSegs: 10, ncr: false, rescueSack: false } });
  s.acceptHandshake(sack ? { sackOk: true } : {});
  s.engine.send(s.tp!, pattern(0, 10 * MSS), s.now);
  const first = s.drain();
  expect(first.map((e) => s.relLocal(e.seg.seq))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map(S));
  return s;
}

/** Data segments sent after time 0, as relative sequence numbers. */
const retransmitted = (s: TcpScript) => s.sent.filter((e) => e.t > 0 && e.seg.payload.length > 0).map((e) => s.relLocal(e.seg.seq));

describe("SACK loss recovery (RFC 2018 + RFC 6675)", () => {
  it("retransmits exactly the two holes, each once, without a timeout", () => {
    const s = tenSegments(true);
    const tp = s.tp!;
    const ack = S(3);
    s.at(10);
    s.inject({ flags: ".", seq: 1, ack }); // segments 1 and 2 arrived
    s.at(11);
    s.inject({ flags: ".", seq: 1, ack, sack: [[S(4), S(5)]] });
    s.at(12);
    s.inject({ flags: ".", seq: 1, ack, sack: [[S(4), S(6)]] });
    expect(retransmitted(s)).toEqual([]);
    s.at(13);
    s.inject({ flags: ".", seq: 1, ack, sack: [[S(7), S(8)], [S(4), S(6)]] }); // third duplicate ACK
    expect(tp.t_flags & TF.FASTRECOVERY).toBeTruthy();
    expect(retransmitted(s)).toEqual([S(3)]);
    expect(tcpSackIsLost(tp, S(3) + s.localIsn!)).toBe(true);
    expect(tcpSackIsLost(tp, S(6) + s.localIsn!)).toBe(false); // one segment SACKed above it
    expect(tp.snd_cwnd).toBe(4 * MSS); // cwnd = ssthresh = FlightSize/2 = 8 segments / 2
    s.at(14);
    s.inject({ flags: ".", seq: 1, ack, sack: [[S(7), S(9)], [S(4), S(6)]] });
    expect(retransmitted(s)).toEqual([S(3)]); // pipe = cwnd: nothing more
    s.at(15);
    s.inject({ flags: ".", seq: 1, ack, sack: [[S(7), S(10)], [S(4), S(6)]] }); // segment 6 now IsLost()
    expect(retransmitted(s)).toEqual([S(3), S(6)]);
    s.at(16);
    s.inject({ flags: ".", seq: 1, ack, sack: [[S(7), S(11)], [S(4), S(6)]] });
    expect(tcpSackPipe(tp)).toBe(2 * MSS);
    s.at(20);
    s.inject({ flags: ".", seq: 1, ack: S(6), sack: [[S(7), S(11)]] }); // retransmitted 3 arrived
    expect(tp.t_flags & TF.FASTRECOVERY).toBeTruthy();
    s.at(21);
    s.inject({ flags: ".", seq: 1, ack: S(11) }); // retransmitted 6 arrived: everything
    expect(tp.t_flags & TF.FASTRECOVERY).toBeFalsy();
    expect(tp.sndCc).toBe(0);
    expect(tp.t_scb).toBeNull();
    s.at(5000);
    expect(retransmitted(s)).toEqual([S(3), S(6)]);
    const st = s.engine.stats;
    expect(st.sack_recovery_episode).toBe(1);
    expect(st.sack_rexmits).toBe(2);
    expect(st.rexmttimeo).toBe(0);
    expect(tp.state).toBe(TcpState.ESTABLISHED);
  });

  it("counts ACKs that carry new SACK information as duplicates even when the window changes (RFC 6675 §2, Linux's receiver)", () => {
    // Seen over TUN: Linux's duplicate ACKs each advertise a slightly larger window while it
    // holds out-of-order data (554, 557, 560 ... ×2^wscale). RFC 6675 §2's DupAck has no
    // window condition when the ACK carries new SACK information, so the third one must
    // start fast retransmit; with RFC 5681's "same window" rule we waited for the RTO.
    const s = tenSegments(true);
    const tp = s.tp!;
    const ack = S(3);
    s.at(10);
    s.inject({ flags: ".", seq: 1, ack, win: 60000 });
    s.at(11);
    s.inject({ flags: ".", seq: 1, ack, win: 60100, sack: [[S(4), S(5)]] });
    s.at(12);
    s.inject({ flags: ".", seq: 1, ack, win: 60200, sack: [[S(5), S(6)]] });
    expect(retransmitted(s)).toEqual([]);
    s.at(13);
    s.inject({ flags: ".", seq: 1, ack, win: 60300, sack: [[S(6), S(7)]] }); // the third duplicate (segments 4, 5, 6 SACKed)
    expect(tp.t_flags & TF.FASTRECOVERY).toBeTruthy();
    expect(retransmitted(s)).toEqual([S(3)]);
    expect(s.engine.stats.sack_recovery_episode).toBe(1);
  });

  it("a loss right after a recovery that ended with a full ACK is fast-retransmitted too", () => {
    const s = tenSegments(true);
    const tp = s.tp!;
    s.engine.send(tp, pattern(10 * MSS, 20 * MSS), s.now);
    const ack = S(3);
    s.at(10);
    s.inject({ flags: ".", seq: 1, ack });
    s.inject({ flags: ".", seq: 1, ack, sack: [[S(4), S(5)]] });
    s.inject({ flags: ".", seq: 1, ack, sack: [[S(4), S(6)]] });
    s.inject({ flags: ".", seq: 1, ack, sack: [[S(4), S(7)]] });
    const sentAt = (q: number) => s.sent.filter((e) => e.seg.payload.length > 0 && s.relLocal(e.seg.seq) === q).length;
    expect(sentAt(S(3))).toBe(2);
    s.at(20);
    s.inject({ flags: ".", seq: 1, ack: s.relLocal(tp.snd_max) }); // full ACK: recovery over
    expect(tp.t_flags & TF.FASTRECOVERY).toBeFalsy();
    for (let i = 0; i < 6; i++) s.inject({ flags: ".", seq: 1, ack: s.relLocal(tp.snd_una) + MSS }); // slow start opens cwnd again
    s.drain();
    const k = s.relLocal(tp.snd_una); // the next segment is lost
    expect(s.relLocal(tp.snd_max)).toBeGreaterThanOrEqual(k + 4 * MSS);
    s.at(21);
    s.inject({ flags: ".", seq: 1, ack: k, win: 60000, sack: [[k + MSS, k + 2 * MSS]] });
    s.inject({ flags: ".", seq: 1, ack: k, win: 60100, sack: [[k + MSS, k + 3 * MSS]] });
    s.inject({ flags: ".", seq: 1, ack: k, win: 60100, sack: [[k + MSS, k + 4 * MSS]] });
    expect(tp.t_flags & TF.FASTRECOVERY).toBeTruthy();
    expect(sentAt(k)).toBe(2);
    expect(s.engine.stats.rexmttimeo).toBe(0);
  });

  it("the segment at the recovery point lost too: a new recovery starts once the cumulative ACK reaches it (RFC 6675 §5)", () => {
    // Seen over TUN: recovery ends with ACK == RecoveryPoint (snd_recover, HighData + 1); the
    // next segment, sent during that recovery, was lost as well. Linux's three duplicate ACKs
    // (SACKing what follows) must start a new recovery — NewReno's "ack must pass recover"
    // rule (RFC 6582 §3.2 step 2) made us wait for the RTO.
    const s = tenSegments(true);
    const tp = s.tp!;
    s.engine.send(tp, pattern(10 * MSS, 20 * MSS), s.now);
    s.drain();
    const ack = S(3);
    s.at(10);
    s.inject({ flags: ".", seq: 1, ack });
    s.drain();
    s.inject({ flags: ".", seq: 1, ack, sack: [[S(4), S(5)]] });
    s.inject({ flags: ".", seq: 1, ack, sack: [[S(4), S(6)]] });
    s.inject({ flags: ".", seq: 1, ack, sack: [[S(4), S(7)]] });
    expect(tp.t_flags & TF.FASTRECOVERY).toBeTruthy();
    const rp = s.relLocal(tp.snd_recover);
    s.inject({ flags: ".", seq: 1, ack, sack: [[S(4), rp]] }); // all but segment 3 SACKed: new data goes out
    s.drain();
    expect(s.relLocal(tp.snd_max)).toBeGreaterThan(rp + 3 * MSS);
    s.at(20);
    s.inject({ flags: ".", seq: 1, ack: rp }); // cumulative ACK of RecoveryPoint: recovery over
    expect(tp.t_flags & TF.FASTRECOVERY).toBeFalsy();
    const sentAt = (q: number) => s.sent.filter((e) => e.seg.payload.length > 0 && s.relLocal(e.seg.seq) === q).length;
    expect(sentAt(rp)).toBe(1);
    s.at(21);
    s.inject({ flags: ".", seq: 1, ack: rp, sack: [[rp + MSS, rp + 2 * MSS]] });
    s.inject({ flags: ".", seq: 1, ack: rp, sack: [[rp + MSS, rp + 3 * MSS]] });
    s.inject({ flags: ".", seq: 1, ack: rp, sack: [[rp + MSS, rp + 4 * MSS]] });
    expect(tp.t_flags & TF.FASTRECOVERY).toBeTruthy();
    expect(sentAt(rp)).toBe(2);
    expect(s.engine.stats.sack_recovery_episode).toBe(2);
    expect(s.engine.stats.rexmttimeo).toBe(0);
  });

  it("an ACK with a new window and no new SACK information is a window update, not a duplicate", () => {
    const s = tenSegments(true);
    const tp = s.tp!;
    const ack = S(3);
    s.at(10);
    s.inject({ flags: ".", seq: 1, ack, win: 65535 });
    for (let i = 0; i < 4; i++) s.inject({ flags: ".", seq: 1, ack, win: 60000 + i, sack: [[S(4), S(5)]] });
    expect(tp.t_flags & TF.FASTRECOVERY).toBeFalsy();
    expect(retransmitted(s)).toEqual([]);
  });

  it("sends new data by RFC 6675 rule 2 while holes are not yet lost", () => {
    const s = tenSegments(true);
    const tp = s.tp!;
    s.engine.send(tp, pattern(10 * MSS, 5 * MSS), s.now); // more data queued behind the window
    s.drain();
    const ack = S(3);
    s.at(10);
    s.inject({ flags: ".", seq: 1, ack });
    s.drain(); // the window grew: new segments 11.. went out
    const before = tp.snd_max;
    s.inject({ flags: ".", seq: 1, ack, sack: [[S(4), S(5)]] });
    s.inject({ flags: ".", seq: 1, ack, sack: [[S(4), S(6)]] });
    s.inject({ flags: ".", seq: 1, ack, sack: [[S(7), S(8)], [S(4), S(6)]] });
    const sent = s.drain().map((e) => s.relLocal(e.seg.seq));
    expect(tp.t_flags & TF.FASTRECOVERY).toBeTruthy();
    // the first hole once; everything else is new data (limited transmit, then rule 2)
    expect(sent.filter((q) => q === S(3)).length).toBe(1);
    const newData = sent.filter((q) => q !== S(3));
    expect(newData.length).toBeGreaterThan(0);
    for (const q of newData) expect(q).toBeGreaterThanOrEqual((before - (s.localIsn! | 0)) | 0);
  });
});

describe("NewReno (RFC 6582) without SACK", () => {
  it("fast retransmit on the third duplicate ACK, the second hole on the partial ACK", () => {
    const s = tenSegments(false);
    const tp = s.tp!;
    expect(tp.t_flags & TF.SACK_PERMITTED).toBe(0);
    const ack = S(3);
    s.at(10);
    s.inject({ flags: ".", seq: 1, ack });
    for (let i = 0; i < 2; i++) s.inject({ flags: ".", seq: 1, ack });
    expect(retransmitted(s)).toEqual([]);
    s.at(13);
    s.inject({ flags: ".", seq: 1, ack }); // third duplicate
    expect(retransmitted(s)).toEqual([S(3)]);
    expect(tp.snd_ssthresh).toBe(4 * MSS); // FlightSize 8 segments / 2
    expect(tp.snd_cwnd).toBe(tp.snd_ssthresh + 3 * MSS);
    for (let i = 0; i < 3; i++) s.inject({ flags: ".", seq: 1, ack }); // segments 8, 9, 10 arrive
    expect(tp.snd_cwnd).toBe(tp.snd_ssthresh + 6 * MSS); // inflated per duplicate
    expect(retransmitted(s)).toEqual([S(3)]);
    s.at(20);
    s.inject({ flags: ".", seq: 1, ack: S(6) }); // partial ACK: 3, 4, 5
    expect(retransmitted(s)).toEqual([S(3), S(6)]);
    expect(tp.t_flags & TF.FASTRECOVERY).toBeTruthy();
    s.at(21);
    s.inject({ flags: ".", seq: 1, ack: S(11) });
    expect(tp.t_flags & TF.FASTRECOVERY).toBeFalsy();
    expect(tp.snd_cwnd).toBe(MSS); // min(ssthresh, FlightSize + MSS) with nothing in flight
    s.at(5000);
    expect(retransmitted(s)).toEqual([S(3), S(6)]);
    expect(s.engine.stats.newreno_recovery_episode).toBe(1);
    expect(s.engine.stats.newreno_partialack).toBe(1);
    expect(s.engine.stats.rexmttimeo).toBe(0);
  });

  it("two duplicate ACKs are not enough; the RTO still repairs a single loss", () => {
    const s = tenSegments(false);
    const tp = s.tp!;
    s.at(10);
    s.inject({ flags: ".", seq: 1, ack: S(10) });
    s.inject({ flags: ".", seq: 1, ack: S(10) });
    s.inject({ flags: ".", seq: 1, ack: S(10) });
    expect(retransmitted(s)).toEqual([]);
    s.at(300); // RTO ≈ 173 ms here (RTT samples of 1 and 10 ms + 160 ms slop); the next would be at ≈ 369 ms
    expect(retransmitted(s)).toEqual([S(10)]);
    expect(s.engine.stats.rexmttimeo).toBe(1);
    expect(tp.snd_cwnd).toBe(MSS);
    s.inject({ flags: ".", seq: 1, ack: S(11) });
    s.at(5000);
    expect(retransmitted(s)).toEqual([S(10)]);
  });
});
