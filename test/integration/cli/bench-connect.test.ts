/**
 * `dfly bench connect` (short run): programs on 3 CPUs connect to listeners on the wire and keep
 * every connection; the listening host (its own TCP) accepted each one, no 4-tuple was given twice,
 * and connects that settled on another CPU's 4-tuple migrated there instead of failing.
 */
import { describe, expect, it } from "vitest";
import { dispatch, type CliIO } from "@dfly/cli";

describe("dfly bench connect", () => {
  it("--cpus 3 --connections 600 --json: every connect succeeds, none duplicated, some migrated", async () => {
    let out = "";
    let err = "";
    const io: CliIO = { stdout: (s) => void (out += s), stderr: (s) => void (err += s), stdin: async () => "" };
    expect(await dispatch(["bench", "connect", "--cpus", "3", "--connections", "600", "--json"], io), err).toBe(0);
    const r = JSON.parse(out) as Record<string, number>;
    expect(r).toMatchObject({ bench: "connect", cpus: 3, connects: 600, errors: 0, duplicateTuples: 0, accepted: 600 });
    expect(r.migrated).toBeGreaterThan(0);
    expect(r.cps).toBeGreaterThan(0);
  }, 60_000);
});
