import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AssertionFailure } from '../../../src/host/api/errors.js';
import { ENTRY_OVERHEAD_BYTES, RaftLog } from '../../../src/host/raft/raft-log.js';
import { Inflights, Progress } from '../../../src/host/raft/progress.js';
import { committedIndex, quorumSize, voteResult } from '../../../src/host/raft/quorum.js';
import { decodeConfChange, encodeConfChange } from '../../../src/host/raft/conf-change.js';
import { InvalidArgumentError } from '../../../src/host/api/errors.js';
import { EntryType } from '../../../src/host/raft/types.js';
import type { Entry } from '../../../src/host/raft/types.js';

const ents = (from: number, terms: number[], size = 0): Entry[] =>
  terms.map((t, i) => ({ term: t, index: from + i, type: EntryType.Normal, data: new Uint8Array(size) }));

test('maybeAppend commits only up to the last new entry, never a stale tail beyond it', () => {
  const log = new RaftLog(0, 0, ents(1, [1, 1, 2, 2, 2]), 1); // 4:2, 5:2 may be stale
  const last = log.maybeAppend(2, 1, 10, ents(3, [2]));
  assert.equal(last, 3);
  assert.equal(log.committed, 3, 'commit = min(leader commit, last new index)');
  assert.equal(log.lastIndex(), 5, 'matching entries do not truncate the tail');
});

test('maybeAppend truncates a conflicting suffix and refuses a mismatched previous entry', () => {
  const log = new RaftLog(0, 0, ents(1, [1, 1, 2, 2]), 1);
  log.markHandedOut();
  assert.equal(log.maybeAppend(2, 9, 1, ents(3, [3])), undefined, 'previous term mismatch');
  assert.equal(log.maybeAppend(2, 1, 1, ents(3, [3])), 3);
  assert.deepEqual(log.slice(1, 4).map((e) => e.term), [1, 1, 3]);
  assert.equal(log.unstableFrom, 3, 'the overwritten suffix must be handed out again');
  assert.throws(() => log.maybeAppend(0, 0, 1, ents(1, [5])), AssertionFailure, 'a conflict with a committed entry is a bug');
});

test('findConflictByTerm returns the last index at or below the probe whose term is <= the given term', () => {
  const log = new RaftLog(0, 0, ents(1, [1, 1, 1, 4, 4, 5, 5, 6, 6, 6]), 0);
  const cases: [number, number, number, number][] = [
    // index, term -> index, term
    [10, 6, 10, 6],
    [10, 3, 3, 1],
    [7, 4, 5, 4],
    [12, 5, 7, 5], // probe beyond the end starts at the last index
    [2, 0, 0, 0],
  ];
  for (const [i, t, wi, wt] of cases) assert.deepEqual(log.findConflictByTerm(i, t), { index: wi, term: wt }, `(${i}, ${t})`);
});

test('slice honours the byte limit but always returns at least one entry', () => {
  const log = new RaftLog(0, 0, ents(1, [1, 1, 1, 1], 10), 0);
  const per = 10 + ENTRY_OVERHEAD_BYTES;
  assert.equal(log.slice(1, 5, per).length, 1);
  assert.equal(log.slice(1, 5, 2 * per).length, 2);
  assert.equal(log.slice(1, 5, 1).length, 1);
  assert.equal(log.slice(1, 5).length, 4);
});

test('compact drops the prefix but keeps the term of the compaction point for the consistency check', () => {
  const log = new RaftLog(0, 0, ents(1, [1, 2, 3, 4]), 3);
  log.markHandedOut();
  log.compact(2);
  assert.equal(log.firstIndex(), 3);
  assert.equal(log.term(2), 2);
  assert.equal(log.term(1), undefined);
  assert.throws(() => log.compact(4), AssertionFailure, 'cannot compact beyond commit');
});

test('progress: probe sends one at a time, replicate fills the inflight window, stale rejections are ignored', () => {
  const pr = new Progress(11, 2, 0);
  assert.equal(pr.paused(), false);
  pr.probeSent = true;
  assert.equal(pr.paused(), true);
  assert.equal(pr.maybeDecrTo(5, 3), false, 'stale: not the probe we sent');
  assert.equal(pr.maybeDecrTo(10, 3), true);
  assert.equal(pr.next, 4);
  pr.maybeUpdate(6);
  pr.becomeReplicate();
  assert.equal(pr.next, 7);
  pr.inflights.add(8);
  pr.inflights.add(9);
  assert.equal(pr.paused(), true);
  pr.inflights.freeLE(8);
  assert.equal(pr.paused(), false);
  assert.equal(pr.maybeDecrTo(6, 0), false, 'rejection at or below match is stale in replicate state');
});

test('inflights refuse to overflow', () => {
  const f = new Inflights(1);
  f.add(3);
  assert.throws(() => f.add(4), AssertionFailure);
});

test('quorum arithmetic', () => {
  assert.deepEqual([1, 2, 3, 4, 5].map(quorumSize), [1, 2, 2, 3, 3]);
  assert.equal(committedIndex([5, 3, 9]), 5);
  assert.equal(committedIndex([5, 3, 9, 1]), 3);
  const v = ['a', 'b', 'c'];
  assert.equal(voteResult(v, new Map([['a', true]])), 'pending');
  assert.equal(voteResult(v, new Map([['a', true], ['b', true]])), 'won');
  assert.equal(voteResult(v, new Map([['a', true], ['b', false], ['c', false]])), 'lost');
});

test('conf changes round-trip through their entry encoding; bad data names the field', () => {
  const cc = { type: 'add' as const, id: '1f', context: new Uint8Array([1, 2, 255]) };
  assert.deepEqual(decodeConfChange(encodeConfChange(cc)), cc);
  assert.throws(() => decodeConfChange(new TextEncoder().encode('{"type":"x","id":"1","context":""}')), /type must be/);
  assert.throws(() => decodeConfChange(new Uint8Array([0xff])), InvalidArgumentError);
});
