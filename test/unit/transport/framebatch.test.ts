import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  BATCH_HEADER_BYTES,
  FRAME_HEADER_BYTES,
  FrameBatchCursor,
  FrameBatchDrop,
  FrameBatchWriter,
  MAX_BATCH_BYTES,
  MAX_BATCH_FRAMES,
  compactFrameBatch,
  decodeFrameBatch,
  encodeFrameBatch,
  forEachFrame,
  validateFrameBatch,
} from "@dfly/transport";

const frame = (n: number, fill: number) => new Uint8Array(n).fill(fill);

describe("frame batch", () => {
  it("round-trips frames with hash and tag", () => {
    const frames = [
      { data: frame(20, 1), hash: 0xdeadbeef, tag: 3 },
      { data: frame(0, 0), hash: 0, tag: 0 },
      { data: frame(1500, 7), hash: 0x1234, tag: 65535 },
    ];
    const b = encodeFrameBatch(frames);
    expect(b.length).toBe(BATCH_HEADER_BYTES + 3 * FRAME_HEADER_BYTES + 1520);
    expect(validateFrameBatch(b)).toBeNull();
    expect(decodeFrameBatch(b)).toEqual(frames);
  });

  it("property: any frames round-trip; the cursor sees the same as forEachFrame", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ data: fc.uint8Array({ maxLength: 300 }), hash: fc.nat({ max: 0xffffffff }), tag: fc.nat({ max: 0xffff }) }), { maxLength: 40 }),
        (frames) => {
          const b = encodeFrameBatch(frames);
          expect(decodeFrameBatch(b)).toEqual(frames);
          const c = new FrameBatchCursor();
          expect(c.reset(b)).toBeNull();
          let i = 0;
          while (c.next()) {
            expect(c.hash).toBe(frames[i].hash);
            expect(c.tag).toBe(frames[i].tag);
            expect(c.buf.subarray(c.offset, c.offset + c.length)).toEqual(frames[i].data);
            i++;
          }
          expect(i).toBe(frames.length);
        },
      ),
    );
  });

  it("frames are modified in place and the same bytes pass on", () => {
    const b = encodeFrameBatch([{ data: frame(20, 64), hash: 1 }, { data: frame(20, 9), hash: 2 }]);
    forEachFrame(b, (buf, off) => {
      buf[off + 8]--; // "TTL"
    });
    const out = decodeFrameBatch(b);
    if (typeof out === "string") throw new Error(out);
    expect(out[0].data[8]).toBe(63);
    expect(out[1].data[8]).toBe(8);
    const c = new FrameBatchCursor();
    c.reset(b);
    c.next();
    c.setMeta(0xffffffff, 42);
    expect(decodeFrameBatch(b)).toMatchObject([{ hash: 0xffffffff, tag: 42 }, { hash: 2, tag: 0 }]);
  });

  it("writer: reserve builds in place, refuses what does not fit, take() hands the buffer over", () => {
    const w = new FrameBatchWriter(BATCH_HEADER_BYTES + 2 * (FRAME_HEADER_BYTES + 10));
    const at = w.reserve(10, 5, 1);
    w.buffer.fill(0xaa, at, at + 10);
    expect(w.append(frame(10, 1), 6)).toBe(true);
    expect(w.room).toBe(0);
    expect(w.append(frame(1, 1), 7)).toBe(false);
    expect(w.reserve(0, 7)).toBe(-1);
    const b = w.take();
    expect(w.count).toBe(0);
    expect(decodeFrameBatch(b)).toEqual([
      { data: frame(10, 0xaa), hash: 5, tag: 1 },
      { data: frame(10, 1), hash: 6, tag: 0 },
    ]);
    // The writer no longer owns b's memory.
    w.append(frame(10, 3), 8);
    expect(decodeFrameBatch(b)).toHaveLength(2);
    expect(() => new FrameBatchWriter(MAX_BATCH_BYTES + 1)).toThrow(RangeError);
    expect(() => new FrameBatchWriter(4)).toThrow(/capacity/);
  });

  it("writer reset reallocates a transferred buffer", () => {
    const w = new FrameBatchWriter(1024);
    w.append(frame(10, 1), 1);
    const b = w.finish();
    structuredClone(b.buffer, { transfer: [b.buffer as ArrayBuffer] });
    expect(b.buffer.byteLength).toBe(0);
    w.reset();
    expect(w.append(frame(10, 2), 2)).toBe(true);
    expect(decodeFrameBatch(w.finish())).toHaveLength(1);
  });

  it("compact keeps the marked frames in order", () => {
    const frames = [0, 1, 2, 3, 4].map((i) => ({ data: frame(10 + i, i), hash: i, tag: i }));
    const b = encodeFrameBatch(frames);
    const out = compactFrameBatch(b, [1, 0, 1, 0, 1]);
    expect(out.buffer).toBe(b.buffer);
    expect(decodeFrameBatch(out)).toEqual([frames[0], frames[2], frames[4]]);
    expect(decodeFrameBatch(compactFrameBatch(out, [0, 0, 0]))).toEqual([]);
  });

  it("malformed batches give a reason, never a throw", () => {
    const good = encodeFrameBatch([{ data: frame(30, 1), hash: 1 }, { data: frame(5, 2), hash: 2 }]);
    const mut = (f: (b: Uint8Array) => void) => {
      const b = good.slice();
      f(b);
      return b;
    };
    const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset);
    expect(validateFrameBatch(new Uint8Array(3))).toBe(FrameBatchDrop.tooshort);
    expect(validateFrameBatch(mut((b) => (b[0] = 0)))).toBe(FrameBatchDrop.badmagic);
    expect(validateFrameBatch(mut((b) => (b[2] = 9)))).toBe(FrameBatchDrop.badversion);
    expect(validateFrameBatch(mut((b) => dv(b).setUint32(4, 3, true)))).toBe(FrameBatchDrop.badcount);
    expect(validateFrameBatch(mut((b) => dv(b).setUint32(4, MAX_BATCH_FRAMES + 1, true)))).toBe(FrameBatchDrop.badcount);
    expect(validateFrameBatch(mut((b) => dv(b).setUint32(4, 1, true)))).toBe(FrameBatchDrop.badlen); // trailing bytes
    expect(validateFrameBatch(mut((b) => dv(b).setUint32(8, 9999, true)))).toBe(FrameBatchDrop.badlen);
    expect(validateFrameBatch(mut((b) => dv(b).setUint16(BATCH_HEADER_BYTES + 4, 60000, true)))).toBe(FrameBatchDrop.badlen);
    expect(validateFrameBatch(good.subarray(0, good.length - 1))).toBe(FrameBatchDrop.badlen);
    let visited = 0;
    expect(forEachFrame(mut((b) => (b[0] = 0)), () => visited++)).toBe(FrameBatchDrop.badmagic);
    expect(visited).toBe(0);
    const c = new FrameBatchCursor();
    expect(c.reset(mut((b) => (b[2] = 0)))).toBe(FrameBatchDrop.badversion);
    expect(c.next()).toBe(false);
  });

  it("property: random and mutated bytes never throw and a valid verdict means consistent frames", () => {
    const base = encodeFrameBatch([{ data: frame(40, 1), hash: 1 }, { data: frame(3, 2), hash: 2 }, { data: frame(0, 0), hash: 3 }]);
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.array(fc.tuple(fc.nat(base.length - 1), fc.nat(255)), { maxLength: 4 }).map((muts) => {
        const b = base.slice();
        for (const [i, v] of muts) b[i] = v;
        return b;
      })), (b) => {
        const r = validateFrameBatch(b);
        if (r === null) {
          let bytes = BATCH_HEADER_BYTES;
          forEachFrame(b, (_buf, off, len) => {
            expect(off + len).toBeLessThanOrEqual(b.length);
            bytes += FRAME_HEADER_BYTES + len;
          });
          expect(bytes).toBe(b.length);
        } else expect(Object.values(FrameBatchDrop)).toContain(r);
      }),
      { numRuns: 2000 },
    );
  });
});
