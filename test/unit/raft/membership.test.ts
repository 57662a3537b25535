import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UnavailableError } from '../../../src/host/api/errors.js';
import { decodeConfChange } from '../../../src/host/raft/conf-change.js';
import { ConfChangeRefusedError, EntryType, MessageType } from '../../../src/host/raft/types.js';
import type { ConfChange, Message } from '../../../src/host/raft/types.js';
import { Cluster, data } from './harness.js';

const cc = (type: 'add' | 'remove', id: string): ConfChange => ({ type, id, context: data(`{"addr":"${id}:4242"}`) });

function elected(ids = ['a', 'b', 'c']): Cluster {
  const c = new Cluster(ids);
  c.core('a').campaign();
  c.stabilize();
  c.takeTrace();
  return c;
}

test('removing the leader: the change commits, the leader hands leadership to a caught-up voter and steps down', () => {
  const c = elected();
  c.core('a').proposeConfChange(cc('remove', 'a'));
  c.stabilize();
  assert.deepEqual(c.takeTrace(), [
    'a->b app t2 i4/2 [5:2] c4',
    'a->c app t2 i4/2 [5:2] c4',
    'b->a appResp t2 i5',
    'c->a appResp t2 i5',
    'a->b app t2 i5/2 [] c5', // the commit it computed as leader goes out
    'a->c app t2 i5/2 [] c5',
    // Applied the removal of itself: rather than stepping down (which could strand voters that do not know
    // the removal committed), it hands leadership to the most caught-up voter.
    'a->b timeoutNow t2',
    'b->a appResp t2 i5',
    'c->a appResp t2 i5',
  ]);
  for (const id of ['a', 'b', 'c']) {
    const st = c.core(id).status();
    assert.deepEqual(st.voters, ['b', 'c'], id);
    assert.deepEqual(st.removed, ['a'], id);
  }
  const applied = c.members.get('b')!.applied.at(-1)!;
  assert.equal(applied.type, EntryType.ConfChange);
  assert.deepEqual(decodeConfChange(applied.data), cc('remove', 'a'));
  let ticks = 0;
  while (!(c.leaders().length === 1 && c.leaders()[0] !== 'a')) {
    c.tickStable(1);
    assert.ok(++ticks < 30, 'no new leader');
  }
  assert.deepEqual(c.leaders(), ['b'], 'the most caught-up voter (lowest id on a tie) took over');
  assert.equal(c.core('a').status().role, 'follower', 'a removed member never campaigns');
  // Messages from the removed member are ignored.
  const nl = c.leaders()[0]!;
  const before = c.core(nl).status();
  const fromRemoved = (type: MessageType): Message => ({
    type, from: 'a', to: nl, term: 99, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, logTermHint: 0,
  });
  c.core(nl).step(fromRemoved(MessageType.Heartbeat)); // would make anyone else a follower of a at term 99
  c.core(nl).step(fromRemoved(MessageType.AppResp));
  assert.equal(c.core(nl).status().term, before.term);
  assert.equal(c.core(nl).status().role, 'leader');
  assert.throws(
    () => c.core(nl).proposeConfChange(cc('add', 'a')),
    (e: unknown) => e instanceof ConfChangeRefusedError && e.message === 'raft: member a was removed from the cluster and cannot rejoin',
  );
});

test('a second membership change is refused while the first is not yet applied', () => {
  const c = elected();
  c.core('a').proposeConfChange(cc('add', 'd'));
  assert.throws(
    () => c.core('a').proposeConfChange(cc('add', 'e')),
    (e: unknown) => e instanceof ConfChangeRefusedError && e.message === 'raft: a membership change is already in progress',
  );
  c.addMember('d');
  c.stabilize();
  // Only the first change travelled: entry 5; then d, a fresh joiner, is probed and filled from index 1.
  assert.deepEqual(c.takeTrace((l) => /^a->[bc] app/.test(l)), [
    'a->b app t2 i4/2 [5:2] c4',
    'a->c app t2 i4/2 [5:2] c4',
    'a->b app t2 i5/2 [] c5',
    'a->c app t2 i5/2 [] c5',
  ]);
  assert.deepEqual(c.core('a').status().voters, ['a', 'b', 'c', 'd']);
  assert.equal(c.core('d').status().lastIndex, 5);
  // Applied now: the next change is accepted.
  assert.doesNotThrow(() => c.core('a').proposeConfChange(cc('add', 'e')));
});

test('a new leader refuses membership changes until its no-op (and any earlier change) is applied', () => {
  const c = new Cluster(['a', 'b', 'c']);
  c.core('a').campaign();
  c.process();
  for (let i = 0; i < 10 && c.core('a').status().role !== 'leader'; i++) {
    c.deliverRound();
    c.process();
  }
  assert.equal(c.core('a').status().role, 'leader');
  assert.throws(() => c.core('a').proposeConfChange(cc('add', 'd')), ConfChangeRefusedError);
  c.stabilize();
  assert.doesNotThrow(() => c.core('a').proposeConfChange(cc('add', 'd')));
});

test('a removal that would leave fewer reachable members than a quorum is refused', () => {
  const c = elected();
  c.isolate('c');
  c.tickStable(10); // c silent for an election timeout: not recently active
  assert.deepEqual(c.core('a').reachablePeers(), ['a', 'b']);
  assert.deepEqual(c.core('a').status().progress!.c!.recentActive, false);
  c.takeTrace();
  assert.throws(
    () => c.core('a').proposeConfChange(cc('remove', 'b')),
    (e: unknown) =>
      e instanceof ConfChangeRefusedError &&
      e.message === 'raft: member cannot be removed, because removing it may result in loss of quorum',
  );
  c.stabilize();
  assert.deepEqual(c.takeTrace(), [], 'a refused change sends nothing');
  // Removing the unreachable member leaves {a, b}, both reachable: allowed.
  assert.doesNotThrow(() => c.core('a').proposeConfChange(cc('remove', 'c')));
  c.stabilize();
  assert.deepEqual(c.core('a').status().voters, ['a', 'b']);
  assert.throws(() => c.core('a').proposeConfChange(cc('remove', 'zz')), ConfChangeRefusedError);
});

test('a joining member with an empty log learns the whole membership from the log and becomes a voter', () => {
  const c = elected();
  c.core('a').proposeConfChange(cc('add', 'd'));
  c.addMember('d'); // fresh: no voters known, so it never campaigns on its own
  c.tickStable(3);
  const st = c.core('d').status();
  assert.deepEqual(st.voters, ['a', 'b', 'c', 'd']);
  assert.equal(st.leader, 'a');
  assert.equal(st.commit, c.core('a').status().commit);
  // d now counts toward quorum: four voters need three, so a and d alone cannot commit.
  c.partition(['a', 'd'], ['b', 'c']);
  const r = c.core('a').propose(data('needs-3-of-4'));
  c.stabilize();
  assert.ok(c.core('a').status().commit < r.index, 'two of four is not a quorum');
  c.heal();
  c.tickStable(2);
  assert.ok(c.core('a').status().commit >= r.index);
});

test('membership changes are refused during a leadership transfer and on followers', () => {
  const c = elected();
  c.isolate('c');
  c.core('a').transferLeadership('c');
  assert.throws(() => c.core('a').proposeConfChange(cc('add', 'd')), UnavailableError);
  assert.throws(() => c.core('b').proposeConfChange(cc('add', 'd')), /not the leader/);
});
