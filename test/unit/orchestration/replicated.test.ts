import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeAvailability, NodeStatusState, TaskState, UnavailableError, type Service, type Task } from '../../../src/host/api/index.js';
import { WRITE_RETRY_DELAY_MS } from '../../../src/host/orchestration/index.js';
import { World, serviceObj, storedTaskOf, taskSpec } from './harness.js';

async function threeNodes(w: World): Promise<void> {
  for (const id of ['n1', 'n2', 'n3']) await w.addNode(id);
}

test('a replicated service of 6 on 3 nodes spreads 2/2/2 and reaches RUNNING', async () => {
  const w = new World();
  await threeNodes(w);
  w.start();
  await w.createService(serviceObj('web', { replicas: 6 }));
  await w.until(() => w.running('web').length === 6, 5_000, '6 running');
  assert.deepEqual(w.spread('web'), { n1: 2, n2: 2, n3: 2 });
  const slots = w.running('web').map((t) => t.slot).sort((a, b) => a - b);
  assert.deepEqual(slots, [1, 2, 3, 4, 5, 6]);
  for (const t of w.running('web')) assert.equal(t.serviceAnnotations.name, 'web');
  await w.stop();
});

test('tasks pass through the allocator (PENDING "pending task scheduling") and the scheduler (ASSIGNED with a node)', async () => {
  const w = new World();
  await threeNodes(w);
  w.agent.dead.add('n1').add('n2').add('n3'); // nobody reports: the tasks stay where the managers put them
  w.start();
  await w.createService(serviceObj('web', { replicas: 3 }));
  await w.until(() => w.tasks('web').length === 3 && w.tasks('web').every((t) => t.status.state === TaskState.ASSIGNED), 5_000, 'assigned');
  for (const t of w.tasks('web')) {
    assert.equal(t.status.message, 'scheduler assigned task to node');
    assert.notEqual(t.nodeId, '');
  }
  await w.stop();
});

/** A slot-1 task of stored service `serviceId` as another writer would store it: observed `state`, on `nodeId`. */
function storedTask(w: World, serviceId: string, id: string, nodeId: string, state: TaskState): Task {
  const svc = w.store.view((tx) => tx.get('services', serviceId))! as Service;
  return storedTaskOf(svc, { id, slot: 1, nodeId, state, message: 'stored' });
}

test('new tasks are written already allocated: stored first as PENDING "pending task scheduling", never as NEW', async () => {
  const w = new World();
  await threeNodes(w);
  const events = w.store.watch({ tables: ['tasks'], filter: (e) => e.kind !== 'commit' });
  w.agent.dead.add('n1').add('n2').add('n3');
  w.start();
  await w.createService(serviceObj('web', { replicas: 6 }));
  await w.until(() => w.tasks('web').length === 6 && w.tasks('web').every((t) => t.status.state === TaskState.ASSIGNED), 5_000, 'assigned');
  const seen: { kind: string; state: TaskState; message: string }[] = [];
  while (events.pending > 0) {
    const r = await events.next();
    const t = (r.value as { object: Task; kind: string }).object;
    seen.push({ kind: r.value.kind, state: t.status.state, message: t.status.message });
  }
  events.close();
  const creates = seen.filter((e) => e.kind === 'create');
  assert.equal(creates.length, 6);
  for (const c of creates) assert.deepEqual(c, { kind: 'create', state: TaskState.PENDING, message: 'pending task scheduling' });
  // One write per task after its create: the scheduler's assignment (no separate allocator write).
  assert.equal(seen.filter((e) => e.kind === 'update').length, 6);
  assert.ok(!seen.some((e) => e.state === TaskState.NEW));
  await w.stop();
});

test('a task stored as NEW (written by another writer or an older version) is moved to PENDING by the allocator step, then placed', async () => {
  const w = new World();
  await threeNodes(w);
  await w.createService(serviceObj('web', { replicas: 1 }));
  await w.store.update((tx) => tx.create('tasks', storedTask(w, 'web', 'legacy1', '', TaskState.NEW)));
  w.agent.dead.add('n1').add('n2').add('n3');
  w.start();
  await w.until(() => w.store.view((tx) => tx.get('tasks', 'legacy1'))?.status.state === TaskState.ASSIGNED, 5_000, 'legacy task assigned');
  assert.equal(w.tasks('web').length, 1, 'slot 1 was filled by the stored task, not by a second one');
  await w.stop();
});

test('scaling up adds tasks in the lowest free slots; scaling down removes the surplus', async () => {
  const w = new World();
  await threeNodes(w);
  w.start();
  await w.createService(serviceObj('web', { replicas: 3 }));
  await w.until(() => w.running('web').length === 3, 5_000, '3 running');
  await w.updateService('web', (s) => (s.spec.mode = { replicated: { replicas: 9 } }), { newSpec: false });
  await w.until(() => w.running('web').length === 9, 5_000, '9 running');
  assert.deepEqual(w.spread('web'), { n1: 3, n2: 3, n3: 3 });
  await w.updateService('web', (s) => (s.spec.mode = { replicated: { replicas: 2 } }), { newSpec: false });
  await w.until(() => w.running('web').length === 2, 5_000, '2 running');
  // The victims were set to desired REMOVE, stopped by the agent, and their records reaped.
  await w.until(() => w.tasks('web').length === 2, 5_000, 'victims reaped');
  const nodes = new Set(w.running('web').map((t) => t.nodeId));
  assert.equal(nodes.size, 2, 'the two survivors are on different nodes');
  await w.stop();
});

test('a node going DOWN gets its tasks replaced elsewhere after the restart delay', async () => {
  const w = new World();
  await threeNodes(w);
  w.start();
  await w.createService(serviceObj('web', { replicas: 6 }));
  await w.until(() => w.running('web').length === 6, 5_000, '6 running');
  const onN1 = w.running('web').filter((t) => t.nodeId === 'n1').map((t) => t.slot);
  assert.equal(onN1.length, 2);
  w.agent.dead.add('n1');
  await w.updateNode('n1', (n) => (n.status.state = NodeStatusState.DOWN));
  await w.advance(200);
  // Old tasks are told to stop at once; the replacements exist but wait for the 5 s restart delay.
  const replacements = () => w.tasks('web').filter((t) => onN1.includes(t.slot) && t.nodeId !== 'n1');
  assert.equal(replacements().length, 2);
  for (const t of replacements()) assert.equal(t.desiredState, TaskState.READY);
  for (const t of w.tasks('web').filter((x) => x.nodeId === 'n1')) assert.equal(t.desiredState, TaskState.SHUTDOWN);
  await w.advance(4_500);
  assert.equal(w.running('web').length, 4, 'not restarted before the delay');
  const took = await w.until(() => w.running('web').length === 6, 5_000, 'replaced');
  assert.ok(took < 1_000, `replaced soon after the delay (took ${took} ms more)`);
  assert.deepEqual(w.spread('web'), { n2: 3, n3: 3 });
  await w.stop();
});

test('DRAIN moves tasks without the restart delay', async () => {
  const w = new World();
  await threeNodes(w);
  w.start();
  await w.createService(serviceObj('web', { replicas: 6 }));
  await w.until(() => w.running('web').length === 6, 5_000, '6 running');
  await w.updateNode('n2', (n) => (n.spec.availability = NodeAvailability.DRAIN));
  const took = await w.until(() => w.running('web').length === 6 && !('n2' in w.spread('web')), 5_000, 'moved off n2');
  assert.ok(took < 1_000, `moved in ${took} simulated ms (no 5 s delay)`);
  assert.deepEqual(w.spread('web'), { n1: 3, n3: 3 });
  for (const t of w.tasks('web').filter((x) => x.nodeId === 'n2')) assert.equal(t.status.state, TaskState.SHUTDOWN);
  await w.stop();
});

test('removing a service removes its tasks', async () => {
  const w = new World();
  await threeNodes(w);
  w.start();
  await w.createService(serviceObj('web', { replicas: 4 }));
  await w.until(() => w.running('web').length === 4, 5_000, '4 running');
  await w.deleteService('web');
  await w.advance(50);
  for (const t of w.tasks('web')) assert.equal(t.desiredState, TaskState.REMOVE);
  await w.until(() => w.tasks('web').length === 0, 5_000, 'records deleted');
  await w.stop();
});

test('a task that fails in the same pass as a spec change gets one successor, not one from the restart and one from the updater', async () => {
  // Found by the orchestration simulation: the restart supervisor replaced the failed task and the rolling updater
  // replaced it again, so the slot had two tasks desired RUNNING.
  const w = new World();
  await threeNodes(w);
  w.start();
  await w.createService(serviceObj('web', { replicas: 1 }));
  await w.until(() => w.running('web').length === 1, 5_000, 'running');
  const old = w.running('web')[0]!;
  // One transaction: the task fails (as the dispatcher would write it) and the spec changes.
  await w.store.update((tx) => {
    const t = tx.get('tasks', old.id)!;
    tx.update('tasks', { ...t, status: { ...t.status, state: TaskState.FAILED, message: 'failed', err: 'exit 137' } });
    const cur = tx.get('services', 'web')!;
    const s = structuredClone(cur) as typeof cur & { spec: { task: { container: { image: string } } } };
    s.spec.task.container.image = 'v2';
    tx.update('services', { ...s, previousSpec: structuredClone(cur.spec), previousSpecVersion: cur.specVersion, specVersion: cur.meta.version });
  });
  let maxLive = 0;
  await w.until(
    () => {
      const live = w.tasks('web').filter((t) => t.slot === old.slot && t.desiredState <= TaskState.RUNNING);
      maxLive = Math.max(maxLive, live.length);
      return w.running('web').length === 1 && w.running('web')[0]!.spec.container.image === 'v2';
    },
    30_000,
    'one v2 task running',
  );
  assert.equal(maxLive, 1, 'the slot never had two live tasks');
  await w.stop();
});

test('a reconcile whose write failed (not out of sequence) is retried after WRITE_RETRY_DELAY_MS', async () => {
  // Found by the orchestration simulation: a service created just before a leadership transfer refused every
  // proposal never got tasks, since the failed plan was only logged.
  const w = new World();
  await threeNodes(w);
  const local = (w.store as unknown as { proposer: { propose(d: Uint8Array): Promise<void> } }).proposer;
  let count = 0;
  let refuse = -1;
  w.store.setProposer({
    propose: (d) => (++count === refuse ? Promise.reject(new UnavailableError('raft: leadership transfer in progress')) : local.propose(d)),
  });
  w.start();
  await w.advance(50);
  // The proposal right after the service's own creation (the reconcile creating its tasks) is refused.
  refuse = count + 2;
  await w.createService(serviceObj('web', { replicas: 2 }));
  await w.advance(200);
  assert.ok(count >= refuse, 'the reconcile proposed');
  assert.equal(w.tasks('web').length, 0, 'the first reconcile was refused');
  await w.until(() => w.tasks('web').length === 2, WRITE_RETRY_DELAY_MS + 500, 'tasks after the retry');
  await w.stop();
});

/** Makes `w`'s store refuse, while `refuse()` holds, every proposal that deletes something (counted in `refused`). */
function refuseDeletes(w: World, refuse: () => boolean): { refused: number } {
  const local = (w.store as unknown as { proposer: { propose(d: Uint8Array): Promise<void> } }).proposer;
  const counts = { refused: 0 };
  w.store.setProposer({
    propose: (d) => {
      if (refuse() && Buffer.from(d).toString('utf8').includes('"op":"delete"')) {
        counts.refused++;
        return Promise.reject(new UnavailableError('raft: leadership transfer in progress'));
      }
      return local.propose(d);
    },
  });
  return counts;
}

test('a failed start-up fix-up (deleting the tasks of a removed service) is retried, not dropped', async () => {
  const w = new World();
  await threeNodes(w);
  await w.createService(serviceObj('gone', { replicas: 1 }));
  const orphan = storedTask(w, 'gone', 'orphan1', 'n1', TaskState.RUNNING);
  await w.store.update((tx) => {
    tx.create('tasks', orphan);
    tx.delete('services', 'gone');
  });
  let refusing = true;
  const counts = refuseDeletes(w, () => refusing);
  w.start();
  await w.until(() => counts.refused > 0, 1_000, 'the fix-up proposed and was refused');
  refusing = false;
  await w.until(() => w.store.view((tx) => tx.get('tasks', 'orphan1')) === undefined, WRITE_RETRY_DELAY_MS + 1_000, 'the orphan deleted by the retry');
  await w.stop();
});

test('a failed reaper delete is retried: the services stay marked until their tasks are reaped', async () => {
  const w = new World();
  await w.addNode('n1');
  let refusing = true;
  const counts = refuseDeletes(w, () => refusing);
  let failures = 0;
  w.agent.shouldFail = () => failures++ < 9; // 9 failed attempts, then one that runs: 10 tasks in slot 1
  w.start();
  await w.createService(serviceObj('flaky', { replicas: 1, spec: taskSpec({ restart: { delayMs: 100 } }) }));
  await w.until(() => w.running('flaky').length === 1, 20_000, 'the 10th attempt runs', 20);
  // Every reaper run triggered by the failures is refused; nothing about the service changes after them.
  await w.advance(2_000);
  assert.ok(counts.refused > 0, 'reaper deletes were refused');
  assert.equal(w.tasks('flaky').length, 10);
  refusing = false;
  await w.until(() => w.tasks('flaky').length === 5, 5_000, 'the history trimmed to 5 by a later run');
  await w.stop();
});
