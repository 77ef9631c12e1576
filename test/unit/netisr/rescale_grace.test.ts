/**
 * The grace period after an epoch change (rescale_grace.ts):
 *   - a segment that reaches the new owner before the connection's home registered it is held,
 *     then redispatched to the home once the entry arrives — no RST;
 *   - an unknown segment held in a grace period is processed as usual when it ends (RST).
 */
import { describe, expect, it } from "vitest";
import { buildTcpPacket, TcpFlags } from "@dfly/core";
import { HOST, PEER, owner, portFor, rig, topo, until } from "../../support/rescale-rig.js";

describe("rescale_grace", () => {
  it("a segment at the new owner before the home's entry is held, then redispatched home (no RST)", async () => {
    const r = await rig(3000);
    const e1 = topo(1, [0, 1]);
    const e2 = topo(2, [0, 1, 2]);
    await r.start(0, e1);
    await r.start(1, e1);
    r.nic = [0, 1];
    const errs: string[] = [];
    const lport = portFor(r.peer, [0, 1], 0, [0, 1, 2], 2);
    const so = r.peer.connect(0, null, PEER, HOST, 80, owner(errs), {}, lport);
    await until(() => so.state === "ESTABLISHED", "the connection");
    const h0 = r.cpus.get(0)!;
    expect(h0.tcp!.host!.pcb.pcbinfo[0].connCount).toBe(1);

    // CPU 2 joins knowing epoch 2; the NIC steers by it at once; CPU 0 has not heard yet.
    const h2 = await r.start(2, e2);
    r.nic = [0, 1, 2];
    const eng = r.peer.cpu(0).engine;
    expect(eng.send(so.tp!, new Uint8Array(3000).fill(7), r.peer.now())).toBe(3000);
    await until(() => h2.tcp!.rescale.heldNow > 0, "CPU 2 holding the segment");
    expect(r.rstToPeer).toBe(0);
    expect(so.tp!.snd_una).not.toBe(so.tp!.snd_max);

    // CPU 0 adopts epoch 2: it registers the connection with CPU 2, which releases what it held.
    r.adopt(0, e2);
    r.adopt(1, e2);
    await until(() => so.tp!.snd_una === so.tp!.snd_max, "the data acknowledged by CPU 0");
    const s2 = h2.tcp!.rescale.stats;
    expect(s2.heldReleased).toBeGreaterThan(0);
    expect(s2.redispatched).toBeGreaterThan(0);
    expect(h2.tcp!.rescale.foreign.size).toBe(1);
    expect(h0.tcp!.rescale.stats.redispatchReceived).toBeGreaterThan(0);
    expect(h0.tcp!.host!.pcb.pcbinfo[0].lookupConn(PEER, lport, HOST, 80)?.ppcb?.rcvCc).toBe(3000);
    expect(r.rstToPeer).toBe(0);
    expect(r.rstFromPeer).toBe(0);
    expect(errs).toEqual([]);

    // The connection closes: the home withdraws its entry.
    r.peer.cpu(0).engine.abort(so.tp!, r.peer.now());
    await until(() => h2.tcp!.rescale.foreign.size === 0, "the entry withdrawn");
  });

  it("an unknown segment held in a grace period is answered as usual when the period ends", async () => {
    const r = await rig(200);
    await r.start(0, topo(1, [0]));
    r.nic = [0];
    const h0 = r.cpus.get(0)!;
    await new Promise((res) => setTimeout(res, 250));
    // A fresh epoch on CPU 0, and an ACK for a connection nobody has.
    r.adopt(0, topo(2, [0]));
    r.deliver(buildTcpPacket({ src: PEER, dst: HOST, sport: 4242, dport: 80, seq: 1000, ack: 2000, flags: TcpFlags.ACK, window: 1000, payload: new Uint8Array(10) }));
    await until(() => h0.tcp!.rescale.heldNow === 1, "held");
    expect(r.rstToPeer).toBe(0);
    await until(() => r.rstToPeer === 1, "the RST once the grace period is over");
    expect(h0.tcp!.rescale.stats.heldExpired).toBe(1);
  });
});
