/** /metrics of one netisr CPU: plain counters read in collect(), so the packet path never touches prom-client. */
import { Counter, Gauge, Registry } from "prom-client";
import { cpuCounter, cpuGauge } from "./cpu_metric.js";
import { IP_DROP_REASONS } from "./ipstat.js";
import { PortDrop } from "./netmsg.js";
import { PortRefuse } from "./port_check.js";
import type { NetisrService } from "./service.js";

const ICMP_TYPE_NAMES: Record<number, string> = { 0: "echoreply", 3: "unreach", 11: "timxceed", 12: "paramprob" };

export function netisrMetrics(svc: NetisrService): Registry {
  const reg = new Registry();
  const cpu = String(svc.cpu);
  const n = svc.netisr;
  const st = n.stats;

  new Counter({
    name: "dfly_netisr_rx_packets_total",
    help: "Frames this CPU took from its RX rings.",
    labelNames: ["cpu", "ifname", "ring"],
    registers: [reg],
    collect() {
      this.reset();
      for (const i of n.interfaces) for (let r = 0; r < i.rxFrames.length; r++) if (i.rxFrames[r] > 0 || i.rxRings.includes(r)) this.inc({ cpu, ifname: i.ifname, ring: String(r) }, i.rxFrames[r]);
    },
  });
  new Counter({
    name: "dfly_netisr_tx_packets_total",
    help: "Frames this CPU handed to TX rings.",
    labelNames: ["cpu", "ifname"],
    registers: [reg],
    collect() {
      this.reset();
      for (const i of n.interfaces) this.inc({ cpu, ifname: i.ifname }, i.txFrames);
    },
  });
  new Counter({
    name: "dfly_netisr_rxring_dropped_total",
    help: "Frames dropped because this CPU's RX descriptor ring was full (polling mode).",
    labelNames: ["cpu", "ifname", "ring"],
    registers: [reg],
    collect() {
      this.reset();
      for (const i of n.interfaces) for (const r of i.rxRings) this.inc({ cpu, ifname: i.ifname, ring: String(r) }, i.rxRingDropped[r]);
    },
  });
  new Counter({
    name: "dfly_netisr_port_dropped_total",
    help: "Port messages dropped by the netmsg registry, by reason (unknown type, too short).",
    labelNames: ["cpu", "reason"],
    registers: [reg],
    collect() {
      this.reset();
      for (const reason of Object.values(PortDrop)) this.inc({ cpu, reason }, svc.port.dropped[reason]);
    },
  });
  const simple = cpuCounter(reg, cpu);
  simple("dfly_ip_forwarded_total", "IPv4 datagrams forwarded (ipstat ips_forward).", () => st.ip.forwarded);
  simple("dfly_ip_delivered_total", "IPv4 datagrams delivered to this host (ips_delivered).", () => st.ip.delivered);
  simple("dfly_netisr_redispatched_total", "Frames sent to their owner CPU's port (received on a ring of this CPU).", () => st.redispatched);
  simple("dfly_netisr_redispatch_received_total", "Frames other CPUs sent to this CPU's port.", () => st.redispatchReceived);
  new Counter({
    name: "dfly_netisr_port_refused_total",
    help: "Port messages refused before their handler: a control-only type on the open port, or a body the control's API would refuse, by reason.",
    labelNames: ["cpu", "reason"],
    registers: [reg],
    collect() {
      this.reset();
      for (const reason of Object.values(PortRefuse)) this.inc({ cpu, reason }, svc.gate.refused[reason]);
    },
  });
  simple("dfly_netisr_bad_port_msgs_total", "Control messages on the port that did not decode (netstat -s bad_port_msgs).", () => svc.badPortMsgs);
  simple("dfly_netisr_bad_batches_total", "Frame batches that did not decode (netstat -s bad_batches).", () => st.badBatches);
  simple("dfly_icmp_ratelimited_total", "ICMP messages suppressed by icmplim.", () => st.ip.icmpRatelimited);
  new Counter({
    name: "dfly_ip_dropped_total",
    help: "IPv4 datagrams dropped, by BSD ipstat/tcpstat/udpstat/icmpstat reason.",
    labelNames: ["cpu", "reason"],
    registers: [reg],
    collect() {
      this.reset();
      for (let i = 0; i < IP_DROP_REASONS.length; i++) this.inc({ cpu, reason: IP_DROP_REASONS[i] }, st.ip.dropped[i]);
    },
  });
  new Counter({
    name: "dfly_icmp_sent_total",
    help: "ICMP messages sent, by type (icmpstat icps_outhist).",
    labelNames: ["cpu", "type"],
    registers: [reg],
    collect() {
      this.reset();
      for (const [t, name] of Object.entries(ICMP_TYPE_NAMES)) this.inc({ cpu, type: name }, st.ip.icmpOut[Number(t)]);
    },
  });
  new Counter({
    name: "dfly_transport_batches_total",
    help: "Frame batches this CPU consumed (rx, port_in) and published (tx, port_out).",
    labelNames: ["cpu", "dir"],
    registers: [reg],
    collect() {
      this.reset();
      this.inc({ cpu, dir: "rx" }, st.batchesRx);
      this.inc({ cpu, dir: "tx" }, st.batchesTx);
      this.inc({ cpu, dir: "port_in" }, st.batchesPortIn);
      this.inc({ cpu, dir: "port_out" }, st.batchesPortOut);
    },
  });
  const gauge = cpuGauge(reg, cpu);
  gauge("dfly_route_entries", "Routes in this CPU's replica.", () => svc.routes.size);
  gauge("dfly_topology_epoch", "Topology epoch this CPU runs.", () => n.epoch);
  gauge("dfly_transport_lag_seconds", "How long the last consumed RX batch waited in this CPU's RX ring.", () => st.lagSeconds);
  gauge("dfly_ifpoll_burst", "Current ifpoll poll_burst of this CPU.", () => svc.iopoll.pollBurst);
  new Gauge({
    name: "dfly_route_digest_info",
    help: "Digest of this CPU's route replica (value 1).",
    labelNames: ["cpu", "digest"],
    registers: [reg],
    collect() {
      this.reset();
      this.set({ cpu, digest: svc.routes.digest() }, 1);
    },
  });
  return reg;
}

/** /metrics, /healthz, /readyz: the shared service metrics server. */
export { serveMetrics as serveNetisrMetrics } from "@dfly/service";
