import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  IPPROTO,
  TCPOPT,
  TcpBuildError,
  TcpDropReason,
  TcpFlags,
  buildTcp,
  buildTcpOptions,
  inCksumPseudo,
  parseTcp,
  tcpFlagsString,
  tcpOptionsLength,
  type TcpOptions,
} from "@dfly/core";

const SRC = 0x0a000001;
const DST = 0x0a000002;

/** A segment with raw option bytes and a correct checksum. */
function withRawOptions(opt: number[], payload = 0): Uint8Array {
  while (opt.length & 3) opt.push(TCPOPT.EOL);
  return buildTcp({ sport: 1, dport: 2, options: Uint8Array.from(opt) }, new Uint8Array(payload), SRC, DST);
}

const u32 = fc.nat(0xffffffff);
const sackBlock = fc.record({ start: u32, end: u32 });
const options: fc.Arbitrary<TcpOptions> = fc
  .record(
    {
      mss: fc.nat(0xffff),
      wscale: fc.nat(255),
      sackPermitted: fc.constant(true),
      timestamp: fc.record({ val: u32, ecr: u32 }),
      sack: fc.array(sackBlock, { minLength: 1, maxLength: 4 }),
    },
    { requiredKeys: [] },
  )
  .filter((o) => tcpOptionsLength(o) <= 40);

describe("TCP options", () => {
  it("are laid out as DragonFly's tcp_output() writes them", () => {
    const o = buildTcpOptions({ mss: 1460, wscale: 7, sackPermitted: true, timestamp: { val: 0x01020304, ecr: 0 } });
    expect([...o]).toEqual([
      2, 4, 0x05, 0xb4, // MSS
      1, 3, 3, 7, // NOP, window scale
      1, 1, 4, 2, // NOP NOP SACK permitted
      1, 1, 8, 10, 1, 2, 3, 4, 0, 0, 0, 0, // NOP NOP timestamps
    ]);
    const s = buildTcpOptions({ timestamp: { val: 1, ecr: 2 }, sack: [{ start: 10, end: 20 }] });
    expect([...s]).toEqual([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 1, 5, 10, 0, 0, 0, 10, 0, 0, 0, 20]);
    expect(buildTcpOptions({ sack: [1, 2, 3, 4].map((k) => ({ start: k, end: k + 1 })) }).length).toBe(36);
  });

  it("refuses what does not fit in 40 bytes (4 SACK blocks with timestamps)", () => {
    const sack = [1, 2, 3, 4].map((k) => ({ start: k, end: k + 1 }));
    expect(() => buildTcpOptions({ timestamp: { val: 1, ecr: 1 }, sack })).toThrow(TcpBuildError);
    expect(() => buildTcp({ sport: 1, dport: 2, options: { timestamp: { val: 1, ecr: 1 }, sack } }, new Uint8Array(0), SRC, DST)).toThrow(/at most 40/);
    expect(() => buildTcpOptions({ mss: 70000 })).toThrow(/mss 70000/);
    expect(() => buildTcp({ sport: 1, dport: 2, options: Uint8Array.from([1, 1]) }, new Uint8Array(0), SRC, DST)).toThrow(/multiple of 4/);
  });
});

describe("parseTcp", () => {
  it("round-trips header fields, every option and the payload, with a checksum that verifies", () => {
    fc.assert(
      fc.property(
        fc.record({ sport: fc.nat(0xffff), dport: fc.nat(0xffff), seq: u32, ack: u32, flags: fc.nat(255), window: fc.nat(0xffff), urp: fc.nat(0xffff) }),
        options,
        fc.uint8Array({ maxLength: 300 }),
        u32,
        u32,
        (h, o, payload, src, dst) => {
          const seg = buildTcp({ ...h, options: o }, payload, src, dst);
          expect(inCksumPseudo(seg, 0, seg.length, src, dst, IPPROTO.TCP)).toBe(0);
          const r = parseTcp(seg, 0, seg.length, src, dst);
          if (!r.ok) throw new Error(r.reason);
          const { tcp } = r;
          expect(tcp).toMatchObject({ sport: h.sport, dport: h.dport, seq: h.seq, ack: h.ack, flags: h.flags, win: h.window, urp: h.urp });
          expect(tcp.off).toBe(20 + tcpOptionsLength(o));
          expect(tcp.options).toEqual(o);
          expect(seg.subarray(r.payloadOffset, r.payloadOffset + r.payloadLength)).toEqual(payload);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("returns tcp_input()'s tcpstat reasons in its order", () => {
    const seg = buildTcp({ sport: 1, dport: 2, flags: TcpFlags.SYN }, new Uint8Array(4), SRC, DST);
    expect(parseTcp(seg, 0, 19, SRC, DST)).toEqual({ ok: false, reason: TcpDropReason.rcvshort });
    expect(parseTcp(seg, 0, seg.length + 1, SRC, DST)).toEqual({ ok: false, reason: TcpDropReason.rcvshort }); // range past the buffer
    expect(parseTcp(seg, 0, seg.length, SRC, DST + 1)).toEqual({ ok: false, reason: TcpDropReason.rcvbadsum }); // pseudo-header counts
    const bad = (mut: (b: Uint8Array) => void) => {
      const b = seg.slice();
      mut(b);
      return parseTcp(b, 0, b.length, SRC, DST, { checksum: false });
    };
    expect(bad((b) => (b[12] = 4 << 4))).toEqual({ ok: false, reason: TcpDropReason.rcvbadoff }); // offset 16 < 20
    expect(bad((b) => (b[12] = 7 << 4))).toEqual({ ok: false, reason: TcpDropReason.rcvbadoff }); // 28 > 24 bytes
    expect(bad((b) => (b[12] = 6 << 4)).ok).toBe(true); // 24: the payload read as options (all EOL)
  });

  it("malformed options: badoptions when strict, tcp_dooptions() behaviour when not", () => {
    const cases: Array<[number[], TcpOptions]> = [
      [[TCPOPT.MAXSEG, 4, 5, 0xb4, 99, 0], { mss: 1460 }], // unknown kind 99, length 0
      [[TCPOPT.MAXSEG, 4, 5, 0xb4, 99, 9, 0, 0], { mss: 1460 }], // length overruns the header
      [[TCPOPT.MAXSEG, 4, 5, 0xb4, TCPOPT.NOP, TCPOPT.NOP, TCPOPT.NOP, TCPOPT.MAXSEG], { mss: 1460 }], // no length byte
      [[TCPOPT.MAXSEG, 3, 5, TCPOPT.WINDOW, 3, 7], { wscale: 7 }], // MSS of the wrong length: skipped
      [[TCPOPT.SACK, 6, 0, 0, 0, 1, TCPOPT.WINDOW, 3, 2], { wscale: 2 }], // SACK not 2 + 8n
      [[TCPOPT.TIMESTAMP, 6, 0, 0, 0, 1, TCPOPT.SACK_PERMITTED, 2], { sackPermitted: true }],
      [[TCPOPT.SACK_PERMITTED, 3, 0, TCPOPT.NOP], {}],
    ];
    for (const [opt, lenient] of cases) {
      const seg = withRawOptions(opt);
      expect(parseTcp(seg, 0, seg.length, SRC, DST)).toEqual({ ok: false, reason: TcpDropReason.badoptions });
      const r = parseTcp(seg, 0, seg.length, SRC, DST, { strictOptions: false });
      expect(r.ok && r.tcp.options).toEqual(lenient);
    }
    // unknown kinds with a sane length are skipped, not errors; EOL ends the list
    const ok = withRawOptions([30, 4, 0xaa, 0xbb, TCPOPT.WINDOW, 3, 14, TCPOPT.EOL, 0xff, 0xff, 0xff, 0xff]);
    const r = parseTcp(ok, 0, ok.length, SRC, DST);
    expect(r.ok && r.tcp.options).toEqual({ wscale: 14 });
  });

  it("names flags", () => {
    expect(tcpFlagsString(TcpFlags.SYN | TcpFlags.ACK)).toBe("SYN|ACK");
    expect(tcpFlagsString(0xff)).toBe("FIN|SYN|RST|PSH|ACK|URG|ECE|CWR");
    expect(tcpFlagsString(0)).toBe("-");
  });
});
