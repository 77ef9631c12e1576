/**
 * /metrics, /healthz, /readyz of a service process over node:http; /readyz is 503 until `ready()`.
 * /healthz is the liveness probe: 200 unless `opts.health` names a reason (then 503 with it).
 * The registry also gets prom-client's default process metrics (process_metrics.ts).
 */
import { createServer, type Server } from "node:http";
import type { Registry } from "prom-client";
import { processMetrics } from "./process_metrics.js";

export interface ServeMetricsOptions {
  /** Resolves to undefined when the process is healthy, else why not (e.g. its NATS connection is down); gets /healthz's query. */
  health?: (query: URLSearchParams) => Promise<string | undefined>;
}

/** Serves `registry` on host:port (0 picks a free port); resolves once listening. */
export function serveMetrics(registry: Registry, host: string, port: number, ready: () => boolean, opts: ServeMetricsOptions = {}): Promise<Server> {
  processMetrics(registry);
  const srv = createServer((req, res) => {
    const [path, query] = (req.url ?? "/").split("?", 2);
    const send = (code: number, type: string, body: string) => {
      res.writeHead(code, { "Content-Type": type, "Content-Length": Buffer.byteLength(body) });
      res.end(req.method === "HEAD" ? undefined : body);
    };
    if (req.method !== "GET" && req.method !== "HEAD") return send(404, "text/plain; charset=utf-8", "not found\n");
    if (path === "/healthz") {
      if (!opts.health) return send(200, "text/plain; charset=utf-8", "ok\n");
      opts.health(new URLSearchParams(query ?? "")).then(
        (why) => (why === undefined ? send(200, "text/plain; charset=utf-8", "ok\n") : send(503, "text/plain; charset=utf-8", `unhealthy: ${why}\n`)),
        (err: unknown) => send(503, "text/plain; charset=utf-8", `unhealthy: ${err instanceof Error ? err.message : String(err)}\n`),
      );
      return;
    }
    if (path === "/readyz") return ready() ? send(200, "text/plain; charset=utf-8", "ready\n") : send(503, "text/plain; charset=utf-8", "not ready\n");
    if (path !== "/metrics") return send(404, "text/plain; charset=utf-8", "not found\n");
    registry.metrics().then(
      (body) => send(200, registry.contentType, body),
      (err: unknown) => send(500, "text/plain; charset=utf-8", `${err instanceof Error ? err.message : String(err)}\n`),
    );
  });
  return new Promise((res, rej) => {
    srv.once("error", rej);
    srv.listen(port, host, () => {
      srv.off("error", rej);
      res(srv);
    });
  });
}
