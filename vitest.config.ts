import { defineConfig } from "vitest/config";
import { fileURLToPath } from "node:url";
import { tmpdir } from "node:os";
import { join } from "node:path";

const pkgs = ["core", "service", "wire", "transport", "control", "nic", "netisr", "apps", "cli"];
const src = (p: string) => fileURLToPath(new URL(`./services/${p}/src/index.ts`, import.meta.url));

export default defineConfig({
  // `@dfly/<pkg>` is a package's public index; `@dfly/netisr/internal` its internals, for tests.
  resolve: {
    alias: [
      { find: /^@dfly\/netisr\/internal$/, replacement: fileURLToPath(new URL("./services/netisr/src/internal.ts", import.meta.url)) },
      ...pkgs.map((p) => ({ find: new RegExp(`^@dfly/${p}$`), replacement: src(p) })),
    ],
  },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    pool: "forks",
    // testcontainers: no Ryuk reaper container (tests stop their own); host networking, no bridge network.
    // DFLY_CONTEXT: a `dfly up` in a test records its context here, not in the user's ~/.local/state.
    env: { TESTCONTAINERS_RYUK_DISABLED: "true", TESTCONTAINERS_HOST_OVERRIDE: "127.0.0.1", DFLY_CONTEXT: join(tmpdir(), `dfly-test-context-${process.pid}.json`) },
  },
});
