/**
 * A strict JSON Schema for raw Grafana dashboard JSON, generated from the TypeScript types of
 * @grafana/grafana-foundation-sdk (ts-json-schema-generator, additionalProperties: false): no Grafana
 * server is available offline. Panel targets are checked against the SDK's Prometheus `Dataquery`
 * (the generic `Dataquery` is an empty interface). Panel `options` and custom field config are open in
 * the SDK's dashboard type; the typed panel builders check those at compile time. About 2 s.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createGenerator } from "ts-json-schema-generator";

export function grafanaDashboardSchema(): Record<string, unknown> {
  const require = createRequire(import.meta.url);
  const sdk = dirname(require.resolve("@grafana/grafana-foundation-sdk/dashboard"));
  const dist = dirname(sdk);
  const dir = mkdtempSync(join(tmpdir(), "dfly-grafana-schema-"));
  try {
    writeFileSync(
      join(dir, "entry.ts"),
      [
        `import type { Dashboard } from ${JSON.stringify(join(dist, "dashboard/types.gen"))};`,
        `import type { Dataquery as PromQuery } from ${JSON.stringify(join(dist, "prometheus/types.gen"))};`,
        "export type GrafanaDashboard = Dashboard;",
        // An interface of its own: a type alias would share the name "Dataquery" with the generic one.
        "export interface PrometheusDataquery extends PromQuery {}",
        "",
      ].join("\n"),
    );
    // No @types, no type check: a small program (the generator reads types only).
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({ compilerOptions: { types: [], skipLibCheck: true, lib: ["es2022"], module: "commonjs", moduleResolution: "node" } }),
    );
    const schema = createGenerator({
      path: join(dir, "entry.ts"),
      tsconfig: join(dir, "tsconfig.json"),
      type: "*",
      skipTypeCheck: true,
      additionalProperties: false,
      expose: "all",
    }).createSchema("*") as { definitions: Record<string, unknown> };
    if (!schema.definitions.PrometheusDataquery || !schema.definitions.Dataquery) {
      throw new Error("grafana-foundation-sdk types changed: no Dataquery/PrometheusDataquery definitions");
    }
    schema.definitions.Dataquery = { $ref: "#/definitions/PrometheusDataquery" };
    return { ...schema, $ref: "#/definitions/GrafanaDashboard" };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
