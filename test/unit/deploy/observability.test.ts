import { beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Ajv } from "ajv";
import { parse } from "yaml";
import { buildDashboard, concreteExpr, dashboardExprs, DASHBOARD_UID } from "../../../deploy/src/dashboard.js";
import { generatedFiles, repoRoot, staleFiles } from "../../../deploy/src/generate.js";
import { metricNames } from "../../../deploy/src/metrics.js";
import { alertingRules, promRuleFile, recordingRules, ruleExprs } from "../../../deploy/src/rules.js";
import { grafanaDashboardSchema } from "../../support/grafana-schema.js";
import { promtool } from "../../support/prometheus.js";

/** Metric names an expression refers to (dfly_… series, dfly:… recording rules, the processes' nodejs_…/process_…). */
function referenced(expr: string): string[] {
  const noStrings = expr.replace(/"[^"]*"/g, '""');
  return [...new Set(noStrings.match(/\b(?:dfly[_:][a-z0-9_:]+|nodejs_[a-z0-9_]+|process_[a-z0-9_]+)/g) ?? [])];
}

describe("observability sources: generated files", () => {
  it("the committed dashboard and rule files equal the generated ones (run npx vite-node deploy/src/gen.ts)", () => {
    expect(staleFiles()).toEqual([]);
    const files = generatedFiles();
    expect(files["deploy/grafana/dashboards/dfly-netstack.json"]).toBe(files["helm/dfly-netstack/files/dashboards/dfly-netstack.json"]);
    expect(files["deploy/prometheus/rules.yml"]).toBe(files["helm/dfly-netstack/files/prometheus-rules.yaml"]);
  });
});

describe("Grafana dashboard", () => {
  const dash = buildDashboard();
  const json = JSON.parse(readFileSync(join(repoRoot, "deploy/grafana/dashboards/dfly-netstack.json"), "utf8"));
  let validate: ReturnType<Ajv["compile"]>;

  beforeAll(() => {
    validate = new Ajv({ allErrors: true, strict: false }).compile(grafanaDashboardSchema());
  });

  it("passes the strict schema made from the Grafana SDK types, and the schema catches mistakes", () => {
    expect(validate(json), JSON.stringify(validate.errors?.slice(0, 5))).toBe(true);
    const typo = structuredClone(json);
    typo.refrsh = "5s";
    expect(validate(typo)).toBe(false);
    const wrongType = structuredClone(json);
    wrongType.panels[1].gridPos.w = "wide";
    expect(validate(wrongType)).toBe(false);
    const badTarget = structuredClone(json);
    badTarget.panels[1].targets[0].exprr = badTarget.panels[1].targets[0].expr;
    expect(validate(badTarget)).toBe(false);
  });

  it("has unique panel ids and a non-overlapping layout within 24 columns", () => {
    expect(json.uid).toBe(DASHBOARD_UID);
    const panels = json.panels as { id: number; type: string; gridPos: { x: number; y: number; w: number; h: number } }[];
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    const cells = new Set<string>();
    for (const p of panels) {
      expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++)
        for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
          expect(cells.has(`${x},${y}`), `panel ${p.id} overlaps at ${x},${y}`).toBe(false);
          cells.add(`${x},${y}`);
        }
    }
    const vars = (json.templating.list as { name: string; type: string }[]).map((v) => `${v.name}:${v.type}`);
    expect(vars).toEqual(["datasource:datasource", "namespace:query", "release:query", "cpu:query"]);
  });

  it("shows every required view", () => {
    const titles = (json.panels as { title: string }[]).map((p) => p.title);
    for (const want of [
      "RX packets/s per CPU",
      "TX packets/s per CPU",
      "Forwarded packets/s per CPU",
      "Drops/s by reason",
      "RX share per CPU",
      "RSS imbalance (max/mean)",
      "Redispatched packets/s per CPU",
      "TCP connections per CPU",
      "Accept-queue depth per listener",
      "Listener and connection migrations",
      "Topology epoch",
      "Route-table digest per CPU",
      "Route digests",
      "Transport lag per CPU",
      "Connections handed over",
      "Handover failures",
      "Handovers/s by CPU and result",
      "Drain duration per CPU",
      "Grace holds and rescale drops/s",
      "CPUs and topology epoch",
    ])
      expect(titles).toContain(want);
  });

  it("the Live rescale row holds the rescale panels, and its stats count over the shown range", () => {
    const panels = json.panels as { type: string; title: string; targets?: { expr: string }[] }[];
    const start = panels.findIndex((p) => p.type === "row" && p.title === "Live rescale");
    expect(start).toBeGreaterThan(0);
    const end = panels.findIndex((p, i) => i > start && p.type === "row");
    const rowPanels = panels.slice(start + 1, end);
    const exprs = rowPanels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)).join("\n");
    for (const name of ["dfly_tcp_handover_total", "dfly_tcp_handover_last_seconds", "dfly_tcp_rescale_held_total", "dfly_tcp_rescale_dropped_total", "dfly_tcp_rescale_redispatched_total", "dfly_tcp_foreign_entries", "dfly_control_topology_epoch"])
      expect(exprs).toContain(name);
    const byTitle = Object.fromEntries(rowPanels.map((p) => [p.title, p.targets!.map((t) => t.expr)]));
    expect(byTitle["Connections handed over"]![0]).toMatch(/^sum\(increase\(dfly_tcp_handover_total\{[^}]*dir="in", result="ok"\}\[\$__range\]\)\)$/);
    expect(byTitle["Handovers/s by CPU and result"]![0]).toMatch(/^sum by \(cpu, dir, result\) \(rate\(dfly_tcp_handover_total/);
    expect(concreteExpr(byTitle["Handover failures"]![0]!)).toBe('sum(increase(dfly_tcp_handover_total{namespace=~".*", release=~".*", cpu=~".*", result="failed"}[1h]))');
  });

  it("queries only metrics of the contract, and every metric of the contract", () => {
    const exprs = dashboardExprs(dash);
    expect(exprs.length).toBeGreaterThan(25);
    const used = new Set(exprs.flatMap((e) => referenced(e.expr)));
    for (const name of used) expect(metricNames, `unknown metric ${name}`).toContain(name);
    for (const name of metricNames) expect([...used], `dashboard never shows ${name}`).toContain(name);
    for (const e of exprs) expect(e.expr, e.panel).toMatch(/namespace=~"\$namespace"/);
  });

  it("every panel expression is valid PromQL (promtool, variables made concrete)", () => {
    const dir = mkdtempSync(join(tmpdir(), "dfly-dash-promql-"));
    try {
      const rules = dashboardExprs(dash).map((e, i) => ({ record: `dfly_dashboard:expr_${i}`, expr: concreteExpr(e.expr) }));
      const f = join(dir, "dash.yml");
      writeFileSync(f, JSON.stringify({ groups: [{ name: "dashboard", rules }] }));
      const r = promtool("check", "rules", f);
      expect(r.output).toContain(`SUCCESS: ${rules.length} rules found`);
      expect(r.code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("Prometheus rules", () => {
  it("promtool check rules passes on the committed rule files", () => {
    for (const f of ["deploy/prometheus/rules.yml", "helm/dfly-netstack/files/prometheus-rules.yaml"]) {
      const r = promtool("check", "rules", join(repoRoot, f));
      expect(r.output, f).toContain(`SUCCESS: ${recordingRules.length + alertingRules.length} rules found`);
      expect(r.code).toBe(0);
    }
  });

  it("the local stack's prometheus.yml passes promtool check config and scrapes every service's metrics port", () => {
    const f = join(repoRoot, "deploy/prometheus/prometheus.yml");
    const r = promtool("check", "config", f);
    expect(r.code, r.output).toBe(0);
    const conf = parse(readFileSync(f, "utf8")) as { rule_files: string[]; scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[] };
    expect(conf.rule_files).toEqual(["rules.yml"]);
    const targets = Object.fromEntries(conf.scrape_configs.map((j) => [j.job_name, j.static_configs.flatMap((c) => c.targets)]));
    expect(targets["dfly-control"]).toEqual(["127.0.0.1:9463"]);
    expect(targets["dfly-nic"]).toEqual(["127.0.0.1:9462"]);
    expect(targets["dfly-netisr"]).toEqual(Array.from({ length: 16 }, (_, cpu) => `127.0.0.1:${9464 + cpu}`));
  });

  it("alerts cover route digests, drops by reason, redispatch ratio, accept-queue overflows and failed TCP hand-overs", () => {
    const file = parse(readFileSync(join(repoRoot, "deploy/prometheus/rules.yml"), "utf8")) as ReturnType<typeof promRuleFile>;
    const alerts = file.groups.flatMap((g) => g.rules as { alert?: string; expr: string; labels?: { severity: string } }[]).filter((r) => r.alert);
    const byName = Object.fromEntries(alerts.map((a) => [a.alert!, a]));
    expect(byName.DflyRouteDigestMismatch!.expr).toMatch(/count by \(namespace, release, digest\) \(dfly_route_digest_info\)\) > 1$/);
    expect(byName.DflyPacketDropsHigh!.expr).toMatch(/sum by \(namespace, release, reason\) \(rate\(dfly_ip_dropped_total/);
    expect(byName.DflyRedispatchRatioHigh!.expr).toContain("dfly_netisr_redispatched_total");
    expect(byName.DflyAcceptQueueOverflow!.expr).toContain('reason="listendrop"');
    expect(byName.DflyTcpHandoverFailed!.expr).toBe('sum by (namespace, release, cpu, dir) (increase(dfly_tcp_handover_total{result="failed"}[5m])) > 0');
    for (const a of alerts) expect(["critical", "warning", "info"]).toContain(a.labels?.severity);
  });

  it("rules refer only to contract metrics and to recording rules defined before use", () => {
    const recorded = new Set(recordingRules.map((r) => r.record));
    for (const { rule, expr } of ruleExprs())
      for (const name of referenced(expr)) {
        if (name.includes(":")) expect(recorded.has(name), `${rule}: ${name}`).toBe(true);
        else expect(metricNames, `${rule}: ${name}`).toContain(name);
      }
  });

  it("every alert links its runbook, and each runbook exists in docs/runbooks", () => {
    const file = parse(readFileSync(join(repoRoot, "deploy/prometheus/rules.yml"), "utf8")) as ReturnType<typeof promRuleFile>;
    const alerts = file.groups.flatMap((g) => g.rules as { alert?: string; annotations?: { runbook_url?: string } }[]).filter((r) => r.alert);
    expect(alerts.length).toBe(alertingRules.length);
    const index = readFileSync(join(repoRoot, "docs/runbooks/README.md"), "utf8");
    for (const a of alerts) {
      expect(a.annotations?.runbook_url, a.alert).toBe(`https://github.com/dfly-netstack/dfly-netstack/blob/main/docs/runbooks/${a.alert}.md`);
      expect(readFileSync(join(repoRoot, `docs/runbooks/${a.alert}.md`), "utf8")).toMatch(new RegExp(`^# ${a.alert}\n`));
      expect(index).toContain(`[${a.alert}.md](${a.alert}.md)`);
    }
  });

  it("every aggregation of the alerts keeps namespace and release (two releases in one namespace stay apart)", () => {
    for (const a of alertingRules) for (const by of a.expr.matchAll(/\b(?:by|on) \(([^)]*)\)/g)) expect(by[1], a.alert).toMatch(/^namespace, release\b/);
  });

  it("promtool test rules: hand-written series fire each day-2 alert with its labels, per release (deploy/prometheus/tests)", () => {
    const f = join(repoRoot, "deploy/prometheus/tests/alerts.test.yml");
    const r = promtool("test", "rules", f);
    expect(r.output).toContain("SUCCESS");
    expect(r.code).toBe(0);
    const cases = readFileSync(f, "utf8");
    for (const a of ["DflyNetisrTargetDown", "DflyNetisrAbsent", "DflyCpusNotRegistered", "DflyControlDown", "DflyNatsDown", "DflyJetStreamUnavailable", "DflyTransportLagHigh", "DflyNicDropsHigh", "DflyEventLoopLagHigh"])
      expect(cases).toMatch(new RegExp(`alertname: ${a}\\n\\s+exp_alerts:\\n\\s+- exp_labels`));
  });
});
