/** Reassembly queue and receiver SACK blocks against a reference model. */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { TcpReassQueue } from "@dfly/core";

describe("TcpReassQueue", () => {
  it("delivers the stream in order whatever the arrival order, overlaps and duplicates", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -2_000_000_000, max: 2_000_000_000 }), // start near any sequence value, wrap included
        fc.array(fc.tuple(fc.integer({ min: 0, max: 2000 }), fc.integer({ min: 0, max: 600 })), { minLength: 1, maxLength: 40 }),
        (base, pieces) => {
          const total = 2600;
          const stream = Uint8Array.from({ length: total }, (_, i) => (i * 31) & 0xff);
          const q = new TcpReassQueue();
          let rcvNxt = base | 0;
          const got: number[] = [];
          const have = new Uint8Array(total);
          const arrivals = [...pieces, [0, total] as [number, number]]; // the last one fills every hole
          for (const [off, len] of arrivals) {
            const end = Math.min(total, off + len);
            const rel = (rcvNxt - base) | 0;
            if (end <= rel) continue; // already delivered: tcp_input trims these
            const s = Math.max(off, rel);
            q.insert((base + s) | 0, stream.subarray(s, end), false);
            for (let i = s; i < end; i++) have[i] = 1;
            for (let seg = q.takeAt(rcvNxt); seg; seg = q.takeAt(rcvNxt)) {
              got.push(...seg.data);
              rcvNxt = (rcvNxt + seg.data.length) | 0;
            }
            // SACK blocks: disjoint, above rcv_nxt, exactly the held bytes, most recent first
            const b = q.sackBlocks(4);
            for (let i = 0; i < b.length; i += 2) {
              expect(((b[i + 1] - b[i]) | 0) > 0).toBe(true);
              expect(((b[i] - rcvNxt) | 0) > 0).toBe(true);
            }
            let held = 0;
            for (let i = 0; i < b.length; i += 2) held += (b[i + 1] - b[i]) | 0;
            if (b.length < 8) expect(held).toBe(q.bytes);
          }
          expect(got).toEqual(Array.from(stream));
          expect(q.bytes).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("reports the block of the latest segment first (RFC 2018 §4)", () => {
    const q = new TcpReassQueue();
    q.insert(100, new Uint8Array(10), false);
    q.insert(300, new Uint8Array(10), false);
    q.insert(200, new Uint8Array(10), false);
    expect(q.sackBlocks(3)).toEqual([200, 210, 300, 310, 100, 110]);
    q.insert(110, new Uint8Array(5), false);
    expect(q.sackBlocks(3)).toEqual([100, 115, 300, 310, 200, 210]);
    expect(q.sackBlocks(1)).toEqual([100, 115]);
  });
});
