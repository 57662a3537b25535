#!/usr/bin/env node
// Runs the whole suite with Node's test runner (through tsx for TypeScript) and prints its pass/fail summary.
// Usage: node scripts/test.mjs [dir-or-file ...]   (default: test/)
// Files named *.test.ts are test files. Integration tests (test/integration) run one file at a time because
// they start real processes; the rest run with the runner's default concurrency.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function collect(path, out) {
  const st = statSync(path);
  if (st.isDirectory()) {
    for (const name of readdirSync(path).sort()) {
      if (name === 'node_modules' || name.startsWith('.')) continue;
      collect(join(path, name), out);
    }
  } else if (path.endsWith('.test.ts')) {
    out.push(path);
  }
  return out;
}

const roots = process.argv.slice(2);
const files = (roots.length ? roots : ['test']).flatMap((r) => collect(r, []));
if (files.length === 0) {
  console.error('no test files found under', roots.length ? roots.join(' ') : 'test/');
  process.exit(1);
}
const args = ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=2', ...files];
const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
process.exit(r.status ?? 1);
