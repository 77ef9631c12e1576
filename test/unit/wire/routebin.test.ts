// The binary route records of the bulk paths against hand-worked bytes, and their strict decoding.
import { describe, expect, it } from "vitest";
import { NetmsgDrop, NetmsgType, decodeNetmsg, decodeRouteRecs, encodeRouteBatch, encodeRouteRecs, encodeRouteResync } from "@dfly/wire";

// 10.0.0.0/8 via 192.0.2.1 metric 3, and 198.51.100.0/24 on ix0 mtu 1400 iw 10 — written out by hand.
const HAND = Uint8Array.from([
  0x01, 0x00, 3, 0x69, 0x78, 0x30, // 1 ifname: "ix0"
  0x02, 0x00, 0x00, 0x00, // 2 records
  0x00, 0x00, 0x00, 0x0a, 8, 1, 0x00, 0x00, 0x01, 0x02, 0x00, 0xc0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0x00, 0x64, 0x33, 0xc6, 24, 2, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x78, 0x05, 0, 0, 10, 0, 0, 0,
]);
const A = { addr: (10 << 24) >>> 0, len: 8, gateway: ((192 << 24) | (2 << 8) | 1) >>> 0, metric: 3 };
const B = { addr: ((198 << 24) | (51 << 16) | (100 << 8)) >>> 0, len: 24, ifname: "ix0", mtu: 1400, iw: 10 };

describe("route records", () => {
  it("encode to the hand-worked bytes and back", () => {
    expect([...encodeRouteRecs([A, B])]).toEqual([...HAND]);
    expect(decodeRouteRecs(HAND)).toEqual([A, B]);
  });

  it("reject what does not fit: size, length > 32, unknown flags, a delete outside a batch, bad ifname index or name", () => {
    expect(decodeRouteRecs(HAND.subarray(0, HAND.length - 1))).toMatch(/do not fill/);
    const long = HAND.slice();
    long[14] = 33;
    expect(decodeRouteRecs(long)).toMatch(/record 1: length 33/);
    const flags = HAND.slice();
    flags[15] = 0x9;
    expect(decodeRouteRecs(flags)).toMatch(/record 1: flags 0x9/);
    const del = HAND.slice();
    del[15] = 4;
    expect(decodeRouteRecs(del)).toMatch(/flags 0x4/);
    expect(decodeRouteRecs(del, true)).toEqual([{ addr: A.addr, len: 8, del: true }, B]);
    const idx = HAND.slice();
    idx[40] = 1;
    expect(decodeRouteRecs(idx)).toMatch(/record 2: interface index 1 of 1/);
    const name = HAND.slice();
    name[3] = 0x31; // "1x0": a digit first
    expect(decodeRouteRecs(name)).toMatch(/interface name "1x0"/);
    const none = HAND.slice();
    none[39] = 0;
    expect(decodeRouteRecs(none)).toMatch(/record 2: neither a gateway nor an interface/);
  });

  it("batch and resync netmsgs: decoded on the port, a malformed batch dropped whole", () => {
    const b = encodeRouteBatch(7, 42, [A, { addr: B.addr, len: 24, del: true }]);
    expect(b[0]).toBe(0x17);
    expect(decodeNetmsg(b)).toEqual({ type: NetmsgType.routeBatch, id: 7, revision: 42, ops: [A, { addr: B.addr, len: 24, del: true }] });
    expect(decodeNetmsg(b.subarray(0, b.length - 3))).toBe(NetmsgDrop.badbody);
    const neg = b.slice();
    new DataView(neg.buffer).setFloat64(5, -1, true);
    expect(decodeNetmsg(neg)).toBe(NetmsgDrop.badbody);
    expect(decodeNetmsg(b.subarray(0, 9))).toBe(NetmsgDrop.tooshort);
    expect(decodeNetmsg(encodeRouteResync(9))).toEqual({ type: NetmsgType.routeResync, id: 9 });
    expect(decodeNetmsg(Uint8Array.of(0x18, 9, 0, 0, 0, 0x7b))).toBe(NetmsgDrop.badjson);
  });

  it("random bytes never throw", () => {
    for (let i = 0; i < 2000; i++) {
      const n = Math.floor(Math.random() * 80);
      const b = Uint8Array.from({ length: n }, () => Math.floor(Math.random() * 256));
      expect(() => decodeRouteRecs(b, true)).not.toThrow();
      b[0] = 0x17;
      expect(() => decodeNetmsg(b)).not.toThrow();
    }
  });
});
