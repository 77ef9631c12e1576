/**
 * ICMP errors reaching TCP (tcp_ctlinput, tcp_mtudisc, tcp_notify) with a scripted peer:
 * RFC 1191 path-MTU discovery, RFC 5927 §4.1 sequence check, RFC 1122 §4.2.3.9 soft errors.
 */
import { describe, expect, it } from "vitest";
import { TcpCtl, TcpEvent, TcpState } from "@dfly/core";
import { pattern, TcpScript } from "../../../support/tcpscript.js";

function established(): TcpScript {
  const s = new TcpScript();
  s.acceptHandshake({ mss: 1460 });
  s.engine.send(s.tp!, pattern(0, 4 * 1460), s.now);
  expect(s.drain().map((e) => e.seg.payload.length)).toEqual([1460, 1460, 1460, 1460]); // IW 4
  return s;
}

describe("tcp_mtudisc (RFC 1191 §6.2)", () => {
  it("frag-needed with next-hop MTU 1000 lowers the MSS to 960 and resends from snd_una in 960-byte segments", () => {
    const s = established();
    const tp = s.tp!;
    const r = s.engine.ctlinput(tp, TcpCtl.MSGSIZE, tp.snd_una >>> 0, 1000, 1500, s.now);
    expect(r).toBe("mtu");
    expect(tp.t_maxseg).toBe(960);
    expect(s.engine.stats.mturesent).toBe(1);
    const again = s.drain().filter((e) => e.seg.payload.length > 0);
    expect(again.length).toBeGreaterThan(0);
    expect(s.relLocal(again[0].seg.seq)).toBe(1);
    for (const e of again) expect(e.seg.payload.length).toBeLessThanOrEqual(960);
    expect(again[0].seg.payload.length).toBe(960);
  });

  it("a router that leaves the MTU 0: the next RFC 1191 plateau below the quoted length (1500 → 1492, MSS 1452)", () => {
    const s = established();
    s.engine.ctlinput(s.tp!, TcpCtl.MSGSIZE, s.tp!.snd_una >>> 0, 0, 1500, s.now);
    expect(s.tp!.t_maxseg).toBe(1452);
  });

  it("RFC 5927 §4.1: an error quoting a sequence number outside [snd_una, snd_max) changes nothing", () => {
    const s = established();
    const tp = s.tp!;
    expect(s.engine.ctlinput(tp, TcpCtl.MSGSIZE, (tp.snd_max + 100) >>> 0, 600, 1500, s.now)).toBe("ignored");
    expect(s.engine.ctlinput(tp, TcpCtl.MSGSIZE, (tp.snd_una - 1) >>> 0, 600, 1500, s.now)).toBe("ignored");
    expect(tp.t_maxseg).toBe(1460);
    expect(s.engine.stats.mturesent).toBe(0);
  });

  it("never raises the MSS, and never below TCP_MINMSS 256", () => {
    const s = established();
    const tp = s.tp!;
    expect(s.engine.ctlinput(tp, TcpCtl.MSGSIZE, tp.snd_una >>> 0, 9000, 1500, s.now)).toBe("ignored");
    s.engine.ctlinput(tp, TcpCtl.MSGSIZE, tp.snd_una >>> 0, 100, 1500, s.now);
    expect(tp.t_maxseg).toBe(256);
  });

  it("net.inet.tcp.path_mtu_discovery=0 ignores frag-needed", () => {
    const s = new TcpScript({ config: { pathMtuDiscovery: false } });
    s.acceptHandshake({ mss: 1460 });
    s.engine.send(s.tp!, pattern(0, 1460), s.now);
    expect(s.engine.ctlinput(s.tp!, TcpCtl.MSGSIZE, s.tp!.snd_una >>> 0, 1000, 1500, s.now)).toBe("ignored");
    expect(s.tp!.t_maxseg).toBe(1460);
  });
});

describe("unreachables (tcp_notify, tcp_drop_syn_sent)", () => {
  it("port unreachable for our SYN aborts the connect with ECONNREFUSED (icmp_may_rst)", () => {
    const s = new TcpScript();
    const tp = s.connect();
    const syn = s.expect({ flags: "S" });
    expect(s.engine.ctlinput(tp, TcpCtl.UNREACH_PORT, syn.seq, 0, 44, s.now)).toBe("dropped");
    expect(tp.state).toBe(TcpState.CLOSED);
    expect(s.eventsOf(TcpEvent.RESET)).toEqual([{ t: s.now, err: "ECONNREFUSED" }]);
  });

  it("RFC 1122 §4.2.3.9: host unreachable is soft — ignored when established, kept and reported if a connect then times out", () => {
    const s = established();
    expect(s.engine.ctlinput(s.tp!, TcpCtl.UNREACH, s.tp!.snd_una >>> 0, 0, 1500, s.now)).toBe("ignored");
    expect(s.tp!.state).toBe(TcpState.ESTABLISHED);
    const c = new TcpScript();
    const tp = c.connect();
    const syn = c.expect({ flags: "S" });
    expect(c.engine.ctlinput(tp, TcpCtl.UNREACH, syn.seq, 0, 44, c.now)).toBe("softerror");
    expect(tp.state).toBe(TcpState.SYN_SENT);
    c.wait(200_000);
    expect(tp.state).toBe(TcpState.CLOSED);
    expect(c.eventsOf(TcpEvent.RESET).map((e) => e.err)).toEqual(["EHOSTUNREACH"]);
  });
});
