import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { buildUdpPacket, inCksum, ipAddr, RouteTable, RTF } from "@dfly/core";
import { Fib, ForwardResult, FWD_FRAGMENT, FWD_OK, ipForward, IpDrop } from "@dfly/netisr/internal";

/** One table for the file: a RouteTable is a 64 MiB DIR-24-8 level 1. */
let shared: Fib | undefined;
function fib(): Fib {
  if (shared) return shared;
  const t = new RouteTable();
  t.add("198.18.1.0/24", { ifname: "ix1" });
  t.add("10.0.0.0/8", { gateway: "198.18.1.2" });
  t.add("10.9.0.0/16", { gateway: "198.18.1.2", mtu: 576 });
  t.add("10.66.0.0/16", { ifname: "ix1", flags: RTF.REJECT });
  t.add("10.67.0.0/16", { flags: RTF.BLACKHOLE });
  return (shared = new Fib(t, (n) => ["ix0", "ix1"].indexOf(n)));
}

const pkt = (dst: string, ttl = 64, len = 18, df = false) =>
  buildUdpPacket({ src: ipAddr("198.18.0.7"), dst: ipAddr(dst), sport: 5, dport: 9, ttl, df, payload: new Uint8Array(len) });

describe("ipForward", () => {
  it("forwards via a gateway route to the gateway's interface, TTL - 1, checksum equal to a full recompute", () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 255 }), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 255 }), (ttl, id, tos) => {
        const p = buildUdpPacket({ src: ipAddr("198.18.0.7"), dst: ipAddr("10.1.2.3"), sport: 5, dport: 9, ttl, id, tos });
        const res = new ForwardResult();
        expect(ipForward(p, 0, p.length, fib(), res)).toBe(FWD_OK);
        expect(res.ifindex).toBe(1);
        expect(p[8]).toBe(ttl - 1);
        expect(inCksum(p, 0, 20)).toBe(0);
        const q = p.slice(0, 20);
        q[10] = q[11] = 0;
        const full = inCksum(q, 0, 20);
        expect((p[10] << 8) | p[11]).toBe(full);
      }),
    );
  });

  it("TTL 1 and 0: time exceeded, frame untouched", () => {
    for (const ttl of [0, 1]) {
      const p = pkt("10.1.2.3", ttl);
      const before = p.slice();
      const res = new ForwardResult();
      expect(ipForward(p, 0, p.length, fib(), res)).toBe(IpDrop.timxceed);
      expect(res.icmpType).toBe(11);
      expect(p).toEqual(before);
    }
  });

  it("no route, reject route: unreachable host; blackhole: silent", () => {
    const res = new ForwardResult();
    const p = pkt("192.0.2.9");
    expect(ipForward(p, 0, p.length, fib(), res)).toBe(IpDrop.noroute);
    expect([res.icmpType, res.icmpCode]).toEqual([3, 1]);
    const r = pkt("10.66.1.1");
    expect(ipForward(r, 0, r.length, fib(), res)).toBe(IpDrop.noroute);
    expect(res.icmpType).toBe(3);
    const b = pkt("10.67.1.1");
    expect(ipForward(b, 0, b.length, fib(), res)).toBe(IpDrop.noroute);
    expect(res.icmpType).toBe(-1);
  });

  it("not forwardable destinations: cantforward", () => {
    const res = new ForwardResult();
    for (const d of ["0.1.2.3", "240.0.0.1", "224.0.0.5"]) {
      const p = pkt(d);
      expect(ipForward(p, 0, p.length, fib(), res)).toBe(IpDrop.cantforward);
    }
  });

  it("path MTU: DF set → cantfrag with needfrag and the MTU; DF clear → fragment", () => {
    const res = new ForwardResult();
    const big = pkt("10.9.1.1", 64, 1000, true);
    expect(ipForward(big, 0, big.length, fib(), res)).toBe(IpDrop.cantfrag);
    expect([res.icmpType, res.icmpCode, res.icmpParam]).toEqual([3, 4, 576]);
    const big2 = pkt("10.9.1.1", 64, 1000, false);
    expect(ipForward(big2, 0, big2.length, fib(), res)).toBe(FWD_FRAGMENT);
    expect(big2[8]).toBe(63);
  });

  it("a route whose interface is unknown here resolves to none (noroute)", () => {
    const t = new RouteTable();
    t.add("0.0.0.0/0", { ifname: "em7" });
    const res = new ForwardResult();
    const p = pkt("10.1.1.1");
    expect(ipForward(p, 0, p.length, new Fib(t, () => -1), res)).toBe(IpDrop.noroute);
  });
});
