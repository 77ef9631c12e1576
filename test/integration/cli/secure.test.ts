/**
 * `dfly up --secure` over a real nats-server with the generated per-role users: the user's commands
 * work with no extra flag; NATS without credentials is refused; a netisr's credentials cannot publish
 * a route change (the control's subject) nor on a NIC's wire subject (the server refuses and logs it),
 * and the forged route changes no CPU's table; with the credentials removed a command says so in one line.
 */
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NatsTransport, subjects } from "@dfly/transport";
import { encodeNetmsg } from "@dfly/wire";
import { runCli as run } from "../../support/cli.js";

const saved: Record<string, string | undefined> = {};
function setEnv(k: string, v: string | undefined): void {
  if (!(k in saved)) saved[k] = process.env[k];
  if (v === undefined) delete process.env[k];
  else process.env[k] = v;
}

describe("dfly up --secure", () => {
  const dir = mkdtempSync(join(tmpdir(), "security-up-"));
  const stateDir = join(dir, "stack");
  beforeAll(() => {
    setEnv("DFLY_CONTEXT", join(dir, "context.json"));
    for (const k of ["DFLY_CONTROL_ADDR", "DFLY_STATE_DIR", "DFLY_CONTROL_TOKEN", "DFLY_CONTROL_TLS_CA", "DFLY_NATS_USER"]) setEnv(k, undefined);
    setEnv("DFLY_DRAIN_LINGER_MS", "0");
  });
  afterAll(async () => {
    await run("down", "--state-dir", stateDir);
    for (const [k, v] of Object.entries(saved)) setEnv(k, v);
    rmSync(dir, { recursive: true, force: true });
  });

  it("commands need no flag; NATS refuses anonymous clients and a netisr's forged route or wire frames; removed credentials give one line", { timeout: 120_000 }, async () => {
    const up = await run("up", "--cpus", "2", "--state-dir", stateDir, "--secure");
    expect(up.code, up.err).toBe(0);
    const st = JSON.parse(readFileSync(join(stateDir, "state.json"), "utf8")) as { natsUrl: string; secureDir: string };
    let r = await run("route", "add", "10.0.0.0/8", "198.18.0.2");
    expect(r.code, r.err).toBe(0);
    // The streamed calls carry the token too: a bulk load (client stream) and `route show` (server stream).
    const routeFile = join(dir, "routes.txt");
    writeFileSync(routeFile, "10.5.0.0/16 198.18.0.2\n10.6.0.0/16 198.18.0.2\n");
    r = await run("route", "load", routeFile);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^stored, applied on CPUs 0,1$/m);
    expect((await run("route", "show", "--prefix", "10.5.0.0/16")).out).toMatch(/^10\.5\.0\.0\/16\s+198\.18\.0\.2\s/m);
    r = await run("netstat", "-s");
    expect(r.code, r.err).toBe(0);
    r = await run("route", "verify");
    expect(r.out).toMatch(/all 2 CPUs agree/);
    const digestOf = async () => /digest ([0-9a-f]+)\)/.exec((await run("route", "show")).out)?.[1];
    const digestBefore = await digestOf();
    expect(digestBefore).toMatch(/^[0-9a-f]+$/);

    // No credentials: the server refuses the connection.
    await expect(NatsTransport.connect({ url: st.natsUrl, name: "anon" })).rejects.toThrow(/authoriz/i);

    // The netisr role: a forged route on the control's subject and frames on a NIC's wire are refused by the server.
    const pw = readFileSync(join(st.secureDir, "nats-netisr.password"), "utf8");
    const forger = await NatsTransport.connect({ url: st.natsUrl, name: "forger", user: "netisr", pass: pw });
    const load = await NatsTransport.connect({ url: st.natsUrl, name: "watch", user: "load", pass: readFileSync(join(st.secureDir, "nats-load.password"), "utf8") });
    let wireSeen = 0;
    load.subscribe(subjects.wireOut("dfly", "ix0"), () => void wireSeen++);
    await load.flush();
    for (const cpu of [0, 1]) forger.publish(subjects.ctl("dfly", cpu), encodeNetmsg.routeAdd(1, { prefix: "0.0.0.0/0", gateway: "198.18.0.66" }, 1e6));
    forger.publish(subjects.wireIn("dfly", "ix0"), new Uint8Array([1, 2, 3]));
    forger.publish(subjects.wireOut("dfly", "ix0"), new Uint8Array([1, 2, 3]));
    await forger.flush().catch(() => undefined);
    await new Promise((res) => setTimeout(res, 300));
    expect(wireSeen).toBe(0);
    const natsLog = readFileSync(join(stateDir, "logs", "nats.log"), "utf8");
    expect(natsLog).toMatch(/Publish Violation.*"netisr".*dfly\.ctl\.0/);
    expect(natsLog).toMatch(/Publish Violation.*"netisr".*dfly\.wire\.ix0\.in/);
    // The load role may publish on CPU ports (a program's socket calls): a route there is refused by the CPU and counted.
    load.publish(subjects.netisr("dfly", 0), encodeNetmsg.routeAdd(2, { prefix: "0.0.0.0/0", gateway: "198.18.0.66" }, 1e6));
    await load.flush();
    await new Promise((res) => setTimeout(res, 200));
    r = await run("netstat", "-s");
    expect(r.out).toMatch(/^\t1 port_refused_notcontrol$/m);
    expect(r.out).toMatch(/^\t0 bad_port_msgs$/m);
    expect(r.out).toMatch(/^\t0 bad_batches$/m);
    await forger.close();
    await load.close();
    r = await run("route", "verify");
    expect(r.out).toMatch(/all 2 CPUs agree/);
    expect(await digestOf()).toBe(digestBefore);

    // The control's token removed: one clear line, exit 1.
    renameSync(join(st.secureDir, "control.token"), join(st.secureDir, "control.token.moved"));
    r = await run("route", "add", "10.1.0.0/16", "198.18.0.2");
    expect(r.code).toBe(1);
    expect(r.err.trimEnd().split("\n")).toHaveLength(1);
    expect(r.err).toMatch(/control\.token is gone/);
    // A token that is wrong: UNAUTHENTICATED, one line.
    r = await run("route", "add", "10.1.0.0/16", "198.18.0.2", "--token", "wrong", "--tls-ca", join(st.secureDir, "ca.crt"));
    expect(r.code).toBe(1);
    expect(r.err.trimEnd().split("\n")).toHaveLength(1);
    expect(r.err).toMatch(/UNAUTHENTICATED/);
    r = await run("route", "load", routeFile, "--token", "wrong", "--tls-ca", join(st.secureDir, "ca.crt"));
    expect(r.code).toBe(1);
    expect(r.err.trimEnd().split("\n")).toHaveLength(1);
    expect(r.err).toMatch(/UNAUTHENTICATED/);
    renameSync(join(st.secureDir, "control.token.moved"), join(st.secureDir, "control.token"));
    expect(await digestOf()).toBe(digestBefore);

    const down = await run("down");
    expect(down.code, down.err).toBe(0);
    expect(down.out).toMatch(/stopped netisr-0, netisr-1, nic, control, nats/);
  });
});
