/**
 * Writes the generated observability files from their one source (dashboard.ts, rules.ts):
 *   deploy/grafana/dashboards/dfly-netstack.json   helm/dfly-netstack/files/dashboards/dfly-netstack.json
 *   deploy/prometheus/rules.yml                    helm/dfly-netstack/files/prometheus-rules.yaml
 * Run: `npx vite-node deploy/src/gen.ts` (`-- --check`: exit 1 when a committed file differs).
 * test/unit/deploy/observability.test.ts fails when the committed files are stale.
 */
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { buildDashboard } from "./dashboard.js";
import { promRuleFile } from "./rules.js";

export const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

const HEADER = "# Generated from deploy/src/rules.ts by `npx vite-node deploy/src/gen.ts`: do not edit.\n";

/** Repository-relative path → content. */
export function generatedFiles(): Record<string, string> {
  const dash = `${JSON.stringify(buildDashboard(), null, 2)}\n`;
  const rules = HEADER + stringify(promRuleFile(), { lineWidth: 0 });
  return {
    "deploy/grafana/dashboards/dfly-netstack.json": dash,
    "helm/dfly-netstack/files/dashboards/dfly-netstack.json": dash,
    "deploy/prometheus/rules.yml": rules,
    "helm/dfly-netstack/files/prometheus-rules.yaml": rules,
  };
}

/** Paths whose committed content differs from the generated one. */
export function staleFiles(): string[] {
  return Object.entries(generatedFiles())
    .filter(([p, c]) => {
      try {
        return readFileSync(join(repoRoot, p), "utf8") !== c;
      } catch {
        return true;
      }
    })
    .map(([p]) => p);
}

/** `npx vite-node deploy/src/gen.ts [--check]`. */
export function main(argv: readonly string[]): number {
  if (argv.includes("--check")) {
    const stale = staleFiles();
    if (stale.length) {
      console.error(`stale generated files (run npx vite-node deploy/src/gen.ts): ${stale.join(", ")}`);
      return 1;
    }
    console.log("generated observability files are up to date");
    return 0;
  }
  for (const [p, c] of Object.entries(generatedFiles())) {
    mkdirSync(dirname(join(repoRoot, p)), { recursive: true });
    writeFileSync(join(repoRoot, p), c);
    console.log(`wrote ${p}`);
  }
  return 0;
}
