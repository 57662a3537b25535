import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AbortedError, InvalidArgumentError, NotFoundError, PermissionDeniedError, UnavailableError } from '../../../src/host/api/errors.js';
import { NodeStatusState, TaskState, type Task, type TaskStatus } from '../../../src/host/api/objects.js';
import { Dispatcher, TASK_ORPHANED, HEARTBEAT_FAILURE, HEARTBEAT_FAILURE_UNKNOWN, LEADERSHIP_CHANGE_UNKNOWN, equalIgnoringStatus, hostOf } from '../../../src/host/dispatcher/index.js';
import type { SimTimers } from '../../../src/host/env/index.js';
import { LocalProposer, type Store } from '../../../src/host/store/index.js';
import type { AssignmentsMessage, SessionMessage } from '../../../src/host/transport/index.js';
import { makeTask } from '../../support/tasks.js';
import { CLUSTER_ID, advance, ctxFor, settle, setup } from './fixtures.js';

/** Opens a session for `nodeId` and returns its first message and the open iterator. */
async function openSession(d: Dispatcher, timers: SimTimers, nodeId: string, sessionId = '', description = { hostname: `${nodeId}-host` }) {
  const ctx = ctxFor(nodeId);
  const it = d.session({ descriptionJson: JSON.stringify(description), sessionId }, ctx)[Symbol.asyncIterator]();
  const p = it.next();
  await advance(timers, 150);
  const r = await p;
  assert.equal(r.done, false);
  return { first: r.value as SessionMessage, it, ctx };
}

function nodeState(store: Store, id: string) {
  return store.view((tx) => tx.get('nodes', id)!.status);
}

function statusJson(state: TaskState, timestamp: number, message = TaskState[state].toLowerCase()): string {
  const s: TaskStatus = { timestamp, state, message, err: '', appliedBy: '', appliedAt: 0 };
  return JSON.stringify(s);
}

test('registration: node READY with the observed address and its description; manager list and session id pushed at once', async () => {
  const { timers, store, dispatcher } = await setup(['n1']);
  dispatcher.start();
  const { first, ctx } = await openSession(dispatcher, timers, 'n1');
  assert.equal(first.sessionId.length, 25);
  assert.deepEqual(first.managers, [{ nodeId: 'mgr1', addr: '10.0.0.1:4242', weight: 10 }]);
  assert.match(first.rootCa.toString(), /BEGIN CERTIFICATE/);
  const n = store.view((tx) => tx.get('nodes', 'n1')!);
  assert.deepEqual([n.status.state, n.status.addr, n.description?.hostname], [NodeStatusState.READY, '10.0.0.7', 'n1-host']);
  ctx.abort();
  dispatcher.stop();
});

test('a node the CA never created is refused with NotFound "node not registered"', async () => {
  const { timers, dispatcher } = await setup(['n1']);
  dispatcher.start();
  const it = dispatcher.session({ descriptionJson: '', sessionId: '' }, ctxFor('ghost'))[Symbol.asyncIterator]();
  await assert.rejects(it.next(), (e: unknown) => e instanceof NotFoundError && e.message === 'node not registered');
  await advance(timers, 200);
  dispatcher.stop();
});

test('manager list changes are pushed on the session stream', async () => {
  const { timers, dispatcher, managers } = await setup(['n1']);
  dispatcher.start();
  const { it, ctx } = await openSession(dispatcher, timers, 'n1');
  managers.push({ nodeId: 'mgr2', addr: '10.0.0.2:4242', weight: 10 });
  dispatcher.managersChanged();
  const r = await it.next();
  assert.deepEqual((r.value as SessionMessage).managers.map((m) => m.nodeId), ['mgr1', 'mgr2']);
  ctx.abort();
  dispatcher.stop();
});

test('marks a node DOWN "heartbeat failure" after 3 missed heartbeat periods, not before', async () => {
  const { timers, store, dispatcher } = await setup(['n1'], { heartbeatPeriodMs: 1_000 });
  dispatcher.start();
  const { first, it } = await openSession(dispatcher, timers, 'n1');
  const hb = await dispatcher.heartbeat({ sessionId: first.sessionId }, ctxFor('n1'));
  assert.ok(hb.periodMs >= 500 && hb.periodMs <= 1_500, `period ${hb.periodMs} within 1000 ± 500 ms`);
  // Keep beating for a while: still READY.
  for (let i = 0; i < 5; i++) {
    await advance(timers, hb.periodMs);
    await dispatcher.heartbeat({ sessionId: first.sessionId }, ctxFor('n1'));
  }
  assert.equal(nodeState(store, 'n1').state, NodeStatusState.READY);
  // Silence: 3 × (1000 - 500) ms is the earliest possible expiry; 3 × 1500 the latest.
  await advance(timers, 1_400);
  assert.equal(nodeState(store, 'n1').state, NodeStatusState.READY);
  await advance(timers, 3_300);
  const s = nodeState(store, 'n1');
  assert.deepEqual([s.state, s.message], [NodeStatusState.DOWN, HEARTBEAT_FAILURE]);
  // The session is gone: its stream ends with "session invalid", and heartbeats are refused.
  await assert.rejects(it.next(), (e: unknown) => e instanceof InvalidArgumentError && e.message === 'session invalid');
  await assert.rejects(dispatcher.heartbeat({ sessionId: first.sessionId }, ctxFor('n1')), /session invalid/);
  dispatcher.stop();
});

test('after a leader change non-DOWN nodes go UNKNOWN and get 6 periods to come back', async () => {
  const { timers, store, dispatcher } = await setup(['n1', 'n2', 'n3'], { heartbeatPeriodMs: 1_000, nodeState: NodeStatusState.READY });
  await store.update((tx) => {
    const n3 = tx.get('nodes', 'n3')!;
    tx.update('nodes', { ...n3, status: { ...n3.status, state: NodeStatusState.DOWN, message: 'old' } });
  });
  dispatcher.start();
  await advance(timers, 200);
  assert.deepEqual(
    ['n1', 'n2', 'n3'].map((id) => [nodeState(store, id).state, nodeState(store, id).message]),
    [
      [NodeStatusState.UNKNOWN, LEADERSHIP_CHANGE_UNKNOWN],
      [NodeStatusState.UNKNOWN, LEADERSHIP_CHANGE_UNKNOWN],
      [NodeStatusState.DOWN, 'old'],
    ],
  );
  // n1 comes back within the grace; n2 does not.
  const { first } = await openSession(dispatcher, timers, 'n1');
  for (let i = 0; i < 6; i++) {
    await advance(timers, 900);
    await dispatcher.heartbeat({ sessionId: first.sessionId }, ctxFor('n1'));
  }
  assert.equal(nodeState(store, 'n2').state, NodeStatusState.UNKNOWN, 'still inside 6 × 1000 ms');
  await advance(timers, 500);
  await dispatcher.heartbeat({ sessionId: first.sessionId }, ctxFor('n1'));
  assert.deepEqual([nodeState(store, 'n2').state, nodeState(store, 'n2').message], [NodeStatusState.DOWN, HEARTBEAT_FAILURE_UNKNOWN]);
  assert.equal(nodeState(store, 'n1').state, NodeStatusState.READY);
  dispatcher.stop();
});

test('registration rate limit: 3 per 8 s window, then Unavailable; the window resets after 8 s', async () => {
  const { timers, dispatcher } = await setup(['n1']);
  dispatcher.start();
  for (let i = 0; i < 3; i++) await openSession(dispatcher, timers, 'n1');
  const it = dispatcher.session({ descriptionJson: '', sessionId: '' }, ctxFor('n1'))[Symbol.asyncIterator]();
  await assert.rejects(it.next(), (e: unknown) => e instanceof UnavailableError && e.message === 'node n1 exceeded rate limit count of registrations');
  await advance(timers, 8_100);
  const again = await openSession(dispatcher, timers, 'n1');
  assert.equal(again.first.sessionId.length, 25);
  dispatcher.stop();
});

test('a new registration invalidates the previous session of the node', async () => {
  const { timers, dispatcher } = await setup(['n1']);
  dispatcher.start();
  const a = await openSession(dispatcher, timers, 'n1');
  const b = await openSession(dispatcher, timers, 'n1');
  assert.notEqual(a.first.sessionId, b.first.sessionId);
  await assert.rejects(a.it.next(), /session invalid/);
  await assert.rejects(dispatcher.heartbeat({ sessionId: a.first.sessionId }, ctxFor('n1')), /session invalid/);
  await dispatcher.heartbeat({ sessionId: b.first.sessionId }, ctxFor('n1'));
  dispatcher.stop();
});

async function addTask(store: Store, over: Partial<Task>): Promise<Task> {
  const t = makeTask({}, over);
  await store.update((tx) => tx.create('tasks', t));
  return t;
}

test('task status: batched into one store write, never lowered, unknown tasks ignored, other nodes refused', async () => {
  const { timers, store, dispatcher } = await setup(['n1', 'n2']);
  dispatcher.start();
  const { first } = await openSession(dispatcher, timers, 'n1');
  const t1 = await addTask(store, { nodeId: 'n1' });
  const t2 = await addTask(store, { nodeId: 'n1' });
  const other = await addTask(store, { nodeId: 'n2' });
  const ctx = ctxFor('n1');
  const batchesBefore = dispatcher.writeBatches;
  await dispatcher.updateTaskStatus(
    {
      sessionId: first.sessionId,
      updates: [
        { taskId: t1.id, statusJson: statusJson(TaskState.ACCEPTED, 1) },
        { taskId: t1.id, statusJson: statusJson(TaskState.RUNNING, 2) },
        { taskId: t2.id, statusJson: statusJson(TaskState.PREPARING, 3) },
        { taskId: 'nosuchtask', statusJson: statusJson(TaskState.RUNNING, 4) },
      ],
    },
    ctx,
  );
  assert.equal(store.view((tx) => tx.get('tasks', t1.id)!.status.state), TaskState.ASSIGNED, 'not written before the batch interval');
  await advance(timers, 150);
  assert.equal(dispatcher.writeBatches - batchesBefore, 1, 'one store batch');
  assert.equal(store.view((tx) => tx.get('tasks', t1.id)!.status.state), TaskState.RUNNING);
  assert.equal(store.view((tx) => tx.get('tasks', t2.id)!.status.state), TaskState.PREPARING);
  assert.equal(store.view((tx) => tx.get('tasks', t1.id)!.status.appliedBy), 'n1');
  // A late, lower report does not lower the stored state.
  await dispatcher.updateTaskStatus({ sessionId: first.sessionId, updates: [{ taskId: t1.id, statusJson: statusJson(TaskState.STARTING, 5) }] }, ctx);
  await advance(timers, 150);
  assert.equal(store.view((tx) => tx.get('tasks', t1.id)!.status.state), TaskState.RUNNING);
  // Another node's task: the whole request is refused.
  await assert.rejects(
    dispatcher.updateTaskStatus(
      {
        sessionId: first.sessionId,
        updates: [
          { taskId: t2.id, statusJson: statusJson(TaskState.RUNNING, 6) },
          { taskId: other.id, statusJson: statusJson(TaskState.FAILED, 6) },
        ],
      },
      ctx,
    ),
    (e: unknown) => e instanceof PermissionDeniedError && e.message === 'cannot update a task not assigned this node',
  );
  await advance(timers, 150);
  assert.equal(store.view((tx) => tx.get('tasks', t2.id)!.status.state), TaskState.PREPARING);
  assert.equal(store.view((tx) => tx.get('tasks', other.id)!.status.state), TaskState.ASSIGNED);
  // Bad session and bad input.
  await assert.rejects(dispatcher.updateTaskStatus({ sessionId: 'nope', updates: [] }, ctx), /session invalid/);
  await assert.rejects(
    dispatcher.updateTaskStatus({ sessionId: first.sessionId, updates: [{ taskId: t1.id, statusJson: '{"state":12345,"timestamp":1}' }] }, ctx),
    (e: unknown) => e instanceof InvalidArgumentError && /updates\[0\]\.statusJson\.state/.test(e.message),
  );
  dispatcher.stop();
});

function tasksOf(m: AssignmentsMessage): { action: string; id: string; desired: TaskState }[] {
  return m.changes.map((c) => {
    const t = (JSON.parse(c.assignmentJson) as { task: Task }).task;
    return { action: c.action, id: t.id, desired: t.desiredState };
  });
}

test('assignments: COMPLETE set first, then INCREMENTAL changes with counters; status-only changes send nothing; delete sends REMOVE', async () => {
  const { timers, store, dispatcher } = await setup(['n1', 'n2']);
  dispatcher.start();
  const { first } = await openSession(dispatcher, timers, 'n1');
  const a = await addTask(store, { nodeId: 'n1' });
  await addTask(store, { nodeId: 'n1', status: { timestamp: 0, state: TaskState.PENDING, message: 'pending', err: '', appliedBy: '', appliedAt: 0 } });
  await addTask(store, { nodeId: 'n2' });
  const ctx = ctxFor('n1');
  const it = dispatcher.assignments({ sessionId: first.sessionId }, ctx)[Symbol.asyncIterator]();
  const m1 = (await it.next()).value as AssignmentsMessage;
  assert.deepEqual([m1.type, m1.appliesTo, m1.resultsIn], ['COMPLETE', '', '1']);
  assert.deepEqual(tasksOf(m1).map((c) => c.id), [a.id]);
  // A new assigned task and a desired-state change arrive together after the batching delay.
  const b = await addTask(store, { nodeId: 'n1' });
  await store.update((tx) => {
    const cur = tx.get('tasks', a.id)!;
    tx.update('tasks', { ...cur, desiredState: TaskState.SHUTDOWN });
  });
  const next = it.next();
  await advance(timers, 150);
  const m2 = (await next).value as AssignmentsMessage;
  assert.deepEqual([m2.type, m2.appliesTo, m2.resultsIn], ['INCREMENTAL', '1', '2']);
  assert.deepEqual(
    tasksOf(m2).map((c) => [c.action, c.id, c.desired]).sort(),
    [
      ['UPDATE', a.id, TaskState.SHUTDOWN],
      ['UPDATE', b.id, TaskState.RUNNING],
    ].sort(),
  );
  // A status-only change (the agent's own report) sends nothing; a deletion sends REMOVE.
  await store.update((tx) => {
    const cur = tx.get('tasks', b.id)!;
    tx.update('tasks', { ...cur, status: { ...cur.status, state: TaskState.RUNNING, message: 'started' } });
  });
  await advance(timers, 150);
  await store.update((tx) => tx.delete('tasks', a.id));
  const third = it.next();
  await advance(timers, 150);
  const m3 = (await third).value as AssignmentsMessage;
  assert.deepEqual([m3.type, m3.appliesTo, m3.resultsIn], ['INCREMENTAL', '2', '3']);
  assert.deepEqual(tasksOf(m3).map((c) => [c.action, c.id]), [['REMOVE', a.id]]);
  ctx.abort();
  assert.equal((await it.next()).done, true);
  dispatcher.stop();
});

test('assignments flush at once when 100 changes are pending', async () => {
  const { timers, store, dispatcher } = await setup(['n1']);
  dispatcher.start();
  const { first } = await openSession(dispatcher, timers, 'n1');
  const ctx = ctxFor('n1');
  const it = dispatcher.assignments({ sessionId: first.sessionId }, ctx)[Symbol.asyncIterator]();
  await it.next();
  await store.update((tx) => {
    for (let i = 0; i < 100; i++) tx.create('tasks', makeTask({}, { nodeId: 'n1' }));
  });
  await settle();
  const m = (await it.next()).value as AssignmentsMessage;
  assert.equal(m.changes.length, 100, 'sent without waiting for the 100 ms timer');
  ctx.abort();
  dispatcher.stop();
});

test('assignments of a long burst over many nodes go out as one message per node once the dispatcher is quiet for 100 ms', async () => {
  const nodes = ['n1', 'n2', 'n3'];
  const { timers, store, dispatcher } = await setup(nodes);
  dispatcher.start();
  const streams = [];
  for (const n of nodes) {
    const { first } = await openSession(dispatcher, timers, n);
    const it = dispatcher.assignments({ sessionId: first.sessionId }, ctxFor(n))[Symbol.asyncIterator]();
    await it.next(); // COMPLETE (empty)
    const got: AssignmentsMessage[] = [];
    // Keep reading in the background: each message lands in `got` as soon as the stream yields it.
    void (async () => {
      for (let r = await it.next(); r.done !== true; r = await it.next()) got.push(r.value);
    })().catch(() => undefined); // the stream ends with 'dispatcher is stopped'
    streams.push(got);
  }
  // Like a scheduling pass committed as many proposals: a task every 40 ms, round-robin over the nodes, so each
  // node's own changes are 120 ms apart (more than the 100 ms debounce); 9 tasks over 360 ms.
  for (let i = 0; i < 9; i++) {
    await addTask(store, { nodeId: nodes[i % 3]! });
    await advance(timers, 40, 10);
    assert.deepEqual(streams.map((g) => g.length), [0, 0, 0], `nothing sent while the burst goes on (${i})`);
  }
  await advance(timers, 150, 10);
  assert.deepEqual(streams.map((g) => g.length), [1, 1, 1], 'one message per node after the quiet period');
  assert.deepEqual(streams.map((g) => g[0]!.changes.length), [3, 3, 3]);
  dispatcher.stop();
});

test('assignments are never held more than 1 s after the first pending change, however busy the dispatcher', async () => {
  const { timers, store, dispatcher } = await setup(['n1', 'n2']);
  dispatcher.start();
  const { first } = await openSession(dispatcher, timers, 'n1');
  const s2 = await openSession(dispatcher, timers, 'n2');
  const it = dispatcher.assignments({ sessionId: first.sessionId }, ctxFor('n1'))[Symbol.asyncIterator]();
  await it.next();
  const it2 = dispatcher.assignments({ sessionId: s2.first.sessionId }, ctxFor('n2'))[Symbol.asyncIterator]();
  void (async () => {
    while ((await it2.next()).done !== true); // drain n2's stream
  })().catch(() => undefined);
  const t0 = timers.now();
  await addTask(store, { nodeId: 'n1' });
  let sentAt: number | undefined;
  void it.next().then(
    () => (sentAt = timers.now()),
    () => undefined,
  );
  // Another node's changes every 50 ms keep the dispatcher busy for 2 s.
  const n2 = await addTask(store, { nodeId: 'n2' });
  for (let i = 0; i < 40 && sentAt === undefined; i++) {
    await store.update((tx) => {
      const cur = tx.get('tasks', n2.id)!;
      tx.update('tasks', { ...cur, spec: { ...cur.spec, container: { ...cur.spec.container, env: [`I=${i}`] } } });
    });
    await advance(timers, 50, 10);
  }
  assert.ok(sentAt !== undefined, 'sent while the other node is still busy');
  assert.ok(sentAt - t0 <= 1_000 + 20, `sent ${sentAt - t0} ms after the change`);
  assert.ok(sentAt - t0 >= 1_000 - 60, `held until the bound (${sentAt - t0} ms), not sent after 100 ms`);
  dispatcher.stop();
});

test('stopping the dispatcher ends streams with Aborted "dispatcher is stopped" and refuses calls', async () => {
  const { timers, dispatcher } = await setup(['n1']);
  dispatcher.start();
  const { first, it } = await openSession(dispatcher, timers, 'n1');
  dispatcher.stop();
  await assert.rejects(it.next(), (e: unknown) => e instanceof AbortedError && e.message === 'dispatcher is stopped');
  await assert.rejects(dispatcher.heartbeat({ sessionId: first.sessionId }, ctxFor('n1')), (e: unknown) => e instanceof AbortedError);
});

test('hostOf strips the port from peer addresses', () => {
  assert.equal(hostOf('127.0.0.1:5000'), '127.0.0.1');
  assert.equal(hostOf('ipv4:10.1.2.3:80'), '10.1.2.3');
  assert.equal(hostOf('[::1]:4242'), '::1');
  assert.equal(hostOf('ipv6:[fe80::1]:4242'), 'fe80::1');
});

test('a status batch whose proposal fails is written at the next flush', async () => {
  const { timers, store, dispatcher } = await setup(['n1']);
  dispatcher.start();
  const { first } = await openSession(dispatcher, timers, 'n1');
  const t = await addTask(store, { nodeId: 'n1' });
  const real = new LocalProposer(store);
  let failures = 1;
  store.setProposer({
    propose: (data) => (failures-- > 0 ? Promise.reject(new UnavailableError('raft: proposal dropped')) : real.propose(data)),
  });
  await dispatcher.updateTaskStatus({ sessionId: first.sessionId, updates: [{ taskId: t.id, statusJson: statusJson(TaskState.RUNNING, 9) }] }, ctxFor('n1'));
  await advance(timers, 150);
  assert.equal(store.view((tx) => tx.get('tasks', t.id)!.status.state), TaskState.ASSIGNED, 'first attempt failed');
  await advance(timers, 150);
  assert.equal(store.view((tx) => tx.get('tasks', t.id)!.status.state), TaskState.RUNNING, 'retried');
  dispatcher.stop();
});

test('status writes flush without waiting for the interval once maxWriteBatchItems are queued', async () => {
  const { timers, rng, store, managers, logger } = await setup(['n1']);
  const d = new Dispatcher({ store, timers, rng, clusterId: CLUSTER_ID, managerList: () => managers, logger, limits: { maxWriteBatchItems: 3 } });
  d.start();
  const { first } = await openSession(d, timers, 'n1');
  const ts = [await addTask(store, { nodeId: 'n1' }), await addTask(store, { nodeId: 'n1' })];
  await d.updateTaskStatus({ sessionId: first.sessionId, updates: ts.map((t) => ({ taskId: t.id, statusJson: statusJson(TaskState.ACCEPTED, 1) })) }, ctxFor('n1'));
  await settle();
  assert.equal(store.view((tx) => tx.get('tasks', ts[0]!.id)!.status.state), TaskState.ASSIGNED, '2 < 3 items: waits for the timer');
  const t3 = await addTask(store, { nodeId: 'n1' });
  await d.updateTaskStatus({ sessionId: first.sessionId, updates: [{ taskId: t3.id, statusJson: statusJson(TaskState.ACCEPTED, 1) }] }, ctxFor('n1'));
  await settle();
  assert.deepEqual(
    [...ts, t3].map((t) => store.view((tx) => tx.get('tasks', t.id)!.status.state)),
    [TaskState.ACCEPTED, TaskState.ACCEPTED, TaskState.ACCEPTED],
    'written at once, no simulated time passed',
  );
  d.stop();
});

test('equalIgnoringStatus: only status and meta may differ', () => {
  const t = makeTask({}, { nodeId: 'n1' });
  assert.equal(equalIgnoringStatus(t, { ...t, status: { ...t.status, state: TaskState.RUNNING }, meta: { ...t.meta, version: 9 } }), true);
  assert.equal(equalIgnoringStatus(t, structuredClone(t)), true, 'equal by value, different references');
  assert.equal(equalIgnoringStatus(t, { ...t, desiredState: TaskState.SHUTDOWN }), false);
  assert.equal(equalIgnoringStatus(t, { ...t, spec: { ...t.spec, forceUpdate: 1 } }), false);
  assert.equal(equalIgnoringStatus(t, { ...t, jobIteration: 2 }), false, 'a field only one side has');
});

test('a node DOWN for 24 h has its tasks in ASSIGNED..RUNNING marked ORPHANED; a node that comes back keeps them', async () => {
  const { timers, store, dispatcher } = await setup(['n1', 'n2'], { heartbeatPeriodMs: 1_000 });
  dispatcher.start();
  const s1 = await openSession(dispatcher, timers, 'n1');
  const s2 = await openSession(dispatcher, timers, 'n2');
  const running = await addTask(store, { nodeId: 'n1', status: { timestamp: 1, state: TaskState.RUNNING, message: 'started', err: '', appliedBy: 'n1', appliedAt: 1 } });
  const done = await addTask(store, { nodeId: 'n1', status: { timestamp: 1, state: TaskState.COMPLETE, message: 'finished', err: '', appliedBy: 'n1', appliedAt: 1 } });
  const back = await addTask(store, { nodeId: 'n2', status: { timestamp: 1, state: TaskState.RUNNING, message: 'started', err: '', appliedBy: 'n2', appliedAt: 1 } });
  s1.ctx.abort();
  s2.ctx.abort();
  await advance(timers, 5_000);
  assert.equal(nodeState(store, 'n1').state, NodeStatusState.DOWN);
  assert.equal(nodeState(store, 'n2').state, NodeStatusState.DOWN);
  await openSession(dispatcher, timers, 'n2'); // n2 returns within the 24 h
  timers.advance(86_400_000);
  await settle();
  const st = (id: string) => store.view((tx) => tx.get('tasks', id)!.status);
  assert.deepEqual([st(running.id).state, st(running.id).message], [TaskState.ORPHANED, TASK_ORPHANED]);
  assert.equal(st(done.id).state, TaskState.COMPLETE);
  assert.equal(st(back.id).state, TaskState.RUNNING);
  dispatcher.stop();
});

test('deleting a node ends its session with NotFound "node not found"', async () => {
  const { timers, store, dispatcher } = await setup(['n1']);
  dispatcher.start();
  const { it } = await openSession(dispatcher, timers, 'n1');
  await store.update((tx) => tx.delete('nodes', 'n1'));
  await settle();
  await assert.rejects(
    (async () => {
      for (;;) if ((await it.next()).done) return;
    })(),
    (e: unknown) => e instanceof NotFoundError && e.message === 'node not found',
  );
  assert.equal(dispatcher.sessionCount, 0);
  dispatcher.stop();
});

test('a registration whose node write never commits fails with Unavailable after registrationTimeoutMs', async () => {
  const { timers, store, dispatcher } = await setup(['n1']);
  dispatcher.start();
  store.setProposer({ propose: () => new Promise<void>(() => undefined) }); // a leader that never commits
  const it = dispatcher.session({ descriptionJson: '', sessionId: '' }, ctxFor('n1'))[Symbol.asyncIterator]();
  const p = it.next();
  const checked = assert.rejects(p, (e: unknown) => e instanceof UnavailableError && /registration not written within 5000 ms/.test(e.message));
  await advance(timers, 5_100);
  await checked;
  assert.equal(dispatcher.sessionCount, 0);
  dispatcher.stop();
});

test('a new dispatcher whose UNKNOWN/DOWN node writes fail logs them and leaves no unhandled rejection', async () => {
  // Found by the orchestration simulation: a leader that lost leadership right after starting its dispatcher saw
  // the leader-change writes rejected, unhandled — which ends a Node process.
  const { timers, store, dispatcher, logger } = await setup(['n1', 'n2'], { nodeState: NodeStatusState.UNKNOWN });
  store.setProposer({ propose: () => Promise.reject(new UnavailableError('raft: node stopped')) });
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    dispatcher.start();
    // The UNKNOWN batch (100 ms), then the leader-change grace (5 s × 6) and its DOWN batch.
    await advance(timers, 31_000, 500);
    await settle(10);
  } finally {
    process.off('unhandledRejection', onUnhandled);
    dispatcher.stop();
  }
  assert.deepEqual(unhandled, []);
  const warned = logger.entries.filter((e) => e.level === 'warn').map((e) => e.msg);
  assert.ok(warned.includes('could not mark the node UNKNOWN; retrying'), `warnings: ${JSON.stringify(warned)}`);
  assert.ok(warned.includes('could not mark the node DOWN; retrying'), `warnings: ${JSON.stringify(warned)}`);
  // Retried every second while the writes keep failing (two nodes, ~30 s of UNKNOWN retries).
  assert.ok(warned.filter((m) => m === 'could not mark the node UNKNOWN; retrying').length >= 40, 'the UNKNOWN writes were retried');
});

/** Makes `store` refuse every proposal (a leadership transfer in progress) until `.refuse` is set false. */
function refusingStore(store: Store): { refuse: boolean } {
  const proposer = (store as unknown as { proposer: { propose(d: Uint8Array): Promise<void> } }).proposer;
  const ctl = { refuse: true };
  store.setProposer({ propose: (d) => (ctl.refuse ? Promise.reject(new UnavailableError('raft: leadership transfer in progress')) : proposer.propose(d)) });
  return ctl;
}

/** A new registration of `nodeId` whose READY write is refused: the call fails. */
async function failedRegistration(d: Dispatcher, timers: SimTimers, nodeId: string): Promise<void> {
  const it = d.session({ descriptionJson: '', sessionId: '' }, ctxFor(nodeId))[Symbol.asyncIterator]();
  const p = assert.rejects(it.next(), /leadership transfer in progress/);
  await advance(timers, 200);
  await p;
}

test('after a leader change, a node whose UNKNOWN write kept failing through the grace is still written DOWN', async () => {
  const { timers, store, dispatcher } = await setup(['n1'], { heartbeatPeriodMs: 1_000, nodeState: NodeStatusState.READY });
  const ctl = refusingStore(store);
  dispatcher.start();
  await advance(timers, 6_200, 100); // the whole grace (6 × 1 s) with every write refused
  assert.equal(nodeState(store, 'n1').state, NodeStatusState.READY, 'nothing was written');
  ctl.refuse = false;
  await advance(timers, 1_500, 100);
  assert.deepEqual([nodeState(store, 'n1').state, nodeState(store, 'n1').message], [NodeStatusState.DOWN, HEARTBEAT_FAILURE_UNKNOWN]);
  dispatcher.stop();
});

test('a heartbeat expiry whose DOWN write fails (a leadership transfer in progress) is retried until the node is DOWN', async () => {
  const { timers, store, dispatcher, logger } = await setup(['n1'], { heartbeatPeriodMs: 1_000 });
  dispatcher.start();
  await openSession(dispatcher, timers, 'n1');
  const store_ = refusingStore(store);
  await advance(timers, 6_000, 100); // past the latest expiry (3 × 1.5 s) and a few retries
  assert.equal(nodeState(store, 'n1').state, NodeStatusState.READY, 'the DOWN write was refused');
  assert.ok(logger.entries.some((e) => e.msg === 'could not mark the node DOWN; retrying'));
  store_.refuse = false;
  await advance(timers, 1_500, 100);
  const st = nodeState(store, 'n1');
  assert.deepEqual([st.state, st.message], [NodeStatusState.DOWN, HEARTBEAT_FAILURE]);
  dispatcher.stop();
});

test('a node whose re-registration fails and that then goes silent is DOWN after the heartbeat grace', async () => {
  // Found by the orchestration simulation: the failed registration closed the live session (and its expiry),
  // so the dead node stayed READY for good.
  const { timers, store, dispatcher } = await setup(['n1'], { heartbeatPeriodMs: 1_000 });
  dispatcher.start();
  const { first } = await openSession(dispatcher, timers, 'n1');
  await dispatcher.heartbeat({ sessionId: first.sessionId }, ctxFor('n1'));
  const store_ = refusingStore(store);
  // The agent restarts and registers anew: its READY write is refused, so the registration fails.
  await failedRegistration(dispatcher, timers, 'n1');
  assert.equal(dispatcher.sessionCount, 0);
  store_.refuse = false;
  // Then the node is never heard from again: DOWN within 3 × (1 s + 500 ms jitter).
  await advance(timers, 4_000, 100);
  assert.equal(nodeState(store, 'n1').state, NodeStatusState.READY, 'not before the grace');
  await advance(timers, 700, 100);
  const st = nodeState(store, 'n1');
  assert.deepEqual([st.state, st.message], [NodeStatusState.DOWN, HEARTBEAT_FAILURE]);
  dispatcher.stop();
});

test('a node whose registration failed but that registers again within the grace stays READY', async () => {
  const { timers, store, dispatcher } = await setup(['n1'], { heartbeatPeriodMs: 1_000 });
  dispatcher.start();
  await openSession(dispatcher, timers, 'n1');
  const store_ = refusingStore(store);
  await failedRegistration(dispatcher, timers, 'n1');
  store_.refuse = false;
  await advance(timers, 1_000);
  const { first } = await openSession(dispatcher, timers, 'n1');
  for (let i = 0; i < 8; i++) {
    await advance(timers, 500);
    await dispatcher.heartbeat({ sessionId: first.sessionId }, ctxFor('n1'));
  }
  assert.equal(nodeState(store, 'n1').state, NodeStatusState.READY);
  dispatcher.stop();
});
