import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Service, Task } from '../../../src/host/api/index.js';
import { isSlotDirty, isTaskDirty } from '../../../src/plugins/orchestrators/index.js';
import { labelConstraints, node, nodesById, service, task, taskSpec } from './fixtures.js';

const nodes = nodesById(node('a', { labels: { zone: 'a' } }), node('b', { labels: { zone: 'b' } }));

function updated(base: Service, change: (s: Service) => void): Service {
  const s = structuredClone(base);
  s.specVersion = base.specVersion + 1;
  change(s);
  return s;
}

const base = service({ specVersion: 1 });
base.spec.endpoint = { mode: 'vip', ports: [] };
const onA = (): Task => {
  const t = task({ id: 't', svc: base, nodeId: 'a' });
  t.endpoint = structuredClone(base.spec.endpoint);
  return t;
};

const cases: { name: string; svc: Service; t?: Task; dirty: boolean }[] = [
  { name: 'same spec version is clean', svc: base, dirty: false },
  { name: 'image change is dirty', svc: updated(base, (s) => (s.spec.task.container.image = 'other')), dirty: true },
  { name: 'env change is dirty', svc: updated(base, (s) => (s.spec.task.container.env = ['A=1'])), dirty: true },
  { name: 'force_update bump is dirty', svc: updated(base, (s) => s.spec.task.forceUpdate++), dirty: true },
  { name: 'replicas change is clean', svc: updated(base, (s) => (s.spec.mode = { replicated: { replicas: 9 } })), dirty: false },
  { name: 'service label change is clean', svc: updated(base, (s) => (s.spec.annotations.labels = { x: 'y' })), dirty: false },
  {
    name: 'update config change is clean',
    svc: updated(base, (s) => (s.spec.update = { parallelism: 2, delayMs: 0, failureAction: 0, monitorMs: 0, maxFailureRatio: 0, order: 0 })),
    dirty: false,
  },
  { name: 'placement-only change the node still meets is clean', svc: updated(base, (s) => (s.spec.task.placement.constraints = ['node.labels.zone==a'])), dirty: false },
  { name: 'placement-only change the node no longer meets is dirty', svc: updated(base, (s) => (s.spec.task.placement.constraints = ['node.labels.zone==b'])), dirty: true },
  {
    name: 'placement-only change on an unassigned task is dirty',
    svc: updated(base, (s) => (s.spec.task.placement.constraints = ['node.labels.zone==a'])),
    t: task({ id: 'u', svc: base }),
    dirty: true,
  },
  {
    name: 'placement plus image change is dirty even if the node still meets the constraints',
    svc: updated(base, (s) => {
      s.spec.task.placement.constraints = ['node.labels.zone==a'];
      s.spec.task.container.image = 'other';
    }),
    dirty: true,
  },
  {
    name: 'endpoint change is dirty for a task with an endpoint',
    svc: updated(base, (s) => (s.spec.endpoint = { mode: 'dnsrr', ports: [] })),
    dirty: true,
  },
  {
    name: 'endpoint change is clean for a task without one',
    svc: updated(base, (s) => (s.spec.endpoint = { mode: 'dnsrr', ports: [] })),
    t: task({ id: 'ne', svc: base, nodeId: 'a' }),
    dirty: false,
  },
  { name: 'new spec version with an identical spec is clean', svc: updated(base, () => {}), dirty: false },
];
for (const c of cases) {
  test(`dirty detection: ${c.name}`, () => {
    const t = c.t ?? onA();
    assert.equal(isTaskDirty(c.svc, t, nodes[t.nodeId], labelConstraints), c.dirty);
  });
}

test('a slot with more than one task is dirty even when each task is clean', () => {
  const svc = service({ spec: taskSpec() });
  const a = task({ id: 'a', svc, nodeId: 'a' });
  const b = task({ id: 'b', svc, nodeId: 'b' });
  assert.equal(isSlotDirty(svc, [a], nodes, labelConstraints), false);
  assert.equal(isSlotDirty(svc, [a, b], nodes, labelConstraints), true);
});
