/**
 * The "DragonFly netstack" Grafana dashboard, built with Grafana's typed builders
 * (@grafana/grafana-foundation-sdk: `tsc` rejects a misspelt option or a wrong type). The one source
 * of deploy/grafana/dashboards/dfly-netstack.json and of the chart's dashboard ConfigMap
 * (deploy/src/generate.ts writes both).
 *
 * Variables: `datasource` (any Prometheus), `namespace`, `release` and `cpu` (multi-value, "All" =
 * `.*`, which also matches series without the label, e.g. the local stack's, which has no namespace
 * and no release). `release` is the chart's release (its ServiceMonitor/PodMonitor set the label), so
 * two releases in one namespace show apart.
 *
 * The "Live rescale" row reads the netisr's rescale series (tcp_rescale_metrics.ts). A leaving CPU
 * counts its hand-overs (`dir="out"`) and its drain duration itself, and its pod exits about half a
 * second after the drain: Prometheus rarely scrapes those final values. The receiving CPUs' counts
 * (`dir="in"`) stay, so the totals count what was installed; the drain-duration panels show only
 * the drains a scrape caught (there is no histogram of drain durations).
 */
import * as common from "@grafana/grafana-foundation-sdk/common";
import * as dashboard from "@grafana/grafana-foundation-sdk/dashboard";
import * as prometheus from "@grafana/grafana-foundation-sdk/prometheus";
import * as stat from "@grafana/grafana-foundation-sdk/stat";
import * as table from "@grafana/grafana-foundation-sdk/table";
import * as timeseries from "@grafana/grafana-foundation-sdk/timeseries";
import { m, ACCEPT_QUEUE_OVERFLOW_REASON, External } from "./metrics.js";

export const DASHBOARD_UID = "dfly-netstack";
export const DASHBOARD_TITLE = "DragonFly netstack";

const DS: common.DataSourceRef = { type: "prometheus", uid: "${datasource}" };
const RATE = "$__rate_interval";
/** The dashboard's time range (stat panels that count events "in the shown range"). */
const RANGE = "$__range";

/** Label matcher for netisr series (namespace, release and cpu variables, plus `extra`). */
function cpuSel(extra = ""): string {
  return `{namespace=~"$namespace", release=~"$release", cpu=~"$cpu"${extra ? `, ${extra}` : ""}}`;
}
/** Label matcher for nic, control, NATS and process series (namespace and release). */
function nsSel(extra = ""): string {
  return `{namespace=~"$namespace", release=~"$release"${extra ? `, ${extra}` : ""}}`;
}
const rate = (metric: string, sel: string) => `rate(${metric}${sel}[${RATE}])`;

interface Q {
  readonly expr: string;
  readonly legend?: string;
  readonly instant?: boolean;
  readonly table?: boolean;
}

function target(q: Q, i: number): prometheus.DataqueryBuilder {
  const t = new prometheus.DataqueryBuilder()
    .datasource(DS)
    .refId(String.fromCharCode(65 + i))
    .expr(q.expr)
    .legendFormat(q.legend ?? "__auto");
  if (q.instant) t.instant();
  else t.range();
  if (q.table) t.format(prometheus.PromQueryFormat.Table);
  return t;
}

let nextId = 1;

interface PanelOpts {
  readonly title: string;
  readonly description: string;
  readonly queries: readonly Q[];
  readonly unit?: string;
  readonly w?: number;
  readonly h?: number;
  readonly stack?: common.StackingMode;
  readonly min?: number;
}

function series(o: PanelOpts): timeseries.PanelBuilder {
  const p = new timeseries.PanelBuilder()
    .id(nextId++)
    .title(o.title)
    .description(o.description)
    .datasource(DS)
    .span(o.w ?? 8)
    .height(o.h ?? 8)
    .unit(o.unit ?? "short")
    .fillOpacity(10)
    .lineWidth(1)
    .legend(new common.VizLegendOptionsBuilder().showLegend(true).displayMode(common.LegendDisplayMode.Table).placement(common.LegendPlacement.Right).calcs(["mean", "max", "lastNotNull"]))
    .tooltip(new common.VizTooltipOptionsBuilder().mode(common.TooltipDisplayMode.Multi).sort(common.SortOrder.Descending));
  if (o.stack) p.stacking(new common.StackingConfigBuilder().mode(o.stack));
  if (o.min !== undefined) p.min(o.min);
  o.queries.forEach((q, i) => p.withTarget(target(q, i)));
  return p;
}

function single(o: PanelOpts & { readonly steps?: dashboard.Threshold[]; readonly decimals?: number }): stat.PanelBuilder {
  const p = new stat.PanelBuilder()
    .id(nextId++)
    .title(o.title)
    .description(o.description)
    .datasource(DS)
    .span(o.w ?? 4)
    .height(o.h ?? 4)
    .unit(o.unit ?? "short")
    .graphMode(common.BigValueGraphMode.Area)
    .colorMode(common.BigValueColorMode.Value)
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(["lastNotNull"]).values(false))
    .thresholds(
      new dashboard.ThresholdsConfigBuilder()
        .mode(dashboard.ThresholdsMode.Absolute)
        .steps(o.steps ?? [{ value: null, color: "green" }]),
    );
  if (o.decimals !== undefined) p.decimals(o.decimals);
  o.queries.forEach((q, i) => p.withTarget(target(q, i)));
  return p;
}

function grid(o: PanelOpts): table.PanelBuilder {
  const p = new table.PanelBuilder()
    .id(nextId++)
    .title(o.title)
    .description(o.description)
    .datasource(DS)
    .span(o.w ?? 8)
    .height(o.h ?? 8)
    .withTransformation({ id: "organize", options: { excludeByName: { Time: true, Value: true, __name__: true } } });
  o.queries.forEach((q, i) => p.withTarget(target({ ...q, instant: true, table: true }, i)));
  return p;
}

const row = (title: string) => new dashboard.RowBuilder(title).id(nextId++);

/** Expressions shared between panels (and reused by the rules where the meaning is the same). */
export const Expr = {
  rxPerCpu: `sum by (cpu) (${rate(m("netisrRx"), cpuSel())})`,
  rxTotal: `sum(${rate(m("netisrRx"), cpuSel())})`,
  /** max/mean of the per-CPU RX rates: 1 = perfectly even RSS spread, N = everything on one of N CPUs. */
  rssImbalance: `max(sum by (cpu) (${rate(m("netisrRx"), cpuSel())})) / avg(sum by (cpu) (${rate(m("netisrRx"), cpuSel())}))`,
  redispatchRatio: `sum(${rate(m("redispatched"), cpuSel())}) / sum(${rate(m("netisrRx"), cpuSel())})`,
  distinctDigests: `count(count by (digest) (${m("routeDigest")}${cpuSel()}))`,
} as const;

export function buildDashboard(): dashboard.Dashboard {
  nextId = 1;
  const b = new dashboard.DashboardBuilder(DASHBOARD_TITLE)
    .uid(DASHBOARD_UID)
    .description("DragonFlyBSD's network stack as microservices: per-CPU netisr packet path, RSS, TCP, control plane, transport.")
    .tags(["dfly-netstack", "network", "netisr"])
    .editable()
    .tooltip(dashboard.DashboardCursorSync.Crosshair)
    .refresh("30s")
    .time({ from: "now-1h", to: "now" })
    .timezone("browser")
    .withVariable(new dashboard.DatasourceVariableBuilder("datasource").label("Data source").type("prometheus"))
    .withVariable(
      new dashboard.QueryVariableBuilder("namespace")
        .label("Namespace")
        .datasource(DS)
        .query(`label_values(${m("controlCpus")}, namespace)`)
        .definition(`label_values(${m("controlCpus")}, namespace)`)
        .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
        .multi(true)
        .includeAll(true)
        .allValue(".*"),
    )
    .withVariable(
      new dashboard.QueryVariableBuilder("release")
        .label("Release")
        .datasource(DS)
        .query(`label_values(${m("controlCpus")}{namespace=~"$namespace"}, release)`)
        .definition(`label_values(${m("controlCpus")}{namespace=~"$namespace"}, release)`)
        .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
        .multi(true)
        .includeAll(true)
        .allValue(".*"),
    )
    .withVariable(
      new dashboard.QueryVariableBuilder("cpu")
        .label("CPU")
        .datasource(DS)
        .query(`label_values(${m("netisrRx")}{namespace=~"$namespace", release=~"$release"}, cpu)`)
        .definition(`label_values(${m("netisrRx")}{namespace=~"$namespace", release=~"$release"}, cpu)`)
        .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
        .sort(dashboard.VariableSort.NumericalAsc)
        .multi(true)
        .includeAll(true)
        .allValue(".*"),
    );

  // Overview
  b.withRow(row("Overview"));
  b.withPanel(single({ title: "CPUs", description: "netisr CPUs registered with control (the StatefulSet's replicas).", queries: [{ expr: `sum(${m("controlCpus")}${nsSel()})` }] }));
  b.withPanel(single({ title: "RX packets/s", description: "Packets the netisr CPUs took from their NIC rings.", unit: "pps", queries: [{ expr: Expr.rxTotal }] }));
  b.withPanel(single({ title: "Forwarded packets/s", description: "IPv4 packets forwarded (ip_forward).", unit: "pps", queries: [{ expr: `sum(${rate(m("ipForwarded"), cpuSel())})` }] }));
  b.withPanel(single({ title: "Drops/s", description: "Packets dropped by the netisr CPUs, all reasons.", unit: "pps", queries: [{ expr: `sum(${rate(m("ipDropped"), cpuSel())})` }], steps: [{ value: null, color: "green" }, { value: 1, color: "orange" }] }));
  b.withPanel(single({ title: "RSS imbalance", description: "Busiest CPU's RX rate over the mean (1.0 = even spread).", decimals: 2, queries: [{ expr: Expr.rssImbalance }], steps: [{ value: null, color: "green" }, { value: 1.5, color: "orange" }, { value: 3, color: "red" }] }));
  b.withPanel(single({ title: "Route digests", description: "Distinct route-table digests across CPUs: 1 = every CPU holds the same table.", queries: [{ expr: Expr.distinctDigests }], steps: [{ value: null, color: "green" }, { value: 2, color: "red" }] }));

  // Packets per CPU
  b.withRow(row("Packets per CPU"));
  b.withPanel(series({ title: "RX packets/s per CPU", description: "dfly_netisr_rx_packets_total: frames taken from the RX rings each CPU polls.", unit: "pps", w: 6, queries: [{ expr: Expr.rxPerCpu, legend: "cpu {{cpu}}" }] }));
  b.withPanel(series({ title: "TX packets/s per CPU", description: "dfly_netisr_tx_packets_total: frames each CPU put on TX rings.", unit: "pps", w: 6, queries: [{ expr: `sum by (cpu) (${rate(m("netisrTx"), cpuSel())})`, legend: "cpu {{cpu}}" }] }));
  b.withPanel(series({ title: "Forwarded packets/s per CPU", description: "dfly_ip_forwarded_total per CPU.", unit: "pps", w: 6, queries: [{ expr: `sum by (cpu) (${rate(m("ipForwarded"), cpuSel())})`, legend: "cpu {{cpu}}" }] }));
  b.withPanel(series({ title: "Delivered packets/s per CPU", description: "dfly_ip_delivered_total: packets for local addresses (TCP/UDP/ICMP input).", unit: "pps", w: 6, queries: [{ expr: `sum by (cpu) (${rate(m("ipDelivered"), cpuSel())})`, legend: "cpu {{cpu}}" }] }));

  // Drops
  b.withRow(row("Drops"));
  b.withPanel(series({ title: "Drops/s by reason", description: "dfly_ip_dropped_total by BSD ipstat/tcpstat reason.", unit: "pps", queries: [{ expr: `sum by (reason) (${rate(m("ipDropped"), cpuSel())})`, legend: "{{reason}}" }] }));
  b.withPanel(series({ title: "NIC drops/s by reason", description: "dfly_nic_dropped_total: frames the emulated NIC dropped (ring full, impairment, malformed).", unit: "pps", queries: [{ expr: `sum by (ifname, reason) (${rate(m("nicDropped"), nsSel())})`, legend: "{{ifname}} {{reason}}" }] }));
  b.withPanel(series({ title: "ICMP sent/s by type", description: "dfly_icmp_sent_total: errors and echo replies the netisr CPUs generated (rate-limited).", unit: "pps", queries: [{ expr: `sum by (type) (${rate(m("icmpSent"), cpuSel())})`, legend: "{{type}}" }] }));

  // RSS spread and redispatch
  b.withRow(row("RSS spread and redispatch"));
  b.withPanel(series({ title: "RX share per CPU", description: "Each CPU's share of all RX packets: how evenly RSS and the ring map spread the flows.", unit: "percentunit", stack: common.StackingMode.Percent, queries: [{ expr: `${Expr.rxPerCpu} / ignoring (cpu) group_left () ${Expr.rxTotal}`, legend: "cpu {{cpu}}" }] }));
  b.withPanel(series({ title: "RSS imbalance (max/mean)", description: "Busiest CPU's RX rate over the mean rate (1.0 = even).", min: 1, queries: [{ expr: Expr.rssImbalance, legend: "imbalance" }] }));
  b.withPanel(series({ title: "NIC ring RX frames/s", description: "dfly_nic_rx_frames_total per ring (RSS redirection table → ring).", unit: "pps", queries: [{ expr: `sum by (ifname, ring) (${rate(m("nicRx"), nsSel())})`, legend: "{{ifname}} ring {{ring}}" }, { expr: `sum by (ifname) (${rate(m("nicTx"), nsSel())})`, legend: "{{ifname}} tx" }] }));
  b.withPanel(series({ title: "Redispatched packets/s per CPU", description: "Packets a CPU took from a ring but sent to the owner CPU's port (netisr_hashcpu differs from the ring's CPU), and packets received that way.", unit: "pps", w: 12, queries: [{ expr: `sum by (cpu) (${rate(m("redispatched"), cpuSel())})`, legend: "sent cpu {{cpu}}" }, { expr: `sum by (cpu) (${rate(m("redispatchReceived"), cpuSel())})`, legend: "received cpu {{cpu}}" }] }));
  b.withPanel(series({ title: "Redispatch ratio", description: "Redispatched / RX packets: 0 when every ring's CPU owns its flows; about 1 − rings/CPUs with fewer rings than CPUs.", unit: "percentunit", w: 12, min: 0, queries: [{ expr: Expr.redispatchRatio, legend: "ratio" }] }));

  // TCP and sockets
  b.withRow(row("TCP and sockets"));
  b.withPanel(series({ title: "TCP connections per CPU", description: "dfly_tcp_connections summed over states: INPCBs each CPU owns.", w: 6, queries: [{ expr: `sum by (cpu) (${m("tcpConnections")}${cpuSel()})`, legend: "cpu {{cpu}}" }] }));
  b.withPanel(series({ title: "TCP connections by state", description: "dfly_tcp_connections by TCP state, all selected CPUs.", w: 6, stack: common.StackingMode.Normal, queries: [{ expr: `sum by (state) (${m("tcpConnections")}${cpuSel()})`, legend: "{{state}}" }] }));
  b.withPanel(series({ title: "Accept-queue depth per listener", description: "dfly_so_accept_queue_depth: completed connections not yet accepted, per listener (summed over its per-CPU copies).", w: 6, queries: [{ expr: `sum by (listener) (${m("acceptQueueDepth")}${cpuSel()})`, legend: "{{listener}}" }, { expr: `sum(${rate(m("ipDropped"), cpuSel(`reason="${ACCEPT_QUEUE_OVERFLOW_REASON}"`))})`, legend: "overflows/s" }] }));
  b.withPanel(series({ title: "Listener and connection migrations", description: "dfly_so_listener_migrations_total (queued connections handed to the heir when a SO_REUSEPORT member closes) and dfly_tcp_connect_migrations_total (connections handed to a new owner CPU).", w: 6, queries: [{ expr: `sum by (policy, result) (increase(${m("listenerMigrations")}${cpuSel()}[${RATE}]))`, legend: "listener {{policy}} {{result}}" }, { expr: `sum by (cpu) (increase(${m("tcpConnectMigrations")}${cpuSel()}[${RATE}]))`, legend: "connect cpu {{cpu}}" }] }));

  // Live rescale: what a StatefulSet scale (or a rolling restart) did to the TCP connections.
  const handover = (extra: string) => m("handover") + cpuSel(extra);
  b.withRow(row("Live rescale"));
  b.withPanel(single({ title: "Connections handed over", description: "TCP connections the receiving CPUs installed from draining CPUs in the shown time range (dfly_tcp_handover_total{dir=\"in\", result=\"ok\"}).", decimals: 0, queries: [{ expr: `sum(increase(${handover(`dir="in", result="ok"`)}[${RANGE}]))` }] }));
  b.withPanel(single({ title: "Handover failures", description: "Connections lost in the shown time range: a drain could not hand them over (out) or the receiving CPU could not install them (in). Their peers see a reset.", decimals: 0, queries: [{ expr: `sum(increase(${handover(`result="failed"`)}[${RANGE}]))` }], steps: [{ value: null, color: "green" }, { value: 1, color: "red" }] }));
  b.withPanel(single({ title: "Longest drain", description: "Longest drain (every connection handed over and acknowledged) in the shown range (dfly_tcp_handover_last_seconds). A leaving pod keeps serving it for DFLY_DRAIN_LINGER_MS after its drain (the chart: one scrape interval + 5 s), so a scrape catches it.", unit: "s", queries: [{ expr: `max(max_over_time(${m("handoverLastSeconds")}${cpuSel()}[${RANGE}]))` }], steps: [{ value: null, color: "green" }, { value: 5, color: "orange" }] }));
  b.withPanel(single({ title: "Grace holds", description: "Segments held in the grace period after an epoch change, in the shown range: released once their connection's home became known, or expired and processed as usual (a segment with no connection is then answered with a RST).", decimals: 0, queries: [{ expr: `sum(increase(${m("rescaleHeld")}${cpuSel(`result="released"`)}[${RANGE}]))`, legend: "released" }, { expr: `sum(increase(${m("rescaleHeld")}${cpuSel(`result="expired"`)}[${RANGE}]))`, legend: "expired" }] }));
  b.withPanel(single({ title: "Connections living elsewhere", description: "dfly_tcp_foreign_entries: connections whose bucket a CPU owns but that live on the CPU they started on (kept there after a scale-up; their segments are redispatched).", queries: [{ expr: `sum(${m("foreignEntries")}${cpuSel()})` }] }));
  b.withPanel(single({ title: "Topology changes", description: "How often control's topology epoch changed in the shown range (CPUs joined or left).", decimals: 0, queries: [{ expr: `sum(changes(${m("controlEpoch")}${nsSel()}[${RANGE}]))` }] }));
  b.withPanel(series({ title: "Handovers/s by CPU and result", description: "dfly_tcp_handover_total: connections a draining CPU handed over (out) and a receiving CPU installed (in), ok or failed. A leaving pod's out counts are final once its drain ends; it lingers (DFLY_DRAIN_LINGER_MS) so that a scrape sees them.", unit: "cps", w: 12, queries: [{ expr: `sum by (cpu, dir, result) (${rate(m("handover"), cpuSel())})`, legend: "cpu {{cpu}} {{dir}} {{result}}" }] }));
  b.withPanel(series({ title: "Drain duration per CPU", description: "dfly_tcp_handover_last_seconds: how long each CPU's last drain took (0 = never drained). The leaving pod serves it for DFLY_DRAIN_LINGER_MS after its drain, then its series ends; no histogram is exported.", unit: "s", w: 12, min: 0, queries: [{ expr: `max by (cpu) (${m("handoverLastSeconds")}${cpuSel()})`, legend: "cpu {{cpu}}" }] }));
  b.withPanel(series({ title: "Grace holds and rescale drops/s", description: "dfly_tcp_rescale_held_total (segments held after an epoch change: released or expired) and dfly_tcp_rescale_dropped_total by reason (hops: redispatch loop; nopcb: connection closed or moved meanwhile, the peer retransmits; holdfull: hold queue full; bad: malformed netmsg).", unit: "pps", w: 6, queries: [{ expr: `sum by (result) (${rate(m("rescaleHeld"), cpuSel())})`, legend: "held {{result}}" }, { expr: `sum by (reason) (${rate(m("rescaleDropped"), cpuSel())})`, legend: "dropped {{reason}}" }] }));
  b.withPanel(series({ title: "Rescale redispatch/s per CPU", description: "TCP segments a CPU sent on to the CPU where their connection lives (dfly_tcp_rescale_redispatched_total), and segments received that way.", unit: "pps", w: 6, queries: [{ expr: `sum by (cpu) (${rate(m("rescaleRedispatched"), cpuSel())})`, legend: "sent cpu {{cpu}}" }, { expr: `sum by (cpu) (${rate(m("rescaleRedispatchReceived"), cpuSel())})`, legend: "received cpu {{cpu}}" }] }));
  b.withPanel(series({ title: "Connections living elsewhere per CPU", description: "dfly_tcp_foreign_entries: home entries each CPU holds for connections in its buckets that live on another CPU.", w: 6, min: 0, queries: [{ expr: `sum by (cpu) (${m("foreignEntries")}${cpuSel()})`, legend: "cpu {{cpu}}" }] }));
  b.withPanel(series({ title: "CPUs and topology epoch", description: "Control's CPU count (the StatefulSet's ready replicas) and topology epoch: each join or leave is one epoch step.", w: 6, queries: [{ expr: `max(${m("controlCpus")}${nsSel()})`, legend: "CPUs" }, { expr: `max(${m("controlEpoch")}${nsSel()})`, legend: "epoch" }] }));

  // Control plane
  b.withRow(row("Control plane and routes"));
  b.withPanel(series({ title: "Topology epoch", description: "The epoch each CPU holds against control's: they step together when CPUs join or leave.", w: 6, queries: [{ expr: `max by (cpu) (${m("topologyEpoch")}${cpuSel()})`, legend: "cpu {{cpu}}" }, { expr: `max(${m("controlEpoch")}${nsSel()})`, legend: "control" }] }));
  b.withPanel(grid({ title: "Route-table digest per CPU", description: "dfly_route_digest_info: equal digests = equal route tables on every CPU.", w: 6, queries: [{ expr: `max by (cpu, digest) (${m("routeDigest")}${cpuSel()})` }] }));
  b.withPanel(series({ title: "Route entries", description: "Routes each CPU holds (dfly_route_entries) against control's table (dfly_control_routes).", w: 6, queries: [{ expr: `max by (cpu) (${m("routeEntries")}${cpuSel()})`, legend: "cpu {{cpu}}" }, { expr: `max(${m("controlRoutes")}${nsSel()})`, legend: "control" }] }));
  b.withPanel(series({ title: "Route operations/s", description: "dfly_control_route_ops_total by operation and result.", unit: "ops", w: 6, queries: [{ expr: `sum by (op, result) (${rate(m("controlRouteOps"), nsSel())})`, legend: "{{op}} {{result}}" }] }));

  // Transport
  b.withRow(row("Transport (NATS)"));
  b.withPanel(series({ title: "Transport lag per CPU", description: "dfly_transport_lag_seconds: age of the last frame batch each CPU consumed.", unit: "s", w: 12, queries: [{ expr: `max by (cpu) (${m("transportLag")}${cpuSel()})`, legend: "cpu {{cpu}}" }] }));
  b.withPanel(series({ title: "Frame batches/s", description: "dfly_transport_batches_total per CPU and direction (many frames per NATS message).", unit: "ops", w: 12, queries: [{ expr: `sum by (cpu, dir) (${rate(m("transportBatches"), cpuSel())})`, legend: "cpu {{cpu}} {{dir}}" }] }));

  // NATS: the control's view (a round trip and a JetStream read per scrape) and the exporter sidecar's
  // server metrics (monitoring.natsExporter; empty without it).
  b.withRow(row("NATS and JetStream"));
  b.withPanel(single({ title: "NATS reachable", description: "dfly_control_nats_up: 1 when the control's NATS round trip answers within 1 s.", queries: [{ expr: `min(${m("controlNatsUp")}${nsSel()})` }], steps: [{ value: null, color: "red" }, { value: 1, color: "green" }] }));
  b.withPanel(single({ title: "JetStream reachable", description: "dfly_control_jetstream_up: 1 when a read from the topology KV bucket answers within 1 s.", queries: [{ expr: `min(${m("controlJetstreamUp")}${nsSel()})` }], steps: [{ value: null, color: "red" }, { value: 1, color: "green" }] }));
  b.withPanel(series({ title: "NATS round trip", description: "dfly_control_nats_rtt_seconds: the control's flush round trip to its NATS server (0 while it fails).", unit: "s", w: 8, h: 4, queries: [{ expr: `max(${m("controlNatsRtt")}${nsSel()})`, legend: "rtt" }] }));
  b.withPanel(series({ title: "NATS server targets up", description: "up of each NATS exporter sidecar (PodMonitor) and of the control: the exporter's own target is down with its pod.", w: 8, h: 4, queries: [{ expr: `min by (pod, instance) (${External.up}${nsSel(`component="nats"`)})`, legend: "{{pod}}" }] }));
  b.withPanel(series({ title: "NATS messages/s per server", description: "nats_varz_in_msgs / nats_varz_out_msgs from the exporter sidecar (prometheus-nats-exporter -varz -prefix=nats).", unit: "ops", w: 8, queries: [{ expr: `sum by (pod) (rate(${External.natsInMsgs}${nsSel()}[${RATE}]))`, legend: "{{pod}} in" }, { expr: `sum by (pod) (rate(${External.natsOutMsgs}${nsSel()}[${RATE}]))`, legend: "{{pod}} out" }] }));
  b.withPanel(series({ title: "NATS connections and slow consumers", description: "nats_varz_connections and nats_varz_slow_consumers per server (exporter sidecar).", w: 8, queries: [{ expr: `max by (pod) (${External.natsConnections}${nsSel()})`, legend: "{{pod}} connections" }, { expr: `max by (pod) (${External.natsSlowConsumers}${nsSel()})`, legend: "{{pod}} slow consumers" }] }));
  b.withPanel(series({ title: "NATS server memory", description: "nats_varz_mem per server (exporter sidecar).", unit: "bytes", w: 8, queries: [{ expr: `max by (pod) (${External.natsMem}${nsSel()})`, legend: "{{pod}}" }] }));

  // Processes: prom-client's default metrics, exported by every service.
  b.withRow(row("Service processes"));
  b.withPanel(series({ title: "Event-loop lag p99", description: "nodejs_eventloop_lag_p99_seconds per process: a stalled loop delays packets, heartbeats and scrapes.", unit: "s", w: 6, queries: [{ expr: `max by (component, instance) (${m("eventLoopLagP99")}${nsSel()})`, legend: "{{component}} {{instance}}" }] }));
  b.withPanel(series({ title: "CPU per process", description: "rate(process_cpu_seconds_total): 1 = one core busy.", unit: "percentunit", w: 6, queries: [{ expr: `sum by (component, instance) (rate(${m("processCpu")}${nsSel()}[${RATE}]))`, legend: "{{component}} {{instance}}" }] }));
  b.withPanel(series({ title: "Resident memory and heap", description: "process_resident_memory_bytes and nodejs_heap_size_used_bytes per process.", unit: "bytes", w: 6, queries: [{ expr: `max by (component, instance) (${m("processRss")}${nsSel()})`, legend: "{{component}} {{instance}} rss" }, { expr: `max by (component, instance) (${m("heapUsed")}${nsSel()})`, legend: "{{component}} {{instance}} heap" }] }));
  b.withPanel(series({ title: "GC time", description: "rate(nodejs_gc_duration_seconds_sum) per process: the share of time spent collecting garbage.", unit: "percentunit", w: 6, queries: [{ expr: `sum by (component, instance) (rate(${m("gcSeconds")}${nsSel()}[${RATE}]))`, legend: "{{component}} {{instance}}" }] }));
  // ipfw: the replicated rule set and each CPU's own state table.
  b.withRow(row("Firewall (ipfw)"));
  b.withPanel(series({ title: "ipfw states per CPU", description: "dfly_ipfw_states against dfly_ipfw_state_max: each CPU holds the states of the flows it owns (symmetric RSS puts both directions on it).", w: 6, min: 0, queries: [{ expr: `max by (cpu) (${m("ipfwStates")}${cpuSel()})`, legend: "cpu {{cpu}}" }, { expr: `max(${m("ipfwStateMax")}${cpuSel()})`, legend: "limit" }] }));
  b.withPanel(series({ title: "ipfw state creations and expiries/s", description: "dfly_ipfw_state_created_total (keep-state, limit), dfly_ipfw_state_expired_total (TCP state and lifetimes) and states received from a draining CPU.", unit: "ops", w: 6, queries: [{ expr: `sum by (cpu) (${rate(m("ipfwStateCreated"), cpuSel())})`, legend: "created cpu {{cpu}}" }, { expr: `sum by (cpu) (${rate(m("ipfwStateExpired"), cpuSel())})`, legend: "expired cpu {{cpu}}" }, { expr: `sum(${rate(m("ipfwStateHandover"), cpuSel())})`, legend: "handed over" }] }));
  b.withPanel(series({ title: "ipfw rejected/s by reason", description: "dfly_ipfw_rejected_total: deny and reset rules, limit src-addr, a full state table (statefull).", unit: "pps", w: 6, queries: [{ expr: `sum by (reason) (${rate(m("ipfwRejected"), cpuSel())})`, legend: "{{reason}}" }] }));
  b.withPanel(series({ title: "ipfw packets/s per rule", description: "dfly_ipfw_rule_packets_total summed over the CPUs (65535: the default rule).", unit: "pps", w: 6, queries: [{ expr: `sum by (rule) (${rate(m("ipfwRulePackets"), cpuSel())})`, legend: "rule {{rule}}" }] }));
  b.withPanel(grid({ title: "ipfw rule-set digest per CPU", description: "dfly_ipfw_digest_info: equal digests = the same rule set on every CPU.", w: 12, queries: [{ expr: `max by (cpu, digest) (${m("ipfwDigest")}${cpuSel()})` }] }));
  b.withPanel(series({ title: "ipfw bytes/s per rule", description: "dfly_ipfw_rule_bytes_total summed over the CPUs.", unit: "Bps", w: 12, queries: [{ expr: `sum by (rule) (${rate(m("ipfwRuleBytes"), cpuSel())})`, legend: "rule {{rule}}" }] }));

  return b.build();
}

/** Every PromQL expression of a dashboard (panels, then variables' label_values queries excluded). */
export function dashboardExprs(d: dashboard.Dashboard): { panel: string; expr: string }[] {
  const out: { panel: string; expr: string }[] = [];
  for (const p of d.panels ?? []) {
    if (!("targets" in p) || !p.targets) continue;
    for (const t of p.targets) {
      const expr = (t as { expr?: unknown }).expr;
      if (typeof expr === "string") out.push({ panel: p.title ?? "", expr });
    }
  }
  return out;
}

/** An expression with Grafana's variables replaced by what "All", a typical interval and range mean. */
export function concreteExpr(expr: string, rateInterval = "1m", range = "1h"): string {
  return expr
    .replaceAll("$__rate_interval", rateInterval)
    .replaceAll("$__range", range)
    .replaceAll("$namespace", ".*")
    .replaceAll("$release", ".*")
    .replaceAll("$cpu", ".*");
}
