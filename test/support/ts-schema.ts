/**
 * Strict JSON Schemas (additionalProperties: false) made from TypeScript declarations in node_modules,
 * with ts-json-schema-generator: how this project validates documents whose only offline description is
 * a package's types (Grafana dashboards, Prometheus Operator CRDs). Each requested type is re-declared
 * as an interface of its own name in a throw-away entry file, so equal names in different packages
 * (two `Dataquery`s) stay apart. No type check, no @types: about 1.5–2 s per call.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createGenerator } from "ts-json-schema-generator";

export interface TypeRef {
  /** Name of the definition in the schema. */
  readonly as: string;
  /** Absolute path of the declaration file, without .d.ts (or a .js path for NodeNext packages). */
  readonly from: string;
  /** Exported interface or type name in that file. */
  readonly type: string;
}

export interface StrictSchema {
  readonly definitions: Record<string, unknown>;
}

export function strictSchemaFromTypes(types: readonly TypeRef[], moduleKind: "commonjs" | "nodenext" = "commonjs"): StrictSchema {
  const dir = mkdtempSync(join(tmpdir(), "dfly-ts-schema-"));
  try {
    const lines = types.flatMap((t, i) => [
      `import type { ${t.type} as T${i} } from ${JSON.stringify(t.from)};`,
      `export interface ${t.as} extends T${i} {}`,
    ]);
    writeFileSync(join(dir, "entry.ts"), `${lines.join("\n")}\n`);
    const moduleResolution = moduleKind === "commonjs" ? "node" : "nodenext";
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({ compilerOptions: { types: [], skipLibCheck: true, lib: ["es2022"], module: moduleKind, moduleResolution } }),
    );
    const schema = createGenerator({
      path: join(dir, "entry.ts"),
      tsconfig: join(dir, "tsconfig.json"),
      type: "*",
      skipTypeCheck: true,
      additionalProperties: false,
      expose: "all",
    }).createSchema("*") as StrictSchema;
    for (const t of types) if (!schema.definitions[t.as]) throw new Error(`no schema made for ${t.type} from ${t.from}`);
    return schema;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
