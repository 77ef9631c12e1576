/**
 * What DragonFly's TCP does beyond RFC 6675 loss recovery, one scripted peer per feature:
 * Eifel detection and response (RFC 3522, RFC 4015), NCR (RFC 4653), the rescue
 * retransmission (RFC 6675 §4 rule 4), D-SACK sent and used (RFC 2883, RFC 3708), early
 * retransmit (RFC 5827) and ECN (RFC 3168). Each test names the rule it checks; the
 * expected numbers are worked from that rule by hand (in the comments), and each feature
 * is also run switched off, where the rule's effect must be absent.
 */
import { describe, expect, it } from "vitest";
import { TCP_DEFAULTS, TcpFlags, TF, type TcpConfig } from "@dfly/core";
import { pattern, TcpScript } from "../../../support/tcpscript.js";

/** Segment payload with timestamps: MSS 1460 − 12 bytes of timestamp option. */
const TSEG = 1448;
/** Segment payload without timestamps. */
const SEG = 1460;
/** Relative sequence number of the first byte of segment k (1-based) for segment size m. */
const at = (m: number) => (k: number) => 1 + (k - 1) * m;

function script(config: Partial<TcpConfig>): TcpScript {
  return new TcpScript({ config: { iwMaxSegs: 10, iwCapSegs: 10, ...config } });
}

/** Data segments the stack sent after time `t0`, as relative sequence numbers. */
function dataSentAfter(s: TcpScript, t0: number): number[] {
  return s.sent.filter((e) => e.t > t0 && e.seg.payload.length > 0).map((e) => s.relLocal(e.seg.seq));
}

/** The TSval the stack put on the first transmission of relative sequence `q`. */
function tsvalOf(s: TcpScript, q: number): number {
  const e = s.sent.find((x) => x.seg.payload.length > 0 && s.relLocal(x.seg.seq) === q);
  return e!.seg.options!.timestamp!.val;
}

describe("the defaults are DragonFly's (dragonfly-semantics §9)", () => {
  it("eifel, ncr, rescuesack, earlyretransmit on; D-SACK on; ECN off (DragonFly's TCP has none)", () => {
    expect(TCP_DEFAULTS).toMatchObject({ eifel: true, ncr: true, rescueSack: true, dsack: true, earlyRetransmit: true, ecn: false });
  });

  it("a switch that is not a boolean is refused", () => {
    expect(() => script({ eifel: 1 as unknown as boolean })).toThrow(/eifel/);
    expect(() => script({ ecn: "yes" as unknown as boolean })).toThrow(/ecn/);
  });
});

describe("Eifel detection (RFC 3522) and response (RFC 4015)", () => {
  const S = at(TSEG);
  /** 4 segments out at 0 and acknowledged at 100 (RTT 100 ms), 4 more out at 100 whose ACK is late. */
  function spuriousTimeout(eifel: boolean) {
    const s = script({ eifel });
    s.acceptHandshake({ sackOk: true, ts: [500, 0] }, { ts: "echo" });
    const tp = s.tp!;
    s.engine.send(tp, pattern(0, 4 * TSEG), s.now);
    s.drain();
    s.at(100);
    s.inject({ flags: ".", seq: 1, ack: S(5), ts: [1100, tsvalOf(s, S(1))] });
    // RFC 6298 first sample R = 100: SRTT 100, RTTVAR 50, RTO = 100 + 4·50 = 300 (+160 DragonFly slop).
    expect(tp.t_rxtcur).toBe(460);
    // Slow start (RFC 5681 §3.1): IW 10·1448 = 14480, one ACK opens one SMSS: 15928.
    expect(tp.snd_cwnd).toBe(15928);
    expect(tp.snd_ssthresh).toBe(0x3fffffff);
    s.engine.send(tp, pattern(4 * TSEG, 4 * TSEG), s.now);
    expect(s.drain().map((e) => s.relLocal(e.seg.seq))).toEqual([S(5), S(6), S(7), S(8)]);
    s.at(560); // the delay spike: the RTO fires
    expect(dataSentAfter(s, 100)).toEqual([S(5)]);
    // RFC 5681 §3.1 eq. (4) as DragonFly rounds it: ssthresh = ⌊15928 / 2 / 1448⌋·1448 = 7240, cwnd = 1 SMSS.
    expect(tp.snd_ssthresh).toBe(7240);
    expect(tp.snd_cwnd).toBe(TSEG);
    const retransmitTS = s.sent[s.sent.length - 1].seg.options!.timestamp!.val;
    // At 700 the ACK of the originals arrives, echoing the TSval they left with at 100.
    s.at(700);
    s.inject({ flags: ".", seq: 1, ack: S(9), ts: [1700, tsvalOf(s, S(8))] });
    return { s, tp, retransmitTS };
  }

  it("a timeout whose ACK echoes an older timestamp than the retransmission is undone (RFC 3522 §2; RFC 4015 §2 steps 4–6)", () => {
    const { s, tp, retransmitTS } = spuriousTimeout(true);
    const st = s.engine.stats;
    // RFC 3522 §2: TSecr of the first acceptable ACK (TSval at 100) < RetransmitTS (TSval at 560).
    expect(((tsvalOf(s, S(8)) - retransmitTS) | 0) < 0).toBe(true);
    expect(st.eifeldetected).toBe(1);
    expect(st.sndrtobad).toBe(1);
    // 700 ≥ 560 + SRTT/2 (610): the RTT heuristic could not have told.
    expect(st.rttcantdetect).toBe(1);
    expect(st.rttdetected).toBe(0);
    // Undone: ssthresh back to what it was; cwnd back to 15928, then this ACK's slow-start SMSS.
    expect(tp.snd_ssthresh).toBe(0x3fffffff);
    expect(tp.snd_cwnd).toBe(15928 + TSEG);
    // RFC 4015 step 4: SND.NXT ← SND.MAX — segments 6 to 8 are never sent again.
    s.at(701);
    expect(dataSentAfter(s, 100)).toEqual([S(5)]);
    // Step 6 on the first ACK for data sent after the timeout, R' = 100:
    // SRTT ← max(SRTT_prev = 100 + 2G (G = 10 ms), 100) = 120; RTTVAR ← max(50, 100/2) = 50;
    // RTO = 120 + 4·50 = 320 (+160 slop) = 480, and at least the RTO that fired + 2G = 460 + 20.
    s.engine.send(tp, pattern(8 * TSEG, TSEG), s.now);
    const sentAt = s.now;
    s.drain();
    s.at(sentAt + 100);
    s.inject({ flags: ".", seq: 1, ack: S(10), ts: [1800, tsvalOf(s, S(9))] });
    expect(st.eifelresponse).toBe(1);
    expect(tp.t_srtt >> 3).toBe(120);
    expect(tp.t_rxtcur).toBe(480);
    expect(st.rexmttimeo).toBe(1);
  });

  it("with eifel off the same timeout stays a timeout: ssthresh halved, slow start from one segment", () => {
    const { s, tp } = spuriousTimeout(false);
    expect(s.engine.stats.eifeldetected).toBe(0);
    expect(s.engine.stats.sndrtobad).toBe(0);
    expect(tp.snd_ssthresh).toBe(7240);
    // RFC 5681 slow start from cwnd 1448 on an ACK of 4 segments: + 1 SMSS.
    expect(tp.snd_cwnd).toBe(2 * TSEG);
  });

  it("an ACK echoing the retransmission's own timestamp is not spurious (RFC 3522 §2: TSecr ≥ RetransmitTS)", () => {
    const s = script({});
    s.acceptHandshake({ sackOk: true, ts: [500, 0] }, { ts: "echo" });
    const tp = s.tp!;
    s.engine.send(tp, pattern(0, 2 * TSEG), s.now);
    s.drain();
    s.at(1160); // RTO: 1000 ms base + 160 slop
    const rx = s.drain().filter((e) => e.seg.payload.length > 0);
    expect(rx.length).toBe(1);
    s.at(1200);
    s.inject({ flags: ".", seq: 1, ack: S(3), ts: [2200, rx[0].seg.options!.timestamp!.val] });
    expect(s.engine.stats.eifeldetected).toBe(0);
    expect(s.engine.stats.sndrtobad).toBe(0);
    // Not undone: the timeout's ssthresh stays (DragonFly's ⌊min(wnd, cwnd 14480) / 2 / 1448⌋·1448).
    expect(tp.snd_ssthresh).toBe(7240);
  });
});

describe("NCR, non-congestion robustness (RFC 4653)", () => {
  const S = at(SEG);
  /** 20 segments in flight; segment 1 is reordered behind `n` segments the peer SACKs. */
  function reordered(ncr: boolean, n: number) {
    const s = script({ ncr, iwMaxSegs: 20, iwCapSegs: 20 });
    s.acceptHandshake({ sackOk: true });
    const tp = s.tp!;
    s.engine.send(tp, pattern(0, 20 * SEG), s.now);
    expect(s.drain().length).toBe(20);
    for (let k = 2; k <= n + 1; k++) {
      s.at(10 + k);
      s.inject({ flags: ".", seq: 1, ack: 1, sack: [[S(2), S(k + 1)]] });
    }
    return { s, tp };
  }

  it("DupThresh follows the flight: 20 segments out, threshold max(3, 20·½) = 10 (§3.1, DragonFly's ½)", () => {
    const { s, tp } = reordered(true, 1);
    expect(tp.t_rxtthresh).toBe(10);
    expect(dataSentAfter(s, 0)).toEqual([]);
  });

  it("reordering that SACK reveals (7 segments past the late one) sends no retransmission; the late segment's ACK ends it", () => {
    const { s, tp } = reordered(true, 7);
    expect(dataSentAfter(s, 0)).toEqual([]);
    expect(tp.t_flags & TF.FASTRECOVERY).toBe(0);
    s.at(30);
    s.inject({ flags: ".", seq: 1, ack: S(9) }); // the reordered segment 1 arrives
    expect(dataSentAfter(s, 0)).toEqual([]);
    expect(s.engine.stats.sndfastrexmit).toBe(0);
    expect(s.engine.stats.sndrexmitpack).toBe(0);
    expect(s.engine.stats.ncrheld).toBe(1);
  });

  it("a real loss is still repaired by fast retransmit at the 10th duplicate ACK (§3.2), without a timeout", () => {
    const { s, tp } = reordered(true, 10);
    expect(tp.t_flags & TF.FASTRECOVERY).toBeTruthy();
    expect(dataSentAfter(s, 0)[0]).toBe(S(1));
    expect(s.engine.stats.sndfastrexmit).toBe(1);
    expect(s.engine.stats.rexmttimeo).toBe(0);
  });

  it("with ncr off the same reordering is taken for loss at the 3rd duplicate ACK (RFC 6675 DupThresh 3)", () => {
    const { s } = reordered(false, 7);
    expect(dataSentAfter(s, 0)).toEqual([S(1)]);
    expect(s.engine.stats.sndfastrexmit).toBe(1);
  });
});

describe("the rescue retransmission (RFC 6675 §4, NextSeg() rule 4)", () => {
  const S = at(SEG);
  /** 10 segments; 3 and the last one (10) are lost; the peer SACKs 4 to 9. */
  function tailLoss(rescueSack: boolean) {
    const s = script({ rescueSack });
    s.acceptHandshake({ sackOk: true });
    const tp = s.tp!;
    s.engine.send(tp, pattern(0, 10 * SEG), s.now);
    s.drain();
    s.at(10);
    s.inject({ flags: ".", seq: 1, ack: S(3) });
    // NCR: 8 segments out, DupThresh max(3, 4) = 4; the 4th duplicate starts recovery.
    for (let k = 5; k <= 8; k++) s.inject({ flags: ".", seq: 1, ack: S(3), sack: [[S(4), S(k)]] });
    expect(tp.t_flags & TF.FASTRECOVERY).toBeTruthy();
    // cwnd = ssthresh = 8·1460/2 = 4 segments; pipe = 1 (retransmitted 3) + 3 (8, 9, 10) = cwnd.
    expect(dataSentAfter(s, 0)).toEqual([S(3)]);
    s.at(11);
    s.inject({ flags: ".", seq: 1, ack: S(3), sack: [[S(4), S(9)]] }); // 8 arrived: pipe 3, room for one
    s.at(12);
    s.inject({ flags: ".", seq: 1, ack: S(3), sack: [[S(4), S(10)]] }); // 9 arrived
    s.at(20);
    s.inject({ flags: ".", seq: 1, ack: S(10) }); // the retransmitted 3
    return { s, tp };
  }

  it("when rules 1–3 find nothing, one segment holding the highest unSACKed octet (segment 10) goes once", () => {
    const { s, tp } = tailLoss(true);
    // Rule 4 at the first ACK that left room: rule 1 (3 is below HighRxt), 2 (no new data), 3 fail.
    expect(dataSentAfter(s, 0)).toEqual([S(3), S(10)]);
    expect(s.engine.stats.sackrescue).toBe(1);
    s.at(21);
    s.inject({ flags: ".", seq: 1, ack: S(11) }); // the rescued 10
    expect(tp.sndCc).toBe(0);
    expect(tp.t_flags & TF.FASTRECOVERY).toBe(0);
    s.at(10_000);
    expect(s.engine.stats.rexmttimeo).toBe(0);
    expect(dataSentAfter(s, 0)).toEqual([S(3), S(10)]);
  });

  it("with rescuesack off the lost tail waits for the retransmission timeout", () => {
    const { s } = tailLoss(false);
    expect(dataSentAfter(s, 0)).toEqual([S(3)]);
    s.at(3000);
    expect(s.engine.stats.rexmttimeo).toBeGreaterThanOrEqual(1);
    expect(dataSentAfter(s, 20)).toContain(S(10));
  });
});

describe("D-SACK (RFC 2883) sent for duplicates and used to undo (RFC 3708)", () => {
  it("a duplicate segment is reported in the first SACK block, once; SACK blocks for queued data follow (RFC 2883 §4)", () => {
    const s = script({});
    s.acceptHandshake({ sackOk: true });
    s.inject({ flags: "P.", seq: 1, ack: 1, data: 100 });
    s.wait(200); // delayed ACK
    s.expect({ flags: ".", ack: 101, sack: [] });
    s.inject({ flags: "P.", seq: 1, ack: 1, data: 100 }); // again: a duplicate
    s.expect({ flags: ".", ack: 101, sack: [[1, 101]] });
    s.inject({ flags: "P.", seq: 201, ack: 1, data: 100 }); // out of order
    s.expect({ flags: ".", ack: 101, sack: [[201, 301]] });
    s.inject({ flags: "P.", seq: 51, ack: 1, data: 50 }); // duplicate of the tail of the first
    s.expect({ flags: ".", ack: 101, sack: [[51, 101], [201, 301]] });
    s.inject({ flags: "P.", seq: 301, ack: 1, data: 100 }); // the next ACK no longer reports it
    s.expect({ flags: ".", ack: 101, sack: [[201, 401]] });
    s.inject({ flags: "P.", seq: 501, ack: 1, data: 100 });
    s.expect({ flags: ".", ack: 101, sack: [[501, 601], [201, 401]] });
    // A duplicate of queued out-of-order data: D-SACK first, the block holding it second (§4.1.3).
    s.inject({ flags: "P.", seq: 201, ack: 1, data: 100 });
    s.expect({ flags: ".", ack: 101, sack: [[201, 301], [201, 401], [501, 601]] });
    expect(s.engine.stats.snddsackopt).toBe(3);
  });

  it("with dsack off duplicates are ACKed without a SACK block", () => {
    const s = script({ dsack: false });
    s.acceptHandshake({ sackOk: true });
    s.inject({ flags: "P.", seq: 1, ack: 1, data: 100 });
    s.wait(200);
    s.drain();
    s.inject({ flags: "P.", seq: 1, ack: 1, data: 100 });
    s.expect({ flags: ".", ack: 101, sack: [] });
    expect(s.engine.stats.snddsackopt).toBe(0);
  });

  const S = at(SEG);
  /** 10 segments; segment 3 is late, not lost: fast retransmit, then its D-SACK comes back. */
  function reorderedThenDsack(dsack: boolean) {
    const s = script({ dsack });
    s.acceptHandshake({ sackOk: true }); // no timestamps: Eifel cannot tell, only D-SACK can
    const tp = s.tp!;
    s.engine.send(tp, pattern(0, 10 * SEG), s.now);
    s.drain();
    s.at(10);
    s.inject({ flags: ".", seq: 1, ack: S(3) });
    // Before recovery: slow start opened IW 10 by one SMSS; ssthresh untouched.
    expect(tp.snd_cwnd).toBe(11 * SEG);
    for (const k of [5, 6, 7, 11]) s.inject({ flags: ".", seq: 1, ack: S(3), sack: [[S(4), S(k)]] });
    expect(dataSentAfter(s, 0)).toEqual([S(3)]);
    expect(tp.snd_ssthresh).toBe(4 * SEG); // RFC 6675 §5 step 4.2: FlightSize 8 segments / 2
    s.at(12);
    s.inject({ flags: ".", seq: 1, ack: S(11) }); // the original 3: everything is acknowledged
    // RFC 6582 / 6675 exit: cwnd = min(ssthresh, FlightSize 0 + SMSS).
    expect(tp.snd_cwnd).toBe(SEG);
    s.at(13);
    s.inject({ flags: ".", seq: 1, ack: S(11), sack: [[S(3), S(4)]] }); // the retransmission, a duplicate
    return { s, tp };
  }

  it("every retransmission of the episode D-SACKed: the fast retransmit was not needed and is undone (RFC 3708 §3)", () => {
    const { s, tp } = reorderedThenDsack(true);
    expect(s.engine.stats.rcvdsack).toBe(1);
    expect(s.engine.stats.sndfastrexmitbad).toBe(1);
    expect(tp.snd_cwnd).toBe(11 * SEG);
    expect(tp.snd_ssthresh).toBe(0x3fffffff);
  });

  it("with dsack off the reduction stays", () => {
    const { s, tp } = reorderedThenDsack(false);
    expect(s.engine.stats.sndfastrexmitbad).toBe(0);
    expect(tp.snd_cwnd).toBe(SEG);
    expect(tp.snd_ssthresh).toBe(4 * SEG);
  });

  it("an ACK whose only news is a D-SACK is not a duplicate ACK (RFC 2883 §5: a report of a duplicate, not of a loss)", () => {
    const s = script({});
    s.acceptHandshake({ sackOk: true });
    const tp = s.tp!;
    s.engine.send(tp, pattern(0, 6 * SEG), s.now);
    s.drain();
    s.at(10);
    s.inject({ flags: ".", seq: 1, ack: S(2) });
    for (let i = 0; i < 5; i++) s.inject({ flags: ".", seq: 1, ack: S(2), sack: [[S(1), S(2)]] });
    expect(tp.t_dupacks).toBe(0);
    expect(dataSentAfter(s, 0)).toEqual([]);
  });
});

describe("early retransmit (RFC 5827)", () => {
  const S = at(TSEG);
  function twoInFlight(earlyRetransmit: boolean) {
    const s = script({ earlyRetransmit });
    s.acceptHandshake({ sackOk: true, ts: [500, 0] }, { ts: "echo" });
    const tp = s.tp!;
    s.engine.send(tp, pattern(0, 2 * TSEG), s.now);
    expect(s.drain().length).toBe(2);
    s.at(50);
    s.inject({ flags: ".", seq: 1, ack: S(1), sack: [[S(2), S(3)]], ts: "echo" }); // segment 2 arrived, 1 did not
    return { s, tp };
  }

  it("two segments out and nothing new to send: ER_thresh = oseg − 1 = 1 duplicate ACK retransmits (§3.1, §3.2 with SACK)", () => {
    const { s, tp } = twoInFlight(true);
    expect(dataSentAfter(s, 0)).toEqual([S(1)]);
    expect(s.engine.stats.sndearlyrexmit).toBe(1);
    expect(s.engine.stats.sndfastrexmit).toBe(1);
    expect(tp.t_flags & TF.FASTRECOVERY).toBeTruthy();
    s.at(60);
    s.inject({ flags: ".", seq: 1, ack: S(3), ts: "echo" });
    expect(tp.sndCc).toBe(0);
    expect(s.engine.stats.rexmttimeo).toBe(0);
  });

  it("with earlyretransmit off one duplicate ACK does nothing: the loss waits for the timeout", () => {
    const { s } = twoInFlight(false);
    expect(dataSentAfter(s, 0)).toEqual([]);
    s.at(1200);
    expect(s.engine.stats.rexmttimeo).toBe(1);
    expect(s.engine.stats.sndearlyrexmit).toBe(0);
  });
});

describe("ECN (RFC 3168)", () => {
  const S = at(SEG);
  const ECT0 = 2;
  const CE = 3;

  it("an ECN-setup SYN (ECE|CWR) gets an ECN-setup SYN|ACK (ECE, not CWR) (§6.1.1); without ecn, none", () => {
    const on = script({ ecn: true });
    on.listen();
    on.inject({ flags: "SEW", seq: 0, mss: 1460 });
    on.expect({ flags: "SE." });
    on.inject({ flags: ".", seq: 1, ack: 1 });
    expect(on.tp!.t_flags & TF.ECN_PERMIT).toBeTruthy();
    expect(on.engine.stats.ecn_shs).toBe(1);
    const off = script({});
    off.listen();
    off.inject({ flags: "SEW", seq: 0, mss: 1460 });
    off.expect({ flags: "S." });
    // The syncache path answers the same way.
    const sc = script({ ecn: true });
    const sa = sc.acceptViaSyncache({ flags: "SEW" });
    expect(sa.flags & (TcpFlags.ECE | TcpFlags.CWR)).toBe(TcpFlags.ECE);
    expect(sc.tp!.t_flags & TF.ECN_PERMIT).toBeTruthy();
  });

  it("an active open asks with ECE|CWR and agrees only to a SYN|ACK with ECE alone (§6.1.1)", () => {
    const s = script({ ecn: true });
    s.connect();
    s.expect({ flags: "SEW" });
    s.inject({ flags: "SE.", seq: 0, ack: 1, mss: 1460 });
    expect(s.tp!.t_flags & TF.ECN_PERMIT).toBeTruthy();
    const t = script({ ecn: true });
    t.connect();
    t.drain();
    t.inject({ flags: "SEW.", seq: 0, ack: 1, mss: 1460 }); // ECE|CWR on a SYN|ACK is not ECN-setup
    expect(t.tp!.t_flags & TF.ECN_PERMIT).toBe(0);
  });

  function ecnConn() {
    const s = script({ ecn: true });
    s.listen();
    s.inject({ flags: "SEW", seq: 0, mss: 1460 });
    s.drain();
    s.inject({ flags: ".", seq: 1, ack: 1 });
    return { s, tp: s.tp! };
  }

  it("new data is ECT(0); pure ACKs and retransmissions are not ECT (§6.1.4, §6.1.5)", () => {
    const { s, tp } = ecnConn();
    s.engine.send(tp, pattern(0, 2 * SEG), s.now);
    s.expect({ seq: S(1), tos: ECT0 });
    s.expect({ seq: S(2), tos: ECT0 });
    s.inject({ flags: "P.", seq: 1, ack: 1, data: 10 });
    s.wait(200);
    s.expect({ flags: ".", len: 0, tos: 0 });
    s.at(2000); // RTO
    s.expect({ seq: S(1), len: SEG, tos: 0 });
    expect(s.engine.stats.ecn_ect0).toBe(2);
  });

  it("CE received: every ACK carries ECE until data with CWR arrives (§6.1.3)", () => {
    const { s } = ecnConn();
    s.inject({ flags: "P.", seq: 1, ack: 1, data: 100, tos: CE });
    s.expect({ flags: "E.", ack: 101 }); // ACKed at once
    s.inject({ flags: "P.", seq: 101, ack: 1, data: 100, tos: ECT0 });
    s.inject({ flags: "P.", seq: 201, ack: 1, data: 100, tos: ECT0 });
    s.expect({ flags: "E.", ack: 301 });
    s.inject({ flags: "PW.", seq: 301, ack: 1, data: 100, tos: ECT0 });
    s.wait(200);
    s.expect({ flags: ".", ack: 401 });
    expect(s.engine.stats.ecn_ce).toBe(1);
  });

  it("ECE received: ssthresh = cwnd = max(FlightSize/2, 2·SMSS), once per window, and the next new data carries CWR (§6.1.2)", () => {
    const { s, tp } = ecnConn();
    s.engine.send(tp, pattern(0, 20 * SEG), s.now);
    expect(s.drain().length).toBe(10); // IW 10
    s.at(10);
    s.inject({ flags: "E.", seq: 1, ack: S(3) }); // FlightSize after this ACK: 8 segments
    expect(tp.snd_ssthresh).toBe(4 * SEG);
    expect(tp.snd_cwnd).toBe(4 * SEG);
    expect(s.engine.stats.ecn_rcwnd).toBe(1);
    s.inject({ flags: "E.", seq: 1, ack: S(4) }); // the same window: no second reduction
    expect(s.engine.stats.ecn_rcwnd).toBe(1);
    s.inject({ flags: ".", seq: 1, ack: S(9) }); // cwnd 4 segments, 2 out: new data goes
    const out = s.drain().filter((e) => e.seg.payload.length > 0);
    expect(out.length).toBeGreaterThan(0);
    expect(out[0].seg.flags & TcpFlags.CWR).toBeTruthy();
    expect(out.slice(1).every((e) => !(e.seg.flags & TcpFlags.CWR))).toBe(true);
  });
});
