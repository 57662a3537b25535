/**
 * The plugin host in a real swarmhost process, driven by swarmctl: `plugin ls` shows the active built-ins; an
 * edit of the config file swaps the restart policy while swarmhost runs; a broken candidate is refused, the
 * old version keeps serving, and `plugin ls` shows why; the cluster object records the active version; a config
 * that does not bundle refuses to start.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { NodeProc, freePort, teardown, tempDir, waitFor } from '../support/procs.js';

const ROOT = resolve(import.meta.dirname, '../..');
const procs: NodeProc[] = [];
const dirs: string[] = [];
let node: NodeProc;
let cfgDir: string;

const config = (restartModule: string): string => `import { defineConfig } from 'swarmhost/config';
export default defineConfig({
  executor: { module: '${ROOT}/src/plugins/executors/plugin.ts', options: { name: 'process' } },
  orchestrators: {
    replicated: { module: '${ROOT}/src/plugins/orchestrators/plugin-replicated.ts' },
    global: { module: '${ROOT}/src/plugins/orchestrators/plugin-global.ts' },
    jobs: { module: '${ROOT}/src/plugins/orchestrators/plugin-jobs.ts' },
  },
  restartPolicy: { module: '${restartModule}' },
  strategy: {},
  watchDebounceMs: 50,
});
`;

function swarmctl(...args: string[]): { out: string; code: number | null } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/swarmctl.mjs'), '-s', node.socket, ...args], { encoding: 'utf8' });
  return { out: `${r.stdout}${r.stderr}`, code: r.status };
}

before(async () => {
  cfgDir = await tempDir('swarmhost-plugins-');
  dirs.push(cfgDir);
  await writeFile(join(cfgDir, 'plugins.config.ts'), config(`${ROOT}/src/plugins/restart/plugin.ts`));
  const state = await tempDir('swarmhost-plugin-node-');
  dirs.push(state);
  node = new NodeProc({ name: 'plugins-1', stateDir: state, port: await freePort(), extraArgs: ['--config', join(cfgDir, 'plugins.config.ts')] });
  procs.push(node);
  node.start();
  await node.waitLog(/agent started/, 60_000);
});

after(async () => {
  await teardown(procs, dirs);
});

test('swarmctl plugin ls shows every slot active', () => {
  const { out, code } = swarmctl('plugin', 'ls');
  assert.equal(code, 0, out);
  for (const slot of ['restartPolicy', 'orchestrator.replicated', 'orchestrator.global', 'orchestrator.jobs']) {
    assert.match(out, new RegExp(`^${slot.replace('.', '\\.')}\\s+\\S+\\s+[0-9a-f]{12}\\s+ACTIVE`, 'm'), out);
  }
});

test('editing the config swaps the restart policy while swarmhost runs; a broken candidate is refused and the old one keeps serving', async () => {
  const before = swarmctl('plugin', 'ls').out;
  const oldVersion = /^restartPolicy\s+\S+\s+([0-9a-f]{12})\s+ACTIVE/m.exec(before)![1]!;
  await writeFile(join(cfgDir, 'plugins.config.ts'), config(`${ROOT}/examples/restart-backoff/index.ts`));
  const swapped = await waitFor('the new restart policy active', 20_000, () => {
    const m = /^restartPolicy\s+(\S+)\s+([0-9a-f]{12})\s+ACTIVE/m.exec(swarmctl('plugin', 'ls').out);
    return m && m[2] !== oldVersion ? m : undefined;
  }, 200);
  const active = swapped[2]!;
  // The leader records its active manager-side versions in the cluster object (what a new leader adopts).
  await waitFor('the cluster object records the new restart policy', 20_000, () => {
    const clusters = JSON.parse(swarmctl('cluster', 'ls', '--format', 'json').out) as { pluginVersions?: Record<string, { name: string; version: string }> }[];
    const rec = clusters[0]?.pluginVersions?.restartPolicy;
    return rec !== undefined && rec.version.startsWith(active) && rec.name === swapped[1] ? rec : undefined;
  }, 200);
  await writeFile(join(cfgDir, 'broken.ts'), 'export default {{ this is not TypeScript');
  await writeFile(join(cfgDir, 'plugins.config.ts'), config(join(cfgDir, 'broken.ts')));
  const out = await waitFor('the broken candidate refused', 20_000, () => {
    const o = swarmctl('plugin', 'ls', '--format', 'json').out;
    const r = JSON.parse(o) as { plugins: { slot: string; state: string; version: string; lastError: string }[] };
    const failed = r.plugins.find((p) => p.slot === 'restartPolicy' && p.state === 'failed' && p.lastError !== '');
    return failed ? r : undefined;
  }, 200);
  const stillActive = out.plugins.find((p) => p.slot === 'restartPolicy' && p.state === 'active')!;
  assert.equal(stillActive.version, active, 'the last good version keeps serving');
});

test('a config that does not bundle refuses to start, naming the file', async () => {
  await writeFile(join(cfgDir, 'bad.config.ts'), 'export default defineConfig({');
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/swarmhost.mjs'), '--config', join(cfgDir, 'bad.config.ts'), '-d', join(cfgDir, 'state-bad')], { encoding: 'utf8', timeout: 60_000 });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /bad\.config\.ts/);
});
