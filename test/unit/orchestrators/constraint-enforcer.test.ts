import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeAvailability, TaskState } from '../../../src/host/api/index.js';
import { ENFORCER_ERR, ENFORCER_MESSAGE, enforceConstraints } from '../../../src/plugins/orchestrators/index.js';
import { labelConstraints, node, service, task, taskSpec } from './fixtures.js';

const ids = (r: { taskId: string }[]) => r.map((x) => x.taskId).sort();

test("rejects tasks whose service's current constraints the node no longer meets, with SwarmKit's message", () => {
  const n = node('n', { labels: { zone: 'b' } });
  const svc = service({ spec: taskSpec({ constraints: ['node.labels.zone==a'] }) });
  // The task was placed under an older spec without constraints: the service's current ones win.
  const t = task({ id: 't', svc, nodeId: 'n', spec: taskSpec() });
  const out = enforceConstraints({ node: n, tasks: [t], services: { [svc.id]: svc } }, labelConstraints);
  assert.deepEqual(out, [{ taskId: 't', state: TaskState.REJECTED, message: ENFORCER_MESSAGE, err: ENFORCER_ERR }]);
  assert.equal(ENFORCER_MESSAGE, 'task rejected by constraint enforcer');
  assert.equal(ENFORCER_ERR, 'assigned node no longer meets constraints');
});

test("uses the task's own constraints when its service is gone", () => {
  const n = node('n', { labels: { zone: 'b' } });
  const t = task({ id: 't', nodeId: 'n', spec: taskSpec({ constraints: ['node.labels.zone==a'] }) });
  assert.deepEqual(ids(enforceConstraints({ node: n, tasks: [t], services: {} }, labelConstraints)), ['t']);
});

test('only ACTIVE nodes are enforced, and only tasks desired ASSIGNED..COMPLETE that have not stopped', () => {
  const svc = service({ spec: taskSpec({ constraints: ['node.labels.zone==a'] }) });
  const tasks = [
    task({ id: 'run', svc, nodeId: 'n' }),
    task({ id: 'stopping', svc, nodeId: 'n', desired: TaskState.SHUTDOWN }),
    task({ id: 'done', svc, nodeId: 'n', state: TaskState.COMPLETE }),
    task({ id: 'ready', svc, nodeId: 'n', desired: TaskState.READY, state: TaskState.ASSIGNED }),
  ];
  const services = { [svc.id]: svc };
  assert.deepEqual(ids(enforceConstraints({ node: node('n'), tasks, services }, labelConstraints)), ['ready', 'run']);
  assert.deepEqual(enforceConstraints({ node: node('n', { availability: NodeAvailability.PAUSE }), tasks, services }, labelConstraints), []);
  assert.deepEqual(enforceConstraints({ node: node('n', { availability: NodeAvailability.DRAIN }), tasks, services }, labelConstraints), []);
});

test('rejects, newest first, the tasks whose cumulative reservations exceed the node totals', () => {
  const svc = service({ spec: taskSpec({ cpu: 1e9, mem: 1024 }) });
  const n = node('n', { cpu: 2e9, mem: 10_000 });
  const tasks = [1, 2, 3].map((i) => task({ id: `t${i}`, svc, nodeId: 'n', appliedAt: i }));
  assert.deepEqual(ids(enforceConstraints({ node: n, tasks, services: { [svc.id]: svc } }, labelConstraints)), ['t3']);
  const small = node('n', { cpu: 8e9, mem: 2048 });
  assert.deepEqual(ids(enforceConstraints({ node: small, tasks, services: { [svc.id]: svc } }, labelConstraints)), ['t3']);
});

test('rejects tasks whose generic resources the node no longer offers', () => {
  const svc = service({ spec: taskSpec({ generic: { gpu: 1 } }) });
  const n = node('n', { genericNamed: { gpu: ['g0'] } });
  const keep = task({ id: 'keep', svc, nodeId: 'n', appliedAt: 1 });
  keep.assignedGenericResources = { gpu: ['g0'] };
  const lost = task({ id: 'lost', svc, nodeId: 'n', appliedAt: 2 });
  lost.assignedGenericResources = { gpu: ['g1'] };
  assert.deepEqual(ids(enforceConstraints({ node: n, tasks: [keep, lost], services: { [svc.id]: svc } }, labelConstraints)), ['lost']);
});
