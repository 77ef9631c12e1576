/**
 * The dfly-netstack chart: `helm lint --strict` and `helm template` with the default values and other
 * value sets; every rendered manifest passes kubernetes-models validation and the strict unknown-field
 * check; the behaviour the chart promises is asserted on the rendered objects.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { runCli } from "../../support/cli.js";
import { freePort, repoRoot } from "../../support/docker.js";
import { CHART, helm, renderChart } from "../../support/helm.js";
import { validateManifest, type K8sDoc } from "../../support/k8s-validate.js";

const MONITORING_API = "monitoring.coreos.com/v1";

type Values = Record<string, unknown>;

/** The value sets the chart is checked with. */
const valueSets: Record<string, Values> = {
  default: {},
  "external NATS": { nats: { external: { url: "nats://nats.messaging.svc.cluster.local:4222" } } },
  "monitoring off": {
    monitoring: { serviceMonitor: { enabled: false }, prometheusRule: { enabled: false }, grafanaDashboard: { enabled: false } },
  },
  "16 CPUs with polling": {
    netisr: { replicas: 16 },
    nic: { mode: "polling", pollHz: 6000, interfaces: [{ name: "ix0", model: "82576", rings: 16, addresses: ["198.18.0.1/24", "10.1.0.1/16"] }, { name: "ix1", model: "82576" }] },
  },
  "NATS cluster": { nats: { cluster: { enabled: true, replicas: 3 } } },
  "no network policy, ephemeral NATS": {
    networkPolicy: { enabled: false },
    nats: { jetstream: { fileStore: { persistent: false } } },
    monitoring: { serviceMonitor: { additionalLabels: { release: "kube-prometheus-stack" }, interval: "30s", scrapeTimeout: "10s" } },
  },
  "load pktgen": { load: { enabled: true } },
  "load replay from a ConfigMap": { load: { enabled: true, kind: "replay", rate: 500, duration: "10m", replay: { configMap: { name: "my-capture", key: "espn.pcapng" } } } },
  "load http-short": { load: { enabled: true, kind: "http-short", httpShort: { clients: 16 }, extraArgs: ["--client-cpus", "1"] } },
};

/** Paths of every `merge`/`patch` pair in values.yaml (every resource's overrides). */
function overrideKeys(v: unknown, path: string[] = []): string[][] {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return [];
  const o = v as Record<string, unknown>;
  const here = "merge" in o && "patch" in o ? [path] : [];
  return [...here, ...Object.entries(o).flatMap(([k, c]) => overrideKeys(c, [...path, k]))];
}

function setPath(target: Values, path: string[], value: unknown): void {
  let o = target;
  for (const k of path.slice(0, -1)) o = (o[k] ??= {}) as Values;
  o[path[path.length - 1]!] = value;
}

let dir: string;
const rendered = new Map<string, K8sDoc[]>();

function valuesFile(name: string, v: Values): string {
  const f = join(dir, `${name.replace(/[^a-z0-9]+/gi, "-")}.json`);
  writeFileSync(f, JSON.stringify(v));
  return f;
}

function docs(set: string): K8sDoc[] {
  const d = rendered.get(set);
  if (!d) throw new Error(`value set ${set} not rendered`);
  return d;
}
const byKind = (ds: K8sDoc[], kind: string) => ds.filter((d) => d.kind === kind);
function one(ds: K8sDoc[], kind: string, nameSuffix: string): K8sDoc {
  const found = ds.filter((d) => d.kind === kind && d.metadata.name.endsWith(nameSuffix));
  expect(found, `${kind} *${nameSuffix}`).toHaveLength(1);
  return found[0]!;
}

interface Container {
  name: string;
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  ports?: { name: string; containerPort: number }[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: { readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean; capabilities?: { drop?: string[] } };
  readinessProbe?: { httpGet?: { path: string; port: string } };
  volumeMounts?: { name: string; mountPath: string }[];
}
interface PodSpec {
  containers: Container[];
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
  volumes?: { name: string; emptyDir?: object }[];
}

function podSpec(d: K8sDoc): PodSpec | undefined {
  const spec = d.spec as { template?: { spec: PodSpec } } & PodSpec;
  if (d.kind === "Pod") return spec;
  return spec?.template?.spec;
}
const envOf = (c: Container) => Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "dfly-helm-"));
  const renders = await Promise.all(
    Object.entries(valueSets).map(async ([name, v]) => [name, await renderChart({ values: [valuesFile(name, v)], apiVersions: [MONITORING_API] })] as const),
  );
  for (const [name, d] of renders) rendered.set(name, d);
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("helm lint --strict", () => {
  it.each(Object.keys(valueSets))("passes with the %s values", async (name) => {
    const r = await helm(["lint", "--strict", CHART, "-f", valuesFile(`lint-${name}`, valueSets[name]!)]);
    expect(r.stdout + r.stderr).toContain("1 chart(s) linted, 0 chart(s) failed");
    expect(r.code).toBe(0);
  });
});

describe("rendered manifests are valid Kubernetes objects (kubernetes-models + strict unknown fields)", () => {
  it.each(Object.keys(valueSets))("%s values", async (name) => {
    const ds = docs(name);
    expect(ds.length).toBeGreaterThan(8);
    const errors = (await Promise.all(ds.map(validateManifest))).flat();
    expect(errors).toEqual([]);
  });

  it("the validators catch a wrong type, a missing field and an unknown field", async () => {
    const sts = structuredClone(one(docs("default"), "StatefulSet", "-netisr"));
    (sts.spec as Record<string, unknown>).replica = 2;
    (sts.spec as { template: { spec: PodSpec } }).template.spec.containers[0]!.ports![0]!.containerPort = "x" as unknown as number;
    const errs = (await validateManifest(sts)).join("\n");
    expect(errs).toContain("unknown field .spec.replica");
    expect(errs).toMatch(/containerPort must be integer/);
    const sm = structuredClone(one(docs("default"), "ServiceMonitor", ""));
    (sm.spec as { endpoints: Record<string, unknown>[] }).endpoints[0]!.intervall = "5s";
    expect((await validateManifest(sm)).join("\n")).toMatch(/strict: \/spec\/endpoints\/0 must NOT have additional properties.*intervall/);
    const svc = structuredClone(one(docs("default"), "Service", "-control"));
    delete (svc.spec as { ports: { port?: number }[] }).ports[0]!.port;
    expect((await validateManifest(svc)).join("\n")).toMatch(/spec\/ports\/0 must have required property '?port'?/);
  });
});

describe("netisr: one pod per CPU", () => {
  it("a Parallel StatefulSet whose replicas are the CPUs, CPU id from the pod-index label, POD_NAME fallback", () => {
    const sts = one(docs("default"), "StatefulSet", "-netisr");
    const spec = sts.spec as { replicas: number; podManagementPolicy: string; serviceName: string };
    expect(spec.replicas).toBe(2);
    expect(spec.podManagementPolicy).toBe("Parallel");
    const c = podSpec(sts)!.containers[0]!;
    expect(c.args).toEqual(["netisr"]);
    const env = envOf(c);
    expect(env.DFLY_CPU).toEqual({ fieldRef: { fieldPath: "metadata.labels['apps.kubernetes.io/pod-index']" } });
    expect(env.POD_NAME).toEqual({ fieldRef: { fieldPath: "metadata.name" } });
    expect(env.POD_IP).toEqual({ fieldRef: { fieldPath: "status.podIP" } });
    expect(env.DFLY_METRICS_PORT).toBe("9464");
    expect(env.DFLY_CONTROL_ADDR).toBe("dfly-control.netstack.svc:50051");
    expect(c.readinessProbe?.httpGet).toEqual({ path: "/readyz", port: "metrics" });
    const headless = one(docs("default"), "Service", "-netisr");
    expect(headless.metadata.name).toBe(spec.serviceName);
    expect(headless.spec).toMatchObject({ clusterIP: "None", publishNotReadyAddresses: true });

    const big = one(docs("16 CPUs with polling"), "StatefulSet", "-netisr");
    expect((big.spec as { replicas: number }).replicas).toBe(16);
    expect(envOf(podSpec(big)!.containers[0]!)).toMatchObject({ DFLY_NIC_MODE: "polling", DFLY_POLLHZ: "6000" });
  });

  it("a drained CPU lingers one ServiceMonitor interval + 5 s for its last scrape; the grace period holds the drain and the linger", async () => {
    const durationMs = (d: string) => {
      const m = /^(\d+)(ms|s|m|h)$/.exec(d)!;
      return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as "ms" | "s" | "m" | "h"];
    };
    const drainOf = (ds: K8sDoc[]) => {
      const sts = one(ds, "StatefulSet", "-netisr");
      const env = envOf(podSpec(sts)!.containers[0]!);
      const grace = (sts.spec as { template: { spec: { terminationGracePeriodSeconds: number } } }).template.spec.terminationGracePeriodSeconds;
      return { drainMs: Number(env.DFLY_DRAIN_MS), lingerMs: Number(env.DFLY_DRAIN_LINGER_MS), grace };
    };
    expect(drainOf(docs("default"))).toEqual({ drainMs: 6000, lingerMs: 20_000, grace: 30 });
    expect(drainOf(docs("no network policy, ephemeral NATS"))).toEqual({ drainMs: 6000, lingerMs: 35_000, grace: 45 });
    for (const name of Object.keys(valueSets)) {
      const d = drainOf(docs(name));
      const sm = docs(name).find((x) => x.kind === "ServiceMonitor");
      if (sm) expect(d.lingerMs, name).toBe(durationMs((sm.spec as { endpoints: { interval: string }[] }).endpoints[0]!.interval) + 5000);
      expect(d.grace * 1000, name).toBeGreaterThanOrEqual(d.drainMs + d.lingerMs + 2000);
    }
    const set = async (netisr: Values, monitoring: Values = {}) =>
      drainOf(await renderChart({ values: [valuesFile("drain", { netisr, monitoring })], apiVersions: [MONITORING_API] }));
    expect(await set({ drain: { lingerMs: 0 } })).toEqual({ drainMs: 6000, lingerMs: 0, grace: 10 });
    expect(await set({ drain: { timeoutMs: 20_000 } }, { serviceMonitor: { interval: "1m" } })).toEqual({ drainMs: 20_000, lingerMs: 65_000, grace: 89 });
    expect(await set({ terminationGracePeriodSeconds: 120 })).toEqual({ drainMs: 6000, lingerMs: 20_000, grace: 120 });
  });

  it("a PodDisruptionBudget takes at most one CPU away", () => {
    const pdb = one(docs("default"), "PodDisruptionBudget", "-netisr");
    expect(pdb.spec).toMatchObject({ maxUnavailable: 1 });
    expect((pdb.spec as { selector: { matchLabels: object } }).selector.matchLabels).toEqual(
      (one(docs("default"), "StatefulSet", "-netisr").spec as { selector: { matchLabels: object } }).selector.matchLabels,
    );
  });
});

describe("control and nic", () => {
  it("control: a Deployment and a Service with gRPC and metrics ports", () => {
    const dep = one(docs("default"), "Deployment", "-control");
    const c = podSpec(dep)!.containers[0]!;
    expect(c.args).toEqual(["control"]);
    expect(envOf(c)).toMatchObject({ DFLY_GRPC_PORT: "50051", DFLY_METRICS_PORT: "9463", DFLY_CLUSTER: "dfly" });
    const svc = one(docs("default"), "Service", "-control");
    expect((svc.spec as { ports: { name: string; port: number }[] }).ports.map((p) => [p.name, p.port])).toEqual([
      ["grpc", 50051],
      ["metrics", 9463],
    ]);
  });

  it("nic: one Deployment per interface with its model, rings and mode", () => {
    const nics = byKind(docs("16 CPUs with polling"), "Deployment").filter((d) => d.metadata.name.includes("-nic-"));
    expect(nics.map((d) => d.metadata.name)).toEqual(["dfly-nic-ix0", "dfly-nic-ix1"]);
    const [ix0, ix1] = nics.map((d) => envOf(podSpec(d)!.containers[0]!));
    expect(ix0).toMatchObject({ DFLY_IFNAME: "ix0", DFLY_NIC_MODEL: "82576", DFLY_NIC_RINGS: "16", DFLY_NIC_MODE: "polling", DFLY_POLLHZ: "6000" });
    expect(ix0!.DFLY_NIC_ADDRS).toBe("ix0=198.18.0.1/24,ix0=10.1.0.1/16");
    expect(ix1).toMatchObject({ DFLY_IFNAME: "ix1", DFLY_NIC_MODEL: "82576", DFLY_NIC_MODE: "polling" });
    expect(ix1).not.toHaveProperty("DFLY_NIC_RINGS");
    expect(podSpec(nics[0]!)!.containers[0]!.args).toEqual(["nic"]);
  });
});

describe("every dfly pod", () => {
  it.each(Object.keys(valueSets))("%s: non-root, read-only root fs, no capabilities, resources, /tmp emptyDir, the config contract", (name) => {
    const ds = docs(name);
    const pods = ds.filter((d) => podSpec(d));
    expect(pods.length).toBeGreaterThanOrEqual(4);
    for (const d of pods) {
      const ps = podSpec(d)!;
      expect(ps.securityContext, d.metadata.name).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 });
      for (const c of ps.containers) {
        expect(c.securityContext, `${d.metadata.name}/${c.name}`).toMatchObject({
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
          capabilities: { drop: ["ALL"] },
        });
        expect(c.resources?.requests?.memory, `${d.metadata.name}/${c.name}`).toBeDefined();
        expect(c.resources?.limits?.memory, `${d.metadata.name}/${c.name}`).toBeDefined();
      }
      const c = ps.containers[0]!;
      if (c.name === "nats") continue;
      expect(c.volumeMounts).toContainEqual({ name: "tmp", mountPath: "/tmp" });
      expect(ps.volumes?.find((v) => v.name === "tmp")?.emptyDir).toBeDefined();
      if (d.kind === "Pod") continue;
      const env = envOf(c);
      const natsUrl = name === "external NATS" ? "nats://nats.messaging.svc.cluster.local:4222" : "nats://dfly-nats.netstack.svc:4222";
      expect(env.DFLY_NATS_URL, d.metadata.name).toBe(natsUrl);
      expect(env.DFLY_CLUSTER).toBe("dfly");
    }
  });
});

describe("NATS", () => {
  it("bundled: one JetStream server whose generated config nats-server accepts", () => {
    const sts = one(docs("default"), "StatefulSet", "-nats");
    expect((sts.spec as { replicas: number }).replicas).toBe(1);
    expect((sts.spec as { volumeClaimTemplates: unknown[] }).volumeClaimTemplates).toHaveLength(1);
    const conf = (one(docs("default"), "ConfigMap", "-nats-config").data as { "nats.conf": string })["nats.conf"];
    expect(conf).toMatch(/jetstream \{\n\s+store_dir: \/data/);
    expect(conf).not.toContain("cluster {");
    expect(natsConfigTest(conf)).toBe("");
    expect(byKind(docs("default"), "PodDisruptionBudget").map((d) => d.metadata.name)).not.toContain("dfly-nats");
    expect(envOf(podSpec(one(docs("default"), "Deployment", "-control"))!.containers[0]!).DFLY_KV_REPLICAS).toBe("1");
  });

  it("cluster: 3 servers with routes to each other, a PDB, and KV buckets at R3", () => {
    const ds = docs("NATS cluster");
    expect((one(ds, "StatefulSet", "-nats").spec as { replicas: number }).replicas).toBe(3);
    const conf = (one(ds, "ConfigMap", "-nats-config").data as { "nats.conf": string })["nats.conf"];
    const routes = conf.match(/nats:\/\/dfly-nats-\d\.dfly-nats-headless\.netstack\.svc:6222/g);
    expect(routes).toHaveLength(3);
    expect(natsConfigTest(conf)).toBe("");
    expect(one(ds, "PodDisruptionBudget", "-nats").spec).toMatchObject({ maxUnavailable: 1 });
    for (const d of ds.filter((x) => podSpec(x) && x.kind !== "Pod" && !x.metadata.name.endsWith("-nats")))
      expect(envOf(podSpec(d)!.containers[0]!).DFLY_KV_REPLICAS, d.metadata.name).toBe("3");
  });

  it("external: nothing of NATS is deployed", () => {
    const names = docs("external NATS").map((d) => `${d.kind}/${d.metadata.name}`);
    expect(names.filter((n) => n.includes("-nats"))).toEqual([]);
  });
});

describe("monitoring", () => {
  it("the ServiceMonitor selects control, netisr and nic Services, each with a metrics port", () => {
    const ds = docs("default");
    const sm = one(ds, "ServiceMonitor", "");
    const spec = sm.spec as {
      selector: { matchLabels: Record<string, string>; matchExpressions: { key: string; values: string[] }[] };
      endpoints: { port: string; interval: string }[];
    };
    expect(spec.endpoints[0]).toMatchObject({ port: "metrics", interval: "15s" });
    const selected = byKind(ds, "Service").filter(
      (s) =>
        Object.entries(spec.selector.matchLabels).every(([k, v]) => s.metadata.labels?.[k] === v) &&
        spec.selector.matchExpressions.every((e) => e.values.includes(s.metadata.labels?.[e.key] ?? "")),
    );
    expect(selected.map((s) => s.metadata.labels?.["app.kubernetes.io/component"]).sort()).toEqual(["control", "netisr", "nic"]);
    for (const s of selected) expect((s.spec as { ports: { name: string }[] }).ports.map((p) => p.name)).toContain("metrics");

    const custom = one(docs("no network policy, ephemeral NATS"), "ServiceMonitor", "");
    expect(custom.metadata.labels?.release).toBe("kube-prometheus-stack");
    expect((custom.spec as typeof spec).endpoints[0]).toMatchObject({ interval: "30s", scrapeTimeout: "10s" });
  });

  it("the PrometheusRule holds the same groups as deploy/prometheus/rules.yml", () => {
    const rule = one(docs("default"), "PrometheusRule", "");
    const file = parse(readFileSync(join(repoRoot, "deploy/prometheus/rules.yml"), "utf8")) as { groups: unknown };
    expect((rule.spec as { groups: unknown }).groups).toEqual(file.groups);
  });

  it("the dashboard ConfigMap is labelled for Grafana's sidecar and holds deploy/grafana's dashboard", () => {
    const cm = one(docs("default"), "ConfigMap", "-dashboard");
    expect(cm.metadata.labels?.grafana_dashboard).toBe("1");
    const json = (cm.data as Record<string, string>)["dfly-netstack.json"]!;
    expect(JSON.parse(json)).toEqual(JSON.parse(readFileSync(join(repoRoot, "deploy/grafana/dashboards/dfly-netstack.json"), "utf8")));
  });

  it("monitoring off: no ServiceMonitor, PrometheusRule or dashboard; no CRDs in the cluster: no CRD objects", async () => {
    const kinds = docs("monitoring off").map((d) => `${d.kind}/${d.metadata.name}`);
    expect(kinds.filter((k) => /ServiceMonitor|PrometheusRule|-dashboard/.test(k))).toEqual([]);
    const noCrds = await renderChart({ values: [] });
    expect(noCrds.map((d) => d.kind)).not.toContain("ServiceMonitor");
    expect(noCrds.map((d) => d.kind)).not.toContain("PrometheusRule");
    expect(noCrds.map((d) => d.metadata.name)).toContain("dfly-dashboard");
  });
});

describe("network policies and helm test", () => {
  it("ingress is limited per component; disabled: none", () => {
    const nps = byKind(docs("default"), "NetworkPolicy");
    expect(nps.map((n) => n.metadata.name).sort()).toEqual(
      ["control", "nats", "netisr", "nic"].map((c) => `dfly-${c}`),
    );
    const ports = (n: K8sDoc) => (n.spec as { ingress: { ports: { port: string }[] }[] }).ingress.flatMap((r) => r.ports.map((p) => p.port));
    expect(ports(one(docs("default"), "NetworkPolicy", "-control"))).toEqual(["grpc", "metrics"]);
    expect(ports(one(docs("default"), "NetworkPolicy", "-netisr"))).toEqual(["metrics"]);
    expect(ports(one(docs("NATS cluster"), "NetworkPolicy", "-nats"))).toEqual(["nats", "cluster", "monitor"]);
    expect(byKind(docs("no network policy, ephemeral NATS"), "NetworkPolicy")).toEqual([]);
  });

  it("a helm test hook pod runs `dfly route verify` against control", () => {
    const pod = one(docs("default"), "Pod", "-test-route-verify");
    expect(pod.metadata.annotations?.["helm.sh/hook"]).toBe("test");
    expect(podSpec(pod)!.containers[0]!.args).toEqual(["route", "verify", "--control", "dfly-control.netstack.svc:50051"]);
  });
});

describe("the load generator (load.enabled)", () => {
  const loadOf = (set: string) => one(docs(set), "Deployment", "-load");

  it("off by default: no load Deployment", () => {
    expect(docs("default").filter((d) => d.metadata.name.endsWith("-load"))).toEqual([]);
  });

  it("one Deployment per kind running the image's dfly pktgen|replay|load on the release's NATS and control", () => {
    const args = (set: string) => podSpec(loadOf(set))!.containers[0]!.args;
    expect(args("load pktgen")).toEqual(["pktgen", "--rate", "1000", "--flows", "256", "--size", "64,512,1400", "--dst", "10.0.0.0/8", "--duration", "1h", "--routes", "--progress"]);
    expect(args("load replay from a ConfigMap")).toEqual(["replay", "/var/run/dfly-load/espn.pcapng", "--pps", "500", "--loop", "--duration", "10m", "--progress"]);
    expect(args("load http-short")).toEqual(["load", "http-short", "--clients", "16", "--duration", "1h", "--progress", "--client-cpus", "1"]);
    for (const set of ["load pktgen", "load replay from a ConfigMap", "load http-short"]) {
      const d = loadOf(set);
      expect(d.metadata.labels?.["app.kubernetes.io/component"]).toBe("load");
      expect((d.spec as { replicas: number; strategy: { type: string } }).replicas).toBe(1);
      const env = envOf(podSpec(d)!.containers[0]!);
      expect(env).toMatchObject({ DFLY_NATS_URL: "nats://dfly-nats.netstack.svc:4222", DFLY_CLUSTER: "dfly", DFLY_CONTROL_ADDR: "dfly-control.netstack.svc:50051" });
    }
    const spec = podSpec(loadOf("load replay from a ConfigMap"))!;
    const capture = spec.volumes?.find((v) => v.name === "capture") as { configMap?: { name: string } } | undefined;
    expect(capture?.configMap?.name).toBe("my-capture");
    expect(spec.containers[0]!.volumeMounts).toContainEqual({ name: "capture", mountPath: "/var/run/dfly-load", readOnly: true });
  });

  it("the CLI accepts every rendered command line: each fails only at reaching NATS or the control (within 6 s)", async () => {
    const natsPort = await freePort();
    const controlPort = await freePort();
    const saved = { ...process.env };
    Object.assign(process.env, { DFLY_NATS_URL: `nats://127.0.0.1:${natsPort}`, DFLY_CONTROL_ADDR: `127.0.0.1:${controlPort}`, DFLY_CLUSTER: "dfly", DFLY_CONTEXT: join(dir, "no-context.json") });
    try {
      for (const set of ["load pktgen", "load replay from a ConfigMap", "load http-short"]) {
        // The capture is where the pod mounts it; here the same file from the fixtures.
        const argv = podSpec(loadOf(set))!.containers[0]!.args!.map((a) => (a.startsWith("/var/run/dfly-load/") ? join(repoRoot, "test/fixtures/http_espn.pcapng") : a));
        const r = await runCli(...argv);
        expect(r.code, `${set}: ${r.err}`).toBe(1);
        expect(r.err.trimEnd().split("\n"), set).toHaveLength(1);
        expect(r.ms, set).toBeLessThan(6000);
        // pktgen --routes and http-short talk to the control first; replay only to NATS.
        expect(r.err, set).toMatch(set !== "load replay from a ConfigMap" ? new RegExp(`cannot reach the control 127\\.0\\.0\\.1:${controlPort}`) : new RegExp(`cannot reach NATS at nats://127\\.0\\.0\\.1:${natsPort}`));
      }
    } finally {
      process.env = saved;
    }
  }, 30_000);

  it("a bad load value fails the render naming it", async () => {
    const r = await helm(["template", "dfly", CHART, "-f", valuesFile("bad-load", { load: { enabled: true, kind: "iperf" } })]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/load\/kind/);
    const r2 = await helm(["template", "dfly", CHART, "-f", valuesFile("bad-load2", { load: { enabled: true, pktgen: { sizes: [20] } } })]);
    expect(r2.code).not.toBe(0);
    expect(r2.stderr).toMatch(/load\/pktgen\/sizes\/0/);
  });
});

describe("merge and patch overrides", () => {
  it("every resource takes its merge and patch (values.yaml lists one pair per resource)", async () => {
    const defaults = parse(readFileSync(join(CHART, "values.yaml"), "utf8")) as Values;
    const keys = overrideKeys(defaults);
    expect(keys.length).toBeGreaterThanOrEqual(20);
    const values: Values = { nats: { cluster: { enabled: true } }, control: { podDisruptionBudget: { enabled: true } }, load: { enabled: true } };
    for (const k of keys) {
      const id = k.join(".");
      setPath(values, [...k, "merge"], { metadata: { annotations: { "dfly.test/merged": id } } });
      setPath(values, [...k, "patch"], [{ op: "add", path: "/metadata/labels/dfly.test~1patched", value: id.replace(/[^A-Za-z0-9.-]/g, "_") }]);
    }
    const ds = await renderChart({ values: [valuesFile("overrides", values)], apiVersions: [MONITORING_API] });
    const unmerged = ds.filter((d) => !d.metadata.annotations?.["dfly.test/merged"]).map((d) => `${d.kind}/${d.metadata.name}`);
    expect(unmerged).toEqual([]);
    const unpatched = ds.filter((d) => d.metadata.labels?.["dfly.test/patched"] !== d.metadata.annotations?.["dfly.test/merged"]);
    expect(unpatched.map((d) => `${d.kind}/${d.metadata.name}`)).toEqual([]);
    // Each override pair reached at least one resource.
    const reached = new Set(ds.map((d) => d.metadata.annotations!["dfly.test/merged"]));
    expect(keys.map((k) => k.join(".")).filter((k) => !reached.has(k))).toEqual([]);
    // The hook keeps its own annotations next to the merged one.
    expect(one(ds, "Pod", "-test-route-verify").metadata.annotations?.["helm.sh/hook"]).toBe("test");
  });

  it("patch edits deep paths (append, replace, remove, ~1 escapes) and merge keeps the rest", async () => {
    const values = {
      netisr: {
        statefulSet: {
          merge: { spec: { minReadySeconds: 5 } },
          patch: [
            { op: "add", path: "/spec/template/spec/containers/0/args/-", value: "--verbose" },
            { op: "replace", path: "/spec/template/spec/containers/0/resources/requests/cpu", value: "2" },
            { op: "remove", path: "/spec/template/spec/containers/0/livenessProbe" },
            { op: "add", path: "/spec/template/spec/containers/0/env/0", value: { name: "FIRST", value: "1" } },
          ],
        },
      },
    };
    const sts = one(await renderChart({ values: [valuesFile("patch", values)] }), "StatefulSet", "-netisr");
    const spec = sts.spec as { minReadySeconds: number; replicas: number; podManagementPolicy: string };
    expect(spec).toMatchObject({ minReadySeconds: 5, replicas: 2, podManagementPolicy: "Parallel" });
    const c = podSpec(sts)!.containers[0]! as Container & { livenessProbe?: unknown };
    expect(c.args).toEqual(["netisr", "--verbose"]);
    expect(c.resources?.requests?.cpu).toBe("2");
    expect(c.livenessProbe).toBeUndefined();
    expect(c.env![0]).toEqual({ name: "FIRST", value: "1" });
    expect(c.env![1]!.name).toBe("DFLY_CLUSTER");
  });

  it("bad overrides and values fail the render with the reason", async () => {
    const bad = async (v: Values) => {
      const r = await helm(["template", "dfly", CHART, "-f", valuesFile("bad", v)]);
      expect(r.code).not.toBe(0);
      return r.stderr;
    };
    expect(await bad({ netisr: { statefulSet: { patch: [{ op: "replace", path: "/spec/template/spec/containers/3/args", value: [] }] } } })).toContain(
      "index 3 out of range (length 1)",
    );
    expect(await bad({ control: { deployment: { patch: [{ op: "remove", path: "/spec/nothere" }] } } })).toContain('no key "nothere"');
    expect(await bad({ netisr: { replica: 4 } })).toContain("additional properties 'replica' not allowed");
    expect(await bad({ nic: { mode: "poll" } })).toMatch(/nic\/mode/);
    expect(await bad({ netisr: { replicas: 0 } })).toMatch(/netisr\/replicas/);
    expect(await bad({ nats: { cluster: { enabled: true, replicas: 2 } } })).toMatch(/nats\/cluster\/replicas/);
    expect(await bad({ nic: { interfaces: [{ name: "ix0" }, { name: "ix0" }] } })).toContain('"ix0" listed twice');
    expect(await bad({ netisr: { terminationGracePeriodSeconds: 20 } })).toContain(
      "netisr.terminationGracePeriodSeconds=20 is shorter than the drain (netisr.drain.timeoutMs=6000) + the linger (20000 ms) + 4 s = 30 s",
    );
    expect(await bad({ netisr: { drain: { lingerMs: -1 } } })).toMatch(/netisr\/drain\/lingerMs/);
    expect(await bad({ monitoring: { serviceMonitor: { interval: "2h" } } })).toContain("the scrape interval 2h + 5 s is over an hour");
  });
});

/** `nats-server -t` on a generated config ("" = valid). */
/** What the server's container gets from the auth Secret (nats.conf refers to them). */
const NATS_PASSWORDS = { NATS_PASSWORD_CONTROL: "a", NATS_PASSWORD_NETISR: "b", NATS_PASSWORD_NIC: "c", NATS_PASSWORD_LOAD: "d" };

function natsConfigTest(conf: string): string {
  const f = join(dir, `nats-${Math.random().toString(36).slice(2)}.conf`);
  writeFileSync(f, conf);
  const r = spawnSync("nats-server", ["-c", f, "-t"], { encoding: "utf8", env: { ...process.env, SERVER_NAME: "nats-0", ...NATS_PASSWORDS } });
  if (r.error) throw new Error(`nats-server is not installed (scripts/setup-machine.sh): ${r.error.message}`);
  return r.status === 0 && /is valid/.test(r.stdout + r.stderr) ? "" : `${r.stdout}${r.stderr}`;
}
