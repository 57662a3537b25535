/**
 * Types shared by the pure Raft core, its driver, the WAL and the simulation. Raft ids are opaque strings
 * (SwarmKit shows a random 63-bit id in hex; we keep that form). Log indexes and terms are plain numbers
 * (safe up to 2^53, far beyond any real log).
 */

/** A member's Raft id (lowercase hex, never empty, never "0"). */
export type RaftId = string;

/** Kinds of log entries. */
export enum EntryType {
  /** Application data (a store proposal); empty data is the leader's no-op of its term. */
  Normal = 0,
  /** A membership change; `data` is an encoded {@link ConfChange}. */
  ConfChange = 1,
}

/** One log entry. */
export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  data: Uint8Array;
}

/** One-server-at-a-time membership change. */
export interface ConfChange {
  type: 'add' | 'remove';
  id: RaftId;
  /** Opaque context carried to every member (swarmhost: JSON of {nodeId, addr}). */
  context: Uint8Array;
}

/** The persistent state every member must sync before sending messages that depend on it. */
export interface HardState {
  term: number;
  /** Id voted for in `term`, or '' for none. */
  vote: RaftId | '';
  commit: number;
}

/** Membership as of a snapshot or the applied log. */
export interface ConfState {
  voters: RaftId[];
  /** Ids removed from the cluster; they may never come back. */
  removed: RaftId[];
}

export interface SnapshotMetadata {
  index: number;
  term: number;
  conf: ConfState;
}

/** A snapshot of the application state at `metadata.index`. */
export interface Snapshot {
  metadata: SnapshotMetadata;
  data: Uint8Array;
}

/** Message kinds, as in etcd/raft. */
export enum MessageType {
  App = 'app',
  AppResp = 'appResp',
  Vote = 'vote',
  VoteResp = 'voteResp',
  PreVote = 'preVote',
  PreVoteResp = 'preVoteResp',
  Heartbeat = 'heartbeat',
  HeartbeatResp = 'heartbeatResp',
  Snap = 'snap',
  /** Sent by a leader to the transferee: campaign now, ignoring the election timeout and lease. */
  TimeoutNow = 'timeoutNow',
}

/** A Raft message between members. Fields not used by a kind are 0 / empty. */
export interface Message {
  type: MessageType;
  from: RaftId;
  to: RaftId;
  term: number;
  /** App: term of the entry at `index`. Vote/PreVote: candidate's last log term. */
  logTerm: number;
  /** App: index preceding `entries`. AppResp: last matched index (or rejected index). Vote: last log index. */
  index: number;
  entries: Entry[];
  commit: number;
  reject: boolean;
  /** AppResp with reject: the follower's hint for fast back-off (its last index, or the conflict point). */
  rejectHint: number;
  /** AppResp with reject: term of the follower's entry at rejectHint (for term-skipping back-off), or 0. */
  logTermHint: number;
  snapshot?: Snapshot;
  /** Heartbeat/Vote context (e.g. leadership transfer marker). */
  context?: string;
}

/** Role of the local member. */
export enum Role {
  Follower = 'follower',
  PreCandidate = 'pre-candidate',
  Candidate = 'candidate',
  Leader = 'leader',
}

/** Volatile state worth reporting when it changes. */
export interface SoftState {
  leader: RaftId | '';
  role: Role;
}

/**
 * Work handed to the driver. The driver must, in this order: persist `snapshot` (if any), `entries` and
 * `hardState` (one sync for all); send `messages`; apply `snapshot` then `committedEntries`; call `advance()`.
 */
export interface Ready {
  softState?: SoftState;
  hardState?: HardState;
  /** Entries to append to stable storage (may overwrite a conflicting suffix from their first index). */
  entries: Entry[];
  /** Snapshot received from the leader, to persist and then restore into the application. */
  snapshot?: Snapshot;
  /** Committed entries to apply, in order, after persisting. */
  committedEntries: Entry[];
  /** Messages to send after persisting. */
  messages: Message[];
}

/** Configuration of a Raft member. Ticks are counts of driver ticks (the driver sets the tick length). */
export interface RaftConfig {
  id: RaftId;
  /** Ticks without hearing from a leader before campaigning; randomized in [electionTick, 2*electionTick). */
  electionTick: number;
  heartbeatTick: number;
  preVote: boolean;
  checkQuorum: boolean;
  /** Upper bound on the entry bytes in one App message. */
  maxSizePerMsgBytes: number;
  /** Upper bound on App messages in flight to one follower in replicate state. */
  maxInflightMsgs: number;
  /** Entries kept behind a snapshot for slow followers before they need InstallSnapshot (SwarmKit: 500). */
  logEntriesForSlowFollowers: number;
  /** Upper bound on one proposal's payload; larger ones throw ProposalTooLargeError (default 1,572,864 B). */
  maxProposalBytes?: number;
  /**
   * Upper bound on the payload bytes of the leader's uncommitted log tail; a proposal beyond it is refused
   * (ResourceExhausted) until followers catch up (default 64 MiB). The leader's no-op is never refused.
   */
  maxUncommittedEntriesBytes?: number;
}

/** State a member restarts from (what its WAL and snapshot hold). */
export interface RaftBootstrap {
  /** Latest snapshot, if any. Its conf is the membership at its index. */
  snapshot?: Snapshot;
  hardState?: HardState;
  /** Entries after the snapshot, in index order. */
  entries: Entry[];
  /** For a brand-new cluster with no snapshot: the initial voters (including self). */
  initialVoters?: RaftId[];
}

/** Thrown by propose() on a member that is not the leader; `leader` lets the caller forward. */
export class NotLeaderError extends Error {
  constructor(readonly leader: RaftId | '') {
    super(
      leader
        ? `raft: failed to process the request: node is not the leader (leader is ${leader})`
        : 'raft: failed to process the request: node lost leader status',
    );
    this.name = 'NotLeaderError';
  }
}

/** Thrown when a proposal is larger than the maximum proposal size. */
export class ProposalTooLargeError extends Error {
  constructor(
    readonly sizeBytes: number,
    readonly maxBytes: number,
  ) {
    super(`raft: raft message is too large and can't be sent (${sizeBytes} bytes, limit ${maxBytes})`);
    this.name = 'ProposalTooLargeError';
  }
}

/** Thrown when a membership change is refused (one already pending, quorum at risk, removed id, ...). */
export class ConfChangeRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfChangeRefusedError';
  }
}

/**
 * The pure Raft state machine: no timers, sockets, disk, Date or Math.random (randomness comes from the Rng
 * given at construction). All inputs are method calls; all outputs come out of ready().
 */
export interface RaftCore {
  readonly id: RaftId;
  /** Advances logical time by one tick (elections, heartbeats, check-quorum). */
  tick(): void;
  /** Feeds a message received from a peer. Messages for another id or stale terms are handled per Raft. */
  step(msg: Message): void;
  /** Appends application data as a new entry (leader only; else throws NotLeaderError). Returns its index and term. */
  propose(data: Uint8Array): { index: number; term: number };
  /** Proposes a membership change (leader only). Throws ConfChangeRefusedError when unsafe. Returns its index. */
  proposeConfChange(cc: ConfChange): { index: number; term: number };
  /** Starts handing leadership to `to` (leader only): catches it up, then sends TimeoutNow. */
  transferLeadership(to: RaftId): void;
  /** Campaigns at once (used by a lone member bootstrapping, and by tests). */
  campaign(): void;
  /** True when ready() would return something. */
  hasReady(): boolean;
  /** Collects pending work; must be followed by advance() once the driver has handled it. */
  ready(): Ready;
  /** Acknowledges the last ready(): the entries are stable and committed entries applied. */
  advance(): void;
  /**
   * Records that the application took a snapshot at `index` (<= applied) with `data`, and compacts the log
   * up to `index - keepEntries` (default: the config's logEntriesForSlowFollowers). The core keeps `data` to
   * send to lagging followers.
   */
  compact(index: number, data: Uint8Array, keepEntries?: number): void;
  /** Current role, term, leader, commit and applied indexes, and membership (for status and tests). */
  status(): RaftStatus;
  /** Ids of peers the leader heard from within the last election timeout (self included). Leader only. */
  reachablePeers(): RaftId[];
  /**
   * Optional driver feedback after sending a Snap to `to`: ok=true (sent) makes the leader wait for the
   * follower's acknowledgement, then replicate from the snapshot index; ok=false (send failed) makes it probe
   * the follower again at once instead of waiting for the snapshot retry timeout.
   */
  reportSnapshot?(to: RaftId, ok: boolean): void;
}

export interface RaftStatus {
  id: RaftId;
  role: Role;
  term: number;
  leader: RaftId | '';
  commit: number;
  applied: number;
  lastIndex: number;
  firstIndex: number;
  voters: RaftId[];
  removed: RaftId[];
  /** Leader only: per-follower match index and state. */
  progress?: Record<RaftId, { match: number; next: number; state: 'probe' | 'replicate' | 'snapshot'; recentActive: boolean }>;
  /** Leader only: id of an ongoing transfer target, or ''. */
  leadTransferee: RaftId | '';
}
