import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRng, SimTimers } from '../../../src/host/env/index.js';
import { createRaftCore, defaultRaftConfig } from '../../../src/host/raft/core.js';
import { RaftNode, type RaftStorage } from '../../../src/host/raft/driver.js';
import { Role, type Entry, type HardState, type Message } from '../../../src/host/raft/types.js';

/** Storage that records every save (each one a fdatasync in the real WAL). */
class RecordingStorage implements RaftStorage {
  readonly saves: { hardState: HardState | undefined; entries: number[] }[] = [];
  async save(hardState: HardState | undefined, entries: Entry[]): Promise<void> {
    this.saves.push({ hardState: hardState === undefined ? undefined : { ...hardState }, entries: entries.map((e) => e.index) });
  }
  async saveSnapshot(): Promise<void> {}
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
