/**
 * The README's CLI examples run as written: every line is a command a shell runs as it stands
 * (no `[optional]` brackets, no `a|b` alternatives that the shell reads as pipes), every flag
 * it uses is in its command's usage, and the RSS and pcap lines — and the first `dfly run` —
 * run through bash with node_modules/.bin on PATH (as the README says) and print what their
 * comments say (the hashes are the published Toeplitz test values).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { dispatch, type CliIO } from "@dfly/cli";
import { repoRoot } from "../../support/docker.js";

/** The README's CLI block: [command, comment] per line, comment-only lines left out. */
function cliExamples(): { cmd: string; comment: string }[] {
  const md = readFileSync(join(repoRoot, "README.md"), "utf8");
  const cli = md.slice(md.indexOf("## CLI"));
  const block = /```sh\n([\s\S]*?)```/.exec(cli)![1];
  const out: { cmd: string; comment: string }[] = [];
  for (const line of block.split("\n")) {
    const m = /^([^#]*?)\s*(?:#\s?(.*))?$/.exec(line)!;
    if (m[1].trim()) out.push({ cmd: m[1].trim(), comment: m[2] ?? "" });
  }
  return out;
}

async function usageOf(words: string[]): Promise<string> {
  let out = "";
  const io: CliIO = { stdout: (s) => void (out += s), stderr: () => undefined, stdin: async () => "" };
  expect(await dispatch([...words, "--help"], io), words.join(" ")).toBe(0);
  return out;
}

describe("the README's CLI examples", () => {
  const examples = cliExamples();
  const dir = mkdtempSync(join(tmpdir(), "dfly-readme-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const bash = (cmd: string) =>
    spawnSync("bash", ["-o", "pipefail", "-c", cmd], {
      cwd: repoRoot,
      encoding: "utf8",
      env: { ...process.env, PATH: `${join(repoRoot, "node_modules/.bin")}:${process.env.PATH}`, DFLY_CONTEXT: join(dir, "context.json") },
    });

  it("are plain commands, and every flag they use is in the command's usage", async () => {
    expect(examples.length).toBeGreaterThan(20);
    for (const { cmd } of examples) {
      expect(cmd, "no [optional] parts").not.toMatch(/[[\]]/);
      const pipe = cmd.split("|");
      expect(pipe.length === 1 || (pipe.length === 2 && pipe[0].startsWith("printf ")), `a pipe only from printf: ${cmd}`).toBe(true);
      const line = pipe[pipe.length - 1].trim();
      if (line.startsWith("make ")) continue;
      expect(line, cmd).toMatch(/^dfly /);
      const words = line.split(/\s+/).slice(1);
      // The command's words: up to the first flag or argument (an address, a number, a path).
      const end = words.findIndex((w) => w.startsWith("-") || /[\d./:]/.test(w));
      const usage = await usageOf(end < 0 ? words : words.slice(0, end));
      for (const flag of words.filter((w) => w.startsWith("--"))) expect(usage, `${cmd}: ${flag}`).toContain(flag);
    }
  });

  it("the RSS and pcap lines run as written and print what their comments say", () => {
    const lines = examples.filter((e) => /^(printf .*\| )?dfly (rss|pcap) /.test(e.cmd));
    expect(lines.length).toBe(6);
    for (const { cmd, comment } of lines) {
      const r = bash(cmd);
      expect(r.status, `${cmd}\n${r.stderr}`).toBe(0);
      expect(r.stderr).toBe("");
      const hash = /^(0x[0-9a-f]{8})\b/.exec(comment);
      if (hash) expect(r.stdout, cmd).toBe(`${hash[1]}\n`);
    }
    // The published values (Microsoft's RSS verification suite; the symmetric key's from the paper's tool).
    expect(lines.map((l) => l.comment).join("\n")).toMatch(/0x51ccc178/);
  });

  it("the first dfly run runs as written", { timeout: 60_000 }, () => {
    const run = examples.find((e) => e.cmd.startsWith("dfly run "))!;
    const r = bash(run.cmd);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^dfly run --workload forward: 2 CPUs/);
  });
});
