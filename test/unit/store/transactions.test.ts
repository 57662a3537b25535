import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  AlreadyExistsError,
  FailedPreconditionError,
  NotFoundError,
  ResourceExhaustedError,
  TaskState,
} from '../../../src/host/api/index.js';
import { SeededRng } from '../../../src/host/env/index.js';
import { NotLeaderError } from '../../../src/host/raft/types.js';
import { Store, decodeActions } from '../../../src/host/store/index.js';
import { HeldProposer, ManualClock, SharedLog, drive, localStore, secret, service, task, tick } from './fixtures.js';

describe('store write transactions', () => {
  it('stamps meta.version with the entry index and times from the proposing clock', async () => {
    const { store, clock } = localStore();
    clock.t = 1000;
    const created = await store.update((tx) => tx.create('services', service('s1', 'web')));
    assert.equal(created.meta.version, -1, 'inside the transaction the version is provisional');
    const s1 = store.view((tx) => tx.get('services', 's1')!);
    assert.deepEqual(s1.meta, { version: 1, createdAt: 1000, updatedAt: 1000 });
    clock.t = 2000;
    await store.update((tx) => tx.update('services', { ...s1, specVersion: 1 }));
    const again = store.view((tx) => tx.get('services', 's1')!);
    assert.deepEqual(again.meta, { version: 2, createdAt: 1000, updatedAt: 2000 });
    assert.equal(store.appliedIndex, 2);
  });

  it('hands out frozen objects that callers cannot mutate', async () => {
    const { store } = localStore();
    await store.update((tx) => tx.create('tasks', task('t1', 's', 1)));
    const t = store.view((tx) => tx.get('tasks', 't1')!);
    assert.throws(() => {
      (t as { slot: number }).slot = 9;
    }, TypeError);
    assert.throws(() => {
      (t.spec.container.env as string[]).push('X=1');
    }, TypeError);
  });

  it('refuses a duplicate name case-insensitively, at tx time, with SwarmKit wording', async () => {
    const { store } = localStore();
    await store.update((tx) => tx.create('services', service('s1', 'Web')));
    await assert.rejects(
      store.update((tx) => tx.create('services', service('s2', 'wEB'))),
      (e: Error) => e instanceof AlreadyExistsError && e.message === 'name conflicts with an existing object: service wEB already exists',
    );
    await assert.rejects(store.update((tx) => tx.create('secrets', secret('x', 'a')) && tx.create('secrets', secret('y', 'A'))), AlreadyExistsError);
    // Different tables do not conflict; tasks and nodes have no unique names.
    await store.update((tx) => {
      tx.create('secrets', secret('sec', 'web'));
      tx.create('tasks', task('t1', 's1', 1));
      tx.create('tasks', { ...task('t2', 's1', 1), annotations: { name: 'web.1.t1', labels: {} } });
    });
    await assert.rejects(store.update((tx) => tx.create('services', service('s1', 'other'))), /object already exists: service s1/);
    // A rename that frees a name lets another object take it in the same transaction.
    await store.update((tx) => {
      const s1 = tx.get('services', 's1')!;
      tx.update('services', { ...s1, spec: { ...s1.spec, annotations: { name: 'old-web', labels: {} } } });
      tx.create('services', service('s3', 'web'));
    });
    assert.equal(store.view((tx) => tx.lookup('services', 'WEB').id), 's3');
  });

  it('fails a stale update at tx time with "update out of sequence" and leaves the store unchanged', async () => {
    const { store } = localStore();
    await store.update((tx) => tx.create('services', service('s1', 'web')));
    const v1 = store.view((tx) => tx.get('services', 's1')!);
    await store.update((tx) => tx.update('services', { ...v1, specVersion: 5 }));
    const before = store.snapshot();
    await assert.rejects(
      store.update((tx) => tx.update('services', { ...v1, specVersion: 6 })),
      (e: Error) => e instanceof FailedPreconditionError && e.message === 'update out of sequence',
    );
    assert.deepEqual(store.snapshot(), before);
    await assert.rejects(store.update((tx) => tx.delete('services', 'nope')), NotFoundError);
  });

  it('fails a stale update at apply time on every manager, skipping only that transaction', async () => {
    const clock = new ManualClock();
    const a = new Store({ clock, rng: new SeededRng(1) });
    const b = new Store({ clock, rng: new SeededRng(2) });
    const log = new SharedLog([a, b]);
    const created = a.update((tx) => tx.create('services', service('s1', 'web')));
    await tick();
    log.release();
    await created;
    // Both managers read version 1 and race; the first committed wins, the second fails everywhere.
    const fromA = a.update((tx) => tx.update('services', { ...tx.get('services', 's1')!, specVersion: 10 }));
    const fromB = b.update((tx) => tx.update('services', { ...tx.get('services', 's1')!, specVersion: 20 }));
    await tick();
    assert.equal(log.held.length, 2);
    log.release();
    await fromA;
    await assert.rejects(fromB, (e: Error) => e instanceof FailedPreconditionError && e.message === 'update out of sequence');
    for (const s of [a, b]) assert.equal(s.view((tx) => tx.get('services', 's1')!.specVersion), 10);
    assert.deepEqual(a.snapshot(), b.snapshot());
  });

  it('fails an update at apply when another manager deleted the object first', async () => {
    const clock = new ManualClock();
    const a = new Store({ clock, rng: new SeededRng(1) });
    const b = new Store({ clock, rng: new SeededRng(2) });
    const log = new SharedLog([a, b]);
    const init = a.update((tx) => tx.create('tasks', task('t1', 's', 1)));
    await tick();
    log.release();
    await init;
    const del = a.update((tx) => tx.delete('tasks', 't1'));
    await tick();
    const upd = b.update((tx) => tx.update('tasks', { ...tx.get('tasks', 't1')!, nodeId: 'n1' }));
    await tick();
    log.release();
    await del;
    await assert.rejects(upd, (e: Error) => e instanceof NotFoundError && e.message === 'object does not exist: task t1');
    assert.deepEqual(a.snapshot(), b.snapshot());
  });

  it('rejects queued writes and closes watchers on close()', async () => {
    const { store } = localStore();
    const held = new HeldProposer(store);
    store.setProposer(held);
    const w = store.watch();
    const inFlight = store.update((tx) => tx.create('tasks', task('t1', 's', 1)));
    await tick();
    const queued = store.update((tx) => tx.create('tasks', task('t2', 's', 2)));
    store.close();
    await assert.rejects(queued, /store closed/);
    await assert.rejects(store.update(() => 1), /store closed/);
    assert.equal(w.closed, true);
    held.release();
    await inFlight;
    assert.ok(store.view((tx) => tx.get('tasks', 't1')));
  });

  it('groups concurrent updates into few proposals, each transaction whole in one proposal', async () => {
    const { store } = localStore(1, { maxProposalsInFlight: 1 });
    const held = new HeldProposer(store);
    store.setProposer(held);
    const first = store.update((tx) => tx.create('tasks', task('t0', 's', 0)));
    await tick();
    assert.equal(held.held.length, 1);
    // While the first proposal is in flight, 300 transactions of 1 to 3 actions queue.
    const later: Promise<unknown>[] = [];
    for (let i = 1; i <= 300; i++) {
      later.push(
        store.update((tx) => {
          for (let j = 0; j < 1 + (i % 3); j++) tx.create('tasks', task(`t${i}.${j}`, 's', i));
        }),
      );
    }
    await tick();
    assert.equal(held.held.length, 1, 'nothing else is proposed while a proposal is in flight');
    await drive(held, Promise.all([first, ...later]));
    assert.ok(held.proposed.length >= 4 && held.proposed.length <= 5, `proposals: ${held.proposed.length}`);
    let txs = 0;
    for (const data of held.proposed) {
      const entry = decodeActions(data);
      const actions = entry.txs.reduce((n, t) => n + t.length, 0);
      assert.ok(actions <= 200, `proposal of ${actions} actions`);
      txs += entry.txs.length;
      for (const t of entry.txs) assert.ok(t.length >= 1 && t.length <= 3);
    }
    assert.equal(txs, 301);
    assert.equal(store.view((tx) => tx.list('tasks').length), 1 + 300 * 2);
  });

  it('lets a later transaction of the same proposal build on an earlier one', async () => {
    const { store } = localStore();
    await store.update((tx) => tx.create('tasks', task('t1', 's', 1)));
    const p1 = store.update((tx) => {
      const t = tx.get('tasks', 't1')!;
      return tx.update('tasks', { ...t, nodeId: 'n1' }).meta.version;
    });
    const p2 = store.update((tx) => {
      const t = tx.get('tasks', 't1')!;
      assert.equal(t.nodeId, 'n1', 'sees the earlier transaction of its proposal');
      return tx.update('tasks', { ...t, desiredState: TaskState.SHUTDOWN }).meta.version;
    });
    assert.deepEqual(await Promise.all([p1, p2]), [-1, -2]);
    const t = store.view((tx) => tx.get('tasks', 't1')!);
    assert.equal(t.nodeId, 'n1');
    assert.equal(t.desiredState, TaskState.SHUTDOWN);
    assert.equal(t.meta.version, 2);
    assert.equal(store.proposalsMade, 2);
  });

  it('fails a dependent transaction when the earlier one of its proposal fails at apply', async () => {
    const clock = new ManualClock();
    const a = new Store({ clock, rng: new SeededRng(1) });
    const b = new Store({ clock, rng: new SeededRng(2) });
    const log = new SharedLog([a, b]);
    const init = a.update((tx) => {
      tx.create('tasks', task('x', 's', 1));
      tx.create('tasks', task('y', 's', 2));
    });
    await tick();
    log.release();
    await init;
    // b changes y; its proposal is committed first.
    const fromB = b.update((tx) => tx.update('tasks', { ...tx.get('tasks', 'y')!, nodeId: 'nb' }));
    await tick();
    assert.equal(log.held.length, 1);
    // a: tx1 writes x and y (y will be stale at apply); tx2 builds on tx1's x; tx3 is independent.
    const tx1 = a.update((tx) => {
      tx.update('tasks', { ...tx.get('tasks', 'x')!, nodeId: 'n1' });
      tx.update('tasks', { ...tx.get('tasks', 'y')!, nodeId: 'n1' });
    });
    const tx2 = a.update((tx) => tx.update('tasks', { ...tx.get('tasks', 'x')!, desiredState: TaskState.SHUTDOWN }));
    const tx3 = a.update((tx) => tx.create('tasks', task('z', 's', 3)));
    await tick();
    assert.equal(log.held.length, 2);
    assert.equal(decodeActions(log.held[1]!.data).txs.length, 3, "a's three transactions share one proposal");
    log.release();
    await fromB;
    await assert.rejects(tx1, /update out of sequence/);
    await assert.rejects(tx2, /update out of sequence/);
    await tx3;
    for (const s of [a, b]) {
      const x = s.view((tx) => tx.get('tasks', 'x')!);
      assert.equal(x.nodeId, '');
      assert.equal(x.desiredState, TaskState.RUNNING);
      assert.equal(s.view((tx) => tx.get('tasks', 'y')!.nodeId), 'nb');
      assert.ok(s.view((tx) => tx.get('tasks', 'z')));
    }
    assert.deepEqual(a.snapshot(), b.snapshot());
  });

  it('fails waiting transactions when the proposer rejects (lost leadership) and leaves the store unchanged', async () => {
    const { store } = localStore();
    await store.update((tx) => tx.create('tasks', task('t1', 's', 1)));
    const before = store.snapshot();
    const held = new HeldProposer(store);
    store.setProposer(held);
    const p1 = store.update((tx) => tx.update('tasks', { ...tx.get('tasks', 't1')!, nodeId: 'n1' }));
    const p2 = store.update((tx) => tx.create('tasks', task('t2', 's', 2)));
    const p3 = store.batch((b) => {
      for (let i = 0; i < 5; i++) b.update((tx) => void tx.create('tasks', task(`b${i}`, 's', 10 + i)));
    });
    await tick();
    held.failAll(new NotLeaderError(''));
    await assert.rejects(p1, NotLeaderError);
    await assert.rejects(p2, NotLeaderError);
    const r = await p3;
    assert.equal(r.applied, 0);
    assert.equal(r.failed.length, 5);
    assert.ok(r.failed.every((f) => f.error instanceof NotLeaderError));
    assert.deepEqual(store.snapshot(), before);
    // The store keeps working once a proposer accepts again.
    const p4 = store.update((tx) => tx.create('tasks', task('t3', 's', 3)));
    await drive(held, p4);
    assert.ok(store.view((tx) => tx.get('tasks', 't3')));
  });

  it('bounds the write queue and rejects beyond maxQueuedTransactions', async () => {
    const { store } = localStore(1, { maxQueuedTransactions: 3 });
    const held = new HeldProposer(store);
    store.setProposer(held);
    const first = store.update((tx) => tx.create('tasks', task('t0', 's', 0)));
    await tick();
    const queued = [1, 2, 3].map((i) => store.update((tx) => tx.create('tasks', task(`t${i}`, 's', i))));
    await assert.rejects(
      store.update((tx) => tx.create('tasks', task('t4', 's', 4))),
      (e: Error) => e instanceof ResourceExhaustedError && /maxQueuedTransactions=3/.test(e.message),
    );
    await drive(held, Promise.all([first, ...queued]));
    assert.equal(store.view((tx) => tx.list('tasks').length), 4);
  });

  it('rejects an update whose callback throws, without proposing it', async () => {
    const { store } = localStore();
    await assert.rejects(
      store.update((tx) => {
        tx.create('tasks', task('t1', 's', 1));
        throw new Error('changed my mind');
      }),
      /changed my mind/,
    );
    assert.equal(store.proposalsMade, 0);
    assert.equal(store.view((tx) => tx.list('tasks').length), 0);
    assert.equal(await store.update((tx) => tx.list('tasks').length), 0, 'read-only updates resolve without a proposal');
    assert.equal(store.proposalsMade, 0);
  });

  it('collapses several changes to one object within a transaction', async () => {
    const { store } = localStore();
    await store.update((tx) => {
      const t = tx.create('tasks', task('t1', 's', 1));
      tx.update('tasks', { ...t, nodeId: 'n1' });
      tx.create('tasks', task('gone', 's', 2));
      tx.delete('tasks', 'gone');
    });
    const t = store.view((tx) => tx.get('tasks', 't1')!);
    assert.equal(t.nodeId, 'n1');
    assert.equal(store.view((tx) => tx.get('tasks', 'gone')), undefined);
  });
});
