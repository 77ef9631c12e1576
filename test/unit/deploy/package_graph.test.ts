/**
 * The package graph, explicit: who may import whom (package.json dependencies), the same edges in
 * the TypeScript project references, every `@dfly/*` import of a package's sources declared in its
 * package.json, and netisr and nic using `@dfly/control` only for its agent and client. Every
 * workspace is listed wherever the packages are listed (workspaces, references, test aliases,
 * the worker bundler, the image).
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = new URL("../../../", import.meta.url).pathname;
const read = (p: string) => readFileSync(join(root, p), "utf8");

/**
 * The graph: transport moves bytes; wire holds the types control, nic and netisr share; service
 * is env parsing, the run loop and /metrics serving (below transport: createTransport reads its
 * DFLY_NATS_URL / DFLY_KV_REPLICAS defaults with it).
 */
const GRAPH: Record<string, string[]> = {
  core: [],
  service: [],
  wire: ["core"],
  transport: ["core", "service"],
  control: ["core", "service", "transport", "wire"],
  nic: ["control", "core", "service", "transport", "wire"],
  netisr: ["control", "core", "service", "transport", "wire"],
  apps: ["core", "netisr", "transport"],
  cli: ["apps", "control", "core", "netisr", "nic", "transport", "wire"],
};
/** What netisr and nic take from `@dfly/control`: its agent and its client. */
const CONTROL_NAMES = new Set(["ControlAgent", "ControlClient", "DEFAULT_CONTROL_ADDR"]);

const pkgs = readdirSync(join(root, "services")).filter((p) => statSync(join(root, "services", p)).isDirectory());
const dfly = (deps: Record<string, string> | undefined) =>
  Object.keys(deps ?? {})
    .filter((d) => d.startsWith("@dfly/"))
    .map((d) => d.slice(6))
    .sort();

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return f === "gen" ? [] : sources(p);
    return p.endsWith(".ts") ? [p] : [];
  });
}
const importRe = /(?:import|export)\s+(?:type\s+)?\{([^}]*)\}\s+from\s+"@dfly\/([a-z]+)(\/[a-z]+)?"|(?:import|export)\s[^;]*?from\s+"@dfly\/([a-z]+)(\/[a-z]+)?"/g;

describe("package graph", () => {
  it("package.json dependencies are the graph", () => {
    expect(pkgs.sort()).toEqual(Object.keys(GRAPH).sort());
    for (const p of pkgs) expect(dfly(JSON.parse(read(`services/${p}/package.json`)).dependencies), p).toEqual(GRAPH[p]);
  });

  it("netisr and nic reach gRPC only through the control's client (no grpc-js or protobuf of their own)", () => {
    for (const p of ["netisr", "nic"]) {
      const deps = Object.keys(JSON.parse(read(`services/${p}/package.json`)).dependencies ?? {});
      expect(deps.filter((d) => d.startsWith("@grpc/") || d.startsWith("@bufbuild/")), p).toEqual([]);
    }
  });

  it("project references are the same edges", () => {
    for (const p of pkgs) {
      const refs = (JSON.parse(read(`services/${p}/tsconfig.json`)).references ?? []) as { path: string }[];
      expect(refs.map((r) => r.path.replace("../", "")).sort(), p).toEqual(GRAPH[p]);
    }
  });

  it("sources import only declared packages; netisr and nic take only the agent and the client from control", () => {
    for (const p of pkgs) {
      for (const f of sources(join(root, "services", p, "src"))) {
        for (const m of readFileSync(f, "utf8").matchAll(importRe)) {
          const dep = m[2] ?? m[4];
          const sub = m[3] ?? m[5];
          const where = `${f.slice(root.length)}: @dfly/${dep}${sub ?? ""}`;
          expect(dep === p || GRAPH[p].includes(dep), where).toBe(true);
          expect(sub === undefined || dep === p, `${where} (internal entry points are for tests)`).toBe(true);
          if ((p === "netisr" || p === "nic") && dep === "control") {
            const names = (m[1] ?? "*").split(",").map((s) => s.trim().replace(/^type\s+/, "").split(" as ")[0]).filter(Boolean);
            for (const n of names) expect(CONTROL_NAMES.has(n), `${where} imports ${n}`).toBe(true);
          }
        }
      }
    }
  });

  it("every workspace is listed wherever the packages are", () => {
    const workspaces = (JSON.parse(read("package.json")).workspaces as string[]).map((w) => w.replace("services/", "")).sort();
    expect(workspaces).toEqual([...pkgs].sort());
    const refs = (JSON.parse(read("tsconfig.json")).references as { path: string }[]).map((r) => r.path.replace("services/", "")).sort();
    expect(refs).toEqual([...pkgs].sort());
    const vitest = read("vitest.config.ts");
    const bundler = read("test/support/bundle-worker.ts");
    const dockerfile = read("deploy/Dockerfile");
    for (const p of pkgs) {
      expect(vitest, `vitest.config.ts aliases ${p}`).toContain(`"${p}"`);
      expect(bundler, `test/support/bundle-worker.ts aliases ${p}`).toContain(`"${p}"`);
      expect(dockerfile, `Dockerfile copies services/${p}/package.json`).toContain(`COPY services/${p}/package.json services/${p}/`);
      expect(dockerfile, `Dockerfile copies services/${p}/dist`).toContain(`/src/services/${p}/dist services/${p}/dist`);
    }
  });
});
