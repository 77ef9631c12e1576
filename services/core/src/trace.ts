/**
 * Debug tracing, chosen by one environment variable (STYLE.md §11; grpc-node's GRPC_TRACE):
 *
 *   DFLY_TRACE=route,reuseport     trace those areas
 *   DFLY_TRACE=all                 every area
 *
 * Areas: `rss` (topology/ringmap a NIC steers by), `route` (route changes fanned out to the
 * CPUs and each CPU's answer), `reuseport` (listener install/close, heir, moved and reset counts),
 * `rescale` (each topology epoch a CPU follows). Lines go to stderr as
 * `dfly:<area> <message>`. Tracing is for people, never on the per-packet path: callers pass a
 * closure so nothing is formatted when the area is off.
 */
export const TraceArea = {
  rss: "rss",
  route: "route",
  reuseport: "reuseport",
  rescale: "rescale",
} as const;
export type TraceArea = (typeof TraceArea)[keyof typeof TraceArea];

let enabled = parseTraceSpec(globalThis.process?.env?.DFLY_TRACE ?? "");
let sink: (line: string) => void = (line) => console.error(line);

/** The areas a DFLY_TRACE value turns on; unknown names are ignored (a typo must not break a service). */
export function parseTraceSpec(spec: string): Set<TraceArea> {
  const all = Object.values(TraceArea);
  const words = spec.split(",").map((w) => w.trim().toLowerCase()).filter((w) => w !== "");
  if (words.includes("all") || words.includes("*")) return new Set(all);
  return new Set(all.filter((a) => words.includes(a)));
}

export function traceEnabled(area: TraceArea): boolean {
  return enabled.has(area);
}

/** Writes `dfly:<area> <msg()>` when the area is on. */
export function trace(area: TraceArea, msg: () => string): void {
  if (enabled.has(area)) sink(`dfly:${area} ${msg()}`);
}

/** Tests and embedders: set the areas and where lines go. Returns a function that restores the previous setting. */
export function setTrace(spec: string, to?: (line: string) => void): () => void {
  const prev = { enabled, sink };
  enabled = parseTraceSpec(spec);
  if (to) sink = to;
  return () => {
    enabled = prev.enabled;
    sink = prev.sink;
  };
}
