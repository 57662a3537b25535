import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TaskState, UnavailableError, type Task } from '../../../src/host/api/index.js';
import { SeededRng, SimTimers, type TimerHandle, type Timers } from '../../../src/host/env/index.js';
import { createLocalStore, newId } from '../../../src/host/store/index.js';
import { FailureTracker } from '../../../src/host/scheduler/index.js';
import { SchedulerHost } from '../../../src/host/orchestration/index.js';
import { flush, nodeObj, serviceObj, storedTaskOf } from './harness.js';

function pendingTask(rng: SeededRng, serviceId: string, slot: number): Task {
  return storedTaskOf(serviceObj(serviceId), { id: newId(rng), slot, nodeId: '', state: TaskState.PENDING, message: 'pending task scheduling' });
}

/** Timers whose callbacks the test fires by hand (to put a write exactly between a pass and its commit). */
class HandTimers implements Timers {
  readonly due: { id: number; fn: () => void }[] = [];
  private next = 1;
  now(): number {
    return 1_700_000_000_000;
  }
  setTimeout(fn: () => void): TimerHandle {
    const id = this.next++;
    this.due.push({ id, fn });
    return { id };
  }
  clearTimeout(h: TimerHandle): void {
    const i = this.due.findIndex((d) => d.id === h.id);
    if (i >= 0) this.due.splice(i, 1);
  }
}

test('an assignment whose node changed between the pass and the commit is refused, re-queued and placed again (§6.4)', async () => {
  const timers = new HandTimers();
  const rng = new SeededRng(5);
  const { store } = createLocalStore({ clock: timers, rng });
  const t = pendingTask(rng, 'web', 1);
  await store.update((tx) => {
    tx.create('nodes', nodeObj('n1'));
    tx.create('tasks', t);
  });
  const host = new SchedulerHost({ store, timers, clock: timers, failures: new FailureTracker(timers), isRunning: () => true, onError: (w, e) => assert.fail(`${w}: ${String(e)}`) });
  host.reset(store.view((tx) => tx.list('nodes')), store.view((tx) => tx.list('tasks')) as Task[]);
  assert.equal(timers.due.length, 1, 'a debounced pass is armed');
  // Another writer changes n1 just before the pass commits (queued first, applied first).
  void store.update((tx) => {
    const n = tx.get('nodes', 'n1')!;
    tx.update('nodes', { ...n, spec: { ...n.spec, annotations: { name: 'n1', labels: { zone: 'a' } } } } as typeof n);
  });
  host.onNode('n1');
  timers.due.shift()!.fn();
  await flush();
  assert.equal(host.stats.commitFailures, 1);
  const after = store.view((tx) => tx.get('tasks', t.id))!;
  assert.equal(after.status.state, TaskState.ASSIGNED, 'placed by the immediate retry pass');
  assert.equal(after.nodeId, 'n1');
  assert.equal(host.stats.assigned, 1);
});

test('a pass whose proposals all fail is retried through the debounce timer, not in a loop', async () => {
  // Found by the orchestration simulation: during a leadership transfer every proposal fails at once; the
  // immediate retry spun on microtasks forever and starved the timers that would complete the transfer.
  const timers = new HandTimers();
  const rng = new SeededRng(9);
  const { store, proposer } = createLocalStore({ clock: timers, rng });
  const t = pendingTask(rng, 'web', 1);
  await store.update((tx) => {
    tx.create('nodes', nodeObj('n1'));
    tx.create('tasks', t);
  });
  // Refuses while `refuse` holds, but at most 100 times, so that a retry loop ends (and fails the test) instead of hanging.
  let refuse = true;
  let refusals = 0;
  store.setProposer({
    propose: (d) => (refuse && refusals++ < 100 ? Promise.reject(new UnavailableError('raft: leadership transfer in progress')) : proposer.propose(d)),
  });
  const host = new SchedulerHost({ store, timers, clock: timers, failures: new FailureTracker(timers), isRunning: () => true, onError: (w, e) => assert.fail(`${w}: ${String(e)}`) });
  host.reset(store.view((tx) => tx.list('nodes')), store.view((tx) => tx.list('tasks')) as Task[]);
  timers.due.shift()!.fn();
  await flush();
  assert.equal(host.stats.passes, 1, 'one pass, no immediate retry');
  assert.equal(host.stats.commitFailures, 1);
  assert.equal(timers.due.length, 1, 'the retry waits on a timer');
  refuse = false;
  timers.due.shift()!.fn();
  await flush();
  assert.equal(store.view((tx) => tx.get('tasks', t.id))!.status.state, TaskState.ASSIGNED);
});

test('passes are debounced 50 ms after the last change but never delayed more than 1 s', async () => {
  const timers = new SimTimers();
  const rng = new SeededRng(6);
  const { store } = createLocalStore({ clock: timers, rng });
  await store.update((tx) => {
    tx.create('nodes', nodeObj('n1'));
    tx.create('tasks', pendingTask(rng, 'web', 1));
  });
  const host = new SchedulerHost({ store, timers, clock: timers, failures: new FailureTracker(timers), isRunning: () => true, onError: (w, e) => assert.fail(`${w}: ${String(e)}`) });
  const start = timers.now();
  host.reset(store.view((tx) => tx.list('nodes')), store.view((tx) => tx.list('tasks')) as Task[]);
  // A change every 40 ms keeps postponing the 50 ms debounce...
  while (host.stats.passes === 0) {
    timers.advance(40);
    host.onNode('n1');
    await flush();
    assert.ok(timers.now() - start <= 1_040, 'the pass came within the 1 s latency bound');
  }
  const took = timers.now() - start;
  assert.ok(took >= 1_000, `...until the 1 s bound forces it (took ${took} ms)`);
  // ...and a single change is picked up 50 ms later.
  await store.update((tx) => tx.create('tasks', pendingTask(rng, 'web', 2)));
  host.onTask(store.view((tx) => tx.find('tasks', { slot: 2, serviceId: 'web' }))[0] as Task, undefined);
  timers.advance(49);
  await flush();
  assert.equal(host.stats.passes, 1);
  timers.advance(1);
  await flush();
  assert.equal(host.stats.passes, 2);
  assert.equal(host.stats.assigned, 2);
  await host.stop();
});

test('a queue of eagerPassTasks or more runs a pass at once instead of after the debounce', async () => {
  const timers = new SimTimers();
  const rng = new SeededRng(8);
  const { store } = createLocalStore({ clock: timers, rng });
  await store.update((tx) => {
    tx.create('nodes', nodeObj('n1'));
    for (let slot = 1; slot <= 2; slot++) tx.create('tasks', pendingTask(rng, 'web', slot));
  });
  const host = new SchedulerHost({
    store, timers, clock: timers, failures: new FailureTracker(timers), isRunning: () => true, eagerPassTasks: 3,
    onError: (w, e) => assert.fail(`${w}: ${String(e)}`),
  });
  host.reset(store.view((tx) => tx.list('nodes')), store.view((tx) => tx.list('tasks')) as Task[]);
  timers.advance(0);
  await flush();
  assert.equal(host.stats.passes, 0, 'two queued tasks wait for the debounce');
  // A third task reaches the threshold: the pass runs on the next timer turn, not 50 ms later.
  const third = pendingTask(rng, 'web', 3);
  await store.update((tx) => tx.create('tasks', third));
  host.onTask(third, undefined);
  timers.advance(0);
  await flush();
  assert.equal(host.stats.passes, 1);
  assert.equal(host.stats.assigned, 3);
  await host.stop();
});

test('an eagerPassTasks that is not a positive integer is refused, naming the option', () => {
  const timers = new SimTimers();
  const { store } = createLocalStore({ clock: timers, rng: new SeededRng(9) });
  for (const bad of [0, -1, 1.5, Number.NaN]) {
    assert.throws(
      () => new SchedulerHost({ store, timers, clock: timers, failures: new FailureTracker(timers), isRunning: () => true, onError: () => undefined, eagerPassTasks: bad }),
      /scheduler eagerPassTasks: must be a positive integer, got/,
    );
  }
});
