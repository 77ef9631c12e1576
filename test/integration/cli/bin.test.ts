/**
 * The `dfly` bin as a newcomer meets it: the file package.json names as the bin is in git (so a
 * fresh clone's `npm install` links it before anything is built), `node_modules/.bin/dfly` runs
 * the built CLI, and `dfly … | head` ends quietly when the reader goes away.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, realpathSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../../support/docker.js";

const cliDir = join(repoRoot, "services/cli");

describe("the dfly bin", () => {
  it("is a file git tracks, executable, and node_modules/.bin/dfly is it", () => {
    const bin = (JSON.parse(readFileSync(join(cliDir, "package.json"), "utf8")) as { bin: Record<string, string> }).bin.dfly;
    const rel = join("services/cli", bin);
    const tracked = spawnSync("git", ["ls-files", "--error-unmatch", rel], { cwd: repoRoot, encoding: "utf8" });
    expect(tracked.status, tracked.stderr).toBe(0);
    expect(statSync(join(repoRoot, rel)).mode & 0o111).not.toBe(0);
    expect(realpathSync(join(repoRoot, "node_modules/.bin/dfly"))).toBe(realpathSync(join(repoRoot, rel)));
  });

  it("runs the built CLI (npx dfly from the repository root)", () => {
    const r = spawnSync("npx", ["--no-install", "dfly", "rss", "hash", "66.9.149.187", "161.142.100.80", "2794", "1766"], { cwd: repoRoot, encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe("0x9fcc9fcc\n");
  });

  it("ends quietly (exit 0, nothing on stderr) when its stdout's reader has gone", () => {
    const r = spawnSync("bash", ["-c", 'node services/cli/dist/main.js help | true; exit "${PIPESTATUS[0]}"'], { cwd: repoRoot, encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });
});
