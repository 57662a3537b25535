// The restart path end to end over the pure cores: the replicated reconcile finds tasks on invalid nodes, the
// restart supervisor replaces them in the same slot, and the delayed start fires per the node's state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeAvailability, NodeStatusState, TaskState, type Node, type Task } from '../../../src/host/api/index.js';
import { reconcileReplicated, type Plan } from '../../../src/plugins/orchestrators/index.js';
import { RestartSupervisor } from '../../../src/plugins/restart/index.js';
import { idGen, node, nodesById, service, task } from './fixtures.js';

function applyPlan(tasks: Map<string, Task>, plan: Plan): void {
  for (const t of plan.create) tasks.set(t.id, structuredClone(t));
  for (const c of plan.setDesired) {
    const t = tasks.get(c.taskId);
    if (t && t.desiredState < c.desiredState) t.desiredState = c.desiredState;
  }
  for (const id of plan.remove) tasks.delete(id);
}

function scenario(bad: Node) {
  const svc = service({ replicas: 2 });
  const nodes = nodesById(node('ok'), bad);
  const tasks = new Map<string, Task>([
    ['a', task({ id: 'a', svc, slot: 1, nodeId: 'ok' })],
    ['b', task({ id: 'b', svc, slot: 2, nodeId: bad.id })],
  ]);
  const sup = new RestartSupervisor();
  const newId = idGen('r');
  const world = { task: (id: string) => tasks.get(id), node: (id: string) => nodes[id] };
  const plan = reconcileReplicated({ serviceId: svc.id, service: svc, tasks: [...tasks.values()], nodes, nowMs: 1_000 }, { newId });
  assert.deepEqual(plan.create, []);
  const restarts = sup.restartAll(plan.restart, { world, service: () => svc, nowMs: 1_000, newId });
  applyPlan(tasks, plan);
  applyPlan(tasks, restarts.plan);
  return { svc, nodes, tasks, sup, world, newId, restarts };
}

test('a task on a DOWN node is replaced in the same slot and started after the restart delay', () => {
  const { tasks, sup, world, restarts } = scenario(node('bad', { state: NodeStatusState.DOWN }));
  const repl = restarts.plan.create[0]!;
  assert.equal(repl.slot, 2);
  assert.equal(tasks.get('b')!.desiredState, TaskState.SHUTDOWN);
  assert.equal(restarts.wakeAtMs, 6_000);
  assert.deepEqual(sup.due(5_999, world).plan.setDesired, []);
  assert.deepEqual(sup.due(6_000, world).plan.setDesired.map((c) => c.taskId), [repl.id]);
});

test('a task on a DRAINED node is replaced with no delay, starting as soon as the old one stops', () => {
  const { tasks, sup, world, restarts } = scenario(node('bad', { availability: NodeAvailability.DRAIN }));
  const repl = restarts.plan.create[0]!;
  assert.equal(restarts.wakeAtMs, 1_000);
  assert.deepEqual(sup.due(1_000, world).plan.setDesired, [], 'the old task still runs');
  tasks.get('b')!.status.state = TaskState.SHUTDOWN;
  assert.deepEqual(sup.due(1_200, world).plan.setDesired.map((c) => c.taskId), [repl.id]);
});

test('after the restart the next reconcile sees both slots filled and creates nothing', () => {
  const { svc, nodes, tasks, newId } = scenario(node('bad', { state: NodeStatusState.DOWN }));
  const again = reconcileReplicated({ serviceId: svc.id, service: svc, tasks: [...tasks.values()], nodes, nowMs: 2_000 }, { newId });
  assert.deepEqual(again.create, []);
  assert.deepEqual(again.restart, []);
  assert.equal(again.updaterSlots!.length, 2);
});
