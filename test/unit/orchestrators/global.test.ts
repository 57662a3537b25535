import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeAvailability, NodeStatusState, RestartCondition, TaskState } from '../../../src/host/api/index.js';
import { reconcileGlobal, reconcileGlobalNode } from '../../../src/plugins/orchestrators/index.js';
import { desiredIds, idGen, labelConstraints, node, nodesById, service, task, taskSpec } from './fixtures.js';

const ctx = () => ({ newId: idGen('g'), constraintsMet: labelConstraints });
const gsvc = (constraints: string[] = [], restart: RestartCondition = RestartCondition.ANY) =>
  service({ id: 'gs', name: 'agent', mode: { global: {} }, spec: taskSpec({ constraints, restart: { condition: restart } }) });

test('creates one task per eligible node with the node preset, named by node id', () => {
  const ns = nodesById(node('n1'), node('n2'), node('down', { state: NodeStatusState.DOWN }), node('drain', { availability: NodeAvailability.DRAIN }));
  const svc = gsvc();
  const plan = reconcileGlobal({ serviceId: svc.id, service: svc, tasks: [], nodes: ns, nowMs: 5 }, ctx());
  assert.deepEqual(plan.create.map((t) => t.nodeId), ['n1', 'n2']);
  assert.equal(plan.create[0]!.slot, 0);
  assert.equal(plan.create[0]!.annotations.name, 'agent.n1.g1');
  assert.equal(plan.create[0]!.desiredState, TaskState.RUNNING);
});

test('a node whose labels do not meet the constraints gets no task, and its existing task is shut down', () => {
  const ns = nodesById(node('a', { labels: { zone: 'a' } }), node('b', { labels: { zone: 'b' } }));
  const svc = gsvc(['node.labels.zone==a']);
  const tasks = [task({ id: 'tb', svc, slot: 0, nodeId: 'b' })];
  const plan = reconcileGlobal({ serviceId: svc.id, service: svc, tasks, nodes: ns, nowMs: 0 }, ctx());
  assert.deepEqual(plan.create.map((t) => t.nodeId), ['a']);
  assert.deepEqual(desiredIds(plan, TaskState.SHUTDOWN), ['tb']);
});

test('PAUSE leaves existing tasks alone and adds none', () => {
  const ns = nodesById(node('p', { availability: NodeAvailability.PAUSE }), node('q', { availability: NodeAvailability.PAUSE }));
  const svc = gsvc();
  const tasks = [task({ id: 'tp', svc, slot: 0, nodeId: 'p' })];
  const plan = reconcileGlobal({ serviceId: svc.id, service: svc, tasks, nodes: ns, nowMs: 0 }, ctx());
  assert.deepEqual(plan.create, []);
  assert.deepEqual(plan.setDesired, []);
  assert.deepEqual(plan.restart, []);
});

test('a failed task on a PAUSED node is shut down, not restarted; on an active node it is restarted there', () => {
  const ns = nodesById(node('p', { availability: NodeAvailability.PAUSE }), node('a'));
  const svc = gsvc();
  const tasks = [task({ id: 'fp', svc, slot: 0, nodeId: 'p', state: TaskState.FAILED }), task({ id: 'fa', svc, slot: 0, nodeId: 'a', state: TaskState.FAILED })];
  const plan = reconcileGlobal({ serviceId: svc.id, service: svc, tasks, nodes: ns, nowMs: 0 }, ctx());
  assert.deepEqual(desiredIds(plan, TaskState.SHUTDOWN), ['fp']);
  assert.deepEqual(plan.restart.map((r) => r.taskId), ['fa']);
  assert.deepEqual(plan.create, []);
});

test('tasks on DOWN, DRAINED or deleted nodes are shut down with no replacement', () => {
  const ns = nodesById(node('down', { state: NodeStatusState.DOWN }), node('drain', { availability: NodeAvailability.DRAIN }));
  const svc = gsvc();
  const tasks = ['down', 'drain', 'gone'].map((n) => task({ id: `t-${n}`, svc, slot: 0, nodeId: n }));
  const plan = reconcileGlobal({ serviceId: svc.id, service: svc, tasks, nodes: ns, nowMs: 0 }, ctx());
  assert.deepEqual(desiredIds(plan, TaskState.SHUTDOWN), ['t-down', 't-drain', 't-gone']);
  assert.deepEqual(plan.create, []);
  assert.deepEqual(plan.restart, []);
});

test('a node with a live task is handed to the updater, not given a second task', () => {
  const ns = nodesById(node('a'));
  const svc = gsvc();
  const plan = reconcileGlobal({ serviceId: svc.id, service: svc, tasks: [task({ id: 'ta', svc, slot: 0, nodeId: 'a' })], nodes: ns, nowMs: 0 }, ctx());
  assert.deepEqual(plan.create, []);
  assert.deepEqual(plan.updaterSlots, [['ta']]);
});

test('a stopped task with restart condition none holds its node (no new task)', () => {
  const ns = nodesById(node('a'));
  const svc = gsvc([], RestartCondition.NONE);
  const tasks = [task({ id: 'done', svc, slot: 0, nodeId: 'a', state: TaskState.COMPLETE, desired: TaskState.SHUTDOWN })];
  const plan = reconcileGlobal({ serviceId: svc.id, service: svc, tasks, nodes: ns, nowMs: 0 }, ctx());
  assert.deepEqual(plan.create, []);
});

test('node event: a node that joins gets one task per matching global service', () => {
  const a = gsvc();
  const b = { ...gsvc(['node.labels.gpu==yes']), id: 'gs2' };
  const plan = reconcileGlobalNode({ nodeId: 'n', node: node('n'), services: [a, b], tasksOnNode: [], nowMs: 0 }, ctx());
  assert.deepEqual(plan.create.map((t) => t.serviceId), ['gs']);
});

test('node event: drain or down shuts down every global task on the node; pause changes nothing', () => {
  const svc = gsvc();
  const tasks = [task({ id: 't', svc, slot: 0, nodeId: 'n' })];
  for (const [n, expect] of [
    [node('n', { availability: NodeAvailability.DRAIN }), ['t']],
    [node('n', { state: NodeStatusState.DOWN }), ['t']],
    [node('n', { availability: NodeAvailability.PAUSE }), []],
  ] as const) {
    const plan = reconcileGlobalNode({ nodeId: 'n', node: n, services: [svc], tasksOnNode: tasks, nowMs: 0 }, ctx());
    assert.deepEqual(desiredIds(plan, TaskState.SHUTDOWN), expect);
    assert.deepEqual(plan.create, []);
  }
});

test('node event: a deleted node has its global tasks deleted', () => {
  const svc = gsvc();
  const plan = reconcileGlobalNode({ nodeId: 'n', services: [svc], tasksOnNode: [task({ id: 't', svc, slot: 0, nodeId: 'n' })], nowMs: 0 }, ctx());
  assert.deepEqual(plan.remove, ['t']);
});

test('node event on an active node: dirty and surplus tasks are shut down; a new one is added only if no clean one remains', () => {
  const svc = { ...gsvc(), specVersion: 2 };
  svc.spec = { ...svc.spec, task: taskSpec({ image: 'new' }) };
  const clean1 = task({ id: 'c1', svc, slot: 0, nodeId: 'n' });
  const clean2 = task({ id: 'c2', svc, slot: 0, nodeId: 'n' });
  const dirty = task({ id: 'd', svc, slot: 0, nodeId: 'n', specVersion: 1, spec: taskSpec({ image: 'old' }) });
  let plan = reconcileGlobalNode({ nodeId: 'n', node: node('n'), services: [svc], tasksOnNode: [clean1, clean2, dirty], nowMs: 0 }, ctx());
  assert.deepEqual(desiredIds(plan, TaskState.SHUTDOWN), ['c2', 'd']);
  assert.deepEqual(plan.create, []);
  plan = reconcileGlobalNode({ nodeId: 'n', node: node('n'), services: [svc], tasksOnNode: [dirty], nowMs: 0 }, ctx());
  assert.deepEqual(desiredIds(plan, TaskState.SHUTDOWN), ['d']);
  assert.equal(plan.create.length, 1);
  assert.equal(plan.create[0]!.spec.container.image, 'new');
});

test('a deleted global service sets every task to desired REMOVE', () => {
  const plan = reconcileGlobal({ serviceId: 'gs', tasks: [task({ id: 't', slot: 0, nodeId: 'a' })], nodes: {}, nowMs: 0 }, ctx());
  assert.deepEqual(desiredIds(plan, TaskState.REMOVE), ['t']);
});

test('a failed task goes to the restart supervisor only, not also to the rolling updater', () => {
  // Found by the orchestration simulation: during an update of a global service, a failed task was both restarted
  // and replaced by the updater, leaving two tasks desired RUNNING on one node.
  const ns = nodesById(node('n1'), node('n2'));
  const svc = { ...gsvc(), specVersion: 7 };
  const tasks = [
    task({ id: 'failed', svc, slot: 0, nodeId: 'n1', state: TaskState.FAILED, specVersion: 3 }),
    task({ id: 'ok', svc, slot: 0, nodeId: 'n2', state: TaskState.RUNNING, specVersion: 3 }),
  ];
  const plan = reconcileGlobal({ serviceId: svc.id, service: svc, tasks, nodes: ns, nowMs: 0 }, ctx());
  assert.deepEqual(plan.restart.map((r) => r.taskId), ['failed']);
  assert.deepEqual(plan.updaterSlots, [['ok']]);
  assert.deepEqual(plan.create, []);
});
