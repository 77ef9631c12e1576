// Entry point: `npx vite-node deploy/src/gen.ts` writes the generated files; `-- --check` only compares.
import { main } from "./generate.js";

process.exitCode = main(process.argv.slice(2));
