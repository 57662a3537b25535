import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError, TaskState } from '../../../src/host/api/index.js';
import { decodeActions } from '../../../src/host/store/index.js';
import { HeldProposer, drive, localStore, task } from './fixtures.js';

describe('store batch writes', () => {
  it('splits a large batch into proposals under maxProposalBytes and at most 200 changes', async () => {
    const maxProposalBytes = 64 * 1024;
    const { store } = localStore(3, { maxProposalBytes });
    const held = new HeldProposer(store);
    store.setProposer(held);
    const done = store.batch((b) => {
      for (let i = 0; i < 1000; i++) b.update((tx) => void tx.create('tasks', task(`t${i}`, 's', i)));
    });
    const r = await drive(held, done);
    assert.deepEqual(r, { applied: 1000, failed: [] });
    assert.ok(held.proposed.length > 1000 / 200, `${held.proposed.length} proposals`);
    let subs = 0;
    for (const data of held.proposed) {
      assert.ok(data.length <= maxProposalBytes, `proposal of ${data.length} bytes`);
      const entry = decodeActions(data);
      assert.ok(entry.txs.length <= 200);
      subs += entry.txs.length;
    }
    assert.equal(subs, 1000);
    assert.equal(store.view((tx) => tx.list('tasks').length), 1000);
  });

  it('cuts proposals at 200 changes with the default 1.5 MiB limit', async () => {
    const { store } = localStore();
    const held = new HeldProposer(store);
    store.setProposer(held);
    const r = await drive(
      held,
      store.batch((b) => {
        for (let i = 0; i < 450; i++) b.update((tx) => void tx.create('tasks', task(`t${i}`, 's', i)));
      }),
    );
    assert.equal(r.applied, 450);
    assert.deepEqual(
      held.proposed.map((d) => decodeActions(d).txs.length),
      [200, 200, 50],
    );
  });

  it('keeps each sub-transaction atomic and reports the ones that fail', async () => {
    const { store } = localStore();
    await store.update((tx) => tx.create('tasks', task('t0', 's', 0)));
    const r = await store.batch((b) => {
      b.update((tx) => void tx.create('tasks', task('t1', 's', 1)));
      b.update((tx) => {
        tx.create('tasks', task('t2', 's', 2));
        tx.create('tasks', task('t0', 's', 0)); // duplicate id: the whole sub-transaction fails
      });
      b.update((tx) => void tx.update('tasks', { ...tx.get('tasks', 't0')!, desiredState: TaskState.SHUTDOWN }));
    });
    assert.equal(r.applied, 2);
    assert.equal(r.failed.length, 1);
    assert.equal(r.failed[0]!.index, 1);
    assert.match(r.failed[0]!.error.message, /object already exists: task t0/);
    store.view((tx) => {
      assert.ok(tx.get('tasks', 't1'));
      assert.equal(tx.get('tasks', 't2'), undefined);
      assert.equal(tx.get('tasks', 't0')!.desiredState, TaskState.SHUTDOWN);
    });
  });

  it('fails a single change larger than maxProposalBytes with an error naming the object', async () => {
    const { store } = localStore(1, { maxProposalBytes: 4096 });
    const big = task('huge', 's', 1);
    const fat = { ...big, spec: { ...big.spec, container: { ...big.spec.container, env: [`X=${'y'.repeat(8000)}`] } } };
    const r = await store.batch((b) => {
      b.update((tx) => void tx.create('tasks', task('small', 's', 2)));
      b.update((tx) => void tx.create('tasks', fat));
    });
    assert.equal(r.applied, 1);
    assert.ok(r.failed[0]!.error instanceof InvalidArgumentError);
    assert.match(r.failed[0]!.error.message, /task huge \(\d+ bytes\)/);
    assert.match(r.failed[0]!.error.message, /maxProposalBytes is 4096/);
    await assert.rejects(store.update((tx) => tx.create('tasks', fat)), /transaction too large.*task huge/);
  });
});
