import { describe, expect, it } from "vitest";
import {
  ICMP,
  ICMP_UNREACH,
  IcmpBuildError,
  IcmpDropReason,
  TcpFlags,
  buildIcmp,
  buildIcmpEcho,
  buildIcmpError,
  buildTcpPacket,
  buildUdpPacket,
  inCksum,
  ipAddr,
  parseIcmp,
} from "@dfly/core";

const original = buildTcpPacket({
  src: ipAddr("10.0.0.1"), dst: ipAddr("10.0.0.2"), sport: 40000, dport: 443, seq: 1, flags: TcpFlags.SYN,
  options: { mss: 1460 }, payload: new Uint8Array(100),
});

describe("ICMP", () => {
  it("echo request and reply round-trip with a checksum that verifies", () => {
    const data = Uint8Array.from({ length: 56 }, (_, i) => i);
    for (const reply of [false, true]) {
      const m = buildIcmpEcho(0xbeef, 7, data, reply);
      expect(inCksum(m)).toBe(0);
      const r = parseIcmp(m, 0, m.length);
      if (!r.ok) throw new Error(r.reason);
      expect(r.icmp).toMatchObject({ type: reply ? ICMP.ECHOREPLY : ICMP.ECHO, code: 0, id: 0xbeef, seq: 7, payloadLength: 56 });
      expect(r.icmp.quote).toBeUndefined();
    }
  });

  it("errors quote the offending IP header and its first 8 data bytes", () => {
    const m = buildIcmpError(ICMP.UNREACH, ICMP_UNREACH.NEEDFRAG, original, 1400);
    expect(m.length).toBe(8 + 20 + 8);
    expect(m.subarray(8)).toEqual(original.subarray(0, 28));
    const r = parseIcmp(m, 0, m.length);
    if (!r.ok) throw new Error(r.reason);
    expect(r.icmp).toMatchObject({ type: 3, code: 4, nextMtu: 1400 });
    expect(r.icmp.quote).toMatchObject({ src: ipAddr("10.0.0.1"), dst: ipAddr("10.0.0.2"), p: 6, hl: 20, sport: 40000, dport: 443, offset: 8 });

    const udp = buildUdpPacket({ src: 1, dst: 2, sport: 5, dport: 6, payload: new Uint8Array(0), ipOptions: [{ kind: "nop" }] });
    const t = buildIcmpError(ICMP.TIMXCEED, 0, udp);
    expect(t.subarray(8)).toEqual(udp); // 24-byte header + all 8 bytes of a bare UDP header
    const pp = parseIcmp(buildIcmpError(ICMP.PARAMPROB, 0, original, 0x14000000), 0, 36);
    expect(pp.ok && pp.icmp.pptr).toBe(20);
    expect(() => buildIcmpError(ICMP.ECHO, 0, original)).toThrow(IcmpBuildError);
  });

  it("returns icmpstat reasons: tooshort, checksum, badcode, badlen", () => {
    const echo = buildIcmpEcho(1, 1, new Uint8Array(0));
    expect(parseIcmp(echo, 0, 7)).toEqual({ ok: false, reason: IcmpDropReason.tooshort });
    const flipped = echo.slice();
    flipped[5] ^= 0x40;
    expect(parseIcmp(flipped, 0, 8)).toEqual({ ok: false, reason: IcmpDropReason.checksum });
    const q = original.subarray(0, 28);
    const code = (type: number, c: number) => {
      const m = buildIcmp(type, c, 0, q);
      return parseIcmp(m, 0, m.length);
    };
    expect(code(ICMP.UNREACH, 15).ok).toBe(true);
    expect(code(ICMP.UNREACH, 16)).toEqual({ ok: false, reason: IcmpDropReason.badcode });
    expect(code(ICMP.TIMXCEED, 1).ok).toBe(true);
    expect(code(ICMP.TIMXCEED, 2)).toEqual({ ok: false, reason: IcmpDropReason.badcode });
    expect(code(ICMP.PARAMPROB, 2)).toEqual({ ok: false, reason: IcmpDropReason.badcode });
    expect(code(ICMP.SOURCEQUENCH, 1)).toEqual({ ok: false, reason: IcmpDropReason.badcode });
    expect(code(ICMP.REDIRECT, 4)).toEqual({ ok: false, reason: IcmpDropReason.badcode });
    expect(code(19, 99).ok).toBe(true); // above ICMP_MAXTYPE: handed to raw sockets, not dropped
    const short = buildIcmp(ICMP.UNREACH, 3, 0, q.subarray(0, 27));
    expect(parseIcmp(short, 0, short.length)).toEqual({ ok: false, reason: IcmpDropReason.badlen });
    const ihl4 = q.slice();
    ihl4[0] = 0x44;
    const m = buildIcmp(ICMP.UNREACH, 3, 0, ihl4);
    expect(parseIcmp(m, 0, m.length)).toEqual({ ok: false, reason: IcmpDropReason.badlen });
    const opts = q.slice();
    opts[0] = 0x46; // quoted header claims 24 bytes: needs 8 + 24 + 8 = 40
    const m2 = buildIcmp(ICMP.UNREACH, 3, 0, opts);
    expect(parseIcmp(m2, 0, m2.length)).toEqual({ ok: false, reason: IcmpDropReason.badlen });
  });
});
