/**
 * The http-short commands end to end through the CLI dispatcher: `dfly run --workload
 * http-short` (embedded, with --pcap; over a real nats-server), `dfly bench http-short`
 * (JSON with the ratio against the direct wire measured in the same run) and
 * `dfly bench tcp-memory`. Short runs: these check the commands, not the figures.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readPcap } from "@dfly/core";
import { dispatch, type CliIO } from "@dfly/cli";

const tmp = mkdtempSync(join(tmpdir(), "dfly-http-cli-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function io(): CliIO & { out: string; err: string } {
  const o = { out: "", err: "" } as CliIO & { out: string; err: string };
  o.stdout = (s) => void (o.out += s);
  o.stderr = (s) => void (o.err += s);
  o.stdin = async () => "";
  return o;
}

describe("dfly run --workload http-short", () => {
  it("embedded: tps and latency, every frame of both directions in the pcap", async () => {
    const file = join(tmp, "run.pcap");
    const o = io();
    const code = await dispatch(
      ["run", "--workload", "http-short", "--cpus", "2", "--clients", "16", "--duration", "500ms", "--warmup", "200ms", "--pcap", file, "--json"],
      o,
    );
    expect(code, o.err).toBe(0);
    const r = JSON.parse(o.out);
    expect(r).toMatchObject({ workload: "http-short", mode: "embedded", cpus: 2, clients: 16, errorCount: 0 });
    expect(r.tps).toBeGreaterThan(0);
    expect(r.latency.p50Ms).toBeGreaterThan(0);
    expect(r.latency.p99Ms).toBeGreaterThanOrEqual(r.latency.p50Ms);
    const p = readPcap(readFileSync(file));
    expect(p.records.length).toBe(r.pcap.frames);
    const srcs = new Set(p.records.map((x) => x.data[15]));
    expect(srcs.has(1)).toBe(true); // the server (198.18.0.1) …
    expect([...srcs].some((b) => b >= 10)).toBe(true); // … and the clients (198.18.0.10+)
  });

  it("text report; over a real nats-server", async () => {
    const o = io();
    const code = await dispatch(["run", "--workload", "http-short", "--transport", "nats", "--cpus", "1", "--clients", "8", "--duration", "400ms", "--warmup", "200ms"], o);
    expect(code, o.err).toBe(0);
    expect(o.out).toMatch(/http-short \(nats\): 1 server CPUs/);
    expect(o.out).toMatch(/tps \d+ +latency avg [\d.]+ ms +p50 [\d.]+ ms +p99 [\d.]+ ms/);
    expect(o.out).toMatch(/completed \d+, errors 0/);
  });

  it("usage errors", async () => {
    for (const argv of [
      ["run", "--workload", "http-short", "--clients", "0"],
      ["run", "--workload", "http-short", "--transport", "carrier-pigeon"],
      ["run", "--workload", "http-short", "--policy", "bsd"],
      ["run", "--workload", "http-short", "--close-listener", "5@1s", "--cpus", "2"],
      ["run", "--workload", "http-short", "--bogus"],
    ]) {
      const o = io();
      expect(await dispatch(argv, o), argv.join(" ")).toBe(2);
      expect(o.err).toMatch(/usage:/);
    }
  });
});

describe("dfly bench", () => {
  it("http-short --json: tps, latency and the ratio to the direct wire measured in the same run", async () => {
    const o = io();
    const code = await dispatch(["bench", "http-short", "--cpus", "1", "--clients", "8", "--duration", "400ms", "--warmup", "200ms", "--json"], o);
    expect(code, o.err).toBe(0);
    const r = JSON.parse(o.out);
    expect(r).toMatchObject({ bench: "http-short", transport: "embedded", cpus: 1, errors: 0 });
    expect(r.tps).toBeGreaterThan(0);
    expect(r.baselineTps).toBeGreaterThan(0);
    expect(r.ratio).toBeCloseTo(r.tps / r.baselineTps, 2);
    expect(r.runs.baseline.mode).toBe("direct");
    expect(r.baseline).toEqual(expect.any(String));
    expect(r.alloc.segmentsIn).toBe(r.alloc.segmentsOut);
    expect(r.allocBytesPerSegment).toBeGreaterThan(0);
  });

  it("tcp-memory --json: heap bytes per idle established connection", async () => {
    const o = io();
    expect(await dispatch(["bench", "tcp-memory", "--conns", "5000", "--json"], o), o.err).toBe(0);
    const r = JSON.parse(o.out);
    expect(r).toMatchObject({ bench: "tcp-memory", conns: 5000, established: 5000, targetBytes: 1024 });
    expect(r.bytesPerConnection).toBeGreaterThan(0);
  });
});
