import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TaskState, type Task } from '../../../src/host/api/index.js';
import { reapTasks, retentionFor } from '../../../src/plugins/orchestrators/index.js';
import { service, task, taskSpec } from './fixtures.js';

/** A slot with `n` stopped tasks (oldest first, applied at 1..n) and one running one. */
function slotHistory(svc = service(), n: number, slot = 1): Task[] {
  const out: Task[] = [];
  for (let i = 1; i <= n; i++) out.push(task({ id: `old${slot}-${i}`, svc, slot, nodeId: 'n1', state: TaskState.FAILED, desired: TaskState.SHUTDOWN, appliedAt: i }));
  out.push(task({ id: `live${slot}`, svc, slot, nodeId: 'n1', appliedAt: 1000 }));
  return out;
}

const limits = [
  { name: 'default 5 keeps 4 stopped + the live one', limit: 5, stopped: 7, deleted: ['old1-1', 'old1-2', 'old1-3'] },
  { name: 'under the limit nothing goes', limit: 5, stopped: 3, deleted: [] },
  { name: 'limit 1 keeps only the live task', limit: 1, stopped: 2, deleted: ['old1-1', 'old1-2'] },
  { name: 'negative keeps everything', limit: -1, stopped: 20, deleted: [] },
];
for (const c of limits) {
  test(`history retention: ${c.name}`, () => {
    const svc = service();
    assert.deepEqual(reapTasks({ tasks: slotHistory(svc, c.stopped), services: { [svc.id]: svc }, retentionLimit: c.limit }), c.deleted);
  });
}

test('max attempts set: the limit is max_attempts + 1, overriding the cluster limit', () => {
  const svc = service({ spec: taskSpec({ restart: { maxAttempts: 3 } }) });
  assert.equal(retentionFor(svc, 5), 4);
  assert.equal(retentionFor(svc, -1), 4);
  assert.deepEqual(reapTasks({ tasks: slotHistory(svc, 5), services: { [svc.id]: svc }, retentionLimit: 10 }), ['old1-1', 'old1-2']);
});

test('history is per slot, and per (service, node) for global services', () => {
  const svc = service();
  const tasks = [...slotHistory(svc, 2, 1), ...slotHistory(svc, 2, 2)];
  assert.deepEqual(reapTasks({ tasks, services: { [svc.id]: svc }, retentionLimit: 2 }), ['old1-1', 'old2-1']);
  const g = service({ id: 'g', mode: { global: {} } });
  const gt = [
    task({ id: 'a1', svc: g, slot: 0, nodeId: 'a', state: TaskState.FAILED, appliedAt: 1 }),
    task({ id: 'a2', svc: g, slot: 0, nodeId: 'a' }),
    task({ id: 'b1', svc: g, slot: 0, nodeId: 'b', state: TaskState.FAILED, appliedAt: 1 }),
  ];
  assert.deepEqual(reapTasks({ tasks: gt, services: { g }, retentionLimit: 1 }), ['a1']);
});

test('live tasks are never trimmed, even above the limit; never-to-run ones are', () => {
  const svc = service();
  const tasks = [
    task({ id: 'run1', svc, slot: 1, nodeId: 'n1', appliedAt: 1 }),
    task({ id: 'run2', svc, slot: 1, nodeId: 'n1', appliedAt: 2 }),
    task({ id: 'never', svc, slot: 1, state: TaskState.PENDING, desired: TaskState.SHUTDOWN, appliedAt: 3 }),
  ];
  assert.deepEqual(reapTasks({ tasks, services: { [svc.id]: svc }, retentionLimit: 1 }), ['never']);
});

test('oldest first uses appliedAt, else the status timestamp', () => {
  const svc = service();
  const tasks = [
    task({ id: 'newer', svc, slot: 1, nodeId: 'n1', state: TaskState.FAILED, appliedAt: 50 }),
    task({ id: 'older', svc, slot: 1, nodeId: 'n1', state: TaskState.FAILED, at: 10 }),
    task({ id: 'live', svc, slot: 1, nodeId: 'n1', appliedAt: 100 }),
  ];
  assert.deepEqual(reapTasks({ tasks, services: { [svc.id]: svc }, retentionLimit: 2 }), ['older']);
});

test('jobs are not trimmed', () => {
  const j = service({ id: 'j', mode: { replicatedJob: { maxConcurrent: 1, totalCompletions: 1 } } });
  const tasks = [1, 2, 3].map((i) => task({ id: `j${i}`, svc: j, slot: 0, nodeId: 'n1', state: TaskState.FAILED, desired: TaskState.SHUTDOWN, appliedAt: i }));
  assert.deepEqual(reapTasks({ tasks, services: { j }, retentionLimit: 1 }), []);
});

test('cleanup: service-less orphaned tasks and desired-REMOVE tasks that never ran or finished are deleted', () => {
  const svc = service();
  const gone = service({ id: 'gone' });
  const tasks = [
    task({ id: 'orphan', svc: gone, state: TaskState.ORPHANED }),
    task({ id: 'orphan-running', svc: gone, state: TaskState.RUNNING }),
    task({ id: 'rm-pending', svc, slot: 1, state: TaskState.PENDING, desired: TaskState.REMOVE }),
    task({ id: 'rm-running', svc, slot: 2, nodeId: 'n1', state: TaskState.RUNNING, desired: TaskState.REMOVE }),
    task({ id: 'rm-done', svc, slot: 3, nodeId: 'n1', state: TaskState.SHUTDOWN, desired: TaskState.REMOVE }),
  ];
  assert.deepEqual(reapTasks({ tasks, services: { [svc.id]: svc }, retentionLimit: 5 }), ['orphan', 'rm-done', 'rm-pending']);
});
