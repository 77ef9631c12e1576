/**
 * A real Prometheus (Debian's package) scrapes the running services — control, a NIC with two
 * interfaces (one RX ring each, so frames of the second CPU are redispatched), two netisr CPUs, all
 * containers of the project's image over a real NATS — while traffic flows: a forwarded flow set, TTL-1
 * packets (ICMP time exceeded), malformed frames and wire messages (netisr and NIC drops by reason).
 * A listener opened through the control's SocketService (installed on every CPU) gives each CPU its
 * accept-queue gauge. A live rescale happens as a StatefulSet scale-down does it: long-lived TCP
 * connections (test/support/tcp-streams.ts) run over three netisr CPUs, then CPU 2's container is
 * stopped (SIGTERM: it drains, handing its connections to CPUs 0 and 1, then lingers a little over one
 * scrape interval so that Prometheus gets its final values — the other CPUs linger 0). Then every series of the
 * metric contract must be exported, every PromQL expression of the Grafana dashboard and of the
 * Prometheus rules must return data, and the "Live rescale" panels must show the hand-over.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { Pktgen, Sink } from "@dfly/apps";
import { ControlClient } from "@dfly/control";
import { createTransport, encodeFrameBatch, subjects, type Transport } from "@dfly/transport";
import { buildDashboard, concreteExpr, dashboardExprs } from "../../deploy/src/dashboard.js";
import { metricNames } from "../../deploy/src/metrics.js";
import { recordingRules, ruleExprs } from "../../deploy/src/rules.js";
import { freePort, repoRoot } from "../support/docker.js";
import { FuzzRng, mutateFrame, seedFrames } from "../support/fuzz.js";
import { ensureProjectImage } from "../support/image.js";
import { startNats, type NatsContainer } from "../support/nats.js";
import { startPrometheus, type PrometheusProcess } from "../support/prometheus.js";
import { startService, waitHttpOk, type ServiceContainer } from "../support/stack.js";
import { StreamWorkload } from "../support/tcp-streams.js";

const CLUSTER = "obs";
/** The netisr CPUs started; the last one leaves (drains) during the setup. */
const CPUS = [0, 1, 2];
const LEAVING = 2;
/** Prometheus's scrape interval here, and the leaving CPU's linger after its drain (one interval + 2 s). */
const SCRAPE_INTERVAL_MS = 1000;
const LEAVING_LINGER_MS = SCRAPE_INTERVAL_MS + 2000;

/** Σ over the samples of `name` whose labels include every `labels` pair, in an exposition text. */
function sampleWith(text: string, name: string, labels: Record<string, string>): number {
  let n = 0;
  for (const m of text.matchAll(new RegExp(`^${name}\\{([^}]*)\\} ([0-9.e+]+)$`, "gm"))) {
    if (Object.entries(labels).every(([k, v]) => m[1]!.includes(`${k}="${v}"`))) n += Number(m[2]);
  }
  return n;
}

describe("Prometheus scraping the running services answers every dashboard and rule expression", () => {
  const services: ServiceContainer[] = [];
  let nats: NatsContainer;
  let prom: PrometheusProcess;
  let transport: Transport;
  let sink: Sink;
  const gens: Pktgen[] = [];
  let fuzzTimer: NodeJS.Timeout | undefined;
  let exposition = "";
  let listenerId = "";
  let streams: StreamWorkload | undefined;
  /** What the leaving CPU's log says it did: connections handed over, failed, drain duration. */
  let drained = { handedOver: -1, failed: -1, ms: -1 };

  beforeAll(async () => {
    const image = await ensureProjectImage();
    nats = await startNats({ jetstream: true });
    const grpcPort = await freePort();
    const controlAddr = `127.0.0.1:${grpcPort}`;
    const common = { DFLY_NATS_URL: nats.url, DFLY_CLUSTER: CLUSTER, DFLY_CONTROL_ADDR: controlAddr };
    services.push(
      await startService({ image, kind: "control", env: { ...common, DFLY_GRPC_HOST: "127.0.0.1", DFLY_GRPC_PORT: String(grpcPort) } }),
    );
    services.push(
      await startService({
        image,
        kind: "nic",
        env: { ...common, DFLY_IFNAME: "ix0,ix1", DFLY_NIC_MODEL: "82599", DFLY_NIC_RINGS: "1", DFLY_NIC_MODE: "interrupt" },
      }),
    );
    for (const cpu of CPUS) {
      // The leaving CPU lingers after its drain for Prometheus's last scrape; the others stop at once (stack.ts: linger 0).
      const linger: Record<string, string> = cpu === LEAVING ? { DFLY_DRAIN_LINGER_MS: String(LEAVING_LINGER_MS) } : {};
      services.push(await startService({ image, kind: "netisr", name: `netisr-${cpu}`, env: { ...common, DFLY_CPU: String(cpu), POD_IP: "127.0.0.1", ...linger } }));
    }
    for (const s of services) await waitHttpOk(`${s.metricsUrl}/readyz`, 30_000);

    const c = new ControlClient(controlAddr, 10_000);
    try {
      await c.addRoute({ prefix: "198.18.0.0/24", ifname: "ix0" });
      await c.addRoute({ prefix: "198.18.1.0/24", ifname: "ix1" });
      await c.addRoute({ prefix: "10.0.0.0/8", gateway: "198.18.1.2" });
      // Installed on every live CPU before the call returns: each exports its accept-queue depth.
      listenerId = (await c.listen({ port: 8080, backlog: 16, owner: "obs-test" })).listenerId;
    } finally {
      c.close();
    }

    transport = await createTransport({ natsUrl: nats.url, name: "obs-test" });
    sink = new Sink({ transport, cluster: CLUSTER, ifnames: ["ix0", "ix1"], flows: 64 });
    await sink.start();
    // Bounded load: a few hundred packets per second while the test runs.
    gens.push(new Pktgen({ transport, cluster: CLUSTER, ifname: "ix0", flows: 64, rate: 400, dst: ["10.0.0.0/8"], batch: 16 }));
    gens.push(new Pktgen({ transport, cluster: CLUSTER, ifname: "ix0", flows: 8, rate: 20, dst: ["10.9.0.0/16"], ttl: 1, batch: 4, seed: 2 }));
    for (const g of gens) void g.run();
    const rng = new FuzzRng(7);
    const seeds = seedFrames(rng);
    fuzzTimer = setInterval(() => {
      const frames = Array.from({ length: 8 }, () => ({ data: mutateFrame(rng.pick(seeds), rng, 0.3), hash: 0 }));
      frames.push({ data: new Uint8Array(0), hash: 0 }); // the NIC drops an empty frame (runt)
      transport.publish(subjects.wireIn(CLUSTER, "ix0"), encodeFrameBatch(frames));
      transport.publish(subjects.wireIn(CLUSTER, "ix1"), rng.bytes(24)); // not a frame batch (badbatch)
    }, 100);

    prom = await startPrometheus({
      targets: [
        // `component` as the chart's ServiceMonitor relabels it (the target alerts select by it).
        { job: "dfly-control", targets: [`127.0.0.1:${services[0]!.metricsPort}`], labels: { component: "control" } },
        { job: "dfly-nic", targets: [`127.0.0.1:${services[1]!.metricsPort}`], labels: { component: "nic" } },
        { job: "dfly-netisr", targets: services.slice(2).map((s) => `127.0.0.1:${s.metricsPort}`), labels: { component: "netisr" } },
      ],
      ruleFiles: [join(repoRoot, "deploy/prometheus/rules.yml")],
      scrapeInterval: `${SCRAPE_INTERVAL_MS / 1000}s`,
    });
    // Every target up, and a few scrapes of traffic (rate() needs two samples in its window).
    await prom.waitFor("sum(up)", { accept: (s) => s[0]!.value === services.length, timeoutMs: 30_000 });
    await prom.waitFor("sum(rate(dfly_ip_forwarded_total[15s]))", { accept: (s) => s[0]!.value > 0, timeoutMs: 30_000 });
    await prom.waitFor("count(count_over_time(dfly_netisr_rx_packets_total[1m]) >= 4)", { timeoutMs: 30_000 });
    await prom.waitFor(recordingRules[recordingRules.length - 1]!.record, { timeoutMs: 30_000 });
    exposition = (await Promise.all(services.map(async (s) => (await fetch(`${s.metricsUrl}/metrics`)).text()))).join("\n");

    // Live rescale: TCP connections on every CPU (more opened until the leaving one holds some), then
    // CPU 2 leaves as a StatefulSet scale-down makes it: SIGTERM, drain, deregister.
    const netisrOf = (cpu: number) => services.find((s) => s.name === `netisr-${cpu}`)!;
    const established = async (cpu: number) =>
      sampleWith(await (await fetch(`${netisrOf(cpu).metricsUrl}/metrics`)).text(), "dfly_tcp_connections", { state: "ESTABLISHED" });
    streams = await StreamWorkload.start({ transport, cluster: CLUSTER, controlAddr, appPort: 8081 });
    streams.openOut(3);
    streams.openIn(3);
    await streams.progress(2000, 30_000);
    for (let round = 0; (await established(LEAVING)) === 0; round++) {
      if (round === 5) throw new Error(`no TCP connection landed on CPU ${LEAVING}: ${streams.describe()}`);
      streams.openIn(3);
      await streams.progress(1000, 30_000);
    }
    const leaving = netisrOf(LEAVING);
    await leaving.stop();
    const line = /drained: (\d+) connections handed over .*, (\d+) failed, \d+ rounds, (\d+) ms/.exec(leaving.logs());
    if (!line) throw new Error(`CPU ${LEAVING} did not report its drain:\n${leaving.logs()}`);
    drained = { handedOver: Number(line[1]), failed: Number(line[2]), ms: Number(line[3]) };
    if (!new RegExp(`lingering ${LEAVING_LINGER_MS} ms[\\s\\S]*dfly netisr ${LEAVING}: stopped`).test(leaving.logs()))
      throw new Error(`CPU ${LEAVING} did not linger ${LEAVING_LINGER_MS} ms after its drain:\n${leaving.logs()}`);
    services.splice(services.indexOf(leaving), 1);
    // Prometheus sees the target gone (its series are marked stale), the receiving CPUs' counts, and
    // both remaining CPUs on control's new epoch; the connections keep flowing.
    await prom.waitFor('count(up{job="dfly-netisr"} == 0)', { accept: (r) => r[0]!.value === 1, timeoutMs: 30_000 });
    await prom.waitFor('sum(dfly_tcp_handover_total{dir="in", result="ok"})', { accept: (r) => r[0]!.value >= drained.handedOver, timeoutMs: 30_000 });
    await prom.waitFor("max(dfly_control_topology_epoch) - min(dfly_topology_epoch)", { accept: (r) => r[0]!.value === 0, timeoutMs: 30_000 });
    await streams.progress(2000, 30_000);
    // The epoch alert's evaluation may have caught the moment the CPUs followed: wait until it is inactive.
    for (let end = Date.now() + 30_000; ; ) {
      const epochAlert = (await prom.ruleGroups()).flatMap((g) => g.rules).find((r) => r.name === "DflyTopologyEpochBehind");
      if (epochAlert?.state === "inactive" || Date.now() > end) break;
      await new Promise((r) => setTimeout(r, 500));
    }
  }, 20 * 60_000);

  afterAll(async () => {
    if (fuzzTimer) clearInterval(fuzzTimer);
    await streams?.stop();
    for (const g of gens) g.stop();
    sink?.stop();
    await transport?.close();
    await prom?.stop();
    for (const s of services.reverse()) await s.stop().catch(() => undefined);
    await nats?.stop();
  });

  /** Does the services' exposition have a sample of `item` (a name, or name{label="value"})? */
  function exported(item: string): boolean {
    // A Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*: digits too, e.g. nodejs_eventloop_lag_p99_seconds).
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(\w+)="([^"]*)"\})?$/.exec(item);
    if (!m) throw new Error(`not a metric name of the contract: ${item}`);
    const lines = exposition.split("\n").filter((l) => l.startsWith(`${m[1]}{`) || l.startsWith(`${m[1]} `));
    return m[2] ? lines.some((l) => l.includes(`${m[2]}="${m[3]}"`)) : lines.length > 0;
  }

  it("the services export every series of the contract", () => {
    const missing = metricNames.filter((n) => !exported(n));
    expect(missing).toEqual([]);
  });

  it("before any rescale, every CPU exports every label value of the rescale series at 0 or more", () => {
    for (const cpu of CPUS.map(String)) {
      for (const dir of ["in", "out"])
        for (const result of ["ok", "failed"]) expect(exposition, `cpu ${cpu} ${dir} ${result}`).toMatch(new RegExp(`^dfly_tcp_handover_total\\{(?=[^}]*cpu="${cpu}")(?=[^}]*dir="${dir}")(?=[^}]*result="${result}")[^}]*\\} \\d`, "m"));
      for (const result of ["released", "expired"]) expect(exposition).toMatch(new RegExp(`^dfly_tcp_rescale_held_total\\{(?=[^}]*cpu="${cpu}")[^}]*result="${result}"[^}]*\\} \\d`, "m"));
      for (const reason of ["hops", "nopcb", "holdfull", "bad"]) expect(exposition).toMatch(new RegExp(`^dfly_tcp_rescale_dropped_total\\{(?=[^}]*cpu="${cpu}")[^}]*reason="${reason}"[^}]*\\} \\d`, "m"));
    }
  });

  it("every live CPU exports the accept-queue depth of the listener opened through the control", async () => {
    expect(listenerId).not.toBe("");
    const r = await prom.query(`dfly_so_accept_queue_depth{listener="${listenerId}"}`);
    expect(r.map((s) => s.metric.cpu).sort()).toEqual(["0", "1"]);
  });

  it("the Live rescale panels show the drain: connections installed by CPUs 0 and 1, none failed, a topology change", async () => {
    expect(drained.handedOver).toBeGreaterThan(0);
    expect(drained.failed).toBe(0);
    const panels = Object.fromEntries(dashboardExprs(buildDashboard()).map((e) => [e.panel, e.expr]));
    const one = async (panel: string) => (await prom.query(concreteExpr(panels[panel]!, "15s")))[0]?.value ?? Number.NaN;
    expect(await one("Connections handed over")).toBeGreaterThanOrEqual(drained.handedOver);
    expect(await one("Handover failures")).toBe(0);
    expect(await one("Topology changes")).toBeGreaterThanOrEqual(1);
    const installed = await prom.query('sum by (cpu) (dfly_tcp_handover_total{dir="in", result="ok"})');
    expect(installed.reduce((n, s) => n + s.value, 0)).toBeGreaterThanOrEqual(drained.handedOver);
    expect(installed.every((s) => s.metric.cpu !== String(LEAVING))).toBe(true);
    // The leaving CPU's own final values, scraped while it lingered after its drain: its drain
    // duration ("Longest drain") and its out hand-overs, none failed.
    expect(drained.ms).toBeGreaterThan(0);
    const caught = await prom.query(`max_over_time(dfly_tcp_handover_last_seconds{cpu="${LEAVING}"}[1h])`);
    expect(caught[0]?.value, "the leaving CPU's drain duration as Prometheus scraped it").toBeCloseTo(drained.ms / 1000, 6);
    expect(await one("Longest drain")).toBeGreaterThanOrEqual(drained.ms / 1000);
    const out = async (result: string) =>
      (await prom.query(`max_over_time(dfly_tcp_handover_total{cpu="${LEAVING}", dir="out", result="${result}"}[1h])`))[0]?.value;
    expect(await out("ok")).toBe(drained.handedOver);
    expect(await out("failed")).toBe(0);
    expect(streams!.errors).toEqual([]);
  });

  it("traffic shows up: forwarded, redispatched, dropped by reason, ICMP time exceeded", async () => {
    const one = async (expr: string) => (await prom.query(expr))[0]?.value ?? 0;
    expect(await one("sum(dfly_ip_forwarded_total)")).toBeGreaterThan(0);
    expect(await one("sum(dfly_netisr_redispatched_total)")).toBeGreaterThan(0);
    expect(await one("sum(dfly_netisr_redispatch_received_total)")).toBeGreaterThan(0);
    expect(await one("count(sum by (reason) (dfly_ip_dropped_total) > 0)")).toBeGreaterThan(0);
    expect(await one('sum(dfly_icmp_sent_total{type="timxceed"})')).toBeGreaterThan(0);
    expect(await one("count(count by (digest) (dfly_route_digest_info))")).toBe(1);
    expect(await one('sum(dfly_nic_dropped_total{reason="runt"})')).toBeGreaterThan(0);
    expect(await one('sum(dfly_nic_dropped_total{ifname="ix1", reason="badbatch"})')).toBeGreaterThan(0);
    expect(sink.counter.pktgen).toBeGreaterThan(0);
  });

  it("every dashboard panel expression returns data (the NATS exporter's panels: only where it runs; not here)", async () => {
    const exprs = dashboardExprs(buildDashboard());
    const empty: string[] = [];
    for (const { panel, expr } of exprs) {
      if (/nats_varz_|component="nats"/.test(expr)) continue;
      const r = await prom.query(concreteExpr(expr, "15s"));
      if (r.length === 0) empty.push(`${panel}: ${expr}`);
    }
    expect(empty).toEqual([]);
    expect(exprs.length).toBeGreaterThan(25);
  });

  it("every rule expression (recording rules, and each alert's measured part) returns data; the alerts judge this run", async () => {
    const empty: string[] = [];
    for (const { rule, expr } of ruleExprs()) {
      // Its measured part is the alert itself: a control without any netisr target (day2-alerts.test.ts shows it pending).
      if (rule === "DflyNetisrAbsent") {
        expect(await prom.query(expr)).toEqual([]);
        continue;
      }
      if ((await prom.query(expr)).length === 0) empty.push(`${rule}: ${expr}`);
    }
    for (const r of recordingRules) if ((await prom.query(r.record)).length === 0) empty.push(`recorded ${r.record}`);
    expect(empty).toEqual([]);
    const groups = await prom.ruleGroups();
    for (const g of groups) for (const r of g.rules) expect(r.health, `${r.name}: ${r.lastError}`).toBe("ok");
    const state = Object.fromEntries(groups.flatMap((g) => g.rules).filter((r) => r.type === "alerting").map((r) => [r.name, r.state]));
    // Equal route tables and epochs on both CPUs; about 16% of the frames are malformed on purpose.
    expect(state.DflyRouteDigestMismatch).toBe("inactive");
    expect(state.DflyTopologyEpochBehind).toBe("inactive");
    expect(state.DflyTcpHandoverFailed).toBe("inactive");
    expect(["pending", "firing"]).toContain(state.DflyPacketDropsHigh);
  });
});
