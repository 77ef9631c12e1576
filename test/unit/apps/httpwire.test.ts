/**
 * The http-short workload over the direct in-memory wire (one thread): httpd workers with
 * SO_REUSEPORT listeners, the client host's closed loop, latency, ownership of every segment,
 * and a listener closed under load (DragonFly: nobody notices; Linux: resets).
 */
import { describe, expect, it } from "vitest";
import { ListenerPolicy, netisrHashcpu, parsePacket } from "@dfly/core";
import { httpdResponse, LatencyHistogram, parseResponseHead, runHttpShortDirect } from "@dfly/apps";

describe("http-short over the direct wire", () => {
  it("serves every request; each server CPU's httpd worker accepts only its own CPU's connections", async () => {
    const serverSeen: number[] = [];
    const r = await runHttpShortDirect({
      cpus: 2,
      clients: 16,
      durationMs: 400,
      serverTrace: (cpu, _seg, h) => void serverSeen.push(cpu === netisrHashcpu(h, 2) ? 1 : 0),
    });
    expect(r.errorCount).toBe(0);
    expect(r.completed).toBeGreaterThan(16);
    expect(r.tps).toBeGreaterThan(0);
    expect(r.latency.count).toBeGreaterThanOrEqual(r.completed);
    expect(r.latency.p50Ms).toBeGreaterThan(0);
    expect(r.latency.p99Ms).toBeGreaterThanOrEqual(r.latency.p50Ms);
    expect(r.server.responses).toBeGreaterThanOrEqual(r.completed);
    expect(r.server.errors).toBe(0);
    expect(serverSeen.length).toBeGreaterThan(0);
    expect(serverSeen.every((x) => x === 1)).toBe(true);
    for (const c of r.server.perCpu) {
      expect(c.wrongcpu).toBe(0);
      expect(c.completed).toBeGreaterThan(0);
      // worker w listens in slot w: a SYN on CPU c picks member (h & 127) % 2 = c
      expect(c.accepted).toBe(c.completed);
    }
  });

  it("the wire carries real bytes: every frame parses with good checksums; responses are 1 KB objects", async () => {
    let frames = 0;
    let bad = 0;
    let bodies = 0;
    const object = httpdResponse();
    await runHttpShortDirect({
      cpus: 1,
      clients: 4,
      durationMs: 200,
      tap: (f, toServer) => {
        frames++;
        const p = parsePacket(f);
        if (!p.ok || p.l4.proto !== "tcp") {
          bad++;
          return;
        }
        if (!toServer && p.l4.payloadLength === object.length) bodies++;
      },
    });
    expect(frames).toBeGreaterThan(0);
    expect(bad).toBe(0);
    expect(bodies).toBeGreaterThan(0);
  });

  it("closing a listener under load: DragonFly's heir takes over, no client sees an error", async () => {
    const r = await runHttpShortDirect({ cpus: 2, clients: 64, durationMs: 600, closeListener: { worker: 0, atMs: 200 } });
    expect(r.errorCount).toBe(0);
    expect(r.completed).toBeGreaterThan(64);
  });

  it("closing a listener under load with Linux's original policy resets half-open connections", async () => {
    const r = await runHttpShortDirect({
      cpus: 2,
      clients: 64,
      durationMs: 600,
      policy: ListenerPolicy.LINUX,
      closeListener: { worker: 0, atMs: 200 },
    });
    expect(r.errorCount).toBeGreaterThan(0);
    expect(Object.keys(r.errors)).toContain("ECONNRESET");
  });
});

describe("latency histogram", () => {
  it("quantiles within one sub-bucket (≤ 1/16) of the exact value; summary in ms", () => {
    const h = new LatencyHistogram();
    const xs = Array.from({ length: 1000 }, (_, i) => 100 + i * 37);
    for (const x of xs) h.record(x);
    const exact = (q: number) => xs[Math.ceil(q * xs.length) - 1];
    for (const q of [0.5, 0.9, 0.99]) {
      const v = h.quantile(q);
      expect(v).toBeGreaterThanOrEqual(exact(q));
      expect(v).toBeLessThanOrEqual(exact(q) * (1 + 1 / 16) + 1);
    }
    expect(h.summary()).toMatchObject({ count: 1000, minMs: 0.1 });
    expect(new LatencyHistogram().summary().count).toBe(0);
  });
});

describe("response head parsing (the client's)", () => {
  const enc = new TextEncoder();
  const head = (s: string) => {
    const b = enc.encode(s);
    return parseResponseHead(b, b.length);
  };
  it("status and Content-Length, any header case, or -1/0 when absent or malformed", () => {
    expect(parseResponseHead(httpdResponse(), 200)).toEqual({ status: 200, length: 1024 });
    expect(head("HTTP/1.0 404 Not Found\r\nCONTENT-LENGTH:   17\r\n\r\n")).toEqual({ status: 404, length: 17 });
    expect(head("HTTP/1.1 200 OK\r\nX-Content-Length: 5\r\n\r\n")).toEqual({ status: 200, length: -1 });
    expect(head("HTTP/1.1 2x0 OK\r\n\r\n").status).toBe(0);
    expect(head("SSH-2.0-OpenSSH\r\n\r\n")).toEqual({ status: 0, length: -1 });
  });
});
