/**
 * The TX side (if_tx.ts): one writer per interface, one flush, one `odropped` count; a flush
 * scheduled for the end of the burst runs once.
 */
import { describe, expect, it } from "vitest";
import { RouteTable } from "@dfly/core";
import { ifnetTopology, nicInterfaceSpec } from "@dfly/nic";
import { IpDrop, Netisr } from "@dfly/netisr/internal";
import { FrameBatchCursor } from "@dfly/transport";

function netisr(sent: { ifname: string; frames: number[] }[]): Netisr {
  const ifs = ["ix0", "ix1"].map((ifname) => ifnetTopology(nicInterfaceSpec({ ifname, model: "82599", mode: "interrupt" }), [0]));
  return new Netisr({
    cpu: 0,
    topology: { epoch: 1, cpus: [0], interfaces: ifs, rssKey: "" },
    routes: new RouteTable(),
    output: {
      tx: (ifname, _ring, b) => {
        const c = new FrameBatchCursor();
        const frames: number[] = [];
        if (c.reset(b) === null) while (c.next()) frames.push(c.length);
        sent.push({ ifname, frames });
      },
      redispatch: () => undefined,
    },
  });
}

describe("if_tx", () => {
  it("queues per interface and flushes each interface's frames as one batch", () => {
    const sent: { ifname: string; frames: number[] }[] = [];
    const n = netisr(sent);
    const frame = new Uint8Array(100);
    n.tx.copy(0, frame, 0, 60, 0);
    n.tx.copy(1, frame, 0, 40, 0);
    n.tx.copy(0, frame, 10, 80, 0);
    const at = n.tx.reserve(1, 30, 0);
    expect(at).toBeGreaterThanOrEqual(0);
    expect(sent).toEqual([]);
    n.tx.flush();
    expect(sent).toEqual([
      { ifname: "ix0", frames: [60, 80] },
      { ifname: "ix1", frames: [40, 30] },
    ]);
    expect(n.interfaces[0].txFrames).toBe(2);
    expect(n.interfaces[1].txFrames).toBe(2);
    expect(n.stats.batchesTx).toBe(2);
  });

  it("counts odropped for a frame no batch holds; flushSoon flushes once, after the burst", async () => {
    const sent: { ifname: string; frames: number[] }[] = [];
    const n = netisr(sent);
    const big = new Uint8Array(300 * 1024);
    n.tx.copy(0, big, 0, big.length, 0);
    expect(n.stats.ip.dropped[IpDrop.odropped]).toBe(1);
    n.tx.copy(0, big, 0, 64, 0);
    n.tx.flushSoon();
    n.tx.copy(0, big, 0, 64, 0);
    n.tx.flushSoon();
    expect(sent).toEqual([]);
    await Promise.resolve();
    expect(sent).toEqual([{ ifname: "ix0", frames: [64, 64] }]);
  });
});
