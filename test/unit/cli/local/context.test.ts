// The dfly up context file: where it lives, what wins over it, and that down removes only its own.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { contextFile, readContext, removeContext, writeContext } from "../../../../services/cli/src/local/context.js";
import { controlAddrOf } from "../../../../services/cli/src/commands/control.js";

describe("the dfly up context", () => {
  const dir = mkdtempSync(join(tmpdir(), "dfly-ctx-unit-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const ctx = { controlAddr: "127.0.0.1:40001", natsUrl: "nats://127.0.0.1:40002", stateDir: "/srv/a/.dfly", cluster: "dfly" };

  it("lives at $DFLY_CONTEXT, else $XDG_STATE_HOME/dfly/context.json, else ~/.local/state/dfly/context.json", () => {
    expect(contextFile({ DFLY_CONTEXT: "/x/c.json", XDG_STATE_HOME: "/y" })).toBe("/x/c.json");
    expect(contextFile({ XDG_STATE_HOME: "/y" })).toBe("/y/dfly/context.json");
    expect(contextFile({})).toBe(join(homedir(), ".local/state/dfly/context.json"));
  });

  it("is written and read back; a file that is not a context reads as none", () => {
    const env = { DFLY_CONTEXT: join(dir, "sub", "c.json") };
    expect(readContext(env)).toBeUndefined();
    writeContext(ctx, env);
    expect(readContext(env)).toEqual(ctx);
    writeFileSync(env.DFLY_CONTEXT, "{not json");
    expect(readContext(env)).toBeUndefined();
    writeFileSync(env.DFLY_CONTEXT, JSON.stringify({ hello: 1 }));
    expect(readContext(env)).toBeUndefined();
  });

  it("down removes it only when it is its own stack's", () => {
    const env = { DFLY_CONTEXT: join(dir, "own.json") };
    writeContext(ctx, env);
    expect(removeContext("/srv/b/.dfly", env)).toBe(false);
    expect(existsSync(env.DFLY_CONTEXT)).toBe(true);
    expect(removeContext("/srv/a/.dfly", env)).toBe(true);
    expect(existsSync(env.DFLY_CONTEXT)).toBe(false);
  });

  it("--control, then DFLY_CONTROL_ADDR, then the context, then 127.0.0.1:50051", () => {
    const env = { DFLY_CONTEXT: join(dir, "order.json") };
    writeContext(ctx, env);
    expect(controlAddrOf("127.0.0.1:1", { ...env, DFLY_CONTROL_ADDR: "127.0.0.1:2" })).toEqual({ addr: "127.0.0.1:1", from: "--control" });
    expect(controlAddrOf(undefined, { ...env, DFLY_CONTROL_ADDR: "127.0.0.1:2" })).toEqual({ addr: "127.0.0.1:2", from: "DFLY_CONTROL_ADDR" });
    expect(controlAddrOf(undefined, env)).toEqual({ addr: "127.0.0.1:40001", from: `context ${env.DFLY_CONTEXT}` });
    expect(controlAddrOf(undefined, { DFLY_CONTEXT: join(dir, "none.json") }).addr).toBe("127.0.0.1:50051");
  });
});
