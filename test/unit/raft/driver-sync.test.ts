import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRng, SimTimers } from '../../../src/host/env/index.js';
import { createRaftCore, defaultRaftConfig } from '../../../src/host/raft/core.js';
import { RaftNode, type RaftStorage } from '../../../src/host/raft/driver.js';
import { MessageType, Role, type Entry, type HardState, type Message, type RaftCore, type RaftStatus, type Ready } from '../../../src/host/raft/types.js';

/** Storage that records every save (each one a fdatasync in the real WAL). */
class RecordingStorage implements RaftStorage {
  readonly saves: { hardState: HardState | undefined; entries: number[] }[] = [];
  async save(hardState: HardState | undefined, entries: Entry[]): Promise<void> {
    this.saves.push({ hardState: hardState === undefined ? undefined : { ...hardState }, entries: entries.map((e) => e.index) });
  }
  async saveSnapshot(_s: Parameters<RaftStorage['saveSnapshot']>[0]): Promise<void> {}
}

/** A member whose messages go through `net` (delivered on a later turn, as over a socket). */
function member(id: string, voters: string[], storage: RecordingStorage, net: Net): RaftNode {
  const node = new RaftNode({
    config: defaultRaftConfig(id),
    bootstrap: { entries: [], initialVoters: voters },
    createCore: createRaftCore,
    timers: new SimTimers(),
    rng: new SeededRng(Number(id)),
    storage,
    stateMachine: { apply: () => undefined, snapshot: () => new Uint8Array(0), restore: () => undefined },
    send: (msgs) => net.send(msgs),
  });
  net.nodes.set(id, node);
  return node;
}

/** In-memory network: every message is delivered on a later event-loop turn. */
class Net {
  readonly nodes = new Map<string, RaftNode>();
  private inFlight = 0;
  send(msgs: Message[]): void {
    for (const m of msgs) {
      this.inFlight++;
      setImmediate(() => {
        this.inFlight--;
        this.nodes.get(m.to)?.step(m);
      });
    }
  }
  /** Waits until no message is in flight and no member is busy (bounded). */
  async settle(): Promise<void> {
    for (let i = 0; i < 10_000; i++) {
      await new Promise((r) => setImmediate(r));
      if (this.inFlight === 0 && [...this.nodes.values()].every((n) => !n.busy)) return;
    }
    throw new Error('network did not settle');
  }
}

describe('raft driver: what it syncs', () => {
  test('a commit-only hard state is not synced on its own; it goes with the next entries', async () => {
    const net = new Net();
    const storage = new RecordingStorage();
    const leader = member('1', ['1', '2'], storage, net);
    member('2', ['1', '2'], new RecordingStorage(), net);
    for (const n of net.nodes.values()) n.start();
    await net.settle(); // the bootstrap membership entries are persisted and applied first
    leader.campaign();
    await net.settle();
    assert.equal(leader.status().role, Role.Leader);
    for (let i = 0; i < 3; i++) {
      await leader.propose(new TextEncoder().encode(`w${i}`));
      await net.settle();
    }
    // The commit of each write arrived alone (the follower's answer): it was not synced by itself.
    let term = 0;
    let vote = '';
    for (const s of storage.saves) {
      const changedTermOrVote = s.hardState !== undefined && (s.hardState.term !== term || s.hardState.vote !== vote);
      assert.ok(s.entries.length > 0 || changedTermOrVote, `save without entries or term/vote change: ${JSON.stringify(storage.saves)}`);
      if (s.hardState !== undefined) ({ term, vote } = s.hardState);
    }
    // ... and went to disk with the next write's entries: the save of entry i carries commit i - 1.
    const last = storage.saves.at(-1)!;
    assert.deepEqual(last.entries.length, 1);
    assert.equal(last.hardState?.commit, last.entries[0]! - 1, JSON.stringify(storage.saves));
    assert.equal(leader.status().commit, last.entries[0]);
    for (const n of net.nodes.values()) n.stop();
  });

  test('a new term and vote are synced at once', async () => {
    const net = new Net();
    const storage = new RecordingStorage();
    const node = member('1', ['1'], storage, net);
    node.start();
    await net.settle();
    const before = storage.saves.length;
    node.campaign();
    await net.settle();
    const first = storage.saves[before]!;
    assert.ok(first.hardState !== undefined && first.hardState.term === 2 && first.hardState.vote === '1', JSON.stringify(storage.saves));
    node.stop();
  });
});

/**
 * A core that, once `campaign()` is called, hands the driver one Ready holding a Snap for member 2, and records
 * the snapshot outcomes the driver reports.
 */
class SnapCore implements RaftCore {
  readonly id = '1';
  readonly reported: [string, boolean][] = [];
  private pending = false;
  tick(): void {}
  step(): void {}
  propose(): { index: number; term: number } {
    throw new Error('not used');
  }
  proposeConfChange(): { index: number; term: number } {
    throw new Error('not used');
  }
  transferLeadership(): void {}
  campaign(): void {
    this.pending = true;
  }
  hasReady(): boolean {
    return this.pending;
  }
  ready(): Ready {
    this.pending = false;
    const snap: Message = {
      type: MessageType.Snap, from: '1', to: '2', term: 2, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, logTermHint: 0,
      snapshot: { metadata: { index: 10, term: 2, conf: { voters: ['1', '2'], removed: [] } }, data: new Uint8Array(0) },
    };
    return { entries: [], committedEntries: [], messages: [snap] };
  }
  advance(): void {}
  compact(): void {}
  status(): RaftStatus {
    return { id: '1', role: Role.Follower, term: 2, leader: '', commit: 0, applied: 0, lastIndex: 0, firstIndex: 1, voters: ['1', '2'], removed: [], leadTransferee: '' };
  }
  reachablePeers(): string[] {
    return ['1'];
  }
  reportSnapshot(to: string, ok: boolean): void {
    this.reported.push([to, ok]);
  }
}

async function snapNode(reportsSnapshotStatus: boolean | undefined): Promise<{ node: RaftNode; core: SnapCore; sent: Message[] }> {
  const core = new SnapCore();
  const sent: Message[] = [];
  const node = new RaftNode({
    config: defaultRaftConfig('1'),
    bootstrap: { entries: [], initialVoters: ['1', '2'] },
    createCore: () => core,
    timers: new SimTimers(),
    rng: new SeededRng(1),
    storage: new RecordingStorage(),
    stateMachine: { apply: () => undefined, snapshot: () => new Uint8Array(0), restore: () => undefined },
    send: (msgs) => void sent.push(...msgs),
    ...(reportsSnapshotStatus === undefined ? {} : { reportsSnapshotStatus }),
  });
  node.start();
  node.campaign();
  for (let i = 0; i < 100 && (sent.length === 0 || node.busy); i++) await new Promise((r) => setImmediate(r));
  assert.equal(sent.length, 1, 'the Snap was handed to the transport');
  return { node, core, sent };
}

describe('raft driver: snapshot outcomes', () => {
  test('without reportsSnapshotStatus a snapshot is reported delivered when handed to the transport', async () => {
    const { node, core } = await snapNode(undefined);
    assert.deepEqual(core.reported, [['2', true]]);
    node.stop();
  });

  test('with reportsSnapshotStatus the core hears only the outcome the transport reports', async () => {
    const { node, core } = await snapNode(true);
    assert.deepEqual(core.reported, [], 'nothing reported at hand-over: the snapshot may still be in transit');
    node.reportSnapshot('2', false);
    for (let i = 0; i < 100 && core.reported.length === 0; i++) await new Promise((r) => setImmediate(r));
    assert.deepEqual(core.reported, [['2', false]]);
    node.reportSnapshot('2', true);
    for (let i = 0; i < 100 && core.reported.length === 1; i++) await new Promise((r) => setImmediate(r));
    assert.deepEqual(core.reported, [['2', false], ['2', true]]);
    node.stop();
    node.reportSnapshot('2', true); // after stop: ignored
    await new Promise((r) => setImmediate(r));
    assert.equal(core.reported.length, 2);
  });
});

describe('raft driver: live settings', () => {
  test('the snapshot interval and the entries kept for slow followers are read live; invalid values fall back', async () => {
    const snaps: number[] = [];
    class SnapStorage extends RecordingStorage {
      override async saveSnapshot(s: Parameters<RaftStorage['saveSnapshot']>[0]): Promise<void> {
        snaps.push(s.metadata.index);
      }
    }
    let live: { snapshotInterval?: number; logEntriesForSlowFollowers?: number } | undefined = { snapshotInterval: 0, logEntriesForSlowFollowers: -1 };
    const net = new Net();
    const node = new RaftNode({
      config: defaultRaftConfig('1'),
      bootstrap: { entries: [], initialVoters: ['1'] },
      createCore: createRaftCore,
      timers: new SimTimers(),
      rng: new SeededRng(1),
      storage: new SnapStorage(),
      stateMachine: { apply: () => undefined, snapshot: () => new Uint8Array(0), restore: () => undefined },
      send: (msgs) => net.send(msgs),
      snapshotInterval: 10_000,
      liveSettings: () => live,
    });
    net.nodes.set('1', node);
    node.start();
    await net.settle();
    node.campaign();
    await net.settle();
    const write = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++) await node.propose(new TextEncoder().encode(`w${i}`));
      await net.settle();
    };
    await write(5);
    assert.deepEqual(snaps, [], 'an interval of 0 is ignored: the option (10,000) applies');
    live = { snapshotInterval: 4, logEntriesForSlowFollowers: 2 };
    await write(1);
    assert.equal(snaps.length, 1, 'the live interval of 4 applies at once');
    const st = node.status();
    assert.equal(st.firstIndex, snaps[0]! - 2 + 1, 'two entries kept behind the snapshot for slow followers');
    await write(3);
    assert.equal(snaps.length, 1);
    await write(1);
    assert.equal(snaps.length, 2, 'the next snapshot 4 entries later');
    live = undefined;
    await write(6);
    assert.equal(snaps.length, 2, 'no live settings: the option applies again');
    node.stop();
  });
});
