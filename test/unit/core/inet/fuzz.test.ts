/**
 * A million random and mutated frames through every parser: none may throw, and
 * every reject must carry one of its layer's known reasons. The reasons reached are
 * counted so the test also shows the mutations get past the checksums to the deeper
 * checks (every reason of every layer is hit).
 */
import { describe, expect, it } from "vitest";
import {
  IcmpDropReason,
  IpDropReason,
  LINKTYPE,
  PcapFormatError,
  TcpDropReason,
  UdpDropReason,
  parseIcmp,
  parseIpv4,
  parsePacket,
  parseTcp,
  parseUdp,
  rawIpOf,
  readPcap,
  writePcap,
} from "@dfly/core";
import { FuzzRng, MUTATIONS, mutateFrame, mutateOnce, randomFrame, seedFrames } from "../../../support/fuzz.js";

const FRAMES = 1_000_000;

const known: Record<string, Set<string>> = {
  ip: new Set(Object.values(IpDropReason)),
  tcp: new Set(Object.values(TcpDropReason)),
  udp: new Set(Object.values(UdpDropReason)),
  icmp: new Set(Object.values(IcmpDropReason)),
};

describe("parser fuzz", () => {
  it(`${FRAMES.toLocaleString("en")} random and mutated frames: no exception, every reject has a known reason`, () => {
    const rng = new FuzzRng(0xdf17);
    const seeds = seedFrames(rng);
    const hits = new Map<string, number>();
    const unknown: string[] = [];
    let accepted = 0;
    const linktypes = Object.values(LINKTYPE);
    for (let n = 0; n < FRAMES; n++) {
      const f = n % 10 === 0 ? randomFrame(rng, 80) : mutateFrame(rng.pick(seeds), rng);
      const r = parsePacket(f, n & 1 ? undefined : { checksum: (n & 2) === 0, strictTcpOptions: (n & 4) === 0 });
      if (r.ok) accepted++;
      else {
        const k = `${r.layer}.${r.reason}`;
        hits.set(k, (hits.get(k) ?? 0) + 1);
        if (!known[r.layer]?.has(r.reason)) unknown.push(k);
      }
      // The L4 parsers and link stripping straight on the raw bytes, at odd offsets too.
      if ((n & 7) === 0) {
        const off = rng.int(Math.min(f.length, 24) + 1);
        const len = f.length - off;
        const t = parseTcp(f, off, len, 1, 2, { checksum: false, strictOptions: (n & 8) === 0 });
        if (!t.ok && !known.tcp.has(t.reason)) unknown.push(`tcp.${t.reason}`);
        const u = parseUdp(f, off, len, 1, 2);
        if (!u.ok && !known.udp.has(u.reason)) unknown.push(`udp.${u.reason}`);
        const c = parseIcmp(f, off, len, { checksum: false });
        if (!c.ok && !known.icmp.has(c.reason)) unknown.push(`icmp.${c.reason}`);
        const i = parseIpv4(f, off);
        if (!i.ok && !known.ip.has(i.reason)) unknown.push(`ip.${i.reason}`);
        const ip = rawIpOf(rng.pick(linktypes), f);
        if (ip && ip[0] >>> 4 !== 4) unknown.push("rawIpOf returned a non-IPv4 packet");
      }
    }
    expect(unknown.slice(0, 5)).toEqual([]);
    // Every reason of every layer was reached, and plenty of frames still got through.
    const missing = Object.entries(known).flatMap(([layer, rs]) => [...rs].map((r) => `${layer}.${r}`)).filter((k) => !hits.has(k));
    expect(missing).toEqual([]);
    expect(accepted).toBeGreaterThan(FRAMES / 20);
  });

  it("every mutation kind applies to every seed without throwing", () => {
    const rng = new FuzzRng(7);
    for (const seed of seedFrames(rng)) {
      for (const kind of MUTATIONS) {
        for (let k = 0; k < 20; k++) {
          const m = mutateOnce(seed, rng, kind);
          expect(m).not.toBe(seed);
          parsePacket(m);
        }
      }
    }
  });

  it("mutated capture files: readPcap never throws and reports a typed error with an offset", () => {
    const rng = new FuzzRng(99);
    const file = writePcap(seedFrames(rng));
    let errors = 0;
    const wrong: string[] = [];
    for (let n = 0; n < 20_000; n++) {
      const f = file.slice();
      const k = rng.int(4);
      let g = f;
      if (k === 0) g = f.subarray(0, rng.int(f.length));
      else for (let j = 0; j < 1 + k * 2; j++) f[rng.int(f.length)] = rng.next() & 0xff;
      const r = readPcap(g);
      if (r.error) {
        errors++;
        if (!(r.error instanceof PcapFormatError) || !(r.error.offset >= 0 && r.error.offset <= g.length)) wrong.push(String(r.error));
      }
      for (const rec of r.records) if (rec.data.length > g.length) wrong.push(`record of ${rec.data.length} bytes from a ${g.length}-byte file`);
    }
    expect(wrong.slice(0, 5)).toEqual([]);
    expect(errors).toBeGreaterThan(1000);
  });
});
