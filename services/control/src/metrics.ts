/** The control's metrics (one prom-client Registry per process); gauges are set in collect() from the live state. */
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
  new Gauge({
    name: "dfly_control_route_kv_bad",
    help: "Values of the routes KV bucket skipped at start-up (not parseable; each named in the log with its key)",
    registers: [registry],
    collect() {
      this.set(routes.badEntries.length);
    },
  });
  new Gauge({
    name: "dfly_control_route_pending_cpus",
    help: "Live CPUs that missed a stored route change and wait for repair (a full-table reload)",
    registers: [registry],
    collect() {
      this.set(routes.chain.pendingCpus().length);
    },
  });
  const routeOps = new Counter({
    name: "dfly_control_route_ops_total",
    help: "Route changes by op (add, delete) and result (ok, error = not stored, partial = stored but some CPU pending)",
    labelNames: ["op", "result"] as const,
    registers: [registry],
  });
  routes.onOp = (op, result) => routeOps.inc({ op, result });
  return { registry, routeOps };
}
