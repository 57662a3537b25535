#!/usr/bin/env node
// Builds what the host needs at run time: the AssemblyScript modules (assembly/ -> build/*.wasm).
// Each target is listed explicitly; a failure stops the build with asc's own message.
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';

/** WASM targets: [entry, output, extra asc flags]. */
export const wasmTargets = [
  // The built-in scheduler: filter pipeline + spread + preferences over the node table (src/host/scheduler).
  ['assembly/scheduler/index.ts', 'build/scheduler.wasm', ['--runtime', 'stub', '--importMemory', '-O3', '--noAssert', '--disableWarning']],
  // Example third-party strategy built with the SDK (shared memory, runs in a worker).
  ['examples/binpack/assembly/index.ts', 'build/strategy-binpack.wasm', strategyFlags(4096)],
  // Deliberately broken strategies for the loader/sandbox tests (test/unit/scheduler/strategy.test.ts).
  ...['trap', 'abort', 'loop', 'forbidden', 'bad-marker'].map((n) => [`test/unit/scheduler/strategies/${n}.ts`, `build/test-strategy-${n}.wasm`, strategyFlags(4096)]),
  ['test/unit/scheduler/strategies/greedy.ts', 'build/test-strategy-greedy.wasm', strategyFlags(65536)],
  ['test/unit/scheduler/strategies/greedy.ts', 'build/test-strategy-tiny.wasm', strategyFlags(3)],
];

/** asc flags of a strategy module: imported shared memory of at most `maxPages` 64 KiB pages. */
function strategyFlags(maxPages) {
  return ['--runtime', 'stub', '--importMemory', '--sharedMemory', '--initialMemory', String(Math.min(16, maxPages)), '--maximumMemory', String(maxPages), '--enable', 'threads', '-O3', '--noAssert', '--disableWarning'];
}

mkdirSync('build', { recursive: true });
for (const [entry, out, flags] of wasmTargets) {
  const r = spawnSync(process.execPath, ['node_modules/assemblyscript/bin/asc.js', entry, '-o', out, ...flags], {
    stdio: 'inherit',
  });
  if (r.status !== 0) {
    console.error(`build: asc failed for ${entry}`);
    process.exit(r.status ?? 1);
  }
  console.log(`build: ${entry} -> ${out}`);
}
