import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError, ResourceExhaustedError } from '../../../src/host/api/errors.js';
import { NotLeaderError, ProposalTooLargeError } from '../../../src/host/raft/types.js';
import { Cluster, bootWithTerms, data, text } from './harness.js';

test('log conflict repair (Figure 7): followers with missing and extra entries converge on the leader log', () => {
  const voters = ['L', 'a', 'b', 'c', 'd', 'e', 'f'];
  const logs: Record<string, number[]> = {
    L: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6],
    a: [1, 1, 1, 4, 4, 5, 5, 6, 6],
    b: [1, 1, 1, 4],
    c: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
    d: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
    e: [1, 1, 1, 4, 4, 4, 4],
    f: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
  };
  const c = new Cluster(voters, { bootstrap: (id) => bootWithTerms(voters, logs[id]!, 7, 3) });
  c.core('L').campaign();
  c.stabilize();
  assert.equal(c.core('L').status().role, 'leader');
  assert.equal(c.core('L').status().term, 8);
  const trace = c.takeTrace();
  const link = (x: string) => trace.filter((l) => new RegExp(`^(L->${x}|${x}->L) (app|appResp)`).test(l));
  // f: one rejection skips the whole run of terms 2..3 (its hint names term 3 at index 10; the leader's last
  // entry of term <= 3 is index 3).
  assert.deepEqual(link('f'), [
    'L->f app t8 i10/6 [11:8] c3',
    'f->L appResp t8 reject i10 hint10/3',
    'L->f app t8 i3/1 [4:4,5:4,6:5,7:5,8:6,9:6,10:6,11:8] c3',
    'f->L appResp t8 i11',
    'L->f app t8 i11/8 [] c11',
    'f->L appResp t8 i11',
  ]);
  // e: missing entries and a conflicting term-4 suffix: one rejection, then the rest from index 6.
  assert.deepEqual(link('e'), [
    'L->e app t8 i10/6 [11:8] c3',
    'e->L appResp t8 reject i10 hint7/4',
    'L->e app t8 i5/4 [6:5,7:5,8:6,9:6,10:6,11:8] c3',
    'e->L appResp t8 i11',
    'L->e app t8 i11/8 [] c11',
    'e->L appResp t8 i11',
  ]);
  // d: extra uncommitted entries of term 7 are overwritten by the first App.
  assert.deepEqual(link('d'), [
    'L->d app t8 i10/6 [11:8] c3',
    'd->L appResp t8 i11',
    'L->d app t8 i11/8 [] c3',
    'd->L appResp t8 i11',
    'L->d app t8 i11/8 [] c11',
    'd->L appResp t8 i11',
  ]);
  const want = c.walTerms('L');
  assert.deepEqual(want, ['1:1', '2:1', '3:1', '4:4', '5:4', '6:5', '7:5', '8:6', '9:6', '10:6', '11:8']);
  for (const id of voters) {
    assert.deepEqual(c.walTerms(id), want, `${id} converged`);
    assert.equal(c.core(id).status().commit, 11);
    assert.equal(c.members.get(id)!.appliedIndex, 11);
  }
});

test('commit rule (Figure 8): an old-term entry on a majority is not committed until a current-term entry is', () => {
  const voters = ['s1', 's2', 's3', 's4', 's5'];
  const logs: Record<string, number[]> = { s1: [1, 2], s2: [1], s3: [1], s4: [1], s5: [1, 3] };
  const c = new Cluster(voters, {
    bootstrap: (id) => bootWithTerms(voters, logs[id]!, 3, 1),
    config: { maxSizePerMsgBytes: 20 }, // one entry per App
  });
  c.partition(['s1'], ['s4', 's5']);
  // Entries of the new term (4) never reach a member that already holds the term-2 entry.
  c.dropIf = (m) => m.type === 'app' && m.entries.some((e) => e.term === 4) && c.members.get(m.to)!.wal.get(2)?.term === 2;
  c.core('s1').campaign();
  c.stabilize();
  const link = (t: string[]) => t.filter((l) => /^((drop )?s1->s2 |s2->s1 |s1 )/.test(l));
  assert.deepEqual(link(c.takeTrace()), [
    's1 pre-candidate t3',
    's1->s2 preVote t4 last2/2',
    's2->s1 preVoteResp t4 grant',
    's1 candidate t4',
    's1->s2 vote t4 last2/2',
    's2->s1 voteResp t4 grant',
    's1 leader t4',
    's1->s2 app t4 i2/2 [3:4] c1',
    's2->s1 appResp t4 reject i2 hint1/1',
    's1->s2 app t4 i1/1 [2:2] c1',
    's2->s1 appResp t4 i2',
    'drop s1->s2 app t4 i2/2 [3:4] c1',
  ]);
  for (const id of ['s1', 's2', 's3']) assert.equal(c.members.get(id)!.wal.get(2)?.term, 2, `${id} holds 2:2`);
  // 2:2 is on a majority (s1, s2, s3) but is of an old term: not committed. s5 could still overwrite it.
  assert.equal(c.core('s1').status().commit, 1);
  assert.equal(c.members.get('s1')!.appliedIndex, 1);
  c.dropIf = undefined;
  c.tickStable(1);
  // Once the term-4 no-op reaches a majority, it and everything before it commit.
  assert.equal(c.core('s1').status().commit, 3);
  for (const id of ['s1', 's2', 's3']) assert.deepEqual(c.walTerms(id), ['1:1', '2:2', '3:4']);
});

test('flow control: a follower in replicate state gets at most maxInflightMsgs unacknowledged Apps', () => {
  const c = new Cluster(['a', 'b', 'c'], { config: { maxInflightMsgs: 2 } });
  c.core('a').campaign();
  c.stabilize();
  assert.equal(c.core('a').status().progress!.b!.state, 'replicate');
  c.takeTrace();
  c.dropIf = (m) => m.from === 'b' && m.type === 'appResp'; // b receives but its acks are lost
  for (let i = 0; i < 5; i++) {
    c.core('a').propose(data(`x${i}`));
    c.stabilize();
  }
  const withEntries = (l: string): boolean => l.startsWith('a->b app') && !l.includes('[]');
  const toB = c.takeTrace().filter(withEntries);
  assert.deepEqual(toB, ['a->b app t2 i4/2 [5:2] c4', 'a->b app t2 i5/2 [6:2] c5']);
  // A heartbeat response frees one slot: one more App goes out.
  c.tickStable(1);
  const after = c.takeTrace().filter(withEntries);
  assert.deepEqual(after, ['a->b app t2 i6/2 [7:2,8:2,9:2] c9']);
  // Once acks flow again, b catches up completely.
  c.dropIf = undefined;
  c.tickStable(3);
  assert.equal(c.core('b').status().lastIndex, 9);
  assert.equal(c.core('b').status().commit, 9);
});

test('message size: Apps carry at most maxSizePerMsgBytes of entries, but always at least one entry', () => {
  const c = new Cluster(['a', 'b', 'c'], { config: { maxSizePerMsgBytes: 100 } });
  c.core('a').campaign();
  c.stabilize();
  c.isolate('b');
  const payloads = [40, 40, 40, 300, 10, 10];
  for (const n of payloads) c.core('a').propose(new Uint8Array(n).fill(1));
  c.stabilize();
  c.heal();
  c.takeTrace();
  c.tickStable(2);
  const apps = c.takeTrace().filter((l) => l.startsWith('a->b app') && !l.includes('[]'));
  // 40+16 = 56 bytes per small entry: one per App; the 300-byte entry travels alone; 26+26 fit together.
  assert.deepEqual(apps, [
    'a->b app t2 i4/2 [5:2] c10',
    'a->b app t2 i5/2 [6:2] c10',
    'a->b app t2 i6/2 [7:2] c10',
    'a->b app t2 i7/2 [8:2] c10',
    'a->b app t2 i8/2 [9:2,10:2] c10',
  ]);
  assert.equal(c.core('b').status().lastIndex, 10);
});

test('propose: a follower refuses with NotLeaderError naming the leader; bad payloads are refused', () => {
  const c = new Cluster(['a', 'b', 'c'], { config: { maxProposalBytes: 64 } });
  assert.throws(() => c.core('b').propose(data('x')), (e: unknown) => e instanceof NotLeaderError && e.leader === '');
  c.core('a').campaign();
  c.stabilize();
  assert.throws(
    () => c.core('b').propose(data('x')),
    (e: unknown) => e instanceof NotLeaderError && e.leader === 'a' && /leader is a/.test(e.message),
  );
  assert.throws(() => c.core('a').propose(new Uint8Array(0)), InvalidArgumentError);
  assert.throws(() => c.core('a').propose(new Uint8Array(65)), ProposalTooLargeError);
  const r = c.core('a').propose(data('hello'));
  assert.deepEqual(r, { index: 5, term: 2 });
  c.stabilize();
  for (const id of ['a', 'b', 'c']) assert.equal(text(c.members.get(id)!.applied.at(-1)!), 'hello');
});

test('a single-member cluster elects itself and commits proposals at once', () => {
  const c = new Cluster(['solo']);
  c.core('solo').campaign();
  c.stabilize();
  assert.equal(c.core('solo').status().role, 'leader');
  c.core('solo').propose(data('v'));
  c.stabilize();
  assert.equal(text(c.members.get('solo')!.applied.at(-1)!), 'v');
});

test('the leader refuses proposals once its uncommitted tail exceeds maxUncommittedEntriesBytes', () => {
  const c = new Cluster(['a', 'b', 'c'], { config: { maxUncommittedEntriesBytes: 10 } });
  c.core('a').campaign();
  c.stabilize();
  c.isolate('a');
  c.core('a').propose(new Uint8Array(6).fill(1));
  assert.throws(() => c.core('a').propose(new Uint8Array(6).fill(2)), (e: unknown) => e instanceof ResourceExhaustedError && /maxUncommittedEntriesBytes=10/.test(e.message));
  c.heal();
  c.tickStable(1);
  assert.doesNotThrow(() => c.core('a').propose(new Uint8Array(6).fill(2)), 'committed entries free the budget');
});
