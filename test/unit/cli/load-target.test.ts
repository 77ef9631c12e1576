/**
 * What the load commands share (services/cli/src/load/target.ts): where the target comes from
 * (flag, then environment, then the dfly up context), value checks that name the bad value, and the
 * progress lines — text on stderr, or JSON lines on stdout — one a second with the rate over the
 * last second and the totals.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { durationArg, LoadArgError, Progress, resolveTarget, type CliIO } from "@dfly/cli";

const dir = mkdtempSync(join(tmpdir(), "dfly-load-target-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const ctxFile = join(dir, "context.json");
writeFileSync(ctxFile, JSON.stringify({ controlAddr: "127.0.0.1:5005", natsUrl: "nats://127.0.0.1:4300", stateDir: dir, cluster: "upctx" }));

describe("resolveTarget", () => {
  it("flags win over the environment, the environment over the context", () => {
    const env = { DFLY_CONTEXT: ctxFile } as NodeJS.ProcessEnv;
    expect(resolveTarget({}, env)).toMatchObject({ natsUrl: "nats://127.0.0.1:4300", cluster: "upctx", controlAddr: "127.0.0.1:5005", from: "the dfly up context" });
    const withEnv = { ...env, DFLY_NATS_URL: "nats://10.0.0.1:4222", DFLY_CLUSTER: "envc", DFLY_CONTROL_ADDR: "10.0.0.1:50051" };
    expect(resolveTarget({}, withEnv)).toMatchObject({ natsUrl: "nats://10.0.0.1:4222", cluster: "envc", controlAddr: "10.0.0.1:50051", from: "DFLY_NATS_URL" });
    expect(resolveTarget({ nats: "nats://127.0.0.2:1", cluster: "flag", control: "h:1" }, withEnv)).toMatchObject({
      natsUrl: "nats://127.0.0.2:1",
      cluster: "flag",
      controlAddr: "h:1",
      from: "--nats",
      controlFrom: "--control",
    });
  });

  it("nothing to feed, or a bad address: one message naming it", () => {
    const none = { DFLY_CONTEXT: join(dir, "absent.json") } as NodeJS.ProcessEnv;
    expect(() => resolveTarget({}, none)).toThrow(/no NATS to feed: pass --nats/);
    expect(() => resolveTarget({ nats: "127.0.0.1:4222" }, none)).toThrow(LoadArgError);
    expect(() => resolveTarget({ nats: "127.0.0.1:4222" }, none)).toThrow("--nats 127.0.0.1:4222: want nats://HOST:PORT");
    expect(() => resolveTarget({ nats: "nats://a:1", cluster: "x y" }, none)).toThrow('--cluster x y: want letters');
    expect(() => resolveTarget({ nats: "nats://a:1", control: "nohost" }, none)).toThrow("--control nohost: want HOST:PORT (from --control)");
  });
});

describe("durationArg", () => {
  it("ms, s, m, h up to 1 h", () => {
    expect(durationArg("duration", "500ms")).toBe(500);
    expect(durationArg("duration", "3")).toBe(3000);
    expect(durationArg("duration", "1.5m")).toBe(90_000);
    expect(durationArg("duration", "1h")).toBe(3_600_000);
    expect(durationArg("duration", undefined)).toBeUndefined();
    for (const bad of ["0s", "2h", "61m", "soon", "-1s"]) expect(() => durationArg("duration", bad)).toThrow(`--duration ${bad}: want a duration`);
  });
});

describe("Progress", () => {
  beforeEach(() => void vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "performance"] }));
  afterEach(() => void vi.useRealTimers());

  const capture = () => {
    const o = { out: "", err: "" };
    const io: CliIO = { stdout: (s) => void (o.out += s), stderr: (s) => void (o.err += s), stdin: async () => "" };
    return { o, io };
  };

  it("a text line a second on stderr: elapsed, rate over the last second, totals", () => {
    const { o, io } = capture();
    let total = 0;
    const p = new Progress(io, { label: "pktgen", unit: "pkt", json: false, text: true }, () => ({ total, bytes: total * 64 })).start();
    total = 1000;
    vi.advanceTimersByTime(1000);
    total = 3000;
    vi.advanceTimersByTime(1000);
    p.stop();
    vi.advanceTimersByTime(5000);
    expect(o.out).toBe("");
    expect(o.err).toBe("pktgen: 1.0 s  1000 pkt/s  total 1000  bytes 64000\npktgen: 2.0 s  2000 pkt/s  total 3000  bytes 192000\n");
  });

  it("--json: a JSON line a second on stdout", () => {
    const { o, io } = capture();
    let total = 0;
    const p = new Progress(io, { label: "replay", unit: "pkt", json: true, text: false }, () => ({ total, passes: 1 })).start();
    total = 500;
    vi.advanceTimersByTime(1000);
    p.stop();
    expect(o.err).toBe("");
    expect(o.out.trim().split("\n").map((l) => JSON.parse(l))).toEqual([{ event: "progress", t: 1, rate: 500, total: 500, passes: 1 }]);
  });

  it("neither (not a terminal, no --progress, no --json): silent", () => {
    const { o, io } = capture();
    const p = new Progress(io, { label: "x", unit: "pkt", json: false, text: false }, () => ({ total: 1 })).start();
    vi.advanceTimersByTime(3000);
    p.stop();
    expect(o.out + o.err).toBe("");
  });
});
