import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');

test('the main job (npm start) starts a 3-node swarm with a running 3-replica demo service and cleans up', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/demo.ts', '--once'], { cwd: ROOT, encoding: 'utf8', timeout: 240_000 });
  const out = `${r.stdout}\n${r.stderr}`;
  assert.equal(r.status, 0, out);
  assert.match(out, /node-1\s+ACCEPTED\s+READY\s+ACTIVE\s+REACHABLE \*/);
  assert.match(out, /node-2\s+ACCEPTED\s+READY\s+ACTIVE/);
  assert.match(out, /demo\s+\S+\s+3\/3/);
  assert.match(out, /export SWARM_SOCKET=/);
  assert.match(out, /Stopping the nodes/);
});
