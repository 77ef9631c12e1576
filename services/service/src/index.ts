export {
  DEFAULT_CLUSTER,
  ServiceEnvError,
  envInt,
  kvReplicasFromEnv,
  serviceBaseFromEnv,
  clusterFromEnv,
  MAX_KV_REPLICAS,
  type EnvErrorClass,
  type ServiceBaseConfig,
} from "./env.js";
export { runService, untilStopSignal, type RunServiceOptions, type ServiceTransport, type ConnectTransport } from "./run.js";
export { serveMetrics, type ServeMetricsOptions } from "./metrics.js";
export { processMetrics } from "./process_metrics.js";
