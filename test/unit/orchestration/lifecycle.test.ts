import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeAvailability, RestartCondition, TaskState, UpdateOrder, UpdateFailureAction, UpdateState } from '../../../src/host/api/index.js';
import { World, serviceObj, taskSpec } from './harness.js';
import { cluster } from '../../support/objects.js';

test('a global service gets one task per eligible node, and a new node gets its task', async () => {
  const w = new World();
  await w.addNode('n1');
  await w.addNode('n2');
  await w.addNode('n3');
  await w.updateNode('n3', (n) => (n.spec.availability = NodeAvailability.DRAIN));
  w.start();
  await w.createService(serviceObj('mon', { mode: { global: {} } }));
  await w.until(() => w.running('mon').length === 2, 5_000, 'one per eligible node');
  assert.deepEqual(w.spread('mon'), { n1: 1, n2: 1 });
  for (const t of w.running('mon')) assert.equal(t.status.message, 'running');
  await w.addNode('n4');
  await w.until(() => w.running('mon').length === 3, 5_000, 'new node gets its task');
  assert.deepEqual(w.spread('mon'), { n1: 1, n2: 1, n4: 1 });
  await w.stop();
});

test('global tasks are confirmed on their preassigned node by the scheduler', async () => {
  const w = new World();
  await w.addNode('n1');
  w.agent.dead.add('n1');
  w.start();
  await w.createService(serviceObj('mon', { mode: { global: {} } }));
  await w.until(() => w.tasks('mon').some((t) => t.status.state === TaskState.ASSIGNED), 5_000, 'assigned');
  assert.equal(w.tasks('mon')[0]!.status.message, 'scheduler confirmed task can run on preassigned node');
  await w.stop();
});

test('a failing task is restarted after the policy delay, up to max attempts', async () => {
  const w = new World();
  await w.addNode('n1');
  w.agent.shouldFail = () => true;
  w.start();
  const spec = taskSpec({ restart: { condition: RestartCondition.ON_FAILURE, delayMs: 2_000, maxAttempts: 2 } });
  await w.createService(serviceObj('bad', { replicas: 1, spec }));
  await w.until(() => w.tasks('bad').some((t) => t.status.state === TaskState.FAILED), 5_000, 'first failure');
  const failedAt = w.timers.now();
  await w.advance(200);
  // A replacement exists in slot 1 at desired READY, waiting for the 2 s delay.
  const waiting = w.tasks('bad').filter((t) => t.desiredState === TaskState.READY);
  assert.equal(waiting.length, 1);
  assert.equal(waiting[0]!.slot, 1);
  await w.until(() => w.tasks('bad').filter((t) => t.status.state === TaskState.FAILED).length === 2, 5_000, 'second failure');
  assert.ok(w.timers.now() - failedAt >= 2_000, 'second attempt not before the delay');
  await w.until(() => w.tasks('bad').filter((t) => t.status.state === TaskState.FAILED).length === 3, 5_000, 'third failure');
  // Two restarts used up: no fourth task, however long we wait.
  await w.advance(20_000, 100);
  assert.equal(w.tasks('bad').length, 3);
  assert.equal(w.tasks('bad').filter((t) => t.desiredState <= TaskState.RUNNING).length, 0);
  // The failures were recorded for the scheduler (node n1, this service version).
  assert.equal(w.leader.failures.count('n1', 'bad', 0), 3);
  await w.stop();
});

test('an unplaceable task stays PENDING with the explanation and is placed once a node appears', async () => {
  const w = new World();
  await w.addNode('small', { cpu: 1e9 });
  w.start();
  await w.createService(serviceObj('big', { replicas: 1, spec: taskSpec({ cpu: 2e9 }) }));
  await w.until(() => w.tasks('big').some((t) => t.status.err !== ''), 5_000, 'explained');
  const t = w.tasks('big')[0]!;
  assert.equal(t.status.state, TaskState.PENDING);
  assert.equal(t.status.err, 'no suitable node (insufficient resources on 1 node)');
  const version = t.meta.version;
  await w.advance(3_000);
  assert.equal(w.tasks('big')[0]!.meta.version, version, 'the same explanation is not written again');
  await w.addNode('large', { cpu: 8e9 });
  await w.until(() => w.running('big').length === 1, 5_000, 'placed');
  assert.equal(w.running('big')[0]!.nodeId, 'large');
  await w.stop();
});

test('constraints: a task with an unmet constraint is explained, and the enforcer rejects tasks whose node stops matching', async () => {
  const w = new World();
  await w.addNode('n1', { labels: { zone: 'a' } });
  await w.addNode('n2', { labels: { zone: 'b' } });
  w.start();
  await w.createService(serviceObj('za', { replicas: 2, spec: taskSpec({ constraints: ['node.labels.zone==a'] }) }));
  await w.until(() => w.running('za').length === 2, 5_000, 'running on n1');
  assert.deepEqual(w.spread('za'), { n1: 2 });
  await w.updateNode('n1', (n) => (n.spec.annotations.labels = { zone: 'c' }));
  await w.until(() => w.tasks('za').filter((t) => t.status.state === TaskState.REJECTED).length === 2, 5_000, 'rejected');
  const rejected = w.tasks('za').filter((t) => t.status.state === TaskState.REJECTED);
  assert.equal(rejected[0]!.status.message, 'task rejected by constraint enforcer');
  assert.equal(rejected[0]!.status.err, 'assigned node no longer meets constraints');
  await w.until(() => w.tasks('za').some((t) => t.status.err.startsWith('no suitable node')), 10_000, 'replacements explained');
  const pending = w.tasks('za').find((t) => t.status.state === TaskState.PENDING)!;
  assert.equal(pending.status.err, 'no suitable node (scheduling constraints not satisfied on 2 nodes)');
  await w.stop();
});

test('the reaper keeps 5 tasks per slot', async () => {
  const w = new World();
  await w.addNode('n1');
  let failures = 0;
  // The first 9 attempts fail, the 10th runs.
  w.agent.shouldFail = () => failures++ < 9;
  w.start();
  await w.createService(serviceObj('flaky', { replicas: 1, spec: taskSpec({ restart: { delayMs: 100 } }) }));
  await w.until(() => w.running('flaky').length === 1, 20_000, 'the 10th attempt runs', 20);
  assert.equal(w.leader.restartSupervisor.historyOf('flaky', 'slot:1')?.totalRestarts, 9);
  await w.advance(1_000);
  const slot1 = w.tasks('flaky').filter((t) => t.slot === 1);
  assert.equal(slot1.length, 5, 'the running task and the 4 newest failed ones');
  assert.equal(slot1.filter((t) => t.status.state === TaskState.FAILED).length, 4);
  await w.stop();
});

test('a rolling update with parallelism 2 never has more than 2 slots updating', async () => {
  const w = new World();
  for (const id of ['n1', 'n2', 'n3']) await w.addNode(id);
  w.start();
  const update = { parallelism: 2, delayMs: 1_000, failureAction: UpdateFailureAction.PAUSE, monitorMs: 500, maxFailureRatio: 0, order: UpdateOrder.STOP_FIRST };
  await w.createService(serviceObj('web', { replicas: 6, update }));
  await w.until(() => w.running('web').length === 6, 5_000, '6 running');
  await w.updateService('web', (s) => (s.spec.task.container.image = 'busybox:2'));
  let maxUpdating = 0;
  const done = (): boolean => {
    // A slot is "updating" while it holds no task that is both on the new image and running.
    const bySlot = new Map<number, boolean>();
    for (const t of w.tasks('web')) {
      if (t.desiredState > TaskState.RUNNING) continue;
      const fresh = t.spec.container.image === 'busybox:2' && t.status.state === TaskState.RUNNING;
      bySlot.set(t.slot, (bySlot.get(t.slot) ?? false) || fresh);
    }
    const oldRunning = w.tasks('web').filter((t) => t.spec.container.image === 'busybox:1' && t.desiredState === TaskState.RUNNING).length;
    const updating = 6 - oldRunning - [...bySlot.values()].filter(Boolean).length;
    maxUpdating = Math.max(maxUpdating, updating);
    return w.service('web')?.updateStatus?.state === UpdateState.COMPLETED;
  };
  await w.until(done, 60_000, 'update completed');
  assert.ok(maxUpdating <= 2, `at most 2 slots updating at once (saw ${maxUpdating})`);
  assert.ok(maxUpdating >= 1);
  assert.equal(w.running('web').length, 6);
  for (const t of w.running('web')) assert.equal(t.spec.container.image, 'busybox:2');
  const st = w.service('web')!.updateStatus!;
  assert.equal(st.message, 'update completed');
  await w.stop();
});

test('stop() cancels every timer and watcher: nothing is written afterwards', async () => {
  const w = new World();
  await w.addNode('n1');
  w.agent.shouldFail = () => true;
  w.start();
  await w.createService(serviceObj('bad', { replicas: 3, spec: taskSpec({ restart: { delayMs: 5_000 } }) }));
  await w.until(() => w.tasks('bad').some((t) => t.desiredState === TaskState.READY), 5_000, 'a delayed restart pending');
  await w.stop();
  assert.equal(w.timers.nextDue(), undefined, 'no timers left');
  assert.equal(w.timers.pending, 0);
  const before = w.store.appliedIndex;
  await w.createService(serviceObj('after', { replicas: 2 }));
  await w.advance(10_000, 100);
  assert.equal(w.store.appliedIndex, before + 1, 'only our own write happened');
  assert.equal(w.tasks('after').length, 0);
});

test('start() after a leader change resumes: delayed starts re-armed, the service converges', async () => {
  const w = new World();
  await w.addNode('n1');
  await w.addNode('n2');
  w.start();
  await w.createService(serviceObj('web', { replicas: 4 }));
  await w.until(() => w.running('web').length === 4, 5_000, '4 running');
  await w.leader.stop();
  // While no leader orchestrates, a node dies and the service is scaled.
  w.agent.dead.add('n1');
  await w.updateNode('n1', (n) => (n.status.state = 1));
  await w.updateService('web', (s) => (s.spec.mode = { replicated: { replicas: 5 } }), { newSpec: false });
  await w.advance(100);
  w.leader.start();
  await w.until(() => w.running('web').length === 5 && !('n1' in w.spread('web')), 10_000, 'converged on n2');
  await w.stop();
});

test('a replicated job runs its total completions at most maxConcurrent at a time, retrying a failure', async () => {
  const w = new World();
  await w.addNode('n1');
  await w.addNode('n2');
  let failed = 0;
  w.agent.shouldFail = () => failed++ < 1; // the very first attempt fails
  w.start();
  await w.createService(
    serviceObj('batch', { mode: { replicatedJob: { maxConcurrent: 2, totalCompletions: 5 } }, spec: taskSpec({ restart: { condition: RestartCondition.ON_FAILURE, delayMs: 100 } }) }),
  );
  let maxLive = 0;
  await w.until(() => {
    const live = w.tasks('batch').filter((t) => t.desiredState <= TaskState.COMPLETE && t.status.state < TaskState.COMPLETE).length;
    maxLive = Math.max(maxLive, live);
    return w.tasks('batch').filter((t) => t.status.state === TaskState.COMPLETE).length === 5;
  }, 10_000, '5 completions');
  assert.ok(maxLive <= 2, `at most 2 at a time (saw ${maxLive})`);
  await w.advance(2_000);
  assert.equal(w.tasks('batch').filter((t) => t.status.state === TaskState.COMPLETE).length, 5, 'no sixth run');
  assert.equal(w.tasks('batch').filter((t) => t.status.state === TaskState.FAILED).length, 1);
  await w.stop();
});

test('the reaper takes the retention limit from the cluster object', async () => {
  const w = new World();
  await w.addNode('n1');
  await w.store.update((tx) =>
    tx.create('clusters', cluster('cl', { spec: (s) => ({ ...s, orchestration: { taskHistoryRetentionLimit: 2 } }) })),
  );
  let failures = 0;
  w.agent.shouldFail = () => failures++ < 4;
  w.start();
  await w.createService(serviceObj('flaky', { replicas: 1, spec: taskSpec({ restart: { delayMs: 100 } }) }));
  await w.until(() => w.running('flaky').length === 1, 20_000, 'the 5th attempt runs', 20);
  await w.advance(1_000);
  assert.equal(w.tasks('flaky').length, 2, 'the running task and the newest failed one');
  await w.stop();
});
