/**
 * `LOAD=pktgen,replay,http-short make up` (scripts/local-stack.sh) starts a load container per kind
 * running the image's `dfly pktgen|replay|load`: the command lines it runs (`local-stack.sh load-args
 * KIND`) are accepted by the CLI — each, pointed at a NATS and a control that are not there, fails only
 * at reaching them — and a LOAD naming anything else is refused before anything starts (exit 2).
 * (The containers themselves run in test/e2e/load-make-up.test.ts, which needs Docker and the image.)
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../../support/cli.js";
import { freePort, repoRoot } from "../../support/docker.js";

const script = join(repoRoot, "scripts/local-stack.sh");
const loadArgs = (kind: string, env: Record<string, string> = {}) =>
  spawnSync("bash", [script, "load-args", kind], { env: { ...process.env, ...env }, encoding: "utf8" });

describe("local-stack.sh load containers", () => {
  const saved = { ...process.env };
  let natsPort = 0;
  let controlPort = 0;
  beforeAll(async () => {
    natsPort = await freePort();
    controlPort = await freePort();
    Object.assign(process.env, { DFLY_NATS_URL: `nats://127.0.0.1:${natsPort}`, DFLY_CONTROL_ADDR: `127.0.0.1:${controlPort}`, DFLY_CLUSTER: "dfly", DFLY_CONTEXT: "/nonexistent/context.json" });
  });
  afterAll(() => {
    process.env = saved;
  });

  for (const kind of ["pktgen", "replay", "http-short"]) {
    it(`${kind}: the CLI accepts the command line (fails only at reaching NATS or the control)`, { timeout: 20_000 }, async () => {
      const r = loadArgs(kind, { DFLY_LOAD_RATE: "1500", DFLY_LOAD_DURATION: "20m" });
      expect(r.status, r.stderr).toBe(0);
      // The capture is in the image at /usr/share/dfly; here the same file from the fixtures.
      const argv = r.stdout.trim().split(/\s+/).map((a) => (a === "/usr/share/dfly/http_espn.pcapng" ? join(repoRoot, "test/fixtures/http_espn.pcapng") : a));
      expect(argv).toContain("20m");
      if (kind !== "http-short") expect(argv).toContain("1500");
      const c = await runCli(...argv);
      expect(c.code, c.err).toBe(1);
      expect(c.err.trimEnd().split("\n")).toHaveLength(1);
      expect(c.err).toMatch(kind === "replay" ? `cannot reach NATS at nats://127.0.0.1:${natsPort}` : `cannot reach the control 127.0.0.1:${controlPort}`);
    });
  }

  it("LOAD naming something else is refused before anything starts (exit 2)", () => {
    const r = spawnSync("bash", [script, "up"], { env: { ...process.env, LOAD: "pktgen,iperf" }, encoding: "utf8" });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('"iperf" is not pktgen, replay or http-short');
    expect(loadArgs("iperf").status).toBe(2);
  });
});
