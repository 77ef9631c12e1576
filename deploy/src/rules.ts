/**
 * Prometheus recording and alerting rules for dfly-netstack: the one source of
 * deploy/prometheus/rules.yml and of the chart's PrometheusRule (deploy/src/generate.ts writes both).
 *
 * Every alert keeps its measured expression (`expr`) apart from its threshold, so a test can check
 * that the measured part returns data against running services, and `promtool check rules` checks
 * the whole rule. Aggregations keep `namespace` and `release` (the chart's ServiceMonitor and
 * PodMonitor copy the pod's app.kubernetes.io/instance into `release`) so that several releases in
 * one Prometheus, even in one namespace, do not mix (the local stack has neither label: the
 * aggregation then has one group). Every alert links its runbook (docs/runbooks/<alert>.md).
 */
import { ACCEPT_QUEUE_OVERFLOW_REASON, External, m } from "./metrics.js";

/** Where the runbooks are published (the chart's monitoring.prometheusRule.runbookBaseUrl replaces it). */
export const RUNBOOK_BASE = "https://github.com/dfly-netstack/dfly-netstack/blob/main/docs/runbooks";
export const runbookUrl = (alert: string) => `${RUNBOOK_BASE}/${alert}.md`;

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
const byNs = "namespace, release";

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
    expr: `max by (${byNs}) (${m("controlEpoch")}) - on (namespace, release) min by (${byNs}) (${m("topologyEpoch")})`,
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
    alert: "DflyNetisrTargetDown",
    expr: `min by (${byNs}, instance) (${External.up}{component="netisr"})`,
    op: "<",
    threshold: 1,
    for: "2m",
    severity: "critical",
    summary: "a netisr CPU does not answer its scrape",
    description:
      "The netisr target {{ $labels.instance }} of {{ $labels.namespace }}/{{ $labels.release }} is down: that CPU's rings are not served (its flows are lost until control renumbers the ring map without it).",
  },
  {
    alert: "DflyNetisrAbsent",
    expr: `count by (${byNs}) (${External.up}{component="control"}) unless on (${byNs}) count by (${byNs}) (${External.up}{component="netisr"})`,
    op: ">",
    threshold: 0,
    for: "5m",
    severity: "critical",
    summary: "no netisr CPU is scraped at all",
    description:
      "The control of {{ $labels.namespace }}/{{ $labels.release }} is scraped but no netisr target exists: the StatefulSet is scaled to 0, or its Service/ServiceMonitor does not select the pods. No packet is processed.",
  },
  {
    alert: "DflyCpusNotRegistered",
    expr: `count by (${byNs}) (${External.up}{component="netisr"}) - on (${byNs}) max by (${byNs}) (${m("controlCpus")})`,
    op: "!=",
    threshold: 0,
    for: "5m",
    severity: "critical",
    summary: "registered CPUs differ from the netisr pods",
    description:
      "In {{ $labels.namespace }}/{{ $labels.release }} the netisr pods scraped minus the CPUs registered with control is {{ $value }}: positive, some pods run but are not CPUs (not registered, crash-looping); negative, control counts CPUs that are not scraped.",
  },
  {
    alert: "DflyControlDown",
    expr: `max by (${byNs}) (${External.up}{component="control"})`,
    op: "<",
    threshold: 1,
    for: "2m",
    severity: "critical",
    summary: "the control plane does not answer its scrape",
    description:
      "The control of {{ $labels.namespace }}/{{ $labels.release }} is down: no route change, listener or topology change can be made, and CPUs that join are not added.",
  },
  {
    alert: "DflyNatsDown",
    expr: `min by (${byNs}) (${m("controlNatsUp")})`,
    op: "<",
    threshold: 1,
    for: "1m",
    severity: "critical",
    summary: "the control has no working NATS connection",
    description:
      "The control of {{ $labels.namespace }}/{{ $labels.release }} gets no NATS round trip within 1 s: NATS (the transport of every frame and of the control plane) is down or unreachable. The control's liveness probe fails too.",
  },
  {
    alert: "DflyJetStreamUnavailable",
    expr: `min by (${byNs}) (${m("controlJetstreamUp")})`,
    op: "<",
    threshold: 1,
    for: "2m",
    severity: "critical",
    summary: "JetStream (the KV store of routes and topology) does not answer",
    description:
      "A read from the topology KV bucket of {{ $labels.namespace }}/{{ $labels.release }} gets no answer within 1 s: JetStream is disabled, lost its quorum (R3: two servers down) or its meta leader. Route and topology changes fail.",
  },
  {
    alert: "DflyTransportLagHigh",
    expr: `max by (${byNs}, cpu) (${m("transportLag")})`,
    op: ">",
    threshold: 0.5,
    for: "5m",
    severity: "warning",
    summary: "frames wait long in a CPU's RX ring",
    description:
      "CPU {{ $labels.cpu }} of {{ $labels.namespace }}/{{ $labels.release }} consumed its last RX batch {{ $value | humanizeDuration }} after it arrived: the CPU does not keep up (look at its event-loop lag) or NATS delivers late.",
  },
  {
    alert: "DflyNicDropsHigh",
    expr: `sum by (${byNs}, ifname, reason) (rate(${m("nicDropped")}[${W}])) / ignoring (reason) group_left () sum by (${byNs}, ifname) (rate(${m("nicRx")}[${W}]))`,
    op: ">",
    threshold: 0.01,
    for: "10m",
    severity: "warning",
    summary: "an emulated NIC drops frames for one reason at more than 1% of its RX rate",
    description:
      "{{ $labels.ifname }} of {{ $labels.namespace }}/{{ $labels.release }} drops {{ $value | humanizePercentage }} as many frames as it receives as `{{ $labels.reason }}` (runt, oversize, badbatch: malformed input on the wire; notopology: no ring map from control; impair_loss: a configured loss).",
  },
  {
    alert: "DflyEventLoopLagHigh",
    expr: `max by (${byNs}, component, instance) (${m("eventLoopLagP99")})`,
    op: ">",
    threshold: 0.2,
    for: "5m",
    severity: "warning",
    summary: "a service's event loop stalls",
    description:
      "The p99 event-loop lag of {{ $labels.component }} {{ $labels.instance }} in {{ $labels.namespace }}/{{ $labels.release }} is {{ $value | humanizeDuration }}: the process is CPU-bound or blocked; its packets, heartbeats and scrapes wait.",
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
      "CPU {{ $labels.cpu }} of {{ $labels.namespace }}/{{ $labels.release }} holds {{ $value | humanizePercentage }} of its ipfw state limit: new stateful flows will be refused (dfly_ipfw_rejected_total{reason=\"statefull\"}). Raise the state limit or add CPUs (states are partitioned by CPU).",
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
              annotations: { summary: r.summary, description: r.description, runbook_url: runbookUrl(r.alert) },
            },
      ),
    })),
  };
}

/** Every PromQL expression of the rules (alerts: the measured part, without the threshold). */
export function ruleExprs(): { rule: string; expr: string }[] {
  return ruleGroups().flatMap((g) => g.rules.map((r) => ({ rule: "record" in r ? r.record : r.alert, expr: r.expr })));
}
