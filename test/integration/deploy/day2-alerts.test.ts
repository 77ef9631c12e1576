/**
 * The day-2 alerts and health checks against real parts: a real Prometheus (Debian's package) with the
 * generated rules scrapes a real control, NIC and two netisr CPUs (local processes of the built CLI)
 * over a real nats-server with JetStream. The targets carry `namespace`/`release` as the chart's
 * ServiceMonitor sets them; the control is scraped a second time as release "lonely", which has no
 * netisr. Then: the new dashboard rows' queries and the new alerts' measured expressions return data;
 * `dfly route verify --expect-cpus` (helm test's command) fails on 0 CPUs and on fewer CPUs; a netisr
 * killed, NATS stopped, the control stopped each put their alert in `pending`; the control's /healthz
 * (liveness) follows its NATS connection.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { buildDashboard, concreteExpr, dashboardExprs } from "../../../deploy/src/dashboard.js";
import { alertingRules } from "../../../deploy/src/rules.js";
import { runCli } from "../../support/cli.js";
import { freePort, repoRoot } from "../../support/docker.js";
import { startDfly, type DflyProcess } from "../../support/dfly-process.js";
import { startNatsCluster, type NatsCluster } from "../../support/nats-cluster.js";
import { startPrometheus, type PrometheusProcess, type PromSample } from "../../support/prometheus.js";

const CLUSTER = "day2alerts";
const LABELS = { namespace: "ns", release: "r1" };

describe("day-2 alerts on a real Prometheus scraping real services", () => {
  let nats: NatsCluster;
  let control: DflyProcess;
  let nic: DflyProcess;
  const cpus: DflyProcess[] = [];
  let prom: PrometheusProcess;
  let controlAddr = "";
  let common: Record<string, string> = {};

  const verify = (...extra: string[]) => runCli("route", "verify", "--control", controlAddr, ...extra);
  const healthArgs = () => ["--health", `${control.metricsUrl}/healthz?jetstream=true`, "--health", `${nats.servers[0]!.monitorUrl}/healthz?js-enabled-only=true`];
  const pending = (alert: string, match: Record<string, string>, timeoutMs = 30_000): Promise<PromSample[]> => {
    const sel = Object.entries({ alertname: alert, ...match })
      .map(([k, v]) => `${k}="${v}"`)
      .join(", ");
    return prom.waitFor(`ALERTS{${sel}}`, { timeoutMs });
  };

  beforeAll(async () => {
    nats = await startNatsCluster({ size: 1, name: "day2-alerts" });
    const grpcPort = await freePort();
    controlAddr = `127.0.0.1:${grpcPort}`;
    common = { DFLY_NATS_URL: nats.url, DFLY_CLUSTER: CLUSTER, DFLY_CONTROL_ADDR: controlAddr };
    control = await startDfly("control", { ...common, DFLY_GRPC_HOST: "127.0.0.1", DFLY_GRPC_PORT: String(grpcPort), DFLY_HEARTBEAT_MS: "250", DFLY_CPU_TIMEOUT_MS: "1500" });
    nic = await startDfly("nic", { ...common, DFLY_IFNAME: "ix0", DFLY_NIC_MODEL: "82599", DFLY_NIC_RINGS: "2" }, { until: "healthz" });
  }, 90_000);

  afterAll(async () => {
    await prom?.stop();
    for (const p of [...cpus, nic, control]) await p?.stop("SIGKILL");
    await nats?.close();
  });

  it("helm test's command: 0 CPUs registered fails --expect-cpus (plain route verify calls it consistent)", async () => {
    const plain = await verify();
    expect(plain.code, plain.out + plain.err).toBe(0);
    expect(plain.out).toContain("all 0 CPUs agree");
    const r = await verify("--expect-cpus", "2", ...healthArgs());
    expect(r.code).toBe(1);
    expect(r.out).toContain("CPUs registered: 0, expected 2");
    expect(r.out).toMatch(/health http:\/\/127\.0\.0\.1:\d+\/healthz\?jetstream=true: ok/);
  }, 30_000);

  it("with 2 CPUs: passes with --expect-cpus 2 and healthy NATS/JetStream, fails with --expect-cpus 3", async () => {
    for (const cpu of [0, 1]) cpus.push(await startDfly("netisr", { ...common, DFLY_CPU: String(cpu), POD_IP: "127.0.0.1", DFLY_DRAIN_LINGER_MS: "0" }));
    const ok = await verify("--expect-cpus", "2", ...healthArgs());
    expect(ok.code, ok.out + ok.err).toBe(0);
    expect(ok.out).toContain("all 2 CPUs agree");
    const fewer = await verify("--expect-cpus", "3", ...healthArgs());
    expect(fewer.code).toBe(1);
    expect(fewer.out).toContain("CPUs registered: 2, expected 3");
  }, 60_000);

  it("Prometheus: the new dashboard rows and every new alert's measured expression return data", async () => {
    const job = (name: string, component: string, targets: string[], labels = LABELS) => ({ job: name, targets, labels: { component, ...labels } });
    const hostOf = (p: DflyProcess) => `127.0.0.1:${p.metricsPort}`;
    prom = await startPrometheus({
      targets: [
        job("dfly-control", "control", [hostOf(control)]),
        job("dfly-nic", "nic", [hostOf(nic)]),
        job("dfly-netisr", "netisr", cpus.map(hostOf)),
        // A second release in the same namespace whose control is scraped but which has no netisr at all.
        job("lonely-control", "control", [hostOf(control)], { namespace: "ns", release: "lonely" }),
      ],
      ruleFiles: [join(repoRoot, "deploy/prometheus/rules.yml")],
    });
    await prom.waitFor(`count(up{release="r1"} == 1) == 4`, { timeoutMs: 30_000 });
    // Two scrapes for every rate().
    await prom.waitFor(`count(count_over_time(process_cpu_seconds_total{release="r1"}[1m]) >= 3) == 4`, { timeoutMs: 30_000 });

    const dash = buildDashboard();
    const rows = new Map<string, string>();
    let row = "";
    for (const p of dash.panels ?? []) {
      if (p.type === "row") row = p.title ?? "";
      else rows.set(p.title ?? "", row);
    }
    const empty: string[] = [];
    for (const e of dashboardExprs(dash)) {
      const r = rows.get(e.panel);
      if (r !== "Service processes" && !(r === "NATS and JetStream" && e.expr.includes("dfly_control_"))) continue;
      const s = await prom.query(concreteExpr(e.expr));
      if (s.length === 0) empty.push(`${e.panel}: ${e.expr}`);
    }
    expect(empty, "dashboard queries without data").toEqual([]);
    const series = await prom.query(`count by (component) (nodejs_eventloop_lag_p99_seconds{release="r1"})`);
    expect(Object.fromEntries(series.map((s) => [s.metric.component, s.value]))).toEqual({ control: 1, nic: 1, netisr: 2 });

    const byName = Object.fromEntries(alertingRules.map((a) => [a.alert, a]));
    const measured = async (alert: string) => prom.query(byName[alert]!.expr);
    for (const a of ["DflyNetisrTargetDown", "DflyCpusNotRegistered", "DflyControlDown", "DflyNatsDown", "DflyJetStreamUnavailable", "DflyTransportLagHigh", "DflyNicDropsHigh", "DflyEventLoopLagHigh"])
      expect((await measured(a)).filter((s) => s.metric.release === "r1").length, a).toBeGreaterThan(0);
    // Healthy: up 1, CPUs = pods, NATS and JetStream up.
    const v = async (a: string) => (await measured(a)).filter((s) => s.metric.release === "r1").map((s) => s.value);
    expect(await v("DflyCpusNotRegistered")).toEqual([0]);
    expect(await v("DflyNatsDown")).toEqual([1]);
    expect(await v("DflyJetStreamUnavailable")).toEqual([1]);
    expect(await v("DflyNetisrTargetDown")).toEqual([1, 1]);
    // The lonely release has a control and no netisr: DflyNetisrAbsent goes pending for it alone.
    const absent = await pending("DflyNetisrAbsent", { alertstate: "pending" });
    expect(absent.map((s) => s.metric.release)).toEqual(["lonely"]);
    expect(await prom.query(`ALERTS{alertstate=~"pending|firing", release="r1"}`)).toEqual([]);
  }, 120_000);

  it("a netisr killed: DflyNetisrTargetDown and DflyCpusNotRegistered pending; helm test's command fails (fewer CPUs)", async () => {
    const victim = cpus[1]!;
    await victim.stop("SIGKILL");
    const down = await pending("DflyNetisrTargetDown", { alertstate: "pending", release: "r1" });
    expect(down.map((s) => s.metric.instance)).toEqual([`127.0.0.1:${victim.metricsPort}`]);
    // The control expires the CPU after DFLY_CPU_TIMEOUT_MS: 2 pods scraped, 1 CPU registered.
    await pending("DflyCpusNotRegistered", { alertstate: "pending", release: "r1" });
    const r = await verify("--expect-cpus", "2", ...healthArgs());
    expect(r.code).toBe(1);
    expect(r.out).toContain("CPUs registered: 1, expected 2");
  }, 60_000);

  it("NATS stopped: DflyNatsDown and DflyJetStreamUnavailable pending, the control's /healthz fails; back: /healthz ok", async () => {
    await nats.stop(0);
    await pending("DflyNatsDown", { alertstate: "pending", release: "r1" });
    await pending("DflyJetStreamUnavailable", { alertstate: "pending", release: "r1" });
    const h = await fetch(`${control.metricsUrl}/healthz`);
    expect(h.status).toBe(503);
    // nats.js rejects the flush at once when the connection is down, else it times out.
    expect(await h.text()).toMatch(/^unhealthy: NATS round trip: (connection disconnected|no answer within 1000 ms); JetStream not checked\n$/);
    const r = await verify("--expect-cpus", "1", ...healthArgs());
    expect(r.code).toBe(1);
    expect(r.out + r.err).toMatch(/FAILED|UNAVAILABLE|DEADLINE|INTERNAL|cannot/);
    await nats.start(0);
    await nats.waitHealthy();
    const end = Date.now() + 20_000;
    let status = 0;
    while (Date.now() < end && status !== 200) {
      status = (await fetch(`${control.metricsUrl}/healthz?jetstream=true`)).status;
      if (status !== 200) await new Promise((res) => setTimeout(res, 250));
    }
    expect(status).toBe(200);
  }, 90_000);

  it("the control stopped: DflyControlDown pending for both releases that scrape it", async () => {
    await control.stop();
    const down = await pending("DflyControlDown", { alertstate: "pending" }, 30_000);
    await prom.waitFor(`count(ALERTS{alertname="DflyControlDown"}) == 2`, { timeoutMs: 10_000 });
    expect(down.length).toBeGreaterThan(0);
    expect((await prom.query(`ALERTS{alertname="DflyControlDown"}`)).map((s) => s.metric.release).sort()).toEqual(["lonely", "r1"]);
  }, 60_000);
});
