/** The TCP and socket series of one netisr CPU's /metrics (names in the README), read in collect(). */
import { Counter, Gauge, type Registry } from "prom-client";
import { ListenerMigrationResult, ListenerPolicy, TCP_STATE_NAMES } from "@dfly/core";
import type { TcpNetisr } from "./tcp_netisr.js";

export function tcpMetrics(reg: Registry, tcp: TcpNetisr): void {
  const cpu = String(tcp.cpu);
  new Gauge({
    name: "dfly_tcp_connections",
    help: "TCP connections on this CPU by state (its partition of the PCBs).",
    labelNames: ["cpu", "state"],
    registers: [reg],
    collect() {
      this.reset();
      const s = tcp.connectionStates();
      for (const name of TCP_STATE_NAMES) if (name !== "LISTEN") this.set({ cpu, state: name }, s[name] ?? 0);
    },
  });
  new Counter({
    name: "dfly_tcp_connect_migrations_total",
    help: "connect() calls whose connection moved to the CPU that owns its 4-tuple.",
    labelNames: ["cpu"],
    registers: [reg],
    collect() {
      this.reset();
      const h = tcp.host;
      this.inc({ cpu }, h ? h.pcb.stats[tcp.index].connectMigrations : 0);
    },
  });
  new Gauge({
    name: "dfly_so_accept_queue_depth",
    help: "Completed connections waiting for accept(), this CPU's share of each listener.",
    labelNames: ["cpu", "listener"],
    registers: [reg],
    collect() {
      this.reset();
      for (const l of tcp.host?.listenerList() ?? []) this.set({ cpu, listener: l.id }, l.ls.qlen);
    },
  });
  new Counter({
    name: "dfly_so_listener_migrations_total",
    help: "What closing a SO_REUSEPORT listener did with its connections, by policy and result.",
    labelNames: ["cpu", "policy", "result"],
    registers: [reg],
    collect() {
      this.reset();
      const h = tcp.host;
      const st = h?.pcb.stats[tcp.index].listenerMigrations;
      for (const policy of Object.values(ListenerPolicy)) {
        for (const result of Object.values(ListenerMigrationResult)) this.inc({ cpu, policy, result }, st ? st[policy][result] : 0);
      }
    },
  });
  new Counter({
    name: "dfly_tcp_segments_total",
    help: "TCP segments processed (in) and sent (out) by this CPU.",
    labelNames: ["cpu", "dir"],
    registers: [reg],
    collect() {
      this.reset();
      const c = tcp.host?.cpus[tcp.index];
      this.inc({ cpu, dir: "in" }, c ? c.stats.segsIn : 0);
      this.inc({ cpu, dir: "out" }, c ? c.stats.segsOut : 0);
    },
  });
  new Counter({
    name: "dfly_tcp_wrongcpu_total",
    help: "TCP segments that reached a CPU that does not own their connection (dropped).",
    labelNames: ["cpu"],
    registers: [reg],
    collect() {
      this.reset();
      const c = tcp.host?.cpus[tcp.index];
      this.inc({ cpu }, c ? c.stats.wrongcpu : 0);
    },
  });
}
