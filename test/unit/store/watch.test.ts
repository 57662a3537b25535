import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TaskState } from '../../../src/host/api/index.js';
import { WatchOverflowError, type StoreEvent, type Watcher } from '../../../src/host/store/index.js';
import { localStore, service, task } from './fixtures.js';

/** Takes exactly n events, failing if they do not arrive within a bounded number of turns. */
async function take(w: Watcher, n: number): Promise<StoreEvent[]> {
  const out: StoreEvent[] = [];
  for (let i = 0; i < n; i++) {
    const r = await Promise.race([
      w.next(),
      new Promise<never>((_, rej) => setImmediate(() => rej(new Error(`no event ${i + 1} of ${n}`)))),
    ]);
    if (r.done) throw new Error('watcher ended');
    out.push(r.value);
  }
  return out;
}

const brief = (e: StoreEvent): string =>
  e.kind === 'commit' || e.kind === 'restored' ? `${e.kind}@${e.version}` : `${e.kind} ${e.table} ${e.object.id}`;

describe('store watch', () => {
  it('delivers object events then a commit, per transaction, in apply order', async () => {
    const { store } = localStore();
    const w = store.watch();
    await store.update((tx) => {
      tx.create('services', service('s1', 'web'));
      tx.create('tasks', task('t1', 's1', 1));
    });
    await store.update((tx) => tx.update('tasks', { ...tx.get('tasks', 't1')!, nodeId: 'n1' }));
    await store.update((tx) => tx.delete('tasks', 't1'));
    const evs = await take(w, 7);
    assert.deepEqual(evs.map(brief), [
      'create services s1',
      'create tasks t1',
      'commit@1',
      'update tasks t1',
      'commit@2',
      'delete tasks t1',
      'commit@3',
    ]);
    const upd = evs[3]!;
    assert.ok(upd.kind === 'update' && upd.table === 'tasks');
    assert.equal(upd.object.nodeId, 'n1');
    assert.equal(upd.old.nodeId, '');
    assert.equal(upd.object.meta.version, 2);
    w.close();
    assert.deepEqual(await w.next(), { value: undefined, done: true });
  });

  it('filters by table and by predicate', async () => {
    const { store } = localStore();
    const tasksOnly = store.watch({ tables: ['tasks'], filter: (e) => e.kind !== 'commit' });
    const shutdowns = store.watch({
      filter: (e) => e.kind === 'update' && e.table === 'tasks' && e.object.desiredState === TaskState.SHUTDOWN,
    });
    await store.update((tx) => {
      tx.create('services', service('s1', 'web'));
      tx.create('tasks', task('t1', 's1', 1));
      tx.create('tasks', task('t2', 's1', 2));
    });
    await store.update((tx) => tx.update('tasks', { ...tx.get('tasks', 't2')!, desiredState: TaskState.SHUTDOWN }));
    assert.deepEqual((await take(tasksOnly, 3)).map(brief), ['create tasks t1', 'create tasks t2', 'update tasks t2']);
    assert.deepEqual((await take(shutdowns, 1)).map(brief), ['update tasks t2']);
    assert.equal(tasksOnly.pending, 0);
    assert.equal(shutdowns.pending, 0);
  });

  it('closes a watcher that falls behind with WatchOverflowError while the store and other watchers go on', async () => {
    const { store } = localStore();
    const slow = store.watch({ bufferSize: 5 });
    const fine = store.watch();
    for (let i = 0; i < 4; i++) await store.update((tx) => tx.create('tasks', task(`t${i}`, 's', i)));
    assert.equal(slow.closed, true);
    assert.ok(slow.error instanceof WatchOverflowError);
    await assert.rejects(slow.next(), WatchOverflowError);
    assert.deepEqual(await slow.next(), { value: undefined, done: true });
    await store.update((tx) => tx.create('tasks', task('t9', 's', 9)));
    const evs = await take(fine, 10);
    assert.equal(evs.filter((e) => e.kind === 'create').length, 5);
    assert.equal(store.view((tx) => tx.list('tasks').length), 5);
  });

  it('wakes a consumer waiting in for-await and ends it on close', async () => {
    const { store } = localStore();
    const w = store.watch({ tables: ['tasks'], filter: (e) => e.kind === 'create' });
    const seen: string[] = [];
    const consumer = (async () => {
      for await (const e of w) {
        if (e.kind === 'create') seen.push(e.object.id);
        if (seen.length === 2) w.close();
      }
    })();
    await store.update((tx) => tx.create('tasks', task('a', 's', 1)));
    await store.update((tx) => tx.create('tasks', task('b', 's', 2)));
    await consumer;
    assert.deepEqual(seen, ['a', 'b']);
  });

  it('viewAndWatch reads a snapshot and then sees exactly the later changes', async () => {
    const { store } = localStore();
    await store.update((tx) => tx.create('tasks', task('old', 's', 1)));
    const { result, watcher } = store.viewAndWatch((tx) => tx.list('tasks').map((t) => t.id), { tables: ['tasks'] });
    assert.deepEqual(result, ['old']);
    await store.update((tx) => tx.create('tasks', task('new', 's', 2)));
    assert.deepEqual((await take(watcher, 2)).map(brief), ['create tasks new', 'commit@2']);
  });

  it('emits a single restored event on restore', async () => {
    const a = localStore(1);
    await a.store.update((tx) => tx.create('tasks', task('x', 's', 1)));
    const b = localStore(2);
    const w = b.store.watch();
    b.store.restore(a.store.snapshot());
    assert.deepEqual((await take(w, 1)).map(brief), ['restored@1']);
    assert.equal(w.pending, 0);
  });

  it('ends a watcher whose filter throws, without disturbing apply', async () => {
    const { store } = localStore();
    const bad = store.watch({
      filter: () => {
        throw new Error('filter bug');
      },
    });
    await store.update((tx) => tx.create('tasks', task('x', 's', 1)));
    assert.equal(bad.closed, true);
    await assert.rejects(bad.next(), /filter bug/);
    assert.ok(store.view((tx) => tx.get('tasks', 'x')));
  });
});
