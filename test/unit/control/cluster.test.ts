import { describe, expect, it } from "vitest";
import { buildRingmap } from "@dfly/core";
import { BadRequestError, Cluster, UnknownCpuError, grpcStatusOf } from "@dfly/control";
import type { InterfaceSpecT, TopologyMsg } from "@dfly/wire";
import { MemKv } from "@dfly/transport";

const ix0: InterfaceSpecT = { ifname: "ix0", model: "82599", mode: "polling", rings: 4, unit: 0, addresses: ["192.0.2.2/24"], pollhz: 0, redirectEntries: 0 };

describe("Cluster (membership, ringmap topology, epochs)", () => {
  it("CPUs join under new epochs; ringmap rings map to live CPU ids", async () => {
    let now = 0;
    const kv = new MemKv();
    const c = await Cluster.load({ kv, heartbeatMs: 100, cpuTimeoutMs: 500, now: () => now });
    const seen: TopologyMsg[] = [];
    c.onChange((t) => seen.push(t));
    await c.registerInterface(ix0);
    for (const cpu of [5, 0, 2]) await c.register(cpu, `127.0.0.1:${9464 + cpu}`);
    await c.register(2, "127.0.0.1:9466"); // again: no change
    expect(c.epoch).toBe(4);
    expect(seen.map((t) => t.epoch)).toEqual([1, 2, 3, 4]);
    const t = c.topology();
    expect(t.cpus).toEqual([0, 2, 5]);
    const rm = buildRingmap({ ncpus: 3, rings: 4 });
    expect(t.interfaces[0].rings).toBe(rm.rings);
    expect(t.interfaces[0].ringToCpu).toEqual(rm.ringToCpu.map((i) => [0, 2, 5][i]));
    expect(t.interfaces[0].redirect).toEqual(rm.redirect);
    expect(t.interfaces[0].pollhz).toBe(6000);
    expect(t.rssKey).toBe("6d5a".repeat(20));

    // Heartbeats keep CPUs alive; a silent one expires under a new epoch.
    now = 400;
    c.heartbeat(0);
    c.heartbeat(5);
    now = 700;
    expect(await c.expire()).toEqual([2]);
    expect(c.liveCpus()).toEqual([0, 5]);
    expect(c.epoch).toBe(5);
    expect(c.heartbeat(2)).toEqual({ epoch: 5, registered: false });
    expect(c.heartbeat(0)).toEqual({ epoch: 5, registered: true });
    expect(await c.expire()).toEqual([]);
    expect(c.epoch).toBe(5);

    await c.deregister(5);
    await expect(c.deregister(5)).rejects.toBeInstanceOf(UnknownCpuError);
    expect(c.topology().interfaces[0].ringToCpu.every((x) => x === 0)).toBe(true);

    // A restarted control resumes CPUs, interfaces and epoch from the store.
    const c2 = await Cluster.load({ kv, now: () => now });
    expect(c2.epoch).toBe(6);
    expect(c2.liveCpus()).toEqual([0]);
    expect(c2.cpuInfo()[0].metricsAddr).toBe("127.0.0.1:9464");
    expect(c2.topology()).toEqual(c.topology());
  });

  it("no CPUs: interfaces are known but have no ringmap yet", async () => {
    const c = await Cluster.load({ kv: new MemKv() });
    await c.registerInterface({ ...ix0, rings: 16, mode: "interrupt" });
    expect(c.topology().interfaces[0]).toMatchObject({ rings: 0, ringToCpu: [], redirect: [], hwRings: 16, mode: "interrupt" });
  });

  it("refuses bad registrations with the offending value", async () => {
    const c = await Cluster.load({ kv: new MemKv() });
    const bad = async (s: Partial<InterfaceSpecT>) => {
      const e = await c.registerInterface({ ...ix0, ...s }).catch((x) => x);
      expect(e).toBeInstanceOf(BadRequestError);
      expect(grpcStatusOf(e).code).toBe(3); // INVALID_ARGUMENT
      return (e as Error).message;
    };
    expect(await bad({ ifname: "0bad" })).toMatch(/"0bad"/);
    expect(await bad({ rings: 0 })).toMatch(/rings: 0/);
    expect(await bad({ addresses: ["192.0.2.300/24"] })).toMatch(/192\.0\.2\.300/);
    expect(await bad({ redirectEntries: 100 })).toMatch(/100/);
    expect(await bad({ mode: "bogus" as "polling" })).toMatch(/bogus/);
    await expect(c.register(-1)).rejects.toBeInstanceOf(BadRequestError);
    await expect(c.register(1.5)).rejects.toBeInstanceOf(BadRequestError);
    expect(c.epoch).toBe(0);
  });
});
