/**
 * connect() across CPUs that are separate hosts (tcp_connect.ts `tcpConnectStep`): each CPU has its
 * own tables (TcpHost with one local CPU, as a netisr process has), and a connect travels between
 * them as the connect netmsg does (here a loop hands the step's hop to the named CPU).
 *
 * Property, over random listen / close / connect / CPU join / CPU leave with 2..12 CPUs: no 4-tuple
 * is ever held twice on the host, every connection lives on the CPU its hash names (or the CPU it
 * lived on before a join, registered with its new owner, as rescale's home entries do), and a
 * connect fails only when the model (a plain table of ports per destination) says every port of the
 * range is taken for that destination.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { InpcbAddrNotAvailError, ipAddr, netisrHashcpu, type Inpcb, type TcpCb } from "@dfly/core";
import { CONNECT_FIRST, TcpHost, tcpConnectStep, type ConnectHop, type So, type SoOwner } from "@dfly/netisr/internal";

const LADDR = ipAddr("10.0.0.1");
const DESTS = [
  [ipAddr("10.0.0.2"), 80],
  [ipAddr("10.0.0.3"), 443],
] as const;
const PFIRST = 1024;
const PLAST = 1047; // 24 ports: a few dozen connects exhaust a destination
const MAXCPU = 12;
const owner: SoOwner = { soEvent: () => undefined };

type Op =
  | { k: "connect"; from: number; dest: number }
  | { k: "close"; which: number }
  | { k: "listen"; port: number }
  | { k: "unlisten"; which: number }
  | { k: "join" }
  | { k: "leave"; which: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 12, arbitrary: fc.record({ k: fc.constant("connect" as const), from: fc.nat(11), dest: fc.nat(1) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant("close" as const), which: fc.nat(1000) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("listen" as const), port: fc.integer({ min: PFIRST, max: PLAST }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("unlisten" as const), which: fc.nat(100) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("join" as const) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("leave" as const), which: fc.nat(11) }) },
);

interface Conn {
  cpu: number;
  dest: number;
  lport: number;
  inp: Inpcb<TcpCb>;
  so: So | null;
  hash: number;
}

class Cluster {
  live: number[];
  readonly hosts = new Map<number, TcpHost>();
  conns: Conn[] = [];
  listens: { port: number; inps: Map<number, Inpcb<TcpCb>> }[] = [];
  migrated = 0;
  exhausted = 0;
  private seed: number;

  constructor(n: number, seed: number) {
    this.seed = seed >>> 0 || 1;
    this.live = Array.from({ length: n }, (_, i) => i);
    for (const c of this.live) this.addHost(c);
  }

  private rand = (): number => {
    this.seed = (Math.imul(this.seed, 1664525) + 1013904223) >>> 0;
    return this.seed / 0x100000000;
  };

  ownerOf(hash: number): number {
    return this.live[netisrHashcpu(hash, this.live.length)];
  }

  private addHost(c: number): void {
    const h = new TcpHost({
      ncpus: MAXCPU,
      local: [c],
      output: () => undefined,
      portFirst: PFIRST,
      portLast: PLAST,
      random: this.rand,
      hashcpu: (hash) => this.ownerOf(hash),
    });
    // The owner's view of connections homed elsewhere in its buckets (rescale's home entries).
    h.pcb.tupleHeld = (laddr, lport, faddr, fport) =>
      this.conns.some((x) => x.cpu !== c && x.lport === lport && DESTS[x.dest][0] === faddr && DESTS[x.dest][1] === fport && laddr === LADDR && this.ownerOf(x.hash) === c);
    for (const l of this.listens) l.inps.set(c, this.listenOn(h, c, l.port));
    this.hosts.set(c, h);
  }

  private listenOn(h: TcpHost, c: number, port: number): Inpcb<TcpCb> {
    const inp = h.pcb.alloc(c);
    h.pcb.bind(inp, 0, port, {});
    h.pcb.listen(inp);
    return inp;
  }

  private budget(): void {
    for (const h of this.hosts.values()) h.pcb.porthashTrycount = 2 * this.live.length;
  }

  /** Every port of the range is held for this destination (a connection or a listener). */
  full(dest: number): boolean {
    for (let p = PFIRST; p <= PLAST; p++) {
      if (this.listens.some((l) => l.port === p)) continue;
      if (!this.conns.some((x) => x.dest === dest && x.lport === p)) return false;
    }
    return true;
  }

  connect(from: number, dest: number): void {
    const [faddr, fport] = DESTS[dest];
    let cpu = this.live[from % this.live.length];
    let hop: ConnectHop = CONNECT_FIRST;
    for (let hops = 0; ; hops++) {
      expect(hops).toBeLessThanOrEqual(2 * MAXCPU + 2);
      let step;
      try {
        step = tcpConnectStep(this.hosts.get(cpu)!, cpu, null, LADDR, faddr, fport, owner, {}, hop, this.live);
      } catch (err) {
        expect(err).toBeInstanceOf(InpcbAddrNotAvailError);
        expect(this.full(dest)).toBe(true);
        this.exhausted++;
        return;
      }
      if ("so" in step) {
        const inp = step.so.inp;
        expect(step.so.cpu).toBe(cpu);
        expect(this.ownerOf(inp.hash)).toBe(cpu);
        const dup = this.conns.find((x) => x.dest === dest && x.lport === inp.lport);
        expect(dup, `duplicate 4-tuple lport ${inp.lport} dest ${dest}`).toBeUndefined();
        expect(this.listens.some((l) => l.port === inp.lport)).toBe(false);
        if (hops > 0) this.migrated++;
        this.conns.push({ cpu, dest, lport: inp.lport, inp, so: step.so, hash: inp.hash });
        return;
      }
      cpu = step.to;
      hop = step.hop;
    }
  }

  private drop(x: Conn): void {
    const h = this.hosts.get(x.cpu)!;
    const tp = x.so?.tp;
    if (tp) h.cpu(x.cpu).engine.abort(tp, h.now());
    else h.pcb.detach(x.inp);
  }

  close(which: number): void {
    if (this.conns.length === 0) return;
    const x = this.conns.splice(which % this.conns.length, 1)[0];
    this.drop(x);
  }

  listen(port: number): void {
    if (this.listens.some((l) => l.port === port) || this.conns.some((x) => x.lport === port)) return;
    const inps = new Map<number, Inpcb<TcpCb>>();
    for (const [c, h] of this.hosts) inps.set(c, this.listenOn(h, c, port));
    this.listens.push({ port, inps });
  }

  unlisten(which: number): void {
    if (this.listens.length === 0) return;
    const l = this.listens.splice(which % this.listens.length, 1)[0];
    for (const [c, inp] of l.inps) {
      const h = this.hosts.get(c);
      if (!h) continue;
      h.pcb.unlisten(inp);
      h.pcb.detach(inp);
    }
  }

  join(): void {
    const id = Array.from({ length: MAXCPU }, (_, i) => i).find((i) => !this.live.includes(i));
    if (id === undefined) return;
    this.addHost(id);
    this.live = [...this.live, id].sort((a, b) => a - b);
    this.budget();
  }

  /** A leaving CPU hands each connection to its new owner (rescale's hand-over), then goes. */
  leave(which: number): void {
    if (this.live.length <= 2) return;
    const gone = this.live[which % this.live.length];
    this.live = this.live.filter((c) => c !== gone);
    this.budget();
    for (const x of this.conns) {
      if (x.cpu !== gone) continue;
      this.drop(x);
      const to = this.ownerOf(x.hash);
      const [faddr, fport] = DESTS[x.dest];
      x.inp = this.hosts.get(to)!.pcb.allocConnected(to, LADDR, x.lport, faddr, fport);
      x.so = null;
      x.cpu = to;
    }
    this.hosts.delete(gone);
    for (const l of this.listens) l.inps.delete(gone);
  }

  /** Each CPU's tables list exactly the model's connections on it. */
  check(): void {
    for (const [c, h] of this.hosts) {
      const mine = this.conns.filter((x) => x.cpu === c);
      for (const x of mine) {
        const [faddr, fport] = DESTS[x.dest];
        expect(h.pcb.lookupLocalRemote(LADDR, x.lport, faddr, fport)).toBe(x.inp);
      }
    }
  }
}

describe("connect across CPUs with their own tables", () => {
  it("never a duplicate 4-tuple; a connect fails only when the range is used up (2..12 CPUs, joins, leaves, listeners)", () => {
    let migrated = 0;
    let exhausted = 0;
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 12 }), fc.integer(), fc.array(opArb, { minLength: 80, maxLength: 200 }), (n, seed, ops) => {
        const cl = new Cluster(n, seed);
        for (const op of ops) {
          if (op.k === "connect") cl.connect(op.from, op.dest);
          else if (op.k === "close") cl.close(op.which);
          else if (op.k === "listen") cl.listen(op.port);
          else if (op.k === "unlisten") cl.unlisten(op.which);
          else if (op.k === "join") cl.join();
          else cl.leave(op.which);
        }
        cl.check();
        migrated += cl.migrated;
        exhausted += cl.exhausted;
      }),
      { numRuns: 120 },
    );
    // The runs did exercise migration and the end of the range.
    expect(migrated).toBeGreaterThan(0);
    expect(exhausted).toBeGreaterThan(0);
  });

  it("fills the whole range from one CPU of 6: every port is used once, then EADDRNOTAVAIL", () => {
    const cl = new Cluster(6, 7);
    const n = PLAST - PFIRST + 1;
    for (let i = 0; i < n; i++) cl.connect(0, 0);
    expect(cl.conns.length).toBe(n);
    expect(new Set(cl.conns.map((x) => x.lport)).size).toBe(n);
    expect(cl.exhausted).toBe(0);
    cl.connect(0, 0);
    expect(cl.exhausted).toBe(1);
    // Connections sit on the CPUs their hashes name: every one of the 6 got some.
    expect(new Set(cl.conns.map((x) => x.cpu)).size).toBe(6);
  });
});
