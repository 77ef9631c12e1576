/** `dfly netisr`: one netisr CPU as a process, configured from DFLY_* variables; SIGTERM drains, deregisters, lingers, stops. */
import { DEFAULT_CONTROL_ADDR } from "@dfly/control";
import { envInt, runService, serviceBaseFromEnv, type ServiceBaseConfig } from "@dfly/service";
import { createTransport, type Transport } from "@dfly/transport";
import { startNetisr, type NetisrHandle } from "./cpu.js";

export interface NetisrProcessConfig extends ServiceBaseConfig {
  cpu: number;
  controlAddr: string;
  metricsPort: number;
  metricsHost: string;
  advertiseHost: string;
  pollhz: number;
  burstMax: number;
  eachBurst: number;
  rxd: number;
  icmplim: number;
  graceMs: number;
  drainMs: number;
  lingerMs: number;
  listenerSyncMs: number;
}

export class NetisrEnvError extends Error {
  override readonly name = "NetisrEnvError";
}

/** DFLY_DRAIN_LINGER_MS default: one scrape interval of the chart (15 s) plus 5 s, so the drain's final values are scraped (README). */
export const DRAIN_LINGER_MS_DEFAULT = 20_000;

const int = (name: string, v: string | undefined, dflt: number, min: number, max: number) => envInt(name, v, dflt, min, max, NetisrEnvError);

/** DFLY_CPU, else POD_NAME's trailing ordinal (a StatefulSet pod `dfly-netisr-3` is CPU 3). */
export function cpuFromEnv(env: NodeJS.ProcessEnv): number {
  if (env.DFLY_CPU !== undefined && env.DFLY_CPU !== "") return int("DFLY_CPU", env.DFLY_CPU, 0, 0, 1023);
  const m = /-(\d+)$/.exec(env.POD_NAME ?? "");
  if (m) return int("POD_NAME ordinal", m[1], 0, 0, 1023);
  throw new NetisrEnvError("no CPU id: set DFLY_CPU, or POD_NAME ending in -<ordinal> (e.g. dfly-netisr-3)");
}

export function netisrConfigFromEnv(env: NodeJS.ProcessEnv = process.env): NetisrProcessConfig {
  const cpu = cpuFromEnv(env);
  return {
    cpu,
    ...serviceBaseFromEnv(env, NetisrEnvError),
    controlAddr: env.DFLY_CONTROL_ADDR || DEFAULT_CONTROL_ADDR,
    metricsPort: int("DFLY_METRICS_PORT", env.DFLY_METRICS_PORT, 9464 + cpu, 0, 65535),
    metricsHost: env.DFLY_METRICS_HOST || "127.0.0.1",
    advertiseHost: env.POD_IP || "127.0.0.1",
    pollhz: int("DFLY_POLLHZ", env.DFLY_POLLHZ, 6000, 1, 30000),
    burstMax: int("DFLY_IFPOLL_BURST_MAX", env.DFLY_IFPOLL_BURST_MAX, 250, 10, 5000),
    eachBurst: int("DFLY_IFPOLL_EACH_BURST", env.DFLY_IFPOLL_EACH_BURST, 50, 1, 5000),
    rxd: int("DFLY_RXD", env.DFLY_RXD, 1024, 64, 65536),
    icmplim: int("DFLY_ICMPLIM", env.DFLY_ICMPLIM, 200, 0, 1_000_000),
    graceMs: int("DFLY_RESCALE_GRACE_MS", env.DFLY_RESCALE_GRACE_MS, 2000, 0, 60_000),
    drainMs: int("DFLY_DRAIN_MS", env.DFLY_DRAIN_MS, 6000, 100, 600_000),
    lingerMs: int("DFLY_DRAIN_LINGER_MS", env.DFLY_DRAIN_LINGER_MS, DRAIN_LINGER_MS_DEFAULT, 0, 3_600_000),
    listenerSyncMs: int("DFLY_LISTENER_SYNC_MS", env.DFLY_LISTENER_SYNC_MS, 0, 0, 3_600_000),
  };
}

/** Runs one netisr CPU until SIGTERM/SIGINT. */
export async function main(cfg: NetisrProcessConfig = netisrConfigFromEnv(), log: (s: string) => void = (s) => console.error(s)): Promise<void> {
  await runService<Transport, NetisrHandle>({
    base: cfg,
    connect: createTransport,
    connName: `dfly-netisr-${cfg.cpu}`,
    start: (transport) =>
      startNetisr({
        transport,
        cluster: cfg.cluster,
        cpu: cfg.cpu,
        controlAddr: cfg.controlAddr,
        metricsPort: cfg.metricsPort,
        metricsHost: cfg.metricsHost,
        ...(cfg.metricsPort !== 0 ? { metricsAdvertise: `${cfg.advertiseHost}:${cfg.metricsPort}` } : {}),
        ifpoll: { pollhz: cfg.pollhz, burstMax: cfg.burstMax, eachBurst: cfg.eachBurst },
        rxd: cfg.rxd,
        icmplim: cfg.icmplim,
        tcp: { rescale: { graceMs: cfg.graceMs, drainMs: cfg.drainMs }, listenerSyncMs: cfg.listenerSyncMs },
        lingerMs: cfg.lingerMs,
      }),
    started: (h, transport) => {
      const port = h.metricsAddr?.split(":").pop();
      log(`dfly netisr ${cfg.cpu}: metrics ${cfg.metricsHost}:${port}, control ${cfg.controlAddr}, transport ${transport.kind}, cluster ${cfg.cluster}`);
      void h.whenReady().then(() => log(`dfly netisr ${cfg.cpu}: registered, ${h.service.routes.size} routes, epoch ${h.service.netisr.epoch}`));
    },
    stopping: (sig) => log(`dfly netisr ${cfg.cpu}: ${sig}, leaving`),
    stop: async (h) => {
      // A second signal cuts the linger; a third finds no handler and terminates the process.
      const cut = new AbortController();
      const again = (sig: NodeJS.Signals) => {
        unhook();
        log(`dfly netisr ${cfg.cpu}: ${sig} again, exiting without lingering`);
        cut.abort();
      };
      const unhook = () => {
        process.off("SIGTERM", again);
        process.off("SIGINT", again);
      };
      process.on("SIGTERM", again);
      process.on("SIGINT", again);
      try {
        await h
          .drain({
            signal: cut.signal,
            drained: (d, lingerMs) => {
              if (d) log(`dfly netisr ${cfg.cpu}: drained: ${d.handedOver} connections handed over (${JSON.stringify(d.byCpu)}), ${d.failed} failed, ${d.rounds} rounds, ${d.ms} ms; half-open handshakes: ${d.synHandedOver} handed over, ${d.synFailed} lost`);
              if (lingerMs > 0 && !cut.signal.aborted) log(`dfly netisr ${cfg.cpu}: deregistered, lingering ${lingerMs} ms for a last scrape of /metrics (SIGTERM again: exit now)`);
            },
          })
          .catch((err: Error) => log(`dfly netisr ${cfg.cpu}: drain failed: ${err.message}`));
      } finally {
        unhook();
      }
      await h.stop();
    },
  });
  log(`dfly netisr ${cfg.cpu}: stopped`);
}
