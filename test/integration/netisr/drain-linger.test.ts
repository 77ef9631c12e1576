/**
 * `dfly netisr` as a process (main.ts, bundled, configuration from the environment) leaving the
 * way a StatefulSet pod does: SIGTERM → hand its TCP connections over → deregister → linger →
 * exit. During the linger (DFLY_DRAIN_LINGER_MS) the process still serves /metrics with the
 * drain's final values — the series only the leaving CPU has (its drain duration, its `out`
 * hand-overs) — and /healthz, while /readyz fails; then it exits 0. A second SIGTERM during the
 * linger makes it exit at once. Around it, in this test process: a real nats-server, the gRPC
 * control, the NIC, the CPU that stays (CPU 0) and a peer/app TCP workload whose connections
 * land on both CPUs.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { startControl } from "@dfly/control";
import { nicInterfaceSpec, startNic } from "@dfly/nic";
import { startNetisr, type NetisrHandle } from "@dfly/netisr/internal";
import { createTransport, type Transport } from "@dfly/transport";
import { bundleWorker } from "../../support/bundle-worker.js";
import { freePort, startNatsProcess, type NatsProcess } from "../../support/nats-process.js";
import { StreamWorkload, until } from "../../support/tcp-streams.js";

const CLUSTER = "linger";
const LEAVING = 1;

/** The value of the sample `name{labels…}` (labels in any order) in an exposition text; undefined if absent. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const m of text.matchAll(new RegExp(`^${name}\\{([^}]*)\\} ([0-9.e+-]+)$`, "gm"))) {
    if (Object.entries(labels).every(([k, v]) => m[1]!.split(",").includes(`${k}="${v}"`))) return Number(m[2]);
  }
  return undefined;
}

interface NetisrProc {
  readonly proc: ChildProcess;
  readonly metricsUrl: string;
  log(): string;
  /** Resolves with the exit code (null: killed by a signal) and the time of the exit. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  /** Resolves when the log has a line matching `re` (with the time it was seen). */
  waitLog(re: RegExp, timeoutMs?: number): Promise<{ match: RegExpExecArray; at: number }>;
}

describe("dfly netisr lingers after its drain so that its last values are scraped", () => {
  let nats: NatsProcess;
  let file: string;
  const transports: Transport[] = [];
  const cleanups: (() => Promise<unknown>)[] = [];
  const procs: ChildProcess[] = [];
  let controlAddr = "";
  let h0: NetisrHandle;
  let streams: StreamWorkload;

  const newTransport = async (name: string) => {
    const t = await createTransport({ natsUrl: nats.url, name });
    transports.push(t);
    return t;
  };

  async function spawnNetisr(cpu: number, lingerMs: number): Promise<NetisrProc> {
    const metricsPort = await freePort();
    let log = "";
    const p = spawn(process.execPath, [file], {
      env: {
        ...process.env,
        DFLY_NATS_URL: nats.url,
        DFLY_CLUSTER: CLUSTER,
        DFLY_CONTROL_ADDR: controlAddr,
        DFLY_CPU: String(cpu),
        DFLY_METRICS_HOST: "127.0.0.1",
        DFLY_METRICS_PORT: String(metricsPort),
        DFLY_DRAIN_LINGER_MS: String(lingerMs),
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    procs.push(p);
    const onData = (d: Buffer) => void (log += d.toString());
    p.stdout!.on("data", onData);
    p.stderr!.on("data", onData);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((res) =>
      p.once("exit", (code, signal) => res({ code, signal, at: performance.now() })),
    );
    const np: NetisrProc = {
      proc: p,
      metricsUrl: `http://127.0.0.1:${metricsPort}`,
      log: () => log,
      exited,
      // Checked on every chunk of output (stderr's listener runs after the one that appends it).
      waitLog: (re, timeoutMs = 15_000) =>
        new Promise((res, rej) => {
          const check = () => {
            const m = re.exec(log);
            if (!m) return;
            end();
            res({ match: m, at: performance.now() });
          };
          const fail = (why: string) => {
            end();
            rej(new Error(`netisr ${cpu}: no log line ${re}: ${why}; output:\n${log}`));
          };
          const timer = setTimeout(() => fail(`not within ${timeoutMs} ms`), timeoutMs);
          const onExit = () => setImmediate(() => (re.exec(log) ? check() : fail("the process exited")));
          const end = () => {
            clearTimeout(timer);
            p.stdout!.off("data", check);
            p.stderr!.off("data", check);
            p.off("exit", onExit);
          };
          p.stdout!.on("data", check);
          p.stderr!.on("data", check);
          p.once("exit", onExit);
          check();
        }),
    };
    await np.waitLog(new RegExp(`dfly netisr ${cpu}: registered`), 20_000);
    return np;
  }

  const get = async (url: string) => {
    const r = await fetch(url);
    return { status: r.status, text: await r.text() };
  };

  beforeAll(async () => {
    nats = await startNatsProcess();
    file = await bundleWorker(fileURLToPath(new URL("./fixtures/netisr-proc.ts", import.meta.url)));
    const t = await newTransport("test");
    const control = await startControl({
      transport: t,
      cluster: CLUSTER,
      grpcHost: "127.0.0.1",
      grpcPort: 0,
      heartbeatMs: 300,
      interfaces: [nicInterfaceSpec({ ifname: "ix0", model: "82599", mode: "interrupt" })],
    });
    cleanups.push(() => control.stop(500));
    controlAddr = control.grpcAddr;
    await control.parts.routes.add({ prefix: "198.18.0.0/24", ifname: "ix0" });
    const nic = await startNic({
      transport: await newTransport("nic"),
      cluster: CLUSTER,
      specs: [nicInterfaceSpec({ ifname: "ix0", model: "82599", mode: "interrupt" })],
      controlAddr,
    });
    cleanups.push(() => nic.stop());
    h0 = await startNetisr({ transport: await newTransport("netisr-0"), cluster: CLUSTER, cpu: 0, controlAddr, lingerMs: 0 });
    cleanups.push(() => h0.stop());
    await h0.whenReady();
  }, 60_000);

  afterAll(async () => {
    await streams?.stop();
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
    for (const f of cleanups.reverse()) await f().catch(() => undefined);
    for (const t of transports.reverse()) await t.close().catch(() => undefined);
    await nats?.stop();
  });

  it("during the linger /metrics has the drain's duration and hand-overs, /healthz answers, /readyz fails; then it exits 0", { timeout: 60_000 }, async () => {
    const LINGER_MS = 2000;
    const cpu1 = await spawnNetisr(LEAVING, LINGER_MS);
    await until(() => h0.service.netisr.liveCpus.includes(LEAVING), `CPU 0 sees CPU ${LEAVING}`, 10_000);
    streams = await StreamWorkload.start({ transport: transports[0]!, cluster: CLUSTER, controlAddr });
    const established = async () => sample((await get(`${cpu1.metricsUrl}/metrics`)).text, "dfly_tcp_connections", { cpu: String(LEAVING), state: "ESTABLISHED" }) ?? 0;
    streams.openIn(4);
    await streams.progress(1000);
    for (let round = 0; (await established()) === 0; round++) {
      if (round === 5) throw new Error(`no connection landed on CPU ${LEAVING}: ${streams.describe()}`);
      streams.openIn(2);
      await streams.progress(1000);
    }
    const before = (await get(`${cpu1.metricsUrl}/metrics`)).text;
    expect(sample(before, "dfly_tcp_handover_last_seconds", { cpu: String(LEAVING) })).toBe(0);
    expect(sample(before, "dfly_tcp_handover_total", { cpu: String(LEAVING), dir: "out", result: "ok" })).toBe(0);
    expect((await get(`${cpu1.metricsUrl}/readyz`)).status).toBe(200);

    cpu1.proc.kill("SIGTERM");
    const drained = await cpu1.waitLog(/drained: (\d+) connections handed over .*, (\d+) failed, \d+ rounds, (\d+) ms/);
    const lingering = await cpu1.waitLog(/deregistered, lingering (\d+) ms for a last scrape/);
    expect(Number(lingering.match[1])).toBe(LINGER_MS);
    const [handedOver, failed, ms] = [1, 2, 3].map((i) => Number(drained.match[i]));
    expect(handedOver).toBeGreaterThan(0);
    expect(failed).toBe(0);
    expect(ms).toBeGreaterThan(0);

    // The linger: what a scrape now finds is the drain's outcome.
    const during = await get(`${cpu1.metricsUrl}/metrics`);
    expect(during.status).toBe(200);
    expect(sample(during.text, "dfly_tcp_handover_last_seconds", { cpu: String(LEAVING) })).toBeCloseTo(ms / 1000, 6);
    expect(sample(during.text, "dfly_tcp_handover_total", { cpu: String(LEAVING), dir: "out", result: "ok" })).toBe(handedOver);
    expect(sample(during.text, "dfly_tcp_handover_total", { cpu: String(LEAVING), dir: "out", result: "failed" })).toBe(0);
    expect((await get(`${cpu1.metricsUrl}/healthz`)).status).toBe(200);
    expect((await get(`${cpu1.metricsUrl}/readyz`)).status).toBe(503);
    expect(cpu1.proc.exitCode).toBeNull();
    // Already deregistered: CPU 0 runs the epoch without it and installed what was handed over.
    expect(h0.service.netisr.liveCpus).toEqual([0]);
    expect(h0.tcp!.rescale.stats.handoverIn).toBe(handedOver);

    // Then it stops by itself, not before the linger is over.
    const exit = await cpu1.exited;
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exit.at - lingering.at).toBeGreaterThanOrEqual(LINGER_MS - 250);
    expect(cpu1.log()).toMatch(/dfly netisr 1: stopped/);
    await expect(fetch(`${cpu1.metricsUrl}/metrics`)).rejects.toThrow();
    // The connections live on on CPU 0.
    await streams.progress(1000);
    expect(streams.errors).toEqual([]);
  });

  it("a second SIGTERM during the linger exits at once", { timeout: 60_000 }, async () => {
    const LINGER_MS = 60_000;
    const cpu2 = await spawnNetisr(2, LINGER_MS);
    cpu2.proc.kill("SIGTERM");
    await cpu2.waitLog(/deregistered, lingering 60000 ms/);
    expect((await get(`${cpu2.metricsUrl}/metrics`)).status).toBe(200);
    const t0 = performance.now();
    cpu2.proc.kill("SIGTERM");
    const exit = await cpu2.exited;
    expect(exit).toMatchObject({ code: 0, signal: null });
    // Far sooner than the linger would have ended (the stop itself takes well under a second).
    expect(exit.at - t0).toBeLessThan(LINGER_MS / 4);
    expect(cpu2.log()).toMatch(/SIGTERM again, exiting without lingering[\s\S]*dfly netisr 2: stopped/);
  });
});
