// Config loading and candidate validation: every refusal names the file, the slot and the problem; a refused
// candidate on reload leaves the old version serving, and ListPlugins shows why.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { RealTimers } from '../../../src/host/env/index.js';
import { PluginConfigError, PluginHost, inspectPlugin, listPlugins, reloadPlugins } from '../../../src/host/plugins/index.js';
import { ROOT, Scratch, fixedDelayPolicy } from './helpers.js';

const timers = new RealTimers();
const scratch: Scratch[] = [];
after(() => {
  for (const s of scratch) s.remove();
  timers.clearAll();
});
function project(): Scratch {
  const s = new Scratch();
  scratch.push(s);
  return s;
}

async function refused(configFile: string, slot: string, problem: RegExp): Promise<void> {
  await assert.rejects(PluginHost.start({ configFile, timers }), (e: unknown) => {
    assert.ok(e instanceof PluginConfigError, `a PluginConfigError, got ${String(e)}`);
    assert.equal(e.file, configFile);
    assert.equal(e.slot, slot);
    assert.match(e.problem, problem);
    assert.ok(e.message.startsWith(`${configFile}: ${slot}: `));
    return true;
  });
}

test('the project plugins.config.ts loads every built-in through the registry', async () => {
  const h = await PluginHost.start({ configFile: join(ROOT, 'plugins.config.ts'), timers });
  try {
    const rows = listPlugins(h).plugins;
    assert.deepEqual(rows.map((r) => [r.slot, r.name, r.state]), [
      ['orchestrator.replicated', 'replicated', 'active'],
      ['orchestrator.global', 'global', 'active'],
      ['orchestrator.jobs', 'jobs', 'active'],
      ['restartPolicy', 'default', 'active'],
      ['strategy', 'spread', 'active'],
    ]);
    assert.ok(rows.every((r) => /^[0-9a-f]{12}$/.test(r.version)));
  } finally {
    await h.close();
  }
});

test('a config with a syntax error is refused at start, naming the file and esbuild\'s location', async () => {
  const p = project();
  const file = p.write('plugins.config.ts', `import { defineConfig } from 'swarmhost/config';\nexport default defineConfig({ restartPolicy: { module: './p.ts' } ;\n`);
  await refused(file, 'config', /does not bundle: .*plugins\.config\.ts:2:\d+: Expected/);
});

test('a config that does not type-check is refused at start with the type error', async () => {
  const p = project();
  // Bundles and validates fine (esbuild strips types); only the type-checker sees the mistake.
  const file = p.write('plugins.config.ts', `import { defineConfig } from 'swarmhost/config';\nconst debounce: number = '200';\nexport default defineConfig({ watchDebounceMs: Number(debounce) });\n`);
  await refused(file, 'config', /does not type-check: .*plugins\.config\.ts\(2,7\): error TS2322: Type 'string' is not assignable to type 'number'/);
});

test('a config naming a missing module is refused, naming the slot and the path', async () => {
  const p = project();
  const file = p.config(`{ orchestrators: { global: { module: './nope/global.ts' } } }`);
  await refused(file, 'orchestrator.global', /module \.\/nope\/global\.ts not found/);
});

test('a wrong option is refused: unknown slot fields, bad limits and the plugin\'s own validateOptions', async () => {
  const p = project();
  p.write('policy.ts', fixedDelayPolicy('p', 10).replace("kind: 'restartPolicy',", "kind: 'restartPolicy',\n  validateOptions(o) { if (o.delayMs !== undefined && typeof o.delayMs !== 'number') throw new Error('option delayMs: must be a number'); },"));
  await refused(p.config(`{ restartPolicy: { module: './policy.ts', retries: 3 } }`, 'a.config.ts'), 'restartPolicy', /unknown field "retries"/);
  await refused(p.config(`{ strategy: { memoryLimitBytes: -1 } }`, 'b.config.ts'), 'strategy', /memoryLimitBytes must be a positive integer/);
  await refused(p.config(`{ restartPolicy: { module: './policy.ts', options: { delayMs: 'soon' } } }`, 'c.config.ts'), 'restartPolicy', /bad option: option delayMs: must be a number/);
  await refused(p.config(`{ orchestrators: { replicated: { module: './policy.ts' } } }`, 'd.config.ts'), 'orchestrator.replicated', /kind is "restartPolicy", slot orchestrator.replicated needs "orchestrator"/);
});

test('a module that throws in init is refused with its message', async () => {
  const p = project();
  p.write('boom.ts', `import { definePlugin } from 'swarmhost/config';\nexport default definePlugin({ kind: 'restartPolicy', init() { throw new Error('no database'); } });\n`);
  await refused(p.config(`{ restartPolicy: { module: './boom.ts' } }`), 'restartPolicy', /init threw: no database/);
});

test('a policy that restarts a task whose condition is none fails conformance', async () => {
  const p = project();
  p.write('eager.ts', `import { definePlugin } from 'swarmhost/config';\nexport default definePlugin({ kind: 'restartPolicy', init: () => ({ name: 'eager', version: '1', decide: () => ({ restart: true, delayMs: 0, waitForOldTask: false }) }) });\n`);
  await refused(p.config(`{ restartPolicy: { module: './eager.ts' } }`), 'restartPolicy', /conformance: fixture "condition none": must not restart/);
});

test('an untrusted plugin whose init never returns is stopped in its worker and refused', async () => {
  const p = project();
  p.write('hang.ts', `import { definePlugin } from 'swarmhost/config';\nexport default definePlugin({ kind: 'restartPolicy', init() { for (;;) {} } });\n`);
  await refused(p.config(`{ restartPolicy: { module: './hang.ts', untrusted: true, callTimeoutMs: 300 } }`), 'restartPolicy', /isolated timeout: did not finish within 300 ms \(\+1500 ms start-up allowance; worker terminated\)/);
});

test('an untrusted plugin that passes its isolated check serves', async () => {
  const p = project();
  p.write('ok.ts', fixedDelayPolicy('isolated-ok', 100));
  const h = await PluginHost.start({ configFile: p.config(`{ restartPolicy: { module: './ok.ts', untrusted: true } }`), timers });
  try {
    assert.equal(inspectPlugin(h, { slot: 'restartPolicy' }).active?.name, 'isolated-ok');
  } finally {
    await h.close();
  }
});

test('on reload a refused candidate never serves: the old version stays active and plugin ls shows why', async () => {
  const p = project();
  const policy = p.write('policy.ts', fixedDelayPolicy('v1', 100));
  const file = p.config(`{ restartPolicy: { module: './policy.ts' } }`);
  const h = await PluginHost.start({ configFile: file, timers });
  try {
    const v1 = inspectPlugin(h, { slot: 'restartPolicy' }).active!;
    p.write('policy.ts', `import { definePlugin } from 'swarmhost/config';\nexport default definePlugin({ kind: 'restartPolicy', init() { throw new Error('v2 is broken'); } });\n`);
    const r = await reloadPlugins(h);
    assert.deepEqual(r.slots.find((s) => s.slot === 'restartPolicy')?.outcome, 'refused');
    const rows = listPlugins(h).plugins.filter((x) => x.slot === 'restartPolicy');
    assert.deepEqual(rows.map((x) => x.state), ['failed', 'active']);
    assert.match(rows[0]!.lastError, /init threw: v2 is broken/);
    assert.equal(rows[1]!.version, v1.version);
    // A config that no longer bundles: everything keeps serving, and the config row says why.
    p.write('plugins.config.ts', 'export default {{');
    const r2 = await reloadPlugins(h);
    assert.match(r2.configError ?? '', /does not bundle/);
    const cfgRow = listPlugins(h).plugins.find((x) => x.slot === 'config');
    assert.equal(cfgRow?.state, 'failed');
    assert.equal(inspectPlugin(h, { slot: 'restartPolicy' }).active?.version, v1.version);
    assert.ok(policy);
  } finally {
    await h.close();
  }
});

test('InspectPlugin refuses an unknown slot, naming the field', async () => {
  const h = await PluginHost.start({ timers });
  try {
    assert.throws(() => inspectPlugin(h, { slot: 'scheduler' }), /slot: must be one of executor, /);
  } finally {
    await h.close();
  }
});
