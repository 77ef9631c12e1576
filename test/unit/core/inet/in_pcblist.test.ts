import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { InpcbHost, InpcbListCursor, inPcbList, tcpListen, xinpcb, type Inpcb } from "@dfly/core";

const ip = (s: string): number => s.split(".").reduce((a, o) => a * 256 + Number(o), 0);

/** Walks a CPU's list from its head: live PCBs and markers. */
function listOf(host: InpcbHost<number>, cpu: number): { pcbs: number; markers: number } {
  let pcbs = 0;
  let markers = 0;
  for (let n = host.pcbinfo[cpu].first(); n; n = n.listNext) {
    if (n.isMarker) markers++;
    else pcbs++;
  }
  return { pcbs, markers };
}

type Op = { t: "ins"; cpu: number } | { t: "del"; pick: number } | { t: "next"; k: number; cur: number } | { t: "open" };

const opArb = (ncpus: number): fc.Arbitrary<Op> =>
  fc.oneof(
    { weight: 4, arbitrary: fc.record({ t: fc.constant("ins" as const), cpu: fc.nat(ncpus - 1) }) },
    { weight: 4, arbitrary: fc.record({ t: fc.constant("del" as const), pick: fc.nat() }) },
    { weight: 5, arbitrary: fc.record({ t: fc.constant("next" as const), k: fc.integer({ min: 1, max: 4 }), cur: fc.nat(2) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant("open" as const) }) },
  );

interface Tracked {
  cursor: InpcbListCursor<number>;
  liveAtStart: Set<Inpcb<number>>;
  emitted: Inpcb<number>[];
  cpus: number[];
  behind: Set<Inpcb<number>>;
}

describe("PCB listing cursor (marker walk, CPU after CPU)", () => {
  it("under concurrent insert/delete: live-throughout PCBs exactly once, nothing twice, nothing after deletion (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }).chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: 0, max: 30 }), fc.array(opArb(n), { maxLength: 120 }))),
        ([ncpus, initial, ops]) => {
          const host = new InpcbHost<number>({ ncpus });
          const live: Inpcb<number>[] = [];
          const deleted = new Set<Inpcb<number>>();
          let seq = 0;
          const insert = (cpu: number) => live.push(host.alloc(cpu, seq++));
          for (let i = 0; i < initial; i++) insert(i % ncpus);
          const cursors: Tracked[] = [];
          const open = () =>
            cursors.push({ cursor: new InpcbListCursor(host), liveAtStart: new Set(live), emitted: [], cpus: [], behind: new Set() });
          open();
          const step = (c: Tracked, k: number) => {
            const got = c.cursor.next(k);
            for (const inp of got) {
              expect(deleted.has(inp)).toBe(false); // never after its deletion
              expect(inp.isMarker).toBe(false);
              c.emitted.push(inp);
              c.cpus.push(inp.cpu);
            }
            if (got.length === 0) expect(c.cursor.done).toBe(true);
          };
          for (const op of ops) {
            if (op.t === "ins") {
              insert(op.cpu);
              // Inserted behind a cursor (a CPU it left, or the head of the CPU it is walking): never listed.
              for (const c of cursors) {
                const cc = c.cursor.currentCpu;
                if (cc > op.cpu || (cc === op.cpu && c.cursor.perCpu[cc] > 0)) c.behind.add(live[live.length - 1]);
              }
            } else if (op.t === "del") {
              if (live.length === 0) continue;
              const [inp] = live.splice(op.pick % live.length, 1);
              host.detach(inp);
              deleted.add(inp);
            } else if (op.t === "open") {
              if (cursors.length < 3) open();
            } else {
              const c = cursors[op.cur % cursors.length];
              step(c, op.k);
            }
          }
          for (const c of cursors) {
            while (!c.cursor.done) step(c, 3);
            // CPU after CPU.
            for (let i = 1; i < c.cpus.length; i++) expect(c.cpus[i]).toBeGreaterThanOrEqual(c.cpus[i - 1]);
            // Nothing twice.
            expect(new Set(c.emitted).size).toBe(c.emitted.length);
            // Every PCB live for the whole walk, exactly once.
            const seen = new Set(c.emitted);
            for (const inp of c.liveAtStart) if (!deleted.has(inp)) expect(seen.has(inp)).toBe(true);
            for (const inp of c.behind) expect(seen.has(inp)).toBe(false);
            expect(c.cursor.perCpu.reduce((a, b) => a + b, 0)).toBe(c.emitted.length);
          }
          // Markers are gone; counts still match the lists.
          for (let cpu = 0; cpu < ncpus; cpu++) {
            const l = listOf(host, cpu);
            expect(l.markers).toBe(0);
            expect(l.pcbs).toBe(host.pcbinfo[cpu].count);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("PCBs inserted behind the cursor on its current CPU are not listed; ahead (later CPUs) they are", () => {
    const host = new InpcbHost<number>({ ncpus: 2 });
    const a = host.alloc(0, 1);
    const b = host.alloc(0, 2);
    const cur = new InpcbListCursor(host);
    const first = cur.next(1);
    expect(first.length).toBe(1);
    const behind = host.alloc(0, 3); // head of CPU 0: behind the marker
    const ahead = host.alloc(1, 4); // CPU 1: not walked yet
    const rest = cur.next();
    const all = [...first, ...rest];
    expect(new Set(all)).toEqual(new Set([a, b, ahead]));
    expect(all).not.toContain(behind);
    expect(cur.next()).toEqual([]);
    expect(cur.done).toBe(true);
  });

  it("count-bounded per CPU: a CPU yields at most the count it had when its turn began", () => {
    const host = new InpcbHost<number>({ ncpus: 1 });
    for (let i = 0; i < 5; i++) host.alloc(0, i);
    const cur = new InpcbListCursor(host);
    expect(cur.next(2).length).toBe(2);
    for (let i = 0; i < 10; i++) host.alloc(0, 100 + i);
    expect(cur.next().length).toBe(3);
    expect(cur.perCpu).toEqual([5]);
  });

  it("a removed neighbour of the marker does not derail the walk; close() takes the marker out", () => {
    const host = new InpcbHost<number>({ ncpus: 2 });
    const ps = Array.from({ length: 6 }, (_, i) => host.alloc(0, i));
    const cur = new InpcbListCursor(host);
    const got = cur.next(2);
    // Delete the one just returned (the marker's predecessor) and the next one.
    host.detach(got[1]);
    const nextUp = ps.filter((p) => !got.includes(p));
    host.detach(nextUp[nextUp.length - 1]);
    const rest = cur.next();
    expect(new Set([...got, ...rest]).size).toBe(5);
    const cur2 = new InpcbListCursor(host);
    cur2.next(1);
    expect(listOf(host, 0).markers).toBe(1);
    cur2.close();
    cur2.close();
    expect(listOf(host, 0).markers).toBe(0);
    expect(cur2.done).toBe(true);
    expect(cur2.next()).toEqual([]);
  });

  it("snapshots show listeners once (CPU 0) with their queues, and connections on their owner CPUs", () => {
    const host = new InpcbHost<number>({ ncpus: 4 });
    const ls = tcpListen(host, { lport: 80, reuseport: true, backlog: 10 });
    const server = ip("10.0.0.1");
    const conns = [];
    for (let p = 30000; conns.length < 8; p++) {
      const cpu = host.cpuOf(ip("192.0.2.1"), p, server, 80);
      conns.push(host.allocConnected(cpu, server, 80, ip("192.0.2.1"), p, p));
    }
    const rows = inPcbList(host);
    expect(rows.length).toBe(9);
    const l = rows.filter((r) => r.listen);
    expect(l).toEqual([expect.objectContaining({ cpu: 0, lport: 80, lgrpindex: 0, qlimit: 10, qlen: 0, listenerId: ls.id })]);
    for (const c of conns) {
      expect(rows).toContainEqual(xinpcb(c));
      expect(xinpcb(c).cpu).toBe(host.cpuOf(c.faddr, c.fport, server, 80));
    }
    for (let i = 1; i < rows.length; i++) expect(rows[i].cpu).toBeGreaterThanOrEqual(rows[i - 1].cpu);
  });
});
