/**
 * `LOAD=pktgen,replay,http-short make up` as a new user runs it: scripts/local-stack.sh starts the
 * project's image as containers (NATS, control, a NIC with ix0 and ix1, 2 netisr CPUs, Prometheus
 * scraping them every 5 s) and a load container per kind — `dfly pktgen --routes` (forwarded UDP flows),
 * `dfly replay` of http_espn.pcapng (packets with no route: drops by reason) and
 * `dfly load http-short` (TCP connections to an httpd it starts on the CPUs). Then every dashboard
 * panel of every row that carries traffic must show a non-zero value in that Prometheus, as Grafana
 * would query it — the panels that are zero by design on this stack are listed with the reason.
 * The stack uses the script's fixed names and metrics ports (as `make up`): it cannot run next to a
 * `make up` of the same machine.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildDashboard, concreteExpr } from "../../deploy/src/dashboard.js";
import { freePort, repoRoot } from "../support/docker.js";
import { ensureProjectImage } from "../support/image.js";

/** Rows whose panels must all be non-zero under this load. */
const TRAFFIC_ROWS = ["Overview", "Packets per CPU", "Drops", "RSS spread and redispatch", "TCP and sockets", "Transport (NATS)"];
/** Panels of those rows that are zero by design here, and why. */
const ZERO_BY_DESIGN: Record<string, string> = {
  "Redispatched packets/s per CPU": "the 82599's rings outnumber the 2 CPUs: every ring's CPU owns its flows",
  "Redispatch ratio": "idem",
  "NIC drops/s by reason": "no malformed frame and no impairment on the wire",
  "Accept-queue depth per listener": "the httpd accepts at once: a gauge at 0 (and no overflow)",
  "Listener and connection migrations": "no listener closes while the load runs; the clients are not on the stack",
  "Route digests": "a count of distinct digests (1), not a rate",
  CPUs: "a count, not a rate",
  "ICMP sent/s by type":
    "the replayed capture's sources are public addresses with no route back here: an unreachable needs a route to the source (icmp_error → ip_output), so none is sent",
  "Transport lag per CPU": "measured for polled rings (ifpoll); make up's NIC runs in interrupt mode",
};

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

describe("make up with LOAD: Prometheus shows traffic on every dashboard row that has traffic", () => {
  const state = mkdtempSync(join(tmpdir(), "dfly-load-up-"));
  let prom = "";
  const env: NodeJS.ProcessEnv = { ...process.env };
  const script = (...args: string[]) => spawnSync("bash", [join(repoRoot, "scripts/local-stack.sh"), ...args], { env, encoding: "utf8", timeout: 10 * 60_000 });

  beforeAll(async () => {
    const image = await ensureProjectImage();
    const promPort = await freePort();
    Object.assign(env, {
      DFLY_IMAGE: image,
      LOAD: "pktgen,replay,http-short",
      DFLY_LOAD_RATE: "500",
      DFLY_LOAD_DURATION: "10m",
      DFLY_LOAD_CLIENTS: "4",
      DFLY_LOCAL_STATE_DIR: state,
      DFLY_LOCAL_CPUS: "2",
      DFLY_LOCAL_NATS_PORT: String(await freePort()),
      DFLY_LOCAL_NATS_MONITOR_PORT: String(await freePort()),
      DFLY_LOCAL_GRPC_PORT: String(await freePort()),
      DFLY_LOCAL_PROM_PORT: String(promPort),
    });
    const up = script("up");
    if (up.status !== 0) throw new Error(`local-stack.sh up failed:\n${up.stdout}${up.stderr}`);
    expect(up.stdout).toMatch(/load: pktgen, replay, http-short running/);
    prom = `http://127.0.0.1:${promPort}`;
  }, 15 * 60_000);

  afterAll(() => {
    script("down");
    rmSync(state, { recursive: true, force: true });
  });

  async function query(expr: string): Promise<Sample[]> {
    const r = await fetch(`${prom}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await r.json()) as { status: string; data?: { result: Sample[] }; error?: string };
    if (body.status !== "success") throw new Error(`${expr}: ${body.error}`);
    return body.data!.result;
  }

  it("each load container runs and logs its progress", () => {
    for (const kind of ["pktgen", "replay", "http-short"]) {
      const ps = spawnSync("docker", ["inspect", "-f", "{{.State.Running}}", `dfly-local-load-${kind}`], { encoding: "utf8" });
      expect(ps.stdout.trim(), kind).toBe("true");
    }
  });

  it("every panel of the traffic rows is non-zero (Grafana's query, 30 s rate window)", { timeout: 5 * 60_000 }, async () => {
    const panels: { row: string; title: string; expr: string }[] = [];
    let row = "";
    for (const p of buildDashboard().panels ?? []) {
      if (p.type === "row") {
        row = p.title ?? "";
        continue;
      }
      if (!TRAFFIC_ROWS.includes(row) || ZERO_BY_DESIGN[p.title ?? ""] !== undefined || !("targets" in p) || !p.targets) continue;
      for (const t of p.targets) {
        const expr = (t as { expr?: unknown }).expr;
        if (typeof expr === "string") panels.push({ row, title: p.title ?? "", expr: concreteExpr(expr, "30s", "5m") });
      }
    }
    expect(new Set(panels.map((p) => p.row))).toEqual(new Set(TRAFFIC_ROWS));
    // A panel passes when any of its series is above 0 (the rates need two scrapes of traffic).
    const pending = new Map(panels.map((p) => [`${p.row} / ${p.title}: ${p.expr}`, p.expr]));
    for (const end = Date.now() + 4 * 60_000; pending.size > 0 && Date.now() < end; ) {
      for (const [k, expr] of pending) if ((await query(expr)).some((s) => Number(s.value[1]) > 0)) pending.delete(k);
      if (pending.size > 0) await new Promise((r) => setTimeout(r, 2000));
    }
    expect([...pending.keys()].join("\n"), "panels still at zero").toBe("");
  });

  it("the loads' own signs: forwarded UDP (pktgen), noroute drops (replay), TCP connections (http-short)", async () => {
    const one = async (e: string) => Number((await query(e))[0]?.value[1] ?? 0);
    for (const e of [
      "sum(rate(dfly_ip_forwarded_total[30s]))",
      'sum(rate(dfly_ip_dropped_total{reason="noroute"}[30s]))',
      "sum(dfly_tcp_connections)",
      "sum(rate(dfly_netisr_rx_packets_total[30s]))",
    ]) expect(await one(e), e).toBeGreaterThan(0);
  });
});
