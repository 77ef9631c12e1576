/**
 * The project's image (deploy/Dockerfile) for container tests, built from the working tree when its
 * inputs changed: tagged dfly-netstack:test-<hash of every file the Dockerfile copies>, so a test never
 * runs a stale build and an unchanged tree builds nothing (a source change costs one `tsc -b` in the
 * build stage, about 45 s here; a lockfile change also reruns `npm ci`). Older test tags are removed.
 * Concurrent test files wait on one build (a lock directory under .tools/).
 * DFLY_TEST_IMAGE=<tag> uses an image built elsewhere instead (e.g. by CI, or from a clean checkout).
 */
import { createHash } from "node:crypto";
import { execFile } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { promisify } from "node:util";
import { ensureBaseImage, imageExists, repoRoot, requireDocker } from "./docker.js";

const run = promisify(execFile);

/** Files the Dockerfile's COPY lines take (see deploy/Dockerfile and .dockerignore). */
function inputs(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        if (["node_modules", "dist", "gen"].includes(e.name)) continue;
        walk(p);
      } else if (!e.name.endsWith(".tsbuildinfo")) out.push(p);
    }
  };
  for (const f of ["package.json", "package-lock.json", ".npmrc", "tsconfig.base.json", "tsconfig.json", "scripts/gen-proto.mjs", "deploy/Dockerfile", "test/fixtures/http_espn.pcapng"])
    out.push(join(repoRoot, f));
  walk(join(repoRoot, "proto"));
  walk(join(repoRoot, "services"));
  return out.sort();
}

export function projectImageTag(): string {
  const h = createHash("sha256");
  for (const f of inputs()) {
    h.update(relative(repoRoot, f));
    h.update("\0");
    h.update(readFileSync(f));
    h.update("\0");
  }
  return `dfly-netstack:test-${h.digest("hex").slice(0, 12)}`;
}

async function withLock<T>(f: () => Promise<T>): Promise<T> {
  const lock = join(repoRoot, ".tools/image-build.lock");
  mkdirSync(join(repoRoot, ".tools"), { recursive: true });
  const deadline = Date.now() + 15 * 60_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      // A lock older than 15 minutes is left over from a killed run.
      try {
        if (Date.now() - statSync(lock).mtimeMs > 15 * 60_000) rmSync(lock, { recursive: true, force: true });
      } catch {
        /* gone meanwhile */
      }
      if (Date.now() > deadline) throw new Error(`image build lock ${lock} held for 15 minutes`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    return await f();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** The project image for the current working tree (built if needed). */
export async function ensureProjectImage(): Promise<string> {
  await requireDocker();
  const given = process.env.DFLY_TEST_IMAGE;
  if (given) {
    if (!(await imageExists(given))) throw new Error(`DFLY_TEST_IMAGE=${given}: no such local image`);
    return given;
  }
  await ensureBaseImage("node:22-bookworm-slim", "node");
  const tag = projectImageTag();
  if (await imageExists(tag)) return tag;
  return withLock(async () => {
    if (await imageExists(tag)) return tag;
    try {
      await run("bash", [join(repoRoot, "scripts/build-image.sh")], {
        cwd: repoRoot,
        env: { ...process.env, DFLY_IMAGE: tag },
        timeout: 20 * 60_000,
        maxBuffer: 64 << 20,
      });
    } catch (e) {
      const err = e as { stdout?: string; stderr?: string; message: string };
      throw new Error(`building ${tag} with scripts/build-image.sh failed:\n${(err.stderr || err.stdout || err.message).slice(-4000)}`);
    }
    const { stdout } = await run("docker", ["image", "ls", "--format", "{{.Repository}}:{{.Tag}}", "dfly-netstack"]);
    const old = stdout.split("\n").filter((t) => t.startsWith("dfly-netstack:test-") && t !== tag);
    if (old.length) await run("docker", ["rmi", ...old]).catch(() => undefined);
    return tag;
  });
}
