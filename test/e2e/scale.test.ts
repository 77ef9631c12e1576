/**
 * Live rescale with containers of the project's image, as the chart's StatefulSet runs them: NATS,
 * control, a NIC (ix0 → ix1) and 3 netisr CPUs forward a flow set end to end; then the netisr
 * "StatefulSet" is scaled to 4 (CPU 3 starts) and back to 2 (CPUs 3 and 2 stop, highest ordinals
 * first, in parallel as with podManagementPolicy: Parallel) while the traffic runs. Each step must
 * advance the topology epoch, a new CPU must hold the whole route table before it is ready, and the
 * traffic must keep being forwarded by every live CPU.
 *
 * Alongside the UDP flow set runs a connection-level workload (test/support/tcp-streams.ts):
 * long-lived TCP connections between a peer host on ix0's wire and a program using sockets over
 * the CPUs' ports, data both ways, every byte checked. Scaling up, the connections stay where
 * they live and the new owners redispatch their segments there; scaling down, the leaving CPUs
 * (SIGTERM) hand every connection over before they deregister. No connection may be reset.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Pktgen, Sink } from "@dfly/apps";
import { ControlClient } from "@dfly/control";
import { createTransport, type Transport } from "@dfly/transport";
import { freePort } from "../support/docker.js";
import { ensureProjectImage } from "../support/image.js";
import { startNats, type NatsContainer } from "../support/nats.js";
import { startService, waitHttpOk, type ServiceContainer } from "../support/stack.js";
import { StreamWorkload } from "../support/tcp-streams.js";

const CLUSTER = "scale";
const ROUTES = [
  { prefix: "198.18.0.0/24", ifname: "ix0" },
  { prefix: "198.18.1.0/24", ifname: "ix1" },
  { prefix: "10.0.0.0/8", gateway: "198.18.1.2" },
];

/** Σ over the samples of `name` whose labels include every `labels` pair. */
function sampleWith(text: string, name: string, labels: Record<string, string>): number {
  let n = 0;
  for (const m of text.matchAll(new RegExp(`^${name}\\{([^}]*)\\} ([0-9.e+]+)$`, "gm"))) {
    if (Object.entries(labels).every(([k, v]) => m[1].includes(`${k}="${v}"`))) n += Number(m[2]);
  }
  return n;
}

/** `name{cpu="N"} value` → value (0 when absent). */
function sample(text: string, name: string, cpu: number): number {
  const m = new RegExp(`^${name}\\{[^}]*cpu="${cpu}"[^}]*\\} ([0-9.e+]+)$`, "m").exec(text);
  return m ? Number(m[1]) : 0;
}

describe("netisr StatefulSet scaled 3 → 4 → 2 while traffic is forwarded", () => {
  let image: string;
  let nats: NatsContainer;
  let control: ServiceContainer;
  let nic: ServiceContainer;
  const netisr = new Map<number, ServiceContainer>();
  let client: ControlClient;
  let transport: Transport;
  let sink: Sink;
  let gen: Pktgen;
  let common: Record<string, string>;
  let streams: StreamWorkload;

  const startCpu = async (cpu: number) => {
    // As the chart does: POD_NAME of the StatefulSet pod, DFLY_CPU from the pod-index label.
    const svc = await startService({
      image,
      kind: "netisr",
      name: `netisr-${cpu}`,
      env: { ...common, DFLY_CPU: String(cpu), POD_NAME: `dfly-netisr-${cpu}`, POD_IP: "127.0.0.1" },
    });
    netisr.set(cpu, svc);
    return svc;
  };
  const epoch = async () => Number((await client.getTopology()).topology!.epoch);
  const liveCpus = async () => (await client.getTopology()).topology!.cpus.map(Number);
  const metrics = async (cpu: number) => (await fetch(`${netisr.get(cpu)!.metricsUrl}/metrics`)).text();
  const forwarded = async (cpu: number) => sample(await metrics(cpu), "dfly_ip_forwarded_total", cpu);

  /** Waits until every live CPU forwarded more than it had, and the sink got more. */
  async function trafficFlows(cpus: number[], timeoutMs = 20_000): Promise<void> {
    const before = new Map<number, number>();
    for (const c of cpus) before.set(c, await forwarded(c));
    const sunk = sink.counter.pktgen;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const grew = await Promise.all(cpus.map(async (c) => (await forwarded(c)) > before.get(c)!));
      if (grew.every(Boolean) && sink.counter.pktgen > sunk) return;
      if (Date.now() > deadline) {
        throw new Error(`traffic did not flow through every CPU of ${cpus.join(",")} (grew: ${grew.join(",")}, sink ${sunk} → ${sink.counter.pktgen})`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  beforeAll(async () => {
    image = await ensureProjectImage();
    nats = await startNats({ jetstream: true });
    const grpcPort = await freePort();
    common = { DFLY_NATS_URL: nats.url, DFLY_CLUSTER: CLUSTER, DFLY_CONTROL_ADDR: `127.0.0.1:${grpcPort}` };
    control = await startService({ image, kind: "control", env: { ...common, DFLY_GRPC_HOST: "127.0.0.1", DFLY_GRPC_PORT: String(grpcPort) } });
    client = new ControlClient(`127.0.0.1:${grpcPort}`, 10_000);
    nic = await startService({ image, kind: "nic", env: { ...common, DFLY_IFNAME: "ix0,ix1", DFLY_NIC_MODEL: "82599", DFLY_NIC_MODE: "interrupt" } });
    await Promise.all([0, 1, 2].map(startCpu));
    // The NIC is ready once its interfaces are registered and CPUs own its rings; then routes can name them.
    for (const s of [nic, ...netisr.values()]) await waitHttpOk(`${s.metricsUrl}/readyz`);
    for (const r of ROUTES) await client.addRoute(r);

    transport = await createTransport({ natsUrl: nats.url, name: "scale-test" });
    sink = new Sink({ transport, cluster: CLUSTER, ifnames: ["ix0", "ix1"], flows: 256 });
    await sink.start();
    // Bounded load for the whole test: 1000 pps over 256 flows.
    gen = new Pktgen({ transport, cluster: CLUSTER, ifname: "ix0", flows: 256, rate: 1000, dst: ["10.0.0.0/8"], batch: 32 });
    void gen.run();
    // The connection-level workload: 6 connections out to the peer, 8 in from it.
    streams = await StreamWorkload.start({ transport, cluster: CLUSTER, controlAddr: common.DFLY_CONTROL_ADDR });
    streams.openOut(6);
    streams.openIn(8);
  }, 20 * 60_000);

  afterAll(async () => {
    await streams?.stop();
    gen?.stop();
    sink?.stop();
    await transport?.close();
    client?.close();
    for (const s of [...netisr.values()].reverse()) await s.stop().catch(() => undefined);
    await nic?.stop().catch(() => undefined);
    await control?.stop().catch(() => undefined);
    await nats?.stop();
  });

  it("3 CPUs forward the flow set end to end, each CPU its share", async () => {
    expect(await liveCpus()).toEqual([0, 1, 2]);
    await trafficFlows([0, 1, 2]);
    const v = await client.verifyRoutes();
    expect(v.consistent).toBe(true);
    expect(v.cpus.map((c) => c.cpu).sort()).toEqual([0, 1, 2]);
    await streams.progress(4000, 30_000);
  });

  it("scale to 4: a new epoch, CPU 3 holds every route when ready and takes a share of the traffic", async () => {
    const e0 = await epoch();
    const s3 = await startCpu(3);
    await waitHttpOk(`${s3.metricsUrl}/readyz`);
    const m = await metrics(3);
    expect(sample(m, "dfly_route_entries", 3)).toBe(ROUTES.length);
    const v = await client.verifyRoutes();
    expect(v.consistent).toBe(true);
    expect(v.cpus.find((c) => c.cpu === 3)?.digest).toBe(v.expectedDigest);
    expect(await liveCpus()).toEqual([0, 1, 2, 3]);
    const e1 = await epoch();
    expect(e1).toBeGreaterThan(e0);
    // Every CPU runs the new epoch.
    const deadline = Date.now() + 10_000;
    for (;;) {
      const epochs = await Promise.all([0, 1, 2, 3].map(async (c) => sample(await metrics(c), "dfly_topology_epoch", c)));
      if (epochs.every((x) => x === e1) || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    for (const c of [0, 1, 2, 3]) expect(sample(await metrics(c), "dfly_topology_epoch", c), `cpu ${c}`).toBe(e1);
    await trafficFlows([0, 1, 2, 3]);
    // The connections stay where they live; the new owners redispatch their segments there.
    await streams.progress(4000, 30_000);
    let redispatched = 0;
    for (const c of [0, 1, 2, 3]) redispatched += sample(await metrics(c), "dfly_tcp_rescale_redispatched_total", c);
    expect(redispatched).toBeGreaterThan(0);
    // New connections land on every CPU, the new one too: by their hash, so a batch of 12 misses
    // CPU 3 with probability (3/4)^12 ≈ 3 %; open batches (at most 4) until one lands there.
    let onCpu3 = 0;
    for (let round = 0; round < 4 && onCpu3 === 0; round++) {
      streams.openIn(12);
      await streams.progress(3000, 30_000);
      onCpu3 = sampleWith(await metrics(3), "dfly_tcp_connections", { state: "ESTABLISHED" });
    }
    expect(onCpu3).toBeGreaterThan(0);
  });

  it("scale to 2: CPUs 3 and 2 leave together, hand their connections over, a new epoch, the rest keep forwarding", async () => {
    const e1 = await epoch();
    let leaving = 0;
    for (const c of [2, 3]) leaving += sampleWith(await metrics(c), "dfly_tcp_connections", { state: "ESTABLISHED" });
    expect(leaving).toBeGreaterThan(0);
    const t0 = Date.now();
    await Promise.all([3, 2].map(async (c) => netisr.get(c)!.stop()));
    const stopMs = Date.now() - t0;
    for (const c of [3, 2]) {
      const line = /drained: (\d+) connections handed over .*, (\d+) failed, \d+ rounds, (\d+) ms/.exec(netisr.get(c)!.logs());
      expect(line, `cpu ${c} log:\n${netisr.get(c)!.logs()}`).not.toBeNull();
      expect(Number(line![2])).toBe(0);
      console.log(`cpu ${c}: ${line![0]} (container stop ${stopMs} ms)`);
    }
    netisr.delete(3);
    netisr.delete(2);
    const deadline = Date.now() + 15_000;
    while ((await liveCpus()).length !== 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(await liveCpus()).toEqual([0, 1]);
    expect(await epoch()).toBeGreaterThan(e1);
    await trafficFlows([0, 1]);
    const v = await client.verifyRoutes();
    expect(v.consistent).toBe(true);
    expect(v.cpus.map((c) => c.cpu).sort()).toEqual([0, 1]);
    let installed = 0;
    for (const c of [0, 1]) installed += sampleWith(await metrics(c), "dfly_tcp_handover_total", { dir: "in", result: "ok" });
    expect(installed).toBeGreaterThanOrEqual(leaving);
    await streams.progress(4000, 30_000);
  });

  it("no connection was reset by the rescale: every byte echoed intact, no RST on the wire, no error on either end", async () => {
    await streams.finish(30_000);
    expect(streams.errors).toEqual([]);
    expect(streams.rstFromCluster).toBe(0);
    expect(streams.peerResets()).toEqual({ sndrst: 0, drops: 0, noport: 0 });
    expect(streams.conns.every((c) => c.established && c.echoed === c.sent && c.sent > 0)).toBe(true);
    const st = await client.getStats();
    const tcp = st.total.find((p) => p.protocol === "tcp")?.counters ?? {};
    expect(tcp.sndrst ?? 0).toBe(0);
    expect(tcp.drops ?? 0).toBe(0);
    console.log(`tcp streams: ${streams.conns.length} connections, ${JSON.stringify(streams.bytes)}`);
  });
});
