import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FailedPreconditionError,
  InvalidArgumentError,
  TaskState,
  UpdateFailureAction,
  UpdateOrder,
  UpdateState,
  type UpdateConfig,
} from '../../../src/host/api/index.js';
import {
  carryUpdateConfig,
  effectiveUpdateConfig,
  initialUpdaterState,
  manualRollback,
  NO_PREVIOUS_SPEC_FOR_ROLLBACK,
  stepUpdater,
  validateUpdateConfig,
} from '../../../src/plugins/orchestrators/index.js';
import { idGen, labelConstraints, node, nodesById, service, task } from './fixtures.js';
import { UpdateWorld, type Behaviour } from './update-world.js';

const ok: Behaviour = { startMs: 1_000, stopMs: 500 };
const cfg = (o: Partial<UpdateConfig> = {}): UpdateConfig => ({
  parallelism: 1,
  delayMs: 0,
  failureAction: UpdateFailureAction.PAUSE,
  monitorMs: 5_000,
  maxFailureRatio: 0,
  order: UpdateOrder.STOP_FIRST,
  ...o,
});

test('with no update config the update is lockstep: every dirty slot is replaced in the first step', () => {
  const w = new UpdateWorld(6, () => ok);
  w.userUpdate('v2');
  w.run(100);
  assert.deepEqual(w.createdAt('v2'), [100, 100, 100, 100, 100, 100]);
  assert.equal(w.svc.updateStatus?.state, UpdateState.UPDATING);
  assert.equal(w.svc.updateStatus?.message, 'update in progress');
  assert.equal(w.svc.updateStatus?.startedAt, 100);
  w.run(10_000);
  assert.equal(w.svc.updateStatus?.state, UpdateState.COMPLETED);
  assert.equal(w.svc.updateStatus?.message, 'update completed');
  assert.ok(Object.values(w.liveImages()).every((imgs) => imgs.length === 1 && imgs[0] === 'v2'));
});

test('parallelism 2 never has more than 2 slots updating at once, and the whole service converges', () => {
  const w = new UpdateWorld(6, () => ok);
  w.userUpdate('v2', cfg({ parallelism: 2 }));
  w.run(60_000);
  assert.equal(w.maxSlotsUpdating, 2);
  assert.equal(w.svc.updateStatus?.state, UpdateState.COMPLETED);
  assert.deepEqual(Object.keys(w.liveImages()).length, 6);
  assert.ok(Object.values(w.liveImages()).every((imgs) => imgs.length === 1 && imgs[0] === 'v2'));
  assert.ok(w.state.inFlight.length === 0);
});

test('the delay is respected between a slot reaching RUNNING and the worker taking the next slot', () => {
  const w = new UpdateWorld(3, () => ok);
  w.userUpdate('v2', cfg({ parallelism: 1, delayMs: 10_000 }));
  w.run(60_000);
  const created = w.createdAt('v2');
  assert.equal(created.length, 3);
  const runningAt = (slot: number) =>
    w.log.find((e) => e.kind === 'state' && e.value === TaskState.RUNNING && e.slot === slot && w.tasks.get(e.taskId!)?.spec.container.image === 'v2')!.atMs;
  assert.ok(created[1]! >= runningAt(1) + 10_000, `slot 2 created at ${created[1]}, slot 1 running at ${runningAt(1)}`);
  assert.ok(created[2]! >= runningAt(2) + 10_000);
  assert.equal(w.svc.updateStatus?.state, UpdateState.COMPLETED);
});

test('a step during the delay asks to be woken when the delay ends', () => {
  const w = new UpdateWorld(2, () => ok);
  w.userUpdate('v2', cfg({ parallelism: 1, delayMs: 7_000 }));
  w.run(3_000);
  // Slot 1's new task ran at ~1.6 s (old stopped at 0.6 s, start 1 s later): the worker now sleeps 7 s.
  const ranAt = w.log.find((e) => e.kind === 'state' && e.value === TaskState.RUNNING)!.atMs;
  assert.equal(w.lastWakeAtMs, ranAt + 7_000);
});

test('stop-first: the old task is told to stop with the new one created, and the new one starts only after the old stopped', () => {
  const w = new UpdateWorld(1, () => ok);
  w.userUpdate('v2', cfg({ order: UpdateOrder.STOP_FIRST }));
  w.run(10_000);
  const created = w.log.find((e) => e.kind === 'created' && e.image === 'v2')!;
  assert.equal(created.value, TaskState.READY);
  const oldStopOrder = w.log.find((e) => e.kind === 'desired' && e.taskId === 'old1')!;
  const oldStopped = w.log.find((e) => e.kind === 'state' && e.taskId === 'old1' && e.value === TaskState.SHUTDOWN)!;
  const newStart = w.log.find((e) => e.kind === 'desired' && e.taskId === created.taskId && e.value === TaskState.RUNNING)!;
  assert.equal(oldStopOrder.atMs, created.atMs);
  assert.ok(newStart.atMs >= oldStopped.atMs);
});

test('start-first: the new task starts at once and the old one is stopped only when the new one runs', () => {
  const w = new UpdateWorld(1, () => ok);
  w.userUpdate('v2', cfg({ order: UpdateOrder.START_FIRST }));
  w.run(10_000);
  const created = w.log.find((e) => e.kind === 'created' && e.image === 'v2')!;
  assert.equal(created.value, TaskState.RUNNING);
  const newRunning = w.log.find((e) => e.kind === 'state' && e.taskId === created.taskId && e.value === TaskState.RUNNING)!;
  const oldStopOrder = w.log.find((e) => e.kind === 'desired' && e.taskId === 'old1' && e.value === TaskState.SHUTDOWN)!;
  assert.ok(oldStopOrder.atMs >= newRunning.atMs);
  assert.equal(w.svc.updateStatus?.state, UpdateState.COMPLETED);
});

test('stop-first waits at most 1 min for an old task that never stops', () => {
  const w = new UpdateWorld(1, (t) => (t.id === 'old1' ? { ...ok, neverStops: true } : ok));
  w.userUpdate('v2', cfg());
  w.run(59_000, 1_000);
  const created = w.log.find((e) => e.kind === 'created' && e.image === 'v2')!;
  assert.equal(w.lastWakeAtMs, created.atMs + 60_000);
  assert.equal(w.tasks.get(created.taskId!)!.desiredState, TaskState.READY);
  w.run(62_000, 1_000);
  assert.equal(w.tasks.get(created.taskId!)!.desiredState, TaskState.RUNNING);
});

const failing = (t: { spec: { container: { image: string } } }): Behaviour => (t.spec.container.image === 'bad' ? { ...ok, fail: true } : ok);

test('failure action pause: the first failing new task pauses the update with its id, and no more slots are touched', () => {
  const w = new UpdateWorld(4, failing);
  w.userUpdate('bad', cfg({ parallelism: 1, failureAction: UpdateFailureAction.PAUSE }));
  w.run(30_000);
  const firstBad = w.log.find((e) => e.kind === 'created' && e.image === 'bad')!.taskId!;
  assert.equal(w.svc.updateStatus?.state, UpdateState.PAUSED);
  assert.equal(w.svc.updateStatus?.message, `update paused due to failure or early termination of task ${firstBad}`);
  assert.equal(w.createdAt('bad').length, 1);
  // Paused stays paused.
  w.run(60_000);
  assert.equal(w.createdAt('bad').length, 1);
});

test('failure action continue: failures are ignored and the update completes', () => {
  const w = new UpdateWorld(3, failing);
  w.userUpdate('bad', cfg({ parallelism: 1, failureAction: UpdateFailureAction.CONTINUE }));
  w.run(60_000);
  assert.equal(w.createdAt('bad').length, 3);
  assert.equal(w.svc.updateStatus?.state, UpdateState.COMPLETED);
});

test('max failure ratio: the action fires only when failures / dirty slots exceeds the ratio', () => {
  // Slots 1 and 2's new tasks fail: 2/4 = 0.5.
  const twoBad = (t: { slot: number; spec: { container: { image: string } } }): Behaviour =>
    t.spec.container.image === 'v2' && t.slot <= 2 ? { ...ok, fail: true } : ok;
  const atHalf = new UpdateWorld(4, twoBad);
  atHalf.userUpdate('v2', cfg({ parallelism: 1, maxFailureRatio: 0.5 }));
  atHalf.run(60_000);
  assert.equal(atHalf.svc.updateStatus?.state, UpdateState.COMPLETED);
  const belowHalf = new UpdateWorld(4, twoBad);
  belowHalf.userUpdate('v2', cfg({ parallelism: 1, maxFailureRatio: 0.4 }));
  belowHalf.run(60_000);
  assert.equal(belowHalf.svc.updateStatus?.state, UpdateState.PAUSED);
  assert.equal(belowHalf.createdAt('v2').length, 2);
});

test('monitor window: a task failing within the monitor period counts, one failing after it does not', () => {
  const within = new UpdateWorld(2, (t) => (t.spec.container.image === 'v2' ? { ...ok, failAfterRunningMs: 3_000 } : ok));
  within.userUpdate('v2', cfg({ parallelism: 1, monitorMs: 5_000 }));
  within.run(30_000);
  assert.equal(within.svc.updateStatus?.state, UpdateState.PAUSED);
  const after = new UpdateWorld(2, (t) => (t.spec.container.image === 'v2' ? { ...ok, failAfterRunningMs: 8_000 } : ok));
  after.userUpdate('v2', cfg({ parallelism: 1, monitorMs: 5_000, delayMs: 6_000 }));
  after.run(60_000);
  assert.equal(after.svc.updateStatus?.state, UpdateState.COMPLETED);
});

test('after the last slot the update keeps monitoring for the monitor period before completing', () => {
  const w = new UpdateWorld(1, () => ok);
  w.userUpdate('v2', cfg({ monitorMs: 5_000 }));
  w.run(20_000);
  const ranAt = w.log.find((e) => e.kind === 'state' && e.value === TaskState.RUNNING)!.atMs;
  const done = w.log.find((e) => e.kind === 'status' && e.value === 'update completed')!.atMs;
  assert.ok(done >= ranAt + 5_000 && done <= ranAt + 5_200, `ran ${ranAt} done ${done}`);
  assert.equal(w.svc.updateStatus?.completedAt, done);
});

test('failure action rollback: the spec goes back to the previous one and the rollback completes', () => {
  const w = new UpdateWorld(3, failing);
  w.userUpdate('bad', cfg({ failureAction: UpdateFailureAction.ROLLBACK }), cfg({ parallelism: 0 }));
  w.run(60_000);
  const firstBad = w.log.find((e) => e.kind === 'created' && e.image === 'bad')!.taskId!;
  const messages = w.log.filter((e) => e.kind === 'status').map((e) => e.value);
  assert.deepEqual(messages, [
    'update in progress',
    `update rolled back due to failure or early termination of task ${firstBad}`,
    'rollback completed',
  ]);
  assert.equal(w.svc.updateStatus?.state, UpdateState.ROLLBACK_COMPLETED);
  assert.equal(w.svc.spec.task.container.image, 'v1');
  assert.equal(w.svc.previousSpec, undefined);
  assert.ok(Object.values(w.liveImages()).every((imgs) => imgs.length === 1 && imgs[0] === 'v1'));
});

test('a rollback that fails ends in ROLLBACK_PAUSED', () => {
  // v1 itself is broken for new tasks: updating to v2 fails, rolling back to v1 fails too.
  const w = new UpdateWorld(2, (t) => (t.id.startsWith('u') ? { ...ok, fail: true } : ok));
  w.userUpdate('v2', cfg({ failureAction: UpdateFailureAction.ROLLBACK }), cfg({ failureAction: UpdateFailureAction.ROLLBACK }));
  w.run(60_000);
  assert.equal(w.svc.updateStatus?.state, UpdateState.ROLLBACK_PAUSED);
  assert.match(w.svc.updateStatus!.message, /^rollback paused due to failure or early termination of task u\d+$/);
});

test('an automatic rollback without a previous spec reports the error and stops', () => {
  const w = new UpdateWorld(1, failing);
  w.userUpdate('bad', cfg({ failureAction: UpdateFailureAction.ROLLBACK }));
  delete w.svc.previousSpec;
  w.run(20_000);
  assert.deepEqual(w.errors, [NO_PREVIOUS_SPEC_FOR_ROLLBACK]);
  assert.equal(w.svc.updateStatus?.state, UpdateState.UPDATING);
  assert.equal(w.state.phase, 'stopped');
});

test('a new spec during an update supersedes it: the run restarts towards the newest spec', () => {
  const w = new UpdateWorld(4, () => ok);
  w.userUpdate('v2', cfg({ parallelism: 1, delayMs: 5_000 }));
  w.run(3_000);
  assert.equal(w.createdAt('v2').length, 1);
  w.userUpdate('v3');
  w.run(60_000);
  assert.equal(w.createdAt('v2').length, 1, 'no more v2 tasks after the new spec');
  assert.equal(w.createdAt('v3').length, 4, 'every slot, including the one already at v2, moves to v3');
  assert.ok(Object.values(w.liveImages()).every((imgs) => imgs.length === 1 && imgs[0] === 'v3'));
  assert.equal(w.svc.updateStatus?.state, UpdateState.COMPLETED);
});

test('the same spec observed again is ignored once the update finished', () => {
  const w = new UpdateWorld(2, () => ok);
  w.userUpdate('v2', cfg());
  w.run(30_000);
  const n = w.log.length;
  w.run(40_000);
  assert.equal(w.log.length, n);
});

test('manual rollback swaps spec and previous spec and rolls back with the rollback config', () => {
  const w = new UpdateWorld(2, () => ok);
  w.userUpdate('v2', cfg());
  w.run(30_000);
  assert.equal(w.svc.updateStatus?.state, UpdateState.COMPLETED);
  w.svc = manualRollback(w.svc, w.nowMs);
  assert.equal(w.svc.updateStatus?.message, 'manually requested rollback');
  assert.equal(w.svc.updateStatus?.state, UpdateState.ROLLBACK_STARTED);
  assert.equal(w.svc.previousSpec?.task.container.image, 'v2');
  w.run(60_000);
  assert.equal(w.svc.updateStatus?.state, UpdateState.ROLLBACK_COMPLETED);
  assert.equal(w.svc.updateStatus?.message, 'rollback completed');
  assert.ok(Object.values(w.liveImages()).every((imgs) => imgs.length === 1 && imgs[0] === 'v1'));
});

test('manual rollback without a previous spec is refused', () => {
  assert.throws(() => manualRollback(service({ id: 'abc' }), 0), (e: unknown) => e instanceof FailedPreconditionError && e.message === 'service abc does not have a previous spec');
});

test('a paused update is left alone until a new spec arrives', () => {
  const svc = service({ replicas: 1, specVersion: 5 });
  svc.updateStatus = { state: UpdateState.PAUSED, startedAt: 0, completedAt: 0, message: 'x' };
  const out = stepUpdater(initialUpdaterState(svc.id), { service: svc, slots: [], tasks: [], nodes: {} }, 0, { newId: idGen(), constraintsMet: labelConstraints });
  assert.equal(out.nextState.phase, 'stopped');
  assert.equal(out.actions.create.length + out.actions.setDesired.length, 0);
  assert.equal(out.actions.setServiceUpdateStatus, undefined);
});

test('an UPDATING service with nothing dirty completes at once (e.g. after a leader change)', () => {
  const svc = service({ replicas: 0, specVersion: 5 });
  svc.updateStatus = { state: UpdateState.UPDATING, startedAt: 3, completedAt: 0, message: 'update in progress' };
  const out = stepUpdater(initialUpdaterState(svc.id), { service: svc, slots: [], tasks: [], nodes: {} }, 9, { newId: idGen(), constraintsMet: labelConstraints });
  assert.deepEqual(out.actions.setServiceUpdateStatus, {
    serviceId: svc.id,
    updateStatus: { state: UpdateState.COMPLETED, message: 'update completed', startedAt: 3, completedAt: 9 },
  });
});

test('update config: validation names the field; unset config is lockstep; unnamed options carry over', () => {
  assert.throws(() => validateUpdateConfig(cfg({ maxFailureRatio: 1.5 })), (e: unknown) => e instanceof InvalidArgumentError && /update\.maxFailureRatio/.test(e.message));
  assert.throws(() => validateUpdateConfig(cfg({ delayMs: -1 }), 'rollback'), /rollback\.delayMs/);
  assert.throws(() => validateUpdateConfig(cfg({ monitorMs: -1 })), /monitorMs/);
  assert.throws(() => validateUpdateConfig(cfg({ parallelism: -2 })), /parallelism/);
  validateUpdateConfig(cfg({ parallelism: 0, maxFailureRatio: 1 }));
  const s = service();
  assert.equal(effectiveUpdateConfig(s.spec, false).parallelism, 0);
  assert.equal(effectiveUpdateConfig(s.spec, true).parallelism, 0);
  const prev = { ...s.spec, update: cfg({ parallelism: 3 }) };
  assert.equal(carryUpdateConfig(prev, s.spec).update?.parallelism, 3);
  assert.equal(carryUpdateConfig(prev, { ...s.spec, update: cfg({ parallelism: 7 }) }).update?.parallelism, 7);
});

test('monitor window with sparse observations: a failure first seen long after the task ran is not counted', () => {
  const w = new UpdateWorld(2, (t) => (t.spec.container.image === 'v2' ? { ...ok, failAfterRunningMs: 8_000 } : ok));
  w.userUpdate('v2', cfg({ parallelism: 1, monitorMs: 5_000 }));
  w.run(2_000);
  assert.ok(w.log.some((e) => e.kind === 'state' && e.value === TaskState.RUNNING));
  w.run(12_000, 10_000); // the next observation already shows the task FAILED, 10 s after it started running
  assert.ok(w.log.some((e) => e.kind === 'state' && e.value === TaskState.FAILED));
  assert.notEqual(w.svc.updateStatus?.state, UpdateState.PAUSED);
});

test('global services update node by node: the replacement goes on the same node', () => {
  const svc = service({ id: 'g', mode: { global: {} }, specVersion: 2 });
  svc.spec.update = cfg({ parallelism: 1 });
  const old = (n: string) => ({ ...taskOf(svc, n), specVersion: 1, spec: { ...svc.spec.task, forceUpdate: 0, container: { ...svc.spec.task.container, image: 'old' } } });
  const tasks = [old('a'), old('b')];
  const nodes = nodesById(node('a'), node('b'));
  const out = stepUpdater(initialUpdaterState(svc.id), { service: svc, slots: tasks.map((t) => [t]), tasks, nodes }, 0, { newId: idGen('x'), constraintsMet: labelConstraints });
  assert.equal(out.actions.create.length, 1);
  const created = out.actions.create[0]!;
  assert.equal(created.nodeId, 'a');
  assert.equal(created.slot, 0);
  assert.equal(created.desiredState, TaskState.READY);
  assert.deepEqual(out.actions.setDesired, [{ taskId: 'g-a', desiredState: TaskState.SHUTDOWN, reason: 'update: replaced (stop-first)' }]);
  assert.deepEqual(out.nextState.queue.slice(out.nextState.queueHead), ['node:b']);
});

function taskOf(svc: ReturnType<typeof service>, nodeId: string) {
  return task({ id: `g-${nodeId}`, svc, slot: 0, nodeId });
}

test('a queued slot that disappeared (scaled away) is skipped and the worker takes the next one', () => {
  const svc = service({ replicas: 4, specVersion: 2 });
  svc.spec.update = cfg({ parallelism: 1, order: UpdateOrder.START_FIRST, monitorMs: 0 });
  const olds = [1, 2, 3, 4].map((s) => ({ ...task({ id: `o${s}`, svc, slot: s, nodeId: 'n1' }), specVersion: 1, spec: { ...svc.spec.task, forceUpdate: 9 } }));
  const nodes = nodesById(node('n1'));
  const ctx = { newId: idGen('x'), constraintsMet: labelConstraints };
  const first = stepUpdater(initialUpdaterState(svc.id), { service: svc, slots: olds.map((t) => [t]), tasks: olds, nodes }, 0, ctx);
  assert.deepEqual(first.actions.create.map((t) => t.slot), [1]);
  const running = { ...first.actions.create[0]!, status: { ...first.actions.create[0]!.status, state: TaskState.RUNNING } };
  // Slot 2 is gone; slot 1 now holds its new running task.
  const slots = [[olds[0]!, running], [olds[2]!], [olds[3]!]];
  const second = stepUpdater(first.nextState, { service: svc, slots, tasks: [...olds, running], nodes }, 1_000, ctx);
  assert.deepEqual(second.actions.create.map((t) => t.slot), [3]);
});

test('a leader change in the middle of an update: a fresh updater resumes from the store and completes', () => {
  const w = new UpdateWorld(6, () => ok);
  w.userUpdate('v2', cfg({ parallelism: 2, delayMs: 2_000 }));
  w.run(4_000);
  const before = w.createdAt('v2').length;
  assert.ok(before >= 2 && before < 6, `created ${before} before the leader change`);
  w.state = initialUpdaterState(w.svc.id); // the new leader starts with no updater memory
  w.run(90_000);
  assert.equal(w.svc.updateStatus?.state, UpdateState.COMPLETED);
  assert.equal(w.createdAt('v2').length, 6, 'no slot is replaced twice');
  // Like SwarmKit, the new updater has no memory of the slots already in flight: only the still-dirty ones are
  // queued, so for a moment up to 2 + 2 slots may be starting.
  assert.ok(w.maxSlotsUpdating <= 4);
  assert.ok(Object.values(w.liveImages()).every((imgs) => imgs.length === 1 && imgs[0] === 'v2'));
});

test('a run superseded by a spec change that leaves the slot clean hands its stop-first slot over as a delayed start', () => {
  // Found by the orchestration simulation: an env update dispatched a slot stop-first (new task at READY), then a
  // scale (new spec version, same task spec) cancelled the run; the next run saw the slot clean and nobody ever
  // raised the new task to RUNNING.
  const w = new UpdateWorld(1, (t) => (t.id === 'old1' ? { ...ok, stopMs: 5_000 } : ok));
  w.userUpdate('v2', cfg({ order: UpdateOrder.STOP_FIRST }));
  w.run(1_000);
  const created = w.log.find((e) => e.kind === 'created' && e.image === 'v2')!;
  assert.equal(w.tasks.get(created.taskId!)!.desiredState, TaskState.READY);
  assert.equal(w.state.inFlight[0]?.phase, 'waitOldStop');
  // A scale: new spec version, same task spec.
  w.svc = { ...w.svc, specVersion: w.svc.specVersion + 1, spec: { ...w.svc.spec, mode: { replicated: { replicas: 1 } } } };
  const tasks = [...w.tasks.values()];
  const out = stepUpdater(w.state, { service: w.svc, slots: [[w.tasks.get(created.taskId!)!]], tasks, nodes: w.nodes }, w.nowMs, { newId: idGen('x'), constraintsMet: labelConstraints });
  assert.equal(out.nextState.phase, 'finished', 'the new run finds the slot clean');
  assert.deepEqual(out.actions.delayedStarts, [
    { taskId: created.taskId, desiredState: TaskState.RUNNING, notBeforeMs: w.nowMs, waitForTaskId: 'old1', waitDeadlineMs: created.atMs + 60_000 },
  ]);
});
