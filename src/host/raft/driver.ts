import type { Rng, TimerHandle, Timers } from '../env/index.js';
import { DeadlineExceededError, ResourceExhaustedError, UnavailableError } from '../api/errors.js';
import {
  EntryType,
  MessageType,
  NotLeaderError,
  ProposalTooLargeError,
  Role,
  type ConfChange,
  type Entry,
  type HardState,
  type Message,
  type RaftBootstrap,
  type RaftConfig,
  type RaftCore,
  type RaftId,
  type RaftStatus,
  type Snapshot,
  type SoftState,
} from './types.js';
import { decodeConfChange } from './conf-change.js';

/** Durable storage the driver writes to: the WAL plus the snapshot files. */
export interface RaftStorage {
  /** Appends entries and the hard state with one sync (group commit). */
  save(hardState: HardState | undefined, entries: Entry[]): Promise<void>;
  /**
   * Persists a snapshot (atomically) and lets the log behind it be released. `resetLog` is set for a snapshot
   * received from the leader: it replaces the whole log, so entries above it must not survive a restart.
   */
  saveSnapshot(snapshot: Snapshot, opts?: { resetLog?: boolean }): Promise<void>;
}

/** The replicated application (the store). Apply must be deterministic: every member applies the same log. */
export interface StateMachine {
  /**
   * Applies a committed Normal entry (empty data = the leader's no-op). Returns a value handed to the
   * proposer's promise on the member that proposed it (e.g. an Error for an apply-time version conflict).
   */
  apply(index: number, data: Uint8Array): unknown;
  /** Serialized state as of the last applied index. */
  snapshot(): Uint8Array;
  /** Replaces the state with a snapshot's data. */
  restore(data: Uint8Array, index: number): void;
}

/** Minimal structured logger the driver writes to. */
export interface RaftLogger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** Options of a {@link RaftNode}. Durations in ms; sizes in bytes. */
export interface RaftNodeOptions {
  config: RaftConfig;
  bootstrap: RaftBootstrap;
  createCore: (config: RaftConfig, bootstrap: RaftBootstrap, rng: Rng) => RaftCore;
  timers: Timers;
  rng: Rng;
  storage: RaftStorage;
  stateMachine: StateMachine;
  /** Sends messages to peers; fire and forget (Raft tolerates loss). */
  send: (msgs: Message[]) => void;
  /**
   * True when the transport tells the outcome of every snapshot (Snap) message it is handed through
   * {@link RaftNode.reportSnapshot}: the leader then waits for the real outcome before probing the follower
   * again. Unset, the driver reports each snapshot delivered as soon as it hands it to `send` (a transport that
   * cannot tell): a large snapshot still in transit may then be sent a second time when the follower, not yet
   * restored, refuses the next probe.
   */
  reportsSnapshotStatus?: boolean;
  /** Length of one Raft tick. Default 100 ms (failover under 2 s with electionTick 10). */
  tickMs?: number;
  /** Take a snapshot every this many applied entries. Default 10,000 (SwarmKit). */
  snapshotInterval?: number;
  /**
   * Live settings read before each snapshot decision (the cluster object's raft spec, which SwarmKit also applies
   * without a restart): `snapshotInterval` replaces the option above, `logEntriesForSlowFollowers` the core's
   * config at compaction. A field that is absent or not a positive integer (≥ 0 for the latter) is ignored.
   */
  liveSettings?: () => { snapshotInterval?: number; logEntriesForSlowFollowers?: number } | undefined;
  /** A proposal whose outcome is unknown after this long is failed. Default 10,000 ms. */
  proposalTimeoutMs?: number;
  /** Largest encoded proposal. Default 1,572,864 bytes (SwarmKit's 1.5 MiB). */
  maxProposalBytes?: number;
  /** Bound on proposals queued while the driver persists. Default 100,000. */
  maxQueuedProposals?: number;
  /** Bound on inbound messages queued while the driver persists; beyond it messages are dropped. Default 10,000. */
  maxQueuedMessages?: number;
  /** Called when leader or role changes. */
  onSoftState?: (s: SoftState) => void;
  /** Called after a membership change is applied. */
  onConfChange?: (cc: ConfChange, index: number) => void;
  /** Called once with the error when the driver hits an unrecoverable storage or apply failure. */
  onFatal?: (err: unknown) => void;
  logger?: RaftLogger;
}

interface PendingProposal {
  index: number;
  term: number;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  timer: TimerHandle;
}

type InboxOp =
  | { kind: 'step'; msg: Message }
  | { kind: 'propose'; data: Uint8Array; resolve: (v: unknown) => void; reject: (e: unknown) => void }
  | { kind: 'conf'; cc: ConfChange; resolve: (v: unknown) => void; reject: (e: unknown) => void }
  | { kind: 'transfer'; to: RaftId; resolve: (v: unknown) => void; reject: (e: unknown) => void }
  | { kind: 'campaign' }
  | { kind: 'snapshotStatus'; to: RaftId; ok: boolean };

const noopLogger: RaftLogger = { info() {}, warn() {}, error() {} };

/**
 * Drives a pure {@link RaftCore}: ticks it from injected timers, feeds it messages and proposals, and handles
 * each Ready in the order Raft's safety needs — persist (snapshot, entries, hard state; one sync), send,
 * apply, advance. Inputs that arrive while a Ready is being persisted are queued and fed to the core right
 * after advance(), so the next Ready carries all of them: this is the group commit that batches many
 * proposals into one WAL sync.
 */
export class RaftNode {
  readonly id: RaftId;
  private readonly core: RaftCore;
  private readonly o: Required<Omit<RaftNodeOptions, 'onSoftState' | 'onConfChange' | 'onFatal' | 'logger'>> &
    Pick<RaftNodeOptions, 'onSoftState' | 'onConfChange' | 'onFatal'>;
  private readonly log: RaftLogger;
  private inbox: InboxOp[] = [];
  private queuedProposals = 0;
  private queuedMessages = 0;
  private processing = false;
  private stopped = false;
  private fatal: unknown = undefined;
  private tickTimer: TimerHandle | undefined;
  private readonly pending = new Map<number, PendingProposal>();
  private soft: SoftState = { leader: '', role: Role.Follower };
  private appliedIndex = 0;
  /** Term and vote of the last hard state handed to storage (a change of either must be synced at once). */
  private savedTerm = 0;
  private savedVote: RaftId | '' = '';
  /**
   * A hard state whose only change is the commit index, not yet handed to storage: it travels with the next
   * save. Losing it in a crash is safe (Raft relearns the commit index from the leader or the next commit,
   * and bootstrap takes max(commit, snapshot index)), and it saves one fdatasync on the path of every
   * write: when a leader's commit advances with no new entries queued, the Ready holds only the new commit.
   */
  private deferredHardState: HardState | undefined = undefined;
  private appliedTerm = 0;
  private snapshotIndex = 0;
  private idleWaiters: (() => void)[] = [];
  /** Callers of leaderReady() waiting for this leader to apply an entry of its own term. */
  private leaderReadyWaiters: ((ready: boolean) => void)[] = [];

  constructor(opts: RaftNodeOptions) {
    this.o = {
      tickMs: 100,
      snapshotInterval: 10_000,
      proposalTimeoutMs: 10_000,
      maxProposalBytes: 1_572_864,
      maxQueuedProposals: 100_000,
      maxQueuedMessages: 10_000,
      ...opts,
    } as RaftNode['o'];
    this.log = opts.logger ?? noopLogger;
    this.id = opts.config.id;
    this.core = opts.createCore(opts.config, opts.bootstrap, opts.rng);
    this.savedTerm = opts.bootstrap.hardState?.term ?? 0;
    this.savedVote = opts.bootstrap.hardState?.vote ?? '';
    const snap = opts.bootstrap.snapshot;
    if (snap !== undefined) {
      // The driver owns the restore so that the snapshot index and the applied index stay consistent.
      opts.stateMachine.restore(snap.data, snap.metadata.index);
      this.appliedIndex = snap.metadata.index;
      this.appliedTerm = snap.metadata.term;
      this.snapshotIndex = snap.metadata.index;
    }
  }

  /** Starts ticking. Call once after construction. */
  start(): void {
    if (this.tickTimer !== undefined || this.stopped) return;
    const loop = (): void => {
      if (this.stopped) return;
      this.tickTimer = this.o.timers.setTimeout(loop, this.o.tickMs);
      if (!this.processing) {
        this.core.tick();
        this.kick();
      } else {
        // The core must not change while a Ready is being persisted: count the tick and feed it right
        // after advance(), so no logical time is lost during a slow sync.
        this.deferredTicks++;
      }
    };
    this.tickTimer = this.o.timers.setTimeout(loop, this.o.tickMs);
    // Handle the bootstrap Ready (e.g. a new cluster's membership entries) now rather than at the first tick.
    this.kick();
  }

  private deferredTicks = 0;

  /** Stops ticking and fails every waiting proposal. The core's state stays readable. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.tickTimer !== undefined) this.o.timers.clearTimeout(this.tickTimer);
    const err = new UnavailableError('raft: node stopped');
    for (const op of this.inbox) if (op.kind !== 'step' && op.kind !== 'campaign' && op.kind !== 'snapshotStatus') op.reject(err);
    this.inbox = [];
    for (const p of this.pending.values()) {
      this.o.timers.clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
    this.wakeIdle();
    this.settleLeaderReady(false);
  }

  /** Feeds a message from a peer. */
  step(msg: Message): void {
    if (this.stopped) return;
    if (msg.to !== this.id) return;
    if (this.queuedMessages >= this.o.maxQueuedMessages) return; // dropped: Raft retransmits
    this.queuedMessages++;
    this.inbox.push({ kind: 'step', msg });
    this.kick();
  }

  /**
   * Replicates `data`; resolves with the state machine's apply result once the entry is committed and
   * applied here. Rejects with NotLeaderError on a follower, DeadlineExceededError when the outcome is not
   * known within proposalTimeoutMs (the entry may still commit later), UnavailableError when stopped.
   */
  propose(data: Uint8Array): Promise<unknown> {
    if (this.stopped) return Promise.reject(new UnavailableError('raft: node stopped'));
    if (this.fatal !== undefined) return Promise.reject(this.fatal);
    if (data.length > this.o.maxProposalBytes) {
      return Promise.reject(new ProposalTooLargeError(data.length, this.o.maxProposalBytes));
    }
    if (this.soft.role !== Role.Leader && !this.processing) {
      // Fast path: fail at once when we know we are not the leader.
      return Promise.reject(new NotLeaderError(this.soft.leader));
    }
    if (this.queuedProposals >= this.o.maxQueuedProposals) {
      return Promise.reject(
        new ResourceExhaustedError(`raft: too many queued proposals (limit ${this.o.maxQueuedProposals})`),
      );
    }
    return new Promise((resolve, reject) => {
      this.queuedProposals++;
      this.inbox.push({ kind: 'propose', data, resolve, reject });
      this.kick();
    });
  }

  /** Proposes a one-server membership change; resolves once it is applied here. */
  proposeConfChange(cc: ConfChange): Promise<void> {
    if (this.stopped) return Promise.reject(new UnavailableError('raft: node stopped'));
    return new Promise<unknown>((resolve, reject) => {
      this.inbox.push({ kind: 'conf', cc, resolve, reject });
      this.kick();
    }).then(() => undefined);
  }

  /** Asks the core to hand leadership to `to`; resolves when the request is accepted by the core. */
  transferLeadership(to: RaftId): Promise<void> {
    return new Promise<unknown>((resolve, reject) => {
      this.inbox.push({ kind: 'transfer', to, resolve, reject });
      this.kick();
    }).then(() => undefined);
  }

  /**
   * The transport's outcome of a snapshot sent to `to` (with {@link RaftNodeOptions.reportsSnapshotStatus}):
   * `ok` once the peer took it, false when the send failed (the leader then probes again at once).
   */
  reportSnapshot(to: RaftId, ok: boolean): void {
    if (this.stopped) return;
    this.inbox.push({ kind: 'snapshotStatus', to, ok });
    this.kick();
  }

  /** Campaigns at once (a lone bootstrapping member does this instead of waiting a timeout). */
  campaign(): void {
    this.inbox.push({ kind: 'campaign' });
    this.kick();
  }

  /** Current Raft status. */
  status(): RaftStatus {
    return this.core.status();
  }

  /** Leader id as last reported by the core, or ''. */
  get leader(): RaftId | '' {
    return this.soft.leader;
  }

  /** True when this member is the leader. */
  get isLeader(): boolean {
    return this.soft.role === Role.Leader;
  }

  /** Index of the last entry applied to the state machine. */
  get applied(): number {
    return this.appliedIndex;
  }

  /** Peers the leader heard from recently (self included); [] on a follower. */
  reachablePeers(): RaftId[] {
    return this.soft.role === Role.Leader ? this.core.reachablePeers() : [];
  }

  /**
   * Resolves true once this member leads and has applied an entry of its current term (its election no-op):
   * every entry committed before its election is then applied, so its state machine is not stale. Resolves
   * false as soon as it is not (or stops being) the leader. Leader-only work (orchestration, dispatcher, control
   * writes) must wait for this: a new leader's store can lag behind entries committed in earlier terms.
   */
  leaderReady(): Promise<boolean> {
    if (this.stopped || this.soft.role !== Role.Leader) return Promise.resolve(false);
    if (this.appliedTerm === this.core.status().term) return Promise.resolve(true);
    return new Promise((r) => this.leaderReadyWaiters.push(r));
  }

  private settleLeaderReady(ready: boolean): void {
    if (this.leaderReadyWaiters.length === 0) return;
    const w = this.leaderReadyWaiters;
    this.leaderReadyWaiters = [];
    for (const r of w) r(ready);
  }

  private checkLeaderReady(): void {
    if (this.leaderReadyWaiters.length === 0) return;
    if (this.soft.role !== Role.Leader) this.settleLeaderReady(false);
    else if (this.appliedTerm === this.core.status().term) this.settleLeaderReady(true);
  }

  /** Resolves when the driver has nothing queued and no Ready in progress (used by the simulation). */
  whenIdle(): Promise<void> {
    if (!this.processing && this.inbox.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** True while a Ready is being handled or inputs are queued. */
  get busy(): boolean {
    return this.processing || this.inbox.length > 0;
  }

  private kick(): void {
    if (this.processing || this.stopped) return;
    this.processing = true;
    void this.loop();
  }

  private drainInbox(): void {
    const ops = this.inbox;
    this.inbox = [];
    for (; this.deferredTicks > 0; this.deferredTicks--) this.core.tick();
    for (const op of ops) {
      switch (op.kind) {
        case 'step':
          this.queuedMessages--;
          this.core.step(op.msg);
          break;
        case 'campaign':
          this.core.campaign();
          break;
        case 'snapshotStatus':
          this.core.reportSnapshot?.(op.to, op.ok);
          break;
        case 'propose':
          this.queuedProposals--;
          this.track(op, () => this.core.propose(op.data));
          break;
        case 'conf':
          this.track(op, () => this.core.proposeConfChange(op.cc));
          break;
        case 'transfer':
          try {
            this.core.transferLeadership(op.to);
            op.resolve(undefined);
          } catch (e) {
            op.reject(e);
          }
          break;
      }
    }
  }

  private track(
    op: { resolve: (v: unknown) => void; reject: (e: unknown) => void },
    fn: () => { index: number; term: number },
  ): void {
    let at: { index: number; term: number };
    try {
      at = fn();
    } catch (e) {
      op.reject(e);
      return;
    }
    const timer = this.o.timers.setTimeout(() => {
      if (this.pending.get(at.index)?.timer === timer) {
        this.pending.delete(at.index);
        op.reject(
          new DeadlineExceededError(
            `raft: proposal at index ${at.index} not applied within ${this.o.proposalTimeoutMs} ms (outcome unknown)`,
          ),
        );
      }
    }, this.o.proposalTimeoutMs);
    const prev = this.pending.get(at.index);
    if (prev !== undefined) {
      // An older proposal at the same index was overwritten by a new term before it could apply.
      this.o.timers.clearTimeout(prev.timer);
      prev.reject(new UnavailableError('raft: proposal dropped: its entry was replaced after a leader change'));
    }
    this.pending.set(at.index, { ...at, resolve: op.resolve, reject: op.reject, timer });
  }

  private async loop(): Promise<void> {
    try {
      for (;;) {
        if (this.stopped) break;
        this.drainInbox();
        if (!this.core.hasReady()) break;
        const rd = this.core.ready();
        if (rd.softState !== undefined) this.onSoft(rd.softState);
        // A leader may replicate its new entries while it writes them to its own disk (Raft thesis §10.2.1):
        // its appends go out before the sync. Commitment still waits for this sync, because followers'
        // answers are only fed to the core after advance(). Everything else (votes, responses) is sent only
        // once the hard state and entries it depends on are durable.
        let after = rd.messages;
        if (this.soft.role === Role.Leader && rd.messages.length > 0) {
          const early = rd.messages.filter((m) => m.type === MessageType.App || m.type === MessageType.Heartbeat);
          after = rd.messages.filter((m) => m.type !== MessageType.App && m.type !== MessageType.Heartbeat);
          if (early.length > 0) this.o.send(early);
        }
        if (rd.snapshot !== undefined) await this.o.storage.saveSnapshot(rd.snapshot, { resetLog: true });
        const hs = rd.hardState;
        const termOrVote = hs !== undefined && (hs.term !== this.savedTerm || hs.vote !== this.savedVote);
        if (rd.entries.length > 0 || termOrVote) {
          const save = hs ?? this.deferredHardState;
          this.deferredHardState = undefined;
          await this.o.storage.save(save, rd.entries);
          if (save !== undefined) {
            this.savedTerm = save.term;
            this.savedVote = save.vote;
          }
        } else if (hs !== undefined) {
          this.deferredHardState = hs; // commit index only: goes with the next save (see deferredHardState)
        }
        if (this.stopped) break;
        if (after.length > 0) {
          this.o.send(after);
          // A transport that cannot tell a snapshot's outcome: report it delivered so the leader probes the
          // follower again at once; if it was lost, the probe fails and the leader sends it again.
          if (!this.o.reportsSnapshotStatus) for (const m of after) if (m.type === MessageType.Snap) this.core.reportSnapshot?.(m.to, true);
        }
        if (rd.snapshot !== undefined) this.applySnapshot(rd.snapshot);
        for (const e of rd.committedEntries) this.applyEntry(e);
        this.core.advance();
        this.checkLeaderReady();
        await this.maybeSnapshot();
      }
    } catch (err) {
      // A member stopped while persisting (shutdown, or a simulated crash) sees its storage fail: expected.
      if (this.stopped) return;
      this.fatal = err;
      this.log.error('raft driver failed; stopping this member', { err: String(err) });
      this.stop();
      this.o.onFatal?.(err);
    } finally {
      this.processing = false;
      if (!this.stopped && this.inbox.length > 0) this.kick();
      else this.wakeIdle();
    }
  }

  private wakeIdle(): void {
    if (this.processing || this.inbox.length > 0) return;
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const r of w) r();
  }

  private onSoft(s: SoftState): void {
    const changed = s.leader !== this.soft.leader || s.role !== this.soft.role;
    this.soft = s;
    if (changed) {
      this.log.info('raft state changed', { role: s.role, leader: s.leader });
      this.o.onSoftState?.(s);
      if (s.role !== Role.Leader) this.settleLeaderReady(false);
    }
  }

  private applySnapshot(snap: Snapshot): void {
    this.o.stateMachine.restore(snap.data, snap.metadata.index);
    this.appliedIndex = snap.metadata.index;
    this.appliedTerm = snap.metadata.term;
    this.snapshotIndex = snap.metadata.index;
    this.log.info('raft snapshot restored', { index: snap.metadata.index, term: snap.metadata.term, bytes: snap.data.length });
    // Proposals at or below the snapshot index can no longer be matched to their entries.
    for (const [index, p] of this.pending) {
      if (index <= snap.metadata.index) {
        this.o.timers.clearTimeout(p.timer);
        this.pending.delete(index);
        p.reject(new UnavailableError('raft: proposal outcome unknown: a snapshot replaced the log'));
      }
    }
  }

  private applyEntry(e: Entry): void {
    if (e.index <= this.appliedIndex) return;
    let result: unknown = undefined;
    if (e.type === EntryType.Normal) {
      result = this.o.stateMachine.apply(e.index, e.data);
    } else {
      const cc = decodeConfChange(e.data);
      this.o.onConfChange?.(cc, e.index);
    }
    this.appliedIndex = e.index;
    this.appliedTerm = e.term;
    const p = this.pending.get(e.index);
    if (p !== undefined) {
      this.pending.delete(e.index);
      this.o.timers.clearTimeout(p.timer);
      if (p.term === e.term) p.resolve(result);
      else p.reject(new UnavailableError('raft: proposal dropped: its entry was replaced after a leader change'));
    }
  }

  private async maybeSnapshot(): Promise<void> {
    const live = this.o.liveSettings?.();
    const li = live?.snapshotInterval;
    const interval = Number.isSafeInteger(li) && li! > 0 ? li! : this.o.snapshotInterval;
    if (this.appliedIndex - this.snapshotIndex < interval) return;
    const lk = live?.logEntriesForSlowFollowers;
    const keep = Number.isSafeInteger(lk) && lk! >= 0 ? lk : undefined;
    const st = this.core.status();
    const data = this.o.stateMachine.snapshot();
    const snap: Snapshot = {
      metadata: {
        index: this.appliedIndex,
        term: this.appliedTerm,
        conf: { voters: [...st.voters], removed: [...st.removed] },
      },
      data,
    };
    await this.o.storage.saveSnapshot(snap);
    this.core.compact(this.appliedIndex, data, keep);
    this.snapshotIndex = this.appliedIndex;
    this.log.info('raft snapshot taken', { index: this.appliedIndex, bytes: data.length });
  }
}

