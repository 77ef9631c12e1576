import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { dispatch, type CliIO } from "@dfly/cli";

function capture(): CliIO & { out: string; err: string } {
  const io = {
    out: "",
    err: "",
    stdout: (s: string) => void (io.out += s),
    stderr: (s: string) => void (io.err += s),
    stdin: async () => "",
  };
  return io;
}

const dir = mkdtempSync(join(tmpdir(), "dfly-bench-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// A tiny prefix list in the shared file's format (CRLF, IPv6 lines mixed in), gzipped.
const lines = [
  "1.0.0.0/24",
  "1.0.4.0/22",
  "2001:db8::/32",
  "10.0.0.0/8",
  "10.1.2.128/25",
  "10.1.2.129/32",
  "10.0.0.0/8", // duplicate
  "10.0.0.1/8", // host bits set
  "300.0.0.0/8", // not an address
];
const file = join(dir, "prefixes.txt.gz");
writeFileSync(file, gzipSync(Buffer.from(lines.join("\r\n") + "\r\n")));

const num = expect.any(Number);

describe("dfly bench core", () => {
  it("prints the JSON report with every figure and its baseline (tiny iteration count)", async () => {
    const io = capture();
    const code = await dispatch(["bench", "core", "--json", "--prefixes", file, "--iterations", "4096", "--runs", "1"], io);
    expect(io.err).toBe("");
    expect(code).toBe(0);
    const r = JSON.parse(io.out);
    // The C baseline must have been built and run (gcc is installed by scripts/setup-machine.sh).
    expect(r.toeplitz.cError, "C baseline").toBeUndefined();
    expect(r).toMatchObject({
      bench: "core",
      iterations: 4096,
      runs: 1,
      toeplitz: {
        tuples: num,
        symmetricNsPerHash: num,
        genericNsPerHash: num,
        c: { compiler: "gcc -O2", symmetricKeyNsPerHash: num, genericKeyNsPerHash: num, sumsMatch: true },
        baseline: "C gcc -O2 byte tables (test/bench/toeplitz_ref.c)",
        ratio: { symmetric: num, generic: num },
      },
      lpm: {
        table: "file",
        source: file,
        prefixes: 6, // valid IPv4 prefixes read (the duplicate included)
        skipped: { ipv6: 1, invalid: 2, duplicate: 1 },
        routes: 5,
        chunks: 1,
        loadMs: num,
        buildMs: num,
        totalLoadMs: num,
        lookupsPerSec: { random: num, routed: num },
        nsPerLookup: { random: num, routed: num },
        baseline: { what: expect.any(String), lookupsPerSec: num, nsPerLookup: num },
        ratio: { random: num, routed: num },
      },
      cksum: { packetBytes: 1500, inCksumGBps: num, baseline: { what: expect.any(String), GBps: num }, ratio: num },
      targets: { toeplitzWithin2xOfC: expect.any(Boolean), lpmAtLeast10MLookupsPerSec: expect.any(Boolean), fullTableLoadUnder10s: null },
    });
    expect(r.lpm.note).toMatch(/not the full 901899-prefix table/);
    for (const v of [r.toeplitz.symmetricNsPerHash, r.lpm.nsPerLookup.random, r.cksum.inCksumGBps]) expect(v).toBeGreaterThan(0);
    // Every ratio is measured ÷ baseline as a rate (higher is better): the baseline's time ÷ ours.
    // (from the rounded figures in the report: a few per cent apart at this tiny count)
    const near = (got: number, want: number) => expect(Math.abs(got - want) / want).toBeLessThan(0.15);
    near(r.toeplitz.ratio.symmetric, r.toeplitz.c.symmetricKeyNsPerHash / r.toeplitz.symmetricNsPerHash);
    near(r.lpm.ratio.random, r.lpm.baseline.nsPerLookup / r.lpm.nsPerLookup.random);
    near(r.cksum.ratio, r.cksum.inCksumGBps / r.cksum.baseline.GBps);
  });

  it("falls back to a synthetic table of the full table's shape and says so", async () => {
    const io = capture();
    const code = await dispatch(["bench", "core", "--json", "--synthetic", "3000", "--iterations", "2048", "--runs", "1"], io);
    expect(code).toBe(0);
    const r = JSON.parse(io.out);
    expect(r.lpm.table).toBe("synthetic");
    expect(r.lpm.source).toBeNull();
    expect(r.lpm.note).toMatch(/random prefixes with the length mix/);
    expect(r.lpm.routes).toBe(r.lpm.prefixes);
    expect(r.lpm.prefixes).toBeGreaterThan(2900);
    expect(r.lpm.prefixes).toBeLessThanOrEqual(3000);
  });

  it("rejects bad options with usage errors", async () => {
    for (const argv of [
      ["--iterations", "0"],
      ["--iterations", "x"],
      ["--runs", "1000"],
      ["--prefixes", file, "--synthetic", "10"],
      ["--prefixes", join(dir, "missing.txt")],
      ["--bogus"],
    ]) {
      const io = capture();
      expect(await dispatch(["bench", "core", ...argv], io), argv.join(" ")).toBe(2);
      expect(io.err).toMatch(/usage: dfly bench core/);
    }
  });
});
