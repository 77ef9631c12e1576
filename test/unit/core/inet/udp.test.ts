import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { IPPROTO, UdpBuildError, UdpDropReason, buildUdp, inCksumPseudo, parseUdp } from "@dfly/core";

const SRC = 0xc0a80001;
const DST = 0xc0a80002;

describe("UDP", () => {
  it("round-trips with a checksum that verifies", () => {
    fc.assert(
      fc.property(fc.nat(0xffff), fc.nat(0xffff), fc.uint8Array({ maxLength: 1500 }), fc.nat(0xffffffff), fc.nat(0xffffffff), (sport, dport, payload, src, dst) => {
        const d = buildUdp({ sport, dport }, payload, src, dst);
        expect(inCksumPseudo(d, 0, d.length, src, dst, IPPROTO.UDP)).toBe(0);
        const r = parseUdp(d, 0, d.length, src, dst);
        if (!r.ok) throw new Error(r.reason);
        expect(r.udp).toMatchObject({ sport, dport, ulen: payload.length + 8, nosum: false });
        expect(r.udp.sum).not.toBe(0);
        expect(d.subarray(r.payloadOffset, r.payloadOffset + r.payloadLength)).toEqual(payload);
      }),
    );
  });

  it("sends a computed checksum of 0 as 0xffff, which verifies", () => {
    // Choose the last payload word so the checksum comes out 0.
    const payload = new Uint8Array([1, 2, 3, 4, 0, 0]);
    const first = buildUdp({ sport: 1000, dport: 2000 }, payload, SRC, DST);
    const c = (first[6] << 8) | first[7];
    payload[4] = c >>> 8;
    payload[5] = c;
    const d = buildUdp({ sport: 1000, dport: 2000 }, payload, SRC, DST);
    expect((d[6] << 8) | d[7]).toBe(0xffff);
    const r = parseUdp(d, 0, d.length, SRC, DST);
    expect(r.ok && r.udp.nosum).toBe(false);
  });

  it("a zero checksum means none was sent: accepted, flagged nosum", () => {
    const d = buildUdp({ sport: 1, dport: 2, checksum: false }, Uint8Array.from([9, 9, 9]), SRC, DST);
    expect(d[6] | d[7]).toBe(0);
    const r = parseUdp(d, 0, d.length, SRC, DST + 1); // even with the "wrong" pseudo-header
    expect(r.ok && r.udp.nosum).toBe(true);
  });

  it("returns udpstat reasons; a short uh_ulen trims the data", () => {
    const d = buildUdp({ sport: 1, dport: 2 }, new Uint8Array(10), SRC, DST);
    expect(parseUdp(d, 0, 7, SRC, DST)).toEqual({ ok: false, reason: UdpDropReason.hdrops });
    const long = d.slice();
    long[5] = 19; // ulen 19 > 18 bytes
    expect(parseUdp(long, 0, long.length, SRC, DST)).toEqual({ ok: false, reason: UdpDropReason.badlen });
    long[5] = 7;
    expect(parseUdp(long, 0, long.length, SRC, DST)).toEqual({ ok: false, reason: UdpDropReason.badlen });
    expect(parseUdp(d, 0, d.length, SRC + 1, DST)).toEqual({ ok: false, reason: UdpDropReason.badsum });
    // Ethernet-style trailer after the datagram: ulen wins, the checksum covers ulen bytes
    const padded = Uint8Array.from([...d, 0xee, 0xee]);
    const r = parseUdp(padded, 0, padded.length, SRC, DST);
    expect(r.ok && r.payloadLength).toBe(10);
  });

  it("builders refuse bad ports and oversize datagrams", () => {
    expect(() => buildUdp({ sport: 65536, dport: 1 }, new Uint8Array(0), SRC, DST)).toThrow(UdpBuildError);
    expect(() => buildUdp({ sport: 1, dport: 1 }, new Uint8Array(65530), SRC, DST)).toThrow(/exceeds 65535/);
  });
});
