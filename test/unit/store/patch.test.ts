import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AssertionFailure, TaskState, type Task } from '../../../src/host/api/index.js';
import { SeededRng } from '../../../src/host/env/index.js';
import { Store, decodeActions, encodeActions } from '../../../src/host/store/index.js';
import { ManualClock, localStore, service, task } from './fixtures.js';

/** Replays every recorded entry of `a` into a fresh store and checks both end byte-equal. */
function replayEqual(a: ReturnType<typeof localStore>): Store {
  const b = new Store({ clock: new ManualClock(0), rng: new SeededRng(5) });
  for (const e of a.proposer.entries) b.applyCommitted(e.index, e.data);
  assert.deepEqual(Buffer.from(b.snapshot()).toString(), Buffer.from(a.store.snapshot()).toString());
  return b;
}

const lastActions = (a: ReturnType<typeof localStore>) => decodeActions(a.proposer.entries.at(-1)!.data).txs.flat();

describe('store updates travel as patches', () => {
  it('an update sends only the top-level fields that changed, and every manager rebuilds the same object', async () => {
    const a = localStore(11, { record: true });
    await a.store.update((tx) => void tx.create('tasks', task('t1', 's1', 1)));
    a.clock.t += 500;
    await a.store.update((tx) => {
      const t = tx.get('tasks', 't1')!;
      tx.update('tasks', { ...t, nodeId: 'n7', status: { ...t.status, state: TaskState.ASSIGNED, message: 'assigned' } });
    });
    const [act] = lastActions(a);
    assert.equal(act!.op, 'patch');
    assert.deepEqual(Object.keys((act as { set: object }).set).sort(), ['nodeId', 'status']);
    assert.equal((act as { updatedAt: number }).updatedAt, a.clock.t);
    const full = JSON.stringify(a.store.view((tx) => tx.get('tasks', 't1')));
    assert.ok(a.proposer.entries.at(-1)!.data.length < full.length / 2, 'the patch entry is much smaller than the object');
    const b = replayEqual(a);
    const t = b.view((tx) => tx.get('tasks', 't1'))!;
    assert.equal(t.nodeId, 'n7');
    assert.equal(t.status.state, TaskState.ASSIGNED);
    assert.equal(t.meta.createdAt, a.clock.t - 500);
    assert.ok(Object.isFrozen(t) && Object.isFrozen(t.status));
    // Indexes follow the patched field on the replaying manager.
    assert.deepEqual(b.view((tx) => tx.find('tasks', { nodeId: 'n7' }).map((x) => x.id)), ['t1']);
  });

  it('removed fields are listed and removed; added fields are appended in order', async () => {
    const a = localStore(12, { record: true });
    await a.store.update((tx) => void tx.create('tasks', { ...task('t1', 's1', 1), logDriver: { name: 'json-file', options: {} } } as Task));
    await a.store.update((tx) => {
      const { logDriver: _drop, ...rest } = tx.get('tasks', 't1')! as Task & { logDriver?: unknown };
      tx.update('tasks', { ...rest, networks: [{ target: 'x' }] } as unknown as Task);
    });
    const [act] = lastActions(a);
    assert.equal(act!.op, 'patch');
    assert.deepEqual((act as { unset: string[] }).unset, ['logDriver']);
    assert.deepEqual(Object.keys((act as { set: object }).set), ['networks']);
    const b = replayEqual(a);
    assert.equal('logDriver' in b.view((tx) => tx.get('tasks', 't1'))!, false);
  });

  it('an object whose field order differs from the stored one travels whole, so all managers keep the same bytes', async () => {
    const a = localStore(13, { record: true });
    await a.store.update((tx) => void tx.create('tasks', task('t1', 's1', 1)));
    await a.store.update((tx) => {
      const t = tx.get('tasks', 't1')!;
      const { id, ...rest } = t;
      tx.update('tasks', { ...rest, nodeId: 'n2', id } as Task); // id moved last
    });
    assert.equal(lastActions(a)[0]!.op, 'update');
    replayEqual(a);
  });

  it('patches on top of earlier transactions of the same entry, and delete-then-create in one transaction, replay identically', async () => {
    const a = localStore(14, { record: true });
    await a.store.update((tx) => {
      tx.create('services', service('s1', 'web'));
      tx.create('tasks', task('t1', 's1', 1));
      tx.create('tasks', task('t2', 's1', 2));
    });
    const ps = [1, 2, 3].map((k) =>
      a.store.update((tx) => {
        const t = tx.get('tasks', 't1')!;
        tx.update('tasks', { ...t, slot: 10 + k, desiredState: k === 3 ? TaskState.SHUTDOWN : t.desiredState });
      }),
    );
    ps.push(
      a.store.update((tx) => {
        tx.delete('tasks', 't2');
        tx.create('tasks', { ...task('t2', 's1', 2), nodeId: 'n9' });
      }),
    );
    await Promise.all(ps);
    assert.equal(a.proposer.entries.length, 2, 'the four transactions went in one entry');
    const ops = lastActions(a).map((x) => x.op);
    assert.deepEqual(ops, ['patch', 'patch', 'patch', 'patch'], 'delete-then-create of the same id is an update, sent as a patch');
    const b = replayEqual(a);
    assert.equal(b.view((tx) => tx.get('tasks', 't2'))!.nodeId, 'n9');
    assert.equal(b.view((tx) => tx.get('tasks', 't1'))!.slot, 13);
    assert.deepEqual(b.view((tx) => tx.find('tasks', { desiredState: TaskState.SHUTDOWN }).map((x) => x.id)), ['t1']);
  });

  it('a patch against a stale version fails on every manager with "update out of sequence"', async () => {
    const a = localStore(15, { record: true });
    await a.store.update((tx) => void tx.create('tasks', task('t1', 's1', 1)));
    const v = a.store.view((tx) => tx.get('tasks', 't1'))!.meta.version;
    const b = replayEqual(a);
    const stale = encodeActions({ proposal: 'p.x', txs: [[{ op: 'patch', table: 'tasks', id: 't1', expectedVersion: v + 5, updatedAt: 1, set: { slot: 9 } }]] });
    b.applyCommitted(b.appliedIndex + 1, stale);
    assert.equal(b.view((tx) => tx.get('tasks', 't1'))!.slot, 1);
  });

  it('a malformed patch in a committed entry is a crash, not a silent skip', async () => {
    const a = localStore(16, { record: true });
    await a.store.update((tx) => void tx.create('tasks', task('t1', 's1', 1)));
    const b = replayEqual(a);
    const v = b.view((tx) => tx.get('tasks', 't1'))!.meta.version;
    for (const bad of [{ set: { meta: {} } }, { set: null }, { set: {}, unset: ['id'] }, { set: {}, unset: 'x' }]) {
      const data = encodeActions({ proposal: 'p.y', txs: [[{ op: 'patch', table: 'tasks', id: 't1', expectedVersion: v, updatedAt: 1, ...bad } as never]] });
      assert.throws(() => b.applyCommitted(b.appliedIndex + 1, data), AssertionFailure);
    }
  });
});
