import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  IP_DF,
  IP_MF,
  IPOPT,
  IpAddrError,
  IpBuildError,
  IpCantFragError,
  IpDropReason,
  buildIpOptions,
  buildIpv4,
  inCksum,
  ipAddr,
  ipFragment,
  ipIsFragment,
  ipOptCopy,
  ipString,
  parseIpAddr,
  parseIpv4,
  type IpOption,
} from "@dfly/core";

const SRC = ipAddr("10.0.0.1");
const DST = ipAddr("192.168.1.2");

/** A header with raw option bytes (padded by the caller) and a correct checksum. */
function withOptions(opt: number[], payload = 8): Uint8Array {
  while (opt.length & 3) opt.push(0);
  return buildIpv4({ src: SRC, dst: DST, p: 17, options: Uint8Array.from(opt) }, new Uint8Array(payload));
}

function refix(b: Uint8Array): Uint8Array {
  const hl = (b[0] & 0x0f) << 2;
  b[10] = b[11] = 0;
  const s = inCksum(b, 0, Math.min(hl, b.length));
  b[10] = s >>> 8;
  b[11] = s;
  return b;
}

describe("parseIpv4", () => {
  it("round-trips every header field and option kind", () => {
    const option = fc.oneof(
      fc.constant<IpOption>({ kind: "nop" }),
      fc.record({
        kind: fc.constantFrom("rr" as const, "lsrr" as const, "ssrr" as const),
        pointer: fc.integer({ min: 4, max: 255 }),
        route: fc.array(fc.nat(0xffffffff), { maxLength: 2 }),
      }),
      fc.record({
        kind: fc.constant("ts" as const),
        pointer: fc.integer({ min: 5, max: 13 }),
        overflow: fc.nat(14),
        flag: fc.constant(0),
        data: fc.array(fc.nat(0xffffffff), { minLength: 2, maxLength: 2 }),
      }),
      fc.record({ kind: fc.constant("raw" as const), type: fc.constantFrom(130, 136, 148), data: fc.uint8Array({ maxLength: 4 }) }),
    );
    fc.assert(
      fc.property(
        fc.record({
          src: fc.nat(0xffffffff), dst: fc.nat(0xffffffff), p: fc.nat(255), tos: fc.nat(255), id: fc.nat(0xffff),
          ttl: fc.nat(255), df: fc.boolean(), mf: fc.boolean(), fragOffset: fc.nat(0x1fff).map((x) => x * 8),
        }),
        fc.array(option, { maxLength: 2 }),
        fc.uint8Array({ maxLength: 100 }),
        fc.uint8Array({ maxLength: 6 }),
        (h, options, payload, pad) => {
          const pkt = buildIpv4({ ...h, options }, payload);
          // trailing link padding is ignored, as ip_input() trims it
          const frame = Uint8Array.from([...pkt, ...pad]);
          const r = parseIpv4(frame);
          if (!r.ok) throw new Error(`rejected: ${r.reason}`);
          const { ip } = r;
          expect(ip).toMatchObject({ src: h.src, dst: h.dst, p: h.p, tos: h.tos, id: h.id, ttl: h.ttl, df: h.df, mf: h.mf, fragOffset: h.fragOffset });
          expect(ip.len).toBe(pkt.length);
          expect(ip.options).toEqual(options);
          expect(r.payloadOffset).toBe(ip.hl);
          expect(frame.subarray(r.payloadOffset, r.payloadOffset + r.payloadLength)).toEqual(payload);
          expect(inCksum(frame, 0, ip.hl)).toBe(0);
          expect(ipIsFragment(ip)).toBe(h.mf || h.fragOffset !== 0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("returns ip_input()'s ipstat reason, in its order", () => {
    const good = buildIpv4({ src: SRC, dst: DST, p: 6 }, new Uint8Array(10));
    expect(parseIpv4(good.subarray(0, 19))).toEqual({ ok: false, reason: IpDropReason.toosmall });
    const v6 = good.slice();
    v6[0] = 0x65;
    expect(parseIpv4(v6)).toEqual({ ok: false, reason: IpDropReason.badvers });
    const hl4 = good.slice();
    hl4[0] = 0x44;
    expect(parseIpv4(hl4)).toEqual({ ok: false, reason: IpDropReason.badhlen });
    const hlLong = good.slice(0, 24);
    hlLong[0] = 0x47; // 28-byte header in 24 bytes
    expect(parseIpv4(hlLong)).toEqual({ ok: false, reason: IpDropReason.badhlen });
    const sum = good.slice();
    sum[8] ^= 1;
    expect(parseIpv4(sum)).toEqual({ ok: false, reason: IpDropReason.badsum });
    expect(parseIpv4(sum, 0, { checksum: false }).ok).toBe(true);
    const lenSmall = good.slice();
    lenSmall[3] = 19;
    expect(parseIpv4(refix(lenSmall))).toEqual({ ok: false, reason: IpDropReason.badlen });
    expect(parseIpv4(good.subarray(0, good.length - 1))).toEqual({ ok: false, reason: IpDropReason.tooshort });
    // badsum comes before badlen: a header with both is counted as badsum
    lenSmall[8] ^= 1;
    expect(parseIpv4(lenSmall)).toEqual({ ok: false, reason: IpDropReason.badsum });
  });

  it("parses at an offset (after a link header)", () => {
    const pkt = buildIpv4({ src: SRC, dst: DST, p: 1 }, Uint8Array.from([8, 0, 0, 0]));
    const frame = Uint8Array.from([...new Uint8Array(14), ...pkt]);
    const r = parseIpv4(frame, 14);
    expect(r.ok && r.payloadOffset).toBe(34);
  });

  it("checks options as ip_dooptions() does → badoptions with the pointer of the bad byte", () => {
    const bad = (opt: number[]) => parseIpv4(withOptions(opt));
    expect(bad([IPOPT.NOP, IPOPT.NOP, IPOPT.NOP, IPOPT.EOL]).ok).toBe(true);
    expect(bad([IPOPT.EOL, 0xff, 0xff, 0xff]).ok).toBe(true); // EOL ends the list: bytes after it are padding
    expect(bad([130, 0, 0, 0])).toEqual({ ok: false, reason: "badoptions", pointer: 21 }); // length 0
    expect(bad([130, 1, 0, 0])).toEqual({ ok: false, reason: "badoptions", pointer: 21 }); // length 1
    expect(bad([130, 5, 0, 0])).toEqual({ ok: false, reason: "badoptions", pointer: 21 }); // overruns header
    expect(bad([IPOPT.NOP, IPOPT.NOP, IPOPT.NOP, 130])).toEqual({ ok: false, reason: "badoptions", pointer: 24 }); // no length byte
    expect(bad([IPOPT.RR, 2, IPOPT.NOP, IPOPT.NOP])).toEqual({ ok: false, reason: "badoptions", pointer: 21 }); // RR shorter than 3
    expect(bad([IPOPT.RR, 7, 3, 0, 0, 0, 0])).toEqual({ ok: false, reason: "badoptions", pointer: 22 }); // pointer < IPOPT_MINOFF
    expect(bad([IPOPT.RR, 7, 8, 0, 0, 0, 0]).ok).toBe(true); // full RR: ignored, not an error
    expect(bad([IPOPT.LSRR, 7, 4, 1, 2, 3, 4]).ok).toBe(true);
    expect(bad([IPOPT.TS, 3, 5, 0])).toEqual({ ok: false, reason: "badoptions", pointer: 21 }); // TS shorter than 4
    expect(bad([IPOPT.TS, 8, 4, 0, 0, 0, 0, 0])).toEqual({ ok: false, reason: "badoptions", pointer: 21 }); // pointer < 5
    expect(bad([IPOPT.TS, 12, 5, 0x02, 0, 0, 0, 0, 0, 0, 0, 0])).toEqual({ ok: false, reason: "badoptions", pointer: 23 }); // flag 2 undefined
    expect(bad([IPOPT.TS, 12, 7, 0x01, 0, 0, 0, 0, 0, 0, 0, 0])).toEqual({ ok: false, reason: "badoptions", pointer: 22 }); // addr+ts needs 8 bytes
    // BSD's test is `ptr > optlen - 4` (1-origin ptr): an 8-byte TS at ptr 5 counts as full, its flag unchecked
    expect(bad([IPOPT.TS, 8, 5, 0x02, 0, 0, 0, 0]).ok).toBe(true);
    expect(bad([IPOPT.TS, 12, 5, 0x01, 0, 0, 0, 0, 0, 0, 0, 0]).ok).toBe(true);
    expect(bad([IPOPT.TS, 8, 9, 0xe0, 0, 0, 0, 0]).ok).toBe(true); // full, overflow 14 → 15 fine
    expect(bad([IPOPT.TS, 8, 9, 0xf0, 0, 0, 0, 0])).toEqual({ ok: false, reason: "badoptions", pointer: 22 }); // overflow wraps
  });

  it("decodes options", () => {
    const r = parseIpv4(withOptions([IPOPT.NOP, IPOPT.RR, 11, 8, 1, 2, 3, 4, 0, 0, 0, 0, 148, 4, 0, 0]));
    expect(r.ok && r.ip.options).toEqual([
      { kind: "nop" },
      { kind: "rr", pointer: 8, route: [0x01020304, 0] },
      { kind: "raw", type: 148, data: Uint8Array.from([0, 0]) },
    ]);
  });
});

describe("IPv4 builders", () => {
  it("pads options with EOL to 4 bytes and refuses more than 40", () => {
    expect(buildIpOptions([{ kind: "nop" }])).toEqual(Uint8Array.from([1, 0, 0, 0]));
    expect(buildIpOptions([{ kind: "rr", pointer: 4, route: [0] }])).toEqual(Uint8Array.from([7, 7, 4, 0, 0, 0, 0, 0]));
    expect(() => buildIpOptions([{ kind: "rr", pointer: 4, route: new Array(10).fill(0) }])).toThrow(IpBuildError);
    expect(() => buildIpv4({ src: 1, dst: 2, p: 6, ttl: 256 }, new Uint8Array(0))).toThrow(/ttl 256/);
    expect(() => buildIpv4({ src: 1, dst: 2, p: 6 }, new Uint8Array(65516))).toThrow(IpBuildError);
    expect(() => buildIpv4({ src: 1, dst: 2, p: 6, fragOffset: 12 }, new Uint8Array(0))).toThrow(/multiple of 8/);
  });
});

describe("ipFragment (ip_fragment)", () => {
  const big = (df = false) =>
    buildIpv4(
      { src: SRC, dst: DST, p: 17, id: 77, df, options: [{ kind: "rr", pointer: 4, route: [0, 0] }, { kind: "lsrr", pointer: 4, route: [0x01020304] }] },
      Uint8Array.from({ length: 1000 }, (_, i) => i & 0xff),
    );

  it("cuts 8-byte aligned pieces that reassemble to the datagram; later pieces keep only copied options", () => {
    const pkt = big();
    const frags = ipFragment(pkt, 300);
    expect(frags.length).toBeGreaterThan(3);
    const data = new Uint8Array(1000);
    let lastEnd = 0;
    frags.forEach((f, i) => {
      expect(f.length).toBeLessThanOrEqual(300);
      const r = parseIpv4(f);
      if (!r.ok) throw new Error(r.reason);
      const { ip } = r;
      expect(ip.id).toBe(77);
      expect(ip.fragOffset).toBe(lastEnd);
      expect(ip.mf).toBe(i < frags.length - 1);
      if (i < frags.length - 1) expect(r.payloadLength % 8).toBe(0);
      data.set(f.subarray(r.payloadOffset, r.payloadOffset + r.payloadLength), ip.fragOffset);
      lastEnd = ip.fragOffset + r.payloadLength;
      const kinds = ip.options.filter((o) => o.kind !== "nop").map((o) => o.kind);
      expect(kinds).toEqual(i === 0 ? ["rr", "lsrr"] : ["lsrr"]); // LSRR has the copied bit, RR not
    });
    expect(lastEnd).toBe(1000);
    expect(data).toEqual(pkt.subarray(pkt.length - 1000));
  });

  it("keeps a fragment's offset and MF when fragmenting it again", () => {
    const first = ipFragment(big(), 600);
    const again = ipFragment(first[0], 200);
    const last = parseIpv4(again[again.length - 1]);
    expect(last.ok && last.ip.mf).toBe(true);
    const second = ipFragment(first[1], 200);
    const p0 = parseIpv4(second[0]);
    const orig = parseIpv4(first[1]);
    expect(p0.ok && orig.ok && p0.ip.fragOffset === orig.ip.fragOffset).toBe(true);
  });

  it("returns a fitting datagram unchanged and refuses DF or a tiny MTU", () => {
    const small = buildIpv4({ src: SRC, dst: DST, p: 17 }, new Uint8Array(10));
    expect(ipFragment(small, 1500)).toEqual([small]);
    expect(() => ipFragment(big(true), 576)).toThrow(IpCantFragError);
    expect(() => ipFragment(big(), 40)).toThrow(/no room/);
  });

  it("ipOptCopy keeps copied options and NOPs", () => {
    const b = withOptions([IPOPT.NOP, IPOPT.RR, 7, 4, 0, 0, 0, 0, IPOPT.SSRR, 7, 4, 9, 9, 9, 9]);
    expect(ipOptCopy(b, 0, (b[0] & 0xf) << 2)).toEqual(Uint8Array.from([1, 137, 7, 4, 9, 9, 9, 9]));
    expect(IP_DF | IP_MF).toBe(0x6000);
  });
});

describe("addresses", () => {
  it("ipAddr/ipString round-trip and validate strictly", () => {
    fc.assert(fc.property(fc.nat(0xffffffff), (a) => {
      expect(ipAddr(ipString(a))).toBe(a);
    }));
    expect(ipAddr("10.0.0.1")).toBe(0x0a000001);
    expect(ipString(0xc0a80102)).toBe("192.168.1.2");
    for (const bad of ["", "1.2.3", "1.2.3.4.5", "256.0.0.1", "01.2.3.4", "1.2.3.-4", "a.b.c.d", " 1.2.3.4", "1.2.3.4 "]) {
      expect(parseIpAddr(bad)).toBeUndefined();
      expect(() => ipAddr(bad)).toThrow(IpAddrError);
    }
  });
});
