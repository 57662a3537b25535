import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRng } from '../../../src/host/env/index.js';
import { createRaftCore } from '../../../src/host/raft/core.js';
import { EntryType, MessageType } from '../../../src/host/raft/types.js';
import type { Entry, Message } from '../../../src/host/raft/types.js';
import { bootWithTerms, data, testConfig } from './harness.js';

const e = (index: number, term: number): Entry => ({ index, term, type: EntryType.Normal, data: data(`x${index}`) });
const app = (index: number, logTerm: number, entries: Entry[], commit: number, term = 2): Message => ({
  type: MessageType.App, from: 'a', to: 'b', term, logTerm, index, entries, commit, reject: false, rejectHint: 0, logTermHint: 0,
});

test('input that arrives while the driver persists (between ready and advance) waits for the next Ready', () => {
  const b = createRaftCore(testConfig('b'), bootWithTerms(['a', 'b', 'c'], [1], 1, 1), new SeededRng(1));
  while (b.hasReady()) {
    b.ready();
    b.advance();
  }
  b.step(app(1, 1, [e(2, 2), e(3, 2)], 1));
  const r1 = b.ready();
  assert.deepEqual(r1.entries.map((x) => x.index), [2, 3]);
  assert.deepEqual(r1.committedEntries, []);
  // The driver is still syncing r1 when the leader sends more and commits 3.
  b.step(app(3, 2, [e(4, 2)], 3));
  assert.throws(() => b.ready(), /ready\(\) called again before advance\(\)/);
  b.advance();
  const r2 = b.ready();
  assert.deepEqual(r2.entries.map((x) => x.index), [4], 'only what was not handed out yet');
  assert.deepEqual(r2.committedEntries.map((x) => x.index), [2, 3]);
  assert.deepEqual(r2.hardState, { term: 2, vote: '', commit: 3 });
  assert.deepEqual(r2.messages.map((m) => [m.type, m.index]), [[MessageType.AppResp, 4]]);
  b.advance();
  assert.equal(b.status().applied, 3);
});

test('a conflicting suffix overwritten before advance is handed out again from the conflict point', () => {
  const b = createRaftCore(testConfig('b'), bootWithTerms(['a', 'b', 'c'], [1], 1, 1), new SeededRng(1));
  while (b.hasReady()) {
    b.ready();
    b.advance();
  }
  b.step(app(1, 1, [e(2, 2), e(3, 2)], 1));
  const r1 = b.ready();
  assert.deepEqual(r1.entries.map((x) => `${x.index}:${x.term}`), ['2:2', '3:2']);
  // A new leader (term 3) overwrites index 3 before the driver acknowledged r1.
  b.step(app(2, 2, [e(3, 3)], 1, 3));
  b.advance();
  const r2 = b.ready();
  assert.deepEqual(r2.entries.map((x) => `${x.index}:${x.term}`), ['3:3'], 'the WAL drops its suffix from index 3');
  b.advance();
});
