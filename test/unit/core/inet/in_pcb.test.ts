import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  INADDR_ANY,
  InpcbAddrInUseError,
  InpcbAlreadyBoundError,
  InpcbConfigError,
  InpcbHost,
  InpcbStateError,
  InpcbWrongCpuError,
  netisrHashcpu,
  symmetric,
  tcpListen,
  toeplitzHash,
} from "@dfly/core";

const ip = (s: string): number => s.split(".").reduce((a, o) => a * 256 + Number(o), 0);
const SERVER = ip("10.0.0.1");

/** A 4-tuple (client → SERVER:80) owned by `cpu`, found by scanning client ports. */
function tupleOn(host: InpcbHost, cpu: number, from = 10000): { faddr: number; fport: number; laddr: number; lport: number } {
  const faddr = ip("192.0.2.7");
  for (let fport = from; fport < 65536; fport++) {
    if (host.cpuOf(faddr, fport, SERVER, 80) === cpu) return { faddr, fport, laddr: SERVER, lport: 80 };
  }
  throw new Error("no tuple");
}

describe("InpcbHost configuration", () => {
  it("rejects bad CPU counts and port ranges with the value in the error", () => {
    expect(() => new InpcbHost({ ncpus: 0 })).toThrow(InpcbConfigError);
    expect(() => new InpcbHost({ ncpus: 129 })).toThrow(/129/);
    expect(() => new InpcbHost({ ncpus: 2, portFirst: 6000, portLast: 5000 })).toThrow(/6000..5000/);
    expect(() => new InpcbHost({ ncpus: 2, porthashTrycount: -1 })).toThrow(InpcbConfigError);
    const h = new InpcbHost({ ncpus: 3 });
    expect([h.portFirst, h.portLast, h.porthashTrycount]).toEqual([1024, 5000, 6]);
  });

  it("owner CPU is netisr_hashcpu of the symmetric hash, the same from both ends", () => {
    const h = new InpcbHost({ ncpus: 12 });
    fc.assert(
      fc.property(fc.nat(0xffffffff), fc.nat(0xffffffff), fc.nat(0xffff), fc.nat(0xffff), (fa, la, fp, lp) => {
        const want = netisrHashcpu(toeplitzHash(symmetric.hash4(fa, la, fp, lp)), 12);
        expect(h.cpuOf(fa, fp, la, lp)).toBe(want);
        expect(h.cpuOf(la, lp, fa, fp)).toBe(want);
      }),
      { numRuns: 300 },
    );
  });
});

describe("exact 4-tuple hash", () => {
  it("a connection is found only on its owner CPU", () => {
    const host = new InpcbHost({ ncpus: 4 });
    const t = tupleOn(host, 2);
    const inp = host.allocConnected(2, t.laddr, t.lport, t.faddr, t.fport, "tcb");
    expect(inp.cpu).toBe(2);
    expect(inp.hash).toBe(toeplitzHash(symmetric.hash4(t.faddr, t.laddr, t.fport, t.lport)));
    expect(host.pcbinfo[2].lookupConn(t.faddr, t.fport, t.laddr, t.lport)).toBe(inp);
    for (const c of [0, 1, 3]) expect(host.pcbinfo[c].lookupConn(t.faddr, t.fport, t.laddr, t.lport)).toBeUndefined();
    expect(host.pcbinfo[2].lookupConn(t.faddr, t.fport + 1, t.laddr, t.lport)).toBeUndefined();
    expect(host.pcbinfo[2].count).toBe(1);
    expect(host.pcbinfo[2].connCount).toBe(1);
    expect(host.portUsers(80)).toBe(1);
  });

  it("refuses a connection on a CPU that does not own it", () => {
    const host = new InpcbHost({ ncpus: 4 });
    const t = tupleOn(host, 1);
    expect(() => host.allocConnected(3, t.laddr, t.lport, t.faddr, t.fport)).toThrow(InpcbWrongCpuError);
    const inp = host.alloc(3);
    host.bind(inp, t.laddr, t.lport, { reuseport: true });
    expect(() => host.connect(inp, t.faddr, t.fport, 3)).toThrow(/cpu 1 owns it/);
    expect(host.pcbinfo[3].connCount).toBe(0);
  });

  it("rejects a duplicate 4-tuple with EADDRINUSE and keeps the first", () => {
    const host = new InpcbHost({ ncpus: 2 });
    const t = tupleOn(host, 0);
    const a = host.allocConnected(0, t.laddr, t.lport, t.faddr, t.fport);
    expect(() => host.allocConnected(0, t.laddr, t.lport, t.faddr, t.fport)).toThrow(InpcbAddrInUseError);
    const b = host.alloc(0);
    b.laddr = t.laddr;
    b.lport = t.lport;
    expect(() => host.connect(b, t.faddr, t.fport, 0)).toThrow(InpcbAddrInUseError);
    expect(b.faddr).toBe(INADDR_ANY);
    expect(host.pcbinfo[0].lookupConn(t.faddr, t.fport, t.laddr, t.lport)).toBe(a);
    expect(host.pcbinfo[0].connCount).toBe(1);
  });

  it("many connections: every lookup hits, detach removes exactly one", () => {
    const host = new InpcbHost({ ncpus: 3 });
    const all = [];
    for (let i = 0; i < 3000; i++) {
      const faddr = ip("198.51.100.0") + (i % 50);
      const fport = 20000 + i;
      const cpu = host.cpuOf(faddr, fport, SERVER, 80);
      all.push(host.allocConnected(cpu, SERVER, 80, faddr, fport));
    }
    expect(host.count).toBe(3000);
    for (const inp of all) expect(host.pcbinfo[inp.cpu].lookupConn(inp.faddr, inp.fport, SERVER, 80)).toBe(inp);
    for (let i = 0; i < all.length; i += 2) host.detach(all[i]);
    for (let i = 0; i < all.length; i++) {
      const inp = all[i];
      const found = host.pcbinfo.map((p) => p.lookupConn(inp.faddr, inp.fport, SERVER, 80));
      if (i % 2 === 0) expect(found.every((f) => f === undefined)).toBe(true);
      else expect(found.filter((f) => f !== undefined)).toEqual([inp]);
    }
    expect(host.count).toBe(1500);
    expect(host.portUsers(80)).toBe(1500);
    host.detach(all[1]);
    host.detach(all[1]); // idempotent
    expect(host.count).toBe(1499);
  });
});

describe("bind and listen", () => {
  it("a second bind of the same address needs SO_REUSEPORT on both", () => {
    const host = new InpcbHost({ ncpus: 2 });
    tcpListen(host, { laddr: SERVER, lport: 80 });
    expect(() => tcpListen(host, { laddr: SERVER, lport: 80, reuseport: true })).toThrow(InpcbAddrInUseError);
    expect(host.count).toBe(1); // the failed listener's PCB was freed
    const a = tcpListen(host, { lport: 8080, reuseport: true });
    const b = tcpListen(host, { lport: 8080, reuseport: true });
    expect(() => tcpListen(host, { lport: 8080 })).toThrow(/0.0.0.0:8080 is already in use/);
    expect(a.inp.lgrpindex).toBe(0);
    expect(b.inp.lgrpindex).toBe(1);
    const inp = host.alloc(0);
    host.bind(inp, SERVER, 9000);
    expect(() => host.bind(inp, SERVER, 9001)).toThrow(InpcbAlreadyBoundError);
    const anon = host.alloc(1);
    host.bind(anon, SERVER, 0);
    expect(anon.lport).toBeGreaterThanOrEqual(1024);
    expect(anon.lport).toBeLessThanOrEqual(5000);
  });

  it("a listener is referenced on every CPU but listed only on CPU 0", () => {
    const host = new InpcbHost({ ncpus: 4 });
    const ls = tcpListen(host, { lport: 80 });
    expect(host.pcbinfo.map((p) => p.count)).toEqual([1, 0, 0, 0]);
    for (const p of host.pcbinfo) {
      expect(p.lookupPkthash(ip("192.0.2.1"), 1234, SERVER, 80, true)).toBe(ls.inp);
      expect(p.lookupPkthash(ip("192.0.2.1"), 1234, SERVER, 80, false)).toBeUndefined();
      expect(p.lookupPkthash(ip("192.0.2.1"), 1234, SERVER, 81, true)).toBeUndefined();
    }
    const exact = tcpListen(host, { laddr: SERVER, lport: 80, reuseaddr: true });
    expect(host.pcbinfo[3].lookupWildcard(SERVER, 80)).toBe(exact.inp);
    expect(host.pcbinfo[3].lookupWildcard(ip("10.0.0.2"), 80)).toBe(ls.inp);
    expect(() => host.listen(ls.inp)).toThrow(InpcbStateError);
  });

  it("an exact match beats the wildcard and connected children never shadow a listener", () => {
    const host = new InpcbHost({ ncpus: 2 });
    const ls = tcpListen(host, { lport: 80, reuseport: true });
    const t = tupleOn(host, 1);
    const child = host.allocConnected(1, t.laddr, t.lport, t.faddr, t.fport);
    const p = host.pcbinfo[1];
    expect(p.lookupPkthash(t.faddr, t.fport, t.laddr, t.lport, true, child.hash)).toBe(child);
    expect(p.lookupPkthash(t.faddr, t.fport + 1, t.laddr, t.lport, true, 5)).toBe(ls.inp);
    // Another SO_REUSEPORT listener may join although children hold port 80.
    expect(() => tcpListen(host, { lport: 80, reuseport: true })).not.toThrow();
    // Without SO_REUSEADDR/SO_REUSEPORT, a child on the port is "in use" (BSD's classic restart error).
    const h2 = new InpcbHost({ ncpus: 1 });
    h2.allocConnected(0, SERVER, 80, t.faddr, t.fport);
    expect(() => tcpListen(h2, { lport: 80 })).toThrow(InpcbAddrInUseError);
    expect(() => tcpListen(h2, { lport: 80, reuseaddr: true })).not.toThrow();
  });
});

describe("SO_REUSEPORT local groups", () => {
  it("a SYN picks member (h & 127) % count, the same member on every CPU", () => {
    const host = new InpcbHost({ ncpus: 4 });
    const ls = [0, 1, 2].map(() => tcpListen(host, { lport: 443, reuseport: true }));
    for (let h = 0; h < 0x10000; h += 97) {
      const want = ls[(h & 127) % 3].inp;
      for (const p of host.pcbinfo) expect(p.lookupPkthash(ip("192.0.2.9"), 5555, SERVER, 443, true, h)).toBe(want);
    }
    // Without the packet hash the local group is bypassed (reuseport_ext off).
    expect(ls.map((l) => l.inp)).toContain(host.pcbinfo[0].lookupPkthash(ip("192.0.2.9"), 5555, SERVER, 443, true));
  });

  it("a group on the exact laddr wins over the INADDR_ANY group", () => {
    const host = new InpcbHost({ ncpus: 2 });
    const any = tcpListen(host, { lport: 80, reuseport: true });
    const exact = tcpListen(host, { laddr: SERVER, lport: 80, reuseport: true });
    expect(host.pcbinfo[1].lookupPkthash(1, 2, SERVER, 80, true, 77)).toBe(exact.inp);
    expect(host.pcbinfo[1].lookupPkthash(1, 2, ip("10.0.0.9"), 80, true, 77)).toBe(any.inp);
    expect(host.pcbinfo[0].localGroups().length).toBe(2);
  });

  it("keeps members sorted by lgrpindex; a new member fills the first gap (slot reuse)", () => {
    const host = new InpcbHost({ ncpus: 3 });
    const ls = [0, 1, 2, 3].map(() => tcpListen(host, { lport: 80, reuseport: true }));
    expect(ls.map((l) => l.inp.lgrpindex)).toEqual([0, 1, 2, 3]);
    const members = (cpu: number) => host.pcbinfo[cpu].localGroup(INADDR_ANY, 80)!.members;
    host.detach(ls[1].inp);
    host.detach(ls[2].inp);
    for (let c = 0; c < 3; c++) expect(members(c)).toEqual([ls[0].inp, ls[3].inp]);
    expect(ls[1].inp.lgrpindex).toBe(-1);
    const n1 = tcpListen(host, { lport: 80, reuseport: true });
    const n2 = tcpListen(host, { lport: 80, reuseport: true });
    const n3 = tcpListen(host, { lport: 80, reuseport: true });
    expect([n1.inp.lgrpindex, n2.inp.lgrpindex, n3.inp.lgrpindex]).toEqual([1, 2, 4]);
    for (let c = 0; c < 3; c++) {
      expect(members(c)).toEqual([ls[0].inp, n1.inp, n2.inp, ls[3].inp, n3.inp]);
      expect(members(c).map((m) => m.lgrpindex)).toEqual([0, 1, 2, 3, 4]);
    }
    // Removing every member destroys the group.
    for (const l of [ls[0], n1, n2, ls[3], n3]) host.detach(l.inp);
    expect(host.pcbinfo[0].localGroup(INADDR_ANY, 80)).toBeUndefined();
    expect(host.pcbinfo[2].lookupPkthash(1, 2, SERVER, 80, true, 3)).toBeUndefined();
  });

  it("in_pcblocalgroup_last: the last other member; the second-to-last when closing the last", () => {
    const host = new InpcbHost({ ncpus: 2 });
    const ls = [0, 1, 2].map(() => tcpListen(host, { lport: 80, reuseport: true }));
    const p = host.pcbinfo[0];
    expect(p.localGroupLast(ls[0].inp)).toBe(ls[2].inp);
    expect(p.localGroupLast(ls[1].inp)).toBe(ls[2].inp);
    expect(p.localGroupLast(ls[2].inp)).toBe(ls[1].inp);
    host.detach(ls[1].inp);
    host.detach(ls[2].inp);
    expect(p.localGroupLast(ls[0].inp)).toBeUndefined();
  });
});

describe("migration between CPU lists", () => {
  it("unlink/link moves an unhashed PCB; a hashed one cannot be unlinked", () => {
    const host = new InpcbHost({ ncpus: 2 });
    const inp = host.alloc(0);
    host.migrate(inp, 1);
    expect(inp.cpu).toBe(1);
    expect(host.pcbinfo.map((p) => p.count)).toEqual([0, 1]);
    const t = tupleOn(host, 1);
    const c = host.allocConnected(1, t.laddr, t.lport, t.faddr, t.fport);
    expect(() => host.unlink(c)).toThrow(InpcbStateError);
  });
});
