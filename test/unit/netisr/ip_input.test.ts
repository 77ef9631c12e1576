import { describe, expect, it } from "vitest";
import { buildIcmpEchoPacket, buildIpPacket, buildTcpPacket, buildUdpPacket, inCksum, ipAddr, IPOPT } from "@dfly/core";
import { IpDrop, IP_OK, ipDoOptions, ipInputCheck, OptVerdict } from "@dfly/netisr/internal";

const src = ipAddr("198.18.0.10");
const dst = ipAddr("198.19.0.20");

function udp(payload = 18): Uint8Array {
  return buildUdpPacket({ src, dst, sport: 1000, dport: 2000, payload: new Uint8Array(payload) });
}
/** Rewrites the header checksum after a test edits the header. */
function fixSum(b: Uint8Array): Uint8Array {
  const hl = (b[0] & 15) << 2;
  b[10] = 0;
  b[11] = 0;
  const s = inCksum(b, 0, hl);
  b[10] = s >>> 8;
  b[11] = s & 0xff;
  return b;
}
const check = (b: Uint8Array, len = b.length) => ipInputCheck(b, 0, len);

describe("ipInputCheck (ip_lengthcheck + ip_input header checks)", () => {
  it("accepts well-formed UDP, TCP and ICMP datagrams", () => {
    expect(check(udp())).toBe(IP_OK);
    expect(check(buildTcpPacket({ src, dst, sport: 1, dport: 2, flags: 0x02 }))).toBe(IP_OK);
    expect(check(buildIcmpEchoPacket({ src, dst, echoId: 1, seq: 1 }))).toBe(IP_OK);
  });

  it("checks a frame that sits inside a larger buffer at an offset", () => {
    const p = udp();
    const big = new Uint8Array(p.length + 40);
    big.set(p, 17);
    expect(ipInputCheck(big, 17, p.length)).toBe(IP_OK);
    expect(ipInputCheck(big, 17, p.length - 1)).toBe(IpDrop.tooshort);
  });

  it("tooshort: fewer than 20 bytes, or fewer than ip_len", () => {
    expect(check(udp(), 19)).toBe(IpDrop.tooshort);
    const p = udp();
    expect(check(p, p.length - 1)).toBe(IpDrop.tooshort);
  });

  it("badhlen: IHL < 5, or header past the frame", () => {
    const p = fixSum(udp());
    p[0] = 0x44;
    expect(check(p)).toBe(IpDrop.badhlen);
    const q = udp();
    q[0] = 0x4f; // 60-byte header in a 46-byte frame
    expect(check(q)).toBe(IpDrop.badhlen);
  });

  it("badlen: ip_len below the header length (not TCP/UDP)", () => {
    const p = buildIpPacket({ src, dst, p: 47, payload: new Uint8Array(8) });
    p[2] = 0;
    p[3] = 19;
    expect(check(fixSum(p))).toBe(IpDrop.badlen);
  });

  it("tcpstat rcvshort / rcvbadoff and udpstat hdrops come before the IP checksum", () => {
    const t = buildTcpPacket({ src, dst, sport: 1, dport: 2 });
    t[3] = 30; // ip_len 30 < 20 + 20
    expect(check(t)).toBe(IpDrop.rcvshort);
    const t2 = buildTcpPacket({ src, dst, sport: 1, dport: 2 });
    t2[20 + 12] = 0x40; // data offset 16 bytes
    expect(check(t2)).toBe(IpDrop.rcvbadoff);
    const t3 = buildTcpPacket({ src, dst, sport: 1, dport: 2 });
    t3[20 + 12] = 0xf0; // 60-byte TCP header in 40 bytes
    expect(check(t3)).toBe(IpDrop.rcvbadoff);
    const u = udp(0);
    u[3] = 27; // ip_len 27 < 28
    expect(check(u)).toBe(IpDrop.hdrops);
  });

  it("badvers, badaddr (127/8 on the wire), badsum", () => {
    const v = udp();
    v[0] = 0x65;
    expect(check(fixSum(v))).toBe(IpDrop.badvers);
    const l = udp();
    l[12] = 127;
    expect(check(fixSum(l))).toBe(IpDrop.badaddr);
    const l2 = udp();
    l2[16] = 127;
    expect(check(fixSum(l2))).toBe(IpDrop.badaddr);
    const s = udp();
    s[11] ^= 1;
    expect(check(s)).toBe(IpDrop.badsum);
  });

  it("later fragments skip the TCP/UDP header check", () => {
    const f = buildIpPacket({ src, dst, p: 6, fragOffset: 8, payload: new Uint8Array(4) });
    expect(check(f)).toBe(IP_OK);
  });

  it("checks the checksum of headers with options", () => {
    const p = buildUdpPacket({ src, dst, sport: 1, dport: 2, ipOptions: [{ kind: "nop" }, { kind: "nop" }, { kind: "nop" }, { kind: "nop" }] });
    expect(check(p)).toBe(IP_OK);
    p[21] ^= 0xff; // an option byte: NOP -> 0xfe, checksum now wrong
    expect(check(p)).toBe(IpDrop.badsum);
  });
});

describe("ipDoOptions", () => {
  it("accepts NOP/RR and refuses a malformed option with the pointer to it", () => {
    const ok = buildUdpPacket({ src, dst, sport: 1, dport: 2, ipOptions: [{ kind: "rr", pointer: 4, route: [0] }] });
    expect(ipDoOptions(ok, 0).verdict).toBe(OptVerdict.ok);
    const bad = buildUdpPacket({ src, dst, sport: 1, dport: 2, ipOptions: new Uint8Array([IPOPT.RR, 7, 2, 0, 0, 0, 0, 0]) });
    const r = ipDoOptions(bad, 0);
    expect(r.verdict).toBe(OptVerdict.paramprob);
    expect(r.pointer).toBe(22); // the RR pointer byte, offset from the IP header
  });

  it("source routes are refused (net.inet.ip.sourceroute=0)", () => {
    const p = buildUdpPacket({ src, dst, sport: 1, dport: 2, ipOptions: [{ kind: "lsrr", pointer: 4, route: [ipAddr("192.0.2.1")] }] });
    expect(ipDoOptions(p, 0).verdict).toBe(OptVerdict.srcfail);
  });
});
