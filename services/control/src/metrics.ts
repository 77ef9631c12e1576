/**
 * The control's /metrics, /healthz, /readyz (express + prom-client, one
 * Registry per process). Gauges are set in collect() from the live state.
 */
import express from "express";
import type { Server } from "node:http";
import { Counter, Gauge, Registry } from "prom-client";
import type { Cluster } from "./cluster.js";
import type { RouteManager } from "./routes.js";

export interface ControlMetrics {
  registry: Registry;
  routeOps: Counter<"op" | "result">;
}

export function controlMetrics(cluster: Cluster, routes: RouteManager): ControlMetrics {
  const registry = new Registry();
  new Gauge({
    name: "dfly_control_cpus",
    help: "Live netisr CPUs registered with the control plane",
    registers: [registry],
    collect() {
      this.set(cluster.liveCpus().length);
    },
  });
  new Gauge({
    name: "dfly_control_topology_epoch",
    help: "Topology epoch (changes when CPUs or interfaces join or leave)",
    registers: [registry],
    collect() {
      this.set(cluster.epoch);
    },
  });
  new Gauge({
    name: "dfly_control_routes",
    help: "Routes in the control's authoritative table",
    registers: [registry],
    collect() {
      this.set(routes.size);
    },
  });
  const routeOps = new Counter({
    name: "dfly_control_route_ops_total",
    help: "Route changes by op (add, delete) and result (ok, error, partial = some CPU did not confirm)",
    labelNames: ["op", "result"] as const,
    registers: [registry],
  });
  routes.onOp = (op, result) => routeOps.inc({ op, result });
  return { registry, routeOps };
}

/**
 * /metrics, /healthz, /readyz (503 until `ready()`) of a service process; port 0 picks a free port.
 * Shared by the control, the NIC (serveNicMetrics) and the netisr (serveNetisrMetrics).
 */
export async function serveMetrics(registry: Registry, host: string, port: number, ready: () => boolean): Promise<Server> {
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
