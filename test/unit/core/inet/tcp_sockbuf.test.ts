/** SockBuf against a reference byte array under random appends, peeks, drops and reads. */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { SockBuf } from "@dfly/core";

type Op =
  | { k: "append"; n: number; off: number }
  | { k: "peek"; off: number; n: number }
  | { k: "drop"; n: number }
  | { k: "read"; n: number }
  | { k: "recycle"; keep: boolean };

const byteOps = [
  fc.record({ k: fc.constant("append" as const), n: fc.integer({ min: 0, max: 40_000 }), off: fc.integer({ min: 0, max: 10 }) }),
  fc.record({ k: fc.constant("peek" as const), off: fc.integer({ min: 0, max: 50_000 }), n: fc.integer({ min: 0, max: 50_000 }) }),
  fc.record({ k: fc.constant("drop" as const), n: fc.integer({ min: 0, max: 50_000 }) }),
  fc.record({ k: fc.constant("read" as const), n: fc.integer({ min: 0, max: 50_000 }) }),
];

/** Runs `ops` on a SockBuf and on a plain byte array (the reference), comparing after each. */
function checkAgainstReference(ops: Op[]): void {
  const sb = new SockBuf();
  let ref: number[] = [];
  let next = 0;
  for (const o of ops) {
    switch (o.k) {
      case "append": {
        const src = new Uint8Array(o.n + o.off);
        for (let i = 0; i < src.length; i++) src[i] = (next + i) & 0xff;
        next += src.length;
        sb.append(src, o.off, o.n);
        ref = ref.concat(Array.from(src.subarray(o.off, o.off + o.n)));
        src.fill(0); // the buffer copied what it needed
        break;
      }
      case "peek":
        expect(Array.from(sb.peek(o.off, o.n))).toEqual(o.n > 0 ? ref.slice(o.off, o.off + o.n) : []);
        break;
      case "drop":
        sb.drop(o.n);
        ref = ref.slice(o.n);
        break;
      case "read":
        expect(Array.from(sb.read(o.n))).toEqual(ref.slice(0, o.n));
        ref = ref.slice(o.n);
        break;
      case "recycle":
        sb.recycle(o.keep);
        ref = [];
        break;
    }
    expect(sb.cc).toBe(ref.length);
  }
}

describe("SockBuf", () => {
  it("behaves as a byte queue", () => {
    fc.assert(fc.property(fc.array(fc.oneof(...byteOps), { maxLength: 40 }), checkAgainstReference), { numRuns: 200 });
  });

  it("a recycled buffer (its chunk kept or not) behaves as a fresh one: nothing of its old bytes shows", () => {
    const recycle = fc.record({ k: fc.constant("recycle" as const), keep: fc.boolean() });
    fc.assert(fc.property(fc.array(fc.oneof(...byteOps, recycle), { maxLength: 60 }), checkAgainstReference), { numRuns: 200 });
  });

  it("bytes handed out by peek stay valid while more is appended and dropped", () => {
    const sb = new SockBuf();
    sb.append(new Uint8Array([1, 2, 3, 4]));
    const v = sb.peek(1, 2);
    sb.append(new Uint8Array(100).fill(9));
    sb.drop(3);
    sb.append(new Uint8Array(20_000).fill(7));
    expect(Array.from(v)).toEqual([2, 3]);
  });

  it("readInto reads as read does; a view that went out keeps its bytes (a drained chunk is written again only when none did, or the buffer is transient)", () => {
    const op = fc.oneof(
      fc.record({ k: fc.constant("append" as const), n: fc.integer({ min: 0, max: 6_000 }), off: fc.integer({ min: 0, max: 10 }) }),
      fc.record({ k: fc.constant("peek" as const), off: fc.integer({ min: 0, max: 8_000 }), n: fc.integer({ min: 0, max: 8_000 }) }),
      fc.record({ k: fc.constant("drop" as const), n: fc.integer({ min: 0, max: 8_000 }) }),
      fc.record({ k: fc.constant("read" as const), n: fc.integer({ min: 0, max: 8_000 }) }),
      fc.record({ k: fc.constant("readInto" as const), n: fc.integer({ min: 0, max: 8_000 }), at: fc.integer({ min: 0, max: 5 }) }),
      fc.record({ k: fc.constant("recycle" as const), keep: fc.boolean() }),
    );
    fc.assert(
      fc.property(fc.boolean(), fc.array(op, { maxLength: 60 }), (transient, ops) => {
        const sb = new SockBuf();
        sb.transient = transient;
        let ref: number[] = [];
        let next = 0;
        const held: [Uint8Array, number[]][] = [];
        for (const o of ops) {
          switch (o.k) {
            case "append": {
              const src = new Uint8Array(o.n + o.off);
              for (let i = 0; i < src.length; i++) src[i] = (next + i) & 0xff;
              next += src.length;
              sb.append(src, o.off, o.n);
              ref = ref.concat(Array.from(src.subarray(o.off, o.off + o.n)));
              break;
            }
            case "peek": {
              const v = sb.peek(o.off, o.n);
              const want = o.n > 0 ? ref.slice(o.off, o.off + o.n) : [];
              expect(Array.from(v)).toEqual(want);
              if (!transient) held.push([v, want]);
              break;
            }
            case "drop":
              sb.drop(o.n);
              ref = ref.slice(o.n);
              break;
            case "read": {
              const v = sb.read(o.n);
              expect(Array.from(v)).toEqual(ref.slice(0, o.n));
              held.push([v, ref.slice(0, o.n)]);
              ref = ref.slice(o.n);
              break;
            }
            case "readInto": {
              const dst = new Uint8Array(o.at + o.n).fill(0xee);
              const got = sb.readInto(dst, o.at, o.n);
              expect(got).toBe(Math.min(o.n, ref.length));
              expect(Array.from(dst.subarray(o.at, o.at + got))).toEqual(ref.slice(0, got));
              ref = ref.slice(got);
              break;
            }
            case "recycle":
              sb.recycle(o.keep);
              sb.transient = transient;
              ref = [];
              break;
          }
          expect(sb.cc).toBe(ref.length);
        }
        for (const [v, want] of held) expect(Array.from(v)).toEqual(want);
      }),
      { numRuns: 300 },
    );
  });
});
