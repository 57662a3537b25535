// The example plugins under examples/: each loads through the plugin host (contract, options, conformance)
// and behaves as documented.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { NodeAvailability, NodeStatusState, RestartCondition, TaskState } from '../../../src/host/api/index.js';
import { RealTimers } from '../../../src/host/env/index.js';
import { PluginHost, inspectPlugin, FIXTURE_NOW_MS } from '../../../src/host/plugins/index.js';
import { backoffOptions, backoffPolicy } from '../../../examples/restart-backoff/index.js';
import { cappedOrchestrator } from '../../../examples/orchestrator-capped/index.js';
import { node, service, task, taskSpec, idGen } from '../orchestrators/fixtures.js';
import { ROOT, Scratch } from './helpers.js';

const timers = new RealTimers();
const p = new Scratch();
after(() => {
  p.remove();
  timers.clearAll();
});

test('restart-backoff: delays grow by the factor per recorded restart, capped; the default rules still apply', () => {
  const policy = backoffPolicy(backoffOptions({ baseDelayMs: 100, factor: 3, maxDelayMs: 1_000 }));
  const t = task({ id: 't', nodeId: 'n1', state: TaskState.FAILED, specVersion: 1 });
  const n = { availability: NodeAvailability.ACTIVE, state: NodeStatusState.READY };
  const delay = (restarts: number): number => {
    const d = policy.decide({ task: t, isJob: false, node: n, nowMs: FIXTURE_NOW_MS, history: { specVersion: 1, totalRestarts: restarts, restartTimesMs: [] } });
    assert.ok(d.restart);
    return d.delayMs;
  };
  assert.deepEqual([0, 1, 2, 3].map(delay), [100, 300, 900, 1_000]);
  const none = task({ id: 'x', state: TaskState.FAILED, spec: taskSpec({ restart: { condition: RestartCondition.NONE } }) });
  assert.deepEqual(policy.decide({ task: none, isJob: false, nowMs: FIXTURE_NOW_MS }), { restart: false, reason: 'restart condition none' });
  const drained = policy.decide({ task: t, isJob: false, node: { availability: NodeAvailability.DRAIN, state: NodeStatusState.READY }, nowMs: FIXTURE_NOW_MS });
  assert.ok(drained.restart && drained.delayMs === 0, 'a drained node restarts at once, as in the default policy');
  assert.throws(() => backoffOptions({ factor: 0.5 }), /option factor: must be a number >= 1/);
  assert.throws(() => backoffOptions({ base: 1 }), /option base: unknown/);
});

test('orchestrator-capped: a service asking for more than maxReplicas gets maxReplicas', () => {
  const o = cappedOrchestrator(2);
  const svc = service({ replicas: 5 });
  const plan = o.reconcile({ serviceId: svc.id, service: svc, tasks: [], nodes: { n1: node('n1') }, nowMs: 0 }, { newId: idGen('t'), constraintsMet: () => true });
  assert.equal(plan.create.length, 2);
  const small = service({ replicas: 1 });
  assert.equal(o.reconcile({ serviceId: small.id, service: small, tasks: [], nodes: {}, nowMs: 0 }, { newId: idGen('u'), constraintsMet: () => true }).create.length, 1);
});

test('both examples load through the plugin host and pass conformance; a bad option is refused', async () => {
  const cfg = p.config(
    `{ restartPolicy: { module: ${JSON.stringify(join(ROOT, 'examples/restart-backoff/index.ts'))}, options: { baseDelayMs: 500 } }, orchestrators: { replicated: { module: ${JSON.stringify(join(ROOT, 'examples/orchestrator-capped/index.ts'))}, options: { maxReplicas: 3 } } } }`,
  );
  const h = await PluginHost.start({ configFile: cfg, timers });
  try {
    assert.equal(inspectPlugin(h, { slot: 'restartPolicy' }).active?.name, 'restart-backoff');
    assert.equal(inspectPlugin(h, { slot: 'orchestrator.replicated' }).active?.name, 'replicated-capped');
  } finally {
    await h.close();
  }
  const bad = p.config(`{ orchestrators: { replicated: { module: ${JSON.stringify(join(ROOT, 'examples/orchestrator-capped/index.ts'))}, options: { maxReplicas: 0 } } } }`, 'bad.config.ts');
  await assert.rejects(PluginHost.start({ configFile: bad, timers }), /orchestrator\.replicated: bad option: option maxReplicas: must be an integer >= 1/);
});

test('strategy-try runs the binpack example on a fixture cluster: decisions, explanation, evaluation', async () => {
  const { readFileSync } = await import('node:fs');
  const { tryStrategy } = await import('../../../src/host/plugins/index.js');
  const r = await tryStrategy(new Uint8Array(readFileSync(join(ROOT, 'build/strategy-binpack.wasm'))), { nodes: 2, tasks: 9, nanoCpus: 1e9, timers });
  assert.equal(r.assignments.length, 8);
  assert.equal(new Set(r.assignments.slice(0, 4).map((a) => a.nodeId)).size, 1, 'binpack fills one node first');
  assert.deepEqual(r.unplaceable, [{ taskId: 'svc-t8', err: 'no suitable node (insufficient resources on 2 nodes)' }]);
  assert.equal(r.evaluation.length, 2);
  assert.ok(r.evaluation.every((e) => e.feasible));
  assert.deepEqual(r.failures, []);
});
