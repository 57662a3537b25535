import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeAvailability, NodeStatusState, TaskState, type Node, type Task } from '../../../src/host/api/index.js';
import { RestartSupervisor, type RestartOutcome, type WorldView } from '../../../src/plugins/restart/index.js';
import { idGen, node, service, task, taskSpec } from '../orchestrators/fixtures.js';

function world(tasks: Task[], nodes: Node[]): WorldView {
  return { task: (id) => tasks.find((t) => t.id === id), node: (id) => nodes.find((n) => n.id === id) };
}

function restarted(o: RestartOutcome): Extract<RestartOutcome, { kind: 'restarted' }> {
  assert.equal(o.kind, 'restarted');
  return o as Extract<RestartOutcome, { kind: 'restarted' }>;
}

test('a failed task is stopped and replaced in the same slot, unassigned, started after the 5 s delay', () => {
  const sup = new RestartSupervisor();
  const svc = service();
  const old = task({ id: 'old', svc, slot: 3, nodeId: 'n1', state: TaskState.FAILED });
  const r = restarted(sup.restart({ task: old, service: svc, node: node('n1'), nowMs: 1_000, newId: idGen('r') }));
  assert.deepEqual(r.plan.setDesired, [{ taskId: 'old', desiredState: TaskState.SHUTDOWN, reason: 'restarting' }]);
  const repl = r.plan.create[0]!;
  assert.equal(repl.slot, 3);
  assert.equal(repl.nodeId, '');
  assert.equal(repl.desiredState, TaskState.READY);
  assert.equal(r.wakeAtMs, 6_000);
  const w = world([old, repl], [node('n1')]);
  const early = sup.due(5_999, w);
  assert.deepEqual(early.plan.setDesired, []);
  assert.equal(early.wakeAtMs, 6_000);
  const onTime = sup.due(6_000, w);
  assert.deepEqual(onTime.plan.setDesired, [{ taskId: repl.id, desiredState: TaskState.RUNNING, reason: 'delayed start' }]);
  assert.equal(sup.isPending(repl.id), false);
});

test('a task on a DOWN node is replaced after the delay without waiting for it', () => {
  const sup = new RestartSupervisor();
  const svc = service();
  const down = node('n1', { state: NodeStatusState.DOWN });
  const old = task({ id: 'old', svc, nodeId: 'n1', state: TaskState.RUNNING });
  const r = restarted(sup.restart({ task: old, service: svc, node: down, nowMs: 0, newId: idGen() }));
  assert.equal(r.plan.delayedStarts[0]!.waitForTaskId, undefined);
  const w = world([old, r.plan.create[0]!], [down]);
  assert.equal(sup.due(5_000, w).plan.setDesired.length, 1);
});

test('a task on a DRAINED node is replaced with no delay, once the old task stops', () => {
  const sup = new RestartSupervisor();
  const svc = service();
  const drained = node('n1', { availability: NodeAvailability.DRAIN });
  const old = task({ id: 'old', svc, nodeId: 'n1', state: TaskState.RUNNING });
  const r = restarted(sup.restart({ task: old, service: svc, node: drained, nowMs: 0, newId: idGen() }));
  assert.equal(r.wakeAtMs, 0);
  const repl = r.plan.create[0]!;
  const running = sup.due(0, world([old, repl], [drained]));
  assert.deepEqual(running.plan.setDesired, []);
  assert.equal(running.wakeAtMs, 60_000);
  const stopped = { ...old, status: { ...old.status, state: TaskState.SHUTDOWN } };
  assert.deepEqual(sup.due(10, world([stopped, repl], [drained])).plan.setDesired.map((c) => c.taskId), [repl.id]);
});

test('the wait for the old task ends after 1 min, or when its node goes down', () => {
  const svc = service();
  const drained = node('n1', { availability: NodeAvailability.DRAIN });
  const old = task({ id: 'old', svc, nodeId: 'n1', state: TaskState.RUNNING });
  for (const [when, nodes, fires] of [
    [59_999, [drained], false],
    [60_000, [drained], true],
    [100, [node('n1', { state: NodeStatusState.DOWN })], true],
    [100, [], true],
  ] as const) {
    const sup = new RestartSupervisor();
    const r = restarted(sup.restart({ task: old, service: svc, node: drained, nowMs: 0, newId: idGen() }));
    const out = sup.due(when, world([old, r.plan.create[0]!], [...nodes]));
    assert.equal(out.plan.setDesired.length, fires ? 1 : 0, `at ${when}`);
  }
});

test('global tasks are replaced on the same node; job tasks keep their iteration and start to COMPLETE', () => {
  const sup = new RestartSupervisor();
  const g = service({ id: 'g', mode: { global: {} } });
  const rg = restarted(sup.restart({ task: task({ id: 'tg', svc: g, slot: 0, nodeId: 'n7', state: TaskState.FAILED }), service: g, node: node('n7'), nowMs: 0, newId: idGen() }));
  assert.equal(rg.plan.create[0]!.nodeId, 'n7');
  assert.equal(rg.plan.create[0]!.slot, 0);
  const j = service({ id: 'j', mode: { replicatedJob: { maxConcurrent: 1, totalCompletions: 1 } }, jobIteration: 4 });
  const rj = restarted(sup.restart({ task: task({ id: 'tj', svc: j, slot: 0, nodeId: 'n1', state: TaskState.FAILED, desired: TaskState.COMPLETE, jobIteration: 4 }), service: j, node: node('n1'), nowMs: 0, newId: idGen() }));
  assert.equal(rj.plan.create[0]!.jobIteration, 4);
  assert.equal(rj.plan.delayedStarts[0]!.desiredState, TaskState.COMPLETE);
});

test('a task whose own delayed start is pending is deferred; one already being stopped is skipped', () => {
  const sup = new RestartSupervisor();
  const svc = service();
  const r = restarted(sup.restart({ task: task({ id: 'a', svc, nodeId: 'n1', state: TaskState.FAILED }), service: svc, node: node('n1'), nowMs: 0, newId: idGen() }));
  const repl = { ...r.plan.create[0]!, status: { ...r.plan.create[0]!.status, state: TaskState.FAILED } };
  assert.equal(sup.restart({ task: repl, service: svc, node: undefined, nowMs: 1, newId: idGen() }).kind, 'deferred');
  const stopping = task({ id: 'b', svc, nodeId: 'n1', state: TaskState.FAILED, desired: TaskState.SHUTDOWN });
  assert.equal(sup.restart({ task: stopping, service: svc, node: node('n1'), nowMs: 0, newId: idGen() }).kind, 'skipped');
});

test('max attempts: after 2 restarts of a slot the third failure only stops the task and the slot is reported refused', () => {
  const sup = new RestartSupervisor();
  const svc = service({ spec: taskSpec({ restart: { maxAttempts: 2, delayMs: 0 } }) });
  const newId = idGen('x');
  const kinds: string[] = [];
  for (let i = 0; i < 3; i++) {
    const t = task({ id: `f${i}`, svc, slot: 1, nodeId: 'n1', state: TaskState.FAILED, at: i * 1000 });
    const o = sup.restart({ task: t, service: svc, node: node('n1'), nowMs: i * 1000, newId });
    kinds.push(o.kind);
  }
  assert.deepEqual(kinds, ['restarted', 'restarted', 'stopped']);
  assert.deepEqual(sup.refusedTaskIds(svc.id), ['f2']);
  assert.equal(sup.historyOf(svc.id, 'slot:1')!.totalRestarts, 2);
  assert.equal(sup.restart({ task: task({ id: 'other', svc, slot: 2, nodeId: 'n1', state: TaskState.FAILED }), service: svc, node: node('n1'), nowMs: 0, newId }).kind, 'restarted');
});

test('max attempts within a window: restarts older than the window stop counting', () => {
  const sup = new RestartSupervisor();
  const svc = service({ spec: taskSpec({ restart: { maxAttempts: 1, windowMs: 10_000, delayMs: 0 } }) });
  const newId = idGen();
  const fail = (id: string, at: number) => sup.restart({ task: task({ id, svc, slot: 1, nodeId: 'n1', state: TaskState.FAILED, at }), service: svc, node: node('n1'), nowMs: at, newId }).kind;
  assert.equal(fail('a', 1_000), 'restarted'); // restart recorded at 1 000
  assert.equal(fail('b', 5_000), 'stopped'); // 1 000 is in (−5 000, 5 000)
  assert.equal(fail('c', 10_999), 'stopped'); // 1 000 is in (999, 10 999)
  assert.equal(fail('d', 11_000), 'restarted'); // 1 000 is not in the open interval (1 000, 11 000)
});

test('a replacement with a new spec version starts a fresh history', () => {
  const sup = new RestartSupervisor();
  const v1 = service({ specVersion: 1, spec: taskSpec({ restart: { maxAttempts: 1, delayMs: 0 } }) });
  const v2 = { ...v1, specVersion: 2 };
  const newId = idGen();
  assert.equal(sup.restart({ task: task({ id: 'a', svc: v1, nodeId: 'n1', state: TaskState.FAILED }), service: v1, node: node('n1'), nowMs: 0, newId }).kind, 'restarted');
  assert.equal(sup.restart({ task: task({ id: 'b', svc: v1, nodeId: 'n1', state: TaskState.FAILED }), service: v1, node: node('n1'), nowMs: 1, newId }).kind, 'stopped');
  // The service was updated: a v1 task failing now is replaced by a v2 task and the history restarts at 1.
  assert.equal(sup.restart({ task: task({ id: 'c', svc: v2, specVersion: 2, nodeId: 'n1', state: TaskState.FAILED }), service: v2, node: node('n1'), nowMs: 2, newId }).kind, 'restarted');
  assert.deepEqual(sup.historyOf(v1.id, 'slot:1'), { specVersion: 2, totalRestarts: 1, restartTimesMs: [2] });
});

test('forgetting a service drops its history, refusals and pending starts', () => {
  const sup = new RestartSupervisor();
  const svc = service();
  sup.restart({ task: task({ id: 'a', svc, nodeId: 'n1', state: TaskState.FAILED }), service: svc, node: node('n1'), nowMs: 0, newId: idGen() });
  assert.equal(sup.pendingStarts().length, 1);
  sup.forgetService(svc.id);
  assert.equal(sup.pendingStarts().length, 0);
  assert.equal(sup.historyOf(svc.id, 'slot:1'), undefined);
});

test('leader start-up rebuilds history from tasks and re-arms desired-READY tasks with the remaining delay', () => {
  const sup = new RestartSupervisor();
  const svc = service({ specVersion: 2, spec: taskSpec({ restart: { delayMs: 5_000 } }) });
  const tasks = [
    task({ id: 'v1', svc, slot: 1, specVersion: 1, createdAt: 0, state: TaskState.FAILED, desired: TaskState.SHUTDOWN }),
    task({ id: 'a', svc, slot: 1, createdAt: 10, state: TaskState.FAILED, desired: TaskState.SHUTDOWN }),
    task({ id: 'b', svc, slot: 1, createdAt: 20, state: TaskState.FAILED, desired: TaskState.SHUTDOWN }),
    task({ id: 'c', svc, slot: 1, createdAt: 30, state: TaskState.NEW, desired: TaskState.READY, appliedAt: 30_000 }),
    task({ id: 'd', svc, slot: 2, createdAt: 0, state: TaskState.NEW, desired: TaskState.READY, at: 1_000 }),
  ];
  sup.rebuild([svc], tasks);
  assert.deepEqual(sup.historyOf(svc.id, 'slot:1'), { specVersion: 2, totalRestarts: 2, restartTimesMs: [20, 30] });
  assert.equal(sup.historyOf(svc.id, 'slot:2'), undefined);
  const out = sup.due(32_000, world(tasks, []));
  assert.deepEqual(out.plan.setDesired.map((c) => c.taskId), ['d']);
  assert.equal(out.wakeAtMs, 35_000);
});
