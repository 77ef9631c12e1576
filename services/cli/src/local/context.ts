/**
 * The current context (as kubectl's): where the stack `dfly up` started has its control and
 * NATS, so `dfly route|netstat|ifconfig|down` find it without an export. One JSON file at
 * `$DFLY_CONTEXT`, else `$XDG_STATE_HOME/dfly/context.json` (`~/.local/state/dfly/context.json`).
 * `dfly up` writes it, `dfly down` removes it; `--control` and `DFLY_CONTROL_ADDR` win over it.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";

export interface DflyContext {
  controlAddr: string;
  natsUrl: string;
  /** The state directory of the `dfly up` that wrote it (its pids and logs). */
  stateDir: string;
  cluster: string;
  /** `dfly up --secure`: where its credentials are (the control's CA and token, the load role's NATS password). */
  secureDir?: string;
}

export function contextFile(env: NodeJS.ProcessEnv = process.env): string {
  if (env.DFLY_CONTEXT) return env.DFLY_CONTEXT;
  const base = env.XDG_STATE_HOME || join(homedir(), ".local", "state");
  return join(base, "dfly", "context.json");
}

/** The context, or undefined when there is none (or it is not a context file). */
export function readContext(env: NodeJS.ProcessEnv = process.env): DflyContext | undefined {
  const f = contextFile(env);
  if (!existsSync(f)) return undefined;
  try {
    const c = JSON.parse(readFileSync(f, "utf8")) as Partial<DflyContext>;
    // Any process can write the file: every field must be a string, or the context is ignored.
    const ok =
      typeof c.controlAddr === "string" &&
      typeof c.stateDir === "string" &&
      typeof c.natsUrl === "string" &&
      typeof c.cluster === "string" &&
      (c.secureDir === undefined || typeof c.secureDir === "string");
    return ok ? (c as DflyContext) : undefined;
  } catch {
    return undefined;
  }
}

export function writeContext(c: DflyContext, env: NodeJS.ProcessEnv = process.env): string {
  const f = contextFile(env);
  mkdirSync(dirname(f), { recursive: true });
  writeFileSync(f, JSON.stringify(c, null, 2) + "\n", { mode: 0o600 });
  return f;
}

/** Removes the context if it is the one of `stateDir` (another stack's context stays). */
export function removeContext(stateDir: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const c = readContext(env);
  if (!c || c.stateDir !== stateDir) return false;
  rmSync(contextFile(env), { force: true });
  return true;
}
