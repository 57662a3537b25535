import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimCluster } from '../../sim/cluster.js';
import { kvApp } from '../../sim/kv-app.js';
import type { RaftId } from '../../../src/host/raft/types.js';

// leaderReady() gates leader-only work: the orchestration simulation found a new leader starting its
// orchestrator on a store that still missed entries committed in the previous term, so it created tasks for slots
// that already had one.

test('leaderReady is false on a follower and true on a leader that applied its own term', async () => {
  const c = new SimCluster({ seed: 11, managers: 3, faults: { dropRate: 0, duplicateRate: 0, minDelayMs: 1, maxDelayMs: 5 }, app: kvApp });
  try {
    await c.bootstrap();
    await c.run(3_000);
    const l = c.leader();
    assert.ok(l, 'a leader');
    assert.equal(await l.node!.leaderReady(), true);
    const f = c.live().find((m) => m !== l)!;
    assert.equal(await f.node!.leaderReady(), false);
  } finally {
    c.shutdown();
  }
});

test('a new leader is ready only once it applied what the previous leader committed', async () => {
  const events: RaftId[] = [];
  const c: SimCluster = new SimCluster({
    seed: 5,
    managers: 3,
    faults: { dropRate: 0, duplicateRate: 0, minDelayMs: 1, maxDelayMs: 5 },
    app: kvApp,
    onRole: (id, leader) => {
      if (leader) events.push(id);
    },
  });
  try {
    await c.bootstrap();
    await c.run(3_000);
    const old = c.leader()!;
    const [f1, f2] = c.live().filter((m) => m !== old) as [NonNullable<ReturnType<SimCluster['leader']>>, NonNullable<ReturnType<SimCluster['leader']>>];
    // Only the old leader and f1 replicate the write; the old leader is cut off and crashes as soon as it applied
    // it, before f1 hears the new commit index.
    c.net.isolate(f2.id);
    let acked = false;
    void c.write('k', 'v').then((ok) => {
      acked = ok;
      // Cut the old leader at once: its messages in flight (carrying the new commit index) are lost.
      c.net.isolate(old.id);
    });
    for (let i = 0; i < 500 && !acked; i++) await c.run(1);
    assert.ok(acked, 'the write committed');
    const committed = old.node!.applied;
    // The precondition of the bug: the member that will lead has the write in its log but has not applied it.
    assert.ok(f1.node!.applied < committed, `f1 applied ${f1.node!.applied}, committed ${committed}`);
    c.crash(old.id);
    c.net.heal();
    events.length = 0;
    let ready: boolean | undefined;
    let appliedWhenReady = -1;
    for (let i = 0; i < 100 && ready === undefined; i++) {
      await c.run(100);
      const l = c.leader();
      if (l && ready === undefined && events.length > 0) {
        void l.node!.leaderReady().then((r) => {
          ready = r;
          appliedWhenReady = l.node!.applied;
        });
      }
    }
    await c.run(10);
    assert.equal(c.leader()?.id, f1.id, 'only f1 holds the committed write');
    assert.equal(ready, true);
    assert.ok(appliedWhenReady >= committed, `applied ${appliedWhenReady} when ready, committed ${committed}`);
  } finally {
    c.shutdown();
  }
});
