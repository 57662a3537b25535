import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TaskState as S } from '../../src/host/api/objects.js';
import type { Task, TaskStatus } from '../../src/host/api/objects.js';
import { DataLossError } from '../../src/host/api/errors.js';
import { SimTimers } from '../../src/host/env/index.js';
import { TaskRunner } from '../../src/host/agent/task-runner.js';
import { TaskDb } from '../../src/host/agent/task-db.js';
import type { TaskHandle } from '../../src/host/agent/executor.js';
import { SimEngine, SimExecutor } from '../../src/plugins/executors/sim/index.js';
import { makeTask } from '../support/tasks.js';

/** Lets pending promise callbacks run (the runner awaits between steps). */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r));
}

function harness(task: Task, opts: { delays?: { prepareMs?: number; startMs?: number; stopMs?: number }; engine?: SimEngine; timers?: SimTimers } = {}) {
  const timers = opts.timers ?? new SimTimers(0);
  const ex = new SimExecutor({ timers, delays: opts.delays ?? {}, ...(opts.engine ? { engine: opts.engine } : {}) });
  const seen: TaskStatus[] = [];
  let lastHandle: TaskHandle | undefined;
  const runner = new TaskRunner({
    task,
    controller: ex.controller(task),
    timers,
    onStatus: (s, h) => {
      seen.push(s);
      lastHandle = h;
    },
  });
  const done = runner.run();
  return { timers, ex, seen, runner, done, handle: () => lastHandle };
}

const states = (seen: TaskStatus[]) => seen.map((s) => S[s.state]);

test('walks a task to RUNNING with one report per state, each after its simulated delay', async () => {
  const h = harness(makeTask(), { delays: { prepareMs: 50, startMs: 30 } });
  await settle();
  assert.deepEqual(states(h.seen), ['ACCEPTED', 'PREPARING']);
  h.timers.advance(49);
  await settle();
  assert.deepEqual(states(h.seen), ['ACCEPTED', 'PREPARING']);
  h.timers.advance(1);
  await settle();
  assert.deepEqual(states(h.seen), ['ACCEPTED', 'PREPARING', 'READY', 'STARTING']);
  h.timers.advance(30);
  await settle();
  assert.deepEqual(states(h.seen), ['ACCEPTED', 'PREPARING', 'READY', 'STARTING', 'RUNNING']);
  assert.deepEqual(h.seen.map((s) => s.message), ['accepted', 'preparing', 'prepared', 'starting', 'started']);
  assert.equal(h.seen.at(-1)!.timestamp, 80);
  assert.ok(h.seen.at(-1)!.container!.pid >= 1000, 'RUNNING status carries the pid');
  h.runner.stop();
  await h.done;
});

test('reports COMPLETE for exit 0 and FAILED with the exit code otherwise', async () => {
  const ok = harness(makeTask({ labels: { 'swarmhost.sim.run-ms': '100' } }));
  const bad = harness(makeTask({ env: ['SWARMHOST_SIM_FAIL_AFTER_MS=100', 'SWARMHOST_SIM_EXIT_CODE=3'] }), { timers: ok.timers });
  await settle();
  ok.timers.advance(100);
  await settle();
  assert.deepEqual([S[ok.seen.at(-1)!.state], ok.seen.at(-1)!.message, ok.seen.at(-1)!.container!.exitCode], ['COMPLETE', 'finished', 0]);
  const last = bad.seen.at(-1)!;
  assert.deepEqual([S[last.state], last.err, last.container!.exitCode], ['FAILED', 'task: non-zero exit (3)', 3]);
  ok.runner.stop();
  bad.runner.stop();
  await Promise.all([ok.done, bad.done]);
});

test('a fatal prepare error rejects the task with the executor message', async () => {
  const h = harness(makeTask({ labels: { 'swarmhost.sim.prepare-error': 'No such image: nope:1' } }));
  await settle();
  assert.deepEqual(states(h.seen), ['ACCEPTED', 'PREPARING', 'REJECTED']);
  assert.equal(h.seen.at(-1)!.err, 'No such image: nope:1');
  assert.ok(h.runner.finished);
  h.runner.stop();
  await h.done;
});

test('a fatal start error fails the task (error at STARTING)', async () => {
  const h = harness(makeTask({ labels: { 'swarmhost.sim.start-error': 'exec: "nope": not found' } }));
  await settle();
  assert.deepEqual(states(h.seen), ['ACCEPTED', 'PREPARING', 'READY', 'STARTING', 'FAILED']);
  h.runner.stop();
  await h.done;
});

test('temporary errors are retried after 100, 200 and 400 ms, then the task runs', async () => {
  const h = harness(makeTask({ labels: { 'swarmhost.sim.temporary-errors': '3' } }));
  await settle();
  assert.deepEqual(states(h.seen), ['ACCEPTED', 'PREPARING']);
  h.timers.advance(100);
  await settle();
  h.timers.advance(200);
  await settle();
  assert.deepEqual(states(h.seen), ['ACCEPTED', 'PREPARING']);
  h.timers.advance(399);
  await settle();
  assert.deepEqual(states(h.seen), ['ACCEPTED', 'PREPARING']);
  h.timers.advance(1);
  await settle();
  assert.equal(S[h.seen.at(-1)!.state], 'RUNNING');
  assert.equal(h.seen.at(-1)!.timestamp, 700);
  h.runner.stop();
  await h.done;
});

test('desired READY stops at READY until the manager raises it to RUNNING', async () => {
  const h = harness(makeTask({}, { desiredState: S.READY }));
  await settle();
  h.timers.advance(10_000);
  await settle();
  assert.deepEqual(states(h.seen), ['ACCEPTED', 'PREPARING', 'READY']);
  h.runner.setDesired(S.RUNNING);
  await settle();
  assert.deepEqual(states(h.seen), ['ACCEPTED', 'PREPARING', 'READY', 'STARTING', 'RUNNING']);
  h.runner.setDesired(S.READY); // lowering is ignored
  assert.equal(h.runner.desiredState, S.RUNNING);
  h.runner.stop();
  await h.done;
});

test('desired SHUTDOWN stops a running task; one that ignores the stop signal is killed after the grace period', async () => {
  const polite = harness(makeTask(), { delays: { stopMs: 20 } });
  const stubborn = harness(makeTask({ labels: { 'swarmhost.sim.ignore-stop': 'true' }, stopGracePeriodMs: 2000 }), { timers: polite.timers });
  await settle();
  polite.runner.setDesired(S.SHUTDOWN);
  stubborn.runner.setDesired(S.SHUTDOWN);
  await settle();
  polite.timers.advance(20);
  await settle();
  assert.deepEqual([S[polite.seen.at(-1)!.state], polite.seen.at(-1)!.message, polite.seen.at(-1)!.timestamp], ['SHUTDOWN', 'shutdown', 20]);
  assert.equal(S[stubborn.seen.at(-1)!.state], 'RUNNING');
  polite.timers.advance(1980);
  await settle();
  assert.deepEqual([S[stubborn.seen.at(-1)!.state], stubborn.seen.at(-1)!.timestamp], ['SHUTDOWN', 2000]);
  assert.equal(polite.ex.engine.runningCount() + stubborn.ex.engine.runningCount(), 0);
  polite.runner.stop();
  stubborn.runner.stop();
  await Promise.all([polite.done, stubborn.done]);
});

test('desired SHUTDOWN before the task started reports SHUTDOWN without running it', async () => {
  const h = harness(makeTask(), { delays: { prepareMs: 100 } });
  await settle();
  h.runner.setDesired(S.SHUTDOWN);
  h.timers.advance(100);
  await settle();
  assert.deepEqual(states(h.seen), ['ACCEPTED', 'PREPARING', 'READY', 'SHUTDOWN']);
  assert.equal(h.ex.engine.runningCount(), 0);
  h.runner.stop();
  await h.done;
});

test('desired REMOVE removes the ended task from the executor', async () => {
  const task = makeTask({ labels: { 'swarmhost.sim.run-ms': '5' } });
  const h = harness(task);
  await settle();
  h.timers.advance(5);
  await settle();
  assert.equal(S[h.seen.at(-1)!.state], 'COMPLETE');
  assert.ok(h.ex.engine.procs.has(task.id));
  h.runner.setDesired(S.REMOVE);
  await settle();
  assert.ok(!h.ex.engine.procs.has(task.id));
  assert.ok(h.runner.finished);
  h.runner.stop();
  await h.done;
});

test('an agent restart recovers the running task from its handle without restarting it', async () => {
  const timers = new SimTimers(0);
  const engine = new SimEngine(timers);
  const task = makeTask();
  const first = harness(task, { engine, timers });
  await settle();
  const running = first.seen.at(-1)!;
  assert.equal(S[running.state], 'RUNNING');
  first.runner.stop(); // the agent goes away; the task keeps running
  await first.done;
  assert.equal(engine.runningCount(), 1);

  const ex2 = new SimExecutor({ timers, engine });
  const controller = await ex2.recover(first.handle()!, task);
  const seen: TaskStatus[] = [];
  const runner = new TaskRunner({ task, controller, timers, initialStatus: running, onStatus: (s) => seen.push(s) });
  const done = runner.run();
  await settle();
  assert.equal(seen.length, 0, 'nothing re-run after recovery');
  assert.equal((await controller.inspect()).pid, running.container!.pid, 'same pid');
  engine.kill(task.id, 137);
  await settle();
  assert.deepEqual([S[seen[0]!.state], seen[0]!.container!.exitCode], ['FAILED', 137]);
  runner.stop();
  await done;
  await assert.rejects(ex2.recover({ executor: 'sim', taskId: 'gone', data: {} }, task), /gone/);
});

test('a thousand running sim tasks hold no timers', async () => {
  const timers = new SimTimers(0);
  const ex = new SimExecutor({ timers });
  for (let i = 0; i < 1000; i++) {
    const c = ex.controller(makeTask());
    await c.prepare();
    await c.start();
  }
  assert.equal(ex.engine.runningCount(), 1000);
  assert.equal(timers.pending, 0);
});

test('a malformed sim setting is a fatal prepare error naming the label', async () => {
  const h = harness(makeTask({ labels: { 'swarmhost.sim.exit-code': 'lots' } }));
  await settle();
  assert.equal(S[h.seen.at(-1)!.state], 'REJECTED');
  assert.match(h.seen.at(-1)!.err, /swarmhost\.sim\.exit-code must be an integer 0\.\.255, got "lots"/);
  h.runner.stop();
  await h.done;
});

test('task db keeps records, statuses and handles across a reopen; a snapshot that does not parse is DataLossError', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'taskdb-'));
  try {
    const db = await TaskDb.open(dir);
    const a = makeTask();
    const b = makeTask();
    await db.put({ task: a, status: a.status });
    await db.put({ task: b, status: b.status });
    const st: TaskStatus = { ...a.status, state: S.RUNNING, message: 'started', container: { containerId: '', pid: 42, exitCode: 0 } };
    await db.updateStatus(a.id, st, { executor: 'process', taskId: a.id, data: { pid: 42, startTime: 7 } });
    await Promise.all([db.delete(b.id), db.updateStatus('unknown', st)]);
    const again = await TaskDb.open(dir);
    assert.deepEqual(again.list().map((r) => r.task.id), [a.id]);
    assert.equal(again.get(a.id)!.status.state, S.RUNNING);
    assert.deepEqual(again.get(a.id)!.handle, { executor: 'process', taskId: a.id, data: { pid: 42, startTime: 7 } });
    assert.deepEqual(await readdir(join(dir, 'worker')), ['tasks.journal'], 'changes go to the journal; no temp file is left');
    assert.match(await readFile(join(dir, 'worker', 'tasks.journal'), 'utf8'), /^([0-9a-f]{8} \d+\n(\{"q":\d+,.*\}\n)+)+$/);
    await writeFile(join(dir, 'worker', 'tasks.json'), '{"version":1,"tasks":[');
    await assert.rejects(TaskDb.open(dir), DataLossError);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** A controller whose prepare hangs the first time; it records every call it gets. */
class HangingOnceController {
  readonly calls: string[] = [];
  private prepares = 0;
  prepare(): Promise<void> {
    this.calls.push('prepare');
    return this.prepares++ === 0 ? new Promise<void>(() => undefined) : Promise.resolve();
  }
  async start(): Promise<void> { this.calls.push('start'); }
  wait(signal?: AbortSignal): Promise<never> {
    this.calls.push('wait');
    return new Promise((_, reject) => signal?.addEventListener('abort', () => reject(new Error('aborted'))));
  }
  async shutdown(): Promise<void> { this.calls.push('shutdown'); }
  async terminate(): Promise<void> { this.calls.push('terminate'); }
  async remove(): Promise<void> { this.calls.push('remove'); }
  async inspect() { return { running: true, pid: 7 }; }
  handle(): TaskHandle { return { executor: 'fake', taskId: 't', data: {} }; }
}

test('a controller call that exceeds its bound counts as a temporary error and is retried', async () => {
  const timers = new SimTimers(0);
  const controller = new HangingOnceController();
  const seen: TaskStatus[] = [];
  const errors: string[] = [];
  const runner = new TaskRunner({
    task: makeTask(),
    controller,
    timers,
    limits: { prepareTimeoutMs: 1000 },
    onStatus: (s) => seen.push(s),
    onError: (op, err, retry) => errors.push(`${op}:${retry}:${(err as Error).message}`),
  });
  const done = runner.run();
  await settle();
  timers.advance(999);
  await settle();
  assert.deepEqual(controller.calls, ['prepare']);
  timers.advance(1);
  await settle();
  assert.deepEqual(errors, ['prepare:true:executor: prepare did not finish within 1000 ms']);
  timers.advance(100); // first retry delay
  await settle();
  assert.deepEqual(controller.calls, ['prepare', 'prepare', 'start', 'wait']);
  assert.equal(S[seen.at(-1)!.state], 'RUNNING');
  runner.stop(); // detaches: the task is neither shut down nor killed
  await done;
  assert.deepEqual(controller.calls, ['prepare', 'prepare', 'start', 'wait']);
});

test('a controller without watchExit has its wait cancelled through the AbortSignal when the task is stopped', async () => {
  const timers = new SimTimers(0);
  const ex = new SimExecutor({ timers, delays: { stopMs: 10 } });
  const task = makeTask();
  const sim = ex.controller(task);
  const signals: AbortSignal[] = [];
  // The sim controller minus watchExit: what a real executor offers (wait takes a signal).
  const controller = {
    selfBounded: true,
    prepare: () => sim.prepare(),
    start: () => sim.start(),
    wait: (signal?: AbortSignal) => {
      if (signal) signals.push(signal);
      return sim.wait(signal);
    },
    shutdown: (graceMs: number) => sim.shutdown(graceMs),
    terminate: () => sim.terminate(),
    remove: () => sim.remove(),
    inspect: () => sim.inspect(),
    handle: () => sim.handle(),
  };
  const seen: TaskStatus[] = [];
  const runner = new TaskRunner({ task, controller, timers, onStatus: (s) => seen.push(s) });
  const done = runner.run();
  await settle();
  assert.equal(S[seen.at(-1)!.state], 'RUNNING');
  assert.equal(signals.length, 1);
  assert.equal(signals[0]!.aborted, false);
  runner.setDesired(S.SHUTDOWN);
  assert.equal(signals[0]!.aborted, true, 'the pending wait is aborted at once');
  await settle();
  timers.advance(10);
  await settle();
  assert.deepEqual([S[seen.at(-1)!.state], seen.at(-1)!.message], ['SHUTDOWN', 'shutdown']);
  runner.stop();
  await done;
});

test('the sim exit watch resolves with the exit, and a cancelled one rejects with an AbortError and is released', async () => {
  const timers = new SimTimers(0);
  const ex = new SimExecutor({ timers });
  const task = makeTask();
  const c = ex.controller(task);
  await c.prepare();
  await c.start();
  const proc = ex.engine.procs.get(task.id)!;
  const kept = c.watchExit!();
  const dropped = c.watchExit!();
  assert.equal(proc.waiters.size, 2);
  dropped.cancel();
  dropped.cancel(); // idempotent
  await assert.rejects(dropped.exit, (err: Error) => err.name === 'AbortError');
  assert.equal(proc.waiters.size, 1, 'a cancelled watch no longer waits on the process');
  ex.engine.kill(task.id, 137, 'killed');
  assert.deepEqual(await kept.exit, { exitCode: 137, message: 'killed' });
  kept.cancel(); // after the exit: no effect
  assert.deepEqual(await c.watchExit!().exit, { exitCode: 137, message: 'killed' }, 'a watch of an exited task settles at once');
});

test('statuses handed to onStatus are never changed afterwards (the runner makes a new object per status)', async () => {
  const h = harness(makeTask());
  await settle();
  const snapshot = JSON.stringify(h.seen);
  assert.equal(S[h.seen.at(-1)!.state], 'RUNNING');
  assert.ok(h.seen.at(-1)!.container!.pid >= 1000);
  h.runner.setDesired(S.SHUTDOWN);
  await settle();
  assert.equal(JSON.stringify(h.seen.slice(0, 5)), snapshot);
  assert.notEqual(h.seen[3]!.container, undefined);
  h.runner.stop();
  await h.done;
});
