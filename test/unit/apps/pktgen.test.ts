import { describe, expect, it } from "vitest";
import { inCksum, ipPacketHash, parsePacket } from "@dfly/core";
import { encodeFrameBatch } from "@dfly/transport";
import { FlowSet, lossReport, PktgenConfigError, SinkCounter } from "@dfly/apps";

describe("pktgen FlowSet", () => {
  it("builds real IPv4/UDP packets whose checksums stay valid for every stamp", () => {
    const fs = new FlowSet({ flows: 50, size: 64, dst: ["10.0.0.0/8", "172.20.0.0/16"] });
    const buf = new Uint8Array(200);
    for (const [flow, seq, ts] of [[0, 0, 0], [7, 1, 123456789], [49, 0xffffffff, 0xfffffffe], [3, 65535, 65536]]) {
      fs.write(buf, 10, flow, seq, ts);
      const pkt = buf.slice(10, 74);
      expect(inCksum(pkt, 0, 20)).toBe(0);
      const r = parsePacket(pkt);
      expect(r.ok).toBe(true);
      if (!r.ok || r.l4.proto !== "udp") throw new Error("not udp");
      expect(r.ip.len).toBe(64);
      expect(ipPacketHash(pkt)).toBe(fs.hashes[flow]);
    }
    // Destinations alternate between the prefixes; sources come from 198.18.0.0/24.
    expect(fs.dst[0] >>> 24).toBe(10);
    expect(fs.dst[1] >>> 16).toBe((172 << 8) | 20);
    expect(fs.src[0] >>> 8).toBe((198 << 16) | (18 << 8));
  });

  it("refuses sizes that cannot hold the stamp and bad prefixes", () => {
    expect(() => new FlowSet({ flows: 1, size: 40 })).toThrow(PktgenConfigError);
    expect(() => new FlowSet({ flows: 1, dst: ["10.0.0.1/8"] })).toThrow(/destination prefix/);
    expect(() => new FlowSet({ flows: 0 })).toThrow(/flows/);
  });
});

describe("sink", () => {
  it("counts per flow, reordering, latency, and non-pktgen frames; loss per flow", () => {
    const fs = new FlowSet({ flows: 4, size: 64 });
    const frames: { data: Uint8Array; hash: number }[] = [];
    const mk = (flow: number, seq: number, ts: number) => {
      const b = new Uint8Array(64);
      fs.write(b, 0, flow, seq, ts);
      frames.push({ data: b, hash: 0 });
    };
    mk(0, 0, 1000);
    mk(0, 2, 1000);
    mk(0, 1, 1000); // late
    mk(1, 0, 1000);
    frames.push({ data: new Uint8Array([0x45, 0, 0, 28, 0, 0, 0, 0, 64, 1, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 11, 0, 0, 0, 0, 0, 0, 0]), hash: 0 });
    const s = new SinkCounter(4);
    s.batch(encodeFrameBatch(frames), 1100);
    const sum = s.summary();
    expect(sum.pktgen).toBe(4);
    expect(sum.reordered).toBe(1);
    expect(sum.other).toBe(1);
    expect(sum.icmp).toEqual({ "11": 1 });
    expect(sum.latencyUs?.min).toBe(100);
    const loss = lossReport([3, 2, 0, 0], s.receivedPerFlow);
    expect(loss).toMatchObject({ sent: 5, received: 4, lost: 1, flowsWithLoss: 1, worst: [[1, 1]] });
  });
});
