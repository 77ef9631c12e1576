/**
 * Scripted tcp_input tests (packetdrill style, see test/support/tcpscript.ts):
 * handshakes, data, RST generation, simultaneous open/close, TIME_WAIT reuse,
 * window scaling, PAWS, RFC 5961 and bad input.
 */
import { describe, expect, it } from "vitest";
import { buildTcpPacket, TcpConnectionError, TcpEvent, TcpState } from "@dfly/core";
import { pattern, TcpScript } from "../../../support/tcpscript.js";

const evs = (s: TcpScript) => s.events.map((e) => e.ev);

describe("handshake", () => {
  it("passive: SYN → SYN|ACK with negotiated options → ESTABLISHED", () => {
    const s = new TcpScript().listen();
    expect(s.inject({ flags: "S", seq: 0, win: 65535, mss: 1400, ws: 7, sackOk: true, ts: [1000, 0] })).toBe("listen");
    const sa = s.expect({ flags: "S.", seq: 0, ack: 1, mss: 1460, ws: 0, sackOk: true, tsecr: 1000, win: 57344, at: 0 });
    expect(s.tp!.stateName).toBe("SYN_RCVD");
    expect(evs(s)).toEqual([]);
    s.at(5);
    expect(s.inject({ flags: ".", seq: 1, ack: 1, ts: [1001, sa.options!.timestamp!.val] })).toBe("ok");
    const tp = s.tp!;
    expect(tp.state).toBe(TcpState.ESTABLISHED);
    expect(evs(s)).toEqual([TcpEvent.ESTABLISHED]);
    expect(tp.t_maxseg).toBe(1400 - 12); // peer MSS minus the timestamp option
    expect(tp.snd_scale).toBe(7);
    expect(tp.rcv_scale).toBe(0);
    expect(s.engine.stats.accepts).toBe(1);
    s.expectNone();
  });

  it("passive without options: no window scale, SACK or timestamps; peer MSS defaults to 512", () => {
    const s = new TcpScript().listen();
    s.inject({ flags: "S", seq: 0, win: 8192 });
    const sa = s.expect({ flags: "S.", seq: 0, ack: 1, mss: 1460, ws: null, sackOk: false });
    expect(sa.options?.timestamp).toBeUndefined();
    s.inject({ flags: ".", seq: 1, ack: 1, win: 8192 });
    expect(s.tp!.state).toBe(TcpState.ESTABLISHED);
    expect(s.tp!.t_maxseg).toBe(512);
    expect(s.tp!.snd_wnd).toBe(8192);
  });

  it("passive through the syncache interface", () => {
    const s = new TcpScript();
    s.acceptViaSyncache({ ws: 2, sackOk: true, ts: [10, 0] }, { ts: "echo" });
    expect(s.tp!.state).toBe(TcpState.ESTABLISHED);
    expect(s.tp!.snd_scale).toBe(2);
    expect(evs(s)).toEqual([TcpEvent.ESTABLISHED]);
    s.expectNone();
  });

  it("active: SYN with our options, SYN|ACK answered at once with an ACK", () => {
    const s = new TcpScript();
    s.connect();
    const syn = s.expect({ flags: "S", seq: 0, mss: 1460, ws: 0, sackOk: true, tsecr: 0, win: 57344, at: 0 });
    s.at(30);
    s.inject({ flags: "S.", seq: 0, ack: 1, mss: 1000, ws: 2, sackOk: true, ts: [77, syn.options!.timestamp!.val] });
    s.expect({ flags: ".", seq: 1, ack: 1, tsecr: 77, at: 30 });
    const tp = s.tp!;
    expect(tp.state).toBe(TcpState.ESTABLISHED);
    expect(evs(s)).toEqual([TcpEvent.ESTABLISHED]);
    expect(tp.t_maxseg).toBe(988);
    expect(tp.snd_scale).toBe(2);
    // RTT sample from the timestamp echo: 30 ms
    expect(tp.t_srtt >> 3).toBe(30);
    expect(s.engine.stats.connects).toBe(1);
  });

  it("active: SYN|ACK without options turns them off", () => {
    const s = new TcpScript();
    s.connect();
    s.expect({ flags: "S" });
    s.inject({ flags: "S.", seq: 0, ack: 1, mss: 1460 });
    const ack = s.expect({ flags: ".", seq: 1, ack: 1 });
    expect(ack.options).toBeUndefined();
    expect(s.tp!.t_maxseg).toBe(1460);
  });

  it("active: a RST|ACK for our SYN refuses the connection", () => {
    const s = new TcpScript();
    s.connect();
    s.expect({ flags: "S" });
    s.inject({ flags: "R.", seq: 0, ack: 1 });
    expect(s.tp!.state).toBe(TcpState.CLOSED);
    expect(s.events.map((e) => [e.ev, e.err])).toEqual([[TcpEvent.RESET, "ECONNREFUSED"], [TcpEvent.CLOSED, "ECONNREFUSED"]]);
  });

  it("active: a SYN|ACK acking something else gets a RST (seq = its ack)", () => {
    const s = new TcpScript();
    s.connect();
    s.expect({ flags: "S" });
    s.inject({ flags: "S.", seq: 0, ack: 5000 });
    s.expect({ flags: "R", seq: 5000 });
    expect(s.tp!.state).toBe(TcpState.SYN_SENT);
  });
});

describe("data both ways", () => {
  it("delivers data, delays the ACK, sends within the initial window, closes", () => {
    const s = new TcpScript();
    s.acceptHandshake();
    const tp = s.tp!;
    s.at(10);
    s.inject({ flags: "P.", seq: 1, ack: 1, data: 1000 });
    s.expectNone(); // delayed
    expect(s.eventsOf(TcpEvent.READABLE).length).toBe(1);
    s.at(300);
    s.expect({ flags: ".", seq: 1, ack: 1001, at: 110 });
    expect(Array.from(s.engine.recv(tp, s.now)!)).toEqual(Array.from(pattern(0, 1000)));

    expect(s.engine.send(tp, pattern(0, 3000), s.now)).toBe(3000);
    s.expect({ flags: ".", seq: 1, ack: 1001, len: 1460 });
    s.expect({ flags: ".", seq: 1461, len: 1460 });
    s.expect({ flags: "P.", seq: 2921, len: 80 });
    s.expectNone();
    s.at(320);
    s.inject({ flags: ".", seq: 1001, ack: 3001 });
    s.expectNone();
    expect(tp.sndCc).toBe(0);

    // peer closes: FIN is ACKed at once, recv reports end of stream
    s.inject({ flags: "F.", seq: 1001, ack: 3001 });
    s.expect({ flags: ".", seq: 3001, ack: 1002 });
    expect(tp.state).toBe(TcpState.CLOSE_WAIT);
    expect(s.eventsOf(TcpEvent.PEER_CLOSED).length).toBe(1);
    expect(s.engine.recv(tp, s.now)).toBeNull();

    s.engine.close(tp, s.now);
    s.expect({ flags: "F.", seq: 3001, ack: 1002 });
    expect(tp.state).toBe(TcpState.LAST_ACK);
    s.inject({ flags: ".", seq: 1002, ack: 3002 });
    expect(tp.state).toBe(TcpState.CLOSED);
    expect(s.eventsOf(TcpEvent.CLOSED)).toEqual([{ t: 320, err: null }]);
    s.expectNone();
  });

  it("queues data sent before the handshake completes and sends it after", () => {
    const s = new TcpScript();
    const tp = s.connect();
    s.expect({ flags: "S" });
    expect(s.engine.send(tp, pattern(0, 100), s.now)).toBe(100);
    s.expectNone();
    s.inject({ flags: "S.", seq: 0, ack: 1, mss: 1460 });
    s.expect({ flags: "P.", seq: 1, ack: 1, len: 100 });
  });

  it("send returns a short count when the buffer is full, then WRITABLE", () => {
    const s = new TcpScript({ config: { sendspace: 4096 } });
    s.acceptHandshake();
    const tp = s.tp!;
    expect(s.engine.send(tp, new Uint8Array(10_000), s.now)).toBe(4096);
    expect(s.engine.send(tp, new Uint8Array(10), s.now)).toBe(0);
    s.drain();
    s.inject({ flags: ".", seq: 1, ack: 2921 });
    expect(s.eventsOf(TcpEvent.WRITABLE).length).toBe(1);
    expect(s.engine.send(tp, new Uint8Array(10_000), s.now)).toBe(2920);
  });

  it("out-of-order data is held and reported in SACK blocks until the hole fills", () => {
    const s = new TcpScript();
    s.acceptHandshake({ sackOk: true });
    const tp = s.tp!;
    s.inject({ flags: ".", seq: 1001, ack: 1, data: 500 });
    s.expect({ flags: ".", seq: 1, ack: 1, sack: [[1001, 1501]] });
    s.inject({ flags: ".", seq: 2001, ack: 1, data: 500 });
    s.expect({ flags: ".", ack: 1, sack: [[2001, 2501], [1001, 1501]] });
    expect(tp.rcvCc).toBe(0);
    s.inject({ flags: ".", seq: 1, ack: 1, data: 1000 });
    s.expect({ flags: ".", ack: 1501, sack: [[2001, 2501]] });
    s.inject({ flags: ".", seq: 1501, ack: 1, data: 500 });
    s.expect({ flags: ".", ack: 2501, sack: [] });
    expect(Array.from(s.engine.recv(tp, s.now)!)).toEqual(Array.from(pattern(0, 2500)));
  });
});

describe("RST generation for a closed port (RFC 9293 §3.10.7.1)", () => {
  it("chooses seq/ack as the RFC says and never answers a RST", () => {
    const s = new TcpScript(); // nothing listens
    expect(s.inject({ flags: "S", seq: 100, raw: true })).toBe("noport");
    s.expect({ flags: "R.", seq: 0, ack: 101, raw: true });
    s.inject({ flags: "P.", seq: 5, ack: 12345, data: 10, raw: true });
    s.expect({ flags: "R", seq: 12345, raw: true });
    s.inject({ flags: "P", seq: 100, data: 10, raw: true });
    s.expect({ flags: "R.", seq: 0, ack: 110, raw: true });
    s.inject({ flags: "FP", seq: 200, data: 5, raw: true });
    s.expect({ flags: "R.", seq: 0, ack: 206, raw: true });
    s.inject({ flags: "R", seq: 7, raw: true });
    s.inject({ flags: "R.", seq: 7, ack: 9, raw: true });
    s.expectNone();
    expect(s.engine.stats.noport).toBe(6);
    expect(s.engine.stats.sndrst).toBe(4);
  });

  it("a listener answers a stray ACK with a RST and ignores a RST", () => {
    const s = new TcpScript().listen();
    s.inject({ flags: ".", seq: 10, ack: 777, raw: true });
    s.expect({ flags: "R", seq: 777, raw: true });
    s.inject({ flags: "R", seq: 10, raw: true });
    s.expectNone();
    expect(s.tp).toBeNull();
  });
});

describe("simultaneous open and close", () => {
  it("simultaneous open: SYN in SYN_SENT → SYN|ACK → ESTABLISHED", () => {
    const s = new TcpScript();
    s.connect();
    const syn = s.expect({ flags: "S", seq: 0 });
    s.at(1);
    s.inject({ flags: "S", seq: 0, mss: 1460, ws: 1, sackOk: true, ts: [500, 0] });
    expect(s.tp!.stateName).toBe("SYN_RCVD");
    const sa = s.expect({ flags: "S.", seq: 0, ack: 1, ws: 0, sackOk: true, tsecr: 500 });
    expect(sa.seq).toBe(syn.seq); // same ISS
    s.at(2);
    s.inject({ flags: "S.", seq: 0, ack: 1, mss: 1460, ws: 1, sackOk: true, ts: [501, sa.options!.timestamp!.val], win: 1000 });
    expect(s.tp!.state).toBe(TcpState.ESTABLISHED);
    expect(s.tp!.snd_wnd).toBe(1000); // a SYN's window is not scaled
    expect(evs(s)).toEqual([TcpEvent.ESTABLISHED]);
    // data flows afterwards
    s.engine.send(s.tp!, pattern(0, 10), s.now);
    s.expect({ flags: "P.", seq: 1, ack: 1, len: 10 });
  });

  it("simultaneous close: FIN_WAIT_1 → CLOSING → TIME_WAIT → CLOSED after 2 MSL (20 ms MSL)", () => {
    const s = new TcpScript({ config: { msl: 20 } });
    s.acceptHandshake();
    const tp = s.tp!;
    s.at(10);
    s.engine.close(tp, s.now);
    s.expect({ flags: "F.", seq: 1, ack: 1, at: 10 });
    expect(tp.state).toBe(TcpState.FIN_WAIT_1);
    s.at(11);
    s.inject({ flags: "F.", seq: 1, ack: 1 }); // the peer's FIN crosses ours
    expect(tp.state).toBe(TcpState.CLOSING);
    s.expect({ flags: ".", seq: 2, ack: 2, at: 11 });
    s.at(12);
    s.inject({ flags: ".", seq: 2, ack: 2 });
    expect(tp.state).toBe(TcpState.TIME_WAIT);
    s.at(51);
    expect(s.eventsOf(TcpEvent.CLOSED)).toEqual([]);
    s.at(52);
    expect(tp.state).toBe(TcpState.CLOSED);
    expect(s.eventsOf(TcpEvent.CLOSED)).toEqual([{ t: 52, err: null }]);
    expect(s.engine.timers.size).toBe(0);
    s.expectNone();
  });

  it("TIME_WAIT re-ACKs a retransmitted FIN and restarts 2MSL", () => {
    const s = new TcpScript({ config: { msl: 20 } });
    s.acceptHandshake();
    const tp = s.tp!;
    s.engine.close(tp, s.now);
    s.expect({ flags: "F." });
    s.inject({ flags: ".", seq: 1, ack: 2 });
    expect(tp.state).toBe(TcpState.FIN_WAIT_2);
    s.inject({ flags: "F.", seq: 1, ack: 2 });
    s.expect({ flags: ".", seq: 2, ack: 2 });
    expect(tp.state).toBe(TcpState.TIME_WAIT);
    s.at(30);
    s.inject({ flags: "F.", seq: 1, ack: 2 });
    s.expect({ flags: ".", seq: 2, ack: 2, at: 30 });
    s.at(69);
    expect(tp.state).toBe(TcpState.TIME_WAIT);
    s.at(70);
    expect(tp.state).toBe(TcpState.CLOSED);
  });
});

describe("TIME_WAIT reuse", () => {
  function timeWait(ts: boolean): TcpScript {
    const s = new TcpScript();
    s.acceptHandshake(ts ? { ts: [1000, 0] } : {}, ts ? { ts: "echo" } : {});
    const tp = s.tp!;
    s.engine.close(tp, s.now);
    s.expect({ flags: "F." });
    s.inject({ flags: "F.", seq: 1, ack: 2, ...(ts ? { ts: [1001, s.lastTsVal] as [number, number] } : {}) });
    s.expect({ flags: ".", seq: 2, ack: 2 });
    expect(tp.state).toBe(TcpState.TIME_WAIT);
    return s;
  }

  it("a new SYN with a higher sequence number recycles TIME_WAIT; the new ISS is past the old one", () => {
    const s = timeWait(false);
    const old = s.tp!;
    const oldSndMax = old.snd_max >>> 0;
    s.at(100);
    expect(s.inject({ flags: "S", seq: 100, mss: 1460 })).toBe("listen");
    expect(s.results.at(-1)).toBe("reuse");
    expect(old.state).toBe(TcpState.CLOSED);
    expect(s.tp).not.toBe(old);
    const sa = s.expect({ flags: "S.", ack: 101 });
    expect(((sa.seq >>> 0) - oldSndMax) | 0).toBeGreaterThan(0);
    expect(s.engine.stats.timewaitreuse).toBe(1);
    s.inject({ flags: ".", seq: 101, ack: s.relLocal(sa.seq) + 1 });
    expect(s.tp!.state).toBe(TcpState.ESTABLISHED);
  });

  it("an old SYN (lower sequence, no newer timestamp) does not recycle: challenge ACK", () => {
    const s = timeWait(false);
    const old = s.tp!;
    s.inject({ flags: "S", seq: 0 });
    expect(s.results.at(-1)).toBe("badsyn");
    s.expect({ flags: ".", seq: 2, ack: 2 });
    expect(old.state).toBe(TcpState.TIME_WAIT);
  });

  it("with timestamps, a SYN with a lower sequence but a newer TSval recycles", () => {
    const s = timeWait(true);
    s.inject({ flags: "S", seq: 0, ts: [5000, 0] });
    expect(s.results.at(-1)).toBe("reuse");
    s.expect({ flags: "S.", ack: 1, tsecr: 5000 });
  });
});

describe("window scaling (RFC 7323 §2)", () => {
  it("scales both ways once both SYNs carry the option", () => {
    const s = new TcpScript({ config: { recvspace: 1 << 20 } }).listen();
    s.inject({ flags: "S", seq: 0, mss: 1460, ws: 3, win: 100 }); // a SYN's window is not scaled
    s.expect({ flags: "S.", ws: 5, win: 65535 });
    s.inject({ flags: ".", seq: 1, ack: 1, win: 100 }); // 100 << 3 = 800 bytes
    const tp = s.tp!;
    expect(tp.snd_wnd).toBe(800);
    // The SYN|ACK could offer only 65535 unscaled bytes: the rest of the 1 MiB opens now.
    s.expect({ flags: ".", len: 0, win: (1 << 20) >> 5 });
    s.engine.send(tp, pattern(0, 5000), s.now);
    s.expect({ flags: ".", seq: 1, len: 800, win: (1 << 20) >> 5 });
    s.expectNone();
    s.inject({ flags: ".", seq: 1, ack: 801, win: 300 }); // 2400 bytes
    s.expect({ seq: 801, len: 1460 });
    s.expectNone(); // the remaining 940 bytes of window wait (sender SWS avoidance / Nagle)
  });

  it("no scaling when the peer's SYN has no window-scale option", () => {
    const s = new TcpScript({ config: { recvspace: 1 << 20 } }).listen();
    s.inject({ flags: "S", seq: 0, mss: 1460 });
    s.expect({ flags: "S.", ws: null, win: 65535 });
    s.inject({ flags: ".", seq: 1, ack: 1, win: 100 });
    expect(s.tp!.snd_wnd).toBe(100);
    s.engine.send(s.tp!, pattern(0, 50), s.now);
    s.expect({ len: 50, win: 65535 });
  });
});

describe("PAWS (RFC 7323 §5)", () => {
  it("drops a segment with an old timestamp, ACKs, and keeps the connection", () => {
    const s = new TcpScript();
    s.acceptHandshake({ ts: [1000, 0] }, { ts: [1001, 0] });
    const tp = s.tp!;
    s.inject({ flags: "P.", seq: 1, ack: 1, data: 100, ts: [1002, 0] });
    expect(tp.rcvCc).toBe(100);
    expect(tp.ts_recent).toBe(1002);
    s.inject({ flags: "P.", seq: 101, ack: 1, data: 100, ts: [900, 0] });
    expect(s.results.at(-1)).toBe("pawsdrop");
    s.expect({ flags: ".", ack: 101, tsecr: 1002 });
    expect(tp.rcvCc).toBe(100);
    expect(s.engine.stats.pawsdrop).toBe(1);
    s.inject({ flags: "P.", seq: 101, ack: 1, data: 100, ts: [1003, 0] });
    expect(tp.rcvCc).toBe(200);
    expect(tp.state).toBe(TcpState.ESTABLISHED);
  });
});

describe("RFC 5961", () => {
  function established(config = {}): TcpScript {
    const s = new TcpScript({ config });
    s.acceptHandshake();
    return s;
  }

  it("an in-window RST that is not exact gets a challenge ACK", () => {
    const s = established();
    expect(s.inject({ flags: "R", seq: 101 })).toBe("rstchallenge");
    s.expect({ flags: ".", seq: 1, ack: 1 });
    expect(s.tp!.state).toBe(TcpState.ESTABLISHED);
    expect(s.engine.stats.rstchallenge).toBe(1);
    expect(s.engine.stats.sndchallengeack).toBe(1);
  });

  it("a forged RST outside the window is ignored silently", () => {
    const s = established();
    expect(s.inject({ flags: "R", seq: 10_000_000 })).toBe("badrst");
    expect(s.inject({ flags: "R.", seq: 0, ack: 1 })).toBe("badrst");
    s.expectNone();
    expect(s.tp!.state).toBe(TcpState.ESTABLISHED);
    expect(s.engine.stats.badrst).toBe(2);
  });

  it("a RST with exactly rcv_nxt resets the connection", () => {
    const s = established();
    const tp = s.tp!;
    expect(s.inject({ flags: "R", seq: 1 })).toBe("ok");
    expect(tp.state).toBe(TcpState.CLOSED);
    expect(s.events.slice(1).map((e) => [e.ev, e.err])).toEqual([[TcpEvent.RESET, "ECONNRESET"], [TcpEvent.CLOSED, "ECONNRESET"]]);
    expect(() => s.engine.send(tp, new Uint8Array(1), s.now)).toThrow(TcpConnectionError);
    s.expectNone();
  });

  it("a SYN in ESTABLISHED gets a challenge ACK, whatever its sequence number", () => {
    const s = established();
    expect(s.inject({ flags: "S", seq: 5000 })).toBe("badsyn");
    s.expect({ flags: ".", seq: 1, ack: 1 });
    expect(s.inject({ flags: "S", seq: 1 })).toBe("badsyn");
    s.expect({ flags: ".", seq: 1, ack: 1 });
    expect(s.tp!.state).toBe(TcpState.ESTABLISHED);
    expect(s.engine.stats.badsyn).toBe(2);
  });

  it("challenge ACKs are rate limited per second", () => {
    const s = established({ challengeAckLimit: 2 });
    for (let i = 0; i < 5; i++) s.inject({ flags: "R", seq: 100 + i });
    expect(s.drain().length).toBe(2);
    expect(s.engine.stats.challengeacklimited).toBe(3);
    s.at(1000);
    s.inject({ flags: "R", seq: 200 });
    expect(s.drain().length).toBe(1);
  });

  it("an ACK for data never sent is dropped with an ACK", () => {
    const s = established();
    expect(s.inject({ flags: "P.", seq: 1, ack: 5000, data: 10 })).toBe("rcvacktoomuch");
    s.expect({ flags: ".", seq: 1, ack: 1 });
    expect(s.tp!.rcvCc).toBe(0);
    expect(s.tp!.state).toBe(TcpState.ESTABLISHED);
  });
});

describe("bad input is counted and dropped", () => {
  function established(): TcpScript {
    const s = new TcpScript();
    s.acceptHandshake();
    return s;
  }

  it("bad checksum", () => {
    const s = established();
    const frame = buildTcpPacket(s.build({ flags: "P.", seq: 1, ack: 1, data: 10 }));
    frame[frame.length - 1] ^= 0xff;
    expect(s.injectFrame(frame)).toBe("rcvbadsum");
    expect(s.engine.stats.rcvbadsum).toBe(1);
    expect(s.tp!.rcvCc).toBe(0);
    s.expectNone();
  });

  it("impossible flags: SYN+FIN, SYN+RST, no ACK in a synchronized state", () => {
    const s = established();
    expect(s.inject({ flags: "SF", seq: 1 })).toBe("rcvsynfin");
    expect(s.inject({ flags: "SR", seq: 1 })).toBe("rcvsynrst");
    expect(s.inject({ flags: "P", seq: 1, data: 10 })).toBe("rcvnoack");
    s.expectNone();
    const st = s.engine.stats;
    expect([st.rcvsynfin, st.rcvsynrst, st.rcvnoack]).toEqual([1, 1, 1]);
    expect(s.tp!.rcvCc).toBe(0);
    expect(s.tp!.state).toBe(TcpState.ESTABLISHED);
  });

  it("data wholly outside the window is dropped with an ACK", () => {
    const s = established();
    expect(s.inject({ flags: "P.", seq: 100_001, ack: 1, data: 100 })).toBe("rcvpackafterwin");
    s.expect({ flags: ".", seq: 1, ack: 1 });
    expect(s.engine.stats.rcvpackafterwin).toBe(1);
    expect(s.tp!.rcvCc).toBe(0);
    expect(s.tp!.reassCc).toBe(0);
  });

  it("data partly beyond the window is trimmed to it", () => {
    const s = new TcpScript({ config: { recvspace: 4000 } });
    s.acceptHandshake();
    s.inject({ flags: "P.", seq: 1, ack: 1, data: 5000 });
    expect(s.tp!.rcvCc).toBe(4000);
    expect(s.engine.stats.rcvbyteafterwin).toBe(1000);
  });

  it("old duplicate data is ACKed and dropped", () => {
    const s = established();
    s.inject({ flags: "P.", seq: 1, ack: 1, data: 100 });
    s.inject({ flags: "P.", seq: 1, ack: 1, data: 100 });
    s.expect({ flags: ".", ack: 101 });
    expect(s.tp!.rcvCc).toBe(100);
    expect(s.engine.stats.rcvduppack).toBe(1);
  });

  it("data after the application closed resets the peer", () => {
    const s = established();
    s.engine.close(s.tp!, s.now);
    s.expect({ flags: "F." });
    s.inject({ flags: ".", seq: 1, ack: 2 });
    expect(s.tp!.state).toBe(TcpState.FIN_WAIT_2);
    expect(s.inject({ flags: "P.", seq: 1, ack: 2, data: 10 })).toBe("rcvafterclose");
    s.expect({ flags: "R", seq: 2 });
    expect(s.tp!.state).toBe(TcpState.CLOSED);
  });
});
