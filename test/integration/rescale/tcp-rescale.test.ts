/**
 * Live rescale with long-lived TCP connections (issue 5 item 3, DESIGN.md §4 invariant 6):
 * netisr CPUs (each on its own transport connection, in this process), a real gRPC control,
 * the NIC, a peer host on ix0's wire and a program using sockets over the CPUs' ports. Data
 * flows both ways on every connection while the CPUs go 3 → 4 → 2:
 *
 *   - scale up: connections stay where they live; the new owners redispatch their segments
 *     there (home entries), nothing is handed over;
 *   - scale down: CPUs 3 and 2 drain together (as a StatefulSet deletes its highest pods in
 *     parallel), each handing its connections' full state to the CPU that will own them, then
 *     deregister; the program's sockets follow (MOVED) and keep working.
 *
 * Judged by: every echoed byte equals what was sent, no RST on the wire toward the peer, no
 * reset counted by either end, no socket error on either side, the topology epoch advanced
 * at each step, the new CPU holding every route, and the rescale counters showing which
 * mechanism carried the connections. One variant runs the bus over a real nats-server.
 */
import { afterEach, describe, expect, it } from "vitest";
import { startControl } from "@dfly/control";
import { nicInterfaceSpec, startNic } from "@dfly/nic";
import { startNetisr, type DrainReport, type NetisrHandle } from "@dfly/netisr/internal";
import { createTransport, InprocHub, type Transport } from "@dfly/transport";
import { StreamWorkload, until } from "../../support/tcp-streams.js";
import { startNatsProcess } from "../../support/nats-process.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f().catch(() => undefined);
});

interface Cluster {
  control: Awaited<ReturnType<typeof startControl>>;
  cpus: Map<number, NetisrHandle>;
  transport: Transport;
  newTransport(name: string): Promise<Transport>;
  startCpu(cpu: number): Promise<NetisrHandle>;
}

async function cluster(kind: "inproc" | "nats", cluster: string): Promise<Cluster> {
  let newTransport: (name: string) => Promise<Transport>;
  if (kind === "inproc") {
    const hub = new InprocHub();
    cleanups.push(async () => hub.close());
    newTransport = async () => hub.connect();
  } else {
    const nats = await startNatsProcess();
    cleanups.push(() => nats.stop());
    newTransport = (name) => createTransport({ natsUrl: nats.url, name });
  }
  const transport = await newTransport("test");
  cleanups.push(() => transport.close());
  const control = await startControl({
    transport,
    cluster,
    grpcPort: 0,
    heartbeatMs: 300,
    interfaces: [nicInterfaceSpec({ ifname: "ix0", model: "82599", mode: "interrupt" })],
  });
  cleanups.push(() => control.stop(500));
  await control.parts.routes.add({ prefix: "198.18.0.0/24", ifname: "ix0" });
  const nicT = await newTransport("nic");
  cleanups.push(() => nicT.close());
  const nic = await startNic({ transport: nicT, cluster, specs: [nicInterfaceSpec({ ifname: "ix0", model: "82599", mode: "interrupt" })], controlAddr: control.grpcAddr });
  cleanups.push(() => nic.stop());
  const cpus = new Map<number, NetisrHandle>();
  const startCpu = async (cpu: number) => {
    const t = await newTransport(`netisr-${cpu}`);
    const h = await startNetisr({
      transport: t,
      cluster,
      cpu,
      controlAddr: control.grpcAddr,
      tcp: { rescale: { graceMs: 1500, drainMs: 5000 } },
      lingerMs: 300,
    });
    cpus.set(cpu, h);
    cleanups.push(async () => {
      await h.stop();
      await t.close();
    });
    await h.whenReady();
    return h;
  };
  return { control, cpus, transport, newTransport, startCpu };
}

/** Every live CPU runs `epoch`. */
async function epochEverywhere(c: Cluster, epoch: number): Promise<void> {
  await until(() => [...c.cpus.values()].every((h) => h.service.netisr.epoch === epoch), `every CPU at epoch ${epoch}`, 10_000, () =>
    [...c.cpus.entries()].map(([id, h]) => `${id}:${h.service.netisr.epoch}`).join(" "),
  );
}

/** Sum of a TCP counter over the given CPUs. */
function tcpSum(hs: Iterable<NetisrHandle>, name: string): number {
  let n = 0;
  for (const h of hs) n += h.tcp?.statsBody().tcp?.[name] ?? 0;
  return n;
}

async function scenario(kind: "inproc" | "nats"): Promise<void> {
  const name = `rescale${kind}`;
  const c = await cluster(kind, name);
  for (const cpu of [0, 1, 2]) await c.startCpu(cpu);
  const e0 = c.control.parts.cluster.epoch;
  await epochEverywhere(c, e0);
  const w = await StreamWorkload.start({ transport: c.transport, cluster: name, controlAddr: c.control.grpcAddr });
  cleanups.push(() => w.stop());
  w.openOut(6);
  w.openIn(8);
  await w.progress(4000);
  const all = new Map(c.cpus); // every CPU that ever ran (counters of the ones that left too)

  // ---- 3 → 4: CPU 3 joins; nothing moves, the new owners redispatch.
  const h3 = await c.startCpu(3);
  all.set(3, h3);
  const e1 = c.control.parts.cluster.epoch;
  expect(e1).toBeGreaterThan(e0);
  await epochEverywhere(c, e1);
  expect(h3.service.routes.size).toBe(c.control.parts.routes.size);
  await w.progress(4000);
  const redispatchedUp = [...all.values()].reduce((n, h) => n + h.tcp!.rescale.stats.redispatched, 0);
  const foreign = [...all.values()].reduce((n, h) => n + h.tcp!.rescale.foreign.size, 0);
  expect(redispatchedUp).toBeGreaterThan(0);
  expect(foreign).toBeGreaterThan(0);
  expect([...all.values()].reduce((n, h) => n + h.tcp!.rescale.stats.handoverOut, 0)).toBe(0);
  // New connections after the change: the NIC spreads them over all four CPUs (a few more
  // until the new CPU holds at least two, so that its drain has something to hand over).
  w.openOut(2);
  const conns = (cpu: number) => c.cpus.get(cpu)!.tcp!.host!.pcb.pcbinfo[cpu].connCount;
  for (let i = 0; i < 6 && (i === 0 || conns(3) < 2); i++) {
    w.openIn(4);
    await w.progress(2000);
  }
  expect(conns(3)).toBeGreaterThanOrEqual(2);
  const onLeaving = [2, 3].reduce((n, cpu) => n + (c.cpus.get(cpu)!.tcp!.host!.pcb.pcbinfo[cpu].connCount ?? 0), 0);
  expect(onLeaving).toBeGreaterThan(0);

  // ---- 4 → 2: CPUs 3 and 2 drain together, hand over, deregister, stop.
  const t0 = performance.now();
  const reports = (await Promise.all([3, 2].map((cpu) => c.cpus.get(cpu)!.drain()))) as DrainReport[];
  const drainMs = performance.now() - t0;
  for (const cpu of [3, 2]) {
    await c.cpus.get(cpu)!.stop();
    c.cpus.delete(cpu);
  }
  const e2 = c.control.parts.cluster.epoch;
  expect(e2).toBeGreaterThan(e1);
  expect(c.control.parts.cluster.liveCpus()).toEqual([0, 1]);
  await epochEverywhere(c, e2);
  const handedOver = reports.reduce((n, r) => n + r.handedOver, 0);
  expect(handedOver).toBeGreaterThanOrEqual(onLeaving);
  expect(reports.every((r) => r.failed === 0)).toBe(true);
  await w.progress(4000);

  await w.finish();
  const survivors = [...c.cpus.values()];
  const figures = {
    kind,
    epochs: [e0, e1, e2],
    connections: w.conns.length,
    bytes: w.bytes,
    redispatchedAfterScaleUp: redispatchedUp,
    foreignEntriesAfterScaleUp: foreign,
    redispatchedTotal: [...all.values()].reduce((n, h) => n + h.tcp!.rescale.stats.redispatched, 0),
    held: [...all.values()].map((h) => `${h.tcp!.cpu}:${h.tcp!.rescale.stats.held}/${h.tcp!.rescale.stats.heldReleased}/${h.tcp!.rescale.stats.heldExpired}`),
    handedOver,
    handoverIn: survivors.map((h) => h.tcp!.rescale.stats.handoverIn),
    chased: [...all.values()].reduce((n, h) => n + h.tcp!.rescale.stats.chased, 0),
    drains: reports.map((r) => ({ handedOver: r.handedOver, rounds: r.rounds, batches: r.batches, maxBatchMs: Math.round(r.maxBatchMs), ms: r.ms })),
    drainWallMs: Math.round(drainMs),
  };
  console.log(`rescale figures: ${JSON.stringify(figures)}`);

  // Nothing was reset, by anyone; every byte came back as sent.
  expect(w.errors).toEqual([]);
  expect(w.rstFromCluster).toBe(0);
  expect(w.peerResets()).toEqual({ sndrst: 0, drops: 0, noport: 0 });
  expect(tcpSum(all.values(), "sndrst")).toBe(0);
  expect(tcpSum(all.values(), "drops")).toBe(0);
  expect(w.conns.every((x) => x.echoed === x.sent && x.sent > 12_000)).toBe(true);
  // Every hand-over was installed somewhere; the survivors ended up with all of them.
  expect([...all.values()].reduce((n, h) => n + h.tcp!.rescale.stats.handoverIn, 0)).toBe(handedOver);
  expect(survivors.reduce((n, h) => n + h.tcp!.rescale.stats.handoverIn, 0)).toBeGreaterThanOrEqual(onLeaving);
  expect(survivors.reduce((n, h) => n + h.tcp!.rescale.stats.handoverInFailed, 0)).toBe(0);
}

describe("live rescale keeps every TCP connection", () => {
  it("3 → 4 → 2 CPUs over the in-process bus: redispatch on scale-up, hand-over on scale-down, zero resets, data intact", async () => {
    await scenario("inproc");
  }, 90_000);

  it("the same over a real nats-server", async () => {
    await scenario("nats");
  }, 90_000);
});
