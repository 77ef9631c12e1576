/**
 * /metrics of the NIC process: dfly_nic_rx_frames_total{ifname,ring},
 * dfly_nic_tx_frames_total{ifname,ring}, dfly_nic_dropped_total{ifname,reason} (every NicDrop reason, from 0), plus
 * dfly_nic_interrupts_total{ifname} (ring batches published). Read from the NIC's own
 * counters in collect().
 */
import { Counter, Registry } from "prom-client";
import { NicDrop, type Nic } from "./nic.js";

export function nicMetrics(nic: Nic): Registry {
  const reg = new Registry();
  new Counter({
    name: "dfly_nic_rx_frames_total",
    help: "Frames the NIC steered to an RX ring.",
    labelNames: ["ifname", "ring"],
    registers: [reg],
    collect() {
      this.reset();
      for (const [ifname, s] of nic.stats) for (let r = 0; r < s.rxFrames.length; r++) this.inc({ ifname, ring: String(r) }, s.rxFrames[r]);
    },
  });
  new Counter({
    name: "dfly_nic_tx_frames_total",
    help: "Frames the NIC put on the wire from a TX ring.",
    labelNames: ["ifname", "ring"],
    registers: [reg],
    collect() {
      this.reset();
      for (const [ifname, s] of nic.stats) for (let r = 0; r < s.txFrames.length; r++) this.inc({ ifname, ring: String(r) }, s.txFrames[r]);
    },
  });
  new Counter({
    name: "dfly_nic_dropped_total",
    help: "Frames (or wire messages, for badbatch) the NIC dropped, by reason.",
    labelNames: ["ifname", "reason"],
    registers: [reg],
    collect() {
      this.reset();
      // Every known reason from 0, so dashboards and rules have a series before the first drop.
      for (const [ifname, s] of nic.stats) for (const reason of Object.values(NicDrop)) this.inc({ ifname, reason }, s.dropped.get(reason) ?? 0);
    },
  });
  new Counter({
    name: "dfly_nic_interrupts_total",
    help: "RX ring batches published (interrupts, or DMA bursts in polling mode).",
    labelNames: ["ifname"],
    registers: [reg],
    collect() {
      this.reset();
      for (const [ifname, s] of nic.stats) this.inc({ ifname }, s.interrupts);
    },
  });
  return reg;
}

/** /metrics, /healthz, /readyz: the shared service metrics server. */
export { serveMetrics as serveNicMetrics } from "@dfly/service";
