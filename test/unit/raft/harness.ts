/**
 * A small deterministic in-memory network of Raft cores for tests: N members, a FIFO of messages in flight,
 * directional cuts (partitions), drop filters, ticks, and a driver that follows the Ready contract exactly
 * (persist snapshot + entries + hard state into a model WAL, queue messages, apply, advance). Every delivered
 * or dropped message and every role change goes into `trace`, for golden trace assertions.
 */
import assert from 'node:assert/strict';
import { SeededRng } from '../../../src/host/env/index.js';
import { createRaftCore } from '../../../src/host/raft/core.js';
import type {
  Entry,
  HardState,
  Message,
  RaftBootstrap,
  RaftConfig,
  RaftCore,
  RaftId,
  Ready,
  Snapshot,
} from '../../../src/host/raft/types.js';
import { EntryType } from '../../../src/host/raft/types.js';

/** What one member's "disk" and application hold, as the driver would keep them. */
export interface Member {
  core: RaftCore;
  /** Model WAL: index -> entry; writing at index i drops everything from i on first (overwrite by index). */
  wal: Map<number, Entry>;
  hardState: HardState;
  snapshot?: Snapshot;
  /** Application: entries applied in order (after a snapshot restore, only those after it). */
  applied: Entry[];
  appliedIndex: number;
  /** Snapshot data the application restored from, if any. */
  restoredFrom?: Snapshot;
  /** Slow-driver mode: a Ready taken from the core whose persistence has not finished yet. */
  pending?: Ready;
}

/** Defaults used by the tests (tick-based; 10 ticks election, 1 tick heartbeat). */
export function testConfig(id: RaftId, over: Partial<RaftConfig> = {}): RaftConfig {
  return {
    id,
    electionTick: 10,
    heartbeatTick: 1,
    preVote: true,
    checkQuorum: true,
    maxSizePerMsgBytes: 1 << 20,
    maxInflightMsgs: 256,
    logEntriesForSlowFollowers: 0,
    ...over,
  };
}

/** Short, stable text for a message (used in traces). */
export function fmt(m: Message): string {
  let s = `${m.from}->${m.to} ${m.type} t${m.term}`;
  switch (m.type) {
    case 'app':
      s += ` i${m.index}/${m.logTerm} [${m.entries.map((e) => `${e.index}:${e.term}`).join(',')}] c${m.commit}`;
      break;
    case 'appResp':
      s += m.reject ? ` reject i${m.index} hint${m.rejectHint}/${m.logTermHint}` : ` i${m.index}`;
      break;
    case 'vote':
    case 'preVote':
      s += ` last${m.index}/${m.logTerm}${m.context ? ' ' + m.context : ''}`;
      break;
    case 'voteResp':
    case 'preVoteResp':
      s += m.reject ? ' reject' : ' grant';
      break;
    case 'heartbeat':
      s += ` c${m.commit}`;
      break;
    case 'snap':
      s += ` snap${m.snapshot!.metadata.index}/${m.snapshot!.metadata.term}`;
      break;
    default:
      break;
  }
  return s;
}

/** Options for {@link Cluster}. */
export interface ClusterOptions {
  seed?: number;
  config?: Partial<RaftConfig>;
  /** Per-member bootstrap; defaults to a fresh cluster of all ids. */
  bootstrap?: (id: RaftId) => RaftBootstrap;
}

/** Entry payload helper. */
export function data(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

/** Decodes an entry payload. */
export function text(e: Entry): string {
  return new TextDecoder().decode(e.data);
}

/** N cores on a simulated network with a model driver per member (see the module comment). */
export class Cluster {
  readonly members = new Map<RaftId, Member>();
  /** Messages sent and not yet delivered, in send order. */
  inflight: Message[] = [];
  trace: string[] = [];
  /** Directional cuts "from>to": messages on a cut link are dropped. */
  private cuts = new Set<string>();
  /** Extra drop rule (return true to drop). */
  dropIf: ((m: Message) => boolean) | undefined;
  /** How many snapshots members restored from a leader's Snap (Ready.snapshot). */
  snapshotsInstalled = 0;
  /** Members that are "down": they neither tick nor receive. */
  readonly down = new Set<RaftId>();
  private readonly rng: SeededRng;
  private readonly opts: ClusterOptions;

  constructor(
    readonly ids: RaftId[],
    opts: ClusterOptions = {},
  ) {
    this.opts = opts;
    this.rng = new SeededRng(opts.seed ?? 1);
    for (const id of ids) this.addMember(id, opts.bootstrap ? opts.bootstrap(id) : { entries: [], initialVoters: ids });
    this.process();
  }

  /** Starts a member (a fresh joiner by default: no log, no voters). */
  addMember(id: RaftId, boot: RaftBootstrap = { entries: [] }): Member {
    const core = createRaftCore(testConfig(id, this.opts.config), boot, this.rng.fork());
    const wal = new Map<number, Entry>();
    for (const e of boot.entries) wal.set(e.index, e);
    const m: Member = {
      core,
      wal,
      hardState: boot.hardState ?? { term: 0, vote: '', commit: 0 },
      applied: [],
      appliedIndex: boot.snapshot?.metadata.index ?? 0,
    };
    if (boot.snapshot) m.snapshot = boot.snapshot;
    this.members.set(id, m);
    return m;
  }

  core(id: RaftId): RaftCore {
    const m = this.members.get(id);
    assert.ok(m, `no member ${id}`);
    return m.core;
  }

  /**
   * Slow-driver mode: process() only takes Readies; each one is persisted, sent, applied and advanced later by
   * finish(id), so that input reaches cores between ready() and advance(), as with a driver awaiting the disk.
   */
  slowDriver = false;

  /** Completes the pending Ready of `id` (slow-driver mode). */
  finish(id: RaftId): void {
    const m = this.members.get(id)!;
    const rd = m.pending;
    if (!rd) return;
    m.pending = undefined;
    this.completeReady(id, m, rd);
  }

  /** Completes every pending Ready and leaves slow-driver mode. */
  finishAll(): void {
    this.slowDriver = false;
    for (const id of this.members.keys()) this.finish(id);
    this.process();
  }

  /** Runs the driver loop for every member until none has a Ready; returns how many Readies were handled. */
  process(): number {
    if (this.slowDriver) {
      for (const [id, m] of this.members) {
        if (!this.down.has(id) && !m.pending && m.core.hasReady()) m.pending = m.core.ready();
      }
      return 0;
    }
    let n = 0;
    for (let round = 0; round < 1000; round++) {
      let any = false;
      for (const [id, m] of this.members) {
        if (this.down.has(id)) continue;
        while (m.core.hasReady()) {
          any = true;
          n++;
          this.handleReady(id, m);
        }
      }
      if (!any) return n;
    }
    throw new Error('process: readies did not settle within 1000 rounds');
  }

  private handleReady(id: RaftId, m: Member): void {
    this.completeReady(id, m, m.core.ready());
  }

  private completeReady(id: RaftId, m: Member, rd: Ready): void {
    if (rd.softState) this.trace.push(`${id} ${rd.softState.role} t${m.core.status().term}`);
    // 1. persist
    if (rd.snapshot) {
      // Entries at or below the snapshot are covered by it; any above it come from a conflicting history.
      m.snapshot = rd.snapshot;
      m.wal.clear();
    }
    if (rd.entries.length > 0) {
      const first = rd.entries[0]!.index;
      for (const k of [...m.wal.keys()]) if (k >= first) m.wal.delete(k);
      for (const e of rd.entries) m.wal.set(e.index, e);
    }
    if (rd.hardState) {
      assert.ok(rd.hardState.term >= m.hardState.term, `${id}: persisted term went backwards`);
      assert.ok(rd.hardState.commit >= m.hardState.commit, `${id}: persisted commit went backwards`);
      m.hardState = rd.hardState;
    }
    // 2. send
    this.inflight.push(...rd.messages);
    // 3. apply
    if (rd.snapshot) {
      assert.ok(rd.snapshot.metadata.index > m.appliedIndex, `${id}: snapshot ${rd.snapshot.metadata.index} not ahead of applied ${m.appliedIndex}`);
      m.restoredFrom = rd.snapshot;
      this.snapshotsInstalled++;
      m.applied = [];
      m.appliedIndex = rd.snapshot.metadata.index;
    }
    for (const e of rd.committedEntries) {
      assert.equal(e.index, m.appliedIndex + 1, `${id}: committed entries must be applied in order`);
      const stable = m.wal.get(e.index);
      assert.ok(stable && stable.term === e.term, `${id}: committed entry ${e.index} was never handed out for persistence`);
      m.applied.push(e);
      m.appliedIndex = e.index;
    }
    m.core.advance();
  }

  private dropped(msg: Message): boolean {
    if (this.down.has(msg.to) || this.down.has(msg.from)) return true;
    if (this.cuts.has(`${msg.from}>${msg.to}`)) return true;
    return this.dropIf ? this.dropIf(msg) : false;
  }

  /** Delivers (or drops, if cut) the in-flight message at position `i`; `keepCopy` leaves a duplicate in flight. */
  deliverAt(i: number, keepCopy = false): void {
    const msg = this.inflight[i]!;
    if (!keepCopy) this.inflight.splice(i, 1);
    if (!this.members.has(msg.to) || this.dropped(msg)) return;
    this.core(msg.to).step(msg);
  }

  /** Restarts a member from what its model WAL and snapshot hold (volatile state and unapplied work are lost). */
  restart(id: RaftId): void {
    const m = this.members.get(id)!;
    const from = m.snapshot?.metadata.index ?? 0;
    const entries = [...m.wal.values()].filter((e) => e.index > from).sort((a, b) => a.index - b.index);
    const boot: RaftBootstrap = { hardState: m.hardState, entries };
    if (m.snapshot) boot.snapshot = m.snapshot;
    m.core = createRaftCore(testConfig(id, this.opts.config), boot, this.rng.fork());
    m.applied = [];
    m.appliedIndex = from;
    m.pending = undefined; // a crash loses the write that was in progress, and the messages waiting on it
  }

  /** Delivers every message currently in flight once (new ones wait for the next round). Returns the count. */
  deliverRound(): number {
    const batch = this.inflight;
    this.inflight = [];
    for (const msg of batch) {
      if (!this.members.has(msg.to) || this.dropped(msg)) {
        this.trace.push(`drop ${fmt(msg)}`);
        continue;
      }
      this.trace.push(fmt(msg));
      this.core(msg.to).step(msg);
    }
    return batch.length;
  }

  /** Processes and delivers until nothing is in flight and nobody has a Ready (bounded). */
  stabilize(maxRounds = 200): void {
    for (let i = 0; i < maxRounds; i++) {
      this.process();
      if (this.inflight.length === 0) return;
      this.deliverRound();
    }
    throw new Error(`stabilize: still busy after ${maxRounds} rounds`);
  }

  /** Ticks the given members (default: all that are up) `n` times, processing Readies after each tick. */
  tick(n = 1, ids: RaftId[] = this.ids): void {
    for (let i = 0; i < n; i++) {
      for (const id of ids) if (!this.down.has(id) && this.members.has(id)) this.core(id).tick();
      this.process();
    }
  }

  /** Ticks and stabilizes `n` times: a quiet network with everything delivered promptly. */
  tickStable(n = 1): void {
    for (let i = 0; i < n; i++) {
      this.tick(1, [...this.members.keys()]);
      this.stabilize();
    }
  }

  /** Cuts both directions between every member of `a` and every member of `b`. */
  partition(a: RaftId[], b: RaftId[]): void {
    for (const x of a) {
      for (const y of b) {
        this.cuts.add(`${x}>${y}`);
        this.cuts.add(`${y}>${x}`);
      }
    }
  }

  /** Cuts `id` off from everyone else. */
  isolate(id: RaftId): void {
    this.partition([id], [...this.members.keys()].filter((x) => x !== id));
  }

  heal(): void {
    this.cuts.clear();
  }

  /** Ids currently believing they are leader (among members that are up). */
  leaders(): RaftId[] {
    return [...this.members.keys()].filter((id) => !this.down.has(id) && this.core(id).status().role === 'leader');
  }

  /** The WAL of a member as an array of "index:term" from its first stored index. */
  walTerms(id: RaftId): string[] {
    const m = this.members.get(id)!;
    return [...m.wal.values()].sort((a, b) => a.index - b.index).map((e) => `${e.index}:${e.term}`);
  }

  /** Clears the trace and returns what it held. */
  takeTrace(filter?: (line: string) => boolean): string[] {
    const t = filter ? this.trace.filter(filter) : this.trace;
    this.trace = [];
    return t;
  }
}

/** Builds a bootstrap whose log holds entries with the given terms from index 1, with a membership snapshot at 0. */
export function bootWithTerms(voters: RaftId[], terms: number[], hardTerm: number, commit: number): RaftBootstrap {
  const entries: Entry[] = terms.map((t, i) => ({ term: t, index: i + 1, type: EntryType.Normal, data: data(`e${i + 1}`) }));
  return {
    snapshot: { metadata: { index: 0, term: 0, conf: { voters, removed: [] } }, data: new Uint8Array(0) },
    hardState: { term: hardTerm, vote: '', commit },
    entries,
  };
}
