#!/usr/bin/env node
// Generates TypeScript message types and @grpc/grpc-js service definitions from
// proto/ into services/control/src/gen, with buf (a binary from the npm registry,
// so no protoc download) driving the ts-proto plugin. Run by `npm run build`.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const out = join(root, "services/control/src/gen");

function protoFiles(dir) {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? protoFiles(p) : f.endsWith(".proto") ? [p] : [];
  });
}

if (!existsSync(join(root, "proto")) || protoFiles(join(root, "proto")).length === 0) {
  console.log("gen-proto: no .proto files, nothing to generate");
  process.exit(0);
}
rmSync(out, { recursive: true, force: true });
const bin = join(root, "node_modules/.bin");
execFileSync(join(bin, "buf"), ["generate", "proto", "--template", join(root, "proto/buf.gen.yaml"), "-o", root], {
  cwd: root,
  stdio: "inherit",
  env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
});
console.log(`gen-proto: wrote ${out}`);
