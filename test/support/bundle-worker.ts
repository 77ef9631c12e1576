/**
 * Worker threads run plain JavaScript, not the TypeScript vitest transforms, so
 * a test that starts a worker bundles its entry with esbuild first (the @dfly/*
 * packages resolve to their sources, as in vitest). Returns the bundle's path.
 */
import { build } from "esbuild";
import { mkdirSync, mkdtempSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";

const pkgs = ["core", "service", "wire", "transport", "control", "nic", "netisr", "apps", "cli"];
const root = fileURLToPath(new URL("../..", import.meta.url));

export async function bundleWorker(entry: string): Promise<string> {
  // Inside the repository, so the bundle's bare imports resolve from its node_modules.
  const cache = join(root, "node_modules/.cache/dfly-workers");
  mkdirSync(cache, { recursive: true });
  const out = join(mkdtempSync(join(cache, "w-")), basename(entry).replace(/\.ts$/, ".mjs"));
  await build({
    entryPoints: [entry],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outfile: out,
    logLevel: "error",
    alias: Object.fromEntries(pkgs.map((p) => [`@dfly/${p}`, join(root, `services/${p}/src/index.ts`)])),
    // Packages from node_modules stay imports (resolved from the repository root).
    packages: "external",
  });
  return out;
}
