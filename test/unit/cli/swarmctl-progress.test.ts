import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TaskState, UpdateState, type Node, type Task } from '../../../src/host/api/index.js';
import { ProgressPrinter, progressBar, progressLines, progressView } from '../../../src/host/cli/swarmctl-progress.js';
import { nodeObject, taskObject } from '../controlapi/fixtures.js';
import { IDS, redisService } from './swarmctl-fixtures.js';

const noNodes = new Map<string, Node>();

function task(id: string, slot: number, state: TaskState, opts: { specVersion?: number; desired?: TaskState; createdAt?: number; node?: string; err?: string } = {}): Task {
  const t = taskObject(id, IDS.redis, slot, opts.node ?? 'n1', state);
  t.specVersion = opts.specVersion ?? 0;
  t.desiredState = opts.desired ?? TaskState.RUNNING;
  t.meta.createdAt = opts.createdAt ?? 0;
  t.status.err = opts.err ?? '';
  return t;
}

test('a replicated service converges when every slot runs a task of the current spec and nothing else runs', () => {
  const s = redisService('redis:3.0.6', 2);
  const v = progressView(s, [task('a', 1, TaskState.RUNNING), task('b', 2, TaskState.RUNNING)], noNodes, 2);
  assert.equal(v.converged, true);
  assert.equal(v.running, 2);
  assert.deepEqual(progressLines(v, false), ['overall progress: 2 out of 2 tasks', '1/2: running', '2/2: running']);
});

test('a slot still starting keeps the service unconverged and shows how far it is', () => {
  const s = redisService('redis:3.0.6', 2);
  const v = progressView(s, [task('a', 1, TaskState.RUNNING), task('b', 2, TaskState.PREPARING)], noNodes, 2);
  assert.equal(v.converged, false);
  assert.deepEqual(progressLines(v, false), ['overall progress: 1 out of 2 tasks', '1/2: running', '2/2: preparing']);
  assert.equal(v.rows[1]!.fraction, 5 / 8);
});

test('during an update, tasks of the previous spec do not count as converged', () => {
  const s = redisService('redis:3.0.7', 2);
  s.specVersion = 7;
  const old = [task('a', 1, TaskState.RUNNING), task('b', 2, TaskState.RUNNING)];
  assert.equal(progressView(s, old, noNodes, 2).converged, false);
  const upd = [
    task('a', 1, TaskState.SHUTDOWN, { desired: TaskState.SHUTDOWN }),
    task('c', 1, TaskState.RUNNING, { specVersion: 7, createdAt: 5 }),
    task('b', 2, TaskState.RUNNING),
  ];
  const v = progressView(s, upd, noNodes, 2);
  assert.equal(v.running, 1);
  assert.equal(v.converged, false);
});

test('a scale-only update converges on the tasks already running (the template did not change)', () => {
  const s = redisService('redis:3.0.6', 3);
  s.specVersion = 9;
  const ts = [task('a', 1, TaskState.RUNNING), task('b', 2, TaskState.RUNNING)];
  for (const t of ts) t.spec.container.image = 'redis:3.0.6';
  assert.equal(progressView(s, ts, noNodes, 3).converged, false, 'slot 3 has no task yet');
  const third = task('c', 3, TaskState.RUNNING, { specVersion: 9 });
  third.spec.container.image = 'redis:3.0.6';
  assert.equal(progressView(s, [...ts, third], noNodes, 3).converged, true);
});

test('after a scale-down, tasks of removed slots still running keep it unconverged', () => {
  const s = redisService('redis:3.0.6', 1);
  const v = progressView(s, [task('a', 1, TaskState.RUNNING), task('b', 2, TaskState.RUNNING, { desired: TaskState.SHUTDOWN })], noNodes, 1);
  assert.equal(v.converged, false);
  assert.equal(v.rows.length, 1);
});

test('a paused or rolled-back update is a failure, not a wait', () => {
  const s = redisService('redis:3.0.6', 1);
  s.updateStatus = { state: UpdateState.PAUSED, startedAt: 0, completedAt: 0, message: 'update paused due to failure or early termination of task x' };
  assert.match(progressView(s, [], noNodes, 1).failed ?? '', /^update paused: update paused due to failure/);
  s.updateStatus = { state: UpdateState.ROLLBACK_COMPLETED, startedAt: 0, completedAt: 0, message: '' };
  assert.match(progressView(s, [], noNodes, 1).failed ?? '', /^update rolled back/);
});

test('a slot with no task yet, and a task error, are shown', () => {
  const s = redisService('redis:3.0.6', 2);
  const v = progressView(s, [task('a', 1, TaskState.PENDING, { err: 'no suitable node' })], noNodes, 2);
  assert.deepEqual(progressLines(v, false), ['overall progress: 0 out of 2 tasks', '1/2: pending no suitable node', '2/2: no task']);
});

test('a global service has one row per node, named, and converges at the desired count', () => {
  const s = redisService('redis:3.0.6', 0);
  s.spec.mode = { global: {} };
  const nodes = new Map([
    ['n1', nodeObject('n1', 'node-1')],
    ['n2', nodeObject('n2', 'node-2')],
  ]);
  const ts = [task('a', 0, TaskState.RUNNING, { node: 'n2' }), task('b', 0, TaskState.STARTING, { node: 'n1' })];
  const v = progressView(s, ts, nodes, 2);
  assert.deepEqual(progressLines(v, false), ['overall progress: 1 out of 2 tasks', 'node-1: starting', 'node-2: running']);
  assert.equal(v.converged, false);
  ts[1]!.status.state = TaskState.RUNNING;
  assert.equal(progressView(s, ts, nodes, 2).converged, true);
});

test('progress bars are 50 characters with an arrow head', () => {
  assert.equal(progressBar(0), `[${' '.repeat(50)}]`);
  assert.equal(progressBar(1), `[${'='.repeat(49)}>]`);
  assert.equal(progressBar(0.5), `[${'='.repeat(24)}>${' '.repeat(25)}]`);
});

test('on a terminal frames are redrawn in place; otherwise only changed lines are printed', () => {
  const s = redisService('redis:3.0.6', 2);
  const f1 = progressView(s, [task('a', 1, TaskState.PENDING), task('b', 2, TaskState.PENDING)], noNodes, 2);
  const f2 = progressView(s, [task('a', 1, TaskState.RUNNING), task('b', 2, TaskState.PENDING)], noNodes, 2);
  let plain = '';
  const p = new ProgressPrinter((x) => (plain += x), false);
  p.frame(f1);
  p.frame(f1);
  p.frame(f2);
  assert.equal(plain, 'overall progress: 0 out of 2 tasks\n1/2: pending\n2/2: pending\noverall progress: 1 out of 2 tasks\n1/2: running\n');
  let tty = '';
  const t = new ProgressPrinter((x) => (tty += x), true);
  t.frame(f1);
  assert.doesNotMatch(tty, /\x1b\[\d+A/, 'the first frame moves no cursor');
  tty = '';
  t.frame(f2);
  assert.ok(tty.startsWith('\x1b[3A'), 'the next frame goes back up three lines');
  assert.equal(tty.split('\x1b[2K').length - 1, 3);
  assert.match(tty, /1\/2: running \[=+>\]\n/);
});
