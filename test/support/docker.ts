/**
 * Docker for integration tests: a clear failure when no engine answers, local images built on demand
 * (never pulled: this machine reaches no image registry), free 127.0.0.1 ports for host-networked
 * containers. testcontainers' Ryuk reaper container is disabled (vitest.config.ts sets
 * TESTCONTAINERS_RYUK_DISABLED; set here too for scripts that import this module outside vitest):
 * tests stop their own containers. TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1: every container here uses host
 * networking, and dockerd runs with --bridge=none, so testcontainers must not look for the "bridge"
 * network's gateway (it does when /.dockerenv exists, and fails with "network bridge not found").
 */
import { execFile } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

process.env.TESTCONTAINERS_RYUK_DISABLED ??= "true";
process.env.TESTCONTAINERS_HOST_OVERRIDE ??= "127.0.0.1";

const run = promisify(execFile);
export const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

export class DockerUnavailableError extends Error {
  constructor(detail: string) {
    super(
      `Docker is not available (${detail.trim().split("\n").pop()}). ` +
        "Run scripts/setup-machine.sh: it installs docker.io and starts dockerd (--bridge=none --iptables=false).",
    );
    this.name = "DockerUnavailableError";
  }
}

let dockerChecked: Promise<void> | undefined;

/** Resolves when a Docker engine answers; rejects with DockerUnavailableError otherwise. */
export function requireDocker(): Promise<void> {
  dockerChecked ??= run("docker", ["version", "--format", "{{.Server.Version}}"], { timeout: 15_000 }).then(
    () => undefined,
    (e: { stderr?: string; message: string }) => {
      dockerChecked = undefined;
      throw new DockerUnavailableError(e.stderr || e.message);
    },
  );
  return dockerChecked;
}

export async function imageExists(tag: string): Promise<boolean> {
  try {
    await run("docker", ["image", "inspect", "--format", "{{.Id}}", tag], { timeout: 15_000 });
    return true;
  } catch {
    return false;
  }
}

/** Builds a base-image stand-in (scripts/build-base-images.sh node|nats|prometheus) when `tag` is missing. */
export async function ensureBaseImage(tag: string, which: "node" | "nats" | "prometheus"): Promise<void> {
  await requireDocker();
  if (await imageExists(tag)) return;
  try {
    await run("bash", [`${repoRoot}/scripts/build-base-images.sh`, which], { cwd: repoRoot, timeout: 300_000 });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`could not build the local image ${tag} with scripts/build-base-images.sh ${which}: ${err.stderr || err.message}`);
  }
  if (!(await imageExists(tag))) throw new Error(`scripts/build-base-images.sh ${which} did not produce ${tag}`);
}

/** A port free on 127.0.0.1 right now (host-networked containers are given it on their command line). */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });
}
