/**
 * The project image (deploy/Dockerfile) runs a service the way the chart does: `dfly control` as uid
 * 1000 with a read-only root filesystem, configured by the contract's env vars, against NATS.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { ControlClient } from "@dfly/control";
import { freePort } from "../../support/docker.js";
import { ensureProjectImage } from "../../support/image.js";
import { startNats, type NatsContainer } from "../../support/nats.js";
import { startService, type ServiceContainer } from "../../support/stack.js";

const run = promisify(execFile);

describe("the dfly-netstack image", () => {
  let image: string;
  let nats: NatsContainer;
  let control: ServiceContainer;
  let grpcPort: number;

  beforeAll(async () => {
    image = await ensureProjectImage();
    nats = await startNats({ jetstream: true });
    grpcPort = await freePort();
    control = await startService({
      image,
      kind: "control",
      env: { DFLY_NATS_URL: nats.url, DFLY_CLUSTER: "imgtest", DFLY_GRPC_HOST: "127.0.0.1", DFLY_GRPC_PORT: String(grpcPort) },
    });
  }, 20 * 60_000);
  afterAll(async () => {
    await control?.stop();
    await nats?.stop();
  });

  it("is small, runs as uid 1000 with a read-only root filesystem, and has only production dependencies", async () => {
    const { stdout } = await run("docker", ["image", "inspect", "--format", "{{.Size}} {{.Config.User}} {{json .Config.Entrypoint}}", image]);
    const [size, user, entrypoint] = stdout.trim().split(" ");
    expect(Number(size)).toBeLessThan(250e6);
    expect(user).toBe("1000:1000");
    expect(JSON.parse(entrypoint!)).toEqual(["dfly"]);
    const id = control.container.getId();
    const ro = await run("docker", ["inspect", "--format", "{{.HostConfig.ReadonlyRootfs}}", id]);
    expect(ro.stdout.trim()).toBe("true");
    const who = await control.container.exec(["id", "-u"]);
    expect(who.output.trim()).toBe("1000");
    const write = await control.container.exec(["sh", "-c", "touch /app/x"]);
    expect(write.exitCode).not.toBe(0);
    const dev = await control.container.exec(["sh", "-c", "ls /app/node_modules/typescript /app/node_modules/vitest 2>&1; ls /app/services/control/src 2>&1"]);
    expect(dev.output).toMatch(/No such file/);
    expect(dev.output).not.toMatch(/tsc|package\.json/);
  });

  it("serves control's metrics and gRPC API over the contract's env vars", async () => {
    const metrics = await (await fetch(`${control.metricsUrl}/metrics`)).text();
    expect(metrics).toMatch(/^dfly_control_cpus \d+/m);
    expect((await fetch(`${control.metricsUrl}/readyz`)).status).toBe(200);
    const c = new ControlClient(`127.0.0.1:${grpcPort}`, 5_000);
    try {
      await c.addRoute({ prefix: "10.20.0.0/16", gateway: "198.18.0.2" });
      const list = await c.listRoutes();
      expect(JSON.stringify(list)).toContain("10.20.0.0/16");
    } finally {
      c.close();
    }
    expect(control.logs()).toContain("cluster imgtest");
  });
});
