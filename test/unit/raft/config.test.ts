import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../../src/host/api/errors.js';
import { SeededRng } from '../../../src/host/env/index.js';
import { createRaftCore, defaultRaftConfig } from '../../../src/host/raft/core.js';
import { EntryType } from '../../../src/host/raft/types.js';
import type { RaftBootstrap, RaftConfig } from '../../../src/host/raft/types.js';
import { testConfig } from './harness.js';

const make = (cfg: Partial<RaftConfig>, boot: RaftBootstrap = { entries: [], initialVoters: ['a'] }) => () =>
  createRaftCore({ ...testConfig('a'), ...cfg }, boot, new SeededRng(1));

test('bad configuration is refused with InvalidArgument naming the field and the rule', () => {
  const cases: [Partial<RaftConfig>, RegExp][] = [
    [{ id: '' }, /id must be a non-empty raft id/],
    [{ id: '0' }, /id must be a non-empty raft id other than "0"/],
    [{ heartbeatTick: 0 }, /heartbeatTick must be an integer >= 1/],
    [{ electionTick: 1, heartbeatTick: 1 }, /electionTick must be greater than heartbeatTick/],
    [{ maxSizePerMsgBytes: 0 }, /maxSizePerMsgBytes must be an integer >= 1/],
    [{ maxInflightMsgs: 0.5 }, /maxInflightMsgs must be an integer >= 1/],
    [{ logEntriesForSlowFollowers: -1 }, /logEntriesForSlowFollowers must be an integer >= 0/],
    [{ maxProposalBytes: 0 }, /maxProposalBytes must be an integer >= 1/],
  ];
  for (const [cfg, re] of cases) {
    assert.throws(make(cfg), (e: unknown) => e instanceof InvalidArgumentError && re.test(e.message), JSON.stringify(cfg));
  }
});

test('bad bootstrap state is refused with InvalidArgument', () => {
  assert.throws(make({}, { entries: [], initialVoters: ['b', 'c'] }), /initialVoters must include/);
  const e = (index: number) => ({ term: 1, index, type: EntryType.Normal, data: new Uint8Array(1) });
  assert.throws(make({}, { entries: [e(2), e(3)] }), /entries must start at index 1/);
  assert.throws(make({}, { entries: [e(1)], hardState: { term: 1, vote: '', commit: 5 } }), /commit 5 is beyond the last entry 1/);
});

test('a brand-new cluster writes one committed membership entry per initial voter in its first Ready', () => {
  const core = createRaftCore(testConfig('a'), { entries: [], initialVoters: ['a', 'b'] }, new SeededRng(1));
  const rd = core.ready();
  assert.deepEqual(rd.entries.map((x) => [x.index, x.term, x.type]), [[1, 1, EntryType.ConfChange], [2, 1, EntryType.ConfChange]]);
  assert.deepEqual(rd.hardState, { term: 1, vote: '', commit: 2 });
  assert.equal(rd.committedEntries.length, 2);
  core.advance();
  assert.equal(core.hasReady(), false);
  assert.throws(() => core.advance(), /advance\(\) without a preceding ready\(\)/);
});

test('the default configuration is valid and elects a single member', () => {
  const core = createRaftCore(defaultRaftConfig('a'), { entries: [], initialVoters: ['a'] }, new SeededRng(1));
  core.ready();
  core.advance();
  for (let i = 0; i < 20 && core.status().role !== 'leader'; i++) {
    core.tick();
    while (core.hasReady()) {
      core.ready();
      core.advance();
    }
  }
  assert.equal(core.status().role, 'leader');
});
