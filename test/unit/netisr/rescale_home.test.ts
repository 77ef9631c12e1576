/**
 * Home entries and redispatch (rescale_home.ts): a redispatched segment with no PCB is dropped,
 * never reset; a redispatch loop stops at MAX_HOPS; a malformed rescale netmsg is counted.
 */
import { describe, expect, it } from "vitest";
import { buildTcpPacket, TcpFlags } from "@dfly/core";
import { MAX_HOPS, RescaleNetmsg, encodeHome, type Tuple } from "@dfly/netisr/internal";
import { encodeFrameBatch, subjects } from "@dfly/transport";
import { C, HOST, PEER, rig, topo, until } from "../../support/rescale-rig.js";

describe("rescale_home", () => {
  it("a redispatched segment with no PCB is dropped, never reset; a redispatch loop stops at MAX_HOPS; malformed netmsgs are counted", async () => {
    const r = await rig(0);
    const e = topo(1, [0, 1]);
    const h0 = await r.start(0, e);
    const h1 = await r.start(1, e);
    const frame = buildTcpPacket({ src: PEER, dst: HOST, sport: 5555, dport: 80, seq: 1, ack: 1, flags: TcpFlags.ACK, window: 1000, payload: new Uint8Array(0) });
    const seg = (hops: number) => {
      const b = encodeFrameBatch([{ data: frame, hash: 0, tag: hops }]);
      const m = new Uint8Array(8 + b.length);
      m[0] = RescaleNetmsg.segments;
      m.set(b, 8);
      return m;
    };
    r.t.publish(subjects.netisr(C, 0), seg(1));
    await until(() => h0.tcp!.rescale.stats.dropped.nopcb === 1, "nopcb");
    // Entries pointing at each other (tables that have not converged): bounded by the hop count.
    const key: Tuple = [HOST, 80, PEER, 5555];
    r.t.publish(subjects.netisr(C, 0), encodeHome({ from: 1, add: [key], forget: [] }));
    r.t.publish(subjects.netisr(C, 1), encodeHome({ from: 0, add: [key], forget: [] }));
    await until(() => h0.tcp!.rescale.foreign.size === 1 && h1.tcp!.rescale.foreign.size === 1, "entries");
    r.t.publish(subjects.netisr(C, 0), seg(0));
    await until(() => h0.tcp!.rescale.stats.dropped.hops + h1.tcp!.rescale.stats.dropped.hops === 1, "the loop cut");
    expect(h0.tcp!.rescale.stats.redispatched + h1.tcp!.rescale.stats.redispatched).toBe(MAX_HOPS);
    r.t.publish(subjects.netisr(C, 1), new Uint8Array([RescaleNetmsg.segments, 0, 0]));
    r.t.publish(subjects.netisr(C, 1), encodeHome({ from: 0, add: [key], forget: [] }).subarray(0, 18));
    await until(() => h1.tcp!.rescale.stats.dropped.bad === 2, "bad netmsgs counted");
    expect(r.rstToPeer).toBe(0);
  });
});
