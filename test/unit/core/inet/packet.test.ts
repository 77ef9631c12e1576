import { describe, expect, it } from "vitest";
import {
  ICMP,
  TcpFlags,
  buildIcmpEchoPacket,
  buildIcmpErrorPacket,
  buildIpPacket,
  buildTcpPacket,
  buildUdpPacket,
  inCksum,
  inCksumPseudo,
  ipAddr,
  ipFinalDst,
  ipFragment,
  parsePacket,
} from "@dfly/core";

const src = ipAddr("10.1.2.3");
const dst = ipAddr("10.4.5.6");

describe("whole packets", () => {
  it("buildTcpPacket: one call, both checksums right, every field where parsePacket finds it", () => {
    const p = buildTcpPacket({
      src, dst, sport: 12345, dport: 80, seq: 1000, ack: 2000, flags: TcpFlags.SYN | TcpFlags.ACK, window: 29200,
      options: { mss: 1460, wscale: 7, sackPermitted: true, timestamp: { val: 5, ecr: 6 } },
      payload: Uint8Array.from([1, 2, 3]), ttl: 63, id: 42, df: true,
      ipOptions: [{ kind: "nop" }, { kind: "nop" }, { kind: "nop" }, { kind: "nop" }],
    });
    const r = parsePacket(p);
    if (!r.ok) throw new Error(`${r.layer} ${r.reason}`);
    expect(r.ip).toMatchObject({ src, dst, ttl: 63, id: 42, df: true, hl: 24, len: p.length });
    if (r.l4.proto !== "tcp") throw new Error(r.l4.proto);
    expect(r.l4.tcp).toMatchObject({ sport: 12345, dport: 80, seq: 1000, ack: 2000, flags: 0x12, win: 29200, off: 44 });
    expect(r.l4.tcp.options).toEqual({ mss: 1460, wscale: 7, sackPermitted: true, timestamp: { val: 5, ecr: 6 } });
    expect([...p.subarray(r.l4.payloadOffset)]).toEqual([1, 2, 3]);
  });

  it("UDP, ICMP echo and errors, other protocols, fragments", () => {
    const u = parsePacket(buildUdpPacket({ src, dst, sport: 53, dport: 5353, payload: new Uint8Array(9) }));
    expect(u.ok && u.l4.proto === "udp" && u.l4.udp.dport).toBe(5353);
    const e = parsePacket(buildIcmpEchoPacket({ src, dst, echoId: 9, seq: 3, payload: new Uint8Array(4) }));
    expect(e.ok && e.l4.proto === "icmp" && e.l4.icmp.id).toBe(9);
    const orig = buildUdpPacket({ src: dst, dst: src, sport: 1, dport: 2, payload: new Uint8Array(30) });
    const x = buildIcmpErrorPacket({ src, dst, type: ICMP.TIMXCEED, code: 0, original: orig });
    const xr = parsePacket(x);
    expect(xr.ok && xr.l4.proto === "icmp" && xr.l4.icmp.quote?.dport).toBe(2);
    expect(inCksum(x, 20)).toBe(0);
    const gre = parsePacket(buildIpPacket({ src, dst, p: 47, payload: new Uint8Array(8) }));
    expect(gre.ok && gre.l4.proto).toBe("other");
    const frags = ipFragment(buildUdpPacket({ src, dst, sport: 1, dport: 2, payload: new Uint8Array(3000) }), 1500);
    expect(frags.map((f) => { const r = parsePacket(f); return r.ok && r.l4.proto; })).toEqual(["fragment", "fragment", "fragment"]);
  });

  it("a pending source route puts its final destination in the pseudo-header (RFC 1122), both ways", () => {
    const last = ipAddr("172.20.0.9");
    const ipOptions = [{ kind: "lsrr" as const, pointer: 4, route: [ipAddr("10.9.9.9"), last] }];
    const t = buildTcpPacket({ src, dst, sport: 1, dport: 2, ipOptions, payload: new Uint8Array(5) });
    const r = parsePacket(t);
    expect(r.ok && ipFinalDst(r.ip)).toBe(last);
    expect(inCksumPseudo(t, 32, t.length - 32, src, last, 6)).toBe(0);
    const used = [{ kind: "ssrr" as const, pointer: 12, route: [ipAddr("10.9.9.9"), last] }]; // route used up
    const u = buildUdpPacket({ src, dst, sport: 1, dport: 2, ipOptions: used });
    expect(inCksumPseudo(u, 32, 8, src, dst, 17)).toBe(0);
    expect(parsePacket(u).ok).toBe(true);
  });

  it("names the layer that rejected a frame", () => {
    const t = buildTcpPacket({ src, dst, sport: 1, dport: 2, payload: new Uint8Array(4) });
    const badTcp = t.slice();
    badTcp[t.length - 1] ^= 1;
    expect(parsePacket(badTcp)).toMatchObject({ ok: false, layer: "tcp", reason: "rcvbadsum" });
    expect(parsePacket(badTcp, { checksum: false }).ok).toBe(true);
    expect(parsePacket(t.subarray(0, 10))).toEqual({ ok: false, layer: "ip", reason: "toosmall" });
    const u = buildUdpPacket({ src, dst, sport: 1, dport: 2, payload: new Uint8Array(4) });
    u[u.length - 1] ^= 1;
    expect(parsePacket(u)).toMatchObject({ ok: false, layer: "udp", reason: "badsum" });
    const i = buildIcmpEchoPacket({ src, dst, echoId: 1, seq: 1 });
    i[i.length - 1] ^= 1;
    expect(parsePacket(i)).toMatchObject({ ok: false, layer: "icmp", reason: "checksum" });
  });
});
