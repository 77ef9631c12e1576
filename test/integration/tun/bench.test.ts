/**
 * `dfly bench tun --json` (small counts): the four figures, each measured (ab's and curl's own
 * numbers), in namespaces the bench creates and deletes.
 */
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { DFLY, requireTools } from "./netns.js";

describe("dfly bench tun", () => {
  it("reports tps, baselineTps, throughputMBps, baselineThroughputMBps and leaves no namespace", () => {
    requireTools(["curl", "curl"], ["ab", "apache2-utils"], ["nginx", "nginx-light"]);
    const r = spawnSync(process.execPath, [DFLY, "bench", "tun", "--requests", "1000", "--bytes", "10000000", "--json"], { encoding: "utf8", timeout: 90_000 });
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as Record<string, number>;
    for (const k of ["tps", "baselineTps", "throughputMBps", "baselineThroughputMBps"]) expect(j[k], k).toBeGreaterThan(0);
    const left = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout;
    expect(left).not.toMatch(/dflybench-[abc]-/);
  }, 120_000);
});
