/**
 * A real Prometheus (Debian's `prometheus` package, no container) on a free 127.0.0.1 port, scraping
 * the given static targets every `scrapeInterval` and evaluating the given rule files. For the
 * observability tests: `query(expr)` runs an instant query; `waitFor(expr)` polls until it returns
 * data (the first scraped sample arrives about 5.5 s after start, even at a 1 s interval).
 * Fails with a clear message when prometheus is missing (scripts/setup-machine.sh installs it).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { freePort } from "./docker.js";

export interface ScrapeJob {
  readonly job: string;
  /** host:port, on 127.0.0.1. */
  readonly targets: readonly string[];
  readonly labels?: Readonly<Record<string, string>>;
  readonly metricsPath?: string;
}

export interface PrometheusOptions {
  /** Static scrape targets: "127.0.0.1:9464" strings (job "dfly") or whole jobs. */
  readonly targets: readonly (string | ScrapeJob)[];
  readonly ruleFiles?: readonly string[];
  /** Default "1s". */
  readonly scrapeInterval?: string;
  readonly evaluationInterval?: string;
}

export interface PromSample {
  readonly metric: Record<string, string>;
  readonly value: number;
}

export interface PromTarget {
  readonly scrapeUrl: string;
  readonly health: string;
  readonly lastError: string;
  readonly labels: Record<string, string>;
}

export interface PromRuleGroup {
  readonly name: string;
  readonly rules: readonly { name: string; type: string; health: string; lastError?: string; state?: string }[];
}

export class PromQueryError extends Error {
  constructor(
    readonly expr: string,
    detail: string,
  ) {
    super(`PromQL query failed: ${expr}: ${detail}`);
    this.name = "PromQueryError";
  }
}

export interface PrometheusProcess {
  readonly url: string;
  readonly port: number;
  /** Instant query; a scalar or vector result comes back as samples (a scalar as one sample, no labels). */
  query(expr: string): Promise<PromSample[]>;
  /** Polls `expr` until it returns at least one sample (and `accept` holds), or throws after `timeoutMs` (default 30 s). */
  waitFor(expr: string, opts?: { timeoutMs?: number; accept?: (s: PromSample[]) => boolean }): Promise<PromSample[]>;
  targets(): Promise<PromTarget[]>;
  ruleGroups(): Promise<PromRuleGroup[]>;
  stop(): Promise<void>;
}

function which(cmd: string): string {
  const r = spawnSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" });
  const p = r.stdout.trim();
  if (!p) throw new Error(`${cmd} is not installed: run scripts/setup-machine.sh (apt-get install prometheus)`);
  return p;
}

/** `promtool <args>`: { code, output }. */
export function promtool(...args: string[]): { code: number; output: string } {
  const r = spawnSync(which("promtool"), args, { encoding: "utf8" });
  return { code: r.status ?? -1, output: `${r.stdout}${r.stderr}` };
}

export async function startPrometheus(opts: PrometheusOptions): Promise<PrometheusProcess> {
  const exe = which("prometheus");
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "dfly-prom-"));
  const jobs: ScrapeJob[] = [];
  const plain = opts.targets.filter((t): t is string => typeof t === "string");
  if (plain.length) jobs.push({ job: "dfly", targets: plain });
  jobs.push(...opts.targets.filter((t): t is ScrapeJob => typeof t !== "string"));
  // JSON is YAML: no YAML writer needed.
  const config = {
    global: { scrape_interval: opts.scrapeInterval ?? "1s", evaluation_interval: opts.evaluationInterval ?? opts.scrapeInterval ?? "1s" },
    rule_files: (opts.ruleFiles ?? []).map((f) => resolve(f)),
    scrape_configs: jobs.map((j) => ({
      job_name: j.job,
      metrics_path: j.metricsPath ?? "/metrics",
      static_configs: [{ targets: [...j.targets], ...(j.labels ? { labels: { ...j.labels } } : {}) }],
    })),
  };
  const configFile = join(dir, "prometheus.yml");
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  const check = promtool("check", "config", configFile);
  if (check.code !== 0) throw new Error(`promtool check config failed:\n${check.output}`);

  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(
    exe,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let log = "";
  child.stderr!.on("data", (d: Buffer) => {
    log = (log + d.toString()).slice(-4000);
  });
  const exited = new Promise<void>((res) => child.once("exit", () => res()));

  const api = async <T>(path: string): Promise<T> => {
    const r = await fetch(`${url}${path}`);
    const body = (await r.json()) as { status: string; data: T; error?: string };
    if (body.status !== "success") throw new Error(body.error ?? `HTTP ${r.status}`);
    return body.data;
  };

  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`prometheus exited (${child.exitCode}):\n${log}`);
    try {
      if ((await fetch(`${url}/-/ready`)).ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`prometheus not ready within 15 s:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  const query = async (expr: string): Promise<PromSample[]> => {
    let data: { resultType: string; result: unknown };
    try {
      data = await api(`/api/v1/query?query=${encodeURIComponent(expr)}`);
    } catch (e) {
      throw new PromQueryError(expr, (e as Error).message);
    }
    if (data.resultType === "scalar") return [{ metric: {}, value: Number((data.result as [number, string])[1]) }];
    if (data.resultType !== "vector") throw new PromQueryError(expr, `unexpected result type ${data.resultType}`);
    return (data.result as { metric: Record<string, string>; value: [number, string] }[]).map((s) => ({
      metric: s.metric,
      value: Number(s.value[1]),
    }));
  };

  return {
    url,
    port,
    query,
    waitFor: async (expr, o = {}) => {
      const until = Date.now() + (o.timeoutMs ?? 30_000);
      let last: PromSample[] = [];
      while (Date.now() < until) {
        last = await query(expr);
        if (last.length > 0 && (!o.accept || o.accept(last))) return last;
        await new Promise((r) => setTimeout(r, 250));
      }
      throw new PromQueryError(expr, `no matching data within ${o.timeoutMs ?? 30_000} ms (last: ${JSON.stringify(last)})`);
    },
    targets: async () =>
      (await api<{ activeTargets: PromTarget[] }>("/api/v1/targets")).activeTargets.map((t) => ({
        scrapeUrl: t.scrapeUrl,
        health: t.health,
        lastError: t.lastError,
        labels: t.labels,
      })),
    ruleGroups: async () => (await api<{ groups: PromRuleGroup[] }>("/api/v1/rules")).groups,
    stop: async () => {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
        if (child.exitCode === null) child.kill("SIGKILL");
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
