import { describe, expect, it } from "vitest";
import { buildIcmpEchoPacket, buildIcmpErrorPacket, buildIpPacket, buildUdpPacket, ICMP, ICMP_UNREACH, inCksum, ipAddr, parsePacket } from "@dfly/core";
import { Bandlim, type BandlimKind, icmpEchoReflect, icmpErrorAllowed, icmpErrorLength, icmpInputCheck, IcmpRateLimit, IpDrop, IP_OK, writeIcmpError } from "@dfly/netisr/internal";

const src = ipAddr("198.18.0.5");
const dst = ipAddr("10.1.2.3");
const udp = (payload = 100) => buildUdpPacket({ src, dst, sport: 4000, dport: 53, payload: new Uint8Array(payload).fill(7) });

function error(orig: Uint8Array, type: number, code: number, param = 0) {
  const out = new Uint8Array(icmpErrorLength(orig, 0) + 5);
  const n = writeIcmpError(out, 5, orig, 0, type, code, param, ipAddr("198.18.0.1"), 77);
  const pkt = out.slice(5, 5 + n);
  const r = parsePacket(pkt);
  if (!r.ok || r.l4.proto !== "icmp") throw new Error(`not a valid ICMP packet: ${JSON.stringify(r)}`);
  return { pkt, r, icmp: r.l4.icmp };
}

describe("icmp_error", () => {
  it("builds valid errors (IP and ICMP checksums) quoting the header + 8 bytes, from our address to the source", () => {
    const orig = udp();
    const { pkt, r, icmp } = error(orig, ICMP.UNREACH, ICMP_UNREACH.HOST);
    expect(inCksum(pkt, 0, 20)).toBe(0);
    expect(pkt.length).toBe(20 + 8 + 28);
    expect([r.ip.src, r.ip.dst, r.ip.ttl, r.ip.id]).toEqual([ipAddr("198.18.0.1"), src, 64, 77]);
    expect([icmp.type, icmp.code]).toEqual([3, 1]);
    expect(pkt.subarray(28)).toEqual(orig.subarray(0, 28));
  });

  it("needfrag carries the next-hop MTU; parameter problem carries the pointer", () => {
    expect(error(udp(), ICMP.UNREACH, ICMP_UNREACH.NEEDFRAG, 1280).icmp.nextMtu).toBe(1280);
    const pp = error(udp(), ICMP.PARAMPROB, 0, 22).icmp;
    expect([pp.type, pp.code, pp.pptr]).toEqual([12, 0, 22]);
  });

  it("a datagram shorter than header + 8 is quoted whole", () => {
    const tiny = buildIpPacket({ src, dst, p: 47, payload: new Uint8Array(3) });
    expect(icmpErrorLength(tiny, 0)).toBe(20 + 8 + 23);
  });

  it("is not sent about ICMP errors, later fragments, broadcasts or unanswerable sources", () => {
    expect(icmpErrorAllowed(udp(), 0, false)).toBe(true);
    const e = buildIcmpErrorPacket({ src, dst, type: ICMP.TIMXCEED, code: 0, original: udp() });
    expect(icmpErrorAllowed(e, 0, false)).toBe(false);
    expect(icmpErrorAllowed(buildIcmpEchoPacket({ src, dst, echoId: 1, seq: 1 }), 0, false)).toBe(true); // informational: ok
    expect(icmpErrorAllowed(buildIpPacket({ src, dst, p: 17, fragOffset: 64, payload: new Uint8Array(8) }), 0, false)).toBe(false);
    expect(icmpErrorAllowed(udp(), 0, true)).toBe(false);
    expect(icmpErrorAllowed(buildUdpPacket({ src, dst: ipAddr("224.0.0.9"), sport: 1, dport: 2 }), 0, false)).toBe(false);
    expect(icmpErrorAllowed(buildUdpPacket({ src: 0, dst, sport: 1, dport: 2 }), 0, false)).toBe(false);
  });
});

describe("icmp_input / icmp_reflect", () => {
  it("checks length and checksum", () => {
    const echo = buildIcmpEchoPacket({ src, dst, echoId: 3, seq: 9, payload: new Uint8Array([1, 2, 3]) });
    expect(icmpInputCheck(echo, 0, 20, echo.length)).toBe(IP_OK);
    echo[24] ^= 1;
    expect(icmpInputCheck(echo, 0, 20, echo.length)).toBe(IpDrop.checksum);
    expect(icmpInputCheck(echo, 0, 20, 27)).toBe(IpDrop.tooshort);
  });

  it("turns an echo request into a valid echo reply in place", () => {
    const echo = buildIcmpEchoPacket({ src, dst, echoId: 3, seq: 9, ttl: 3, payload: new Uint8Array([1, 2, 3]) });
    icmpEchoReflect(echo, 0, 20, dst);
    const r = parsePacket(echo);
    if (!r.ok || r.l4.proto !== "icmp") throw new Error("bad reply");
    expect([r.ip.src, r.ip.dst, r.ip.ttl]).toEqual([dst, src, 64]);
    expect([r.l4.icmp.type, r.l4.icmp.id, r.l4.icmp.seq]).toEqual([0, 3, 9]);
  });
});

describe("badport_bandlim (icmplim)", () => {
  it("allows `limit` per category per second, then resets", () => {
    const l = new IcmpRateLimit(3);
    const at = (t: number, k: BandlimKind = Bandlim.error) => l.allow(k, t);
    expect([at(0), at(10), at(20), at(30)]).toEqual([true, true, true, false]);
    expect(at(30, Bandlim.echo)).toBe(true); // separate category
    expect(at(1001)).toBe(true);
    expect(new IcmpRateLimit(0).allow(Bandlim.error, 0)).toBe(true); // 0 = unlimited
  });
});
