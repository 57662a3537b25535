import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError, NodeAvailability, NodeStatusState, RestartCondition, TaskState } from '../../../src/host/api/index.js';
import { decide, validateRestartPolicy, type RestartHistory } from '../../../src/plugins/restart/index.js';
import { service, task, taskSpec } from '../orchestrators/fixtures.js';

const activeNode = { availability: NodeAvailability.ACTIVE, state: NodeStatusState.READY };

function failed(cond: RestartCondition, state: TaskState, restart: Partial<{ maxAttempts: number; windowMs: number; delayMs: number }> = {}) {
  const svc = service({ spec: taskSpec({ restart: { condition: cond, ...restart } }) });
  return task({ id: 't', svc, nodeId: 'n1', state });
}

const conditionTable: [RestartCondition, TaskState, boolean, boolean][] = [
  // condition, observed state, isJob, restarts?
  [RestartCondition.NONE, TaskState.COMPLETE, false, false],
  [RestartCondition.NONE, TaskState.FAILED, false, false],
  [RestartCondition.NONE, TaskState.RUNNING, false, false],
  [RestartCondition.ON_FAILURE, TaskState.COMPLETE, false, false],
  [RestartCondition.ON_FAILURE, TaskState.FAILED, false, true],
  [RestartCondition.ON_FAILURE, TaskState.REJECTED, false, true],
  [RestartCondition.ON_FAILURE, TaskState.RUNNING, false, true],
  [RestartCondition.ANY, TaskState.COMPLETE, false, true],
  [RestartCondition.ANY, TaskState.FAILED, false, true],
  [RestartCondition.ANY, TaskState.SHUTDOWN, false, true],
  [RestartCondition.ANY, TaskState.COMPLETE, true, false],
  [RestartCondition.ANY, TaskState.FAILED, true, true],
];
for (const [cond, state, isJob, expect] of conditionTable) {
  test(`condition ${RestartCondition[cond]} with a ${TaskState[state]} ${isJob ? 'job ' : ''}task ${expect ? 'restarts' : 'does not restart'}`, () => {
    const d = decide({ task: failed(cond, state), isJob, node: activeNode, nowMs: 0 });
    assert.equal(d.restart, expect);
  });
}

const hist = (total: number, times: number[] = [], specVersion = 1): RestartHistory => ({ specVersion, totalRestarts: total, restartTimesMs: times });

const attemptTable: { name: string; max: number; window: number; history?: RestartHistory; appliedAt?: number; at?: number; expect: boolean }[] = [
  { name: 'no limit ignores history', max: 0, window: 0, history: hist(100), expect: true },
  { name: 'below max without a window', max: 3, window: 0, history: hist(2), expect: true },
  { name: 'at max without a window', max: 3, window: 0, history: hist(3), expect: false },
  { name: 'no history yet', max: 1, window: 0, expect: true },
  { name: 'history of another spec version is reset', max: 1, window: 0, history: hist(5, [], 0), expect: true },
  { name: 'window counts only restarts in (T-W, T)', max: 2, window: 10_000, history: hist(3, [85_000, 91_000, 95_000]), appliedAt: 100_000, expect: false },
  { name: 'window excludes a restart exactly at T-W', max: 2, window: 10_000, history: hist(2, [90_000, 95_000]), appliedAt: 100_000, expect: true },
  { name: 'window excludes a restart exactly at T and after', max: 2, window: 10_000, history: hist(3, [95_000, 100_000, 120_000]), appliedAt: 100_000, expect: true },
  { name: 'window uses the status timestamp when appliedAt is unset', max: 1, window: 10_000, history: hist(1, [95_000]), at: 100_000, expect: false },
  { name: 'appliedAt wins over the timestamp', max: 1, window: 10_000, history: hist(1, [95_000]), appliedAt: 200_000, at: 100_000, expect: true },
  { name: 'old restarts outside the window do not count even above max in total', max: 1, window: 1_000, history: hist(10, [1, 2, 3]), appliedAt: 100_000, expect: true },
];
for (const c of attemptTable) {
  test(`max attempts: ${c.name}`, () => {
    const svc = service({ spec: taskSpec({ restart: { maxAttempts: c.max, windowMs: c.window } }) });
    const t = task({ id: 't', svc, nodeId: 'n1', state: TaskState.FAILED, appliedAt: c.appliedAt ?? 0, at: c.at ?? 0 });
    const input = { task: t, isJob: false, node: activeNode, nowMs: 0, ...(c.history ? { history: c.history } : {}) };
    assert.equal(decide(input).restart, c.expect);
  });
}

test('a window decision reports where older history can be pruned', () => {
  const svc = service({ spec: taskSpec({ restart: { maxAttempts: 2, windowMs: 10_000 } }) });
  const t = task({ id: 't', svc, nodeId: 'n1', state: TaskState.FAILED, appliedAt: 100_000 });
  const d = decide({ task: t, isJob: false, node: activeNode, nowMs: 0, history: hist(1, [50_000]) });
  assert.deepEqual(d, { restart: true, delayMs: 5_000, waitForOldTask: false, pruneBeforeMs: 90_000 });
});

const delayTable: { name: string; state: TaskState; node?: { availability: NodeAvailability; state: NodeStatusState }; delay: number; wait: boolean }[] = [
  { name: 'policy delay, stopped task: no wait', state: TaskState.FAILED, node: activeNode, delay: 2_000, wait: false },
  { name: 'running task on a DRAINED node: no delay, wait for it', state: TaskState.RUNNING, node: { availability: NodeAvailability.DRAIN, state: NodeStatusState.READY }, delay: 0, wait: true },
  { name: 'running task on a DOWN node: delay, no wait', state: TaskState.RUNNING, node: { availability: NodeAvailability.ACTIVE, state: NodeStatusState.DOWN }, delay: 2_000, wait: false },
  { name: 'running task on a deleted node: delay, no wait', state: TaskState.RUNNING, delay: 2_000, wait: false },
];
for (const c of delayTable) {
  test(`delay rule: ${c.name}`, () => {
    const svc = service({ spec: taskSpec({ restart: { delayMs: 2_000 } }) });
    const input = { task: task({ id: 't', svc, nodeId: 'n1', state: c.state }), isJob: false, nowMs: 0, ...(c.node ? { node: c.node } : {}) };
    assert.deepEqual(decide(input), { restart: true, delayMs: c.delay, waitForOldTask: c.wait });
  });
}

test('the default delay is 5 s', () => {
  const d = decide({ task: task({ id: 't', nodeId: 'n1', state: TaskState.FAILED }), isJob: false, node: activeNode, nowMs: 0 });
  assert.ok(d.restart && d.delayMs === 5_000);
});

test('a bad restart policy is refused naming the field', () => {
  assert.throws(() => validateRestartPolicy({ condition: RestartCondition.ANY, delayMs: -1, maxAttempts: 0, windowMs: 0 }), (e: unknown) => e instanceof InvalidArgumentError && /task\.restart\.delayMs/.test(e.message));
  assert.throws(() => validateRestartPolicy({ condition: 7 as RestartCondition, delayMs: 0, maxAttempts: 0, windowMs: 0 }), /condition/);
  assert.throws(() => validateRestartPolicy({ condition: RestartCondition.ANY, delayMs: 0, maxAttempts: 1.5, windowMs: 0 }), /maxAttempts/);
  assert.throws(() => validateRestartPolicy({ condition: RestartCondition.ANY, delayMs: 0, maxAttempts: 0, windowMs: -5 }), /windowMs/);
  validateRestartPolicy({ condition: RestartCondition.ON_FAILURE, delayMs: 0, maxAttempts: 3, windowMs: 60_000 });
});
