/** Options, limits and the logger of the dispatcher. Times are milliseconds, counts are plain integers. */
import type { Rng, Timers } from '../env/index.js';
import type { Store } from '../store/index.js';
import type { WeightedPeer } from '../transport/messages.js';

/** Structured logger (pino-compatible subset). */
export interface DispatcherLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** The dispatcher's tunables, with SwarmKit's values as defaults (reference §8.2, §8.3, §14). */
export interface DispatcherLimits {
  /** Heartbeat period when the cluster object names none, ms (5 s). */
  defaultHeartbeatPeriodMs: number;
  /** Each handed-out period is the cluster's ± this much, uniformly, ms (500). */
  heartbeatJitterMs: number;
  /** A node missing this many (jittered) periods is DOWN "heartbeat failure" (3). */
  heartbeatGraceMultiplier: number;
  /** After a leader change, nodes not re-registered within this many periods are DOWN (6). */
  leaderChangeGraceMultiplier: number;
  /** Registrations of one node allowed per window (3). */
  registrationLimitCount: number;
  /** The registration window: the count resets when the last registration is older than this, ms (8 s). */
  registrationLimitWindowMs: number;
  /** Bound on a registration waiting for its node write; past it the caller gets Unavailable, ms (5,000). */
  registrationTimeoutMs: number;
  /** Node and task status writes are flushed this often, ms (100). */
  writeBatchIntervalMs: number;
  /** ... or as soon as this many items are queued (10,000). */
  maxWriteBatchItems: number;
  /**
   * INCREMENTAL assignments messages are sent this long after the last change, ms (100). SwarmKit debounces
   * per node; here the quiet period is the dispatcher's (any node's change), see AssignmentFlusher.
   */
  assignmentBatchMs: number;
  /** ... but never later than this after the first pending change, ms (1,000). */
  maxAssignmentDelayMs: number;
  /** ... or as soon as it holds this many changes (100). */
  maxAssignmentChanges: number;
  /** Assignment messages queued for a slow stream before the backlog collapses into one COMPLETE set (64). */
  maxQueuedAssignmentMessages: number;
  /** A node DOWN this long gets its tasks in ASSIGNED..RUNNING marked ORPHANED, ms (24 h). */
  orphanAfterDownMs: number;
  /** Buffer of the dispatcher's store watcher, events; on overflow every stream resyncs with COMPLETE (100,000). */
  watchBufferEvents: number;
  /**
   * A node state write that must not be lost (a dead node's DOWN, a new leader's UNKNOWN) and failed (a
   * leadership transfer in progress, lost quorum) is tried again after this long while still wanted, ms (1,000).
   */
  nodeWriteRetryMs: number;
}

/** SwarmKit's numbers. */
export const DEFAULT_DISPATCHER_LIMITS: Readonly<DispatcherLimits> = Object.freeze({
  defaultHeartbeatPeriodMs: 5_000,
  heartbeatJitterMs: 500,
  heartbeatGraceMultiplier: 3,
  leaderChangeGraceMultiplier: 6,
  registrationLimitCount: 3,
  registrationLimitWindowMs: 8_000,
  registrationTimeoutMs: 5_000,
  writeBatchIntervalMs: 100,
  maxWriteBatchItems: 10_000,
  assignmentBatchMs: 100,
  maxAssignmentDelayMs: 1_000,
  maxAssignmentChanges: 100,
  maxQueuedAssignmentMessages: 64,
  watchBufferEvents: 100_000,
  orphanAfterDownMs: 86_400_000,
  nodeWriteRetryMs: 1_000,
});

/** What the dispatcher is built from. */
export interface DispatcherOptions {
  store: Store;
  timers: Timers;
  rng: Rng;
  clusterId: string;
  /** The current managers (raft members with their addresses), weight 10 each; read on every push. */
  managerList: () => WeightedPeer[];
  logger: DispatcherLogger;
  limits?: Partial<DispatcherLimits>;
}
