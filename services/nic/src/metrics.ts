/**
 * /metrics of the NIC process: dfly_nic_rx_frames_total{ifname,ring},
 * dfly_nic_tx_frames_total{ifname,ring}, dfly_nic_dropped_total{ifname,reason}, plus
 * dfly_nic_interrupts_total{ifname} (ring batches published). Read from the NIC's own
 * counters in collect().
 */
import type { Server } from "node:http";
import express from "express";
import { Counter, Registry } from "prom-client";
import type { Nic } from "./nic.js";

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
      for (const [ifname, s] of nic.stats) for (const [reason, n] of s.dropped) this.inc({ ifname, reason }, n);
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

export async function serveNicMetrics(registry: Registry, host: string, port: number, ready: () => boolean): Promise<Server> {
  const app = express();
  app.get("/metrics", async (_req, res) => {
    res.set("Content-Type", registry.contentType);
    res.send(await registry.metrics());
  });
  app.get("/healthz", (_req, res) => {
    res.send("ok\n");
  });
  app.get("/readyz", (_req, res) => {
    if (ready()) res.send("ready\n");
    else res.status(503).send("not ready\n");
  });
  return new Promise((res, rej) => {
    const srv = app.listen(port, host, (err?: Error) => (err ? rej(err) : res(srv)));
  });
}
