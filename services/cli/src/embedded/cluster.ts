/**
 * Embedded mode: every part in this one process. The control (real gRPC on 127.0.0.1, an
 * in-memory KV) and the NIC run in the main thread; each netisr CPU runs in its own
 * worker_thread; all of them talk over the in-process transport (InprocHub), so ring
 * batches cross threads as transferred buffers, never copied per packet.
 *
 * The CPUs register with the control through their agents like pods would, the NIC
 * registers its interfaces and follows the topology, routes go through the control's route
 * service (applied on every CPU before `addRoute` returns).
 */
import { startControl, type ControlHandle, type RouteChangeResult } from "@dfly/control";
import { nicInterfaceSpec, startNic, type IfnetConfig, type ImpairConfig, type NicHandle, type ModerationConfig, type TunWireSpec } from "@dfly/nic";
import type { NetisrSnapshot, NetisrWorkerData, ProgramSpec } from "@dfly/netisr";
import type { ListenerPolicy } from "@dfly/core";
import { createTransport, InprocHub, type Transport } from "@dfly/transport";
import { type RouteSpec } from "@dfly/wire";
import { CpuWorker } from "./workers.js";

export interface EmbeddedOptions {
  cpus: number;
  cluster?: string;
  /** Interfaces the NIC emulates (default ix0 and ix1, 82599, interrupt mode). */
  interfaces?: IfnetConfig[];
  moderation?: Partial<ModerationConfig>;
  /** Wire-out impairments of the NIC (loss, delay, reordering). */
  impair?: ImpairConfig;
  /** Interfaces whose wire is a TUN device (`dfly run --tun`). */
  wires?: ReadonlyMap<string, TunWireSpec>;
  /** Routes added through the control before the CPUs start. */
  routes?: RouteSpec[];
  ifpoll?: { pollhz?: number; burstMax?: number; eachBurst?: number };
  rxd?: number;
  /** Per-CPU /metrics on free ports (default off). */
  metrics?: boolean;
  /** TCP on every CPU (startNetisr's `tcp`). */
  tcp?: NetisrWorkerData["tcp"];
  /** Programs each CPU runs in its thread once ready (e.g. an httpd worker). */
  programs?: ProgramSpec[];
  /** The control's default SO_REUSEPORT close policy. */
  listenerPolicy?: ListenerPolicy;
  /** Run the bus over this NATS server (JetStream on) instead of in-process; each worker connects itself. */
  natsUrl?: string;
  log?: (s: string) => void;
}

export class EmbeddedError extends Error {
  override readonly name = "EmbeddedError";
}

export const DEFAULT_INTERFACES: IfnetConfig[] = [
  { ifname: "ix0", model: "82599", mode: "interrupt" },
  { ifname: "ix1", model: "82599", mode: "interrupt" },
];

export class EmbeddedCluster {
  readonly cluster: string;
  readonly hub: InprocHub;
  readonly transport: Transport;
  readonly control: ControlHandle;
  readonly nic: NicHandle;
  readonly workers: CpuWorker[];
  readonly metricsAddrs: (string | undefined)[];

  private constructor(p: {
    cluster: string;
    hub: InprocHub;
    transport: Transport;
    control: ControlHandle;
    nic: NicHandle;
    workers: CpuWorker[];
    metricsAddrs: (string | undefined)[];
  }) {
    this.cluster = p.cluster;
    this.hub = p.hub;
    this.transport = p.transport;
    this.control = p.control;
    this.nic = p.nic;
    this.workers = p.workers;
    this.metricsAddrs = p.metricsAddrs;
  }

  static async start(o: EmbeddedOptions): Promise<EmbeddedCluster> {
    if (!Number.isInteger(o.cpus) || o.cpus < 1 || o.cpus > 128) throw new EmbeddedError(`--cpus ${o.cpus}: want 1..128`);
    const log = o.log ?? (() => undefined);
    const cluster = o.cluster ?? "dfly";
    const hub = new InprocHub();
    const transport = o.natsUrl ? await createTransport({ natsUrl: o.natsUrl, name: "dfly-embedded" }) : await hub.connect();
    const specs = (o.interfaces ?? DEFAULT_INTERFACES).map(nicInterfaceSpec);
    const control = await startControl({
      transport,
      cluster,
      grpcHost: "127.0.0.1",
      grpcPort: 0,
      interfaces: specs,
      cpuTimeoutMs: 10_000,
      ...(o.listenerPolicy ? { listenerPolicy: o.listenerPolicy } : {}),
    });
    log(`control: gRPC ${control.grpcAddr}`);
    const workers: CpuWorker[] = [];
    let nic: NicHandle | undefined;
    try {
      for (const r of o.routes ?? []) await control.parts.routes.add(r);
      nic = await startNic({ transport, cluster, specs, controlAddr: control.grpcAddr, ...(o.moderation ? { moderation: o.moderation } : {}), ...(o.impair ? { impair: o.impair } : {}), ...(o.wires ? { wires: o.wires, log } : {}) });
      for (let cpu = 0; cpu < o.cpus; cpu++) {
        const link = o.natsUrl ? undefined : hub.link();
        workers.push(
          new CpuWorker(
            {
              cpu,
              cluster,
              ...(link ? { link } : { natsUrl: o.natsUrl }),
              controlAddr: control.grpcAddr,
              ...(o.metrics ? { metricsPort: 0 } : {}),
              ...(o.ifpoll ? { ifpoll: o.ifpoll } : {}),
              ...(o.rxd !== undefined ? { rxd: o.rxd } : {}),
              ...(o.tcp !== undefined ? { tcp: o.tcp } : {}),
              ...(o.programs ? { programs: o.programs } : {}),
            },
            link?.transferList ?? [],
          ),
        );
      }
      const started = await Promise.all(workers.map((w) => w.started));
      await Promise.all(workers.map((w) => w.ready));
      log(`netisr: ${o.cpus} CPUs registered`);
      const c = new EmbeddedCluster({ cluster, hub, transport, control, nic, workers, metricsAddrs: started.map((s) => s.metricsAddr) });
      await c.converged();
      return c;
    } catch (err) {
      await Promise.all(workers.map((w) => w.stop(500)));
      await nic?.stop();
      await control.stop(500);
      await transport.close();
      hub.close();
      throw err;
    }
  }

  /** The control's current topology epoch. */
  get epoch(): number {
    return this.control.parts.cluster.epoch;
  }

  /**
   * Waits until the NIC and every CPU steer by the control's current topology (so the
   * ring → CPU map the NIC uses is the one the CPUs subscribed to). Throws after `timeoutMs`.
   */
  async converged(timeoutMs = 15_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const epoch = this.epoch;
      const snaps = await this.snapshots();
      const cpus = this.control.parts.cluster.liveCpus().length;
      if (cpus === this.workers.length && this.nic.epoch() === epoch && snaps.every((s) => s !== undefined && s.epoch === epoch)) return;
      if (Date.now() > end) {
        throw new EmbeddedError(
          `topology did not converge in ${timeoutMs} ms: control epoch ${epoch} with ${cpus} CPUs, NIC ${this.nic.epoch()}, CPUs ${snaps.map((s) => s?.epoch).join(",")}`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * Waits (at most `maxMs`) until no CPU is in a grace period: each topology change starts one
   * (live rescale holds segments of connections that may live elsewhere), so a measured run
   * starts after it. `onWait` hears each wait, in ms.
   */
  async graceOver(maxMs = 10_000, onWait?: (ms: number) => void): Promise<void> {
    const settleBy = performance.now() + maxMs;
    for (;;) {
      const left = (await Promise.all(this.workers.map((w) => w.snapshot<{ rescale?: Record<string, number> }>()))).map((s) => s?.rescale?.grace_ms_left ?? 0);
      const wait = Math.max(...left);
      if (wait <= 0 || performance.now() > settleBy) return;
      onWait?.(wait);
      await new Promise((r) => setTimeout(r, Math.min(wait + 5, 500)));
    }
  }

  snapshots(): Promise<(NetisrSnapshot | undefined)[]> {
    return Promise.all(this.workers.map((w) => w.snapshot()));
  }

  /** Adds a route through the control (applied on every live CPU before it returns). */
  addRoute(r: RouteSpec): Promise<RouteChangeResult> {
    return this.control.parts.routes.add(r);
  }

  async stop(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.stop()));
    await this.nic.stop();
    await this.control.stop(1000);
    await this.transport.close();
    this.hub.close();
  }
}
