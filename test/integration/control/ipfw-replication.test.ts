// The ipfw rule set replicated like routes, over a real nats-server (JetStream KV) and real gRPC: changes under load
// leave the same digest on every CPU, a bad rule changes nothing, a CPU that joins later gets the set, and the
// counters show up in `ipfw show` (summed over the CPUs) and on each CPU's /metrics.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { status, type ServiceError } from "@grpc/grpc-js";
import { buildUdpPacket, ipPacketHash } from "@dfly/core";
import { ControlClient, InterfaceMode, IpfwClient, startControl, type ControlHandle } from "@dfly/control";
import { startNetisr, type NetisrHandle } from "@dfly/netisr";
import { FrameBatchWriter, NatsTransport, subjects } from "@dfly/transport";
import { freePort, startNatsProcess, type NatsProcess } from "../../support/nats-process.js";

const CLUSTER = "ipfwrep";

async function until(f: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("ipfw rules replicated over nats-server + gRPC", () => {
  let nats: NatsProcess;
  const transports: NatsTransport[] = [];
  let control: ControlHandle;
  let client: ControlClient;
  let ipfw: IpfwClient;
  const cpus: NetisrHandle[] = [];
  let load: NodeJS.Timeout | undefined;

  const conn = async (name: string) => {
    const t = await NatsTransport.connect({ url: nats.url, name });
    transports.push(t);
    return t;
  };
  const startCpu = async (cpu: number) => {
    const h = await startNetisr({ transport: await conn(`cpu${cpu}`), cluster: CLUSTER, cpu, controlAddr: control.grpcAddr, metricsPort: 0, tcp: false });
    await h.whenReady();
    cpus.push(h);
    return h;
  };

  beforeAll(async () => {
    nats = await startNatsProcess();
    const t = await conn("control");
    control = await startControl({ transport: t, cluster: CLUSTER, grpcPort: await freePort(), heartbeatMs: 200, cpuTimeoutMs: 1500, applyTimeoutMs: 2000 });
    client = new ControlClient(control.grpcAddr);
    ipfw = new IpfwClient(control.grpcAddr);
    await client.registerInterface({ ifname: "ix0", model: "82599", mode: InterfaceMode.INTERFACE_MODE_INTERRUPT, rings: 2, unit: 0, addresses: ["192.0.2.2/24"], pollhz: 0, redirectEntries: 0 });
    for (const cpu of [0, 1]) await startCpu(cpu);
    // Load: UDP frames to this host on both RX rings, every 5 ms, until the suite ends.
    const lt = await conn("load");
    let n = 0;
    load = setInterval(() => {
      for (let ring = 0; ring < 2; ring++) {
        const w = new FrameBatchWriter(64 * 1024);
        for (let i = 0; i < 32; i++) {
          const f = buildUdpPacket({ src: (0xc6336400 + (n++ & 255)) >>> 0, dst: 0xc0000202, sport: 1000 + (n & 1023), dport: 9, payload: new Uint8Array(8) });
          w.buffer.set(f, w.reserve(f.length, ipPacketHash(f), 0));
        }
        lt.publish(subjects.rx(CLUSTER, "ix0", ring), w.take());
      }
    }, 5);
  }, 60_000);

  afterAll(async () => {
    if (load) clearInterval(load);
    for (const c of cpus) await c.stop().catch(() => undefined);
    ipfw?.close();
    client?.close();
    await control?.stop(1000);
    for (const t of transports) await t.close().catch(() => undefined);
    await nats?.stop();
  });

  it("every change under load returns with the same digest on every CPU", async () => {
    const changes: (() => Promise<{ digest: string; appliedCpus: number[] }>)[] = [
      () => ipfw.add(["100 check-state"]),
      () => ipfw.tableAdd("lab", ["198.51.100.0/24", "203.0.113.7"]),
      () => ipfw.add(["200 count udp from table(lab) to any", "300 allow udp from any to me 9 keep-state", "400 deny tcp from any to any 23"]),
      () => ipfw.add(["skipto 900 icmp from any to any"]),
      () => ipfw.delete([400]),
      () => ipfw.add(["500 allow tcp from any to any setup limit src-addr 8"]),
    ];
    for (const c of changes) {
      const r = await c();
      expect(r.appliedCpus.sort()).toEqual([0, 1]);
      const v = await ipfw.verify();
      expect(v.consistent).toBe(true);
      expect(v.cpus.map((x) => x.digest)).toEqual([r.digest, r.digest]);
    }
    const l = await ipfw.list(false);
    expect(l.rules.map((r) => r.rule)).toEqual([
      "00100 check-state",
      "00200 count udp from table(lab) to any",
      "00300 allow udp from any to me 9 keep-state",
      // Numbered last + 100 when added (after 400); rules of one number keep the order they came in (ipfw's).
      "00500 skipto 900 icmp from any to any",
      "00500 allow tcp from any to any tcpflags syn,!ack limit src-addr 8",
    ]);
  });

  it("a bad rule is one INVALID_ARGUMENT and nothing changes", async () => {
    const before = await ipfw.list(false);
    for (const bad of [["700 allow tcp from any to any frob"], ["800 skipto 100 ip from any to any"], ["900 deny ip from table(nope) to any"], ["950 deny ip from any to any recv ix7"], ["960 allow ip from any to any", "bogus"]]) {
      const e = (await ipfw.add(bad).then(
        () => undefined,
        (x: unknown) => x,
      )) as ServiceError;
      expect(e?.code).toBe(status.INVALID_ARGUMENT);
      expect(e.details).toMatch(/ipfw rule/);
    }
    const e = (await ipfw.delete([4242]).then(
      () => undefined,
      (x: unknown) => x,
    )) as ServiceError;
    expect(e?.code).toBe(status.NOT_FOUND);
    const after = await ipfw.list(false);
    expect(after.revision).toBe(before.revision);
    expect(after.digest).toBe(before.digest);
    expect((await ipfw.verify()).consistent).toBe(true);
  });

  it("a CPU that starts later gets the whole set; show sums the CPUs' counters; /metrics has them", async () => {
    await startCpu(2);
    await until(async () => {
      const v = await ipfw.verify();
      return v.consistent && v.cpus.length === 3;
    });
    await until(async () => ((await ipfw.list(true)).rules.find((r) => r.number === 300)?.packets ?? 0) > 0);
    const l = await ipfw.list(true);
    expect(l.cpus.map((c) => c.cpu).sort()).toEqual([0, 1, 2]);
    expect(l.cpus.reduce((n, c) => n + c.crossCpuLookups, 0)).toBe(0);
    const r300 = l.rules.find((r) => r.number === 300)!;
    const states = l.cpus.reduce((n, c) => n + c.states, 0);
    expect(states).toBeGreaterThan(0);
    const body = await (await fetch(`http://${cpus[0].metricsAddr}/metrics`)).text();
    expect(body).toMatch(/dfly_ipfw_rule_packets_total\{cpu="0",rule="300"\} \d+/);
    expect(body).toMatch(/dfly_ipfw_states\{cpu="0"\} \d+/);
    expect(body).toMatch(new RegExp(`dfly_ipfw_digest_info\\{cpu="0",digest="${l.digest}"\\} 1`));
    expect(r300.packets).toBeGreaterThan(0);
  }, 30_000);

  it("flush empties rules, tables and states on every CPU", async () => {
    const r = await ipfw.flush();
    expect(r.appliedCpus.sort()).toEqual([0, 1, 2]);
    const l = await ipfw.list(true);
    expect(l.rules.map((x) => x.number)).toEqual([65535]);
    expect(l.tables).toEqual([]);
    expect(l.cpus.every((c) => c.states === 0)).toBe(true);
  });
});
