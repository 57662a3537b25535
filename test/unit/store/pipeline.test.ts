import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError, TaskState, UnavailableError } from '../../../src/host/api/index.js';
import { SeededRng } from '../../../src/host/env/index.js';
import { Store, decodeActions } from '../../../src/host/store/index.js';
import { HeldProposer, ManualClock, drive, localStore, service, task, tick } from './fixtures.js';

function held(maxProposalsInFlight = 4) {
  const s = localStore(21, { maxProposalsInFlight });
  const h = new HeldProposer(s.store);
  s.store.setProposer(h);
  return { ...s, held: h };
}

const ids = (data: Uint8Array): string[] =>
  decodeActions(data).txs.flatMap((t) => t.map((a) => ('object' in a ? a.object.id : a.id)));

describe('pipelined proposals', () => {
  it('keeps up to maxProposalsInFlight proposals of independent transactions in flight', async () => {
    const { store, held: h } = held(3);
    const ps = [store.update((tx) => tx.create('tasks', task('a', 's', 0)))];
    await tick();
    assert.equal(h.held.length, 1);
    ps.push(store.update((tx) => tx.create('tasks', task('b', 's', 1))));
    await tick();
    ps.push(store.update((tx) => tx.create('tasks', task('c', 's', 2))));
    await tick();
    ps.push(store.update((tx) => tx.create('tasks', task('d', 's', 3))));
    await tick();
    assert.equal(h.held.length, 3, 'a fourth proposal waits for a free slot');
    await drive(h, Promise.all(ps));
    assert.deepEqual(h.proposed.map(ids), [['a'], ['b'], ['c'], ['d']]);
    assert.equal(store.view((tx) => tx.list('tasks').length), 4);
  });

  it('a transaction that reads an object an in-flight proposal writes waits and then sees its result', async () => {
    const { store, held: h } = held();
    await drive(h, store.update((tx) => tx.create('tasks', task('t1', 's', 1))));
    const first = store.update((tx) => {
      const t = tx.get('tasks', 't1')!;
      tx.update('tasks', { ...t, nodeId: 'n1' });
    });
    await tick();
    assert.equal(h.held.length, 1);
    let runs = 0;
    const second = store.update((tx) => {
      runs++;
      const t = tx.get('tasks', 't1')!;
      tx.update('tasks', { ...t, slot: t.nodeId === 'n1' ? 42 : -1 });
    });
    const other = store.update((tx) => tx.create('tasks', task('t2', 's', 2)));
    await tick();
    assert.equal(h.held.length, 1, 'the dependent transaction holds back the queue behind it');
    h.release();
    await first;
    await tick(10);
    assert.equal(h.held.length, 1);
    await drive(h, Promise.all([second, other]));
    assert.equal(store.view((tx) => tx.get('tasks', 't1'))!.slot, 42);
    assert.ok(runs >= 1);
  });

  it('a transaction that catches the in-flight signal itself still waits', async () => {
    const { store, held: h } = held();
    await drive(h, store.update((tx) => tx.create('tasks', task('t1', 's', 1))));
    const first = store.update((tx) => tx.update('tasks', { ...tx.get('tasks', 't1')!, nodeId: 'n1' }));
    await tick();
    const seen: string[] = [];
    const second = store.update((tx) => {
      let t;
      try {
        t = tx.get('tasks', 't1');
      } catch {
        t = undefined;
      }
      seen.push(t?.nodeId ?? 'none');
      if (t) tx.update('tasks', { ...t, slot: 7 });
    });
    await tick();
    assert.equal(h.held.length, 1);
    await drive(h, Promise.all([first, second]));
    assert.equal(seen.at(-1), 'n1');
    assert.equal(store.view((tx) => tx.get('tasks', 't1'))!.slot, 7);
  });

  it('list and find that an in-flight change could alter wait; unrelated finds do not', async () => {
    const { store, held: h } = held();
    await drive(h, store.update((tx) => void tx.create('services', service('s1', 'web'))));
    const first = store.update((tx) => void tx.create('services', service('s2', 'api')));
    await tick();
    const unrelated = store.update((tx) => void tx.create('services', service('s3', 'db'))); // find by name "db"
    await tick();
    assert.equal(h.held.length, 2, 'a create whose unique-name check does not touch in-flight names is pipelined');
    const clash = store.update((tx) => void tx.create('services', service('s4', 'API')));
    const lister = store.update((tx) => tx.list('services').length);
    await tick();
    assert.equal(h.held.length, 2);
    h.release();
    await Promise.all([first, unrelated]);
    await drive(h, Promise.allSettled([clash, lister]));
    await assert.rejects(clash, /name conflicts with an existing object: service API already exists/);
    assert.equal(await lister, 3);
  });

  it('when the proposer fails, independent in-flight proposals keep their own outcome and waiting work runs after', async () => {
    const { store, held: h } = held();
    const a = store.update((tx) => tx.create('tasks', task('a', 's', 0)));
    await tick();
    const b = store.update((tx) => tx.create('tasks', task('b', 's', 1)));
    await tick();
    assert.equal(h.held.length, 2);
    const [ha, hb] = h.held.splice(0);
    ha!.reject(new UnavailableError('lost leadership'));
    await assert.rejects(a, /lost leadership/);
    store.applyCommitted(store.appliedIndex + 1, hb!.data);
    hb!.resolve();
    await b;
    assert.equal(store.view((tx) => tx.get('tasks', 'a')), undefined);
    assert.ok(store.view((tx) => tx.get('tasks', 'b')));
    await drive(h, store.update((tx) => tx.create('tasks', task('a', 's', 0))));
  });

  it('followers replaying pipelined entries end byte-equal with the proposer', async () => {
    const { store, held: h } = held();
    const replica = new Store({ clock: new ManualClock(0), rng: new SeededRng(3) });
    const applied: Uint8Array[] = [];
    const orig = h.release.bind(h);
    h.release = () => {
      for (const x of h.held) applied.push(x.data);
      orig();
    };
    await drive(h, store.update((tx) => { for (let i = 0; i < 20; i++) tx.create('tasks', task(`t${i}`, 's', i)); }));
    const rng = new SeededRng(9);
    const ps: Promise<unknown>[] = [];
    for (let round = 0; round < 20; round++) {
      for (let k = 0; k < 6; k++) {
        const i = rng.int(20);
        ps.push(store.update((tx) => {
          const t = tx.get('tasks', `t${i}`)!;
          tx.update('tasks', { ...t, slot: t.slot + 1, desiredState: rng.next() < 0.5 ? TaskState.SHUTDOWN : TaskState.RUNNING });
        }));
      }
      await tick(2);
      if (round % 3 === 0) h.release();
    }
    await drive(h, Promise.allSettled(ps));
    let index = 0;
    for (const d of applied) replica.applyCommitted(++index, d);
    assert.deepEqual(Buffer.from(replica.snapshot()).toString(), Buffer.from(store.snapshot()).toString());
    const slots = store.view((tx) => tx.list('tasks').reduce((n, t) => n + t.slot, 0));
    const ok = (await Promise.allSettled(ps)).filter((r) => r.status === 'fulfilled').length;
    assert.equal(ok, ps.length, 'no update failed: dependent ones waited instead of conflicting');
    assert.equal(slots, (19 * 20) / 2 + ps.length);
  });

  it('rejects a bad maxProposalsInFlight', () => {
    assert.throws(
      () => new Store({ clock: new ManualClock(0), rng: new SeededRng(1), maxProposalsInFlight: 0 }),
      (e: unknown) => e instanceof InvalidArgumentError && /maxProposalsInFlight: must be an integer >= 1 \(got 0\)/.test(e.message),
    );
  });
});
