/**
 * Chase and fence (rescale_chase.ts): a socket handed over twice before the program's first
 * fence arrives: the calls the middle CPU held for its fence, and those sent to it after it let
 * go, follow the socket to its third place in the order the program made them (the program is
 * played by the test, raw netmsgs on the ports, so the fences can be delayed at will).
 */
import { describe, expect, it } from "vitest";
import { RescaleNetmsg, SoEvent, type So, type SockEventBody, type SoOwner } from "@dfly/netisr/internal";
import { SockNetmsg, decodeNetmsg, encodeNetmsg } from "@dfly/wire";
import { subjects } from "@dfly/transport";
import { C, cleanups, HOST, PEER, portFor, rig, topo, until } from "../../support/rescale-rig.js";

describe("rescale_chase", () => {
  it("a socket handed over twice before the first fence arrives: calls held for the fence follow it to its third CPU, in order", async () => {
    const r = await rig(0);
    const e = topo(1, [0, 1, 2]);
    const [h0, h1, h2] = [await r.start(0, e), await r.start(1, e), await r.start(2, e)];
    r.nic = [0, 1, 2];
    // CPU 0 owns the bucket; draining first it hands it to CPU 1 (of 1 and 2); CPU 1, draining
    // next while 0 is known to be leaving, hands it to CPU 2.
    const lport = portFor(r.peer, [0, 1, 2], 0, [1, 2], 1);
    let got = "";
    const errs: string[] = [];
    const reader: SoOwner = {
      soEvent: (so: So, ev, err) => {
        if (ev === SoEvent.ERROR) errs.push(err ?? "?");
        if (ev !== SoEvent.READABLE || !so.tp) return;
        const eng = r.peer.cpu(0).engine;
        for (let b = eng.recv(so.tp, r.peer.now()); b && b.length > 0; b = eng.recv(so.tp, r.peer.now())) got += new TextDecoder().decode(b);
      },
    };
    const peerSo = r.peer.connect(0, null, PEER, HOST, 80, reader, {}, lport);
    await until(() => peerSo.state === "ESTABLISHED", "the connection");

    // The program "prog": its socket events, and its calls as raw netmsgs on the CPUs' ports.
    const moved: string[] = [];
    const sub = r.t.subscribe(subjects.sock(C, "prog"), (m) => {
      const d = decodeNetmsg(m.data);
      if (typeof d === "string" || d.type !== "socket") return;
      for (const [id, ev, arg] of (d.body as SockEventBody).ev) if (ev === SoEvent.MOVED) moved.push(`${id}>${arg}`);
    });
    cleanups.push(async () => sub.unsubscribe());
    const send = (cpu: number, id: number, text: string) => r.t.publish(subjects.netisr(C, cpu), encodeNetmsg.socket(SockNetmsg.send, 0, { id, data: Buffer.from(text).toString("base64") }));
    const fence = (cpu: number, id: number) => r.t.publish(subjects.netisr(C, cpu), encodeNetmsg.socket(RescaleNetmsg.fence, 0, { id }));
    let a = 0;
    for (const end = Date.now() + 5000; a === 0; ) {
      const m = await r.t.request(subjects.netisr(C, 0), encodeNetmsg.socket(SockNetmsg.accept, 1, { listener: "L80", owner: "prog", max: 1 }), { timeoutMs: 1000 });
      const d = decodeNetmsg(m.data);
      a = typeof d !== "string" && d.type === 0x1f && d.ok ? ((d.body as { conns: { id: number }[] }).conns[0]?.id ?? 0) : 0;
      if (a === 0 && Date.now() > end) throw new Error("timed out waiting for the accept on CPU 0");
      if (a === 0) await new Promise((res) => setTimeout(res, 10));
    }
    send(0, a, "A");
    await until(() => got === "A", "A at the peer");

    // CPU 0 leaves: the socket is CPU 1's socket b now; the program's fence through CPU 0 is slow.
    const d0 = await h0.tcp!.rescale.drain();
    expect(d0.byCpu).toEqual({ 1: 1 });
    await until(() => moved.length === 1, "the first MOVED");
    const b = Number(/^\d+>1\/(\d+)$/.exec(moved[0])![1]);
    // A direct call to the new place waits there for the fence.
    send(1, b, "X");
    await until(() => h1.tcp!.rescale.stats.fenced === 1, "X held on CPU 1 for the fence");

    // CPU 1 leaves too, before the fence came: a call sent to it after it let go of the socket
    // (the program has not seen the second MOVED yet) ...
    const draining1 = h1.tcp!.rescale.drain();
    send(1, b, "Y");
    expect((await draining1).byCpu).toEqual({ 2: 1 });
    await until(() => moved.length === 2, "the second MOVED");
    const c = Number(new RegExp(`^${b}>2/(\\d+)$`).exec(moved[1])![1]);
    // ... and one to the third place, after the second MOVED.
    send(2, c, "Z");
    await until(() => h2.tcp!.rescale.stats.fenced === 1, "Z held on CPU 2 for the fence");
    expect(got).toBe("A");

    // The two fences, as the program sent them (the first one late).
    fence(0, a);
    fence(1, b);
    await until(() => got.includes("Z"), "Z at the peer");
    await new Promise((res) => setTimeout(res, 50));
    expect(got).toBe("AXYZ");
    expect(h1.tcp!.stats.nosock).toBe(0);
    expect(h2.tcp!.stats.nosock).toBe(0);
    expect(h1.tcp!.rescale.stats.chased).toBeGreaterThanOrEqual(3); // X, Y and the fence 1/b, to CPU 2
    expect(r.rstToPeer).toBe(0);
    expect(r.rstFromPeer).toBe(0);
    expect(errs).toEqual([]);
  });
});
