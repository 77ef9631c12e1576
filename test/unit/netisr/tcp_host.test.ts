/**
 * The host's frame input (tcp_host.ts): malformed, forged and out-of-window frames are counted
 * and dropped, and a frame that comes with ip_input's hash is neither re-checksummed nor re-hashed.
 */
import { describe, expect, it } from "vitest";
import { buildTcpPacket, TcpFlags } from "@dfly/core";
import { HostListenBackend, Sockets, TcpHost } from "@dfly/netisr/internal";
import { FuzzRng, mutateFrame, seedFrames } from "../../support/fuzz.js";
import { bytes, CLIENT, SERVER, text, Wire } from "../../support/tcp-wire.js";

describe("bad input at the host", () => {
  it("malformed, forged and out-of-window segments are counted and dropped; nothing throws; the live connection survives", async () => {
    const w = new Wire(2);
    const ss = new Sockets({ host: w.server, cpu: 0, owner: "srv", listen: new HostListenBackend(w.server) });
    const cs = new Sockets({ host: w.client, cpu: 0, owner: "cli", source: () => CLIENT });
    const lfd = ss.socket();
    ss.bind(lfd, 0, 80);
    await ss.listen(lfd);
    const cfd = cs.socket();
    cs.connect(cfd, SERVER, 80);
    w.pump();
    const afd = ss.accept(lfd);
    expect(afd).toBeGreaterThanOrEqual(0);
    const i = ss.info(afd);
    const tp = w.server.cpu(i.cpu).engine;
    const stcb = (w.server.pcb.pcbinfo[i.cpu].lookupConn(CLIENT, i.fport, SERVER, 80)!.ppcb)!;
    const seq = stcb.rcv_nxt >>> 0;
    const ack = stcb.snd_nxt >>> 0;
    const seg = (flags: number, s: number, payload?: Uint8Array) =>
      buildTcpPacket({ src: CLIENT, dst: SERVER, sport: i.fport, dport: 80, seq: s >>> 0, ack, flags, window: 65535, ...(payload ? { payload } : {}) });
    const forged: Uint8Array[] = [];
    const badsum = seg(TcpFlags.ACK | TcpFlags.PSH, seq, bytes("corrupt"));
    badsum[36] ^= 0x55;
    forged.push(badsum);
    forged.push(seg(TcpFlags.SYN | TcpFlags.FIN, seq)); // impossible flags
    forged.push(seg(TcpFlags.SYN | TcpFlags.RST, seq));
    forged.push(seg(TcpFlags.RST | TcpFlags.ACK, seq + 1)); // in the window but not exact: challenge ACK (RFC 5961)
    forged.push(seg(TcpFlags.RST, seq + 10_000_000)); // outside the window: ignored
    forged.push(seg(TcpFlags.SYN, seq)); // SYN on an established connection: challenge ACK
    forged.push(seg(TcpFlags.ACK, seq + 5_000_000, bytes("far away"))); // data outside the window
    forged.push(buildTcpPacket({ src: CLIENT, dst: SERVER, sport: 999, dport: 80, seq: 1, ack: 12345, flags: TcpFlags.ACK })); // an ACK for no handshake
    forged.push(buildTcpPacket({ src: CLIENT, dst: SERVER, sport: 999, dport: 80, seq: 1, flags: TcpFlags.RST })); // a RST to the listener
    forged.push(buildTcpPacket({ src: CLIENT, dst: SERVER, sport: 998, dport: 80, seq: 1, ack: 1, flags: TcpFlags.SYN | TcpFlags.ACK })); // SYN|ACK to a listener
    const rng = new FuzzRng(7);
    const seeds = seedFrames(rng);
    for (let k = 0; k < 3000; k++) forged.push(mutateFrame(seeds[k % seeds.length], rng));
    for (const f of forged) expect(() => w.server.inputFrame(f)).not.toThrow();
    w.pump();
    w.advance(50);
    const st = tp.stats;
    expect(st.rcvbadsum).toBeGreaterThan(0);
    expect(st.rcvsynfin).toBeGreaterThan(0);
    expect(st.rcvsynrst).toBeGreaterThan(0);
    expect(st.rstchallenge + st.badsyn).toBeGreaterThan(0);
    expect(st.badrst).toBeGreaterThan(0);
    // The connection is untouched: data still flows both ways.
    expect(ss.info(afd).state).toBe("ESTABLISHED");
    expect(cs.info(cfd).state).toBe("ESTABLISHED");
    cs.send(cfd, bytes("ping"));
    w.pump();
    expect(text(ss.recv(afd))).toBe("ping");
    ss.send(afd, bytes("pong"));
    w.pump();
    expect(text(cs.recv(cfd))).toBe("pong");
  });
});

describe("parse once: the hash and the IP verdict from ip_input", () => {
  it("with the NIC's hash the IP header is not checksummed again and the hash is not recomputed; without it, both are", () => {
    const host = new TcpHost({ ncpus: 1, output: () => undefined });
    host.listenInstall({ id: "L80", laddr: 0, lport: 80, reuseport: false, backlog: -1, owner: "app" });
    const src = 0xc612000a;
    const dst = 0xc6120001;
    const frame = buildTcpPacket({ src, dst, sport: 4000, dport: 80, seq: 1, ack: 0, flags: TcpFlags.SYN, window: 1000, payload: new Uint8Array(0) });
    frame[10] ^= 0xff; // IP header checksum broken: only a caller that verified it may skip the check
    const c = host.cpu(0);
    expect(host.inputFrameAt(frame, 0, frame.length)).toBe(false);
    expect(c.stats.badframes).toBe(1);
    const raw = 0x5a5a0000 | host.hashOf(src, 4000, dst, 80);
    expect(host.inputFrameAt(frame, 0, frame.length, raw)).toBe(true);
    expect(c.stats.segsIn).toBe(1);
    expect(c.stats.badframes).toBe(1);
  });
});
