import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NodeMembership, NodeRole, TaskState, NotFoundError, InvalidArgumentError } from '../../../src/host/api/index.js';
import { SeededRng } from '../../../src/host/env/index.js';
import { newId } from '../../../src/host/store/index.js';
import { indexKeys, sameIndexInputs } from '../../../src/host/store/indexes.js';
import { localStore, node, secret, service, task } from './fixtures.js';

describe('store ids', () => {
  it('makes 25-character lowercase base-36 ids, deterministic for a seed and distinct', () => {
    const a = new SeededRng(7);
    const b = new SeededRng(7);
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const id = newId(a);
      assert.match(id, /^[0-9a-z]{25}$/);
      assert.equal(id, newId(b));
      seen.add(id);
    }
    assert.equal(seen.size, 2000);
  });

  it('follows the reference recipe: top bit forced, base 36, first digit dropped', () => {
    const bytes = new Uint8Array(17).fill(0); // all zero: after forcing the top bit the value is 2^135
    const rng = { next: () => 0, int: () => 0, bytes: () => bytes.slice() };
    const expected = (1n << 135n).toString(36);
    assert.equal(expected.length, 27);
    assert.equal(newId(rng), expected.slice(1, 26));
  });
});

describe('store indexes and lookups', () => {
  async function seeded() {
    const s = localStore();
    await s.store.update((tx) => {
      tx.create('services', service('svc1aaaa', 'Web'));
      tx.create('services', service('svc2bbbb', 'worker'));
      tx.create('tasks', task('t1', 'svc1aaaa', 1, 'n1'));
      tx.create('tasks', task('t2', 'svc1aaaa', 2, 'n2'));
      tx.create('tasks', task('t3', 'svc2bbbb', 1, 'n1', TaskState.SHUTDOWN));
      tx.create('tasks', task('t4', 'svc1aaaa', 1, '', TaskState.SHUTDOWN));
      tx.create('nodes', node('n1', 'host-a', NodeRole.MANAGER));
      tx.create('nodes', node('n2', 'host-b'));
      tx.create('nodes', node('n3', 'host-b', NodeRole.WORKER, NodeMembership.PENDING));
      tx.create('secrets', secret('sec1', 'db-pass'));
    });
    return s;
  }
  const ids = (xs: readonly { id: string }[]) => xs.map((x) => x.id).sort();

  it('finds tasks by service, node, (service, slot) and desired state', async () => {
    const { store } = await seeded();
    store.view((tx) => {
      assert.deepEqual(ids(tx.find('tasks', { serviceId: 'svc1aaaa' })), ['t1', 't2', 't4']);
      assert.deepEqual(ids(tx.find('tasks', { nodeId: 'n1' })), ['t1', 't3']);
      assert.deepEqual(ids(tx.find('tasks', { nodeId: '' })), ['t4']);
      assert.deepEqual(ids(tx.find('tasks', { serviceId: 'svc1aaaa', slot: 1 })), ['t1', 't4']);
      assert.deepEqual(ids(tx.find('tasks', { desiredState: TaskState.SHUTDOWN })), ['t3', 't4']);
      assert.deepEqual(ids(tx.find('tasks', { desiredState: TaskState.RUNNING })), ['t1', 't2']);
    });
  });

  it('finds nodes by role, membership and (non-unique) hostname', async () => {
    const { store } = await seeded();
    store.view((tx) => {
      assert.deepEqual(ids(tx.find('nodes', { role: NodeRole.MANAGER })), ['n1']);
      assert.deepEqual(ids(tx.find('nodes', { role: NodeRole.WORKER })), ['n2', 'n3']);
      assert.deepEqual(ids(tx.find('nodes', { membership: NodeMembership.PENDING })), ['n3']);
      assert.deepEqual(ids(tx.find('nodes', { hostname: 'host-b' })), ['n2', 'n3']);
    });
  });

  it('finds by name case-insensitively, by name prefix and by id prefix', async () => {
    const { store } = await seeded();
    store.view((tx) => {
      assert.deepEqual(ids(tx.find('services', { name: 'WEB' })), ['svc1aaaa']);
      assert.deepEqual(ids(tx.find('services', { namePrefix: 'w' })), ['svc1aaaa', 'svc2bbbb']);
      assert.deepEqual(ids(tx.find('services', { namePrefix: 'wo' })), ['svc2bbbb']);
      assert.deepEqual(ids(tx.find('services', { idPrefix: 'svc' })), ['svc1aaaa', 'svc2bbbb']);
      assert.deepEqual(ids(tx.find('services', { idPrefix: 'svc2' })), ['svc2bbbb']);
      assert.deepEqual(ids(tx.find('secrets', { name: 'DB-PASS' })), ['sec1']);
      assert.equal(tx.list('tasks').length, 4);
      assert.equal(tx.get('tasks', 't1')?.slot, 1);
      assert.equal(tx.get('tasks', 'nope'), undefined);
    });
  });

  it('rejects selectors a table has no index for', async () => {
    const { store } = await seeded();
    store.view((tx) => {
      assert.throws(() => tx.find('services', { nodeId: 'n1' }), InvalidArgumentError);
      assert.throws(() => tx.find('tasks', { role: NodeRole.MANAGER }), /invalid find argument type/);
      assert.throws(() => tx.find('tasks', {} as never), /invalid find argument type/);
      assert.throws(() => tx.list('volumes' as never), /table: must be one of/);
    });
  });

  it('looks up by exact id, exact name, unique id prefix; reports not found and ambiguity', async () => {
    const { store } = await seeded();
    store.view((tx) => {
      assert.equal(tx.lookup('services', 'svc2bbbb').id, 'svc2bbbb');
      assert.equal(tx.lookup('services', 'web').id, 'svc1aaaa');
      assert.equal(tx.lookup('services', 'svc1').id, 'svc1aaaa');
      assert.throws(() => tx.lookup('services', 'svc'), (e: Error) => e instanceof InvalidArgumentError && e.message === 'svc is ambiguous (2 matches found)');
      assert.throws(() => tx.lookup('services', 'zzz'), (e: Error) => e instanceof NotFoundError && e.message === 'service zzz not found');
      // Node names fall back to hostnames, which are not unique.
      assert.equal(tx.lookup('nodes', 'host-a').id, 'n1');
      assert.throws(() => tx.lookup('nodes', 'host-b'), /host-b is ambiguous \(2 matches found\)/);
    });
  });

  it('keeps indexes in step with updates and deletes', async () => {
    const { store } = await seeded();
    await store.update((tx) => {
      const t1 = tx.get('tasks', 't1')!;
      tx.update('tasks', { ...t1, nodeId: 'n2', desiredState: TaskState.SHUTDOWN });
      tx.delete('tasks', 't2');
      const web = tx.get('services', 'svc1aaaa')!;
      tx.update('services', { ...web, spec: { ...web.spec, annotations: { name: 'frontend', labels: {} } } });
    });
    store.view((tx) => {
      assert.deepEqual(ids(tx.find('tasks', { nodeId: 'n1' })), ['t3']);
      assert.deepEqual(ids(tx.find('tasks', { nodeId: 'n2' })), ['t1']);
      assert.deepEqual(ids(tx.find('tasks', { serviceId: 'svc1aaaa' })), ['t1', 't4']);
      assert.deepEqual(ids(tx.find('tasks', { desiredState: TaskState.RUNNING })), []);
      assert.deepEqual(tx.find('services', { name: 'web' }), []);
      assert.equal(tx.lookup('services', 'Frontend').id, 'svc1aaaa');
    });
  });

  it('moves a node in the hostname and name indexes when only its description changes; a status-only task update keeps every entry', async () => {
    const { store } = await seeded();
    await store.update((tx) => {
      const n2 = tx.get('nodes', 'n2')!;
      tx.update('nodes', { ...n2, description: { ...n2.description!, hostname: 'host-z' } });
      const t1 = tx.get('tasks', 't1')!;
      tx.update('tasks', { ...t1, status: { ...t1.status, state: TaskState.RUNNING, message: 'started' } });
    });
    store.view((tx) => {
      assert.deepEqual(ids(tx.find('nodes', { hostname: 'host-b' })), ['n3']);
      assert.deepEqual(ids(tx.find('nodes', { hostname: 'host-z' })), ['n2']);
      assert.deepEqual(ids(tx.find('nodes', { name: 'HOST-Z' })), ['n2']);
      assert.deepEqual(ids(tx.find('tasks', { nodeId: 'n1' })), ['t1', 't3']);
      assert.deepEqual(ids(tx.find('tasks', { serviceId: 'svc1aaaa', slot: 1 })), ['t1', 't4']);
      assert.deepEqual(ids(tx.find('tasks', { desiredState: TaskState.RUNNING })), ['t1', 't2']);
    });
  });
});

describe('sameIndexInputs stays in step with indexKeys', () => {
  it('whenever it says the inputs are the same, every index key is the same (random field changes)', () => {
    const rng = new SeededRng(31);
    const base = { tasks: task('t1', 's1', 1, 'n1'), nodes: node('n1', 'host-a'), services: service('s1', 'web') } as const;
    const tweaks: ((o: Record<string, unknown>) => void)[] = [
      (o) => (o.nodeId = `n${rng.int(3)}`),
      (o) => (o.slot = rng.int(3)),
      (o) => (o.serviceId = `s${rng.int(3)}`),
      (o) => (o.desiredState = rng.int(2) ? TaskState.RUNNING : TaskState.SHUTDOWN),
      (o) => (o.annotations = { name: `x${rng.int(3)}`, labels: {} }),
      (o) => (o.role = rng.int(2) ? NodeRole.MANAGER : NodeRole.WORKER),
      (o) => (o.description = { ...(o.description as object), hostname: `h${rng.int(3)}` }),
      (o) => (o.spec = { ...(o.spec as object), annotations: { name: `n${rng.int(3)}`, labels: {} }, membership: rng.int(2) ? NodeMembership.ACCEPTED : NodeMembership.PENDING }),
      (o) => (o.status = { ...(o.status as object), message: `m${rng.int(3)}` }),
    ];
    for (let i = 0; i < 2000; i++) {
      const table = (['tasks', 'nodes', 'services'] as const)[rng.int(3)]!;
      const a = base[table] as unknown as Record<string, unknown>;
      const b = { ...a };
      for (let n = rng.int(3); n >= 0; n--) tweaks[rng.int(tweaks.length)]!(b);
      if (sameIndexInputs(table, a as never, b as never)) assert.deepEqual(indexKeys(table, b as never), indexKeys(table, a as never));
    }
  });
});
