/**
 * The README's "Feeding a running stack" block runs as written: every flag is in its command's usage,
 * and the lines run one after the other through bash (node_modules/.bin on PATH, as the README says):
 * `dfly up`, each load into it (exit 0, what it says it sent), `netstat`, `dfly down`.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { usageOf } from "../../support/cli.js";
import { repoRoot } from "../../support/docker.js";

function block(): string[] {
  const md = readFileSync(join(repoRoot, "README.md"), "utf8");
  const sec = md.slice(md.indexOf("## Feeding a running stack"));
  const b = /```sh\n([\s\S]*?)```/.exec(sec)![1]!;
  return b
    .split("\n")
    .map((l) => l.replace(/\s+#.*$/, "").trim())
    .filter(Boolean);
}

describe("the README's Feeding a running stack", () => {
  const lines = block();
  const dir = mkdtempSync(join(tmpdir(), "dfly-readme-feed-"));
  const env = {
    ...process.env,
    PATH: `${join(repoRoot, "node_modules/.bin")}:${process.env.PATH}`,
    DFLY_CONTEXT: join(dir, "context.json"),
    DFLY_STATE_DIR: join(dir, "stack"),
    DFLY_DRAIN_LINGER_MS: "0",
  };
  for (const k of ["DFLY_NATS_URL", "DFLY_CONTROL_ADDR", "DFLY_CLUSTER"]) delete (env as Record<string, string | undefined>)[k];
  const bash = (cmd: string) => spawnSync("bash", ["-o", "pipefail", "-c", cmd], { cwd: repoRoot, encoding: "utf8", env, timeout: 60_000 });
  afterAll(() => {
    bash("dfly down");
    rmSync(dir, { recursive: true, force: true });
  });

  it("every flag is in its command's usage", async () => {
    expect(lines.length).toBe(6);
    for (const line of lines) {
      expect(line).toMatch(/^dfly /);
      const words = line.split(/\s+/).slice(1);
      const end = words.findIndex((w) => w.startsWith("-") || /[\d./:]/.test(w));
      const usage = await usageOf(end < 0 ? words : words.slice(0, end));
      for (const flag of words.filter((w) => w.startsWith("--"))) expect(usage, `${line}: ${flag}`).toContain(flag);
    }
  });

  it("runs as written: up, each load into it, netstat, down", { timeout: 120_000 }, () => {
    const outs: string[] = [];
    for (const line of lines) {
      const r = bash(line);
      expect(r.status, `${line}\n${r.stdout}${r.stderr}`).toBe(0);
      outs.push(r.stdout);
    }
    expect(outs[1]).toMatch(/^pktgen: sent 6000 packets/m);
    expect(outs[2]).toMatch(/^replay: sent 956 packets/m);
    expect(outs[3]).toMatch(/^load http-short: \d+ responses .* errors 0/m);
    const rx = [...outs[4]!.matchAll(/^\s+(\d+) rx$/gm)].map((m) => Number(m[1]));
    expect(rx).toHaveLength(2);
    expect(rx[0]! + rx[1]!).toBeGreaterThanOrEqual(6000 + 956);
    expect(outs[5]).toMatch(/^down: stopped/);
  });
});
