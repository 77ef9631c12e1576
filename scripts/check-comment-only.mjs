#!/usr/bin/env node
// Fails unless every .ts file changed since its merge-base with <base> (default main) prints the same without comments, and no
// eslint/@ts- directive comment was dropped: i.e. the change touches comments only.
// Usage: node scripts/check-comment-only.mjs [base]
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import ts from 'typescript';

const git = (...a) => execFileSync('git', a, { encoding: 'utf8', maxBuffer: 1 << 28 });
const base = git('merge-base', process.argv[2] ?? 'main', 'HEAD').trim();
const changed = git('diff', '--name-only', base, '--', '*.ts').split('\n').filter(Boolean);

// The file printed without comments: equal on both sides when only comments changed.
const printer = ts.createPrinter({ removeComments: true });
const tokens = (text) => printer.printFile(ts.createSourceFile('x.ts', text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS));
const directives = (text) => (text.match(/(eslint-disable|eslint-enable|@ts-(expect-error|ignore|nocheck))[^\n]*/g) ?? []).sort().join('\n');

let bad = 0;
for (const f of changed) {
  let before = '';
  try { before = git('show', `${base}:${f}`); } catch { /* new file */ }
  let after = '';
  if (existsSync(f)) after = readFileSync(f, 'utf8');
  const a = tokens(before), b = tokens(after);
  const same = a === b;
  if (!same) { bad++; console.log(`code changed: ${f}`); }
  if (directives(before) !== directives(after)) { bad++; console.log(`directive comment changed: ${f}`); }
}
console.log(`${changed.length} .ts files changed, ${bad} problems`);
process.exit(bad === 0 ? 0 : 1);
