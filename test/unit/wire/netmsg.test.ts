import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { encodeFrameBatch } from "@dfly/transport";
import { NetmsgDrop, NetmsgType, decodeNetmsg, encodeNetmsg, netmsgType } from "@dfly/wire";

describe("netmsg", () => {
  it("a frame batch is itself a frames netmsg (no copy)", () => {
    const b = encodeFrameBatch([{ data: new Uint8Array(20), hash: 7 }]);
    expect(netmsgType(b)).toBe(NetmsgType.frames);
    const m = decodeNetmsg(b);
    expect(m).toEqual({ type: NetmsgType.frames, batch: b });
    if (typeof m !== "string" && "batch" in m) expect(m.batch).toBe(b);
  });

  it("round-trips the control types", () => {
    const route = { prefix: "10.0.0.0/8", gateway: "192.0.2.1", metric: 5, mtu: 1400, iw: 10 };
    expect(decodeNetmsg(encodeNetmsg.routeAdd(7, route, 42))).toEqual({ type: NetmsgType.routeAdd, id: 7, route, revision: 42 });
    expect(decodeNetmsg(encodeNetmsg.routeDelete(0xffffffff, "10.0.0.0/8", 43))).toEqual({
      type: NetmsgType.routeDelete,
      id: 0xffffffff,
      prefix: "10.0.0.0/8",
      revision: 43,
    });
    expect(decodeNetmsg(encodeNetmsg.statsRequest(3))).toEqual({ type: NetmsgType.statsRequest, id: 3 });
    expect(decodeNetmsg(encodeNetmsg.digestRequest(4))).toEqual({ type: NetmsgType.digestRequest, id: 4 });
    const topology = {
      epoch: 3,
      cpus: [0, 1],
      interfaces: [{ ifname: "ix0", model: "82599", mode: "polling", rings: 2, ringToCpu: [0, 1], redirect: [0, 1], addresses: ["192.0.2.2/24"] }],
      rssKey: "6d5a",
    };
    expect(decodeNetmsg(encodeNetmsg.topology(topology))).toEqual({ type: NetmsgType.topology, id: 0, topology });
    expect(decodeNetmsg(encodeNetmsg.reply(9, true, { digest: "ab" }))).toEqual({ type: NetmsgType.reply, id: 9, ok: true, body: { digest: "ab" } });
    expect(decodeNetmsg(encodeNetmsg.reply(9, false, undefined, "bad"))).toEqual({ type: NetmsgType.reply, id: 9, ok: false, error: "bad" });
    expect(decodeNetmsg(encodeNetmsg.socket(0x21, 5, { port: 80 }))).toEqual({ type: "socket", code: 0x21, id: 5, body: { port: 80 } });
    expect(() => encodeNetmsg.socket(0x40, 1, {})).toThrow(RangeError);
  });

  it("malformed messages give a reason", () => {
    const withBody = (type: number, body: string) => {
      const j = new TextEncoder().encode(body);
      const b = new Uint8Array(5 + j.length);
      b[0] = type;
      b.set(j, 5);
      return b;
    };
    expect(decodeNetmsg(new Uint8Array(0))).toBe(NetmsgDrop.tooshort);
    expect(decodeNetmsg(Uint8Array.of(NetmsgType.routeAdd, 0, 0))).toBe(NetmsgDrop.tooshort);
    expect(decodeNetmsg(Uint8Array.of(0x99, 0, 0, 0, 0))).toBe(NetmsgDrop.badtype);
    expect(decodeNetmsg(withBody(NetmsgType.routeAdd, "{nope"))).toBe(NetmsgDrop.badjson);
    expect(decodeNetmsg(Uint8Array.of(NetmsgType.routeAdd, 0, 0, 0, 0, 0xff, 0xfe))).toBe(NetmsgDrop.badjson);
    expect(decodeNetmsg(withBody(NetmsgType.routeAdd, '{"route":{"prefix":5},"revision":1}'))).toBe(NetmsgDrop.badbody);
    expect(decodeNetmsg(withBody(NetmsgType.routeAdd, '{"route":{"prefix":"1.0.0.0/8"},"revision":-1}'))).toBe(NetmsgDrop.badbody);
    expect(decodeNetmsg(withBody(NetmsgType.routeDelete, "[1]"))).toBe(NetmsgDrop.badbody);
    expect(decodeNetmsg(withBody(NetmsgType.statsRequest, "1"))).toBe(NetmsgDrop.badbody);
    expect(decodeNetmsg(withBody(NetmsgType.topology, '{"epoch":1}'))).toBe(NetmsgDrop.badbody);
    expect(decodeNetmsg(withBody(NetmsgType.reply, '{"ok":"yes"}'))).toBe(NetmsgDrop.badbody);
  });

  it("property: random bytes never throw", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        const r = decodeNetmsg(b);
        if (typeof r === "string") expect(Object.values(NetmsgDrop)).toContain(r);
      }),
      { numRuns: 3000 },
    );
  });
});
