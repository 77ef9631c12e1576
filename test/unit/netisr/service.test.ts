import { afterEach, describe, expect, it } from "vitest";
import { buildUdpPacket, ipAddr, ipPacketHash, RouteTable } from "@dfly/core";
import { NetisrService } from "@dfly/netisr/internal";
import { decodeFrameBatch, encodeFrameBatch, InprocHub, subjects, type Transport } from "@dfly/transport";
import { encodeNetmsg, NetmsgType, decodeNetmsg, type TopologyMsg } from "@dfly/wire";

const hubs: InprocHub[] = [];
const services: NetisrService[] = [];
afterEach(async () => {
  for (const s of services.splice(0)) await s.stop();
  for (const h of hubs.splice(0)) h.close();
});

const topo = (mode: "interrupt" | "polling"): TopologyMsg => ({
  epoch: 3,
  cpus: [0],
  rssKey: "",
  interfaces: [
    { ifname: "ix0", model: "82599", mode, rings: 1, ringToCpu: [0], redirect: [0], addresses: ["198.18.0.1/24"] },
    { ifname: "ix1", model: "82599", mode, rings: 1, ringToCpu: [0], redirect: [0], addresses: ["198.18.1.1/24"] },
  ],
});

let table: RouteTable | undefined;
function routes(): RouteTable {
  if (!table) {
    table = new RouteTable();
    table.add("198.18.1.0/24", { ifname: "ix1" });
    table.add("10.0.0.0/8", { gateway: "198.18.1.2" });
  }
  return table;
}

async function setup(mode: "interrupt" | "polling", rxd = 1024): Promise<{ svc: NetisrService; t: Transport; out: number[] }> {
  const hub = new InprocHub();
  hubs.push(hub);
  const st = await hub.connect();
  const t = await hub.connect();
  // pollhz 1: the service's own timer does not tick during the test; the test drives the ticks.
  const svc = new NetisrService({ transport: st, cluster: "c", cpu: 0, topology: topo(mode), routes: routes(), ifpoll: { pollhz: 1 }, rxd });
  services.push(svc);
  await svc.start();
  const out: number[] = [];
  t.subscribe(subjects.tx("c", "ix1", 0), (m) => {
    const d = decodeFrameBatch(m.data);
    if (typeof d !== "string") out.push(d.length);
  });
  await t.flush();
  return { svc, t, out };
}

const batch = (n: number) =>
  encodeFrameBatch(
    Array.from({ length: n }, (_, i) => {
      const data = buildUdpPacket({ src: ipAddr("198.18.0.9"), dst: ipAddr(`10.0.${i >> 8}.${i & 255}`), sport: 1000 + i, dport: 9 });
      return { data, hash: ipPacketHash(data) };
    }),
  );
const settle = () => new Promise((r) => setTimeout(r, 20));

describe("NetisrService", () => {
  it("interrupt mode: processes a ring batch when it arrives", async () => {
    const { svc, t, out } = await setup("interrupt");
    t.publish(subjects.rx("c", "ix0", 0), batch(30));
    await settle();
    expect(out).toEqual([30]);
    expect(svc.netisr.stats.ip.forwarded).toBe(30);
  });

  it("polling mode: frames wait in the RX ring; each tick takes at most poll_burst per ring", async () => {
    const { svc, t, out } = await setup("polling");
    t.publish(subjects.rx("c", "ix0", 0), batch(40));
    await settle();
    expect(out).toEqual([]); // nothing before a poll tick
    expect(svc.iopoll.pollBurst).toBe(5);
    svc.pollTick();
    await settle();
    expect(svc.netisr.stats.ip.forwarded).toBe(5);
    svc.pollTick(); // light load: the burst grew to 6
    await settle();
    expect(svc.netisr.stats.ip.forwarded).toBe(11);
    for (let i = 0; i < 10; i++) svc.pollTick();
    await settle();
    expect(svc.netisr.stats.ip.forwarded).toBe(40);
    expect(out.reduce((a, b) => a + b, 0)).toBe(40);
    expect(svc.snapshot().ifpoll.ticks).toBe(12);
  });

  it("polling mode: a full RX descriptor ring drops and counts what does not fit", async () => {
    const { svc, t } = await setup("polling", 64);
    t.publish(subjects.rx("c", "ix0", 0), batch(100));
    await settle();
    expect(svc.netisr.interfaces[0].rxRingDropped[0]).toBe(36);
    for (let i = 0; i < 20; i++) svc.pollTick();
    expect(svc.netisr.stats.ip.forwarded).toBe(64);
  });

  it("answers control netmsgs on its port: route add, digest, stats", async () => {
    const { svc, t } = await setup("interrupt");
    const before = svc.routes.size;
    const r = decodeNetmsg((await t.request(subjects.ctl("c", 0), encodeNetmsg.routeAdd(9, { prefix: "172.16.0.0/12", ifname: "ix1" }, 5))).data);
    expect(typeof r !== "string" && r.type === NetmsgType.reply && r.ok && r.id === 9).toBe(true);
    expect(svc.routes.size).toBe(before + 1);
    const d = decodeNetmsg((await t.request(subjects.ctl("c", 0), encodeNetmsg.digestRequest(10))).data);
    if (typeof d === "string" || d.type !== NetmsgType.reply) throw new Error("no reply");
    expect(d.body).toMatchObject({ digest: svc.routes.digest(), routes: before + 1, revision: 5 });
    const s = decodeNetmsg((await t.request(subjects.ctl("c", 0), encodeNetmsg.statsRequest(11))).data);
    if (typeof s === "string" || s.type !== NetmsgType.reply) throw new Error("no reply");
    expect(s.body).toHaveProperty("ip.forward");
    svc.routes.delete("172.16.0.0/12");
  });
});
