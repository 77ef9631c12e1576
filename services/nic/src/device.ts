/**
 * The NIC process's parts assembled: the interfaces' specs registered with the control
 * (ClusterService.RegisterInterface), the topology followed (WatchTopology: every epoch
 * brings a new ring → CPU map and redirection table), the data path (`Nic`) and /metrics.
 * `main.ts` starts one from the environment; the embedded runner and tests start it directly.
 * Without a control address it runs the steering state it is given (benchmarks, tests).
 */
import type { Server } from "node:http";
import { ControlClient } from "@dfly/control";
import type { InterfaceSpecT, InterfaceTopology, TopologyMsg } from "@dfly/wire";
import type { Transport } from "@dfly/transport";
import type { Registry } from "prom-client";
import { ifnetUnsteered } from "./ifnet.js";
import { nicMetrics, serveNicMetrics } from "./metrics.js";
import type { ImpairConfig } from "./impair.js";
import type { ModerationConfig } from "./moderation.js";
import { Nic } from "./nic.js";
import { startTunWire, type TunWire, type TunWireSpec } from "./tunwire.js";
import { trace, TraceArea } from "@dfly/core";

export interface StartNicOptions {
  transport: Transport;
  cluster: string;
  /** The interfaces this NIC process emulates. */
  specs: readonly InterfaceSpecT[];
  /** Control gRPC host:port; absent: `interfaces` is the fixed steering state. */
  controlAddr?: string;
  interfaces?: readonly InterfaceTopology[];
  moderation?: Partial<ModerationConfig>;
  impair?: ImpairConfig;
  maxFrame?: number;
  metricsPort?: number;
  metricsHost?: string;
  /** Retry delay while the control is unreachable (default 500 ms). */
  retryMs?: number;
  /** Interfaces whose wire is a TUN device instead of the wire subjects (tunwire.ts). */
  wires?: ReadonlyMap<string, TunWireSpec>;
  log?: (s: string) => void;
}

export interface NicHandle {
  readonly nic: Nic;
  readonly registry: Registry;
  readonly metricsAddr: string | undefined;
  /** TUN wires by interface name. */
  readonly tunWires: ReadonlyMap<string, TunWire>;
  /** The topology epoch the NIC steers by (0 before the first). */
  epoch(): number;
  /** Registered and holding a topology with CPUs (or fixed steering given). */
  ready(): boolean;
  /** Resolves once a topology with at least `minCpus` CPUs (default 1) is installed. */
  whenSteering(minCpus?: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startNic(o: StartNicOptions): Promise<NicHandle> {
  const names = new Set(o.specs.map((s) => s.ifname));
  const nic = new Nic({
    transport: o.transport,
    cluster: o.cluster,
    interfaces: o.interfaces ?? o.specs.map(ifnetUnsteered),
    ...(o.moderation ? { moderation: o.moderation } : {}),
    ...(o.impair ? { impair: o.impair } : {}),
    ...(o.maxFrame !== undefined ? { maxFrame: o.maxFrame } : {}),
  });
  const tunWires = new Map<string, TunWire>();
  try {
    for (const [ifname, spec] of o.wires ?? []) {
      tunWires.set(
        ifname,
        await startTunWire({
          ...spec,
          transport: o.transport,
          cluster: o.cluster,
          ifname,
          ...(o.impair ? { impair: o.impair } : {}),
          ...(o.maxFrame !== undefined ? { maxFrame: o.maxFrame } : {}),
          ...(o.log ? { log: o.log } : {}),
          drop: (reason, n) => nic.countDrop(ifname, reason, n),
        }),
      );
    }
  } catch (err) {
    for (const w of tunWires.values()) await w.close();
    nic.close();
    throw err;
  }
  let epoch = 0;
  let cpus = o.interfaces ? Math.max(0, ...o.interfaces.flatMap((i) => i.ringToCpu)) + 1 : 0;
  const waiters: { min: number; res: () => void }[] = [];
  const install = (t: TopologyMsg) => {
    if (t.epoch <= epoch) return;
    epoch = t.epoch;
    cpus = t.cpus.length;
    trace(TraceArea.rss, () => `epoch ${t.epoch}: cpus [${t.cpus.join(",")}]; ${t.interfaces.map((i) => `${i.ifname} ring→cpu [${i.ringToCpu.join(",")}]`).join("; ")}`);
    nic.setInterfaces(t.interfaces.filter((i) => names.has(i.ifname)));
    for (const w of waiters.splice(0)) {
      if (cpus >= w.min) w.res();
      else waiters.push(w);
    }
  };
  await o.transport.flush();

  let client: ControlClient | undefined;
  let cancel: (() => void) | undefined;
  let stopped = false;
  let retry: NodeJS.Timeout | undefined;
  const follow = async () => {
    if (stopped || !client) return;
    try {
      for (const s of o.specs) {
        const t = await client.registerInterfaceSpec(s);
        if (t) install(t);
      }
      cancel = client.watchTopologyMsg(
        (t) => install(t),
        () => {
          cancel = undefined;
          if (!stopped) retry = setTimeout(() => void follow(), o.retryMs ?? 500);
        },
      );
    } catch {
      if (!stopped) retry = setTimeout(() => void follow(), o.retryMs ?? 500);
    }
  };
  if (o.controlAddr !== undefined) {
    client = new ControlClient(o.controlAddr, 5000);
    void follow();
  }

  const registry = nicMetrics(nic);
  let http: Server | undefined;
  let metricsAddr: string | undefined;
  const host = o.metricsHost ?? "127.0.0.1";
  const ready = () => (o.controlAddr === undefined ? true : epoch > 0 && cpus > 0);
  if (o.metricsPort !== undefined) {
    http = await serveNicMetrics(registry, host, o.metricsPort, ready);
    const a = http.address();
    if (a && typeof a === "object") metricsAddr = `${host === "0.0.0.0" ? "127.0.0.1" : host}:${a.port}`;
  }
  return {
    nic,
    registry,
    metricsAddr,
    tunWires,
    epoch: () => epoch,
    ready,
    whenSteering: (min = 1) => (cpus >= min && (o.controlAddr === undefined || epoch > 0) ? Promise.resolve() : new Promise((res) => waiters.push({ min, res }))),
    stop: async () => {
      stopped = true;
      if (retry) clearTimeout(retry);
      cancel?.();
      client?.close();
      for (const w of tunWires.values()) await w.close();
      nic.close();
      if (http) {
        http.closeAllConnections();
        await new Promise<void>((res) => http!.close(() => res()));
      }
    },
  };
}
