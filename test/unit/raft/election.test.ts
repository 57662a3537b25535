import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from './harness.js';

const noDrops = (l: string): boolean => !l.startsWith('drop');

test('election: a pre-vote round, then a vote round, then the leader appends and commits its no-op', () => {
  const c = new Cluster(['a', 'b', 'c']);
  c.core('a').campaign();
  c.stabilize();
  assert.deepEqual(c.takeTrace(), [
    'a pre-candidate t1',
    'a->b preVote t2 last3/1',
    'a->c preVote t2 last3/1',
    'b->a preVoteResp t2 grant',
    'c->a preVoteResp t2 grant', // arrives after a already won the pre-vote: ignored
    'a candidate t2',
    'a->b vote t2 last3/1',
    'a->c vote t2 last3/1',
    'b->a voteResp t2 grant',
    'c->a voteResp t2 grant',
    'a leader t2',
    'a->b app t2 i3/1 [4:2] c3', // the no-op of term 2
    'a->c app t2 i3/1 [4:2] c3',
    'b follower t2',
    'c follower t2',
    'b->a appResp t2 i4',
    'c->a appResp t2 i4',
    'a->b app t2 i4/2 [] c4', // commit of the no-op propagated
    'a->c app t2 i4/2 [] c4',
    'b->a appResp t2 i4',
    'c->a appResp t2 i4',
  ]);
  for (const id of ['a', 'b', 'c']) {
    const st = c.core(id).status();
    assert.equal(st.term, 2);
    assert.equal(st.leader, 'a');
    assert.equal(st.commit, 4);
  }
  const noop = c.members.get('b')!.applied.at(-1)!;
  assert.equal(noop.index, 4);
  assert.equal(noop.data.byteLength, 0);
});

test('election by ticks: the first member to time out (within [electionTick, 2*electionTick)) wins, one leader', () => {
  for (let seed = 1; seed <= 20; seed++) {
    const c = new Cluster(['a', 'b', 'c'], { seed });
    let ticks = 0;
    while (c.leaders().length === 0) {
      c.tickStable(1);
      ticks++;
      assert.ok(ticks < 20, `seed ${seed}: no leader after ${ticks} ticks`);
    }
    assert.ok(ticks >= 10, `seed ${seed}: someone campaigned after only ${ticks} ticks`);
    assert.equal(c.leaders().length, 1);
    assert.equal(c.core(c.leaders()[0]!).status().term, 2, `seed ${seed}: pre-vote keeps the election to one term`);
  }
});

test('pre-vote: a partitioned member that rejoins does not bump terms or disrupt the leader', () => {
  const c = new Cluster(['a', 'b', 'c']);
  c.core('a').campaign();
  c.stabilize();
  c.isolate('c');
  c.tickStable(30); // c pre-campaigns alone, repeatedly, without raising its term
  assert.equal(c.core('c').status().role, 'pre-candidate');
  assert.equal(c.core('c').status().term, 2);
  c.takeTrace();
  c.heal();
  c.core('c').campaign();
  c.stabilize();
  assert.deepEqual(c.takeTrace(), [
    'c->a preVote t3 last4/2',
    'c->b preVote t3 last4/2',
    'a->c preVoteResp t2 reject', // a and b heard from the leader within the election timeout: the lease
    'b->c preVoteResp t2 reject',
    'c follower t2',
  ]);
  c.tickStable(1);
  assert.deepEqual(c.takeTrace(), [
    'a->b heartbeat t2 c4',
    'a->c heartbeat t2 c4',
    'c follower t2', // c learns the leader
    'b->a heartbeatResp t2',
    'c->a heartbeatResp t2',
  ]);
  for (const id of ['a', 'b', 'c']) assert.equal(c.core(id).status().term, 2);
  assert.deepEqual(c.leaders(), ['a']);
  assert.equal(c.core('c').status().leader, 'a');
});

test('without pre-vote, an isolated member raises its term while alone (the disruption pre-vote prevents)', () => {
  const c = new Cluster(['a', 'b', 'c'], { config: { preVote: false, checkQuorum: false } });
  c.core('a').campaign();
  c.stabilize();
  c.isolate('c');
  c.tickStable(30);
  // Contrast with the pre-vote test above: c has raised its term while alone.
  assert.ok(c.core('c').status().term > 2);
});

test('check-quorum: a leader cut off from a quorum steps down after one election timeout', () => {
  const c = new Cluster(['a', 'b', 'c']);
  c.core('a').campaign();
  c.stabilize();
  c.tickStable(3);
  c.takeTrace();
  c.isolate('a');
  c.tick(9, ['a']);
  assert.equal(c.core('a').status().role, 'leader', 'still inside the window');
  c.tick(1, ['a']);
  assert.deepEqual(c.takeTrace(noDrops), ['a follower t2']);
  assert.equal(c.core('a').status().term, 2, 'stepping down does not change the term');
  // The majority side elects a new leader at term 3 once its lease runs out.
  let ticks = 0;
  while (!c.leaders().some((l) => l !== 'a')) {
    c.tick(1, ['b', 'c']);
    c.stabilize();
    assert.ok(++ticks < 40, 'no new leader on the majority side');
  }
  const nl = c.leaders()[0]!;
  assert.equal(c.core(nl).status().term, 3);
  assert.notEqual(nl, 'a');
});

test('a stale leader learns the higher term from a follower answer and steps down', () => {
  const c = new Cluster(['a', 'b', 'c'], { config: { checkQuorum: false } });
  c.core('a').campaign();
  c.stabilize();
  c.isolate('a');
  c.core('b').campaign();
  c.stabilize();
  assert.equal(c.core('b').status().role, 'leader');
  assert.equal(c.core('a').status().role, 'leader', 'a has not heard anything yet');
  c.heal();
  c.takeTrace();
  c.tick(1, ['a']);
  c.stabilize();
  const t = c.takeTrace();
  assert.ok(t.includes('b->a appResp t3 i0'), t.join('\n'));
  assert.equal(c.core('a').status().role, 'follower');
  assert.equal(c.core('a').status().term, 3);
});

test('failover: after the leader dies, the others elect a new one, typically within 2 election timeouts', () => {
  const ticksTaken: number[] = [];
  for (let seed = 1; seed <= 100; seed++) {
    const c = new Cluster(['a', 'b', 'c'], { seed });
    c.core('a').campaign();
    c.stabilize();
    c.tickStable(5 + (seed % 7));
    c.down.add('a');
    let t = 0;
    while (c.leaders().length === 0) {
      c.tickStable(1);
      t++;
      assert.ok(t <= 60, `seed ${seed}: no new leader within 60 ticks`);
    }
    assert.ok(t >= 10, `seed ${seed}: the lease must hold for one election timeout (took ${t})`);
    ticksTaken.push(t);
  }
  ticksTaken.sort((x, y) => x - y);
  const median = ticksTaken[Math.floor(ticksTaken.length / 2)]!;
  assert.ok(median < 20, `median failover ${median} ticks`);
});
