import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError, UnavailableError } from '../../../src/host/api/errors.js';
import { NotLeaderError } from '../../../src/host/raft/types.js';
import { Cluster, data } from './harness.js';

test('leadership transfer: the leader catches the target up, sends TimeoutNow, and the target wins at once', () => {
  const c = new Cluster(['a', 'b', 'c']);
  c.core('a').campaign();
  c.stabilize();
  c.isolate('c');
  c.core('a').propose(data('x'));
  c.stabilize();
  c.heal();
  c.takeTrace();
  c.core('a').transferLeadership('c');
  assert.equal(c.core('a').status().leadTransferee, 'c');
  assert.throws(() => c.core('a').propose(data('y')), (e: unknown) => e instanceof UnavailableError && /transfer to c/.test(e.message));
  c.stabilize();
  assert.deepEqual(c.takeTrace(), [
    'a->c app t2 i5/2 [] c5',
    'c->a appResp t2 reject i5 hint4/2',
    'a->c app t2 i4/2 [5:2] c5', // catch the target up first
    'c->a appResp t2 i5',
    'a->c app t2 i5/2 [] c5',
    'a->c timeoutNow t2', // the target's log matches: hand over
    'c candidate t3', // no pre-vote round, no waiting for the election timeout
    'c->a appResp t2 i5',
    'c->a vote t3 last5/2 transfer',
    'c->b vote t3 last5/2 transfer', // the transfer context overrides b's lease
    'a follower t3',
    'b follower t3',
    'a->c voteResp t3 grant',
    'b->c voteResp t3 grant',
    'c leader t3',
    'c->a app t3 i5/2 [6:3] c5',
    'c->b app t3 i5/2 [6:3] c5',
    'a follower t3',
    'b follower t3',
    'a->c appResp t3 i6',
    'b->c appResp t3 i6',
    'c->a app t3 i6/3 [] c6',
    'c->b app t3 i6/3 [] c6',
    'a->c appResp t3 i6',
    'b->c appResp t3 i6',
  ]);
  assert.deepEqual(c.leaders(), ['c']);
  assert.throws(() => c.core('a').propose(data('y')), (e: unknown) => e instanceof NotLeaderError && e.leader === 'c');
});

test('leadership transfer aborts after an election timeout when the target does not take over', () => {
  const c = new Cluster(['a', 'b', 'c']);
  c.core('a').campaign();
  c.stabilize();
  c.isolate('c');
  c.core('a').transferLeadership('c');
  c.tickStable(9);
  assert.equal(c.core('a').status().leadTransferee, 'c');
  c.tickStable(1);
  assert.equal(c.core('a').status().leadTransferee, '');
  assert.equal(c.core('a').status().role, 'leader');
  assert.deepEqual(c.core('a').propose(data('z')), { index: 5, term: 2 }, 'proposals accepted again');
});

test('transferLeadership validates its target and needs the leader', () => {
  const c = new Cluster(['a', 'b', 'c']);
  c.core('a').campaign();
  c.stabilize();
  assert.throws(() => c.core('a').transferLeadership('a'), InvalidArgumentError);
  assert.throws(() => c.core('a').transferLeadership('zz'), InvalidArgumentError);
  assert.throws(() => c.core('b').transferLeadership('c'), (e: unknown) => e instanceof NotLeaderError && e.leader === 'a');
});
