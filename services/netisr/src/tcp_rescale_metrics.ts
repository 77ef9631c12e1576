/** The live-rescale series of one netisr CPU's /metrics (names in the README), read in collect(). */
import { Counter, type Registry } from "prom-client";
import { cpuCounter, cpuGauge } from "./cpu_metric.js";
import { RescaleDrop, type TcpRescale } from "./tcp_rescale.js";

export function rescaleMetrics(reg: Registry, cpuId: number, r: TcpRescale): void {
  const cpu = String(cpuId);
  const s = r.stats;
  const counter = cpuCounter(reg, cpu);
  counter("dfly_tcp_rescale_redispatched_total", "TCP segments this CPU sent to the CPU where their connection lives.", () => s.redispatched);
  counter("dfly_tcp_rescale_redispatch_received_total", "TCP segments redispatched to this CPU by the rescale layer.", () => s.redispatchReceived);
  new Counter({
    name: "dfly_tcp_rescale_held_total",
    help: "TCP segments held during a grace period after an epoch change, by outcome.",
    labelNames: ["cpu", "result"],
    registers: [reg],
    collect() {
      this.reset();
      this.inc({ cpu, result: "released" }, s.heldReleased);
      this.inc({ cpu, result: "expired" }, s.heldExpired);
    },
  });
  new Counter({
    name: "dfly_tcp_rescale_dropped_total",
    help: "TCP segments or rescale netmsgs the rescale layer dropped, by reason.",
    labelNames: ["cpu", "reason"],
    registers: [reg],
    collect() {
      this.reset();
      for (const reason of Object.values(RescaleDrop)) this.inc({ cpu, reason }, s.dropped[reason]);
    },
  });
  const gauge = cpuGauge(reg, cpu);
  gauge("dfly_tcp_foreign_entries", "Connections that live on another CPU in buckets this CPU owns (their segments are redispatched).", () => r.foreign.size);
  new Counter({
    name: "dfly_tcp_handover_total",
    help: "TCP connections handed over by this CPU (out) or installed on it (in).",
    labelNames: ["cpu", "dir", "result"],
    registers: [reg],
    collect() {
      this.reset();
      this.inc({ cpu, dir: "out", result: "ok" }, s.handoverOut);
      this.inc({ cpu, dir: "out", result: "failed" }, s.handoverOutFailed);
      this.inc({ cpu, dir: "in", result: "ok" }, s.handoverIn);
      this.inc({ cpu, dir: "in", result: "failed" }, s.handoverInFailed);
    },
  });
  gauge("dfly_tcp_handover_last_seconds", "How long this CPU's last drain took (every connection handed over and acknowledged).", () => s.lastDrainMs / 1000);
}
