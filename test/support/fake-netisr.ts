/**
 * A fake netisr CPU for control-plane tests: it subscribes to its port, lets the
 * real ControlAgent handle control netmsgs, and holds a real core RouteTable.
 * `mode` "silent" swallows route changes (a hung CPU), "refuse" answers them
 * with an error.
 */
import { RouteTable } from "@dfly/core";
import { ControlAgent } from "@dfly/control";
import { subjects, type Transport } from "@dfly/transport";
import { NetmsgType, encodeNetmsg, decodeNetmsg, netmsgType, type TopologyMsg } from "@dfly/wire";

export interface FakeCpu {
  cpu: number;
  routes: RouteTable;
  agent: ControlAgent;
  topologies: TopologyMsg[];
  stats: Record<string, Record<string, number>>;
  mode: "ok" | "silent" | "refuse";
  /** Deregisters and unsubscribes. */
  stop(): Promise<void>;
  /** Gone without a word (as kill -9): unsubscribes, stops heartbeats, no deregistration. */
  crash(): Promise<void>;
}

export async function startFakeCpu(o: {
  cpu: number;
  transport: Transport;
  controlAddr: string;
  cluster?: string;
  mode?: FakeCpu["mode"];
  wait?: boolean;
}): Promise<FakeCpu> {
  const routes = new RouteTable();
  const topologies: TopologyMsg[] = [];
  const fake: FakeCpu = {
    cpu: o.cpu,
    routes,
    topologies,
    stats: { ip: { total: 10 * (o.cpu + 1), forward: o.cpu + 1 }, icmp: { error: o.cpu } },
    mode: o.mode ?? "ok",
    agent: undefined as unknown as ControlAgent,
    stop: async () => {},
    crash: async () => {},
  };
  const agent = new ControlAgent({
    cpu: o.cpu,
    transport: o.transport,
    controlAddr: o.controlAddr,
    routes,
    ...(o.cluster ? { cluster: o.cluster } : {}),
    getStats: () => fake.stats,
    onTopology: (t) => topologies.push(t),
    retryMs: 100,
  });
  fake.agent = agent;
  const sub = o.transport.subscribe(subjects.ctl(o.cluster ?? "dfly", o.cpu), (m) => {
    const t = netmsgType(m.data);
    if ((t === NetmsgType.routeAdd || t === NetmsgType.routeDelete) && fake.mode !== "ok") {
      if (fake.mode === "refuse") {
        const d = decodeNetmsg(m.data);
        if (typeof d !== "string" && "id" in d) m.respond(encodeNetmsg.reply(d.id, false, undefined, "refused by test"));
      }
      return;
    }
    agent.handleNetmsg(m);
  });
  await o.transport.flush();
  fake.stop = async () => {
    sub.unsubscribe();
    await agent.stop();
  };
  fake.crash = async () => {
    sub.unsubscribe();
    await agent.stop(false);
  };
  if (o.wait !== false) await agent.start();
  else void agent.start();
  return fake;
}
