import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeAvailability, NodeStatusState, RestartCondition, TaskState, UpdateState } from '../../../src/host/api/index.js';
import { reconcileReplicated, startupFixups } from '../../../src/plugins/orchestrators/index.js';
import { desiredIds, idGen, node, nodesById, service, task, taskSpec } from './fixtures.js';

const nodes = nodesById(node('n1'), node('n2'), node('n3'));

test('scaling up from nothing creates NEW "created" tasks at desired RUNNING in slots 1..N', () => {
  const svc = service({ replicas: 3, specVersion: 7 });
  svc.spec.endpoint = { mode: 'vip', ports: [] };
  const plan = reconcileReplicated({ serviceId: svc.id, service: svc, tasks: [], nodes, nowMs: 1000 }, { newId: idGen('t') });
  assert.deepEqual(plan.create.map((t) => t.slot), [1, 2, 3]);
  const t = plan.create[0]!;
  assert.equal(t.annotations.name, 'web.1.t1');
  assert.equal(t.status.state, TaskState.NEW);
  assert.equal(t.status.message, 'created');
  assert.equal(t.desiredState, TaskState.RUNNING);
  assert.equal(t.specVersion, 7);
  assert.equal(t.nodeId, '');
  assert.deepEqual(t.serviceAnnotations, svc.spec.annotations);
  assert.deepEqual(t.endpoint, { mode: 'vip', ports: [] });
  assert.equal(t.meta.createdAt, 1000);
});

test('scaling up fills the lowest free slots', () => {
  const svc = service({ replicas: 4 });
  const tasks = [task({ id: 'a', slot: 2, nodeId: 'n1' }), task({ id: 'b', slot: 4, nodeId: 'n2' })];
  const plan = reconcileReplicated({ serviceId: svc.id, service: svc, tasks, nodes, nowMs: 0 }, { newId: idGen() });
  assert.deepEqual(plan.create.map((t) => t.slot), [1, 3]);
  assert.deepEqual(plan.setDesired, []);
  assert.deepEqual(plan.updaterSlots, [['a'], ['b']]);
});

test('a dead slot is reused by a scale-up and its old records are kept', () => {
  const svc = service({ replicas: 2 });
  const tasks = [
    task({ id: 'live', slot: 1, nodeId: 'n1' }),
    task({ id: 'dead', slot: 2, nodeId: 'n1', state: TaskState.SHUTDOWN, desired: TaskState.SHUTDOWN }),
  ];
  const plan = reconcileReplicated({ serviceId: svc.id, service: svc, tasks, nodes, nowMs: 0 }, { newId: idGen() });
  assert.deepEqual(plan.create.map((t) => t.slot), [2]);
  assert.deepEqual(plan.remove, []);
});

test('tasks of dead slots that are not reused are deleted', () => {
  const svc = service({ replicas: 1 });
  const tasks = [
    task({ id: 'live', slot: 1, nodeId: 'n1' }),
    task({ id: 'dead1', slot: 2, nodeId: 'n1', state: TaskState.SHUTDOWN, desired: TaskState.SHUTDOWN }),
    task({ id: 'dead2', slot: 2, nodeId: 'n2', state: TaskState.FAILED, desired: TaskState.SHUTDOWN }),
  ];
  const plan = reconcileReplicated({ serviceId: svc.id, service: svc, tasks, nodes, nowMs: 0 }, { newId: idGen() });
  assert.deepEqual(plan.create, []);
  assert.deepEqual(plan.remove.sort(), ['dead1', 'dead2']);
});

const victimCases: { name: string; replicas: number; tasks: ReturnType<typeof task>[]; removed: string[] }[] = [
  {
    name: 'unassigned slots go first',
    replicas: 2,
    tasks: [
      task({ id: 's1', slot: 1, nodeId: 'n1' }),
      task({ id: 's2', slot: 2, state: TaskState.PENDING }),
      task({ id: 's3', slot: 3, nodeId: 'n2' }),
    ],
    removed: ['s2'],
  },
  {
    name: 'then copies on the most loaded node (ordinal rule)',
    replicas: 2,
    tasks: [
      task({ id: 's1', slot: 1, nodeId: 'n1' }),
      task({ id: 's2', slot: 2, nodeId: 'n1' }),
      task({ id: 's3', slot: 3, nodeId: 'n1' }),
      task({ id: 's4', slot: 4, nodeId: 'n2' }),
    ],
    removed: ['s2', 's3'],
  },
  {
    name: 'running slots are kept before starting ones on the same node',
    replicas: 1,
    tasks: [task({ id: 's1', slot: 1, nodeId: 'n1', state: TaskState.STARTING }), task({ id: 's2', slot: 2, nodeId: 'n1' })],
    removed: ['s1'],
  },
  {
    name: 'a slot in flux (two tasks) goes before single-task slots',
    replicas: 2,
    tasks: [
      task({ id: 's1a', slot: 1, nodeId: 'n1' }),
      task({ id: 's1b', slot: 1, nodeId: 'n3', state: TaskState.STARTING }),
      task({ id: 's2', slot: 2, nodeId: 'n1' }),
      task({ id: 's3', slot: 3, nodeId: 'n2' }),
    ],
    removed: ['s1a', 's1b'],
  },
  {
    name: 'with one task per node, the highest slot goes',
    replicas: 2,
    tasks: [task({ id: 's1', slot: 1, nodeId: 'n1' }), task({ id: 's2', slot: 2, nodeId: 'n2' }), task({ id: 's3', slot: 3, nodeId: 'n3' })],
    removed: ['s3'],
  },
  {
    name: 'ordinals interleave nodes: 3 on n1 and 2 on n2 down to 2 keeps one per node',
    replicas: 2,
    tasks: [
      task({ id: 'a1', slot: 1, nodeId: 'n1' }),
      task({ id: 'a2', slot: 2, nodeId: 'n1' }),
      task({ id: 'a3', slot: 3, nodeId: 'n1' }),
      task({ id: 'b4', slot: 4, nodeId: 'n2' }),
      task({ id: 'b5', slot: 5, nodeId: 'n2' }),
    ],
    removed: ['a2', 'a3', 'b5'],
  },
];

for (const c of victimCases) {
  test(`scale down victim choice: ${c.name}`, () => {
    const svc = service({ replicas: c.replicas });
    const plan = reconcileReplicated({ serviceId: svc.id, service: svc, tasks: c.tasks, nodes, nowMs: 0 }, { newId: idGen() });
    assert.deepEqual(desiredIds(plan, TaskState.REMOVE), c.removed);
    assert.equal(plan.updaterSlots!.length, c.replicas);
    assert.deepEqual(plan.create, []);
  });
}

test('tasks on DOWN, DRAINED or missing nodes go to the restart supervisor; their slots stay counted', () => {
  const ns = nodesById(
    node('ok'),
    node('down', { state: NodeStatusState.DOWN }),
    node('drained', { availability: NodeAvailability.DRAIN }),
    node('paused', { availability: NodeAvailability.PAUSE }),
  );
  const svc = service({ replicas: 5 });
  const tasks = [
    task({ id: 'a', slot: 1, nodeId: 'ok' }),
    task({ id: 'b', slot: 2, nodeId: 'down' }),
    task({ id: 'c', slot: 3, nodeId: 'drained' }),
    task({ id: 'd', slot: 4, nodeId: 'gone' }),
    task({ id: 'e', slot: 5, nodeId: 'paused' }),
  ];
  const plan = reconcileReplicated({ serviceId: svc.id, service: svc, tasks, nodes: ns, nowMs: 0 }, { newId: idGen() });
  assert.deepEqual(plan.restart.map((r) => r.taskId), ['b', 'c', 'd']);
  assert.deepEqual(plan.create, []);
  assert.deepEqual(plan.setDesired, []);
});

test('a failed task at desired RUNNING goes to the restart supervisor', () => {
  const svc = service({ replicas: 1 });
  const tasks = [task({ id: 'f', slot: 1, nodeId: 'n1', state: TaskState.FAILED })];
  const plan = reconcileReplicated({ serviceId: svc.id, service: svc, tasks, nodes, nowMs: 0 }, { newId: idGen() });
  assert.deepEqual(plan.restart, [{ taskId: 'f', reason: 'task FAILED' }]);
  assert.deepEqual(plan.create, []);
});

test('a failed scale-down victim is removed, not restarted', () => {
  const svc = service({ replicas: 1 });
  const tasks = [task({ id: 'ok', slot: 1, nodeId: 'n1' }), task({ id: 'f', slot: 2, nodeId: 'n1', state: TaskState.FAILED })];
  const plan = reconcileReplicated({ serviceId: svc.id, service: svc, tasks, nodes, nowMs: 0 }, { newId: idGen() });
  assert.deepEqual(desiredIds(plan, TaskState.REMOVE), ['f']);
  assert.deepEqual(plan.restart, []);
});

const heldCases = [
  { name: 'restart condition none', cond: RestartCondition.NONE, state: TaskState.FAILED, refused: false, rolling: false, held: true },
  { name: 'on-failure after a clean exit', cond: RestartCondition.ON_FAILURE, state: TaskState.COMPLETE, refused: false, rolling: false, held: true },
  { name: 'max attempts reached (refused by the supervisor)', cond: RestartCondition.ANY, state: TaskState.FAILED, refused: true, rolling: false, held: true },
  { name: 'rollback in progress', cond: RestartCondition.ANY, state: TaskState.FAILED, refused: false, rolling: true, held: true },
  { name: 'restartable and not refused (dead slot)', cond: RestartCondition.ANY, state: TaskState.FAILED, refused: false, rolling: false, held: false },
];
for (const c of heldCases) {
  test(`a stopped slot whose task must not restart is ${c.held ? 'held, not refilled' : 'refilled'}: ${c.name}`, () => {
    const svc = service({ replicas: 1, spec: taskSpec({ restart: { condition: c.cond } }) });
    if (c.rolling) svc.updateStatus = { state: UpdateState.ROLLBACK_STARTED, startedAt: 0, completedAt: 0, message: '' };
    const tasks = [task({ id: 'x', svc, slot: 1, nodeId: 'n1', state: c.state, desired: TaskState.SHUTDOWN })];
    const input = { serviceId: svc.id, service: svc, tasks, nodes, nowMs: 0, noRestartTaskIds: c.refused ? ['x'] : [] };
    const plan = reconcileReplicated(input, { newId: idGen() });
    assert.equal(plan.create.length, c.held ? 0 : 1);
    assert.deepEqual(plan.updaterSlots, c.held ? [['x']] : []);
  });
}

test('a deleted service sets every task to desired REMOVE (never lowering) and drops restart history', () => {
  const tasks = [
    task({ id: 'a', slot: 1, nodeId: 'n1' }),
    task({ id: 'b', slot: 2, nodeId: 'n1', desired: TaskState.SHUTDOWN, state: TaskState.SHUTDOWN }),
    task({ id: 'c', slot: 3, desired: TaskState.REMOVE }),
  ];
  const plan = reconcileReplicated({ serviceId: 'svc', tasks, nodes, nowMs: 0 }, { newId: idGen() });
  assert.deepEqual(desiredIds(plan, TaskState.REMOVE), ['a', 'b']);
  assert.deepEqual(plan.forgetServices, ['svc']);
  assert.deepEqual(plan.create, []);
});

test('an equal count creates nothing and hands every slot to the updater', () => {
  const svc = service({ replicas: 2 });
  const tasks = [task({ id: 'a', slot: 1, nodeId: 'n1' }), task({ id: 'b', slot: 2, nodeId: 'n2' })];
  const plan = reconcileReplicated({ serviceId: svc.id, service: svc, tasks, nodes, nowMs: 0 }, { newId: idGen() });
  assert.deepEqual(plan.create, []);
  assert.deepEqual(plan.setDesired, []);
  assert.deepEqual(plan.updaterSlots, [['a'], ['b']]);
});

test('leader start-up deletes the tasks of services that vanished', () => {
  const svc = service();
  const plan = startupFixups({ [svc.id]: svc }, [task({ id: 'keep', svc }), task({ id: 'stale', svc: service({ id: 'gone' }) })]);
  assert.deepEqual(plan.remove, ['stale']);
});

test('a task on a drained node goes to the restart supervisor only, not also to the rolling updater', () => {
  // Found by the orchestration simulation: a drain and a spec change at once left two tasks desired RUNNING in the
  // drained task's slot (one from the restart, one from the updater).
  const nodes = nodesById(node('n1'), node('n2', { availability: NodeAvailability.DRAIN }));
  const svc = service({ replicas: 2, specVersion: 9 });
  const tasks = [
    task({ id: 'a', svc, slot: 1, nodeId: 'n1', state: TaskState.RUNNING, specVersion: 3 }),
    task({ id: 'b', svc, slot: 2, nodeId: 'n2', state: TaskState.RUNNING, specVersion: 3 }),
  ];
  const plan = reconcileReplicated({ serviceId: svc.id, service: svc, tasks, nodes, nowMs: 0 }, { newId: idGen() });
  assert.deepEqual(plan.restart.map((r) => r.taskId), ['b']);
  assert.deepEqual(plan.updaterSlots, [['a']]);
});
