/**
 * The per-segment fast path (tcp_frame.ts) against the general codecs: the fast decoder
 * accepts only frames the full parser accepts, and gives the same TcpSeg for them; it
 * declines (null) everything else, so the full parser counts the reason. The frame writer
 * produces the same bytes as buildTcpPacket with the same IP fields.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  TcpBuildError,
  TcpFlags,
  buildTcpPacket,
  inCksum,
  tcpFrameLength,
  tcpFrameWrite,
  tcpSegFromFrame,
  tcpSegDecode,
  tcpSegFromFrameFast,
  TcpRxSegPool,
  type TcpOptions,
  type TcpRxSeg,
  type TcpSeg,
} from "@dfly/core";
import { FuzzRng, mutateFrame, randomFrame, seedFrames } from "../../../support/fuzz.js";

/** The full parser's verdict (options given, so tcpSegFromFrame skips its own fast path). */
function slow(frame: Uint8Array): TcpSeg | null {
  const d = tcpSegFromFrame(frame, undefined, {});
  return d.ok ? d.seg : null;
}

function sameSeg(a: TcpSeg, b: TcpSeg): void {
  expect({ ...a, payload: [...a.payload] }).toEqual({ ...b, payload: [...b.payload] });
}

const segArb = fc.record({
  src: fc.integer({ min: 0, max: 0xffffffff }),
  dst: fc.integer({ min: 0, max: 0xffffffff }),
  sport: fc.integer({ min: 0, max: 0xffff }),
  dport: fc.integer({ min: 0, max: 0xffff }),
  seq: fc.integer({ min: 0, max: 0xffffffff }),
  ack: fc.integer({ min: 0, max: 0xffffffff }),
  flags: fc.integer({ min: 0, max: 0xff }),
  window: fc.integer({ min: 0, max: 0xffff }),
  tos: fc.integer({ min: 0, max: 0xff }),
  payload: fc.uint8Array({ maxLength: 300 }),
  options: fc.option(
    fc.record(
      {
        mss: fc.integer({ min: 0, max: 0xffff }),
        wscale: fc.integer({ min: 0, max: 14 }),
        sackPermitted: fc.constant(true),
        timestamp: fc.record({ val: fc.integer({ min: 0, max: 0xffffffff }), ecr: fc.integer({ min: 0, max: 0xffffffff }) }),
        sack: fc.array(fc.record({ start: fc.integer({ min: 0, max: 0xffffffff }), end: fc.integer({ min: 0, max: 0xffffffff }) }), { minLength: 1, maxLength: 3 }),
      },
      { requiredKeys: [] },
    ),
    { nil: undefined },
  ),
});

type SegRecord = typeof segArb extends fc.Arbitrary<infer T> ? T : never;

function toSeg(r: SegRecord): TcpSeg {
  const seg: TcpSeg = { src: r.src, dst: r.dst, sport: r.sport, dport: r.dport, seq: r.seq, ack: r.ack, flags: r.flags, window: r.window, payload: r.payload, tos: r.tos };
  if (r.options && Object.keys(r.options).length > 0) seg.options = r.options as TcpOptions;
  return seg;
}

/** A pooled segment as a plain TcpSeg (its own options store left out). */
function plain(r: TcpRxSeg): TcpSeg {
  const seg: TcpSeg = { src: r.src, dst: r.dst, sport: r.sport, dport: r.dport, seq: r.seq, ack: r.ack, flags: r.flags, window: r.window, payload: r.payload, tos: r.tos };
  if (r.options) seg.options = { ...r.options, ...(r.options.timestamp ? { timestamp: { ...r.options.timestamp } } : {}) };
  return seg;
}

/** Segments as the engines send them after the handshake: timestamps only, or nothing. */
const steadyArb = fc.record({
  seg: segArb,
  ts: fc.option(fc.record({ val: fc.integer({ min: 0, max: 0xffffffff }), ecr: fc.integer({ min: 0, max: 0xffffffff }) }), { nil: undefined }),
});

describe("tcp_frame", () => {
  it("writes the bytes buildTcpPacket builds, and decodes them back to the segment", () => {
    fc.assert(
      fc.property(segArb, fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 7 }), (r, id, at) => {
        const seg = toSeg(r);
        let want: Uint8Array;
        try {
          want = buildTcpPacket({ ...seg, ttl: 64, id, df: true });
        } catch (e) {
          // Options over 40 bytes: both writers refuse them the same way.
          expect(e).toBeInstanceOf(TcpBuildError);
          expect(() => tcpFrameWrite(new Uint8Array(2000), 0, seg, id)).toThrow(TcpBuildError);
          return;
        }
        const buf = new Uint8Array(at + tcpFrameLength(seg) + 3).fill(0xa5);
        const n = tcpFrameWrite(buf, at, seg, id);
        expect(n).toBe(want.length);
        expect([...buf.subarray(at, at + n)]).toEqual([...want]);
        // Decoded in place in the larger buffer (as a frame batch is), and as a frame of its own.
        const got = tcpSegFromFrameFast(buf, at, n);
        expect(tcpSegFromFrameFast(buf.subarray(at, at + n))).toEqual(got);
        expect(got).not.toBeNull();
        sameSeg(got!, seg);
      }),
      { numRuns: 400 },
    );
  });

  it("accepts exactly the frames the full parser accepts, with the same segment (seeded and mutated frames)", () => {
    const rng = new FuzzRng(7);
    const seeds = seedFrames(rng);
    let accepted = 0;
    let declined = 0;
    for (let i = 0; i < 20_000; i++) {
      const f = i % 4 === 0 ? randomFrame(rng) : i % 4 === 1 ? rng.pick(seeds) : mutateFrame(rng.pick(seeds), rng);
      const fast = tcpSegFromFrameFast(f);
      const full = slow(f);
      if (fast === null) {
        declined++;
        // The default decoder falls back to the full parser: same verdict as the full parser.
        const d = tcpSegFromFrame(f);
        expect(d.ok).toBe(full !== null);
        continue;
      }
      accepted++;
      expect(full).not.toBeNull();
      sameSeg(fast, full!);
    }
    // Both sides of the comparison were exercised.
    expect(accepted).toBeGreaterThan(1000);
    expect(declined).toBeGreaterThan(1000);
  });

  it("declines IP options, fragments, a bad checksum and non-TCP frames (the full parser decides)", () => {
    const base = { src: 0xc6120001, dst: 0xc612000a, sport: 80, dport: 4000, seq: 1, ack: 2, flags: TcpFlags.ACK, window: 100, payload: new Uint8Array([1, 2, 3]) };
    const plain = buildTcpPacket(base);
    expect(tcpSegFromFrameFast(plain)).not.toBeNull();
    const withOpt = buildTcpPacket({ ...base, ipOptions: new Uint8Array([1, 1, 1, 0]) });
    expect(withOpt[0]).toBe(0x46);
    expect(tcpSegFromFrameFast(withOpt)).toBeNull();
    expect(slow(withOpt)).not.toBeNull();
    const frag = plain.slice();
    frag[6] |= 0x20; // MF
    frag[10] = frag[11] = 0;
    const s = inCksum(frag, 0, 20);
    frag[10] = s >>> 8;
    frag[11] = s & 0xff;
    expect(tcpSegFromFrameFast(frag)).toBeNull();
    const bad = plain.slice();
    bad[bad.length - 1] ^= 1;
    expect(tcpSegFromFrameFast(bad)).toBeNull();
    expect(tcpSegFromFrame(bad).ok).toBe(false);
    const badIp = plain.slice();
    badIp[8] ^= 1;
    expect(inCksum(badIp, 0, 20)).not.toBe(0);
    expect(tcpSegFromFrameFast(badIp)).toBeNull();
  });

  it("a pooled segment decoded again carries nothing of the frame before it (options, payload)", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(segArb.map((r) => toSeg(r)), steadyArb.map(({ seg, ts }) => ({ ...toSeg(seg), options: ts ? { timestamp: ts } : undefined }))), { minLength: 2, maxLength: 12 }), (segs) => {
        const pool = new TcpRxSegPool();
        for (const seg of segs) {
          if (seg.options === undefined) delete seg.options;
          let frame: Uint8Array;
          try {
            frame = new Uint8Array(tcpFrameLength(seg));
            tcpFrameWrite(frame, 0, seg, 1);
          } catch {
            continue; // options over 40 bytes
          }
          const rx = pool.get();
          const got = tcpSegDecode(frame, 0, frame.length, rx);
          expect(got).toBe(rx);
          sameSeg(plain(rx), seg);
          sameSeg(plain(rx), tcpSegFromFrameFast(frame)!);
          pool.put(rx);
        }
        // One segment served them all.
        expect(pool.made).toBeLessThanOrEqual(1);
      }),
      { numRuns: 300 },
    );
  });

  it("a pooled segment agrees with the fresh decode on seeded and mutated frames", () => {
    const rng = new FuzzRng(11);
    const seeds = seedFrames(rng);
    const pool = new TcpRxSegPool();
    for (let i = 0; i < 5000; i++) {
      const f = i % 3 === 0 ? rng.pick(seeds) : mutateFrame(rng.pick(seeds), rng);
      const rx = pool.get();
      const got = tcpSegDecode(f, 0, f.length, rx);
      const fresh = tcpSegFromFrameFast(f);
      expect(got === null).toBe(fresh === null);
      if (got && fresh) sameSeg(plain(got), fresh);
      pool.put(rx);
    }
  });
});
