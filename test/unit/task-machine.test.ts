import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TaskState as S } from '../../src/host/api/objects.js';
import { AssertionFailure } from '../../src/host/api/errors.js';
import { SeededRng } from '../../src/host/env/index.js';
import { applyOutcome, nextAction, retryDelayMs } from '../../src/host/agent/task-machine.js';
import type { Action, ControllerOp, Outcome } from '../../src/host/agent/task-machine.js';

const rep = (state: S, message: string): Action => ({ kind: 'report', status: { state, message, err: '' } });
const call = (op: ControllerOp): Action => ({ kind: 'call', op });
const idle: Action = { kind: 'idle' };

test('advances one step at a time towards desired RUNNING', () => {
  const rows: [S, Action][] = [
    [S.NEW, rep(S.ACCEPTED, 'accepted')],
    [S.PENDING, rep(S.ACCEPTED, 'accepted')],
    [S.ASSIGNED, rep(S.ACCEPTED, 'accepted')],
    [S.ACCEPTED, rep(S.PREPARING, 'preparing')],
    [S.PREPARING, call('prepare')],
    [S.READY, rep(S.STARTING, 'starting')],
    [S.STARTING, call('start')],
    [S.RUNNING, call('wait')],
    [S.COMPLETE, idle],
    [S.FAILED, idle],
    [S.REJECTED, idle],
    [S.SHUTDOWN, idle],
  ];
  for (const [observed, want] of rows) {
    assert.deepEqual(nextAction({ desired: S.RUNNING, observed, removed: false }), want, `observed ${S[observed]}`);
  }
});

test('desired COMPLETE (jobs) runs the task like desired RUNNING', () => {
  assert.deepEqual(nextAction({ desired: S.COMPLETE, observed: S.STARTING, removed: false }), call('start'));
  assert.deepEqual(nextAction({ desired: S.COMPLETE, observed: S.RUNNING, removed: false }), call('wait'));
});

test('never goes past desired READY: stops at READY and waits', () => {
  const rows: [S, Action][] = [
    [S.ASSIGNED, rep(S.ACCEPTED, 'accepted')],
    [S.ACCEPTED, rep(S.PREPARING, 'preparing')],
    [S.PREPARING, call('prepare')],
    [S.READY, idle],
  ];
  for (const [observed, want] of rows) {
    assert.deepEqual(nextAction({ desired: S.READY, observed, removed: false }), want, `observed ${S[observed]}`);
  }
  assert.deepEqual(nextAction({ desired: S.ASSIGNED, observed: S.ASSIGNED, removed: false }), idle);
  assert.deepEqual(nextAction({ desired: S.ACCEPTED, observed: S.ACCEPTED, removed: false }), idle);
  assert.deepEqual(nextAction({ desired: S.PREPARING, observed: S.PREPARING, removed: false }), idle);
});

test('desired SHUTDOWN or REMOVE stops every live task and leaves ended ones alone', () => {
  for (const desired of [S.SHUTDOWN, S.REMOVE]) {
    for (const observed of [S.NEW, S.ASSIGNED, S.ACCEPTED, S.PREPARING, S.READY, S.STARTING, S.RUNNING]) {
      assert.deepEqual(nextAction({ desired, observed, removed: false }), call('shutdown'), `${S[desired]}/${S[observed]}`);
    }
  }
  for (const observed of [S.COMPLETE, S.SHUTDOWN, S.FAILED, S.REJECTED]) {
    assert.deepEqual(nextAction({ desired: S.SHUTDOWN, observed, removed: false }), idle);
    assert.deepEqual(nextAction({ desired: S.REMOVE, observed, removed: false }), call('remove'));
    assert.deepEqual(nextAction({ desired: S.REMOVE, observed, removed: true }), idle);
  }
});

test('outcomes: prepared, started, finished, and the failure states with their messages', () => {
  const ok: Outcome = { kind: 'ok' };
  const st = (observed: S, desired = S.RUNNING) => ({ desired, observed, removed: false });
  assert.deepEqual(applyOutcome(st(S.PREPARING), 'prepare', ok, 0).status, { state: S.READY, message: 'prepared', err: '' });
  assert.deepEqual(applyOutcome(st(S.STARTING), 'start', ok, 0).status, { state: S.RUNNING, message: 'started', err: '' });
  assert.deepEqual(applyOutcome(st(S.RUNNING), 'wait', { kind: 'exited', exit: { exitCode: 0, message: '' } }, 0).status, {
    state: S.COMPLETE, message: 'finished', err: '', exitCode: 0,
  });
  assert.deepEqual(applyOutcome(st(S.RUNNING), 'wait', { kind: 'exited', exit: { exitCode: 3, message: '' } }, 0).status, {
    state: S.FAILED, message: 'failed', err: 'task: non-zero exit (3)', exitCode: 3,
  });
  const oom = applyOutcome(st(S.RUNNING), 'wait', { kind: 'exited', exit: { exitCode: 137, oomKilled: true, message: '' } }, 0).status!;
  assert.equal(oom.state, S.FAILED);
  assert.match(oom.err, /OOM killed/);
  // Fatal before STARTING → REJECTED; at/after STARTING → FAILED.
  const rej = applyOutcome(st(S.PREPARING), 'prepare', { kind: 'fatal', message: 'No such image: nope' }, 0).status!;
  assert.deepEqual([rej.state, rej.err], [S.REJECTED, 'No such image: nope']);
  const fail = applyOutcome(st(S.STARTING), 'start', { kind: 'fatal', message: 'exec format error' }, 0).status!;
  assert.deepEqual([fail.state, fail.err], [S.FAILED, 'exec format error']);
  // Shutdown.
  assert.deepEqual(applyOutcome(st(S.RUNNING, S.SHUTDOWN), 'shutdown', ok, 0).status, { state: S.SHUTDOWN, message: 'shutdown', err: '' });
  // An exit observed while the manager wants the task stopped is the shutdown, whatever its code.
  const stopped = applyOutcome(st(S.RUNNING, S.SHUTDOWN), 'wait', { kind: 'exited', exit: { exitCode: 143, message: '' } }, 0).status!;
  assert.equal(stopped.state, S.SHUTDOWN);
  assert.deepEqual(applyOutcome(st(S.COMPLETE, S.REMOVE), 'remove', ok, 0), { removed: true });
});

test('temporary errors are retried with capped exponential backoff and no status change', () => {
  const d = (a: number) => applyOutcome({ desired: S.RUNNING, observed: S.PREPARING, removed: false }, 'prepare', { kind: 'temporary', message: 'busy' }, a);
  assert.deepEqual(d(0), { retryAfterMs: 100 });
  assert.deepEqual(d(1), { retryAfterMs: 200 });
  assert.deepEqual(d(5), { retryAfterMs: 3200 });
  assert.deepEqual(d(7), { retryAfterMs: 8000 });
  assert.deepEqual(d(60), { retryAfterMs: 8000 });
  assert.equal(retryDelayMs(3, { baseMs: 10, maxMs: 50 }), 50);
  assert.throws(() => retryDelayMs(-1), AssertionFailure);
});

test('refuses (assertion) to report a state lower than the observed one', () => {
  assert.throws(() => applyOutcome({ desired: S.RUNNING, observed: S.COMPLETE, removed: false }, 'prepare', { kind: 'ok' }, 0), AssertionFailure);
});

test('random walks: observed never decreases and never passes desired except by the task ending', () => {
  const rng = new SeededRng(20261126);
  const desiredChoices = [S.READY, S.RUNNING, S.COMPLETE, S.SHUTDOWN, S.REMOVE];
  for (let walk = 0; walk < 2000; walk++) {
    let desired = desiredChoices[rng.int(desiredChoices.length)]!;
    let observed = S.ASSIGNED;
    let removed = false;
    for (let step = 0; step < 40; step++) {
      if (rng.int(6) === 0) {
        const d = desiredChoices[rng.int(desiredChoices.length)]!;
        if (d > desired) desired = d; // managers never lower it
      }
      const a = nextAction({ desired, observed, removed });
      let next: S = observed;
      if (a.kind === 'report') next = a.status.state;
      else if (a.kind === 'call') {
        const r = rng.int(4);
        const outcome: Outcome =
          a.op === 'wait'
            ? { kind: 'exited', exit: { exitCode: rng.int(3), message: '' } }
            : r === 0 ? { kind: 'fatal', message: 'x' } : r === 1 ? { kind: 'temporary', message: 'y' } : { kind: 'ok' };
        const dec = applyOutcome({ desired, observed, removed }, a.op, outcome, 0);
        if (dec.status) next = dec.status.state;
        if (dec.removed) removed = true;
      }
      assert.ok(next >= observed, `state decreased ${S[observed]} → ${S[next]}`);
      if (next > desired && next <= S.RUNNING) assert.fail(`went past desired ${S[desired]} to ${S[next]}`);
      observed = next;
    }
  }
});
