/**
 * The metric-name contract shared by netisr, nic, control, the Grafana dashboard and the Prometheus
 * rules (brief "Metric names"): one place that names every series and its labels. The dashboard and
 * the rules refer to metrics only through this table, and a test checks every PromQL expression
 * against it.
 */
export const Metric = {
  // netisr (every series has `cpu`)
  netisrRx: { name: "dfly_netisr_rx_packets_total", labels: ["cpu", "ifname", "ring"] },
  netisrTx: { name: "dfly_netisr_tx_packets_total", labels: ["cpu", "ifname"] },
  ipForwarded: { name: "dfly_ip_forwarded_total", labels: ["cpu"] },
  ipDelivered: { name: "dfly_ip_delivered_total", labels: ["cpu"] },
  ipDropped: { name: "dfly_ip_dropped_total", labels: ["cpu", "reason"] },
  redispatched: { name: "dfly_netisr_redispatched_total", labels: ["cpu"] },
  redispatchReceived: { name: "dfly_netisr_redispatch_received_total", labels: ["cpu"] },
  icmpSent: { name: "dfly_icmp_sent_total", labels: ["cpu", "type"] },
  routeEntries: { name: "dfly_route_entries", labels: ["cpu"] },
  routeDigest: { name: "dfly_route_digest_info", labels: ["cpu", "digest"] },
  topologyEpoch: { name: "dfly_topology_epoch", labels: ["cpu"] },
  tcpConnections: { name: "dfly_tcp_connections", labels: ["cpu", "state"] },
  tcpConnectMigrations: { name: "dfly_tcp_connect_migrations_total", labels: ["cpu"] },
  acceptQueueDepth: { name: "dfly_so_accept_queue_depth", labels: ["cpu", "listener"] },
  listenerMigrations: { name: "dfly_so_listener_migrations_total", labels: ["cpu", "policy", "result"] },
  transportBatches: { name: "dfly_transport_batches_total", labels: ["cpu", "dir"] },
  transportLag: { name: "dfly_transport_lag_seconds", labels: ["cpu"] },
  // netisr live rescale (services/netisr/src/tcp_rescale_metrics.ts; every label value exported at 0 from start)
  rescaleRedispatched: { name: "dfly_tcp_rescale_redispatched_total", labels: ["cpu"] },
  rescaleRedispatchReceived: { name: "dfly_tcp_rescale_redispatch_received_total", labels: ["cpu"] },
  rescaleHeld: { name: "dfly_tcp_rescale_held_total", labels: ["cpu", "result"] },
  rescaleDropped: { name: "dfly_tcp_rescale_dropped_total", labels: ["cpu", "reason"] },
  foreignEntries: { name: "dfly_tcp_foreign_entries", labels: ["cpu"] },
  handover: { name: "dfly_tcp_handover_total", labels: ["cpu", "dir", "result"] },
  handoverLastSeconds: { name: "dfly_tcp_handover_last_seconds", labels: ["cpu"] },
  // netisr ipfw (services/netisr/src/ip_fw_metrics.ts)
  ipfwRulePackets: { name: "dfly_ipfw_rule_packets_total", labels: ["cpu", "rule"] },
  ipfwRuleBytes: { name: "dfly_ipfw_rule_bytes_total", labels: ["cpu", "rule"] },
  ipfwStates: { name: "dfly_ipfw_states", labels: ["cpu"] },
  ipfwStateMax: { name: "dfly_ipfw_state_max", labels: ["cpu"] },
  ipfwStateCreated: { name: "dfly_ipfw_state_created_total", labels: ["cpu"] },
  ipfwStateExpired: { name: "dfly_ipfw_state_expired_total", labels: ["cpu"] },
  ipfwStateHandover: { name: "dfly_ipfw_state_handover_received_total", labels: ["cpu"] },
  ipfwRejected: { name: "dfly_ipfw_rejected_total", labels: ["cpu", "reason"] },
  ipfwDigest: { name: "dfly_ipfw_digest_info", labels: ["cpu", "digest"] },
  // nic
  nicRx: { name: "dfly_nic_rx_frames_total", labels: ["ifname", "ring"] },
  nicTx: { name: "dfly_nic_tx_frames_total", labels: ["ifname", "ring"] },
  nicDropped: { name: "dfly_nic_dropped_total", labels: ["ifname", "reason"] },
  // control
  controlCpus: { name: "dfly_control_cpus", labels: [] },
  controlEpoch: { name: "dfly_control_topology_epoch", labels: [] },
  controlRouteOps: { name: "dfly_control_route_ops_total", labels: ["op", "result"] },
  controlRoutes: { name: "dfly_control_routes", labels: [] },
  // control's view of NATS (services/control/src/health.ts): a round trip and a JetStream KV read per scrape
  controlNatsUp: { name: "dfly_control_nats_up", labels: [] },
  controlNatsRtt: { name: "dfly_control_nats_rtt_seconds", labels: [] },
  controlJetstreamUp: { name: "dfly_control_jetstream_up", labels: [] },
  // every service process: prom-client's default metrics (services/service/src/process_metrics.ts)
  eventLoopLagP99: { name: "nodejs_eventloop_lag_p99_seconds", labels: [] },
  processCpu: { name: "process_cpu_seconds_total", labels: [] },
  processRss: { name: "process_resident_memory_bytes", labels: [] },
  heapUsed: { name: "nodejs_heap_size_used_bytes", labels: [] },
  gcSeconds: { name: "nodejs_gc_duration_seconds_sum", labels: ["kind"] },
} as const;
export type MetricKey = keyof typeof Metric;

/** Every metric name of the contract. */
export const metricNames: readonly string[] = Object.values(Metric).map((m) => m.name);

/** Labels Prometheus adds to every scraped series (target labels), usable in any aggregation. */
export const targetLabels = ["job", "instance", "namespace", "pod", "service", "container", "endpoint", "component", "release"] as const;

/**
 * Series of other exporters the dashboard and rules read (not part of the services' contract):
 * Prometheus's own `up` per target, and the NATS exporter sidecar's (prometheus-nats-exporter with
 * -prefix=nats, as the chart and nats-io/k8s run it).
 */
export const External = {
  up: "up",
  natsConnections: "nats_varz_connections",
  natsInMsgs: "nats_varz_in_msgs",
  natsOutMsgs: "nats_varz_out_msgs",
  natsSlowConsumers: "nats_varz_slow_consumers",
  natsMem: "nats_varz_mem",
} as const;

/**
 * TCP drop reason counted in `dfly_ip_dropped_total` when `sonewconn` refuses a connection because the
 * accept queue is full (BSD `tcps_listendrop`, "listen queue overflows"). The accept-queue alert watches it.
 */
export const ACCEPT_QUEUE_OVERFLOW_REASON = "listendrop";

/** `m("netisrRx")` → "dfly_netisr_rx_packets_total". */
export function m(key: MetricKey): string {
  return Metric[key].name;
}
