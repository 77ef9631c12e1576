import { afterEach, describe, expect, it } from "vitest";
import { RouteTable } from "@dfly/core";
import { IP_DROP_REASONS, IpDrop, NetisrService, netisrMetrics } from "@dfly/netisr/internal";
import { InprocHub } from "@dfly/transport";

const hubs: InprocHub[] = [];
afterEach(() => {
  for (const h of hubs.splice(0)) h.close();
});

describe("netisrMetrics: dfly_ip_dropped_total", () => {
  it("has every BSD drop reason at 0 for this CPU before the first drop, and counts from there", async () => {
    const hub = new InprocHub();
    hubs.push(hub);
    const svc = new NetisrService({
      transport: await hub.connect(),
      cluster: "c",
      cpu: 3,
      topology: { epoch: 1, cpus: [3], rssKey: "", interfaces: [] },
      routes: new RouteTable(),
      ifpoll: { pollhz: 1 },
    });
    const reg = netisrMetrics(svc);
    const read = async () => {
      const out = new Map<string, number>();
      for (const m of (await reg.metrics()).matchAll(/^dfly_ip_dropped_total\{cpu="([^"]+)",reason="([^"]+)"\} (\S+)$/gm)) {
        expect(m[1]).toBe("3");
        out.set(m[2]!, Number(m[3]));
      }
      return out;
    };
    const before = await read();
    expect([...before.keys()].sort()).toEqual([...Object.keys(IpDrop)].sort());
    expect(before.size).toBe(IP_DROP_REASONS.length);
    expect([...before.values()].every((v) => v === 0)).toBe(true);
    svc.netisr.stats.ip.dropped[IpDrop.tooshort] += 2;
    const after = await read();
    expect(after.get("tooshort")).toBe(2);
    expect(after.size).toBe(before.size);
  });
});
