import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  NO_ROUTE,
  RTF,
  RouteAttributeError,
  RouteError,
  RouteExistsError,
  RouteHostBitsError,
  RouteNoNextHopError,
  RouteNotFoundError,
  RoutePrefixLengthError,
  RoutePrefixSyntaxError,
  ROUTE_MAX_CHUNKS,
  RouteTable,
  RouteTableFullError,
  formatPrefix,
  parsePrefix,
  parseRouteAddress,
  prefixMask,
  routeIwSegs,
  type RouteAttrs,
} from "@dfly/core";

/** The naive reference: a list of (addr, len, tag), longest match by linear scan. */
class NaiveTable {
  readonly routes = new Map<string, { addr: number; len: number; gw: number }>();
  add(addr: number, len: number, gw: number): void {
    this.routes.set(`${addr}/${len}`, { addr, len, gw });
  }
  delete(addr: number, len: number): void {
    this.routes.delete(`${addr}/${len}`);
  }
  lookup(a: number): { addr: number; len: number; gw: number } | undefined {
    let best: { addr: number; len: number; gw: number } | undefined;
    for (const r of this.routes.values()) {
      if (((a & prefixMask(r.len)) >>> 0) === r.addr && (!best || r.len > best.len)) best = r;
    }
    return best;
  }
}

const ip = (s: string): number => parsePrefix(s).addr;

/**
 * Prefixes clustered in a few /16s so that they overlap (and /25–/32 share /24 chunks), plus the
 * default route, /1, /8 and /32 — lengths drawn from the whole range 0–32.
 */
const arbPrefix = fc
  .record({
    base: fc.constantFrom(0x0a000000, 0x0a010000, 0xc0a80000, 0xffff0000, 0x00000000),
    low: fc.integer({ min: 0, max: 0xffff }),
    len: fc.oneof(
      fc.integer({ min: 0, max: 32 }),
      fc.integer({ min: 20, max: 32 }),
      fc.constantFrom(0, 8, 16, 24, 25, 31, 32),
    ),
  })
  .map(({ base, low, len }) => {
    const addr = (base | low) >>> 0;
    return { addr: (addr & prefixMask(len)) >>> 0, len };
  });

const arbOps = fc.array(
  fc.oneof(
    { weight: 3, arbitrary: fc.record({ op: fc.constant("add" as const), p: arbPrefix }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant("del" as const), p: arbPrefix }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant("delOld" as const), k: fc.nat() }) },
  ),
  { minLength: 1, maxLength: 60 },
);

/** Probe addresses: the edges of every prefix ever touched, and random ones near the clusters. */
function probes(prefixes: { addr: number; len: number }[], extra: number[]): number[] {
  const out = [0, 0xffffffff, 0x0a000000, 0xc0a80001, ...extra];
  for (const { addr, len } of prefixes) {
    const last = (addr | ~prefixMask(len)) >>> 0;
    out.push(addr, last, (addr - 1) >>> 0, (last + 1) >>> 0, (addr + ((last - addr) >>> 1)) >>> 0);
  }
  return out;
}

describe("RouteTable longest-prefix match", () => {
  it("equals a naive linear-scan reference under random adds and deletes", () => {
    fc.assert(
      fc.property(arbOps, fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 40 }), (ops, extra) => {
        const t = new RouteTable();
        const ref = new NaiveTable();
        const touched: { addr: number; len: number }[] = [];
        let gw = 1;
        for (const o of ops) {
          if (o.op === "add") {
            touched.push(o.p);
            if (ref.routes.has(`${o.p.addr}/${o.p.len}`)) {
              expect(() => t.add(o.p, { gateway: gw })).toThrow(RouteExistsError);
            } else {
              t.add(o.p, { gateway: gw });
              ref.add(o.p.addr, o.p.len, gw);
            }
            gw++;
          } else {
            const p = o.op === "del" ? o.p : [...ref.routes.values()][o.k % Math.max(1, ref.routes.size)];
            if (!p) continue;
            if (ref.routes.has(`${p.addr}/${p.len}`)) {
              t.delete(p);
              ref.delete(p.addr, p.len);
            } else {
              expect(() => t.delete(p)).toThrow(RouteNotFoundError);
            }
          }
          expect(t.size).toBe(ref.routes.size);
        }
        for (const a of probes(touched, extra)) {
          const want = ref.lookup(a);
          const i = t.lookup(a);
          if (!want) {
            expect(i).toBe(NO_ROUTE);
          } else {
            expect(i).not.toBe(NO_ROUTE);
            expect({ addr: t.route(i).addr, len: t.route(i).len, gw: t.gatewayOf(i) }).toEqual(want);
          }
        }
        // One level-2 chunk per /24 holding a prefix longer than /24, freed with the last of them.
        const chunked = new Set([...ref.routes.values()].filter((r) => r.len > 24).map((r) => r.addr >>> 8));
        expect(t.chunks).toBe(chunked.size);
        // The exact-match view agrees too.
        expect(t.list().map((r) => `${r.addr}/${r.len}`).sort()).toEqual([...ref.routes.keys()].sort());
      }),
      { numRuns: 150 },
    );
  });

  it("deleting a route restores the next-shorter covering route, also inside /24 chunks", () => {
    const t = new RouteTable();
    t.add("0.0.0.0/0", { gateway: "192.0.2.1" });
    t.add("10.0.0.0/8", { gateway: "192.0.2.8" });
    t.add("10.1.0.0/16", { gateway: "192.0.2.16" });
    t.add("10.1.2.0/24", { gateway: "192.0.2.24" });
    t.add("10.1.2.128/25", { gateway: "192.0.2.25" });
    t.add("10.1.2.129/32", { gateway: "192.0.2.32" });
    const gw = (a: string) => t.match(ip(a))?.gateway;
    expect(gw("10.1.2.129")).toBe(ip("192.0.2.32"));
    expect(gw("10.1.2.130")).toBe(ip("192.0.2.25"));
    expect(gw("10.1.2.1")).toBe(ip("192.0.2.24"));
    t.delete("10.1.2.128/25");
    expect(gw("10.1.2.129")).toBe(ip("192.0.2.32"));
    expect(gw("10.1.2.130")).toBe(ip("192.0.2.24"));
    t.delete("10.1.2.0/24");
    expect(gw("10.1.2.130")).toBe(ip("192.0.2.16"));
    expect(gw("10.1.2.129")).toBe(ip("192.0.2.32"));
    t.delete("10.1.2.129/32");
    expect(t.chunks).toBe(0); // the chunk was freed with the last prefix longer than /24
    expect(gw("10.1.2.129")).toBe(ip("192.0.2.16"));
    t.delete("10.1.0.0/16");
    expect(gw("10.1.2.129")).toBe(ip("192.0.2.8"));
    t.delete("10.0.0.0/8");
    expect(gw("10.1.2.129")).toBe(ip("192.0.2.1"));
    t.delete("0.0.0.0/0");
    expect(t.lookup(ip("10.1.2.129"))).toBe(NO_ROUTE);
    expect(t.size).toBe(0);
  });

  it("a /32 at the top of the address space and the default route", () => {
    const t = new RouteTable();
    expect(t.lookup(0xffffffff)).toBe(NO_ROUTE);
    const d = t.add("0.0.0.0/0", { ifname: "ix0" });
    const h = t.add("255.255.255.255/32", { ifname: "ix1" });
    expect(t.lookup(0xffffffff)).toBe(h);
    expect(t.lookup(-1)).toBe(h); // int32 view of the same address
    expect(t.lookup(0xfffffffe)).toBe(d);
    expect(t.route(h).flags & RTF.HOST).toBe(RTF.HOST);
    expect(t.ifnameOf(h)).toBe("ix1");
  });
});

describe("RouteTable digest", () => {
  const routes: [string, RouteAttrs][] = [
    ["0.0.0.0/0", { gateway: "192.0.2.1" }],
    ["10.0.0.0/8", { gateway: "192.0.2.2", metric: 5 }],
    ["10.1.0.0/16", { ifname: "ix0", mtu: 1400 }],
    ["10.1.2.128/25", { gateway: "192.0.2.3", iwmaxsegs: 10, iwcapsegs: 8 }],
    ["10.1.2.129/32", { ifname: "ix1", flags: RTF.STATIC }],
    ["198.51.100.0/24", { flags: RTF.BLACKHOLE }],
  ];

  it("is the same for the same routes in any insertion order, and changes with any change", () => {
    fc.assert(
      fc.property(fc.shuffledSubarray(routes, { minLength: routes.length }), fc.nat(), (order, k) => {
        const a = new RouteTable();
        const b = new RouteTable();
        for (const [p, at] of routes) a.add(p, at);
        for (const [p, at] of order) b.add(p, at);
        expect(b.digest()).toBe(a.digest());
        const before = b.digest();
        const [p, at] = routes[k % routes.length];
        b.delete(p);
        expect(b.digest()).not.toBe(before);
        b.add(p, at);
        expect(b.digest()).toBe(before);
      }),
      { numRuns: 30 },
    );
  });

  it("changes when any single attribute changes, and when a route is added", () => {
    const base = (): RouteTable => {
      const t = new RouteTable();
      for (const [p, at] of routes) t.add(p, at);
      return t;
    };
    const d0 = base().digest();
    const variants: RouteAttrs[] = [
      { gateway: "192.0.2.3", iwmaxsegs: 10, iwcapsegs: 9 },
      { gateway: "192.0.2.3", iwmaxsegs: 11, iwcapsegs: 8 },
      { gateway: "192.0.2.4", iwmaxsegs: 10, iwcapsegs: 8 },
      { gateway: "192.0.2.3", iwmaxsegs: 10, iwcapsegs: 8, metric: 1 },
      { gateway: "192.0.2.3", iwmaxsegs: 10, iwcapsegs: 8, mtu: 9000 },
      { gateway: "192.0.2.3", iwmaxsegs: 10, iwcapsegs: 8, flags: RTF.STATIC },
      { gateway: "192.0.2.3", iwmaxsegs: 10, iwcapsegs: 8, ifname: "ix0" },
      { ifname: "ix0", iwmaxsegs: 10, iwcapsegs: 8 },
    ];
    const seen = new Set([d0]);
    for (const v of variants) {
      const t = base();
      t.change("10.1.2.128/25", v);
      expect(seen.has(t.digest())).toBe(false);
      seen.add(t.digest());
    }
    const t = base();
    t.add("10.1.2.0/24", { gateway: "192.0.2.3" });
    expect(seen.has(t.digest())).toBe(false);
    // An empty table and the same prefix on another interface differ too.
    const e1 = new RouteTable();
    const e2 = new RouteTable();
    e2.add("10.0.0.0/8", { ifname: "ix0" });
    const e3 = new RouteTable();
    e3.add("10.0.0.0/8", { ifname: "ix1" });
    expect(new Set([e1.digest(), e2.digest(), e3.digest()]).size).toBe(3);
    expect(e1.digest()).toMatch(/^[0-9a-f]{32}$/);
  });
});

describe("RouteTable validation", () => {
  it("parses and formats prefixes", () => {
    expect(parsePrefix("10.0.0.0/8")).toEqual({ addr: 0x0a000000, len: 8 });
    expect(parsePrefix("0.0.0.0/0")).toEqual({ addr: 0, len: 0 });
    expect(parsePrefix("255.255.255.255")).toEqual({ addr: 0xffffffff, len: 32 });
    expect(formatPrefix(0xc0a80100, 24)).toBe("192.168.1.0/24");
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 32 }), (a, len) => {
        const addr = (a & prefixMask(len)) >>> 0;
        expect(parsePrefix(formatPrefix(addr, len))).toEqual({ addr, len });
      }),
    );
  });

  it("rejects bad prefix text, masks > 32 and host bits with typed errors", () => {
    for (const bad of ["", "10", "10.0.0", "10.0.0.0.0/8", "10.0.0.256/32", "10.0.0.0/", "10.0.0.0/8x", "a.b.c.d/8", "010.0.0.0/8", "10.0.0.0/-1", " 10.0.0.0/8", "10..0.0/8"]) {
      expect(() => parsePrefix(bad), bad).toThrow(RoutePrefixSyntaxError);
    }
    expect(() => parsePrefix("10.0.0.0/33")).toThrow(RoutePrefixLengthError);
    expect(() => parsePrefix("10.0.0.0/99")).toThrow(/mask \/99 is not 0–32/);
    expect(() => parsePrefix("10.0.0.1/8")).toThrow(RouteHostBitsError);
    expect(() => parsePrefix("10.0.0.1/8")).toThrow(/did you mean 10.0.0.0\/8/);
    const t = new RouteTable();
    expect(() => t.add({ addr: 0x0a000001, len: 8 }, { ifname: "ix0" })).toThrow(RouteHostBitsError);
    expect(() => t.add({ addr: 0x0a000000, len: 40 }, { ifname: "ix0" })).toThrow(RoutePrefixLengthError);
    expect(t.size).toBe(0);
  });

  it("rejects duplicates, unknown deletes and bad attributes, keeping the table unchanged", () => {
    const t = new RouteTable();
    t.add("10.0.0.0/8", { gateway: "192.0.2.1" });
    const d = t.digest();
    expect(() => t.add("10.0.0.0/8", { gateway: "192.0.2.9" })).toThrow(RouteExistsError);
    expect(() => t.delete("10.0.0.0/9")).toThrow(RouteNotFoundError);
    expect(() => t.change("11.0.0.0/8", { ifname: "ix0" })).toThrow(RouteNotFoundError);
    expect(() => t.add("11.0.0.0/8", {})).toThrow(RouteNoNextHopError);
    const bad: RouteAttrs[] = [
      { gateway: "192.0.2" },
      { gateway: 2 ** 32 },
      { gateway: -1 },
      { ifname: "" },
      { ifname: "an-interface-name-too-long" },
      { ifname: "ix 0" },
      { ifname: "ix0", mtu: 67 },
      { ifname: "ix0", mtu: 65536 },
      { ifname: "ix0", metric: 1.5 },
      { ifname: "ix0", iwmaxsegs: -4 },
      { ifname: "ix0", flags: 0x100 },
    ];
    for (const a of bad) expect(() => t.add("11.0.0.0/8", a), JSON.stringify(a)).toThrow(RouteAttributeError);
    expect(() => t.change("10.0.0.0/8", { gateway: "192.0.2.1", mtu: 1 })).toThrow(RouteAttributeError);
    expect(t.size).toBe(1);
    expect(t.digest()).toBe(d);
    expect(t.get("10.0.0.0/8")?.gateway).toBe(ip("192.0.2.1"));
    const e = new RouteExistsError("10.0.0.0/8");
    expect(e).toBeInstanceOf(RouteError);
    expect(e.name).toBe("RouteExistsError");
    expect(e.prefix).toBe("10.0.0.0/8");
  });

  it("refuses a prefix longer than /24 beyond ROUTE_MAX_CHUNKS level-2 chunks, leaving the table as it was", () => {
    const t = new RouteTable();
    // One /25 in each of ROUTE_MAX_CHUNKS distinct /24s uses every chunk.
    for (let k = 0; k < ROUTE_MAX_CHUNKS; k++) t.add({ addr: 0x0a000000 + k * 256, len: 25 }, { ifname: "ix0" });
    expect(t.chunks).toBe(ROUTE_MAX_CHUNKS);
    const d = t.digest();
    const next = { addr: 0x0b000000, len: 25 };
    const err = (() => {
      try {
        t.add(next, { ifname: "ix0" });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(RouteTableFullError);
    expect(err).toMatchObject({ limit: "chunks", max: ROUTE_MAX_CHUNKS, prefix: "11.0.0.0/25" });
    expect(t.size).toBe(ROUTE_MAX_CHUNKS);
    expect(t.digest()).toBe(d);
    expect(t.lookup(0x0b000001)).toBe(NO_ROUTE);
    // A /25 inside a /24 that already has a chunk still fits, and so does any prefix up to /24.
    t.add({ addr: 0x0a000080, len: 25 }, { ifname: "ix1" });
    t.add({ addr: 0x0b000000, len: 24 }, { ifname: "ix1" });
    // Freeing a chunk makes room again.
    t.delete({ addr: 0x0a000100, len: 25 });
    t.add(next, { ifname: "ix0" });
    expect(t.match(0x0b000001)?.len).toBe(25);
  });

  it("stores attributes and derives UP/GATEWAY/HOST; IW segments below 4 are ignored as in DragonFly", () => {
    const t = new RouteTable();
    const i = t.add("10.0.0.0/8", { gateway: "192.0.2.1", ifname: "ix0", metric: 7, mtu: 1400, iwmaxsegs: 10, iwcapsegs: 6, flags: RTF.STATIC });
    expect(t.route(i)).toEqual({
      addr: 0x0a000000,
      len: 8,
      prefix: "10.0.0.0/8",
      gateway: ip("192.0.2.1"),
      ifname: "ix0",
      metric: 7,
      mtu: 1400,
      iwmaxsegs: 10,
      iwcapsegs: 6,
      flags: RTF.UP | RTF.GATEWAY | RTF.STATIC,
    });
    expect(t.mtuOf(i)).toBe(1400);
    expect(routeIwSegs(t.route(i))).toEqual({ maxsegs: 10, capsegs: 6 });
    expect(routeIwSegs({ iwmaxsegs: 10, iwcapsegs: 3 })).toBeUndefined();
    expect(routeIwSegs({ iwmaxsegs: 3, iwcapsegs: 10 })).toBeUndefined();
    const b = t.add("198.51.100.0/24", { flags: RTF.BLACKHOLE });
    expect(t.route(b).gateway).toBeUndefined();
    expect(t.flagsOf(b)).toBe(RTF.UP | RTF.BLACKHOLE);
  });
});

describe("RouteTable.clear", () => {
  it("leaves the table a fresh one is: empty digest, no match; reloaded, equal to a fresh table with the same routes", () => {
    const routes: [string, string][] = [];
    for (let i = 0; i < 3000; i++) routes.push([`${10 + (i % 200)}.${(i * 7) % 256}.${i % 256}.0/24`, "192.0.2.1"]);
    routes.push(["0.0.0.0/0", "192.0.2.9"], ["10.1.2.128/25", "192.0.2.2"], ["10.1.2.130/32", "192.0.2.3"]);
    const fresh = new RouteTable();
    const empty = fresh.digest();
    const t = new RouteTable();
    for (const [p, gw] of routes) if (!t.has(p)) t.add(p, { gateway: gw });
    t.clear();
    expect(t.size).toBe(0);
    expect(t.digest()).toBe(empty);
    expect(t.lookup(parseRouteAddress("10.1.2.130"))).toBe(NO_ROUTE);
    expect(t.list()).toEqual([]);
    for (const [p, gw] of routes) {
      if (!t.has(p)) t.add(p, { gateway: gw });
      if (!fresh.has(p)) fresh.add(p, { gateway: gw });
    }
    expect(t.digest()).toBe(fresh.digest());
    for (const a of ["10.1.2.130", "10.1.2.200", "10.1.2.5", "8.8.8.8", "11.7.1.9"]) expect(t.match(parseRouteAddress(a))?.prefix).toBe(fresh.match(parseRouteAddress(a))?.prefix);
  });
});
