/**
 * A strict JSON Schema for raw Grafana dashboard JSON, made from the TypeScript types of
 * @grafana/grafana-foundation-sdk (no Grafana server is available offline). Panel targets are checked
 * against the SDK's Prometheus `Dataquery` (the generic `Dataquery` is an empty interface). Panel
 * `options` and custom field config are open in the SDK's dashboard type; the typed panel builders
 * check those at compile time.
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { strictSchemaFromTypes } from "./ts-schema.js";

export function grafanaDashboardSchema(): Record<string, unknown> {
  const require = createRequire(import.meta.url);
  const dist = dirname(dirname(require.resolve("@grafana/grafana-foundation-sdk/dashboard")));
  const schema = strictSchemaFromTypes([
    { as: "GrafanaDashboard", from: join(dist, "dashboard/types.gen"), type: "Dashboard" },
    { as: "PrometheusDataquery", from: join(dist, "prometheus/types.gen"), type: "Dataquery" },
  ]);
  if (!schema.definitions.Dataquery) throw new Error("grafana-foundation-sdk types changed: no generic Dataquery definition");
  schema.definitions.Dataquery = { $ref: "#/definitions/PrometheusDataquery" };
  return { ...schema, $ref: "#/definitions/GrafanaDashboard" };
}
