/**
 * Offline validation of rendered Kubernetes manifests (no API server here):
 *  1. types, enums and required fields: kubernetes-models' validators (K8s OpenAPI), and
 *     @kubernetes-models/prometheus-operator for ServiceMonitor/PrometheusRule;
 *  2. unknown fields (what `kubeconform -strict` or server-side field validation reject): built-in
 *     kinds round-trip through @kubernetes/client-node@2.0.1's generated ObjectSerializer (deep import:
 *     the package index needs Node 22) and every key it drops is reported; the CRDs are checked against
 *     a strict JSON Schema made from the prometheus-operator model types.
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { Ajv, type ValidateFunction } from "ajv";
import * as clientModels from "@kubernetes/client-node/dist/gen/models/ObjectSerializer.js";
import { strictSchemaFromTypes } from "./ts-schema.js";

export interface K8sDoc {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [k: string]: unknown;
}

type ModelClass = new (data: unknown) => { validate(): void };

const modelModules: Record<string, () => Promise<Record<string, unknown>>> = {
  v1: () => import("kubernetes-models/v1"),
  "apps/v1": () => import("kubernetes-models/apps/v1"),
  "policy/v1": () => import("kubernetes-models/policy/v1"),
  "networking.k8s.io/v1": () => import("kubernetes-models/networking.k8s.io/v1"),
  "batch/v1": () => import("kubernetes-models/batch/v1"),
  "rbac.authorization.k8s.io/v1": () => import("kubernetes-models/rbac.authorization.k8s.io/v1"),
  "monitoring.coreos.com/v1": () => import("@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1"),
};

const CRDS = ["ServiceMonitor", "PrometheusRule", "PodMonitor"] as const;

let crdValidators: Map<string, ValidateFunction> | undefined;

function crdValidator(kind: string): ValidateFunction {
  if (!crdValidators) {
    const require = createRequire(import.meta.url);
    const pkg = dirname(require.resolve("@kubernetes-models/prometheus-operator/package.json"));
    const schema = strictSchemaFromTypes(
      CRDS.map((k) => ({ as: `${k}Doc`, from: join(pkg, `monitoring.coreos.com/v1/${k}.js`), type: `I${k}` })),
      "nodenext",
    );
    const ajv = new Ajv({ allErrors: true, strict: false });
    ajv.addSchema({ ...schema, $id: "crds" });
    crdValidators = new Map(CRDS.map((k) => [k, ajv.getSchema(`crds#/definitions/${k}Doc`)!]));
  }
  const v = crdValidators.get(kind);
  if (!v) throw new Error(`no strict schema for ${kind}`);
  return v;
}

/** Keys present in `a` but not in `b` (after the serializer round trip), as JSON paths. */
function droppedKeys(a: unknown, b: unknown, path: string, out: string[]): void {
  if (Array.isArray(a)) {
    a.forEach((x, i) => droppedKeys(x, Array.isArray(b) ? b[i] : undefined, `${path}[${i}]`, out));
  } else if (a !== null && typeof a === "object") {
    const bo = (b ?? {}) as Record<string, unknown>;
    for (const [k, v] of Object.entries(a as Record<string, unknown>)) {
      if (b === null || typeof b !== "object" || !(k in bo)) out.push(`${path}.${k}`);
      else droppedKeys(v, bo[k], `${path}.${k}`, out);
    }
  }
}

/** Every problem found in one manifest ([] = valid). */
export async function validateManifest(doc: K8sDoc): Promise<string[]> {
  const where = `${doc?.kind ?? "?"}/${doc?.metadata?.name ?? "?"}`;
  if (!doc || typeof doc !== "object" || !doc.apiVersion || !doc.kind) return [`${where}: not a Kubernetes object`];
  const load = modelModules[doc.apiVersion];
  if (!load) return [`${where}: no model for apiVersion ${doc.apiVersion}`];
  const Cls = (await load())[doc.kind] as ModelClass | undefined;
  if (!Cls) return [`${where}: no model for ${doc.apiVersion} ${doc.kind}`];
  const errors: string[] = [];
  try {
    new Cls(structuredClone(doc)).validate();
  } catch (e) {
    errors.push(`${where}: ${(e as Error).message}`);
  }
  if ((CRDS as readonly string[]).includes(doc.kind)) {
    const v = crdValidator(doc.kind);
    if (!v(doc)) for (const e of v.errors ?? []) errors.push(`${where}: strict: ${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`);
  } else {
    const type = `V1${doc.kind}`;
    if (!(type in clientModels)) return [...errors, `${where}: no client-node model ${type} for the unknown-field check`];
    const round = clientModels.ObjectSerializer.serialize(clientModels.ObjectSerializer.deserialize(structuredClone(doc), type, ""), type, "");
    const dropped: string[] = [];
    droppedKeys(doc, round, "", dropped);
    for (const d of dropped) errors.push(`${where}: unknown field ${d}`);
  }
  return errors;
}
