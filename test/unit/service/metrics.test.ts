/** serveMetrics (metrics.ts): /metrics in the registry's format, /healthz, /readyz 503 until ready, 404 otherwise. */
import type { AddressInfo } from "node:net";
import { Counter, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { serveMetrics } from "@dfly/service";

describe("serveMetrics", () => {
  it("serves the registry, health and readiness", async () => {
    const registry = new Registry();
    new Counter({ name: "dfly_test_total", help: "a test counter", registers: [registry] }).inc(3);
    let ready = false;
    const srv = await serveMetrics(registry, "127.0.0.1", 0, () => ready);
    const base = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
    try {
      const m = await fetch(`${base}/metrics`);
      expect(m.status).toBe(200);
      expect(m.headers.get("content-type")).toBe(registry.contentType);
      expect(await m.text()).toContain("dfly_test_total 3");
      expect([(await fetch(`${base}/healthz`)).status, (await fetch(`${base}/readyz`)).status]).toEqual([200, 503]);
      ready = true;
      const r = await fetch(`${base}/readyz`);
      expect([r.status, await r.text()]).toEqual([200, "ready\n"]);
      expect((await fetch(`${base}/nope`)).status).toBe(404);
    } finally {
      await new Promise((res) => srv.close(res));
    }
  });
});
