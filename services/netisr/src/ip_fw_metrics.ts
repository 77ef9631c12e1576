/** The ipfw series of one netisr CPU's /metrics (names in the README), read in collect(). */
import { Counter, Gauge, type Registry } from "prom-client";
import { IPFW_REJECT_REASONS } from "@dfly/core";
import { cpuCounter, cpuGauge } from "./cpu_metric.js";
import type { IpfwHook } from "./ip_fw.js";
import type { IpfwPort } from "./ip_fw_port.js";

export function ipfwMetrics(reg: Registry, cpuId: number, h: IpfwHook, port: IpfwPort): void {
  const cpu = String(cpuId);
  const c = h.chain;
  const perRule = (name: string, help: string, arr: () => Float64Array) =>
    new Counter({
      name,
      help,
      labelNames: ["cpu", "rule"],
      registers: [reg],
      collect() {
        this.reset();
        const a = arr();
        c.show().forEach((r, i) => this.inc({ cpu, rule: String(r.num) }, a[i]));
      },
    });
  perRule("dfly_ipfw_rule_packets_total", "Packets that matched each ipfw rule on this CPU (65535: the default rule).", () => c.packets);
  perRule("dfly_ipfw_rule_bytes_total", "Bytes of the packets that matched each ipfw rule on this CPU.", () => c.bytes);
  const counter = cpuCounter(reg, cpu);
  counter("dfly_ipfw_state_created_total", "ipfw dynamic states this CPU created (keep-state, limit).", () => c.stats.stateCreated);
  counter("dfly_ipfw_state_expired_total", "ipfw dynamic states this CPU expired (TCP state and lifetimes).", () => c.stats.stateExpired);
  counter("dfly_ipfw_state_handover_received_total", "ipfw states handed to this CPU by a leaving CPU (live rescale).", () => port.statesIn);
  new Counter({
    name: "dfly_ipfw_rejected_total",
    help: "Packets ipfw refused on this CPU, by reason (deny, reset, limit, statefull).",
    labelNames: ["cpu", "reason"],
    registers: [reg],
    collect() {
      this.reset();
      IPFW_REJECT_REASONS.forEach((reason, i) => this.inc({ cpu, reason }, c.stats.rejected[i]));
    },
  });
  const gauge = cpuGauge(reg, cpu);
  gauge("dfly_ipfw_states", "ipfw dynamic states held by this CPU (its own flows only).", () => c.states.size);
  gauge("dfly_ipfw_state_max", "Most ipfw dynamic states this CPU may hold (dyn_max).", () => c.states.max);
  new Gauge({
    name: "dfly_ipfw_digest_info",
    help: "Digest of the ipfw rule set this CPU holds (equal on every CPU).",
    labelNames: ["cpu", "digest"],
    registers: [reg],
    collect() {
      this.reset();
      this.set({ cpu, digest: h.digest }, 1);
    },
  });
}
