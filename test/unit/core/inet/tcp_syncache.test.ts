import { describe, expect, it } from "vitest";
import {
  InpcbHost,
  InpcbWrongCpuError,
  SYNCACHE_MAXREXMTS,
  SyncacheConfigError,
  TcpSyncache,
  TcpEngine,
  TcpFlags,
  TcpState,
  soaccept,
  tcpConnectPlace,
  tcpListen,
  type ListenSocket,
  type TcpCb,
  type TcpSeg,
  type TcpSynEntry,
} from "@dfly/core";

const ip = (s: string): number => s.split(".").reduce((a, o) => a * 256 + Number(o), 0);
const SERVER = ip("10.0.0.1");
const CLIENT = ip("192.0.2.7");

type Tcb = { iss: number; irs: number; established: true };

function setup(ncpus = 2, opts = {}) {
  const host = new InpcbHost<Tcb>({ ncpus });
  const sc = Array.from({ length: ncpus }, (_, c) => new TcpSyncache<{ mss: number }, Tcb>(host, c, opts));
  const ls = tcpListen(host, { lport: 80, backlog: 4 });
  return { host, sc, ls };
}

/** Client ports whose 4-tuple (CLIENT:p → SERVER:80) is owned by `cpu`. */
function portsOn(host: InpcbHost<Tcb>, cpu: number, n: number, from = 10000): number[] {
  const out: number[] = [];
  for (let p = from; out.length < n; p++) if (host.cpuOf(CLIENT, p, SERVER, 80) === cpu) out.push(p);
  return out;
}

function syn(sc: TcpSyncache<{ mss: number }, Tcb>, ls: ListenSocket<Tcb>, fport: number, now: number, iss = 1000 + fport) {
  return sc.add({ faddr: CLIENT, fport, laddr: SERVER, lport: 80, listener: ls, iss, irs: 5000, wnd: 65535, opts: { mss: 1460 } }, now);
}

const attach = (e: { iss: number; irs: number }): Tcb => ({ iss: e.iss, irs: e.irs, established: true });

describe("syncache: SYN → entry, SYN|ACK retransmits, expiry", () => {
  it("retransmits at 1, 2 and 4 s after the SYN|ACK and expires the entry at 8 s (backoff {1,1,2,4}×1 s)", () => {
    const { host, sc, ls } = setup();
    const [p] = portsOn(host, 1, 1);
    const { entry, dup } = syn(sc[1], ls, p, 0);
    expect(dup).toBe(false);
    expect(entry.listener).toBe(ls);
    expect(sc[1].count).toBe(1);
    const rexmitAt: number[] = [];
    let droppedAt = -1;
    for (let t = 0; t <= 10_000; t += 10) {
      const r = sc[1].timer(t);
      if (r.retransmit.length) {
        expect(r.retransmit).toEqual([entry]);
        rexmitAt.push(t);
      }
      if (r.dropped.length) {
        expect(r.dropped).toEqual([entry]);
        droppedAt = t;
      }
    }
    expect(rexmitAt).toEqual([1000, 2000, 4000]);
    expect(droppedAt).toBe(8000);
    expect(sc[1].count).toBe(0);
    expect(sc[1].stats.sc_retransmitted).toBe(3);
    expect(sc[1].stats.sc_stale).toBe(1);
    expect(entry.rxtused).toBe(4000);
    expect(SYNCACHE_MAXREXMTS).toBe(3);
  });

  it("nextTimeout follows the earliest slot; rexmtLimit and rtoBase are configurable", () => {
    const { host, sc, ls } = setup(1, { rtoBaseMs: 200, rexmtLimit: 1 });
    const [a, b] = portsOn(host, 0, 2);
    expect(sc[0].nextTimeout()).toBeUndefined();
    syn(sc[0], ls, a, 0);
    syn(sc[0], ls, b, 50);
    expect(sc[0].nextTimeout()).toBe(200);
    expect(sc[0].timer(200).retransmit.length).toBe(1);
    expect(sc[0].nextTimeout()).toBe(250);
    expect(sc[0].timer(250).retransmit.length).toBe(1);
    // rexmtLimit 1: the entry in slot 1 is dropped when it expires.
    expect(sc[0].timer(400).dropped.length).toBe(1);
    expect(sc[0].timer(450).dropped.length).toBe(1);
    expect(sc[0].count).toBe(0);
    expect(() => new TcpSyncache(host, 0, { hashSize: 100 })).toThrow(SyncacheConfigError);
    expect(() => new TcpSyncache(host, 3)).toThrow(/cpu 3/);
  });

  it("a duplicate SYN keeps the entry (and its ISS) and restarts its slot", () => {
    const { host, sc, ls } = setup();
    const [p] = portsOn(host, 0, 1);
    const first = syn(sc[0], ls, p, 0, 111).entry;
    sc[0].timer(1000); // retransmitted, now slot 1
    const again = syn(sc[0], ls, p, 1500, 222);
    expect(again.dup).toBe(true);
    expect(again.entry).toBe(first);
    expect(first.iss).toBe(111);
    expect(first.rxtslot).toBe(1);
    expect(first.rxttime).toBe(2500);
    expect(sc[0].stats.sc_dupsyn).toBe(1);
    expect(sc[0].count).toBe(1);
  });

  it("refuses a SYN on a CPU that does not own its 4-tuple", () => {
    const { host, sc, ls } = setup();
    const [p] = portsOn(host, 0, 1);
    expect(() => syn(sc[1], ls, p, 0)).toThrow(InpcbWrongCpuError);
    expect(sc[1].count).toBe(0);
  });
});

describe("syncache: final ACK → connection on the listener's queue", () => {
  it("completes on the entry's CPU, creates the TCB through the engine, appends to the accept queue", () => {
    const { host, sc, ls } = setup(4);
    const ports = [...portsOn(host, 3, 2), ...portsOn(host, 1, 1)];
    const cpus = [3, 3, 1];
    ports.forEach((p, i) => syn(sc[cpus[i]], ls, p, 0));
    const done = ports.map((p, i) => sc[cpus[i]].expand(CLIENT, p, SERVER, 80, 1000 + p + 1, attach));
    for (const [i, r] of done.entries()) {
      expect(r.kind).toBe("completed");
      if (r.kind !== "completed") continue;
      expect(r.reset).toBe(false);
      expect(r.inp.cpu).toBe(cpus[i]);
      expect(r.inp.ppcb).toEqual({ iss: 1000 + ports[i], irs: 5000, established: true });
      expect(host.pcbinfo[cpus[i]].lookupConn(CLIENT, ports[i], SERVER, 80)).toBe(r.inp);
      expect(r.inp.head).toBe(ls);
    }
    expect(ls.comp.map((c) => c.fport)).toEqual(ports);
    expect(soaccept(ls)?.fport).toBe(ports[0]);
    expect(ls.qlen).toBe(2);
    expect(sc[3].count + sc[1].count).toBe(0);
    expect(sc[3].stats.sc_completed).toBe(2);
    // A second ACK finds no entry: RST.
    expect(sc[3].expand(CLIENT, ports[0], SERVER, 80, 1000 + ports[0] + 1, attach)).toEqual({ kind: "none", reset: true });
  });

  it("an ACK that does not ack our SYN|ACK gets a RST and leaves the entry", () => {
    const { host, sc, ls } = setup();
    const [p] = portsOn(host, 0, 1);
    syn(sc[0], ls, p, 0, 0xffffffff);
    const r = sc[0].expand(CLIENT, p, SERVER, 80, 7, attach);
    expect(r.kind).toBe("badack");
    expect(r.reset).toBe(true);
    expect(sc[0].count).toBe(1);
    // iss + 1 wraps.
    expect(sc[0].expand(CLIENT, p, SERVER, 80, 0, attach).kind).toBe("completed");
  });

  it("refuses a connection once so_qlen > 3*so_qlimit/2, counted as listendrop, no RST", () => {
    const { host, sc, ls } = setup(1); // backlog 4 → qlimit 4 → up to 7 queued
    expect(ls.qlimit).toBe(4);
    const ports = portsOn(host, 0, 9);
    for (const p of ports) syn(sc[0], ls, p, 0);
    const kinds = ports.map((p) => sc[0].expand(CLIENT, p, SERVER, 80, 1000 + p + 1, attach).kind);
    expect(kinds).toEqual([...Array(7).fill("completed"), "overflow", "overflow"]);
    expect(ls.qlen).toBe(7);
    expect(sc[0].stats.listendrop).toBe(2);
    expect(sc[0].stats.sc_aborted).toBe(2);
    expect(ls.overflows).toBe(2);
    expect(sc[0].count).toBe(0);
    expect(host.pcbinfo[0].connCount).toBe(7);
  });

  it("if the engine's attach throws or refuses, the PCB is freed and the entry dropped", () => {
    const { host, sc, ls } = setup(1);
    const [p] = portsOn(host, 0, 1);
    syn(sc[0], ls, p, 0);
    expect(() =>
      sc[0].expand(CLIENT, p, SERVER, 80, 1000 + p + 1, () => {
        throw new Error("no memory");
      }),
    ).toThrow("no memory");
    expect(host.pcbinfo[0].connCount).toBe(0);
    expect(host.pcbinfo[0].count).toBe(1); // the listener only
    expect(sc[0].count).toBe(0);
    expect(ls.qlen).toBe(0);
    syn(sc[0], ls, p, 0);
    expect(sc[0].expand(CLIENT, p, SERVER, 80, 1000 + p + 1, () => null)).toMatchObject({ kind: "aborted", reset: true });
    expect(host.pcbinfo[0].connCount).toBe(0);
    expect(sc[0].stats.sc_aborted).toBe(2);
    expect(ls.qlen).toBe(0);
  });
});

describe("syncache: RST, bad ACK, ICMP, limits", () => {
  it("a RST in [irs, irs+wnd] removes the entry; outside it does not", () => {
    const { host, sc, ls } = setup(1);
    const [p] = portsOn(host, 0, 1);
    syn(sc[0], ls, p, 0);
    expect(sc[0].chkrst(CLIENT, p, SERVER, 80, 4999)).toBe(false);
    expect(sc[0].chkrst(CLIENT, p, SERVER, 80, 5000 + 65536)).toBe(false);
    expect(sc[0].chkrst(CLIENT, p, SERVER, 80, 5000 + 65535)).toBe(true);
    expect(sc[0].stats.sc_reset).toBe(1);
    expect(sc[0].count).toBe(0);
    syn(sc[0], ls, p, 0);
    expect(sc[0].badack(CLIENT, p, SERVER, 80)).toBe(true);
    expect(sc[0].stats.sc_badack).toBe(1);
  });

  it("ICMP unreachable: marks first, drops only after the third retransmit", () => {
    const { host, sc, ls } = setup(1);
    const [p] = portsOn(host, 0, 1);
    const e = syn(sc[0], ls, p, 0, 42).entry;
    expect(sc[0].unreach(CLIENT, p, SERVER, 80, 41)).toBe(false);
    expect(sc[0].unreach(CLIENT, p, SERVER, 80, 42)).toBe(false);
    expect(sc[0].unreach(CLIENT, p, SERVER, 80, 42)).toBe(false); // slot 0 < 3
    for (const t of [1000, 2000, 4000]) sc[0].timer(t);
    expect(e.rxtslot).toBe(3);
    expect(sc[0].unreach(CLIENT, p, SERVER, 80, 42)).toBe(true);
    expect(sc[0].stats.sc_unreach).toBe(1);
  });

  it("a full bucket drops its oldest entry; a full cache drops the oldest of the longest slot", () => {
    const host = new InpcbHost<Tcb>({ ncpus: 1 });
    const ls = tcpListen(host, { lport: 80 });
    const tiny = new TcpSyncache<{ mss: number }, Tcb>(host, 0, { hashSize: 1, bucketLimit: 3 });
    const ports = portsOn(host, 0, 4);
    const es = ports.map((p, i) => syn(tiny, ls, p, i).entry);
    expect(tiny.count).toBe(3);
    expect(tiny.stats.sc_bucketoverflow).toBe(1);
    expect(tiny.lookup(CLIENT, ports[0], SERVER, 80)).toBeUndefined();
    expect(tiny.lookup(CLIENT, ports[3], SERVER, 80)).toBe(es[3]);

    const capped = new TcpSyncache<{ mss: number }, Tcb>(host, 0, { cacheLimit: 3 });
    const more = portsOn(host, 0, 4, 30000);
    const e0 = syn(capped, ls, more[0], 0).entry;
    syn(capped, ls, more[1], 10);
    capped.timer(1000); // e0 and the second move to slot 1
    const e2 = syn(capped, ls, more[2], 1000).entry;
    syn(capped, ls, more[3], 1001);
    expect(capped.stats.sc_cacheoverflow).toBe(1);
    expect(capped.lookup(CLIENT, more[0], SERVER, 80)).toBeUndefined();
    expect(e0.listener).toBeNull();
    expect(capped.lookup(CLIENT, more[2], SERVER, 80)).toBe(e2);
    expect(capped.count).toBe(3);
  });
});

describe("with the TCP engine: the handshake across the seam", () => {
  it("client connect → SYN on the hash CPU → syncache → SYN|ACK (lost once, retransmitted) → ACK → ESTABLISHED TCB on the accept queue", () => {
    type Seg = TcpSeg;
    type Cb = TcpCb;
    type Entry = TcpSynEntry;
    const N = 4;
    const wire: Seg[] = [];
    const out = (seg: Seg) => void wire.push(seg);
    const sHost = new InpcbHost<Cb>({ ncpus: N });
    const cHost = new InpcbHost<Cb>({ ncpus: N });
    const sEng = Array.from({ length: N }, (_, cpu) => new TcpEngine({ cpu, output: out }));
    const cEng = Array.from({ length: N }, (_, cpu) => new TcpEngine({ cpu, output: out }));
    const sSc = Array.from({ length: N }, (_, c) => new TcpSyncache<Entry, Cb>(sHost, c));
    const ls = tcpListen(sHost, { lport: 80, reuseport: true });
    const processedOn: number[] = [];

    const serverInput = (seg: Seg, now: number) => {
      const cpu = sHost.cpuOf(seg.src, seg.sport, seg.dst, seg.dport);
      processedOn.push(cpu);
      const hash = sHost.hashOf(seg.src, seg.sport, seg.dst, seg.dport);
      const inp = sHost.pcbinfo[cpu].lookupPkthash(seg.src, seg.sport, seg.dst, seg.dport, true, hash);
      if (!inp) return void sEng[cpu].respondReset(seg, now);
      if (inp.isConnected) return void sEng[cpu].input(inp.ppcb!, seg, now);
      if (seg.flags & TcpFlags.SYN) {
        const o = sEng[cpu].synEntry(seg, now);
        const { entry } = sSc[cpu].add(
          { faddr: seg.src, fport: seg.sport, laddr: seg.dst, lport: seg.dport, hash, listener: inp.so!, iss: o.iss, irs: o.irs, wnd: 65535, opts: o },
          now,
        );
        return void sEng[cpu].sendSynAck(entry.opts, now);
      }
      const r = sSc[cpu].expand(seg.src, seg.sport, seg.dst, seg.dport, seg.ack, (e) => sEng[cpu].syncacheSocket(e.opts, seg, now));
      if (r.reset) sEng[cpu].respondReset(seg, now);
    };
    const clientInput = (seg: Seg, now: number) => {
      const cpu = cHost.cpuOf(seg.src, seg.sport, seg.dst, seg.dport);
      const inp = cHost.pcbinfo[cpu].lookupConn(seg.src, seg.sport, seg.dst, seg.dport);
      expect(inp).toBeDefined();
      cEng[cpu].input(inp!.ppcb!, seg, now);
    };
    const deliver = (now: number, dropSynAck = false) => {
      while (wire.length) {
        const seg = wire.shift()!;
        if (seg.dst === SERVER) serverInput(seg, now);
        else if (dropSynAck && seg.flags & TcpFlags.SYN) dropSynAck = false;
        else clientInput(seg, now);
      }
    };

    // Client: connect from CPU 0; the port search places it on the CPU the replies will hash to.
    const cInp = cHost.alloc(0);
    cInp.laddr = CLIENT;
    const place = tcpConnectPlace(cHost, cInp, SERVER, 80, 0);
    cHost.connect(cInp, SERVER, 80, place.cpu);
    const tp = cEng[place.cpu].connect(CLIENT, place.lport, SERVER, 80, 0);
    cInp.ppcb = tp;

    deliver(0, true); // SYN arrives, its SYN|ACK is lost
    const scpu = sHost.cpuOf(CLIENT, place.lport, SERVER, 80);
    expect(scpu).toBe(place.cpu); // symmetric hash: same CPU number on both hosts
    expect(sSc[scpu].count).toBe(1);
    expect(tp.t_state).toBe(TcpState.SYN_SENT);

    const { retransmit } = sSc[scpu].timer(1000);
    expect(retransmit.length).toBe(1);
    for (const e of retransmit) sEng[scpu].sendSynAck(e.opts, 1000);
    deliver(1000); // SYN|ACK → client ESTABLISHED → ACK → server completes
    expect(tp.t_state).toBe(TcpState.ESTABLISHED);
    expect(sSc[scpu].count).toBe(0);
    expect(sSc[scpu].stats.sc_completed).toBe(1);
    expect(ls.qlen).toBe(1);
    const child = soaccept(ls)!;
    expect(child.cpu).toBe(scpu);
    expect(child.ppcb!.t_state).toBe(TcpState.ESTABLISHED);
    expect(sHost.pcbinfo[scpu].lookupConn(CLIENT, place.lport, SERVER, 80)).toBe(child);
    expect(processedOn.every((c) => c === scpu)).toBe(true);
  });
});
