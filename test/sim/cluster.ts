import { createHash } from 'node:crypto';
import { SeededRng, SimTimers } from '../../src/host/env/index.js';
import { SimFs } from '../../src/host/env/fs-sim.js';
import { createRaftCore } from '../../src/host/raft/core.js';
import { RaftNode, type StateMachine } from '../../src/host/raft/driver.js';
import { openRaftStorage } from '../../src/host/raft/raft-storage.js';
import { NotLeaderError, Role, type Message, type RaftBootstrap, type RaftConfig, type RaftId } from '../../src/host/raft/types.js';
import { SimNetwork, type NetworkFaults } from './network.js';

/** A violated safety or liveness property, with the simulated time it was seen at. */
export class SimViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SimViolation';
  }
}

/** Application under test on each manager: a state machine plus how the simulation writes to and reads it. */
export interface SimApp extends StateMachine {
  /** A client write through this member (only succeeds on the leader). Resolves when acknowledged. */
  write(key: string, value: string): Promise<void>;
  /** True when this member's state holds `key` with `value`. */
  has(key: string, value: string): boolean;
  /** Canonical bytes of the whole state (equal bytes = equal stores). */
  fingerprint(): string;
}

/** Builds the application of one manager around its Raft node's propose. */
export type AppFactory = (propose: (data: Uint8Array) => Promise<unknown>, clock: SimTimers, rng: SeededRng) => SimApp;

interface Member {
  id: RaftId;
  fs: SimFs;
  node?: RaftNode;
  app?: SimApp;
  alive: boolean;
  /** True while its storage is being opened (so nothing starts it twice). */
  starting?: boolean;
  /** Set once removed from the cluster: never restarted. */
  removed: boolean;
}

/** Options of a simulated cluster. */
export interface SimClusterOptions {
  seed: number;
  managers: number;
  faults: NetworkFaults;
  app: AppFactory;
  raft?: Partial<Omit<RaftConfig, 'id'>>;
  tickMs?: number;
  snapshotInterval?: number;
  /** Record a trace of events (for replaying a failing seed). */
  trace?: boolean;
  /** Told on every role change of a member's Raft node (true = became leader), as a real manager's onSoftState. */
  onRole?: (id: RaftId, leader: boolean) => void;
}

/**
 * N managers in one process on simulated time, a simulated network and simulated disks. Every Raft member
 * runs the real core, driver, WAL and snapshot files; crashes lose unsynced writes. Invariants are checked
 * continuously: one leader per term, identical applied entries at every index, leader completeness, and no
 * acknowledged write lost.
 */
export class SimCluster {
  readonly timers = new SimTimers(1_700_000_000_000);
  readonly rng: SeededRng;
  readonly net: SimNetwork;
  readonly members = new Map<RaftId, Member>();
  /** term -> leader id seen in that term. */
  private readonly leaders = new Map<number, RaftId>();
  /** index -> hash of the entry applied at that index by anyone. */
  private readonly appliedHash = new Map<number, string>();
  /** Highest index known applied (hence committed) anywhere. */
  maxApplied = 0;
  /** Acknowledged writes: key -> value. */
  readonly acked = new Map<string, string>();
  readonly traceLines: string[] = [];
  private nextMemberNo = 1;
  private readonly coreRng: SeededRng;
  violation: SimViolation | undefined;

  constructor(readonly o: SimClusterOptions) {
    this.rng = new SeededRng(o.seed);
    this.coreRng = this.rng.fork();
    this.net = new SimNetwork(this.timers, this.rng.fork(), o.faults);
  }

  /** Raft config used for every member. Defaults: the production defaults (tick 100 ms, election 10, heartbeat 1). */
  raftConfig(id: RaftId): RaftConfig {
    return {
      id,
      electionTick: 10,
      heartbeatTick: 1,
      preVote: true,
      checkQuorum: true,
      maxSizePerMsgBytes: 64 * 1024,
      maxInflightMsgs: 256,
      logEntriesForSlowFollowers: 50,
      ...this.o.raft,
    };
  }

  private newId(): RaftId {
    return (this.nextMemberNo++).toString(16).padStart(4, '0');
  }

  /** Starts the initial voters. */
  async bootstrap(): Promise<void> {
    const ids: RaftId[] = [];
    for (let i = 0; i < this.o.managers; i++) ids.push(this.newId());
    for (const id of ids) {
      this.members.set(id, { id, fs: new SimFs(), alive: false, removed: false });
    }
    for (const id of ids) await this.startMember(id, ids);
  }

  /** (Re)starts a member from its disk. `initialVoters` only for a brand-new cluster. */
  async startMember(id: RaftId, initialVoters?: RaftId[]): Promise<void> {
    const m = this.members.get(id)!;
    if (m.alive || m.starting) return;
    m.starting = true;
    const { storage, recovered } = await openRaftStorage(
      m.fs,
      `/data/${id}`,
      { segmentSizeBytes: 64 * 1024 },
      { warn: (msg) => this.trace(`${id} storage warning: ${msg}`) },
    );
    const bootstrap: RaftBootstrap = recovered;
    if (initialVoters !== undefined && bootstrap.snapshot === undefined && bootstrap.entries.length === 0) {
      bootstrap.initialVoters = initialVoters;
    }
    // The app exists before the node so that the node's constructor can restore a snapshot into it.
    let node: RaftNode | undefined;
    const app = this.o.app((data) => node!.propose(data), this.timers, this.coreRng.fork());
    node = new RaftNode({
      config: this.raftConfig(id),
      bootstrap,
      createCore: createRaftCore,
      timers: this.timers,
      rng: this.coreRng.fork(),
      storage,
      stateMachine: {
        apply: (index, data) => {
          this.checkApply(id, index, data);
          return app.apply(index, data);
        },
        snapshot: () => app.snapshot(),
        restore: (data, index) => app.restore(data, index),
      },
      send: (msgs: Message[]) => this.net.send(msgs),
      tickMs: this.o.tickMs ?? 100,
      snapshotInterval: this.o.snapshotInterval ?? 200,
      proposalTimeoutMs: 5_000,
      onSoftState: (s) => {
        if (s.role === Role.Leader) this.onLeader(id, node!);
        this.o.onRole?.(id, s.role === Role.Leader);
      },
      onFatal: (err) => this.fail(`member ${id} driver failed: ${String(err)}`),
    });
    m.node = node;
    m.app = app;
    m.alive = true;
    m.starting = false;
    const started = node;
    this.net.attach(id, (msg) => started.step(msg));
    started.start();
    this.trace(`start ${id}`);
  }

  /** Crashes a member: its process is gone and its disk loses everything not synced. */
  crash(id: RaftId): void {
    const m = this.members.get(id)!;
    if (!m.alive) return;
    m.node!.stop();
    this.net.detach(id);
    m.fs.crash();
    m.alive = false;
    m.node = undefined;
    m.app = undefined;
    this.trace(`crash ${id}`);
  }

  /** The current leader among live members with the highest term, if any. */
  leader(): Member | undefined {
    let best: Member | undefined;
    let bestTerm = -1;
    for (const m of this.members.values()) {
      if (!m.alive || m.node === undefined || !m.node.isLeader) continue;
      const t = m.node.status().term;
      if (t > bestTerm) {
        bestTerm = t;
        best = m;
      }
    }
    return best;
  }

  /** Live members. */
  live(): Member[] {
    return [...this.members.values()].filter((m) => m.alive);
  }

  /** A client write through the leader; acknowledged writes are recorded and must never be lost. */
  async write(key: string, value: string): Promise<boolean> {
    const l = this.leader();
    if (l === undefined) return false;
    try {
      await l.app!.write(key, value);
      this.acked.set(key, value);
      return true;
    } catch (e) {
      if (e instanceof NotLeaderError) return false;
      return false;
    }
  }

  /**
   * Adds a brand-new member through the leader. The member keeps running whatever the outcome: a proposal
   * that timed out may still have committed, so only the leader's configuration says who is a voter.
   */
  async addMember(): Promise<RaftId | undefined> {
    const l = this.leader();
    if (l === undefined) return undefined;
    const id = this.newId();
    this.members.set(id, { id, fs: new SimFs(), alive: false, removed: false });
    await this.startMember(id);
    try {
      await l.node!.proposeConfChange({ type: 'add', id, context: new Uint8Array() });
      this.trace(`added ${id}`);
      return id;
    } catch (e) {
      this.trace(`add ${id} not confirmed: ${String(e)}`);
      return undefined;
    }
  }

  /** Removes a member through the leader (refused when it would risk quorum). */
  async removeMember(id: RaftId): Promise<boolean> {
    const l = this.leader();
    if (l === undefined) return false;
    try {
      await l.node!.proposeConfChange({ type: 'remove', id, context: new Uint8Array() });
      this.trace(`removed ${id}`);
      return true;
    } catch (e) {
      this.trace(`remove ${id} not confirmed: ${String(e)}`);
      return false;
    }
  }

  /** Lets simulated time pass, firing timers and settling the promise chains they start. */
  async run(ms: number): Promise<void> {
    const until = this.timers.now() + ms;
    for (;;) {
      const due = this.timers.nextDue();
      if (due === undefined || due > until) break;
      this.timers.runNext();
      await settle();
      if (this.violation) throw this.violation;
    }
    this.timers.advance(until - this.timers.now());
    await settle();
    if (this.violation) throw this.violation;
  }

  /**
   * After faults stop: heals the network, restarts crashed members, and waits (bounded, simulated) for a
   * leader, every voter of the leader's configuration applying the same index with identical state, and every
   * acknowledged write present. Members outside the configuration (removed, or added without success) are
   * stopped, as a real removed manager would shut down.
   */
  async converge(boundMs: number): Promise<number> {
    this.net.heal();
    this.net.faults = { dropRate: 0, duplicateRate: 0, minDelayMs: 1, maxDelayMs: 5 };
    for (const m of this.members.values()) if (!m.alive && !m.removed) await this.startMember(m.id);
    const start = this.timers.now();
    let lastProbe = '';
    while (this.timers.now() - start < boundMs) {
      await this.run(100);
      const l = this.leader();
      if (l === undefined) {
        lastProbe = 'no leader';
        continue;
      }
      // A write in the leader's term makes everything before it committed on a quorum. Never await a
      // simulated operation directly: time only moves while run() fires timers.
      let wrote: boolean | undefined;
      void this.write(`converge-${this.timers.now()}`, 'x').then((ok) => (wrote = ok));
      await this.run(300);
      if (wrote !== true) {
        lastProbe = 'leader could not commit a write';
        continue;
      }
      const voters = l.node!.status().voters;
      for (const v of voters) {
        if (!this.members.has(v)) throw new SimViolation(`leader's configuration names unknown member ${v}`);
      }
      for (const m of this.members.values()) {
        if (!voters.includes(m.id) && m.alive && m.node !== undefined && !m.node.isLeader) {
          m.removed = true;
          this.crash(m.id);
        }
      }
      const act = voters.map((v) => this.members.get(v)!);
      if (act.some((m) => !m.alive)) {
        lastProbe = 'a voter is not running yet';
        continue;
      }
      const applied = act.map((m) => m.node!.applied);
      const prints = new Set(act.map((m) => m.app!.fingerprint()));
      if (new Set(applied).size === 1 && prints.size === 1) {
        this.checkAcked(act);
        return this.timers.now() - start;
      }
      lastProbe = `applied ${JSON.stringify(applied)}, ${prints.size} distinct states`;
    }
    const states = [...this.members.values()]
      .filter((m) => m.alive)
      .map((m) => {
        const st = m.node!.status();
        return `${m.id}: ${st.role} term ${st.term} last ${st.lastIndex} commit ${st.commit} voters [${st.voters.join(',')}] removed [${st.removed.join(',')}]`;
      });
    throw new SimViolation(
      `no convergence within ${boundMs} ms after faults stopped (${lastProbe})\n  ${states.join('\n  ')}`,
    );
  }

  private checkAcked(members: Member[]): void {
    for (const m of members) {
      for (const [k, v] of this.acked) {
        if (!m.app!.has(k, v)) throw new SimViolation(`acknowledged write ${k}=${v} lost on member ${m.id}`);
      }
    }
  }

  private onLeader(id: RaftId, node: RaftNode): void {
    const st = node.status();
    const prev = this.leaders.get(st.term);
    if (prev !== undefined && prev !== id) {
      this.fail(`two leaders in term ${st.term}: ${prev} and ${id}`);
      return;
    }
    this.leaders.set(st.term, id);
    // Leader completeness: a new leader holds every entry committed before its election.
    if (st.lastIndex < this.maxApplied) {
      this.fail(`leader ${id} of term ${st.term} has last index ${st.lastIndex} < committed ${this.maxApplied}`);
    }
    this.trace(`leader ${id} term ${st.term}`);
  }

  private checkApply(id: RaftId, index: number, data: Uint8Array): void {
    const h = createHash('sha1').update(data).digest('hex');
    const prev = this.appliedHash.get(index);
    if (prev === undefined) this.appliedHash.set(index, h);
    else if (prev !== h) this.fail(`member ${id} applied a different entry at index ${index}`);
    if (index > this.maxApplied) this.maxApplied = index;
  }

  private fail(msg: string): void {
    if (this.violation === undefined) {
      this.violation = new SimViolation(`t=${this.timers.now() - 1_700_000_000_000}ms: ${msg}`);
    }
  }

  trace(line: string): void {
    if (this.o.trace) this.traceLines.push(`${this.timers.now() - 1_700_000_000_000} ${line}`);
  }

  /** Stops every member. */
  shutdown(): void {
    for (const m of this.members.values()) m.node?.stop();
  }
}

/** Lets every promise chain started by the last timer run to completion (no real I/O is involved). */
export function settle(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}
