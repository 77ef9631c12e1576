/**
 * Real Linux clients against our TCP over a TUN device, in a namespace of the test's own:
 * Debian's curl (bodies checked against the text by sha256) and ApacheBench (its own
 * counters), without and with the NIC's impairments on the wire.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectedBytes, Netns, requireTools, sha256, STACK, startServe, type Proc } from "./netns.js";

const BIG = 52_428_800;

function curl(ns: Netns, path: string, timeoutMs = 60_000): Buffer {
  const r = ns.exec(["curl", "-sS", "--fail", "--max-time", String(timeoutMs / 1000), `http://${STACK}${path}`], timeoutMs + 5000);
  if (r.status !== 0) throw new Error(`curl ${path} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** ab's summary fields. */
function ab(ns: Netns, args: string[]): Record<string, number> {
  const r = ns.exec(["ab", "-q", "-r", "-s", "20", ...args], 90_000);
  if (r.status !== 0) throw new Error(`ab ${args.join(" ")} exited ${r.status}: ${r.stderr}\n${r.stdout.toString()}`);
  const out = r.stdout.toString();
  const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? NaN);
  return {
    complete: num(/Complete requests:\s+(\d+)/),
    failed: num(/Failed requests:\s+(\d+)/),
    non2xx: /Non-2xx responses:\s+(\d+)/.test(out) ? num(/Non-2xx responses:\s+(\d+)/) : 0,
    keepAlive: /Keep-Alive requests:\s+(\d+)/.test(out) ? num(/Keep-Alive requests:\s+(\d+)/) : 0,
    rps: num(/Requests per second:\s+([\d.]+)/),
  };
}

describe("curl and ab in a namespace against dfly run --tun (serve)", () => {
  let ns: Netns;
  let serve: Proc;
  beforeAll(async () => {
    requireTools(["curl", "curl"], ["ab", "apache2-utils"]);
    ns = new Netns("serve");
    serve = await startServe(ns);
  });
  afterAll(async () => {
    await serve?.stop();
    await ns?.close();
  });

  it("GET / is 1 KB and GET /bytes/52428800 is the pattern, byte for byte (sha256)", () => {
    const root = curl(ns, "/");
    expect(root.length).toBe(1024);
    expect(sha256(root)).toBe(sha256(expectedBytes(1024)));
    const big = curl(ns, `/bytes/${BIG}`);
    expect(big.length).toBe(BIG);
    expect(sha256(big)).toBe(sha256(expectedBytes(BIG)));
  }, 90_000);

  it("ab: 20,000 short connections at concurrency 64, then with keep-alive: 0 failed, 0 non-2xx", () => {
    const short = ab(ns, ["-n", "20000", "-c", "64", `http://${STACK}/`]);
    expect(short).toMatchObject({ complete: 20000, failed: 0, non2xx: 0 });
    const ka = ab(ns, ["-k", "-n", "20000", "-c", "64", `http://${STACK}/`]);
    expect(ka).toMatchObject({ complete: 20000, failed: 0, non2xx: 0 });
    expect(ka.keepAlive).toBe(20000);
  }, 120_000);

  it("exits 0 on SIGTERM and reports what it served", async () => {
    expect(await serve.stop()).toBe(0);
    const r = JSON.parse(serve.stdout) as { serve: Record<string, number>; nic: { ix0: { dropped: Record<string, number> } } };
    expect(r.serve.responses).toBeGreaterThanOrEqual(40002);
    expect(r.serve.errors).toBe(0);
  });
});

describe("curl through the NIC's impairments (loss 2 %, reorder 1 %, duplicate 1 %)", () => {
  let ns: Netns;
  let serve: Proc;
  beforeAll(async () => {
    requireTools(["curl", "curl"]);
    ns = new Netns("impair");
    serve = await startServe(ns, ["--loss", "0.02", "--reorder", "0.01", "--dup", "0.01"]);
  });
  afterAll(async () => {
    await serve?.stop();
    await ns?.close();
  });

  it("GET / and GET /bytes/52428800 arrive intact (sha256), and the impairments did act", async () => {
    const root = curl(ns, "/");
    expect(sha256(root)).toBe(sha256(expectedBytes(1024)));
    const big = curl(ns, `/bytes/${BIG}`, 110_000);
    expect(big.length).toBe(BIG);
    expect(sha256(big)).toBe(sha256(expectedBytes(BIG)));
    expect(await serve.stop()).toBe(0);
    const r = JSON.parse(serve.stdout) as { nic: { ix0: { dropped: Record<string, number> } } };
    expect(r.nic.ix0.dropped.impair_loss).toBeGreaterThan(100);
  }, 120_000);
});
