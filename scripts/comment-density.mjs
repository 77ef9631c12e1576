#!/usr/bin/env node
// Prints, per package, comment lines / lines over services/<pkg>/src/**/*.ts (generated src/gen skipped).
// A comment line is a line starting with `//` or any line of a `/* */` block. Usage: node scripts/comment-density.mjs [pkg...]
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const pkgs = process.argv.slice(2);
const names = pkgs.length > 0 ? pkgs : readdirSync(join(root, 'services')).sort();

function files(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) { if (name !== 'gen') out.push(...files(p)); }
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

function count(text) {
  let lines = 0, comments = 0, inBlock = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    lines++;
    if (inBlock) {
      comments++;
      if (line.includes('*/')) inBlock = false;
    } else if (line.startsWith('//')) {
      comments++;
    } else if (line.startsWith('/*')) {
      comments++;
      inBlock = !line.includes('*/', 2);
    }
  }
  if (text.endsWith('\n')) lines--;
  return { lines, comments };
}

for (const pkg of names) {
  let src;
  try { src = files(join(root, 'services', pkg, 'src')); } catch { continue; }
  let lines = 0, comments = 0;
  for (const f of src) { const c = count(readFileSync(f, 'utf8')); lines += c.lines; comments += c.comments; }
  const pct = lines === 0 ? 0 : (100 * comments) / lines;
  console.log(`${pkg.padEnd(10)} ${String(comments).padStart(5)} / ${String(lines).padStart(5)}  ${pct.toFixed(1)} %`);
}
