/**
 * Drain and hand-over (rescale_handover.ts):
 *   - the last CPU draining counts the connections it cannot hand to anyone as failed;
 *   - half-open handshakes (syncache entries) of a draining CPU are handed over: their final
 *     ACK, forwarded by the leaving CPU or steered to the new owner once it is gone, completes
 *     them there — no RST.
 */
import { describe, expect, it } from "vitest";
import { TcpFlags, TcpState } from "@dfly/core";
import { HOST, PEER, owner, rig, topo, until } from "../../support/rescale-rig.js";

describe("rescale_handover", () => {
  it("the last CPU draining counts the connections it cannot hand to anyone as failed hand-overs", async () => {
    const r = await rig(0);
    const e1 = topo(1, [0]);
    const h0 = await r.start(0, e1);
    r.nic = [0];
    const errs: string[] = [];
    const socks = [20001, 20002, 20003].map((p) => r.peer.connect(0, null, PEER, HOST, 80, owner(errs), {}, p));
    await until(() => socks.every((so) => so.state === "ESTABLISHED"), "the connections");
    const rep = await h0.tcp!.rescale.drain();
    expect(rep.handedOver).toBe(0);
    expect(rep.failed).toBe(3);
    // What dfly_tcp_handover_total{dir="out",result="failed"} reports.
    expect(h0.tcp!.rescale.stats.handoverOutFailed).toBe(3);
  });

  it("half-open handshakes of a draining CPU are handed over: the final ACK completes them on the new owner, no RST", async () => {
    const r = await rig(500);
    const e1 = topo(1, [0, 1]);
    const h0 = await r.start(0, e1);
    const h1 = await r.start(1, e1);
    r.nic = [0, 1];
    // The peer's final ACKs (its only non-SYN frames so far) wait in the test: the handshakes stay half-open on CPU 0.
    let holding = true;
    const held: Uint8Array[] = [];
    const deliver = r.deliver;
    r.deliver = (f) => {
      if (holding && !(f[33] & TcpFlags.SYN)) held.push(f);
      else deliver(f);
    };
    const ports: number[] = [];
    for (let p = 20000; ports.length < 3; p++) if ((r.peer.hashOf(PEER, p, HOST, 80) & 127) % 2 === 0) ports.push(p);
    const errs: string[] = [];
    const socks = ports.map((p) => r.peer.connect(0, null, PEER, HOST, 80, owner(errs), {}, p));
    await until(() => held.length === 3, "the three final ACKs");
    expect(h0.tcp!.host!.syncaches[0].count).toBe(3);
    const conns = (cpu: number) => r.cpus.get(cpu)!.tcp!.host!.pcb.pcbinfo[cpu].connCount;

    // One final ACK reaches CPU 1 before the hand-over, in a grace period (CPU 1 adopted an
    // epoch): held there, it completes the handshake once the entry arrives.
    r.adopt(1, topo(2, [0, 1]));
    const early = held[2];
    h1.tcp!.localInput(6, early, 0, 20, early.length);
    expect(h1.tcp!.rescale.heldNow).toBe(1);

    const rep = await h0.tcp!.rescale.drain();
    holding = false;
    await until(() => conns(1) === 1 || r.rstToPeer > 0, "the held handshake completed");
    // One reaches CPU 0 before it is gone (it forwards it), the last comes once CPU 1 owns
    // every bucket (the epoch without CPU 0).
    deliver(held[0]);
    await until(() => conns(1) === 2 || conns(0) === 1, "the forwarded handshake completed");
    r.adopt(1, topo(3, [1]));
    r.nic = [1];
    deliver(held[1]);
    await until(() => conns(1) === 3 || r.rstToPeer > 0, "the last handshake completed (or reset)");
    expect(r.rstToPeer).toBe(0);
    expect(conns(0)).toBe(0);
    for (const p of ports) expect(h1.tcp!.host!.pcb.pcbinfo[1].lookupConn(PEER, p, HOST, 80)?.ppcb?.t_state).toBe(TcpState.ESTABLISHED);
    expect(h1.tcp!.host!.listener("L80")!.ls.qlen).toBe(3);
    expect(rep).toMatchObject({ synHandedOver: 3, synFailed: 0, handedOver: 0, failed: 0 });
    const s0 = h0.tcp!.rescale.stats;
    const s1 = h1.tcp!.rescale.stats;
    expect([s0.synOut, s1.synIn, s1.synInFailed]).toEqual([3, 3, 0]);
    expect(s1.heldReleased).toBe(1);
    expect(s0.redispatched).toBe(1); // the forwarded final ACK ...
    expect(s1.dropped.nopcb).toBe(0); // ... found its entry on CPU 1
    expect(h0.tcp!.host!.syncaches[0].count).toBe(0);
    expect(h1.tcp!.host!.syncaches[1].count).toBe(0);
    // The connections carry data to their new home.
    for (const so of socks) expect(r.peer.cpu(0).engine.send(so.tp!, new Uint8Array(100).fill(1), r.peer.now())).toBe(100);
    await until(() => ports.every((p) => h1.tcp!.host!.pcb.pcbinfo[1].lookupConn(PEER, p, HOST, 80)?.ppcb?.rcvCc === 100), "the data on CPU 1");
    expect(r.rstToPeer + r.rstFromPeer).toBe(0);
    expect(errs).toEqual([]);
  });
});
