// Untrusted JS plugins at serve time: every call runs in the plugin's own worker with a deadline. A decide that
// never returns costs one bounded pause, the built-in decides that restart, and repeated timeouts roll the slot
// back; an untrusted orchestrator drives a service to convergence from its worker.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { NodeAvailability, NodeStatusState, TaskState } from '../../../src/host/api/index.js';
import { RealTimers } from '../../../src/host/env/index.js';
import { PluginHost, listPlugins, restartFixtures } from '../../../src/host/plugins/index.js';
import { World, serviceObj } from '../orchestration/harness.js';
import { ROOT, Scratch } from './helpers.js';

const timers = new RealTimers();
const p = new Scratch();
after(() => {
  p.remove();
  timers.clearAll();
});

test('an untrusted restart policy that hangs on one task is cut off at its deadline and rolled back after 3 timeouts', async () => {
  p.write(
    'policy.ts',
    `import { definePlugin } from 'swarmhost/config';
export default definePlugin({ kind: 'restartPolicy', init: () => ({ name: 'moody', version: '1', decide(i) {
  if (i.task.annotations.name === 'hang') for (;;) {}
  const c = i.task.spec.restart?.condition;
  if (c === 0 || (c === 1 && i.task.status.state === 576)) return { restart: false, reason: 'condition' };
  return { restart: true, delayMs: 42, waitForOldTask: false };
} }) });
`,
  );
  const h = await PluginHost.start({ configFile: p.config(`{ restartPolicy: { module: './policy.ts', untrusted: true, callTimeoutMs: 200 }, rollback: { failureThreshold: 3, failureWindowMs: 60000 } }`), timers });
  try {
    const decide = h.orchestrationPlugins().restartPolicy!.decide;
    const base = restartFixtures()[0]!.input;
    assert.deepEqual(decide(base), { restart: true, delayMs: 42, waitForOldTask: false }, 'answered by the plugin in its worker');
    const hang = structuredClone(base);
    hang.task.annotations.name = 'hang';
    hang.node = { availability: NodeAvailability.ACTIVE, state: NodeStatusState.READY };
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      const d = decide(hang);
      const took = performance.now() - t0;
      assert.ok(d.restart && d.delayMs === 5_000, 'the default policy decided instead (the task spec says 5 s)');
      assert.ok(took >= 200 && took < 2_000, `bounded pause (${took.toFixed(0)} ms)`);
    }
    const row = listPlugins(h).plugins.find((r) => r.slot === 'restartPolicy')!;
    assert.equal(row.state, 'failed');
    assert.match(row.lastError, /rolled back: 3 failures within 60000 ms, last: decide did not return within 200 ms \(worker terminated\)/);
    assert.deepEqual(decide(base), { restart: true, delayMs: 5_000, waitForOldTask: false }, 'the built-in serves after the rollback');
  } finally {
    await h.close();
  }
});

test('an untrusted orchestrator reconciles from its worker (pre-generated ids, pre-computed constraints) and the service converges', async () => {
  const capped = join(ROOT, 'examples/orchestrator-capped/index.ts');
  const h = await PluginHost.start({ configFile: p.config(`{ orchestrators: { replicated: { module: ${JSON.stringify(capped)}, options: { maxReplicas: 3 }, untrusted: true } } }`, 'orch.config.ts'), timers });
  const w = new World({ plugins: h.orchestrationPlugins() });
  try {
    await w.addNode('n1');
    await w.addNode('n2', { labels: { zone: 'b' } });
    w.start();
    const s = serviceObj('web', { replicas: 5 });
    s.spec.task.placement.constraints = ['node.labels.zone==b'];
    await w.createService(s);
    await w.until(() => w.running('web').length === 3, 30_000, '3 running');
    await w.advance(1_000);
    assert.equal(w.tasks('web').filter((t) => t.desiredState === TaskState.RUNNING).length, 3);
    assert.deepEqual(Object.keys(w.spread('web')), ['n2']);
    const row = listPlugins(h).plugins.find((r) => r.slot === 'orchestrator.replicated')!;
    assert.equal(row.name, 'replicated-capped');
    assert.equal(row.failures, 0);
  } finally {
    await w.stop();
    await h.close();
  }
});
