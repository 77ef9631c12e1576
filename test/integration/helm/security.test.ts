/**
 * The chart's credentials: NATS users per role on by default (the same subjects as `dfly up --secure`),
 * TLS for NATS and the control from Secrets, an external NATS with a credentials Secret. Rendered with
 * real helm, validated as Kubernetes objects, nats.conf accepted by nats-server, and no secret value in
 * any rendered env `value`.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { natsPermissions } from "@dfly/cli";
import { helm, CHART, renderChart } from "../../support/helm.js";
import { validateManifest, type K8sDoc } from "../../support/k8s-validate.js";

type Values = Record<string, unknown>;
const sets: Record<string, Values> = {
  defaults: {},
  "TLS on": { nats: { tls: { enabled: true, secretName: "dfly-nats-tls" }, cluster: { enabled: true } }, control: { tls: { enabled: true, secretName: "dfly-control-tls", mtls: true } } },
  "external NATS with credentials": { nats: { external: { url: "nats://nats.messaging.svc:4222", credentialsSecret: "nats-creds" } }, control: { auth: { tokenSecret: "my-token", openReads: true } } },
};

let dir: string;
const rendered = new Map<string, K8sDoc[]>();
const valuesFile = (name: string, v: Values) => {
  const f = join(dir, `${name.replace(/\W/g, "_")}.json`);
  writeFileSync(f, JSON.stringify(v));
  return f;
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "security-helm-"));
  for (const [name, v] of Object.entries(sets)) rendered.set(name, await renderChart({ values: [valuesFile(name, v)] }));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Env {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string } };
}
interface Container {
  name: string;
  env?: Env[];
  volumeMounts?: { name: string; mountPath: string }[];
}
function containers(d: K8sDoc): Container[] {
  const spec = d.spec as { template?: { spec: { containers: Container[] } }; containers?: Container[] } | undefined;
  return spec?.template?.spec.containers ?? spec?.containers ?? [];
}
const envOf = (c: Container) => Object.fromEntries((c.env ?? []).map((e) => [e.name, e]));
const workloads = (ds: K8sDoc[]) => ds.filter((d) => containers(d).length > 0);
const named = (ds: K8sDoc[], kind: string, suffix: string) => ds.find((d) => d.kind === kind && d.metadata.name.endsWith(suffix))!;

describe("chart credentials", () => {
  it.each(Object.keys(sets))("%s: helm lint --strict and valid Kubernetes objects", async (name) => {
    const r = await helm(["lint", "--strict", CHART, "-f", valuesFile(`lint-${name}`, sets[name]!)]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const errors = (await Promise.all(rendered.get(name)!.map(validateManifest))).flat();
    expect(errors).toEqual([]);
  });

  it.each(Object.keys(sets))("%s: no secret value in any env value; every password and token comes from a secretKeyRef or a file", (name) => {
    const ds = rendered.get(name)!;
    const secretValues = ds
      .filter((d) => d.kind === "Secret")
      .flatMap((d) => Object.values((d as unknown as { data: Record<string, string> }).data).map((b) => Buffer.from(b, "base64").toString()));
    for (const d of workloads(ds)) {
      for (const c of containers(d)) {
        for (const e of c.env ?? []) {
          if (e.value !== undefined) {
            for (const s of secretValues) expect(e.value, `${d.metadata.name} ${e.name}`).not.toContain(s);
            expect(e.name, `${d.metadata.name}: ${e.name} is a plain value`).not.toMatch(/PASSWORD$|TOKEN$/);
          }
        }
      }
    }
  });

  it("defaults: auth on; each service its own NATS user; nats.conf grants the same subjects as dfly up --secure and nats-server accepts it", () => {
    const ds = rendered.get("defaults")!;
    const roles: Record<string, string> = { "-control": "control", "-netisr": "netisr", "-nic-ix0": "nic" };
    for (const [suffix, role] of Object.entries(roles)) {
      const d = workloads(ds).find((x) => x.metadata.name.endsWith(suffix))!;
      const env = envOf(containers(d)[0]!);
      expect(env.DFLY_NATS_USER?.value, suffix).toBe(role);
      expect(env.DFLY_NATS_PASSWORD?.valueFrom?.secretKeyRef).toEqual({ name: "dfly-nats-auth", key: role });
      expect(env.DFLY_CONTROL_TOKEN_FILE?.value).toBe("/etc/dfly/control-token/token");
    }
    const nats = containers(named(ds, "StatefulSet", "-nats"))[0]!;
    expect(envOf(nats).NATS_PASSWORD_NETISR?.valueFrom?.secretKeyRef).toEqual({ name: "dfly-nats-auth", key: "netisr" });
    const conf = (named(ds, "ConfigMap", "-nats-config").data as { "nats.conf": string })["nats.conf"];
    const perms = natsPermissions("dfly");
    for (const [role, p] of Object.entries(perms)) {
      const line = conf.split("\n").find((l) => l.includes(`user: "${role}"`))!;
      expect(line).toContain(`publish: { allow: [${p.publish.map((s) => JSON.stringify(s)).join(", ")}] }`);
      expect(line).toContain(`subscribe: { allow: [${p.subscribe.map((s) => JSON.stringify(s)).join(", ")}] }`);
    }
    expect(natsTest(conf)).toBe("");
    expect(ds.filter((d) => d.kind === "Secret").map((d) => d.metadata.name).sort()).toEqual(["dfly-control-token", "dfly-nats-auth"]);
  });

  it("TLS on: nats.conf has client and cluster-route TLS from the Secret; the control serves TLS with mTLS; clients trust ca.crt", () => {
    const ds = rendered.get("TLS on")!;
    const conf = (named(ds, "ConfigMap", "-nats-config").data as { "nats.conf": string })["nats.conf"];
    expect(conf.match(/cert_file: \/etc\/nats-tls\/tls\.crt/g)).toHaveLength(2);
    const ctl = envOf(containers(named(ds, "Deployment", "-control"))[0]!);
    expect([ctl.DFLY_CONTROL_TLS_CERT?.value, ctl.DFLY_CONTROL_TLS_CLIENT_CA?.value, ctl.DFLY_NATS_CA?.value]).toEqual([
      "/etc/dfly/control-tls/tls.crt",
      "/etc/dfly/control-tls/ca.crt",
      "/etc/dfly/nats-tls/ca.crt",
    ]);
    const cpu = named(ds, "StatefulSet", "-netisr");
    expect(envOf(containers(cpu)[0]!).DFLY_CONTROL_TLS_CA?.value).toBe("/etc/dfly/control-tls/ca.crt");
    const vols = (cpu.spec as { template: { spec: { volumes: { name: string; secret?: { secretName: string } }[] } } }).template.spec.volumes;
    expect(vols.filter((v) => v.secret).map((v) => `${v.name}=${v.secret!.secretName}`).sort()).toEqual([
      "control-tls=dfly-control-tls",
      "control-token=dfly-control-token",
      "nats-tls=dfly-nats-tls",
    ]);
  });

  it("external NATS: user and password from the credentials Secret, no NATS or auth Secret rendered; the given token Secret is used", () => {
    const ds = rendered.get("external NATS with credentials")!;
    expect(ds.filter((d) => d.metadata.name.includes("-nats"))).toEqual([]);
    expect(ds.filter((d) => d.kind === "Secret")).toEqual([]);
    const env = envOf(containers(named(ds, "StatefulSet", "-netisr"))[0]!);
    expect(env.DFLY_NATS_USER?.valueFrom?.secretKeyRef).toEqual({ name: "nats-creds", key: "user" });
    expect(env.DFLY_NATS_PASSWORD?.valueFrom?.secretKeyRef).toEqual({ name: "nats-creds", key: "password" });
    expect(env.DFLY_CONTROL_OPEN_READS?.value).toBe("1");
    const vols = (named(ds, "Deployment", "-control").spec as { template: { spec: { volumes: { name: string; secret?: { secretName: string } }[] } } }).template.spec.volumes;
    expect(vols.find((v) => v.name === "control-token")?.secret?.secretName).toBe("my-token");
  });

  it("TLS on without a Secret name fails the render naming the value", async () => {
    const r = await helm(["template", "dfly", CHART, "--set", "control.tls.enabled=true"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/control\.tls\.secretName/);
  });
});

function natsTest(conf: string): string {
  const f = join(dir, "nats.conf");
  writeFileSync(f, conf);
  const env = { ...process.env, SERVER_NAME: "n0", NATS_PASSWORD_CONTROL: "a", NATS_PASSWORD_NETISR: "b", NATS_PASSWORD_NIC: "c", NATS_PASSWORD_LOAD: "d" };
  const r = spawnSync("nats-server", ["-c", f, "-t"], { encoding: "utf8", env });
  return r.status === 0 && /is valid/.test(r.stdout + r.stderr) ? "" : `${r.stdout}${r.stderr}`;
}
