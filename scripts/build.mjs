#!/usr/bin/env node
// Builds what the host needs at run time: the AssemblyScript modules (assembly/ -> build/*.wasm).
// Each target is listed explicitly; a failure stops the build with asc's own message.
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';

/** WASM targets: [entry, output, extra asc flags]. */
export const wasmTargets = [
  // The built-in scheduler: filter pipeline + spread + preferences over the node table (src/host/scheduler).
  ['assembly/scheduler/index.ts', 'build/scheduler.wasm', ['--runtime', 'stub', '--importMemory', '-O3', '--noAssert']],
  // Example third-party strategy built with the SDK (shared memory, runs in a worker).
  ['examples/binpack/assembly/index.ts', 'build/strategy-binpack.wasm', ['--runtime', 'stub', '--importMemory', '--sharedMemory', '--initialMemory', '16', '--maximumMemory', '1024', '--enable', 'threads', '-O3', '--noAssert']],
];

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
