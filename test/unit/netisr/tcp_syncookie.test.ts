/**
 * SYN cookies (RFC 4987 §3.6; DragonFly's syncookie_generate/lookup): a scripted peer's
 * handshake completes after its syncache entry was pushed out by an overflow, carrying the MSS
 * the cookie encodes (DragonFly's tcp_msstab {0, 536, 1460, 8960}: the largest value ≤ the
 * peer's MSS) and nothing else (no window scale, SACK or timestamps).
 */
import { describe, expect, it } from "vitest";
import { buildTcpPacket, ipAddr, TcpFlags, TF, type TcpSeg, type TcpOptions } from "@dfly/core";
import { HostListenBackend, Sockets, TcpHost } from "@dfly/netisr/internal";

const SERVER = ipAddr("198.18.0.1");
const PEER = ipAddr("198.18.0.20");

function rig(syncookies = true) {
  let t = 1000;
  const out: TcpSeg[] = [];
  const host = new TcpHost({
    ncpus: 1,
    now: () => t,
    syncache: { cacheLimit: 1 },
    output: (_c, s) => out.push({ ...s, options: s.options ? { ...s.options } : undefined, payload: s.payload.slice() }),
  });
  host.syncaches[0].syncookies = syncookies;
  const ss = new Sockets({ host, cpu: 0, owner: "s", listen: new HostListenBackend(host) });
  const lfd = ss.socket();
  ss.bind(lfd, 0, 80);
  return {
    host,
    ss,
    lfd,
    out,
    advance: (ms: number) => (t += ms),
    /** The peer sends one segment (a real IPv4 frame, both checksums). */
    send(sport: number, seq: number, ack: number, flags: number, options?: TcpOptions) {
      host.inputFrame(buildTcpPacket({ src: PEER, dst: SERVER, sport, dport: 80, seq, ack, flags, window: 65535, ...(options ? { options } : {}) }));
    },
    synack(sport: number): TcpSeg {
      const s = out.filter((x) => x.dport === sport && x.flags === (TcpFlags.SYN | TcpFlags.ACK)).at(-1);
      if (!s) throw new Error(`no SYN|ACK to port ${sport}`);
      return s;
    },
  };
}

const FULL: TcpOptions = { mss: 1460, wscale: 7, sackPermitted: true, timestamp: { val: 1, ecr: 0 } };

describe("SYN cookies when the syncache is full (RFC 4987 §3.6)", () => {
  it("the evicted entry's ACK still makes the connection, with the MSS the cookie carries and no other option", async () => {
    const r = rig();
    await r.ss.listen(r.lfd);
    r.send(4000, 1_000_000, 0, TcpFlags.SYN, FULL);
    const a = r.synack(4000);
    r.send(4001, 2_000_000, 0, TcpFlags.SYN, FULL); // cache limit 1: 4000's entry is pushed out
    const sc = r.host.syncaches[0];
    expect(sc.stats.sc_cacheoverflow).toBe(1);
    expect(sc.lookup(PEER, 4000, SERVER, 80)).toBeUndefined();
    r.advance(300);
    r.send(4000, 1_000_001, (a.seq + 1) >>> 0, TcpFlags.ACK);
    expect(sc.stats.sc_recvcookie).toBe(1);
    const fd = r.ss.accept(r.lfd);
    expect(fd).toBeGreaterThan(0);
    const tp = r.host.pcb.pcbinfo[0].lookupConn(PEER, 4000, SERVER, 80)!.ppcb!;
    expect(tp.stateName).toBe("ESTABLISHED");
    expect(tp.t_maxopd).toBe(1460);
    expect(tp.t_flags & (TF.RCVD_SCALE | TF.RCVD_TSTMP | TF.SACK_PERMITTED)).toBe(0);
    expect(tp.iss >>> 0).toBe(a.seq);
    // No RST went to the peer.
    expect(r.out.some((s) => s.flags & TcpFlags.RST)).toBe(false);
  });

  it("the MSS rounds down to tcp_msstab: 1000 → 536, none → 0 (then mssdflt 512)", async () => {
    for (const [mss, want] of [[1000, 536], [undefined, 512]] as const) {
      const r = rig();
      await r.ss.listen(r.lfd);
      r.send(5000, 7, 0, TcpFlags.SYN, mss ? { mss } : undefined);
      const a = r.synack(5000);
      r.send(5001, 9, 0, TcpFlags.SYN);
      r.send(5000, 8, (a.seq + 1) >>> 0, TcpFlags.ACK);
      const tp = r.host.pcb.pcbinfo[0].lookupConn(PEER, 5000, SERVER, 80)!.ppcb!;
      expect(tp.t_maxopd).toBe(want);
    }
  });

  it("a forged ACK (wrong cookie), one after the 16 s lifetime, and any with syncookies=0 are reset (RFC 9293 §3.10.7.2)", async () => {
    for (const [cookies, wait, delta] of [[true, 0, 4096], [true, 16_600, 0], [false, 0, 0]] as const) {
      const r = rig(cookies);
      await r.ss.listen(r.lfd);
      r.send(6000, 100, 0, TcpFlags.SYN, FULL);
      const a = r.synack(6000);
      r.send(6001, 200, 0, TcpFlags.SYN);
      r.advance(wait);
      r.send(6000, 101, (a.seq + 1 + delta) >>> 0, TcpFlags.ACK);
      expect(r.host.syncaches[0].stats.sc_recvcookie).toBe(0);
      expect(r.host.pcb.pcbinfo[0].lookupConn(PEER, 6000, SERVER, 80)).toBeUndefined();
      const rst = r.out.at(-1)!;
      expect(rst.flags & TcpFlags.RST).toBeTruthy();
      expect(rst.seq).toBe((a.seq + 1 + delta) >>> 0);
    }
  });
});
