/**
 * One CPU's TCP (tcp_dispatch.ts): a segment for no connection and no listener is answered
 * with a RST; an accepted connection takes its route's initial window and MTU.
 */
import { describe, expect, it } from "vitest";
import { buildTcpPacket, TcpConnectionError, TcpCtl, TcpFlags } from "@dfly/core";
import { HostListenBackend, Sockets, SoEvent } from "@dfly/netisr/internal";
import { CLIENT, recorder, SERVER, Wire } from "../../support/tcp-wire.js";

/** A server listening on port 80 and a client connected to it, pumped: the accepted fd, its foreign port and its tcpcb. */
async function accepted(w: Wire) {
  const ss = new Sockets({ host: w.server, cpu: 0, owner: "s", listen: new HostListenBackend(w.server) });
  const cs = new Sockets({ host: w.client, cpu: 0, owner: "c", source: () => CLIENT });
  const lfd = ss.socket();
  ss.bind(lfd, 0, 80);
  await ss.listen(lfd);
  cs.connect(cs.socket(), SERVER, 80);
  w.pump();
  const afd = ss.accept(lfd);
  const { fport } = ss.info(afd);
  const tp = w.server.pcb.pcbinfo[0].lookupConn(CLIENT, fport, SERVER, 80)!.ppcb!;
  return { ss, afd, fport, tp };
}

describe("segments on their CPU", () => {
  it("a connection to a port nobody listens on is refused (RST), reported as ECONNREFUSED", () => {
    const w = new Wire(2);
    const cs = new Sockets({ host: w.client, cpu: 0, owner: "c", source: () => CLIENT });
    const r = recorder();
    const fd = cs.socket(r.h);
    cs.connect(fd, SERVER, 81);
    w.pump();
    expect(r.evs.map((e) => [e.ev, e.err])).toEqual([[SoEvent.ERROR, "ECONNREFUSED"], [SoEvent.CLOSED, "ECONNREFUSED"]]);
    expect(() => cs.recv(fd)).toThrow(TcpConnectionError);
  });
});

describe("per-route options", () => {
  it("a route's initial window (rmx_iwmaxsegs) and MTU apply to accepted connections", async () => {
    for (const [route, segs, mss] of [[undefined, 4, 1460], [{ iwSegs: 10, mss: 1200 }, 10, 1200]] as const) {
      const w = new Wire(1, 1, undefined, route ? () => route : undefined);
      const { tp } = await accepted(w);
      expect(tp.t_mssopt).toBe(mss);
      expect(tp.snd_cwnd).toBe(segs * tp.t_maxseg);
    }
  });
});

describe("tcp_ctlinput on the connection's CPU", () => {
  it("RFC 1191: frag-needed quoting an accepted connection's unacknowledged data lowers its MSS; nothing matched is counted", async () => {
    const w = new Wire(1);
    const { ss, afd, fport, tp } = await accepted(w);
    ss.send(afd, new Uint8Array(3000));
    const cpu = w.server.cpus[0]!;
    expect(cpu.ctlinput(TcpCtl.MSGSIZE, SERVER, 80, CLIENT, fport, tp.snd_una >>> 0, 1000, 1500)).toBe("mtu");
    expect(tp.t_maxopd).toBe(960);
    expect(cpu.ctlinput(TcpCtl.MSGSIZE, SERVER, 80, CLIENT, fport + 1, 0, 1000, 1500)).toBe("nomatch");
    expect(cpu.stats).toMatchObject({ ctlinput: 1, ctlnomatch: 1 });
  });
});

describe("syncache_unreach from tcp_ctlinput", () => {
  it("an unreachable quoting a SYN|ACK marks the entry; one after the third retransmit drops it (tcps_sc_unreach)", async () => {
    const w = new Wire(1);
    const ss = new Sockets({ host: w.server, cpu: 0, owner: "s", listen: new HostListenBackend(w.server) });
    const lfd = ss.socket();
    ss.bind(lfd, 0, 80);
    await ss.listen(lfd);
    w.server.inputFrame(buildTcpPacket({ src: CLIENT, dst: SERVER, sport: 3333, dport: 80, seq: 5, ack: 0, flags: TcpFlags.SYN, window: 65535 }));
    const sc = w.server.syncaches[0];
    const e = sc.lookup(CLIENT, 3333, SERVER, 80)!;
    const cpu = w.server.cpus[0]!;
    expect(cpu.ctlinput(TcpCtl.UNREACH, SERVER, 80, CLIENT, 3333, e.iss, 0, 44)).toBe("marked");
    for (let ms = 0; ms < 7000; ms += 100) w.server.tick((w.t += 100));
    expect(e.rxtslot).toBe(3);
    expect(cpu.ctlinput(TcpCtl.UNREACH, SERVER, 80, CLIENT, 3333, e.iss, 0, 44)).toBe("dropped");
    expect(sc.lookup(CLIENT, 3333, SERVER, 80)).toBeUndefined();
    expect(sc.stats.sc_unreach).toBe(1);
  });
});
