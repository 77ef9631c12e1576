/**
 * SO_REUSEPORT listener groups and close with inheritance, at the table level.
 * The scenario of Linux's migrate_reuseport selftest: 5 listeners, 25
 * connections completed but not accepted, close 4 listeners.
 */
import { describe, expect, it } from "vitest";
import {
  InpcbHost,
  InpcbStateError,
  ListenerPolicy,
  TcpSyncache,
  inetEhashfn,
  reciprocalScale,
  soaccept,
  tcpListen,
  tcpListenClose,
  type Inpcb,
  type ListenSocket,
  type ListenerCloseReport,
} from "@dfly/core";

const ip = (s: string): number => s.split(".").reduce((a, o) => a * 256 + Number(o), 0);
const SERVER = ip("10.0.0.1");
const CLIENT = ip("192.0.2.0");

type Tcb = { n: number };
type Opts = Record<string, never>;

interface World {
  host: InpcbHost<Tcb>;
  sc: TcpSyncache<Opts, Tcb>[];
  ls: ListenSocket<Tcb>[];
}

function world(ncpus = 4, listeners = 5): World {
  const host = new InpcbHost<Tcb>({ ncpus, random: mulberry(7) });
  const sc = Array.from({ length: ncpus }, (_, c) => new TcpSyncache<Opts, Tcb>(host, c));
  const ls = Array.from({ length: listeners }, () => tcpListen(host, { lport: 80, reuseport: true, backlog: 128 }));
  return { host, sc, ls };
}

/** A small deterministic PRNG so runs repeat exactly. */
function mulberry(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Client i's 4-tuple. */
function tuple(i: number) {
  return { faddr: CLIENT + 1 + (i % 3), fport: 40000 + 7 * i };
}

/** SYN on the tuple's own CPU, steered to member (h & 127) % count; returns the entry. */
function synFor(w: World, i: number) {
  const { faddr, fport } = tuple(i);
  const cpu = w.host.cpuOf(faddr, fport, SERVER, 80);
  const hash = w.host.hashOf(faddr, fport, SERVER, 80);
  const member = w.host.pcbinfo[cpu].lookupPkthash(faddr, fport, SERVER, 80, true, hash)!;
  const { entry } = w.sc[cpu].add(
    { faddr, fport, laddr: SERVER, lport: 80, hash, listener: member.so!, iss: i * 1000, irs: 77, wnd: 65535, opts: {} },
    0,
  );
  return { entry, cpu, hash, member };
}

/** Completes the handshake of client i (its final ACK on its CPU). */
function ackFor(w: World, i: number) {
  const { faddr, fport } = tuple(i);
  const cpu = w.host.cpuOf(faddr, fport, SERVER, 80);
  return w.sc[cpu].expand(faddr, fport, SERVER, 80, i * 1000 + 1, () => ({ n: i }));
}

/** 25 completed, not accepted connections; returns them in creation order. */
function connect25(w: World): Inpcb<Tcb>[] {
  const out: Inpcb<Tcb>[] = [];
  for (let i = 0; i < 25; i++) {
    const { member, hash } = synFor(w, i);
    const r = ackFor(w, i);
    expect(r.kind).toBe("completed");
    if (r.kind !== "completed") continue;
    expect(r.listener).toBe(member.so);
    // member (h & 127) % count, by lgrpindex order
    expect(member).toBe(w.ls[(hash & 127) % w.ls.length].inp);
    out.push(r.inp);
  }
  return out;
}

const queued = (w: World): number => w.ls.reduce((a, l) => a + l.qlen, 0);
const sumStat = (w: World, policy: ListenerPolicy, result: "moved" | "reset" | "syncache_moved" | "syncache_dropped"): number =>
  w.host.stats.reduce((a, s) => a + s.listenerMigrations[policy][result], 0);

describe("migrate_reuseport scenario: 5 listeners, 25 completed, close 4", () => {
  it("spreads the 25 connections over several listeners, each on its CPU's queue", () => {
    const w = world();
    const conns = connect25(w);
    expect(conns.length).toBe(25);
    expect(queued(w)).toBe(25);
    expect(w.ls.filter((l) => l.qlen > 0).length).toBeGreaterThanOrEqual(3);
    for (const c of conns) expect(c.cpu).toBe(w.host.cpuOf(c.faddr, c.fport, SERVER, 80));
  });

  it("DragonFly: all 25 end on the survivor, appended at the tail in close order, counted", () => {
    const w = world();
    const conns = connect25(w);
    const survivor = w.ls[4];
    const expectedOrder = [...survivor.comp];
    const initiallyElsewhere = 25 - survivor.qlen;
    let moved = 0;
    for (let k = 0; k < 4; k++) {
      const before = [...w.ls[k].comp];
      const r = tcpListenClose(w.host, w.sc, w.ls[k], ListenerPolicy.DRAGONFLY);
      expect(r.heir).toBe(survivor); // the last other member
      expect(r.reset).toEqual([]);
      expect(r.moved).toEqual(before);
      moved += r.moved.length;
      expectedOrder.push(...before);
      expect(w.ls[k].qlen).toBe(0);
      expect(w.ls[k].state).toBe("closed");
    }
    expect(moved).toBe(initiallyElsewhere);
    expect(survivor.comp).toEqual(expectedOrder);
    expect(sumStat(w, "dragonfly", "moved")).toBe(moved);
    expect(sumStat(w, "dragonfly", "reset")).toBe(0);
    // All 25 are accepted on the survivor.
    const accepted: Inpcb<Tcb>[] = [];
    for (let c = soaccept(survivor); c; c = soaccept(survivor)) accepted.push(c);
    expect(new Set(accepted)).toEqual(new Set(conns));
    expect(accepted.every((c) => c.ppcb !== undefined)).toBe(true);
    // The closed listeners are gone from every CPU's tables.
    for (const p of w.host.pcbinfo) {
      expect(p.localGroup(0, 80)!.members).toEqual([survivor.inp]);
      expect(p.lookupPkthash(CLIENT, 1, SERVER, 80, true, 0x1234)).toBe(survivor.inp);
    }
    expect(() => tcpListenClose(w.host, w.sc, w.ls[0])).toThrow(InpcbStateError);
  });

  it("Linux's original policy: the connections are reset; resets equal DragonFly's moved count", () => {
    const df = world();
    connect25(df);
    let dfMoved = 0;
    for (let k = 0; k < 4; k++) dfMoved += tcpListenClose(df.host, df.sc, df.ls[k], ListenerPolicy.DRAGONFLY).moved.length;

    const lx = world();
    const conns = connect25(lx);
    const survivorOwn = [...lx.ls[4].comp];
    const reset: Inpcb<Tcb>[] = [];
    for (let k = 0; k < 4; k++) {
      const r = tcpListenClose(lx.host, lx.sc, lx.ls[k], ListenerPolicy.LINUX);
      expect(r.heir).toBeNull();
      expect(r.moved).toEqual([]);
      reset.push(...r.reset);
    }
    expect(reset.length).toBe(dfMoved);
    expect(reset.length).toBeGreaterThan(0);
    expect(sumStat(lx, "linux", "reset")).toBe(reset.length);
    expect(lx.ls[4].comp).toEqual(survivorOwn);
    expect(new Set([...reset, ...survivorOwn])).toEqual(new Set(conns));
    for (const c of reset) expect(c.head).toBeUndefined();
  });

  it("tcp_migrate_req: each connection moves to a live member picked by its hash; counters match", () => {
    const w = world();
    const conns = connect25(w);
    let success = 0;
    for (let k = 0; k < 4; k++) {
      const live = w.ls.slice(k + 1);
      const before = [...w.ls[k].comp];
      const r: ListenerCloseReport<Tcb> = tcpListenClose(w.host, w.sc, w.ls[k], ListenerPolicy.LINUX_MIGRATE_REQ);
      expect(r.reset).toEqual([]);
      expect(r.moved).toEqual(before);
      for (const c of r.moved) {
        const h = inetEhashfn(w.host.ehashSecret, c.laddr, c.lport, c.faddr, c.fport);
        expect(c.head).toBe(live[reciprocalScale(h, live.length)]);
      }
      success += r.moved.length;
    }
    expect(success).toBeGreaterThan(0);
    const st = w.host.stats;
    expect(st.reduce((a, s) => a + s.TcpMigrateReqSuccess, 0)).toBe(success);
    expect(st.reduce((a, s) => a + s.TcpMigrateReqFailure, 0)).toBe(0);
    expect(sumStat(w, "linux_migrate_req", "moved")).toBe(success);
    expect(new Set(w.ls[4].comp)).toEqual(new Set(conns));
  });

  it("tcp_migrate_req spreads a closed listener's queue over the live members (random by hash)", () => {
    const w = world(4, 5);
    for (let i = 0; i < 400; i++) {
      synFor(w, i);
      ackFor(w, i);
    }
    const r = tcpListenClose(w.host, w.sc, w.ls[0], ListenerPolicy.LINUX_MIGRATE_REQ);
    const per = w.ls.slice(1).map((l) => r.moved.filter((c) => c.head === l).length);
    expect(per.reduce((a, b) => a + b, 0)).toBe(r.moved.length);
    expect(per.every((n) => n > 0)).toBe(true);
  });
});

describe("syncache entries follow the listener close", () => {
  /** Entries (SYN received, no ACK yet) for member `k`, on several CPUs. */
  function entriesFor(w: World, k: number, n: number) {
    const got: ReturnType<typeof synFor>[] = [];
    for (let i = 1000; got.length < n; i++) {
      const { faddr, fport } = tuple(i);
      const h = w.host.hashOf(faddr, fport, SERVER, 80);
      if ((h & 127) % w.ls.length !== k) continue;
      got.push({ ...synFor(w, i), i } as ReturnType<typeof synFor> & { i: number });
    }
    return got as (ReturnType<typeof synFor> & { i: number })[];
  }

  it("DragonFly: every CPU's entries are re-pointed to the heir and complete on the heir's queue", () => {
    const w = world();
    const es = entriesFor(w, 1, 12);
    expect(new Set(es.map((e) => e.cpu)).size).toBeGreaterThan(1);
    const r = tcpListenClose(w.host, w.sc, w.ls[1], ListenerPolicy.DRAGONFLY);
    expect(r.heir).toBe(w.ls[4]);
    expect(r.syncacheMoved).toBe(12);
    expect(sumStat(w, "dragonfly", "syncache_moved")).toBe(12);
    for (const e of es) expect(e.entry.listener).toBe(w.ls[4]);
    for (const e of es) {
      const res = ackFor(w, e.i);
      expect(res.kind).toBe("completed");
      if (res.kind === "completed") expect(res.listener).toBe(w.ls[4]);
    }
    expect(w.ls[4].qlen).toBe(12);
    expect(w.sc.reduce((a, s) => a + s.stats.sc_inherited, 0)).toBe(12);
  });

  it("DragonFly heir chain: closing the last member hands to the second-to-last", () => {
    const w = world(2, 3);
    const es = entriesFor(w, 2, 4);
    const r = tcpListenClose(w.host, w.sc, w.ls[2]);
    expect(r.heir).toBe(w.ls[1]);
    for (const e of es) expect(e.entry.listener).toBe(w.ls[1]);
    const r2 = tcpListenClose(w.host, w.sc, w.ls[1]);
    expect(r2.heir).toBe(w.ls[0]);
    expect(r2.syncacheMoved).toBe(4);
    for (const e of es) expect(e.entry.listener).toBe(w.ls[0]);
  });

  it("Linux: the entries are dropped (counted) and their final ACK meets a RST", () => {
    const w = world();
    const es = entriesFor(w, 0, 6);
    const r = tcpListenClose(w.host, w.sc, w.ls[0], ListenerPolicy.LINUX);
    expect(r.syncacheDropped).toBe(6);
    expect(sumStat(w, "linux", "syncache_dropped")).toBe(6);
    for (const e of es) expect(ackFor(w, e.i)).toEqual({ kind: "none", reset: true });
  });

  it("tcp_migrate_req: entries migrate at the SYN|ACK retransmit or the final ACK, counted; with no live member they fail", () => {
    const w = world(4, 3);
    const es = entriesFor(w, 0, 10);
    const r = tcpListenClose(w.host, w.sc, w.ls[0], ListenerPolicy.LINUX_MIGRATE_REQ);
    expect(r.syncachePending).toBe(10);
    const succ = () => w.host.stats.reduce((a, s) => a + s.TcpMigrateReqSuccess, 0);
    const fail = () => w.host.stats.reduce((a, s) => a + s.TcpMigrateReqFailure, 0);
    // Final ACK for the first three.
    for (const e of es.slice(0, 3)) {
      const res = ackFor(w, e.i);
      expect(res.kind).toBe("completed");
      if (res.kind === "completed") expect([w.ls[1], w.ls[2]]).toContain(res.listener);
    }
    expect(succ()).toBe(3);
    // SYN|ACK retransmit for the rest (1 s later).
    let rexmit = 0;
    for (const s of w.sc) rexmit += s.timer(1000).retransmit.length;
    expect(rexmit).toBe(7);
    expect(succ()).toBe(10);
    for (const e of es.slice(3)) expect([w.ls[1], w.ls[2]]).toContain(e.entry.listener);
    // New SYNs for a closed group, then close everything: migrations fail.
    const w2 = world(2, 2);
    const es2 = entriesFor(w2, 0, 4);
    tcpListenClose(w2.host, w2.sc, w2.ls[0], ListenerPolicy.LINUX_MIGRATE_REQ);
    tcpListenClose(w2.host, w2.sc, w2.ls[1], ListenerPolicy.LINUX_MIGRATE_REQ);
    const res = ackFor(w2, es2[0].i);
    expect(res).toMatchObject({ kind: "migrate_failed", reset: true });
    let dropped = 0;
    for (const s of w2.sc) dropped += s.timer(1000).dropped.length;
    expect(dropped).toBe(3);
    expect(w2.host.stats.reduce((a, s) => a + s.TcpMigrateReqFailure, 0)).toBe(4);
    expect(fail()).toBe(0);
  });
});

describe("closing the last member", () => {
  for (const policy of Object.values(ListenerPolicy)) {
    it(`${policy}: completed connections are reset and syncache entries dropped, all counted`, () => {
      const w = world(4, 1);
      for (let i = 0; i < 5; i++) {
        synFor(w, i);
        ackFor(w, i);
      }
      for (let i = 5; i < 8; i++) synFor(w, i);
      const r = tcpListenClose(w.host, w.sc, w.ls[0], policy);
      expect(r.heir).toBeNull();
      expect(r.moved).toEqual([]);
      expect(r.reset.length).toBe(5);
      expect(sumStat(w, policy, "reset")).toBe(5);
      if (policy === "linux_migrate_req") {
        expect(w.host.stats.reduce((a, s) => a + s.TcpMigrateReqFailure, 0)).toBe(5);
        expect(r.syncachePending).toBe(3);
        let dropped = 0;
        for (const s of w.sc) dropped += s.timer(1000).dropped.length;
        expect(dropped).toBe(3);
        expect(w.host.stats.reduce((a, s) => a + s.TcpMigrateReqFailure, 0)).toBe(8);
      } else {
        expect(r.syncacheDropped).toBe(3);
        expect(sumStat(w, policy, "syncache_dropped")).toBe(3);
      }
      expect(w.sc.reduce((a, s) => a + s.count, 0)).toBe(0);
      expect(w.ls[0].qlen).toBe(0);
      for (const p of w.host.pcbinfo) expect(p.lookupPkthash(CLIENT, 9, SERVER, 80, true, 9)).toBeUndefined();
      // The reset connections are still in their CPUs' tables until the engine aborts them.
      for (const c of r.reset) expect(w.host.pcbinfo[c.cpu].lookupConn(c.faddr, c.fport, SERVER, 80)).toBe(c);
    });
  }
});

describe("group order and slot reuse", () => {
  it("a restarted worker gets its slot (lgrpindex) back, so SYN steering is as before", () => {
    const w = world(4, 5);
    const slotOf = (h: number) => (h & 127) % 5;
    tcpListenClose(w.host, w.sc, w.ls[2]);
    for (const p of w.host.pcbinfo) expect(p.localGroup(0, 80)!.members.map((m) => m.lgrpindex)).toEqual([0, 1, 3, 4]);
    const again = tcpListen(w.host, { lport: 80, reuseport: true });
    expect(again.inp.lgrpindex).toBe(2);
    const members = [w.ls[0], w.ls[1], again, w.ls[3], w.ls[4]].map((l) => l.inp);
    for (const p of w.host.pcbinfo) {
      expect(p.localGroup(0, 80)!.members).toEqual(members);
      for (let h = 0; h < 128; h++) expect(p.lookupPkthash(CLIENT, 1, SERVER, 80, true, h)).toBe(members[slotOf(h)]);
    }
  });
});
