/**
 * The role manager over a local store on SimTimers, with a recording fake of Raft membership (removals apply
 * at once, or are refused while `refuse` is set, as the Raft core refuses a removal that would lose quorum).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeRole, type Node } from '../../../src/host/api/objects.js';
import { FailedPreconditionError } from '../../../src/host/api/errors.js';
import { SeededRng, SimTimers } from '../../../src/host/env/index.js';
import { createLocalStore, type Store } from '../../../src/host/store/index.js';
import { RoleManager, ROLE_MANAGER_RETRY_MS, type RoleManagerRaft } from '../../../src/host/node/role-manager.js';
import { silentLogger } from '../../../src/host/node/logger.js';
import { flush, nodeObj } from '../orchestration/harness.js';

class FakeRaft implements RoleManagerRaft {
  list: { raftId: string; nodeId: string }[] = [];
  removed: string[] = [];
  refuse = false;
  /** The fake leader is member a1 (node m1). */
  readonly raftId = 'a1';
  transfers = 0;
  leading = true;
  async transferLeadership(): Promise<void> {
    if (!this.leading) throw new FailedPreconditionError('not the leader');
    this.leading = false;
    this.transfers++;
  }
  members(): { raftId: string; nodeId: string }[] {
    return this.list;
  }
  async removeMember(raftId: string): Promise<void> {
    if (this.refuse) throw new FailedPreconditionError('raft: member cannot be removed, because removing it may result in loss of quorum');
    this.list = this.list.filter((m) => m.raftId !== raftId);
    this.removed.push(raftId);
  }
}

function setup(): { store: Store; timers: SimTimers; raft: FakeRaft; rm: RoleManager } {
  const timers = new SimTimers();
  const { store } = createLocalStore({ clock: timers, rng: new SeededRng(7) });
  const raft = new FakeRaft();
  const rm = new RoleManager({ store, timers, raft, logger: silentLogger });
  return { store, timers, raft, rm };
}

function manager(id: string): Node {
  const n = nodeObj(id);
  return { ...n, role: NodeRole.MANAGER, spec: { ...n.spec, desiredRole: NodeRole.MANAGER } };
}

async function setDesired(store: Store, id: string, role: NodeRole): Promise<void> {
  await store.update((tx) => {
    const n = structuredClone(tx.get('nodes', id)) as Node;
    n.spec.desiredRole = role;
    tx.update('nodes', n);
  });
}

const roleOf = (store: Store, id: string): NodeRole | undefined => store.view((tx) => (tx.get('nodes', id) as Node | undefined)?.role);

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await flush();
}

test('a promotion sets the observed role to manager at once and touches no raft member', async () => {
  const { store, raft, rm } = setup();
  await store.update((tx) => void tx.create('nodes', nodeObj('w1')));
  rm.start();
  await setDesired(store, 'w1', NodeRole.MANAGER);
  await settle();
  assert.equal(roleOf(store, 'w1'), NodeRole.MANAGER);
  assert.deepEqual(raft.removed, []);
  await rm.stop();
});

test('a demotion removes the member from raft first, then sets the observed role to worker', async () => {
  const { store, raft, rm } = setup();
  await store.update((tx) => {
    tx.create('nodes', manager('m1'));
    tx.create('nodes', manager('m2'));
  });
  raft.list = [
    { raftId: 'a1', nodeId: 'm1' },
    { raftId: 'a2', nodeId: 'm2' },
  ];
  // Record the order: the role must still be MANAGER when the removal happens.
  const roleAtRemoval: (NodeRole | undefined)[] = [];
  const remove = raft.removeMember.bind(raft);
  raft.removeMember = async (id) => {
    roleAtRemoval.push(roleOf(store, 'm2'));
    await remove(id);
  };
  rm.start();
  await setDesired(store, 'm2', NodeRole.WORKER);
  await settle();
  assert.deepEqual(raft.removed, ['a2']);
  assert.deepEqual(roleAtRemoval, [NodeRole.MANAGER]);
  assert.equal(roleOf(store, 'm2'), NodeRole.WORKER);
  assert.equal(roleOf(store, 'm1'), NodeRole.MANAGER);
  await rm.stop();
});

test('a refused removal is retried every 5 s until raft accepts it', async () => {
  const { store, raft, timers, rm } = setup();
  await store.update((tx) => {
    tx.create('nodes', manager('m1'));
    tx.create('nodes', manager('m2'));
  });
  raft.list = [
    { raftId: 'a1', nodeId: 'm1' },
    { raftId: 'a2', nodeId: 'm2' },
  ];
  raft.refuse = true;
  rm.start();
  await setDesired(store, 'm2', NodeRole.WORKER);
  await settle();
  assert.equal(roleOf(store, 'm2'), NodeRole.MANAGER, 'still a manager while raft refuses');
  assert.deepEqual(rm.unfinished(), ['m2']);
  raft.refuse = false;
  timers.advance(ROLE_MANAGER_RETRY_MS - 1);
  await settle();
  assert.deepEqual(raft.removed, [], 'not retried before 5 s');
  timers.advance(1);
  await settle();
  assert.deepEqual(raft.removed, ['a2']);
  assert.equal(roleOf(store, 'm2'), NodeRole.WORKER);
  assert.deepEqual(rm.unfinished(), []);
  await rm.stop();
});

test('a demoted node that is no raft member only gets its observed role changed', async () => {
  const { store, raft, rm } = setup();
  await store.update((tx) => tx.create('nodes', manager('m3')));
  rm.start();
  await setDesired(store, 'm3', NodeRole.WORKER);
  await settle();
  assert.deepEqual(raft.removed, []);
  assert.equal(roleOf(store, 'm3'), NodeRole.WORKER);
  await rm.stop();
});

test('a deleted node still in raft is removed from raft, at start and when deleted later', async () => {
  const { store, raft, rm } = setup();
  await store.update((tx) => {
    tx.create('nodes', manager('m1'));
    tx.create('nodes', manager('m2'));
  });
  raft.list = [
    { raftId: 'a1', nodeId: 'm1' },
    { raftId: 'a2', nodeId: 'm2' },
    { raftId: 'a9', nodeId: 'gone' },
  ];
  rm.start();
  await settle();
  assert.deepEqual(raft.removed, ['a9'], 'member of a node that no longer exists');
  await store.update((tx) => tx.delete('nodes', 'm2'));
  await settle();
  assert.deepEqual(raft.removed, ['a9', 'a2']);
  assert.deepEqual(raft.list, [{ raftId: 'a1', nodeId: 'm1' }]);
  await rm.stop();
});

test('work pending at start is done: a node left half-demoted by a previous leader is finished', async () => {
  const { store, raft, rm } = setup();
  const half = manager('m2');
  await store.update((tx) => tx.create('nodes', { ...half, spec: { ...half.spec, desiredRole: NodeRole.WORKER } }));
  rm.start();
  await settle();
  assert.deepEqual(raft.removed, []);
  assert.equal(roleOf(store, 'm2'), NodeRole.WORKER);
  await rm.stop();
});

test('stopped, it does nothing more', async () => {
  const { store, raft, timers, rm } = setup();
  await store.update((tx) => tx.create('nodes', manager('m2')));
  raft.list = [{ raftId: 'a2', nodeId: 'm2' }];
  rm.start();
  await rm.stop();
  await setDesired(store, 'm2', NodeRole.WORKER);
  timers.advance(ROLE_MANAGER_RETRY_MS * 3);
  await settle();
  assert.deepEqual(raft.removed, []);
  assert.equal(roleOf(store, 'm2'), NodeRole.MANAGER);
});

test('demoting the leader itself hands leadership off and leaves the removal to the next leader', async () => {
  const { store, raft, rm } = setup();
  await store.update((tx) => {
    tx.create('nodes', manager('m1'));
    tx.create('nodes', manager('m2'));
  });
  raft.list = [
    { raftId: 'a1', nodeId: 'm1' },
    { raftId: 'a2', nodeId: 'm2' },
  ];
  rm.start();
  await setDesired(store, 'm1', NodeRole.WORKER);
  await settle();
  assert.equal(raft.transfers, 1);
  assert.deepEqual(raft.removed, [], 'a leader never proposes its own removal');
  assert.equal(roleOf(store, 'm1'), NodeRole.MANAGER, 'the next leader finishes the demotion');
  await rm.stop();
});
