/** A whole netisr CPU: `NetisrService`, its `ControlAgent` and /metrics (fixed topology and routes without a control address). */
import type { Server } from "node:http";
import { RouteTable, trace, TraceArea, type ListenerPolicy, type TcpConfig } from "@dfly/core";
import { ControlAgent, ControlClient } from "@dfly/control";
import type { Transport } from "@dfly/transport";
import { routeAttrsOf, type RouteSpec, type TopologyMsg } from "@dfly/wire";
import type { Registry } from "prom-client";
import type { IopollOptions } from "./ifpoll.js";
import { netisrMetrics, serveNetisrMetrics } from "./metrics.js";
import { NetisrService } from "./service.js";
import { TcpNetisr } from "./tcp_netisr.js";
import { tcpMetrics } from "./tcp_metrics.js";
import type { DrainReport, TcpRescaleOptions } from "./tcp_rescale.js";
import { rescaleMetrics } from "./tcp_rescale_metrics.js";
import { NetisrSysctl } from "./sysctl.js";
import type { IfStatLayout } from "./if_stats.js";
import { IpfwHook, type IpfwHookOptions } from "./ip_fw.js";
import { ipfwMetrics } from "./ip_fw_metrics.js";
import { registerIpfwPort } from "./ip_fw_port.js";
import { UdpNetisr } from "./udp_netisr.js";

export interface StartNetisrOptions {
  transport: Transport;
  cluster: string;
  cpu: number;
  /** Control gRPC host:port. Absent: `topology` and `routes` are used as given. */
  controlAddr?: string;
  topology?: TopologyMsg;
  routes?: readonly RouteSpec[];
  /** /metrics port (0 = any free one); undefined = no HTTP server. */
  metricsPort?: number;
  metricsHost?: string;
  /** Address reported to the control for scraping (default `<metricsHost or 127.0.0.1>:<port>`). */
  metricsAdvertise?: string;
  ifpoll?: IopollOptions;
  rxd?: number;
  icmplim?: number;
  /** ifnet's per-packet counters, per CPU or shared (if_stats.ts). */
  ifstat?: IfStatLayout;
  /** TCP and sockets on this CPU (tcp_netisr.ts); false turns them off. */
  tcp?: { config?: Partial<TcpConfig>; somaxconn?: number; policy?: ListenerPolicy; tickMs?: number; rescale?: TcpRescaleOptions; listenerSyncMs?: number; listenerSyncDeadlineMs?: number } | false;
  /** After the drain's deregistration, how long the CPU keeps forwarding and serving /metrics for a last scrape (default 500 ms). */
  lingerMs?: number;
  /** The firewall's per-CPU state table size (and, for the benchmark, a state table shared by every CPU's thread). */
  ipfw?: IpfwHookOptions;
}

export interface NetisrDrainOptions {
  /** Aborted: the linger ends at once (a second SIGTERM); aborted before it starts, there is none. */
  signal?: AbortSignal;
  /** Called once the connections are handed over and the CPU has deregistered, before the linger. */
  drained?(report: DrainReport | undefined, lingerMs: number): void;
}

export interface NetisrHandle {
  readonly service: NetisrService;
  readonly agent: ControlAgent | undefined;
  /** TCP on this CPU (undefined when turned off). */
  readonly tcp: TcpNetisr | undefined;
  /** UDP on this CPU: its udbinfo and udpstat. */
  readonly udp: UdpNetisr;
  readonly registry: Registry;
  readonly metricsAddr: string | undefined;
  /** Registered with control and holding the current route table (or static config loaded). */
  ready(): boolean;
  /** Resolves when ready (the agent keeps retrying while the control is unreachable). */
  whenReady(): Promise<void>;
  /** Leaving: not ready, hands every connection over, deregisters, lingers `lingerMs` (or until `o.signal`); `stop()` afterwards. */
  drain(o?: NetisrDrainOptions): Promise<DrainReport | undefined>;
  stop(): Promise<void>;
}

export class NetisrStartError extends Error {
  override readonly name = "NetisrStartError";
}

export async function startNetisr(o: StartNetisrOptions): Promise<NetisrHandle> {
  if (o.controlAddr === undefined && o.topology === undefined) {
    throw new NetisrStartError(`netisr ${o.cpu}: needs a control address or a fixed topology`);
  }
  const routes = new RouteTable();
  // Until the control's topology arrives this CPU owns no ring (only its port).
  const placeholder: TopologyMsg = { epoch: 0, cpus: [o.cpu], interfaces: [], rssKey: "" };
  let agent: ControlAgent | undefined;
  let tcp: TcpNetisr | undefined;
  let udp: UdpNetisr | undefined = undefined;
  const service: NetisrService = new NetisrService({
    transport: o.transport,
    cluster: o.cluster,
    cpu: o.cpu,
    topology: o.topology ?? placeholder,
    routes,
    ...(o.ifpoll ? { ifpoll: o.ifpoll } : {}),
    ...(o.rxd !== undefined ? { rxd: o.rxd } : {}),
    ...(o.icmplim !== undefined ? { icmplim: o.icmplim } : {}),
    ...(o.ifstat ? { ifstat: o.ifstat } : {}),
    // TCP segments to TCP (when on), UDP datagrams to this CPU's udbinfo.
    localInput: (p, b, off, hl, len, hash) => (tcp ? tcp.localInput(p, b, off, hl, len, hash) : false) || (udp ? udp.localInput(p, b, off, hl, len, hash) : false),
    ...(o.tcp !== false ? { ctlInput: (q, hash) => tcp?.ctlInput(q, hash) } : {}),
    ...(o.controlAddr !== undefined
      ? {
          onControl: (m) => {
            if (agent && !agent.handleNetmsg(m)) service.badPortMsgs++;
          },
        }
      : {}),
  });
  udp = new UdpNetisr(service.netisr);
  if (o.tcp !== false) {
    const t = o.tcp ?? {};
    tcp = new TcpNetisr({
      transport: o.transport,
      cluster: o.cluster,
      cpu: o.cpu,
      netisr: service.netisr,
      ...(t.config ? { config: t.config } : {}),
      ...(t.somaxconn !== undefined ? { somaxconn: t.somaxconn } : {}),
      ...(t.policy ? { policy: t.policy } : {}),
      ...(t.tickMs !== undefined ? { tickMs: t.tickMs } : {}),
      ...(t.rescale ? { rescale: t.rescale } : {}),
      ...(t.listenerSyncMs !== undefined ? { listenerSyncMs: t.listenerSyncMs } : {}),
      ...(t.listenerSyncDeadlineMs !== undefined ? { listenerSyncDeadlineMs: t.listenerSyncDeadlineMs } : {}),
      ...(o.controlAddr !== undefined ? { controlAddr: o.controlAddr } : {}),
    });
    tcp.registerPort(service.port);
    tcp.start();
    tcp.rescale.onTopology();
  }
  if (o.controlAddr === undefined) for (const r of o.routes ?? []) routes.add(r.prefix, routeAttrsOf(r));
  const ipfw = new IpfwHook(service.netisr, o.ipfw);
  service.netisr.ipfw = ipfw;
  const ipfwPort = registerIpfwPort(service.port, ipfw);
  tcp?.rescale.setIpfw(ipfw);

  const sysctl = new NetisrSysctl(service.netisr, tcp);
  service.port.register(["sysctlSet", "sysctlGet"], (m) => sysctl.handle(m));
  // A CPU that (re)registers loads the stored sysctls before it reports ready.
  let sysctlLoaded = o.controlAddr === undefined;
  let sysctlClient: ControlClient | undefined;
  let stopped = false;
  const sysctlWaiters: (() => void)[] = [];
  const sysctlSync = async (): Promise<void> => {
    sysctlClient ??= new ControlClient(o.controlAddr!, 5000);
    while (!stopped) {
      try {
        const l = await sysctlClient.listSysctl();
        sysctl.apply(Object.fromEntries(l.settings.map((x) => [x.name, { value: x.value, revision: x.revision }])));
      } catch (err) {
        if ((err as { code?: unknown }).code !== undefined) {
          await new Promise((r) => setTimeout(r, 500));
          continue;
        }
        console.error(`netisr ${o.cpu}: stored sysctls not applied: ${(err as Error).message}`);
      }
      sysctlLoaded = true;
      for (const w of sysctlWaiters.splice(0)) w();
      return;
    }
  };
  const registry = netisrMetrics(service);
  ipfwMetrics(registry, o.cpu, ipfw, ipfwPort);
  if (tcp) {
    tcpMetrics(registry, tcp);
    rescaleMetrics(registry, o.cpu, tcp.rescale);
  }
  let http: Server | undefined;
  let metricsAddr: string | undefined;
  let leaving = false;
  const ready = () => !leaving && (agent ? agent.ready && sysctlLoaded : true);
  const host = o.metricsHost ?? "127.0.0.1";
  if (o.metricsPort !== undefined) {
    http = await serveNetisrMetrics(registry, host, o.metricsPort, ready);
    const a = http.address();
    if (a && typeof a === "object") metricsAddr = `${host === "0.0.0.0" ? "127.0.0.1" : host}:${a.port}`;
  }

  if (o.controlAddr !== undefined) {
    agent = new ControlAgent({
      cpu: o.cpu,
      transport: o.transport,
      controlAddr: o.controlAddr,
      routes,
      cluster: o.cluster,
      getStats: () => ({ ...service.statsBody(), ...(tcp?.statsBody() ?? {}), udp: udp!.statsBody(), ...(tcp ? { rescale: tcp.rescale.statsBody() } : {}) }),
      onTopology: (t) => {
        trace(TraceArea.rescale, () => `cpu ${o.cpu}: epoch ${t.epoch}, cpus [${t.cpus.join(",")}]`);
        service.setTopology(t);
        tcp?.rescale.onTopology();
      },
      onRoutes: () => service.netisr.routesChanged(),
      // Back in touch with the control: install the listeners it made meanwhile, close the ones it closed.
      onSync: () => {
        if (tcp) void tcp.reconcileListeners().catch(() => undefined);
        void sysctlSync();
      },
      metricsAddr: o.metricsAdvertise ?? metricsAddr ?? "",
    });
  }
  try {
    await service.start(); // the port exists before the agent registers
  } catch (err) {
    await service.stop();
    http?.close();
    throw err;
  }
  // Registration retries until the control answers; /readyz says when it has.
  void agent?.start().catch(() => undefined);
  return {
    service,
    agent,
    tcp,
    udp: udp!,
    registry,
    metricsAddr,
    ready,
    whenReady: async () => {
      if (agent) await agent.whenReady();
      if (!sysctlLoaded) await new Promise<void>((r) => sysctlWaiters.push(r));
    },
    drain: async (d = {}) => {
      leaving = true;
      const r = tcp ? await tcp.rescale.drain() : undefined;
      await agent?.stop();
      const lingerMs = o.lingerMs ?? 500;
      d.drained?.(r, lingerMs);
      await linger(lingerMs, d.signal);
      return r;
    },
    stop: async () => {
      ipfwPort.stop();
      stopped = true;
      sysctlClient?.close();
      await agent?.stop();
      await tcp?.stop();
      await service.stop();
      if (http) {
        http.closeAllConnections();
        await new Promise<void>((res) => http!.close(() => res()));
      }
    },
  };
}

/** Resolves after `ms`, or as soon as `signal` aborts (at once if it already has). */
function linger(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (ms <= 0 || signal?.aborted) return Promise.resolve();
  return new Promise((res) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      res();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
