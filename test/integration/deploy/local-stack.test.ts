/**
 * `make up`'s Prometheus scrapes the netisr CPUs the local stack starts, no more
 * (scripts/local-stack.sh prometheus-config): the generated config passes promtool, its
 * dfly-netisr job lists 127.0.0.1:9464 + cpu for each CPU started (the ports of the
 * configuration contract), and the rest equals the committed deploy/prometheus.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { repoRoot } from "../../support/docker.js";
import { promtool } from "../../support/prometheus.js";

type Conf = { rule_files: string[]; scrape_configs: { job_name: string; static_configs: { targets: string[]; labels: Record<string, string> }[] }[] };

function generate(cpus: string, dir: string) {
  return spawnSync("bash", [join(repoRoot, "scripts/local-stack.sh"), "prometheus-config", dir], { env: { ...process.env, DFLY_LOCAL_CPUS: cpus }, encoding: "utf8" });
}

describe("local-stack.sh prometheus-config", () => {
  const dir = mkdtempSync(join(tmpdir(), "dfly-local-prom-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const committed = parse(readFileSync(join(repoRoot, "deploy/prometheus/prometheus.yml"), "utf8")) as Conf;

  for (const cpus of [1, 2, 5]) {
    it(`${cpus} CPUs: promtool passes; netisr targets are exactly 9464..${9463 + cpus}`, () => {
      const out = join(dir, String(cpus));
      const g = generate(String(cpus), out);
      expect(g.status, g.stderr).toBe(0);
      const check = promtool("check", "config", join(out, "prometheus.yml"));
      expect(check.code, check.output).toBe(0);
      expect(check.output).toMatch(/SUCCESS: \d+ rules found/);
      const conf = parse(readFileSync(join(out, "prometheus.yml"), "utf8")) as Conf;
      const jobs = Object.fromEntries(conf.scrape_configs.map((j) => [j.job_name, j]));
      expect(jobs["dfly-netisr"]!.static_configs).toEqual([{ targets: Array.from({ length: cpus }, (_, c) => `127.0.0.1:${9464 + c}`), labels: { component: "netisr" } }]);
      for (const j of committed.scrape_configs.filter((x) => x.job_name !== "dfly-netisr")) expect(jobs[j.job_name]).toEqual(j);
      expect({ ...conf, scrape_configs: [] }).toEqual({ ...committed, scrape_configs: [] });
      expect(readFileSync(join(out, "rules.yml"), "utf8")).toBe(readFileSync(join(repoRoot, "deploy/prometheus/rules.yml"), "utf8"));
    });
  }

  it("refuses a CPU count outside 1..64 (exit 2)", () => {
    for (const bad of ["0", "65", "two"]) expect(generate(bad, join(dir, "bad")).status).toBe(2);
  });
});
