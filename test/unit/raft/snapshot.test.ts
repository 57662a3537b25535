import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../../src/host/api/errors.js';
import { createRaftCore, SNAPSHOT_RETRY_ELECTION_TIMEOUTS } from '../../../src/host/raft/core.js';
import { SeededRng } from '../../../src/host/env/index.js';
import { Cluster, data, testConfig, text } from './harness.js';

function lagging(): Cluster {
  const c = new Cluster(['a', 'b', 'c'], { config: { logEntriesForSlowFollowers: 2 } });
  c.core('a').campaign();
  c.stabilize();
  c.isolate('c');
  for (let i = 0; i < 10; i++) c.core('a').propose(data(`v${i}`));
  c.stabilize();
  return c;
}

test('compact keeps logEntriesForSlowFollowers entries behind the snapshot index', () => {
  const c = lagging();
  const st = c.core('a').status();
  assert.equal(st.applied, 14);
  c.core('a').compact(14, data('snap@14'));
  assert.equal(c.core('a').status().firstIndex, 13, 'entries 13..14 kept for slow followers');
  assert.throws(() => c.core('a').compact(15, data('x')), InvalidArgumentError, 'cannot snapshot beyond applied');
  assert.throws(() => c.core('a').compact(10, data('x')), InvalidArgumentError, 'cannot go back before the snapshot');
});

test('snapshot: a follower behind the first retained index gets a Snap, restores it and catches up', () => {
  const c = lagging();
  c.core('a').compact(14, data('snap@14'));
  c.heal();
  c.takeTrace();
  c.tickStable(2);
  assert.deepEqual(
    c.takeTrace((l) => /^(a->c|c->a) /.test(l)),
    [
      'a->c heartbeat t2 c4', // c's match is 4: the heartbeat never carries a commit beyond it
      'c->a heartbeatResp t2',
      'a->c app t2 i14/2 [] c14', // optimistic next from before the partition
      'c->a appResp t2 reject i14 hint4/2',
      'a->c snap t2 snap14/2', // 5 is below the first retained index 13
      'c->a appResp t2 i14', // sent after c persisted the snapshot
      'a->c app t2 i14/2 [] c14',
      'c->a appResp t2 i14',
      'a->c heartbeat t2 c14',
      'c->a heartbeatResp t2',
    ],
  );
  const m = c.members.get('c')!;
  assert.equal(m.restoredFrom?.metadata.index, 14);
  assert.equal(m.restoredFrom?.metadata.term, 2);
  assert.deepEqual(m.restoredFrom?.metadata.conf, { voters: ['a', 'b', 'c'], removed: [] });
  assert.equal(text({ term: 0, index: 0, type: 0, data: m.restoredFrom!.data }), 'snap@14');
  assert.equal(c.core('c').status().commit, 14);
  assert.equal(c.core('c').status().firstIndex, 15);
  c.core('a').propose(data('after'));
  c.stabilize();
  assert.deepEqual(
    m.applied.map((e) => text(e)),
    ['after'],
    'after the snapshot, c applies only what follows it',
  );
});

test('a follower within the retained entries is repaired with entries, not a snapshot', () => {
  const c = new Cluster(['a', 'b', 'c'], { config: { logEntriesForSlowFollowers: 5 } });
  c.core('a').campaign();
  c.stabilize();
  c.isolate('c');
  for (let i = 0; i < 3; i++) c.core('a').propose(data(`v${i}`));
  c.stabilize();
  c.core('a').compact(7, data('snap@7'));
  assert.equal(c.core('a').status().firstIndex, 3);
  c.heal();
  c.takeTrace();
  c.tickStable(2);
  const t = c.takeTrace();
  assert.ok(!t.some((l) => l.includes(' snap ')), t.join('\n'));
  assert.equal(c.core('c').status().commit, 7);
});

test('a lost snapshot is sent again after the retry timeout, or at once after reportSnapshot(to, false)', () => {
  const c = lagging();
  c.core('a').compact(14, data('snap@14'));
  c.heal();
  c.dropIf = (m) => m.type === 'snap';
  c.takeTrace();
  c.tickStable(3);
  assert.equal(c.takeTrace((l) => l.startsWith('drop a->c snap')).length, 1, 'sent once, then waits');
  assert.equal(c.core('a').status().progress!.c!.state, 'snapshot');
  c.tickStable(SNAPSHOT_RETRY_ELECTION_TIMEOUTS * 10);
  assert.ok(c.takeTrace((l) => l.startsWith('drop a->c snap')).length >= 1, 'retried after the timeout');
  c.core('a').reportSnapshot!('c', false);
  c.dropIf = undefined;
  c.tickStable(2);
  assert.equal(c.core('c').status().commit, 14);
  assert.equal(c.members.get('c')!.restoredFrom?.metadata.index, 14);
});

test('restart from bootstrap (snapshot + hard state + entries) restores log, commit and membership', () => {
  const c = lagging();
  c.core('a').compact(14, data('snap@14'));
  c.core('a').propose(data('tail'));
  c.stabilize();
  const m = c.members.get('a')!;
  const snap = { metadata: { index: 14, term: 2, conf: { voters: ['a', 'b', 'c'], removed: [] } }, data: data('snap@14') };
  const entries = [...m.wal.values()].filter((e) => e.index > 14).sort((x, y) => x.index - y.index);
  const core = createRaftCore(testConfig('a'), { snapshot: snap, hardState: m.hardState, entries }, new SeededRng(5));
  const st = core.status();
  assert.equal(st.term, 2);
  assert.equal(st.role, 'follower');
  assert.equal(st.firstIndex, 15);
  assert.equal(st.lastIndex, 15);
  assert.equal(st.commit, 15);
  assert.equal(st.applied, 14);
  assert.deepEqual(st.voters, ['a', 'b', 'c']);
  const rd = core.ready();
  assert.deepEqual(rd.entries, [], 'nothing to persist again');
  assert.equal(rd.hardState, undefined, 'hard state unchanged');
  assert.deepEqual(rd.committedEntries.map((e) => text(e)), ['tail'], 're-applies what follows the snapshot');
  core.advance();
});
