// The plugin host wired into the leader orchestration: services converge through the configured orchestrator
// (the capped example), scheduler passes run through the configured WASM strategy (binpack), and an
// orchestrator swap takes effect on the next reconcile.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { RealTimers } from '../../../src/host/env/index.js';
import { PluginHost } from '../../../src/host/plugins/index.js';
import { World, serviceObj, taskSpec } from '../orchestration/harness.js';
import { ROOT, Scratch } from './helpers.js';

const timers = new RealTimers();
const p = new Scratch();
after(() => {
  p.remove();
  timers.clearAll();
});

const capped = join(ROOT, 'examples/orchestrator-capped/index.ts');
const binpack = join(ROOT, 'build/strategy-binpack.wasm');

test('services converge through the configured orchestrator and strategy, and an orchestrator swap applies next reconcile', async () => {
  const configFile = p.config(`{ orchestrators: { replicated: { module: ${JSON.stringify(capped)}, options: { maxReplicas: 4 } } }, strategy: { module: ${JSON.stringify(binpack)} } }`);
  const host = await PluginHost.start({ configFile, timers });
  const w = new World({ plugins: host.orchestrationPlugins() });
  try {
    for (const n of ['n1', 'n2', 'n3']) await w.addNode(n, { cpu: 4e9 });
    w.start();
    await w.createService(serviceObj('web', { replicas: 10, spec: taskSpec({ cpu: 1e9 }) }));
    await w.until(() => w.running('web').length === 4, 30_000, '4 running (capped)');
    await w.advance(2_000);
    assert.equal(w.running('web').length, 4, 'the cap holds');
    assert.deepEqual(Object.values(w.spread('web')), [4], 'binpack put all four on one node');

    // Raise the cap: the next reconcile uses the new version.
    p.config(`{ orchestrators: { replicated: { module: ${JSON.stringify(capped)}, options: { maxReplicas: 6 } } }, strategy: { module: ${JSON.stringify(binpack)} } }`);
    const r = await host.reload();
    assert.equal(r.slots.find((s) => s.slot === 'orchestrator.replicated')?.outcome, 'activated');
    assert.equal(r.slots.find((s) => s.slot === 'strategy')?.outcome, 'unchanged');
    await w.updateService('web', (s) => (s.spec.annotations.labels = { touched: '1' }), { newSpec: false });
    await w.until(() => w.running('web').length === 6, 30_000, '6 running (new cap)');
    assert.deepEqual(Object.values(w.spread('web')).sort(), [2, 4], 'binpack fills the second node next');
  } finally {
    await w.stop();
    await host.close();
  }
});
