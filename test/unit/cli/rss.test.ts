import { describe, expect, it } from "vitest";
import { dispatch, type CliIO } from "@dfly/cli";
import { buildRingmap, symmetric } from "@dfly/core";

async function run(argv: string[], stdin = ""): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const io: CliIO = { stdout: (s) => void (out += s), stderr: (s) => void (err += s), stdin: async () => stdin };
  const code = await dispatch(argv, io);
  return { code, out, err };
}

const MS_KEY = "6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa";

describe("dfly rss hash", () => {
  it("prints the raw hash as 0x%08x (default symmetric key)", async () => {
    expect(await run(["rss", "hash", "10.0.0.1", "10.0.0.2", "12345", "80"])).toEqual({ code: 0, out: "0x3f563f56\n", err: "" });
    expect((await run(["rss", "hash", "--l3", "10.0.0.1", "10.0.0.2"])).out).toBe("0xadfbadfb\n");
    expect((await run(["rss", "hash", "--l3", "10.0.0.1", "10.0.0.2", "1", "2"])).out).toBe("0xadfbadfb\n");
  });

  it("--key microsoft / hex reproduces the RSS verification table", async () => {
    expect((await run(["rss", "hash", "--key", "microsoft", "66.9.149.187", "161.142.100.80", "2794", "1766"])).out).toBe("0x51ccc178\n");
    expect((await run(["rss", "hash", "--key", MS_KEY, "--l3", "66.9.149.187", "161.142.100.80"])).out).toBe("0x323e8fc2\n");
    expect((await run(["rss", "hash", "--key", "0".repeat(80), "1.2.3.4", "5.6.7.8", "9", "10"])).out).toBe("0x00000000\n");
  });

  it("reads tuples from stdin, one hash per line, blank lines skipped", async () => {
    const r = await run(["rss", "hash"], "10.0.0.1 10.0.0.2 12345 80\n\n  192.168.1.10\t192.168.1.20 40000 443  \r\n66.9.149.187 161.142.100.80 2794 1766");
    expect(r).toEqual({ code: 0, out: "0x3f563f56\n0x28502850\n0x9fcc9fcc\n", err: "" });
    expect((await run(["rss", "hash", "--l3"], "10.0.0.1 10.0.0.2\n10.0.0.2 10.0.0.1 80 12345\n")).out).toBe("0xadfbadfb\n0xadfbadfb\n");
    expect((await run(["rss", "hash"], "")).out).toBe("");
  });

  it("a bad stdin line is an error naming the line number, exit 1, no output", async () => {
    const r = await run(["rss", "hash"], "10.0.0.1 10.0.0.2 12345 80\n10.0.0.1 10.0.0.256 1 2\n");
    expect(r.code).toBe(1);
    expect(r.out).toBe("");
    expect(r.err).toMatch(/line 2: bad IPv4 address "10\.0\.0\.256"/);
    const r2 = await run(["rss", "hash"], "\n\n10.0.0.1 10.0.0.2 80\n");
    expect(r2.code).toBe(1);
    expect(r2.err).toMatch(/line 3: want SRC DST SPORT DPORT, got 3 field/);
    const r3 = await run(["rss", "hash"], "1.2.3.4 5.6.7.8 1 65536\n");
    expect(r3.err).toMatch(/line 1: bad port "65536"/);
  });

  it("bad arguments: usage errors exit 2, bad values and keys exit 1", async () => {
    const few = await run(["rss", "hash", "10.0.0.1", "10.0.0.2", "80"]);
    expect(few.code).toBe(2);
    expect(few.err).toMatch(/usage: dfly rss hash/);
    expect((await run(["rss", "hash", "--bogus", "1"])).code).toBe(2);
    const badIp = await run(["rss", "hash", "010.0.0.1", "10.0.0.2", "1", "2"]);
    expect(badIp.code).toBe(1);
    expect(badIp.err).toMatch(/bad IPv4 address "010\.0\.0\.1"/);
    const badKey = await run(["rss", "hash", "--key", "6d5a", "1.2.3.4", "5.6.7.8", "1", "2"]);
    expect(badKey.code).toBe(1);
    expect(badKey.err).toMatch(/RssKeyError|4 hex digits; want 80/);
  });
});

describe("dfly rss ringmap", () => {
  it("--json prints exactly the documented object", async () => {
    const r = await run(["rss", "ringmap", "--cpus", "12", "--rings", "8", "--json"]);
    expect(r.code).toBe(0);
    const want = buildRingmap({ ncpus: 12, rings: 8 });
    expect(r.out).toBe(
      JSON.stringify({ ncpus: 12, rings: 8, grid: 12, ringToCpu: want.ringToCpu, redirect: want.redirect }) + "\n",
    );
    expect(Object.keys(JSON.parse(r.out))).toEqual(["ncpus", "rings", "grid", "ringToCpu", "redirect"]);
    expect(JSON.parse(r.out).redirect.slice(0, 24)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 6, 7, 4, 5, 6, 7]);
  });

  it("applies the fix-up, the unit offset and --entries", async () => {
    const a = JSON.parse((await run(["rss", "ringmap", "--cpus", "8", "--rings", "16", "--json"])).out);
    expect(a).toMatchObject({ ncpus: 8, rings: 8, grid: 8, ringToCpu: [0, 1, 2, 3, 4, 5, 6, 7] });
    const b = JSON.parse((await run(["rss", "ringmap", "--cpus", "8", "--rings", "4", "--unit", "1", "--entries", "512", "--json"])).out);
    expect(b.ringToCpu).toEqual([4, 5, 6, 7]);
    expect(b.redirect.length).toBe(512);
    expect(b.grid).toBe(4);
  });

  it("without --json prints a readable table", async () => {
    const r = await run(["rss", "ringmap", "--cpus", "22", "--rings", "8"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^ncpus 22 {2}rings 8 {2}grid 11 {2}unit 0 {2}redirect entries 128\n/);
    expect(r.out).toMatch(/\n {3}7 {4}7\n/);
    expect(r.out).toMatch(/\n {2}16: /);
    expect(r.out).toMatch(/buckets received on their netisr cpu: 48\/128\n$/);
  });

  it("bad values", async () => {
    expect((await run(["rss", "ringmap", "--rings", "4", "--json"])).err).toMatch(/--cpus is required/);
    expect((await run(["rss", "ringmap", "--cpus", "x", "--rings", "4"])).code).toBe(2);
    const big = await run(["rss", "ringmap", "--cpus", "129", "--rings", "4"]);
    expect(big.code).toBe(1);
    expect(big.err).toMatch(/ncpus 129 is invalid/);
    const ent = await run(["rss", "ringmap", "--cpus", "8", "--rings", "4", "--entries", "100"]);
    expect(ent.code).toBe(1);
    expect(ent.err).toMatch(/nent 100 is invalid/);
    expect((await run(["rss", "ringmap", "--cpus", "8", "--rings", "0"])).code).toBe(1);
  });
});

describe("dfly rss explain", () => {
  it("shows every step and the redispatch", async () => {
    // raw 0x3f563f56: bucket 0x56 = 86; 8 CPUs/4 rings → ring 86 % 4 = 2 on cpu 2; netisr 86 % 8 = 6
    const r = await run(["rss", "explain", "10.0.0.1:12345", "10.0.0.2:80", "--cpus", "8", "--rings", "4"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("raw hash       0x3f563f56\n");
    expect(r.out).toContain("toeplitz_hash  0x3f56\n");
    expect(r.out).toContain("bucket         86 (hash & 127)\n");
    expect(r.out).toContain("redirect entry 86 of 128 -> ring 2\n");
    expect(r.out).toContain("ring cpu       2\n");
    expect(r.out).toContain("netisr cpu     6 ((hash & 127) % 8)\n");
    expect(r.out).toContain("received on cpu 2, redispatched to cpu 6\n");
  });

  it("rings == cpus: no redispatch; --unit moves the rings", async () => {
    const r = await run(["rss", "explain", "10.0.0.1:12345", "10.0.0.2:80", "--cpus", "8"]);
    expect(r.out).toContain("received and processed on cpu 6 (no redispatch)");
    const ix1 = await run(["rss", "explain", "10.0.0.1:12345", "10.0.0.2:80", "--cpus", "8", "--rings", "4", "--unit", "1"]);
    expect(ix1.out).toContain("ring cpu       6\n");
    expect(ix1.out).toContain("(no redispatch)");
  });

  it("--proto udp hashes the address pair; --json; entry index for 512 entries", async () => {
    const r = await run(["rss", "explain", "10.0.0.1:53", "10.0.0.2:5353", "--cpus", "12", "--rings", "8", "--proto", "udp", "--entries", "512", "--json"]);
    const o = JSON.parse(r.out);
    const raw = symmetric.hash2(0x0a000001, 0x0a000002);
    expect(o).toMatchObject({ proto: "udp", src: "10.0.0.1", sport: 53, dst: "10.0.0.2", dport: 5353, raw: "0xadfbadfb", hash: "0xadfb" });
    expect(o.entry).toBe(raw & 511);
    expect(o.bucket).toBe(raw & 127);
    expect(o.netisrCpu).toBe((raw & 127) % 12);
    expect(o.redispatch).toBe(o.ringCpu !== o.netisrCpu);
  });

  it("bad input", async () => {
    expect((await run(["rss", "explain", "10.0.0.1:1", "--cpus", "8"])).code).toBe(2);
    expect((await run(["rss", "explain", "10.0.0.1:1", "10.0.0.2:2", "--cpus", "8", "--proto", "icmp"])).code).toBe(2);
    const e = await run(["rss", "explain", "10.0.0.1", "10.0.0.2:2", "--cpus", "8"]);
    expect(e.code).toBe(1);
    expect(e.err).toMatch(/bad endpoint "10\.0\.0\.1"/);
    expect((await run(["rss", "explain", "10.0.0.1:1", "10.0.0.2:2"])).err).toMatch(/--cpus is required/);
  });
});
