/** Makers of one-number series labelled by netisr CPU, read from plain stats in collect(). */
import { Counter, Gauge, type Registry } from "prom-client";

type Read = () => number;

/** A counter whose value is a running total the CPU keeps itself (reset, then set, on each scrape). */
export function cpuCounter(reg: Registry, cpu: string): (name: string, help: string, get: Read) => Counter {
  return (name, help, get) =>
    new Counter({
      name,
      help,
      labelNames: ["cpu"],
      registers: [reg],
      collect() {
        this.reset();
        this.inc({ cpu }, get());
      },
    });
}

/** A gauge whose value is what the CPU holds at scrape time. */
export function cpuGauge(reg: Registry, cpu: string): (name: string, help: string, get: Read) => Gauge {
  return (name, help, get) =>
    new Gauge({
      name,
      help,
      labelNames: ["cpu"],
      registers: [reg],
      collect() {
        this.set({ cpu }, get());
      },
    });
}
