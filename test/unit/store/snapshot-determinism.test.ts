import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError, TaskState } from '../../../src/host/api/index.js';
import { SeededRng } from '../../../src/host/env/index.js';
import { Store, decodeSnapshot } from '../../../src/host/store/index.js';
import { ManualClock, SharedLog, localStore, node, service, task, tick } from './fixtures.js';

/** A pseudo-random workload of creates, updates (some stale), deletes and batches. */
async function workload(store: Store, clock: ManualClock, seed: number): Promise<void> {
  const rng = new SeededRng(seed);
  await store.update((tx) => {
    tx.create('services', service('s1', 'web'));
    tx.create('nodes', node('n1', 'a'));
  });
  for (let round = 0; round < 30; round++) {
    clock.t += 1000;
    const ps: Promise<unknown>[] = [];
    for (let k = 0; k < 5; k++) {
      const i = rng.int(40);
      ps.push(
        store.update((tx) => {
          const t = tx.get('tasks', `t${i}`);
          if (!t) tx.create('tasks', task(`t${i}`, 's1', i));
          else if (rng.next() < 0.2) tx.delete('tasks', t.id);
          else tx.update('tasks', { ...t, nodeId: 'n1', desiredState: TaskState.SHUTDOWN });
        }),
      );
    }
    ps.push(store.batch((b) => b.update((tx) => void tx.create('tasks', task(`b${round}`, 's1', 100 + round)))));
    await Promise.allSettled(ps);
  }
}

describe('store apply determinism and snapshots', () => {
  it('two stores fed the same entries end identical, with byte-equal snapshots', async () => {
    const a = localStore(1, { record: true });
    await workload(a.store, a.clock, 42);
    const b = new Store({ clock: new ManualClock(0), rng: new SeededRng(99) });
    for (const e of a.proposer.entries) b.applyCommitted(e.index, e.data);
    assert.ok(a.proposer.entries.length > 10);
    assert.equal(b.appliedIndex, a.store.appliedIndex);
    assert.deepEqual(b.snapshot(), a.store.snapshot());
    // Indexes agree too, not only the objects.
    for (const s of [a.store, b]) {
      assert.equal(s.view((tx) => tx.find('tasks', { nodeId: 'n1' }).length), a.store.view((tx) => tx.find('tasks', { nodeId: 'n1' }).length));
    }
  });

  it('restores a snapshot: same bytes back, indexes rebuilt, appliedIndex taken over', async () => {
    const a = localStore(2);
    await workload(a.store, a.clock, 7);
    const snap = a.store.snapshot();
    assert.equal(decodeSnapshot(snap).index, a.store.appliedIndex);
    const b = localStore(3);
    await b.store.update((tx) => tx.create('services', service('other', 'other')));
    b.store.restore(snap);
    assert.deepEqual(b.store.snapshot(), snap);
    assert.equal(b.store.appliedIndex, a.store.appliedIndex);
    const q = (s: Store) => s.view((tx) => [tx.find('tasks', { serviceId: 's1' }).length, tx.find('tasks', { desiredState: TaskState.SHUTDOWN }).length, tx.list('services').length]);
    assert.deepEqual(q(b.store), q(a.store));
    assert.equal(b.store.view((tx) => tx.get('services', 'other')), undefined, 'restore replaces everything');
    // The restored store keeps writing from the snapshot's index.
    await b.store.update((tx) => tx.create('tasks', task('after', 's1', 999)));
    assert.equal(b.store.view((tx) => tx.get('tasks', 'after')!.meta.version), a.store.appliedIndex + 1);
  });

  it('the proposing manager, applying its own entries from memory, matches one that decodes them', async () => {
    const clock = new ManualClock();
    const leader = new Store({ clock, rng: new SeededRng(1) });
    const follower = new Store({ clock, rng: new SeededRng(2) });
    const log = new SharedLog([leader, follower]);
    // Values a JSON round trip changes: undefined fields vanish, -0 becomes 0.
    const t = { ...task('t1', 's1', 1), endpoint: undefined, specVersion: -0 };
    const p = leader.update((tx) => {
      tx.create('tasks', t);
      tx.create('services', service('s1', 'web'));
    });
    await tick();
    log.release();
    await p;
    const mine = leader.view((tx) => tx.get('tasks', 't1')!);
    assert.equal('endpoint' in mine, false);
    assert.ok(Object.is(mine.specVersion, 0));
    assert.deepEqual(mine, follower.view((tx) => tx.get('tasks', 't1')!));
    assert.deepEqual(leader.snapshot(), follower.snapshot());
    await assert.rejects(
      leader.update((tx) => tx.create('tasks', { ...task('t2', 's1', 2), slot: NaN })),
      (e: Error) => e instanceof InvalidArgumentError && e.message === 'task.slot: must be a finite number (got NaN)',
    );
    await assert.rejects(
      leader.update((tx) => tx.create('tasks', { ...task('t3', 's1', 3), status: new Date() as never })),
      /task.status: must be a plain object \(got Date\)/,
    );    // The same rules on updates built from the stored object (only changed fields are walked there).
    const u = leader.update((tx) => {
      const cur = tx.get('tasks', 't1')!;
      tx.update('tasks', { ...cur, specVersion: -0, slot: 0, endpoint: undefined, serviceAnnotations: { name: 'web', labels: { a: 'b' } } });
    });
    await tick();
    log.release();
    await u;
    const upd = leader.view((tx) => tx.get('tasks', 't1')!);
    assert.ok(Object.is(upd.specVersion, 0) && Object.is(upd.slot, 0));
    assert.ok(Object.isFrozen(upd.serviceAnnotations.labels));
    assert.deepEqual(upd, follower.view((tx) => tx.get('tasks', 't1')!));
    await assert.rejects(
      leader.update((tx) => {
        const cur = tx.get('tasks', 't1')!;
        tx.update('tasks', { ...cur, status: { ...cur.status, appliedAt: Infinity } });
      }),
      (e: Error) => e instanceof InvalidArgumentError && e.message === 'task.status.appliedAt: must be a finite number (got Infinity)',
    );
  });

  it('ignores an empty entry (the leader no-op) apart from advancing appliedIndex', async () => {
    const { store } = localStore();
    const before = store.snapshot();
    store.applyCommitted(5, new Uint8Array());
    assert.equal(store.appliedIndex, 5);
    assert.deepEqual(decodeSnapshot(store.snapshot()).tables, decodeSnapshot(before).tables);
    assert.throws(() => store.applyCommitted(5, new Uint8Array()), /applyCommitted\(5\) after 5/);
  });
});
