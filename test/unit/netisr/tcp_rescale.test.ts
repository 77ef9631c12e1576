/**
 * The rescale layer's decisions, one at a time, with the topology handed to each CPU by the
 * test (so the races of an epoch change can be staged): netisr CPUs on the in-process bus with
 * fixed topologies, a peer TcpHost whose frames the test steers like the NIC would.
 *
 *   - a segment that reaches the new owner before the connection's home registered it is held,
 *     then redispatched to the home once the entry arrives — no RST;
 *   - an unknown segment held in a grace period is processed as usual when it ends (RST);
 *   - a redispatched segment with no PCB is dropped, never reset; a redispatch loop stops at
 *     MAX_HOPS; a malformed rescale netmsg is counted;
 *   - a socket handed over twice before the program's first fence arrives: the calls the
 *     middle CPU held for its fence, and those sent to it after it let go, follow the socket to
 *     its third place in the order the program made them (the program is played by the test,
 *     raw netmsgs on the ports, so the fences can be delayed at will);
 *   - half-open handshakes (syncache entries) of a draining CPU are handed over: their final
 *     ACK, forwarded by the leaving CPU or steered to the new owner once it is gone, completes
 *     them there — no RST.
 */
import { afterEach, describe, expect, it } from "vitest";
import { buildTcpPacket, ipAddr, TcpFlags, TcpState, type TcpSeg } from "@dfly/core";
import { ifnetTopology, nicInterfaceSpec } from "@dfly/nic";
import { MAX_HOPS, RescaleNetmsg, SoEvent, startNetisr, TcpHost, type NetisrHandle, type So, type SockEventBody, type SoOwner } from "@dfly/netisr";
import { SockNetmsg } from "@dfly/control";
import { decodeNetmsg, encodeFrameBatch, encodeNetmsg, InprocHub, subjects, type TopologyMsg, type Transport } from "@dfly/transport";
import { wirePeerToTx } from "../../support/tcp-peer.js";

const C = "rs";
const HOST = ipAddr("198.18.0.1");
const PEER = ipAddr("198.18.0.10");
const SPEC = nicInterfaceSpec({ ifname: "ix0", model: "82599", mode: "interrupt" });

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f().catch(() => undefined);
});

function topo(epoch: number, cpus: number[]): TopologyMsg {
  return { epoch, cpus, interfaces: [ifnetTopology(SPEC, cpus)], rssKey: "" };
}

async function until(f: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface Rig {
  t: Transport;
  cpus: Map<number, NetisrHandle>;
  peer: TcpHost;
  /** The CPU list the emulated NIC steers by. */
  nic: number[];
  rstToPeer: number;
  rstFromPeer: number;
  start(cpu: number, t: TopologyMsg): Promise<NetisrHandle>;
  adopt(cpu: number, t: TopologyMsg): void;
  /** Frames of `cpu` on its way in (the NIC's steering of a peer frame). */
  deliver(frame: Uint8Array): void;
}

async function rig(graceMs: number): Promise<Rig> {
  const hub = new InprocHub();
  const t = await hub.connect();
  cleanups.push(async () => {
    await t.close();
    hub.close();
  });
  const cpus = new Map<number, NetisrHandle>();
  const r: Rig = {
    t,
    cpus,
    nic: [],
    rstToPeer: 0,
    rstFromPeer: 0,
    peer: undefined as unknown as TcpHost,
    start: async (cpu, tp) => {
      const h = await startNetisr({ transport: t, cluster: C, cpu, topology: tp, routes: [{ prefix: "198.18.0.0/24", ifname: "ix0" }], tcp: { rescale: { graceMs, announceMs: 0 } } });
      cleanups.push(() => h.stop());
      cpus.set(cpu, h);
      h.tcp!.ensureHost().listenInstall({ id: "L80", laddr: 0, lport: 80, reuseport: false, backlog: -1, owner: "app" });
      return h;
    },
    adopt: (cpu, tp) => {
      const h = cpus.get(cpu)!;
      h.service.setTopology(tp);
      h.tcp!.rescale.onTopology();
    },
    deliver: (frame) => {
      const hash = r.peer.hashOf(PEER, (frame[20] << 8) | frame[21], HOST, (frame[22] << 8) | frame[23]);
      const owner = r.nic[(hash & 127) % r.nic.length];
      queueMicrotask(() => cpus.get(owner)!.tcp!.localInput(6, frame, 0, 20, frame.length));
    },
  };
  r.peer = new TcpHost({
    ncpus: 1,
    output: (_c, seg: TcpSeg) => {
      if (seg.flags & TcpFlags.RST) r.rstFromPeer++;
      r.deliver(buildTcpPacket(seg));
    },
  });
  const unwire = wirePeerToTx(t, C, r.peer, () => void r.rstToPeer++);
  cleanups.push(async () => unwire());
  await t.flush();
  return r;
}

/** A peer port whose 4-tuple's bucket the CPU lists `a` and `b` give to `ca` and `cb`. */
function portFor(peer: TcpHost, a: number[], ca: number, b: number[], cb: number): number {
  for (let p = 20000; p < 30000; p++) {
    const h = peer.hashOf(PEER, p, HOST, 80) & 127;
    if (a[h % a.length] === ca && b[h % b.length] === cb) return p;
  }
  throw new Error("no port");
}

const owner = (errs: string[]): SoOwner => ({
  soEvent: (_so: So, ev, err) => {
    if (ev === "error") errs.push(err ?? "?");
  },
});

describe("tcp_rescale", () => {
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

  it("a redispatched segment with no PCB is dropped, never reset; a redispatch loop stops at MAX_HOPS; malformed netmsgs are counted", async () => {
    const r = await rig(0);
    const e = topo(1, [0, 1]);
    const h0 = await r.start(0, e);
    const h1 = await r.start(1, e);
    const frame = buildTcpPacket({ src: PEER, dst: HOST, sport: 5555, dport: 80, seq: 1, ack: 1, flags: TcpFlags.ACK, window: 1000, payload: new Uint8Array(0) });
    const seg = (hops: number) => {
      const b = encodeFrameBatch([{ data: frame, hash: 0, tag: hops }]);
      const m = new Uint8Array(8 + b.length);
      m[0] = RescaleNetmsg.segments;
      m.set(b, 8);
      return m;
    };
    r.t.publish(subjects.netisr(C, 0), seg(1));
    await until(() => h0.tcp!.rescale.stats.dropped.nopcb === 1, "nopcb");
    // Entries pointing at each other (tables that have not converged): bounded by the hop count.
    const key = [HOST, 80, PEER, 5555];
    r.t.publish(subjects.netisr(C, 0), encodeNetmsg.socket(RescaleNetmsg.home, 0, { from: 1, add: [key], forget: [] }));
    r.t.publish(subjects.netisr(C, 1), encodeNetmsg.socket(RescaleNetmsg.home, 0, { from: 0, add: [key], forget: [] }));
    await until(() => h0.tcp!.rescale.foreign.size === 1 && h1.tcp!.rescale.foreign.size === 1, "entries");
    r.t.publish(subjects.netisr(C, 0), seg(0));
    await until(() => h0.tcp!.rescale.stats.dropped.hops + h1.tcp!.rescale.stats.dropped.hops === 1, "the loop cut");
    expect(h0.tcp!.rescale.stats.redispatched + h1.tcp!.rescale.stats.redispatched).toBe(MAX_HOPS);
    r.t.publish(subjects.netisr(C, 1), new Uint8Array([RescaleNetmsg.segments, 0, 0]));
    r.t.publish(subjects.netisr(C, 1), encodeNetmsg.socket(RescaleNetmsg.home, 0, { from: "x" }));
    await until(() => h1.tcp!.rescale.stats.dropped.bad === 2, "bad netmsgs counted");
    expect(r.rstToPeer).toBe(0);
  });

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
