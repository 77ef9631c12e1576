/**
 * Prometheus recording and alerting rules for dfly-netstack: the one source of
 * deploy/prometheus/rules.yml and of the chart's PrometheusRule (deploy/src/generate.ts writes both).
 *
 * Every alert keeps its measured expression (`expr`) apart from its threshold, so a test can check
 * that the measured part returns data against running services, and `promtool check rules` checks
 * the whole rule. Aggregations keep `namespace` so that several releases in one Prometheus do not
 * mix (the local stack has no namespace label: the aggregation then has one group).
 */
import { ACCEPT_QUEUE_OVERFLOW_REASON, m } from "./metrics.js";

export interface RecordingRule {
  readonly record: string;
  readonly expr: string;
}

export interface AlertingRule {
  readonly alert: string;
  /** The measured quantity (returns data whenever the services run). */
  readonly expr: string;
  readonly op: ">" | "<" | "!=";
  readonly threshold: number;
  readonly for: string;
  readonly severity: "critical" | "warning" | "info";
  readonly summary: string;
  readonly description: string;
}

export interface RuleGroup {
  readonly name: string;
  readonly rules: readonly (RecordingRule | AlertingRule)[];
}

const W = "5m";
const byNs = "namespace";

export const recordingRules: readonly RecordingRule[] = [
  { record: "dfly:netisr_rx_packets:rate5m", expr: `sum by (${byNs}, cpu) (rate(${m("netisrRx")}[${W}]))` },
  { record: "dfly:netisr_tx_packets:rate5m", expr: `sum by (${byNs}, cpu) (rate(${m("netisrTx")}[${W}]))` },
  { record: "dfly:ip_forwarded:rate5m", expr: `sum by (${byNs}, cpu) (rate(${m("ipForwarded")}[${W}]))` },
  { record: "dfly:ip_dropped:rate5m", expr: `sum by (${byNs}, reason) (rate(${m("ipDropped")}[${W}]))` },
  {
    record: "dfly:netisr_redispatch:ratio_rate5m",
    expr: `sum by (${byNs}) (rate(${m("redispatched")}[${W}])) / sum by (${byNs}) (rate(${m("netisrRx")}[${W}]))`,
  },
  {
    record: "dfly:rss_imbalance:ratio_rate5m",
    expr: `max by (${byNs}) (dfly:netisr_rx_packets:rate5m) / avg by (${byNs}) (dfly:netisr_rx_packets:rate5m)`,
  },
];

export const alertingRules: readonly AlertingRule[] = [
  {
    alert: "DflyRouteDigestMismatch",
    expr: `count by (${byNs}) (count by (${byNs}, digest) (${m("routeDigest")}))`,
    op: ">",
    threshold: 1,
    for: "2m",
    severity: "critical",
    summary: "netisr CPUs hold different route tables",
    description:
      "{{ $value }} different route-table digests across the netisr CPUs of {{ $labels.namespace }}: a route change did not reach every CPU. Run `dfly route verify`.",
  },
  {
    alert: "DflyTopologyEpochBehind",
    expr: `max by (${byNs}) (${m("controlEpoch")}) - on (${byNs}) min by (${byNs}) (${m("topologyEpoch")})`,
    op: ">",
    threshold: 0,
    for: "5m",
    severity: "warning",
    summary: "a netisr CPU is on an old topology epoch",
    description:
      "Some netisr CPU in {{ $labels.namespace }} is {{ $value }} topology epoch(s) behind control: its ring subscriptions do not follow the current ring map.",
  },
  {
    alert: "DflyPacketDropsHigh",
    expr: `sum by (${byNs}, reason) (rate(${m("ipDropped")}[${W}])) / ignoring (reason) group_left () sum by (${byNs}) (rate(${m("netisrRx")}[${W}]))`,
    op: ">",
    threshold: 0.01,
    for: "10m",
    severity: "warning",
    summary: "netisr drops more than 1% of packets for one reason",
    description: "{{ $value | humanizePercentage }} of the packets received in {{ $labels.namespace }} are dropped as `{{ $labels.reason }}`.",
  },
  {
    alert: "DflyRedispatchRatioHigh",
    expr: `sum by (${byNs}) (rate(${m("redispatched")}[${W}])) / sum by (${byNs}) (rate(${m("netisrRx")}[${W}]))`,
    op: ">",
    threshold: 0.5,
    for: "15m",
    severity: "info",
    summary: "most packets are redispatched to another CPU",
    description:
      "{{ $value | humanizePercentage }} of the packets in {{ $labels.namespace }} arrive on a ring whose CPU does not own the flow and are redispatched: the NIC has fewer rings than there are CPUs (each hop costs a NATS message).",
  },
  {
    alert: "DflyAcceptQueueOverflow",
    expr: `sum by (${byNs}, cpu) (rate(${m("ipDropped")}{reason="${ACCEPT_QUEUE_OVERFLOW_REASON}"}[${W}]))`,
    op: ">",
    threshold: 0,
    for: "5m",
    severity: "warning",
    summary: "listen queues overflow",
    description:
      "CPU {{ $labels.cpu }} in {{ $labels.namespace }} refuses {{ $value | humanize }} connections/s because an accept queue is full: the application does not accept fast enough, or its backlog is too small.",
  },
  {
    alert: "DflyTcpHandoverFailed",
    expr: `sum by (${byNs}, cpu, dir) (increase(${m("handover")}{result="failed"}[${W}]))`,
    op: ">",
    threshold: 0,
    for: "0m",
    severity: "warning",
    summary: "TCP connections were lost in a live rescale",
    description:
      "CPU {{ $labels.cpu }} in {{ $labels.namespace }} failed to hand over (out) or to install (in) {{ $value | humanize }} TCP connections in the last 5 minutes while a CPU drained: their peers were reset. Look at the leaving pod's log (`drained: … failed`) and the drain timeout (DFLY_DRAIN_MS).",
  },
  {
    alert: "DflyIpfwStateTableNearFull",
    expr: `max by (${byNs}, cpu) (${m("ipfwStates")} / ${m("ipfwStateMax")})`,
    op: ">",
    threshold: 0.9,
    for: "5m",
    severity: "warning",
    summary: "a CPU's ipfw state table is nearly full",
    description:
      "CPU {{ $labels.cpu }} in {{ $labels.namespace }} holds {{ $value | humanizePercentage }} of its ipfw state limit: new stateful flows will be refused (dfly_ipfw_rejected_total{reason=\"statefull\"}). Raise the state limit or add CPUs (states are partitioned by CPU).",
  },
];

export function ruleGroups(): RuleGroup[] {
  return [
    { name: "dfly-netstack.recording", rules: recordingRules },
    { name: "dfly-netstack.alerts", rules: alertingRules },
  ];
}

/** The rule groups as Prometheus' rule-file structure (alert expr = measured expr, op, threshold). */
export function promRuleFile(): { groups: Record<string, unknown>[] } {
  return {
    groups: ruleGroups().map((g) => ({
      name: g.name,
      rules: g.rules.map((r) =>
        "record" in r
          ? { record: r.record, expr: r.expr }
          : {
              alert: r.alert,
              expr: `${r.expr} ${r.op} ${r.threshold}`,
              for: r.for,
              labels: { severity: r.severity },
              annotations: { summary: r.summary, description: r.description },
            },
      ),
    })),
  };
}

/** Every PromQL expression of the rules (alerts: the measured part, without the threshold). */
export function ruleExprs(): { rule: string; expr: string }[] {
  return ruleGroups().flatMap((g) => g.rules.map((r) => ({ rule: "record" in r ? r.record : r.alert, expr: r.expr })));
}
