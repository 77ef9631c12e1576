/**
 * The chart's day-2 operations, rendered with the real helm: who owns the netisr replica count, one
 * `release` label for every monitoring object, `release` on every target, cluster/release names a
 * NATS subject token and a KV bucket name allow, per-alert overrides, the NATS exporter sidecar and
 * PodMonitor in the nats-io/k8s shape, and the helm test's command line (which the CLI accepts).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { runCli } from "../../support/cli.js";
import { CHART, helm, renderChart } from "../../support/helm.js";
import { validateManifest, type K8sDoc } from "../../support/k8s-validate.js";

const MONITORING_API = "monitoring.coreos.com/v1";
let dir: string;
const valuesFile = (name: string, v: unknown) => {
  const f = join(dir, `${name}.json`);
  writeFileSync(f, JSON.stringify(v));
  return f;
};
const render = (v: unknown = {}, o: { release?: string } = {}) => renderChart({ values: [valuesFile(`v${Math.random().toString(36).slice(2)}`, v)], apiVersions: [MONITORING_API], ...o });
function one(ds: K8sDoc[], kind: string, suffix: string): K8sDoc {
  const f = ds.filter((d) => d.kind === kind && d.metadata.name.endsWith(suffix));
  expect(f, `${kind} *${suffix}`).toHaveLength(1);
  return f[0]!;
}
interface Ctr {
  name: string;
  image: string;
  args: string[];
  ports: { name: string; containerPort: number }[];
}
const containers = (d: K8sDoc) => ((d.spec as { template?: { spec: { containers: Ctr[] } }; containers?: Ctr[] }).template?.spec.containers ?? (d.spec as { containers: Ctr[] }).containers);

/** The value sets rendered once (in parallel) and shared by the tests. */
const OVERRIDES = {
  runbookBaseUrl: "https://wiki.example.org/runbooks/",
  rules: { DflyTransportLagHigh: { threshold: 1.5, for: "10m", labels: { team: "net" } }, DflyRedispatchRatioHigh: { enabled: false }, DflyNicDropsHigh: { severity: "critical", threshold: 0.05 } },
};
const SETS = {
  cluster: { nats: { cluster: { enabled: true } } },
  kubectlOwned: {
    netisr: { replicas: null },
    monitoring: { release: "kube-prometheus-stack", prometheusRule: OVERRIDES },
    nats: { promExporter: { merge: { args: ["-varz", "http://localhost:8222/"] }, patch: [{ op: "add", path: "/env", value: [{ name: "X", value: "1" }] }] } },
  },
  expectSet: { netisr: { replicas: null }, tests: { expectCpus: 8 }, nats: { external: { url: "nats://n:4222" } } },
  exporterOff: { netisr: { replicas: 6 }, nats: { promExporter: { enabled: false } } },
} as const;
const renders = new Map<keyof typeof SETS, K8sDoc[]>();
const docs = (k: keyof typeof SETS) => renders.get(k)!;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "dfly-day2-helm-"));
  await Promise.all(Object.entries(SETS).map(async ([k, v]) => renders.set(k as keyof typeof SETS, await render(v))));
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("scaling: who owns the netisr replica count", () => {
  it("netisr.replicas null: the StatefulSet has no replicas field (server-side apply and helm upgrade leave the live count); a number: rendered", () => {
    const none = one(docs("kubectlOwned"), "StatefulSet", "-netisr");
    expect(Object.keys(none.spec as object)).not.toContain("replicas");
    expect((none.spec as { podManagementPolicy: string }).podManagementPolicy).toBe("Parallel");
    expect((one(docs("exporterOff"), "StatefulSet", "-netisr").spec as { replicas: number }).replicas).toBe(6);
    expect((one(docs("cluster"), "StatefulSet", "-netisr").spec as { replicas: number }).replicas).toBe(2);
  });

  it("NOTES say who owns the count either way; values reject 0 and strings", async () => {
    const notes = async (set: string[]) => (await helm(["install", "dfly", CHART, "-n", "ns", "--dry-run=client", ...set.flatMap((s) => ["--set", s])])).stdout;
    const [owned, helmOwned, bad] = await Promise.all([notes(["netisr.replicas=null"]), notes([]), helm(["template", "dfly", CHART, "--set", "netisr.replicas=0"])]);
    expect(owned).toMatch(/rendered without replicas \(netisr\.replicas: null\)[\s\S]*`helm upgrade` keeps it/);
    expect(helmOwned).toMatch(/helm owns this count: the next `helm upgrade` sets it back[\s\S]*--set netisr\.replicas=null/);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("/netisr/replicas");
  });
});

describe("monitoring objects and labels", () => {
  it("monitoring.release labels the ServiceMonitor, the NATS PodMonitor and the PrometheusRule", () => {
    const ds = docs("kubectlOwned");
    for (const [kind, suffix] of [["ServiceMonitor", "dfly"], ["PodMonitor", "-nats"], ["PrometheusRule", "dfly"]] as const)
      expect(one(ds, kind, suffix).metadata.labels?.release, kind).toBe("kube-prometheus-stack");
    const plain = docs("cluster");
    for (const kind of ["ServiceMonitor", "PodMonitor", "PrometheusRule"]) expect(plain.find((d) => d.kind === kind)!.metadata.labels?.release, kind).toBeUndefined();
  });

  it("every scraped target gets component and release (from the pod's app.kubernetes.io/instance)", () => {
    const ds = docs("cluster");
    const relabel = { sourceLabels: ["__meta_kubernetes_pod_label_app_kubernetes_io_instance"], targetLabel: "release" };
    const sm = one(ds, "ServiceMonitor", "dfly").spec as { endpoints: { relabelings: unknown[] }[] };
    expect(sm.endpoints[0]!.relabelings).toContainEqual(relabel);
    const pm = one(ds, "PodMonitor", "-nats").spec as { podMetricsEndpoints: { relabelings: unknown[] }[] };
    expect(pm.podMetricsEndpoints[0]!.relabelings).toContainEqual(relabel);
  });

  it("the NATS exporter sidecar and PodMonitor have nats-io/k8s's shape; the manifests validate", async () => {
    const ds = docs("cluster");
    expect((await Promise.all(ds.map(validateManifest))).flat()).toEqual([]);
    const sts = one(ds, "StatefulSet", "-nats");
    const exp = containers(sts).find((c) => c.name === "prom-exporter")!;
    expect(exp.image).toBe("natsio/prometheus-nats-exporter:0.15.0");
    // nats-io/k8s helm/charts/nats/files/stateful-set/prom-exporter-container.yaml, JetStream enabled, plain HTTP monitor.
    expect(exp.args).toEqual(["-port=7777", "-connz", "-routez", "-subz", "-varz", "-prefix=nats", "-use_internal_server_id", "-jsz=all", "http://localhost:8222/"]);
    expect(exp.ports).toEqual([{ name: "prom-metrics", containerPort: 7777, protocol: "TCP" }]);
    // nats-io/k8s helm/charts/nats/files/pod-monitor.yaml: the server pods' selector labels, port prom-metrics.
    const pm = one(ds, "PodMonitor", "-nats");
    const podLabels = (sts.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels;
    const spec = pm.spec as { selector: { matchLabels: Record<string, string> }; podMetricsEndpoints: { port: string }[] };
    expect(spec.selector.matchLabels).toEqual(podLabels);
    expect(spec.podMetricsEndpoints.map((e) => e.port)).toEqual(["prom-metrics"]);
    // The container takes its own merge/patch; off: neither sidecar nor PodMonitor.
    const c = containers(one(docs("kubectlOwned"), "StatefulSet", "-nats")).find((x) => x.name === "prom-exporter") as Ctr & { env: unknown[] };
    expect([c.args, c.env]).toEqual([["-varz", "http://localhost:8222/"], [{ name: "X", value: "1" }]]);
    const off = docs("exporterOff");
    expect(containers(one(off, "StatefulSet", "-nats")).map((x) => x.name)).toEqual(["nats"]);
    expect(off.filter((d) => d.kind === "PodMonitor")).toEqual([]);
  });
});

describe("cluster and release names", () => {
  it("a release name with a dot fails the render and names the fix; cluster= with a dot is refused by the schema", async () => {
    const bads = ["a.b", "a>b"];
    const [r, ok, ...refused] = await Promise.all([
      helm(["template", "dfly.prod", CHART, "-n", "ns"]),
      renderChart({ release: "dfly.prod", set: ["cluster=dfly-prod"] }),
      ...bads.map((bad) => helm(["template", "dfly", CHART, "--set-string", `cluster=${bad}`])),
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('release name "dfly.prod" cannot be the cluster name');
    expect(r.stderr).toContain("--set cluster=dfly-prod");
    const env = (containers(one(ok, "Deployment", "-control")) as (Ctr & { env: { name: string; value?: string }[] })[])[0]!.env;
    expect(env.find((e) => e.name === "DFLY_CLUSTER")!.value).toBe("dfly-prod");
    refused.forEach((b, i) => {
      expect(b.code, bads[i]).not.toBe(0);
      expect(b.stderr, bads[i]).toContain("/cluster");
    });
  });
});

describe("alerts: per-rule overrides in values", () => {
  type Rule = { alert?: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  const rulesOf = (ds: K8sDoc[]) => (one(ds, "PrometheusRule", "dfly").spec as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);

  it("threshold, for, severity, labels and enabled change one alert; runbookBaseUrl moves every runbook link", () => {
    const generated = parse(readFileSync(join(CHART, "files/prometheus-rules.yaml"), "utf8")) as { groups: { rules: Rule[] }[] };
    const gen = Object.fromEntries(generated.groups.flatMap((g) => g.rules).filter((r) => r.alert).map((r) => [r.alert!, r]));
    expect(gen.DflyTransportLagHigh!.expr).toBe("max by (namespace, release, cpu) (dfly_transport_lag_seconds) > 0.5");
    const rules = rulesOf(docs("kubectlOwned"));
    const by = Object.fromEntries(rules.filter((r) => r.alert).map((r) => [r.alert!, r]));
    expect(by.DflyTransportLagHigh).toMatchObject({ expr: "max by (namespace, release, cpu) (dfly_transport_lag_seconds) > 1.5", for: "10m", labels: { severity: "warning", team: "net" } });
    expect(by.DflyNicDropsHigh!.expr.endsWith(") > 0.05")).toBe(true);
    expect(by.DflyNicDropsHigh!.labels).toEqual({ severity: "critical" });
    expect(by.DflyRedispatchRatioHigh).toBeUndefined();
    expect(Object.keys(by).length).toBe(Object.keys(gen).length - 1);
    for (const r of Object.values(by)) expect(r.annotations!.runbook_url).toBe(`https://wiki.example.org/runbooks/${r.alert}.md`);
    // Untouched alerts are the generated ones.
    expect(by.DflyControlDown).toEqual(gen.DflyControlDown ? { ...gen.DflyControlDown, annotations: { ...gen.DflyControlDown.annotations, runbook_url: "https://wiki.example.org/runbooks/DflyControlDown.md" } } : undefined);
  });

  it("an override for an alert that does not exist fails the render naming the known alerts", async () => {
    const r = await helm(["template", "dfly", CHART, "--api-versions", MONITORING_API, "-f", valuesFile("typo", { monitoring: { prometheusRule: { rules: { DflyNetisrDownn: { for: "1m" } } } } })]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/monitoring\.prometheusRule\.rules\.DflyNetisrDownn: no such alert \(known: .*DflyNetisrTargetDown/);
  });
});

describe("helm test's command", () => {
  const argsOf = (k: keyof typeof SETS) => containers(one(docs(k), "Pod", "-test-route-verify"))[0]!.args;

  it("expects netisr.replicas CPUs; with replicas null tests.expectCpus, else 1 (no live StatefulSet under helm template)", () => {
    const n = (k: keyof typeof SETS) => {
      const a = argsOf(k);
      return a[a.indexOf("--expect-cpus") + 1];
    };
    expect(n("exporterOff")).toBe("6");
    expect(n("expectSet")).toBe("8");
    expect(n("kubectlOwned")).toBe("1");
  });

  it("checks the control's NATS+JetStream health and every bundled NATS server; external NATS: the control only", () => {
    const health = (a: string[]) => a.flatMap((x, i) => (a[i - 1] === "--health" ? [x] : []));
    expect(health(argsOf("cluster"))).toEqual([
      "http://dfly-control.netstack.svc:9463/healthz?jetstream=true",
      "http://dfly-nats-0.dfly-nats-headless.netstack.svc:8222/healthz?js-enabled-only=true",
      "http://dfly-nats-1.dfly-nats-headless.netstack.svc:8222/healthz?js-enabled-only=true",
      "http://dfly-nats-2.dfly-nats-headless.netstack.svc:8222/healthz?js-enabled-only=true",
    ]);
    expect(health(argsOf("expectSet"))).toEqual(["http://dfly-control.netstack.svc:9463/healthz?jetstream=true"]);
  });

  it("the CLI accepts the rendered command line: it fails only at reaching the control", async () => {
    const a = argsOf("cluster");
    const i = a.indexOf("--control");
    // The cluster-internal address does not resolve here: point the same command at a closed loopback port.
    const r = await runCli(...a.slice(0, i + 1), "127.0.0.1:9", ...a.slice(i + 2));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/cannot reach the control 127\.0\.0\.1:9/);
  });
});
