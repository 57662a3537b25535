import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeAvailability, NodeStatusState, TaskState } from '../../../src/host/api/index.js';
import { reconcileGlobalJob, reconcileReplicatedJob } from '../../../src/plugins/orchestrators/index.js';
import { desiredIds, idGen, labelConstraints, node, nodesById, service, task, taskSpec } from './fixtures.js';

const rjob = (total: number, maxConcurrent: number, iteration = 0) =>
  service({ id: 'job', name: 'batch', mode: { replicatedJob: { totalCompletions: total, maxConcurrent } }, jobIteration: iteration });
const nodes = nodesById(node('n1'));

test('a new replicated job starts max-concurrent tasks in slots 0.. at desired COMPLETE with the iteration', () => {
  const svc = rjob(10, 3, 2);
  const plan = reconcileReplicatedJob({ serviceId: svc.id, service: svc, tasks: [], nodes, nowMs: 0 }, { newId: idGen() });
  assert.deepEqual(plan.create.map((t) => t.slot), [0, 1, 2]);
  assert.ok(plan.create.every((t) => t.desiredState === TaskState.COMPLETE && t.jobIteration === 2));
});

const counting = [
  { name: 'completed tasks free concurrency', total: 5, max: 2, done: [0, 1], running: [], expectSlots: [2, 3] },
  { name: 'running tasks use up concurrency', total: 5, max: 2, done: [0], running: [1, 2], expectSlots: [] },
  { name: 'never more than the completions left', total: 3, max: 5, done: [0, 1], running: [], expectSlots: [2] },
  { name: 'all completed: nothing more', total: 2, max: 2, done: [0, 1], running: [], expectSlots: [] },
  { name: 'max concurrent 0 means up to the total', total: 3, max: 0, done: [], running: [1], expectSlots: [0, 2] },
];
for (const c of counting) {
  test(`replicated job counting: ${c.name}`, () => {
    const svc = rjob(c.total, c.max);
    const tasks = [
      ...c.done.map((s) => task({ id: `d${s}`, svc, slot: s, nodeId: 'n1', state: TaskState.COMPLETE, desired: TaskState.COMPLETE, jobIteration: 0 })),
      ...c.running.map((s) => task({ id: `r${s}`, svc, slot: s, nodeId: 'n1', state: TaskState.RUNNING, desired: TaskState.COMPLETE, jobIteration: 0 })),
    ];
    const plan = reconcileReplicatedJob({ serviceId: svc.id, service: svc, tasks, nodes, nowMs: 0 }, { newId: idGen() });
    assert.deepEqual(plan.create.map((t) => t.slot), c.expectSlots);
  });
}

test('a failed job task goes to the restart supervisor and keeps its slot counted', () => {
  const svc = rjob(2, 2);
  const tasks = [
    task({ id: 'f', svc, slot: 0, nodeId: 'n1', state: TaskState.FAILED, desired: TaskState.COMPLETE, jobIteration: 0 }),
    task({ id: 'r', svc, slot: 1, nodeId: 'n1', desired: TaskState.COMPLETE, jobIteration: 0 }),
  ];
  const plan = reconcileReplicatedJob({ serviceId: svc.id, service: svc, tasks, nodes, nowMs: 0 }, { newId: idGen() });
  assert.deepEqual(plan.restart.map((r) => r.taskId), ['f']);
  assert.deepEqual(plan.create, []);
});

test('a re-run (next iteration) removes old tasks still running and starts afresh', () => {
  const svc = rjob(2, 2, 1);
  const tasks = [
    task({ id: 'old-run', svc, slot: 0, nodeId: 'n1', desired: TaskState.COMPLETE, jobIteration: 0 }),
    task({ id: 'old-done', svc, slot: 1, nodeId: 'n1', state: TaskState.COMPLETE, desired: TaskState.COMPLETE, jobIteration: 0 }),
  ];
  const plan = reconcileReplicatedJob({ serviceId: svc.id, service: svc, tasks, nodes, nowMs: 0 }, { newId: idGen() });
  assert.deepEqual(desiredIds(plan, TaskState.REMOVE), ['old-run']);
  assert.deepEqual(plan.create.map((t) => [t.slot, t.jobIteration]), [[0, 1], [1, 1]]);
});

test('a global job runs once on every ACTIVE, READY node meeting constraints; completed nodes are not re-run', () => {
  const svc = service({ id: 'gj', mode: { globalJob: {} }, spec: taskSpec({ constraints: ['node.labels.role==db'] }) });
  const ns = nodesById(
    node('a', { labels: { role: 'db' } }),
    node('b', { labels: { role: 'db' } }),
    node('c', { labels: { role: 'web' } }),
    node('p', { labels: { role: 'db' }, availability: NodeAvailability.PAUSE }),
    node('u', { labels: { role: 'db' }, state: NodeStatusState.UNKNOWN }),
  );
  const tasks = [task({ id: 'done-a', svc, slot: 0, nodeId: 'a', state: TaskState.COMPLETE, desired: TaskState.COMPLETE, jobIteration: 0 })];
  const plan = reconcileGlobalJob({ serviceId: svc.id, service: svc, tasks, nodes: ns, nowMs: 0 }, { newId: idGen(), constraintsMet: labelConstraints });
  assert.deepEqual(plan.create.map((t) => t.nodeId), ['b']);
  assert.equal(plan.create[0]!.desiredState, TaskState.COMPLETE);
});

test('a global job shuts down tasks on invalid nodes and restarts failed ones', () => {
  const svc = service({ id: 'gj', mode: { globalJob: {} } });
  const ns = nodesById(node('a'), node('d', { state: NodeStatusState.DOWN }));
  const tasks = [
    task({ id: 'on-down', svc, slot: 0, nodeId: 'd', desired: TaskState.COMPLETE, jobIteration: 0 }),
    task({ id: 'failed', svc, slot: 0, nodeId: 'a', state: TaskState.FAILED, desired: TaskState.COMPLETE, jobIteration: 0 }),
  ];
  const plan = reconcileGlobalJob({ serviceId: svc.id, service: svc, tasks, nodes: ns, nowMs: 0 }, { newId: idGen() });
  assert.deepEqual(desiredIds(plan, TaskState.SHUTDOWN), ['on-down']);
  assert.deepEqual(plan.restart.map((r) => r.taskId), ['failed']);
  assert.deepEqual(plan.create, []);
});
