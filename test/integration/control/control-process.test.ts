// The control as a real process over a real nats-server: SIGKILL loses no route (JetStream KV),
// SIGTERM drains and exits 0, /metrics is scraped over HTTP.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { ControlClient } from "@dfly/control";
import { NatsTransport } from "@dfly/transport";
import { bundleWorker } from "../../support/bundle-worker.js";
import { freePort, startNatsProcess, type NatsProcess } from "../../support/nats-process.js";
import { startFakeCpu, type FakeCpu } from "../../support/fake-netisr.js";

describe("dfly control as a process", () => {
  let nats: NatsProcess;
  let file: string;
  let grpcPort: number;
  let metricsPort: number;
  let proc: ChildProcess | undefined;
  let log = "";
  const cpus: FakeCpu[] = [];
  const ts: NatsTransport[] = [];

  const spawnControl = async () => {
    const p = spawn(process.execPath, [file], {
      env: {
        ...process.env,
        DFLY_NATS_URL: nats.url,
        DFLY_GRPC_HOST: "127.0.0.1",
        DFLY_GRPC_PORT: String(grpcPort),
        DFLY_METRICS_PORT: String(metricsPort),
        DFLY_HEARTBEAT_MS: "200",
        DFLY_CPU_TIMEOUT_MS: "3000",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    proc = p;
    await new Promise<void>((res, rej) => {
      p.stderr!.on("data", (d: Buffer) => {
        log += d.toString();
        if (log.includes("dfly control: gRPC")) res();
      });
      p.once("exit", (code) => rej(new Error(`control exited ${code}:\n${log}`)));
    });
    return p;
  };

  beforeAll(async () => {
    nats = await startNatsProcess();
    file = await bundleWorker(fileURLToPath(new URL("./fixtures/control-proc.ts", import.meta.url)));
    grpcPort = await freePort();
    metricsPort = await freePort();
    await spawnControl();
  });
  afterAll(async () => {
    for (const c of cpus) await c.stop().catch(() => undefined);
    for (const t of ts) await t.close();
    if (proc && proc.exitCode === null) proc.kill("SIGKILL");
    await nats?.stop();
  });

  it("SIGKILL and restart: every route is back, CPUs still get changes; SIGTERM drains", async () => {
    const addr = `127.0.0.1:${grpcPort}`;
    for (const cpu of [0, 1]) {
      const t = await NatsTransport.connect({ url: nats.url });
      ts.push(t);
      cpus.push(await startFakeCpu({ cpu, transport: t, controlAddr: addr }));
    }
    const client = new ControlClient(addr);
    for (let i = 0; i < 20; i++) {
      const r = await client.addRoute({ prefix: `10.${i}.0.0/16`, gateway: "192.0.2.1", metric: i });
      expect(r.appliedCpus.sort()).toEqual([0, 1]);
    }
    await client.deleteRoute("10.7.0.0/16");
    const before = await client.listRoutes();
    expect(before.routes).toHaveLength(19);

    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/^dfly_control_routes 19$/m);
    expect(metrics).toMatch(/^dfly_control_cpus 2$/m);

    const killed = proc!;
    const exited = new Promise((res) => killed.once("exit", (_c, sig) => res(sig)));
    killed.kill("SIGKILL");
    expect(await exited).toBe("SIGKILL");
    await spawnControl();

    const after = await client.listRoutes();
    expect(after.routes).toEqual(before.routes);
    expect(after.digest).toBe(before.digest);
    const r = await client.addRoute({ prefix: "100.64.0.0/10", gateway: "192.0.2.1" });
    expect(r.appliedCpus.sort()).toEqual([0, 1]);
    const v = await client.verifyRoutes();
    expect(v.consistent).toBe(true);
    expect(v.cpus).toHaveLength(2);
    client.close();

    const p = proc!;
    const code = new Promise((res) => p.once("exit", (c) => res(c)));
    p.kill("SIGTERM");
    expect(await code).toBe(0);
    expect(log).toMatch(/SIGTERM, draining[\s\S]*dfly control: stopped/);
  });
});
