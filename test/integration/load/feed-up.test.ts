/**
 * Load for a running stack: `dfly up` (its own nats-server, control, NIC, 2 netisr CPUs as
 * processes), then `dfly pktgen` and `dfly replay` find it through the context `dfly up` wrote
 * and publish on its wire over the real nats-server. Each CPU's receive counter — from
 * `dfly netstat -s --per-cpu --json` and from that CPU's /metrics — rises by exactly the packets
 * sent to it, where the reference for "sent to it" is `dfly pcap flows --cpus 2 --json` (RSS from
 * core, tested against Microsoft's vectors) over a capture of what was sent: pktgen's own --pcap
 * record, and for replay the file itself (test/fixtures/http_espn.pcapng, 25 TCP connections).
 * Bad input (a file that is not a capture, one cut short, bad flag values, no NATS) is one error
 * line and exit 1; an interrupted pktgen stops at once and says what it sent.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writePcap } from "@dfly/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli as run } from "../../support/cli.js";
import { freePort, repoRoot } from "../../support/docker.js";

const CPUS = 2;
const fixture = join(repoRoot, "test/fixtures/http_espn.pcapng");

const saved: Record<string, string | undefined> = {};
function setEnv(k: string, v: string | undefined): void {
  if (!(k in saved)) saved[k] = process.env[k];
  if (v === undefined) delete process.env[k];
  else process.env[k] = v;
}

/** Packets per CPU the reference steers a capture's flows to. */
async function referencePerCpu(file: string): Promise<number[]> {
  const r = await run("pcap", "flows", file, "--cpus", String(CPUS), "--json");
  expect(r.code, r.err).toBe(0);
  const per = new Array<number>(CPUS).fill(0);
  for (const line of r.out.trim().split("\n")) {
    const f = JSON.parse(line) as { cpus: number[]; packets: number };
    expect(f.cpus).toHaveLength(1); // every packet of a flow on one CPU
    per[f.cpus[0]!] += f.packets;
  }
  return per;
}

interface Counts {
  rx: number[];
  redispatched: number[];
}

async function netstat(): Promise<Counts> {
  const r = await run("netstat", "-s", "--per-cpu", "--json");
  expect(r.code, r.err).toBe(0);
  const s = JSON.parse(r.out) as { cpus: { cpu: number; netisr: { rx: number; redispatched: number } }[] };
  const c: Counts = { rx: new Array<number>(CPUS).fill(0), redispatched: new Array<number>(CPUS).fill(0) };
  for (const x of s.cpus) {
    c.rx[x.cpu] = x.netisr.rx;
    c.redispatched[x.cpu] = x.netisr.redispatched;
  }
  return c;
}

/** Σ dfly_netisr_rx_packets_total of each CPU from its own /metrics (addresses from dfly up's state). */
async function metricsRx(stateDir: string): Promise<number[]> {
  const st = JSON.parse(readFileSync(join(stateDir, "state.json"), "utf8")) as { processes: { name: string; metrics?: string }[] };
  const out = new Array<number>(CPUS).fill(0);
  for (const p of st.processes.filter((x) => x.name.startsWith("netisr-"))) {
    const text = await (await fetch(`http://${p.metrics}/metrics`)).text();
    for (const m of text.matchAll(/^dfly_netisr_rx_packets_total\{([^}]*)\} (\d+)$/gm)) out[Number(/cpu="(\d+)"/.exec(m[1]!)![1])] += Number(m[2]);
  }
  return out;
}

/** netstat until the total has risen by `expected` (or 15 s). */
async function settled(before: Counts, expected: number): Promise<Counts> {
  const end = Date.now() + 15_000;
  for (;;) {
    const c = await netstat();
    const d = c.rx.reduce((a, b) => a + b, 0) - before.rx.reduce((a, b) => a + b, 0);
    if (d >= expected || Date.now() > end) return c;
    await new Promise((r) => setTimeout(r, 100));
  }
}

const minus = (a: number[], b: number[]) => a.map((x, i) => x - b[i]!);

describe("dfly pktgen and dfly replay feed a stack started with dfly up", () => {
  const dir = mkdtempSync(join(tmpdir(), "dfly-feed-"));
  const stateDir = join(dir, "stack");
  beforeAll(async () => {
    setEnv("DFLY_CONTEXT", join(dir, "context.json"));
    for (const k of ["DFLY_CONTROL_ADDR", "DFLY_NATS_URL", "DFLY_CLUSTER", "DFLY_STATE_DIR"]) setEnv(k, undefined);
    setEnv("DFLY_DRAIN_LINGER_MS", "0");
    const up = await run("up", "--cpus", String(CPUS), "--state-dir", stateDir);
    if (up.code !== 0) throw new Error(`dfly up: ${up.err}`);
  }, 90_000);
  afterAll(async () => {
    await run("down", "--state-dir", stateDir);
    for (const [k, v] of Object.entries(saved)) setEnv(k, v);
    rmSync(dir, { recursive: true, force: true });
  });

  it("pktgen --count: each CPU's rx (netstat and /metrics) rises by exactly the packets of its flows", { timeout: 60_000 }, async () => {
    const before = await netstat();
    const mBefore = await metricsRx(stateDir);
    const pcap = join(dir, "pktgen.pcap");
    const r = await run("pktgen", "--count", "3000", "--rate", "6000", "--flows", "96", "--size", "64,300,1400", "--json", "--pcap", pcap);
    expect(r.code, r.err).toBe(0);
    const done = JSON.parse(r.out.trim().split("\n").at(-1)!) as { event: string; sent: number; perSize: Record<string, number> };
    expect(done).toMatchObject({ event: "done", sent: 3000, perSize: { "64": 1000, "300": 1000, "1400": 1000 } });
    const ref = await referencePerCpu(pcap);
    expect(ref.reduce((a, b) => a + b, 0)).toBe(3000);
    expect(ref.every((n) => n > 0)).toBe(true);
    const after = await settled(before, 3000);
    expect(minus(after.rx, before.rx)).toEqual(ref);
    expect(minus(after.redispatched, before.redispatched)).toEqual([0, 0]);
    expect(minus(await metricsRx(stateDir), mBefore)).toEqual(ref);
  });

  it("pktgen --routes adds the forwarding routes; every packet is then forwarded", { timeout: 60_000 }, async () => {
    const ip = async () => {
      const r = await run("netstat", "-s", "--json");
      return (JSON.parse(r.out) as { total: { ip: Record<string, number> } }).total.ip;
    };
    const before = await ip();
    const r = await run("pktgen", "--routes", "--count", "1000", "--rate", "5000", "--dst", "10.1.0.0/16");
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/routes added: .*10\.1\.0\.0\/16 via 198\.18\.1\.2/);
    const routes = await run("route", "show");
    expect(routes.out).toMatch(/^10\.1\.0\.0\/16\s+198\.18\.1\.2\s+ix1\s/m);
    let after = await ip();
    for (const end = Date.now() + 15_000; after.forward! - before.forward! < 1000 && Date.now() < end; after = await ip()) await new Promise((res) => setTimeout(res, 100));
    expect(after.forward! - before.forward!).toBe(1000);
    expect(after.noroute! - before.noroute!).toBe(0);
  });

  it("replay http_espn.pcapng: each flow lands on the CPU dfly pcap flows names", { timeout: 60_000 }, async () => {
    const ref = await referencePerCpu(fixture);
    expect(ref.reduce((a, b) => a + b, 0)).toBe(956);
    const before = await netstat();
    const mBefore = await metricsRx(stateDir);
    const r = await run("replay", fixture, "--pps", "4000", "--json");
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out.trim().split("\n").at(-1)!)).toMatchObject({ event: "done", records: 956, sent: 956, skipped: 0, passes: 1 });
    const after = await settled(before, 956);
    expect(minus(after.rx, before.rx)).toEqual(ref);
    expect(minus(await metricsRx(stateDir), mBefore)).toEqual(ref);
  });

  it("replay --loop --count: the capture again and again, bounded by the count", { timeout: 60_000 }, async () => {
    const ref = await referencePerCpu(fixture);
    const before = await netstat();
    const r = await run("replay", fixture, "--pps", "8000", "--loop", "--count", String(2 * 956), "--json");
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out.trim().split("\n").at(-1)!)).toMatchObject({ sent: 1912, passes: 2 });
    const after = await settled(before, 1912);
    expect(minus(after.rx, before.rx)).toEqual(ref.map((n) => 2 * n));
  });

  it("load http-short --count: its httpd on the cluster answers every client; the CPUs' TCP counters agree; the listeners are closed after", { timeout: 60_000 }, async () => {
    const tcp = async () => {
      const r = await run("netstat", "-s", "--json");
      expect(r.code, r.err).toBe(0);
      // No TCP counters until a CPU first ran TCP.
      return (JSON.parse(r.out) as { total: { tcp?: Record<string, number> } }).total.tcp ?? {};
    };
    const before = await tcp();
    const r = await run("load", "http-short", "--count", "150", "--clients", "4", "--duration", "30s", "--json");
    expect(r.code, r.err).toBe(0);
    const s = JSON.parse(r.out.trim().split("\n").at(-1)!) as {
      event: string;
      completed: number;
      errorCount: number;
      unfinished: number;
      httpd: { workers: number; accepted: number; responses: number; errors: number };
    };
    expect(s).toMatchObject({ event: "done", errorCount: 0, unfinished: 0, httpd: { workers: CPUS, errors: 0 } });
    expect(s.completed).toBeGreaterThanOrEqual(150);
    expect(s.httpd.responses).toBe(s.completed);
    // The server side as the CPUs count it: one accepted connection per response.
    const after = await tcp();
    expect((after.accepts ?? 0) - (before.accepts ?? 0)).toBe(s.completed);
    expect((after.sndrst ?? 0) - (before.sndrst ?? 0)).toBe(0);
    const an = await run("netstat", "-an");
    expect(an.out).not.toMatch(/LISTEN/);
  });

  /** The compiled CLI as a process (the signals reach it alone), once its first JSON progress line is out. */
  async function startedCli(...argv: string[]): Promise<{ cli: ChildProcess; out: () => string; exited: Promise<number | null> }> {
    const cli = spawn(process.execPath, [join(repoRoot, "services/cli/dist/main.js"), ...argv, "--json"], { stdio: ["ignore", "pipe", "pipe"], env: process.env });
    let out = "";
    cli.stdout!.on("data", (d: Buffer) => void (out += d.toString()));
    const exited = new Promise<number | null>((r) => cli.once("exit", (code) => r(code)));
    for (const end = Date.now() + 20_000; !out.includes('"event":"progress"'); ) {
      if (Date.now() > end) throw new Error(`no progress line: ${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return { cli, out: () => out, exited };
  }
  const lastLine = (out: string) => JSON.parse(out.trim().split("\n").at(-1)!) as Record<string, unknown>;

  it("interrupted (SIGINT) pktgen stops at once, says what it sent, exit 130", { timeout: 30_000 }, async () => {
    const p = await startedCli("pktgen", "--duration", "60s", "--rate", "500");
    const progress = JSON.parse(p.out().split("\n")[0]!) as { event: string; t: number; rate: number; total: number };
    expect(progress.total).toBeGreaterThan(0);
    const t0 = Date.now();
    p.cli.kill("SIGINT");
    expect(await p.exited).toBe(130);
    expect(Date.now() - t0).toBeLessThan(5000);
    const done = lastLine(p.out());
    expect(done).toMatchObject({ event: "done", interrupted: true });
    expect(done.sent).toBeGreaterThanOrEqual(progress.total);
  });

  it("SIGTERM to load http-short: it stops at once and closes the listeners it opened, exit 143", { timeout: 40_000 }, async () => {
    const p = await startedCli("load", "http-short", "--duration", "60s", "--clients", "2");
    // Each listener (one per CPU) is referenced on every CPU.
    expect((await run("netstat", "-an")).out.match(/LISTEN/g)?.length).toBe(CPUS * CPUS);
    const t0 = Date.now();
    p.cli.kill("SIGTERM");
    expect(await p.exited).toBe(143);
    expect(Date.now() - t0).toBeLessThan(8000);
    expect(lastLine(p.out())).toMatchObject({ event: "done", interrupted: true, errorCount: 0 });
    expect((await run("netstat", "-an")).out).not.toMatch(/LISTEN/);
  });
});

describe("bad input to dfly replay and dfly pktgen: one line, exit 1", () => {
  const dir = mkdtempSync(join(tmpdir(), "dfly-feed-bad-"));
  beforeAll(async () => {
    setEnv("DFLY_CONTEXT", join(dir, "none.json"));
    // A NATS address nothing listens on: the file is checked before any connection.
    setEnv("DFLY_NATS_URL", `nats://127.0.0.1:${await freePort()}`);
  });
  afterAll(() => {
    for (const [k, v] of Object.entries(saved)) setEnv(k, v);
    rmSync(dir, { recursive: true, force: true });
  });

  const oneLine = (r: { code: number; out: string; err: string }, re: RegExp) => {
    expect(r.code, r.err).toBe(1);
    expect(r.out).toBe("");
    expect(r.err.trimEnd().split("\n"), r.err).toHaveLength(1);
    expect(r.err).toMatch(re);
  };

  it("a file that is not a capture", async () => {
    const f = join(dir, "notes.pcap");
    writeFileSync(f, "this is not a capture\n");
    oneLine(await run("replay", f), /^dfly replay: .*notes\.pcap: not a pcap or pcapng file \(magic 0x73696874\)/);
  });

  it("a capture cut short: nothing is sent", async () => {
    const f = join(dir, "cut.pcapng");
    writeFileSync(f, readFileSync(fixture).subarray(0, 5000));
    oneLine(await run("replay", f), /cut\.pcapng is cut short: .*\(at byte \d+\) \(after \d+ readable records; nothing sent\)/);
  });

  it("a capture with no IPv4 packet", async () => {
    const f = join(dir, "v6.pcap");
    const v6 = new Uint8Array(40);
    v6[0] = 0x60;
    // An IPv6 header, and a record too short for any IP header.
    writeFileSync(f, writePcap([v6, new Uint8Array(8)]));
    oneLine(await run("replay", f), /v6\.pcap: no IPv4 packets to send \(2 records, 2 not IPv4\)/);
  });

  it("bad flag values name the value", async () => {
    oneLine(await run("replay", fixture, "--pps", "fast"), /--pps fast: want a number/);
    oneLine(await run("replay", fixture, "--pps", "10", "--speed", "2"), /give one of them/);
    oneLine(await run("replay", fixture, "--duration", "forever"), /--duration forever: want a duration/);
    oneLine(await run("pktgen", "--rate", "0"), /--rate 0: want a number more than 0/);
    oneLine(await run("pktgen", "--size", "20"), /--size 20: want an integer in 44\.\.9000/);
    oneLine(await run("pktgen", "--dst", "10.0.0.0/33"), /destination prefix "10\.0\.0\.0\/33"/);
    oneLine(await run("pktgen", "--nats", "localhost"), /--nats localhost: want nats:\/\/HOST:PORT/);
    oneLine(await run("pktgen", "--cluster", "a.b"), /--cluster a\.b: want letters/);
    oneLine(await run("load", "tcp-long"), /load kind "tcp-long": want http-short/);
    oneLine(await run("load", "http-short", "--clients", "0"), /--clients 0: want an integer in 1\.\.4096/);
    oneLine(await run("load", "http-short", "--httpd", "nginx"), /--httpd nginx: want start or none/);
  });

  it("no NATS listening: one line naming the address", async () => {
    const r = await run("pktgen", "--count", "1");
    oneLine(r, /cannot reach NATS at nats:\/\/127\.0\.0\.1:\d+ \(DFLY_NATS_URL\)/);
    expect(r.ms).toBeLessThan(6000);
  });
});
