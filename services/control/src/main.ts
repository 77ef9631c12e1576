/** `dfly control`: configuration from the environment (flags override), the parts, the servers, a drain on SIGTERM/SIGINT. */
import { envInt, runService, serviceBaseFromEnv, type ServiceBaseConfig } from "@dfly/service";
import { createTransport, type Transport } from "@dfly/transport";
import { ListenerPolicy } from "@dfly/core";
import { startControl, type ControlHandle } from "./control.js";
import { parseListenerPolicy } from "./listeners.js";
import { controlAuthFromEnv, type ControlAuth } from "./grpc_auth.js";

export interface ControlConfig extends ServiceBaseConfig {
  grpcHost: string;
  grpcPort: number;
  metricsPort: number;
  heartbeatMs: number;
  cpuTimeoutMs: number;
  /** DFLY_LISTENER_POLICY: dragonfly (default) | linux | linux_migrate_req. */
  listenerPolicy: ListenerPolicy;
  /** DFLY_CONTROL_TLS_*, DFLY_CONTROL_TOKEN(_FILE), DFLY_CONTROL_OPEN_READS. */
  auth: ControlAuth;
}

const int = (name: string, v: string | undefined, dflt: number) => envInt(name, v, dflt, 0, 65535 * 1000);

export function controlConfigFromEnv(env: NodeJS.ProcessEnv = process.env): ControlConfig {
  return {
    ...serviceBaseFromEnv(env),
    // Loopback unless told otherwise (the chart sets the pod's address).
    grpcHost: env.DFLY_GRPC_HOST || "127.0.0.1",
    grpcPort: int("DFLY_GRPC_PORT", env.DFLY_GRPC_PORT, 50051),
    metricsPort: int("DFLY_METRICS_PORT", env.DFLY_METRICS_PORT, 9463),
    heartbeatMs: int("DFLY_HEARTBEAT_MS", env.DFLY_HEARTBEAT_MS, 1000),
    cpuTimeoutMs: int("DFLY_CPU_TIMEOUT_MS", env.DFLY_CPU_TIMEOUT_MS, 5000),
    listenerPolicy: parseListenerPolicy(env.DFLY_LISTENER_POLICY, ListenerPolicy.DRAGONFLY),
    auth: controlAuthFromEnv(env),
  };
}

/** Runs the control service until SIGTERM/SIGINT; resolves after the drain. */
export async function main(cfg: ControlConfig = controlConfigFromEnv(), log: (s: string) => void = (s) => console.error(s)): Promise<void> {
  await runService<Transport, ControlHandle>({
    base: cfg,
    connect: createTransport,
    connName: "dfly-control",
    start: (transport) =>
      startControl({
        transport,
        cluster: cfg.cluster,
        grpcHost: cfg.grpcHost,
        grpcPort: cfg.grpcPort,
        metricsHost: cfg.grpcHost,
        metricsPort: cfg.metricsPort,
        heartbeatMs: cfg.heartbeatMs,
        cpuTimeoutMs: cfg.cpuTimeoutMs,
        listenerPolicy: cfg.listenerPolicy,
        auth: cfg.auth,
      }),
    started: (h, transport) =>
      log(`dfly control: gRPC ${h.grpcAddr}, metrics ${h.metricsAddr ?? "off"}, transport ${transport.kind}, cluster ${cfg.cluster}`),
    stopping: (sig) => log(`dfly control: ${sig}, draining`),
    stop: (h) => h.stop(5000),
  });
  log("dfly control: stopped");
}
