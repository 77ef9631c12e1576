/**
 * prom-client's default process metrics (event-loop lag, heap, CPU seconds, resident memory, GC) on a
 * service's registry: every service process exports them through serveMetrics, so a stalled event
 * loop or a growing heap shows on the dashboard whichever service it is.
 */
import { collectDefaultMetrics, type Registry } from "prom-client";

const withDefaults = new WeakSet<Registry>();

/** Registers the default metrics on `registry` once (a second call for the same registry does nothing). */
export function processMetrics(registry: Registry): void {
  if (withDefaults.has(registry)) return;
  withDefaults.add(registry);
  // 10 ms sampling resolves the lag alert's threshold (0.2 s) with room to spare.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 10 });
}
