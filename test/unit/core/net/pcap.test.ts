import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  LINKTYPE,
  PCAP_MAGIC_NS,
  PCAP_MAGIC_US,
  PcapFormatError,
  PcapWriter,
  buildUdpPacket,
  parsePacket,
  rawIpOf,
  readPcap,
  writePcap,
} from "@dfly/core";

const fixture = (name: string) => fileURLToPath(new URL(`../../../fixtures/${name}`, import.meta.url));
const shared = (name: string) => fileURLToPath(new URL(`../../../../../shared/testdata/${name}`, import.meta.url));

const pkt = (n: number) => buildUdpPacket({ src: 0x0a000001, dst: 0x0a000002, sport: 1000 + n, dport: 53, payload: new Uint8Array(n) });

/** Little helper writing binary in either byte order. */
class Out {
  private parts: number[] = [];
  constructor(readonly le: boolean) {}
  u8(v: number) {
    this.parts.push(v & 0xff);
    return this;
  }
  u16(v: number) {
    return this.le ? this.u8(v).u8(v >>> 8) : this.u8(v >>> 8).u8(v);
  }
  u32(v: number) {
    return this.le ? this.u16(v & 0xffff).u16(v >>> 16) : this.u16(v >>> 16).u16(v & 0xffff);
  }
  bytes(b: Uint8Array | number[]) {
    for (const x of b) this.u8(x);
    return this;
  }
  pad4() {
    while (this.parts.length & 3) this.u8(0);
    return this;
  }
  get length() {
    return this.parts.length;
  }
  done() {
    return Uint8Array.from(this.parts);
  }
}

function classic(le: boolean, magic: number, linktype: number, recs: Array<{ sec: number; frac: number; data: Uint8Array; orig?: number }>) {
  const o = new Out(le).u32(magic).u16(2).u16(4).u32(0).u32(0).u32(65535).u32(linktype);
  for (const r of recs) o.u32(r.sec).u32(r.frac).u32(r.data.length).u32(r.orig ?? r.data.length).bytes(r.data);
  return o.done();
}

/** One pcapng block: type, body (already in the right byte order), padded, with both lengths. */
function block(le: boolean, type: number, body: Uint8Array): Uint8Array {
  const padded = (body.length + 3) & ~3;
  const len = 12 + padded;
  const o = new Out(le).u32(type).u32(len).bytes(body);
  while (o.length < 8 + padded) o.u8(0);
  return o.u32(len).done();
}
const shb = (le: boolean) => block(le, 0x0a0d0d0a, new Out(le).u32(0x1a2b3c4d).u16(1).u16(0).u32(0xffffffff).u32(0xffffffff).done());
function idb(le: boolean, linktype: number, opts: { tsresol?: number; tsoffset?: number; snaplen?: number } = {}) {
  const o = new Out(le).u16(linktype).u16(0).u32(opts.snaplen ?? 0);
  if (opts.tsresol !== undefined) o.u16(9).u16(1).u8(opts.tsresol).pad4();
  if (opts.tsoffset !== undefined) {
    o.u16(14).u16(8);
    if (le) o.u32(opts.tsoffset).u32(0);
    else o.u32(0).u32(opts.tsoffset);
  }
  o.u16(0).u16(0);
  return block(le, 1, o.done());
}
function epb(le: boolean, ifid: number, ts: bigint, data: Uint8Array, orig = data.length) {
  const o = new Out(le).u32(ifid).u32(Number(ts >> 32n)).u32(Number(ts & 0xffffffffn)).u32(data.length).u32(orig).bytes(data).pad4();
  return block(le, 6, o.done());
}
const spb = (le: boolean, data: Uint8Array) => block(le, 3, new Out(le).u32(data.length).bytes(data).pad4().done());
const concat = (...xs: Uint8Array[]) => Uint8Array.from(xs.flatMap((x) => [...x]));

describe("pcap writer", () => {
  it("writes a little-endian µs pcap with LINKTYPE_RAW that reads back", () => {
    const w = new PcapWriter();
    expect([...w.header()]).toEqual([0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 101, 0, 0, 0]);
    w.add(pkt(1), 1700000000.000001).add(pkt(2), 1700000001 - 1e-7).add(pkt(3));
    const r = readPcap(w.bytes());
    expect(r.error).toBeUndefined();
    expect(r.format).toBe("pcap");
    expect(r.records.map((x) => [x.tsNs, x.linktype, x.data.length, x.origLen])).toEqual([
      [1700000000000001000n, 101, pkt(1).length, pkt(1).length],
      [1700000001000000000n, 101, pkt(2).length, pkt(2).length], // rounds up into the next second
      [0n, 101, pkt(3).length, pkt(3).length],
    ]);
    expect(r.records[0].ts).toBeCloseTo(1700000000.000001, 6);
    expect(r.records[2].data).toEqual(pkt(3));
    // incremental: header + records concatenated equal bytes()
    const inc = concat(w.header(), w.record(pkt(1), 1700000000.000001));
    expect(inc).toEqual(new PcapWriter().add(pkt(1), 1700000000.000001).bytes());
  });

  it("cuts records at the snaplen, keeping the original length; writePcap spaces bare frames 1 µs apart", () => {
    const r = readPcap(writePcap([pkt(100), { data: pkt(5), ts: 3.5 }, pkt(0)], { snaplen: 64 }));
    expect(r.records.map((x) => [x.data.length, x.origLen, x.tsNs])).toEqual([
      [64, pkt(100).length, 0n],
      [pkt(5).length, pkt(5).length, 3_500_000_000n],
      [pkt(0).length, pkt(0).length, 2000n],
    ]);
    expect(() => new PcapWriter().record(pkt(1), -1)).toThrow(RangeError);
  });
});

describe("pcap reader", () => {
  it("reads both byte orders and both magics (µs, ns)", () => {
    const recs = [{ sec: 100, frac: 250, data: pkt(1) }, { sec: 101, frac: 999, data: pkt(2), orig: 999 }];
    for (const le of [true, false]) {
      const us = readPcap(classic(le, PCAP_MAGIC_US, LINKTYPE.EN10MB, recs));
      expect(us.error).toBeUndefined();
      expect(us.records.map((r) => [r.tsNs, r.linktype, r.origLen])).toEqual([[100_000_250_000n, 1, pkt(1).length], [101_000_999_000n, 1, 999]]);
      expect(us.records[1].data).toEqual(pkt(2));
      const ns = readPcap(classic(le, PCAP_MAGIC_NS, LINKTYPE.RAW, recs));
      expect(ns.records.map((r) => r.tsNs)).toEqual([100_000_000_250n, 101_000_000_999n]);
      expect(ns.records[0].ts).toBeCloseTo(100.00000025, 9);
    }
  });

  it("reports a cut-short or corrupt file with a typed error and keeps the records before it", () => {
    const file = writePcap([pkt(10), pkt(20), pkt(30)]);
    const cut = readPcap(file.subarray(0, file.length - 5));
    expect(cut.records.length).toBe(2);
    expect(cut.error).toBeInstanceOf(PcapFormatError);
    expect(cut.error).toMatchObject({ kind: "truncated", offset: 24 + 2 * 16 + pkt(10).length + pkt(20).length });
    expect(cut.error?.message).toMatch(/cut short \(at byte \d+\)/);
    const hdr = readPcap(file.subarray(0, file.length - pkt(30).length - 10));
    expect(hdr.error).toMatchObject({ kind: "truncated" });
    const huge = file.slice();
    new DataView(huge.buffer).setUint32(24 + 8, 0x7fffffff, true);
    expect(readPcap(huge)).toMatchObject({ records: [], error: { kind: "corrupt", offset: 24 } });
    expect(readPcap(new Uint8Array(0)).error).toMatchObject({ kind: "notpcap", offset: 0 });
    expect(readPcap(new TextEncoder().encode("GET / HTTP/1.1\r\n")).error?.message).toMatch(/not a pcap or pcapng file \(magic 0x20544547\)/);
    expect(readPcap(file.subarray(0, 20)).error).toMatchObject({ kind: "truncated" });
  });
});

describe("pcapng reader", () => {
  it("reads SHB/IDB/EPB/SPB in both byte orders with per-interface link type, tsresol and tsoffset", () => {
    for (const le of [true, false]) {
      const f = concat(
        shb(le),
        idb(le, LINKTYPE.RAW),
        idb(le, LINKTYPE.EN10MB, { tsresol: 9, tsoffset: 10 }),
        idb(le, LINKTYPE.RAW, { tsresol: 0x80 | 10 }), // 1/1024 s
        block(le, 4, new Out(le).u16(0).u16(0).done()), // name resolution block: skipped
        epb(le, 0, 1_700_000_000_123_456n, pkt(1)),
        epb(le, 1, 5_000_000_001n, pkt(2), 1000),
        epb(le, 2, 1024n * 3n + 512n, pkt(3)),
        spb(le, pkt(4)),
      );
      const r = readPcap(f);
      expect(r.error).toBeUndefined();
      expect(r.format).toBe("pcapng");
      expect(r.records.map((x) => [x.ifIndex, x.linktype, x.tsNs, x.origLen])).toEqual([
        [0, 101, 1_700_000_000_123_456_000n, pkt(1).length],
        [1, 1, 15_000_000_001n, 1000],
        [2, 101, 3_500_000_000n, pkt(3).length],
        [0, 101, 0n, pkt(4).length],
      ]);
      expect(r.records.map((x) => x.data)).toEqual([pkt(1), pkt(2), pkt(3), pkt(4)]);
    }
  });

  it("a new section (even in the other byte order) starts a new interface list", () => {
    const f = concat(shb(true), idb(true, LINKTYPE.EN10MB), epb(true, 0, 1n, pkt(1)), shb(false), idb(false, LINKTYPE.RAW), epb(false, 0, 2n, pkt(2)));
    const r = readPcap(f);
    expect(r.error).toBeUndefined();
    expect(r.records.map((x) => [x.linktype, x.tsNs])).toEqual([[1, 1000n], [101, 2000n]]);
    const stale = concat(shb(true), idb(true, 1), idb(true, 1), shb(true), idb(true, 1), epb(true, 1, 0n, pkt(1)));
    expect(readPcap(stale).error?.message).toMatch(/interface 1, but the section has 1/);
  });

  it("reports truncation and corruption with offsets", () => {
    const good = concat(shb(true), idb(true, 101), epb(true, 0, 1n, pkt(1)), epb(true, 0, 2n, pkt(2)));
    const cut = readPcap(good.subarray(0, good.length - 3));
    expect(cut.records.length).toBe(1);
    expect(cut.error).toMatchObject({ kind: "truncated" });
    const trailer = good.slice();
    trailer[good.length - 1] ^= 1;
    expect(readPcap(trailer).error?.message).toMatch(/trailer length/);
    const odd = good.slice();
    new DataView(odd.buffer).setUint32(shb(true).length + 4, 21, true);
    expect(readPcap(odd).error).toMatchObject({ kind: "corrupt", offset: shb(true).length + 4 });
    const bom = good.slice();
    bom[8] = 0;
    expect(readPcap(bom).error?.message).toMatch(/byte-order magic/);
    expect(readPcap(concat(shb(true), epb(true, 0, 0n, pkt(1)))).error?.message).toMatch(/interface 0, but the section has 0/);
    const cap = concat(shb(true), idb(true, 101), epb(true, 0, 0n, pkt(1)));
    new DataView(cap.buffer).setUint32(shb(true).length + idb(true, 101).length + 8 + 12, 5000, true);
    expect(readPcap(cap).error?.message).toMatch(/claims 5000 captured bytes/);
  });
});

describe("rawIpOf", () => {
  const ip = pkt(4);
  it("strips Ethernet (with one VLAN tag), SLL, SLL2, NULL, LOOP; passes raw through", () => {
    const eth = (type: number[]) => Uint8Array.from([...new Array(12).fill(0xaa), ...type, ...ip]);
    expect(rawIpOf(LINKTYPE.EN10MB, eth([0x08, 0x00]))).toEqual(ip);
    expect(rawIpOf(LINKTYPE.EN10MB, Uint8Array.from([...new Array(12).fill(1), 0x81, 0x00, 0x00, 0x05, 0x08, 0x00, ...ip]))).toEqual(ip);
    expect(rawIpOf(LINKTYPE.EN10MB, Uint8Array.from([...new Array(12).fill(1), 0x88, 0xa8, 0x00, 0x05, 0x08, 0x00, ...ip]))).toEqual(ip);
    expect(rawIpOf(LINKTYPE.EN10MB, eth([0x08, 0x06]))).toBeUndefined(); // ARP
    expect(rawIpOf(LINKTYPE.EN10MB, eth([0x86, 0xdd]))).toBeUndefined(); // IPv6
    expect(rawIpOf(LINKTYPE.EN10MB, new Uint8Array(13))).toBeUndefined();
    expect(rawIpOf(LINKTYPE.LINUX_SLL, Uint8Array.from([0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00, ...ip]))).toEqual(ip);
    expect(rawIpOf(LINKTYPE.LINUX_SLL2, Uint8Array.from([0x08, 0x00, ...new Array(18).fill(0), ...ip]))).toEqual(ip);
    expect(rawIpOf(LINKTYPE.NULL, Uint8Array.from([2, 0, 0, 0, ...ip]))).toEqual(ip);
    expect(rawIpOf(LINKTYPE.NULL, Uint8Array.from([0, 0, 0, 2, ...ip]))).toEqual(ip);
    expect(rawIpOf(LINKTYPE.NULL, Uint8Array.from([24, 0, 0, 0, ...ip]))).toBeUndefined(); // AF_INET6 on BSD
    expect(rawIpOf(LINKTYPE.LOOP, Uint8Array.from([0, 0, 0, 2, ...ip]))).toEqual(ip);
    expect(rawIpOf(LINKTYPE.RAW, ip)).toEqual(ip);
    expect(rawIpOf(LINKTYPE.RAW, Uint8Array.from([0x60, 0, 0, 0]))).toBeUndefined();
    expect(rawIpOf(LINKTYPE.RAW, new Uint8Array(0))).toBeUndefined();
    expect(rawIpOf(9999, ip)).toBeUndefined();
  });
});

/** TCP connections (unordered 4-tuples) and the packets of each, parsing every record. */
function connections(bytes: Uint8Array) {
  const r = readPcap(bytes);
  const conns = new Map<string, number>();
  let ipv4 = 0;
  for (const rec of r.records) {
    const ip = rawIpOf(rec.linktype, rec.data);
    if (!ip) continue;
    ipv4++;
    const p = parsePacket(ip, { checksum: false });
    if (!p.ok) throw new Error(`record rejected: ${p.layer} ${p.reason}`);
    if (p.l4.proto !== "tcp") continue;
    const a = `${p.ip.src}:${p.l4.tcp.sport}`;
    const b = `${p.ip.dst}:${p.l4.tcp.dport}`;
    const k = a < b ? `${a}-${b}` : `${b}-${a}`;
    conns.set(k, (conns.get(k) ?? 0) + 1);
  }
  return { r, ipv4, conns };
}

describe("real captures", () => {
  it("http_google.pcapng (Ethernet pcapng): 12 packets, one TCP connection", () => {
    const { r, ipv4, conns } = connections(readFileSync(fixture("http_google.pcapng")));
    expect(r.error).toBeUndefined();
    expect(r.format).toBe("pcapng");
    expect(r.records.length).toBe(12);
    expect(ipv4).toBe(12);
    expect([...conns.values()]).toEqual([12]);
    // this capture's checksums are all correct: the full parse accepts every packet
    for (const rec of r.records) expect(parsePacket(rawIpOf(rec.linktype, rec.data)!).ok).toBe(true);
  });

  it("resp_1_benchmark.pcap (Linux SLL pcap): 150 packets, 15 TCP connections", () => {
    const { r, ipv4, conns } = connections(readFileSync(fixture("resp_1_benchmark.pcap")));
    expect(r.error).toBeUndefined();
    expect(r.format).toBe("pcap");
    expect(r.records.every((x) => x.linktype === LINKTYPE.LINUX_SLL)).toBe(true);
    expect([r.records.length, ipv4, conns.size]).toEqual([150, 150, 15]);
    expect([...conns.values()].reduce((a, b) => a + b)).toBe(150);
  });

  // ../shared is outside the repository: its captures are read when it is there, the
  // fixtures always. Counts from ../shared/testdata/README.md.
  it("every capture in test/fixtures and ../shared/testdata (when present) reads completely", () => {
    const expected: Record<string, { packets: number; tcp: number }> = {
      "http_espn.pcapng": { packets: 956, tcp: 25 },
      "http_google.pcapng": { packets: 12, tcp: 1 },
      "resp_1_benchmark.pcap": { packets: 150, tcp: 15 },
    };
    const dir = shared("");
    const files = [
      ...["http_google.pcapng", "resp_1_benchmark.pcap"].map(fixture),
      ...(existsSync(dir) ? readdirSync(dir).filter((f) => /\.pcap(ng)?$/.test(f)).map((f) => join(dir, f)) : []),
    ];
    for (const file of files) {
      const { r, conns } = connections(readFileSync(file));
      expect(r.error, file).toBeUndefined();
      const want = expected[basename(file)];
      if (want) expect([r.records.length, conns.size], file).toEqual([want.packets, want.tcp]);
    }
  });
});
