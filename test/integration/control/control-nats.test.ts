import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { status, type ServiceError } from "@grpc/grpc-js";
import { ControlClient, InterfaceMode, startControl, type ControlHandle } from "@dfly/control";
import { NatsTransport } from "@dfly/transport";
import { freePort } from "../../support/nats-process.js";
import { startNats, type NatsContainer } from "../../support/nats.js";
import { startFakeCpu, type FakeCpu } from "../../support/fake-netisr.js";

const ROUTES = [
  { prefix: "10.0.0.0/8", gateway: "192.0.2.254" },
  { prefix: "10.1.0.0/16", gateway: "192.0.2.253", metric: 5, mtu: 1400, iw: 10 },
  { prefix: "198.51.100.0/24", ifname: "ix0" },
  { prefix: "0.0.0.0/0", gateway: "192.0.2.1" },
];

async function grpcError(p: Promise<unknown>): Promise<ServiceError> {
  try {
    await p;
  } catch (e) {
    return e as ServiceError;
  }
  throw new Error("expected the call to fail");
}

describe("control plane over a real nats-server in a container (JetStream KV) and real gRPC", () => {
  let nats: NatsContainer;
  const transports: NatsTransport[] = [];
  let control: ControlHandle;
  let controlTransport: NatsTransport;
  let grpcPort: number;
  let addr: string;
  let client: ControlClient;
  const cpus: FakeCpu[] = [];

  const conn = async (name: string) => {
    const t = await NatsTransport.connect({ url: nats.url, name });
    transports.push(t);
    return t;
  };
  const startCtl = async () => {
    controlTransport = await conn("control");
    control = await startControl({
      transport: controlTransport,
      grpcPort,
      metricsPort: 0,
      heartbeatMs: 200,
      cpuTimeoutMs: 1500,
      applyTimeoutMs: 700,
    });
  };

  beforeAll(async () => {
    nats = await startNats({ jetstream: true }); // testcontainers, local nats:2.9 image
    grpcPort = await freePort();
    addr = `127.0.0.1:${grpcPort}`;
    await startCtl();
    client = new ControlClient(addr);
    await client.registerInterface({
      ifname: "ix0",
      model: "82599",
      mode: InterfaceMode.INTERFACE_MODE_POLLING,
      rings: 4,
      unit: 0,
      addresses: ["192.0.2.2/24"],
      pollhz: 0,
      redirectEntries: 0,
    });
    for (const cpu of [0, 1, 2]) cpus.push(await startFakeCpu({ cpu, transport: await conn(`cpu${cpu}`), controlAddr: addr }));
  });

  afterAll(async () => {
    for (const c of cpus) await c.stop().catch(() => undefined);
    client?.close();
    await control?.stop(1000);
    for (const t of transports) await t.close().catch(() => undefined);
    await nats?.stop();
  });

  it("topology: 3 CPUs, ix0's ringmap maps rings to live CPU ids", async () => {
    const t = (await client.getTopology()).topology!;
    expect(t.cpus).toEqual([0, 1, 2]);
    const ix0 = t.interfaces[0];
    expect(ix0.spec?.ifname).toBe("ix0");
    expect(ix0.rings).toBeGreaterThan(0);
    expect(ix0.redirect).toHaveLength(128);
    for (const c of ix0.ringToCpu) expect(t.cpus).toContain(c);
    expect(Buffer.from(t.rssKey).toString("hex")).toBe("6d5a".repeat(20));
    for (const c of cpus) expect(c.agent.epoch).toBeGreaterThan(0);
  });

  it("a route change is applied on every live CPU before the call returns", async () => {
    for (const r of ROUTES) {
      const res = await client.addRoute(r);
      expect(res.appliedCpus.sort()).toEqual([0, 1, 2]);
      // Checked synchronously right after the reply: no waiting.
      for (const c of cpus) expect(c.routes.has(r.prefix)).toBe(true);
    }
    const gw = cpus[1].routes.get("10.1.0.0/16")!;
    expect(gw.metric).toBe(5);
    expect(gw.mtu).toBe(1400);
    expect(gw.ifname).toBe("ix0"); // resolved from ix0's subnet
    const del = await client.addRoute({ prefix: "203.0.113.0/24", ifname: "ix0" });
    expect(del.appliedCpus).toHaveLength(3);
    await client.deleteRoute("203.0.113.0/24");
    for (const c of cpus) expect(c.routes.has("203.0.113.0/24")).toBe(false);
    const l = await client.listRoutes();
    expect(l.routes.map((r) => r.prefix)).toEqual(["0.0.0.0/0", "10.0.0.0/8", "10.1.0.0/16", "198.51.100.0/24"]);
    expect((await client.getRoute({ address: "10.1.2.3" })).route?.prefix).toBe("10.1.0.0/16");
  });

  it("bad input gets a typed gRPC error and changes nothing", async () => {
    const before = (await client.listRoutes()).digest;
    expect((await grpcError(client.addRoute({ prefix: "10.0.0/8", gateway: "192.0.2.1" }))).code).toBe(status.INVALID_ARGUMENT);
    expect((await grpcError(client.addRoute({ prefix: "10.0.0.0/33", gateway: "192.0.2.1" }))).code).toBe(status.INVALID_ARGUMENT);
    const hostBits = await grpcError(client.addRoute({ prefix: "10.0.0.1/8", gateway: "192.0.2.1" }));
    expect(hostBits.code).toBe(status.INVALID_ARGUMENT);
    expect(hostBits.details).toMatch(/10\.0\.0\.0\/8/);
    expect((await grpcError(client.addRoute({ prefix: "172.16.0.0/12", ifname: "ix9" }))).code).toBe(status.NOT_FOUND);
    expect((await grpcError(client.addRoute({ prefix: "172.16.0.0/12", gateway: "203.0.113.9" }))).code).toBe(status.FAILED_PRECONDITION);
    expect((await grpcError(client.addRoute({ prefix: "172.16.0.0/12" }))).code).toBe(status.INVALID_ARGUMENT);
    expect((await grpcError(client.addRoute({ prefix: "172.16.0.0/12", ifname: "ix0", mtu: 20 }))).code).toBe(status.INVALID_ARGUMENT);
    expect((await grpcError(client.addRoute({ prefix: "10.0.0.0/8", gateway: "192.0.2.9" }))).code).toBe(status.ALREADY_EXISTS);
    expect((await grpcError(client.deleteRoute("172.31.0.0/16"))).code).toBe(status.NOT_FOUND);
    expect((await grpcError(client.getRoute({ prefix: "172.31.0.0/16" }))).code).toBe(status.NOT_FOUND);
    expect((await client.listRoutes()).digest).toBe(before);
  });

  it("a CPU started later loads the whole table; Verify shows equal digests", async () => {
    const late = await startFakeCpu({ cpu: 3, transport: await conn("cpu3"), controlAddr: addr });
    cpus.push(late);
    expect(late.agent.ready).toBe(true);
    expect(late.routes.list().map((r) => r.prefix).sort()).toEqual(ROUTES.map((r) => r.prefix).sort());
    const v = await client.verifyRoutes();
    expect(v.consistent).toBe(true);
    expect(v.cpus.map((c) => c.cpu)).toEqual([0, 1, 2, 3]);
    for (const c of v.cpus) expect(c.digest).toBe(v.expectedDigest);
    expect(v.expectedDigest).toBe(late.routes.digest());
    expect(late.topologies.at(-1)?.cpus).toEqual([0, 1, 2, 3]);
  });

  it("stats are fetched from every CPU and summed", async () => {
    const s = await client.getStats();
    const ip = s.total.find((p) => p.protocol === "ip")!;
    expect(ip.counters.forward).toBe(1 + 2 + 3 + 4);
    expect(ip.counters.total).toBe(10 + 20 + 30 + 40);
    expect(s.cpus.map((c) => c.cpu).sort()).toEqual([0, 1, 2, 3]);
    expect(s.unreachableCpus).toEqual([]);
  });

  it("a CPU that does not confirm is reported by id as pending; the change is stored; the control repairs it", async () => {
    cpus[2].mode = "silent";
    cpus[3].mode = "refuse";
    // Stored, so answered OK (never UNAVAILABLE): the CPUs before the failures hold it, the others are pending.
    const r = await client.addRoute({ prefix: "192.0.2.128/25", ifname: "ix0" });
    expect(r.appliedCpus).toEqual([0, 1]);
    expect(r.pendingCpus).toEqual([2, 3]);
    expect(r.status).toMatch(/^stored, applied on CPUs 0,1, pending on CPU 2 \(timeout[^)]*\), pending on CPU 3 \(refused by test\)$/);
    // Checked synchronously right after the reply.
    expect(cpus[0].routes.has("192.0.2.128/25")).toBe(true);
    expect(cpus[1].routes.has("192.0.2.128/25")).toBe(true);
    expect(cpus[2].routes.has("192.0.2.128/25")).toBe(false);
    expect(cpus[3].routes.has("192.0.2.128/25")).toBe(false);
    expect((await client.listRoutes()).routes.map((x) => x.prefix)).toContain("192.0.2.128/25");
    // The control repairs the pending CPUs (a full-table reload) without any call from us.
    const end = Date.now() + 10_000;
    while (!(await client.verifyRoutes()).consistent) {
      if (Date.now() > end) throw new Error("pending CPUs not repaired within 10 s");
      await new Promise((res) => setTimeout(res, 100));
    }
    expect(cpus[2].routes.has("192.0.2.128/25")).toBe(true);
    expect(cpus[3].routes.has("192.0.2.128/25")).toBe(true);
    cpus[2].mode = "ok";
    cpus[3].mode = "ok";
    const del = await client.deleteRoute("192.0.2.128/25");
    expect(del.appliedCpus).toEqual([0, 1, 2, 3]);
    expect(del.pendingCpus).toEqual([]);
    expect((await client.verifyRoutes()).consistent).toBe(true);
  });

  it("/metrics is scraped over HTTP", async () => {
    const text = await (await fetch(`http://${control.metricsAddr}/metrics`)).text();
    expect(text).toMatch(/^dfly_control_cpus 4$/m);
    expect(text).toMatch(/^dfly_control_routes 4$/m);
    expect(text).toMatch(/^dfly_control_route_ops_total\{op="add",result="ok"\} 5$/m);
    expect(text).toMatch(/^dfly_control_route_ops_total\{op="add",result="partial"\} 1$/m);
    expect(text).toMatch(/^dfly_control_topology_epoch \d+$/m);
  });

  it("control killed and restarted loses no route; CPUs stay registered", async () => {
    const before = await client.listRoutes();
    const epoch = (await client.getTopology()).topology!.epoch;
    await control.stop(500);
    await controlTransport.close();
    await startCtl();
    const after = await client.listRoutes();
    expect(after.routes).toEqual(before.routes);
    expect(after.digest).toBe(before.digest);
    const t = (await client.getTopology()).topology!;
    expect(t.cpus).toEqual([0, 1, 2, 3]);
    expect(t.epoch).toBe(epoch);
    // The new control reaches every CPU.
    const r = await client.addRoute({ prefix: "100.64.0.0/10", ifname: "ix0" });
    expect(r.appliedCpus.sort()).toEqual([0, 1, 2, 3]);
    expect((await client.verifyRoutes()).consistent).toBe(true);
  });

  it("a CPU that stops heartbeating is removed under a new epoch", async () => {
    const gone = cpus.pop()!;
    const epoch = (await client.getTopology()).topology!.epoch;
    // Stop without deregistering: silence, as a crashed pod.
    (gone.agent as unknown as { stopped: boolean }).stopped = true;
    await new Promise((r) => setTimeout(r, 2500));
    const t = (await client.getTopology()).topology!;
    expect(t.cpus).toEqual([0, 1, 2]);
    expect(t.epoch).toBeGreaterThan(epoch);
    expect(cpus[0].topologies.at(-1)?.cpus).toEqual([0, 1, 2]);
    await gone.stop();
  });
});
