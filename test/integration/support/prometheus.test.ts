import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer, type Server } from "node:http";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Counter, Registry } from "prom-client";
import { freePort } from "../../support/docker.js";
import { PromQueryError, promtool, startPrometheus, type PrometheusProcess } from "../../support/prometheus.js";

describe("startPrometheus: Debian's prometheus scraping a static target", () => {
  let prom: PrometheusProcess;
  let app: Server;
  let dir: string;

  beforeAll(async () => {
    const reg = new Registry();
    const c = new Counter({ name: "dfly_support_packets_total", help: "test", labelNames: ["cpu"], registers: [reg] });
    c.inc({ cpu: "0" }, 5);
    c.inc({ cpu: "1" }, 7);
    const port = await freePort();
    app = createServer(async (_req, res) => {
      res.setHeader("content-type", reg.contentType);
      res.end(await reg.metrics());
    });
    await new Promise<void>((r) => app.listen(port, "127.0.0.1", r));
    dir = mkdtempSync(join(tmpdir(), "dfly-prom-test-"));
    const rules = join(dir, "rules.yml");
    writeFileSync(
      rules,
      [
        "groups:",
        "  - name: support",
        "    rules:",
        "      - record: dfly:support_packets:sum",
        "        expr: sum(dfly_support_packets_total)",
        "      - alert: SupportPacketsSeen",
        "        expr: sum(dfly_support_packets_total) > 0",
        "",
      ].join("\n"),
    );
    expect(promtool("check", "rules", rules).code).toBe(0);
    prom = await startPrometheus({ targets: [`127.0.0.1:${port}`], ruleFiles: [rules] });
  });
  afterAll(async () => {
    await prom?.stop();
    await new Promise((r) => app?.close(r));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("scrapes the target, evaluates the rules, and reports bad PromQL", async () => {
    const s = await prom.waitFor('dfly_support_packets_total{cpu="1"}');
    expect(s[0]!.value).toBe(7);
    const rec = await prom.waitFor("dfly:support_packets:sum");
    expect(rec[0]!.value).toBe(12);
    const t = await prom.targets();
    expect(t.map((x) => x.health)).toEqual(["up"]);
    const groups = await prom.ruleGroups();
    expect(groups[0]!.rules.map((r) => r.health)).toEqual(["ok", "ok"]);
    expect(await prom.query("scalar(sum(dfly_support_packets_total))")).toEqual([{ metric: {}, value: 12 }]);
    await expect(prom.query("sum(")).rejects.toBeInstanceOf(PromQueryError);
  });

  it("promtool rejects a broken rule file", () => {
    const bad = join(dir, "bad.yml");
    writeFileSync(bad, "groups:\n  - name: x\n    rules:\n      - record: r\n        expr: sum(\n");
    expect(promtool("check", "rules", bad).code).not.toBe(0);
  });
});
