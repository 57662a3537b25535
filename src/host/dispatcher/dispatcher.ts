/**
 * The dispatcher (leader only): agent sessions, heartbeats, task status intake and assignment streams, with
 * SwarmKit's behaviour (reference §8). It implements the transport's `DispatcherHandlers`, so the same object
 * serves gRPC calls and in-process calls (tests, simulation). Every wait runs on the injected Timers.
 *
 *   agent ──Session──► register (rate limit, node must exist) ─► node READY + description (batched write)
 *         ──Heartbeat─► expiry timer = jittered period × 3 ─► node DOWN "heartbeat failure"
 *         ──UpdateTaskStatus─► ownership check ─► WriteBatcher (100 ms / 10,000 items, never lowers)
 *         ──Assignments─► COMPLETE, then INCREMENTAL from one store watcher routed by node id, flushed together
 *                         100 ms after the last change on any stream (at most 1 s after the first)
 */
import {
  AbortedError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  UnavailableError,
} from '../api/errors.js';
import { NodeStatusState, TaskState, type NodeDescription, type Task, type TaskStatus } from '../api/objects.js';
import { withDeadline, type TimerHandle } from '../env/index.js';
import { newId, type ReadTx, type Stored, type StoreEvent, type Watcher } from '../store/index.js';
import type { CallContext, DispatcherHandlers } from '../transport/server.js';
import type {
  AssignmentsMessage,
  AssignmentsRequest,
  HeartbeatRequest,
  HeartbeatResponse,
  SessionMessage,
  SessionRequest,
  UpdateTaskStatusRequest,
  UpdateTaskStatusResponse,
  WeightedPeer,
} from '../transport/messages.js';
import { AssignmentFlusher, AssignmentStream } from './assignments.js';
import { Channel } from './channel.js';
import { DEFAULT_DISPATCHER_LIMITS, type DispatcherLimits, type DispatcherOptions } from './types.js';
import { WriteBatcher } from './write-batcher.js';

/** Message of a node whose heartbeats stopped. */
export const HEARTBEAT_FAILURE = 'heartbeat failure';
/** Message of a node that did not come back within the leader-change grace. */
export const HEARTBEAT_FAILURE_UNKNOWN = 'heartbeat failure for node in "unknown" state';
/** Message of a task orphaned because its node stayed DOWN for `orphanAfterDownMs`. */
export const TASK_ORPHANED = 'task orphaned: its node has been down for too long';
/** Message of a node marked UNKNOWN by a new leader's dispatcher. */
export const LEADERSHIP_CHANGE_UNKNOWN = 'Node moved to "unknown" state due to leadership change in cluster';

/** One live session of one node. */
interface NodeSession {
  nodeId: string;
  sessionId: string;
  /** Observed IP of the node (no port). */
  addr: string;
  expiry: TimerHandle | undefined;
  sessionStreams: Set<Channel<SessionMessage>>;
  assignmentStreams: Set<AssignmentStream>;
}

/** Leader-side dispatcher. `start()` on leadership gain, `stop()` on loss. */
export class Dispatcher implements DispatcherHandlers {
  private readonly limits: DispatcherLimits;
  private readonly sessions = new Map<string, NodeSession>();
  /** Registration rate limit per node: registrations in the current window and the last one's time (ms). */
  private readonly registrations = new Map<string, { count: number; lastAtMs: number }>();
  /** Nodes marked UNKNOWN at start, with their leader-change grace timer. */
  private readonly unknownTimers = new Map<string, TimerHandle>();
  /** DOWN nodes, with the timer that orphans their tasks. */
  private readonly orphanTimers = new Map<string, TimerHandle>();
  /** Pending retries of node state writes that must not be lost (see writeNodeUntilDone), by node id. */
  private readonly nodeRetryTimers = new Map<string, TimerHandle>();
  /** The newest writeNodeUntilDone of each node (an older one still retrying gives up). */
  private readonly nodeWriteGen = new Map<string, number>();
  private writes: WriteBatcher | undefined;
  /** The debounce shared by every assignment stream (one timer for the dispatcher). */
  private flusher: AssignmentFlusher | undefined;
  private watcher: Watcher | undefined;
  private running = false;
  private lastManagersKey = '';

  constructor(private readonly o: DispatcherOptions) {
    this.limits = { ...DEFAULT_DISPATCHER_LIMITS, ...o.limits };
    for (const [k, v] of Object.entries(this.limits)) {
      if (!Number.isFinite(v) || v < 0 || (k !== 'heartbeatJitterMs' && v <= 0)) {
        throw new InvalidArgumentError(`dispatcher.limits.${k}: must be a positive number, got ${v}`);
      }
    }
  }

  /** True between start() and stop(). */
  get isRunning(): boolean {
    return this.running;
  }

  /** Number of nodes with a live session. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Store batches written by the status/node write batcher since start (observability and tests). */
  get writeBatches(): number {
    return this.writes?.batchesWritten ?? 0;
  }

  /**
   * Starts serving (a fresh leader): every node not DOWN is marked UNKNOWN and gets the leader-change grace
   * (period × 6) to re-register before it is marked DOWN.
   */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.writes = new WriteBatcher({
      store: this.o.store,
      timers: this.o.timers,
      logger: this.o.logger,
      intervalMs: this.limits.writeBatchIntervalMs,
      maxItems: this.limits.maxWriteBatchItems,
    });
    this.flusher = new AssignmentFlusher({
      timers: this.o.timers,
      batchMs: this.limits.assignmentBatchMs,
      maxDelayMs: this.limits.maxAssignmentDelayMs,
    });
    const { result: nodes, watcher } = this.o.store.viewAndWatch((tx) => tx.list('nodes'), {
      tables: ['nodes', 'tasks', 'clusters'],
      bufferSize: this.limits.watchBufferEvents,
    });
    this.watcher = watcher;
    void this.watchLoop(watcher);
    this.lastManagersKey = managersKey(this.o.managerList());
    const graceMs = this.heartbeatPeriodMs() * this.limits.leaderChangeGraceMultiplier;
    for (const n of nodes) {
      if (n.status.state === NodeStatusState.DOWN) {
        this.armOrphan(n.id);
        continue;
      }
      // Never an unhandled rejection (that would end the process): a write that fails is retried while this
      // dispatcher runs and the node has no session; when leadership is lost the next leader marks it again.
      const id = n.id;
      const addr = n.status.addr;
      // The DOWN at the end of the grace applies to any node not DOWN yet, as in SwarmKit: a node that came back
      // has a session here (and registering cancelled this timer), and an UNKNOWN write that kept failing must
      // not leave a dead node READY.
      this.writeNodeUntilDone(id, {
        status: { state: NodeStatusState.UNKNOWN, message: LEADERSHIP_CHANGE_UNKNOWN, addr },
        unlessStateIn: [NodeStatusState.DOWN],
      }, 'UNKNOWN');
      this.unknownTimers.set(
        id,
        this.o.timers.setTimeout(() => {
          this.unknownTimers.delete(id);
          if (this.sessions.has(id)) return;
          this.writeNodeUntilDone(id, {
            status: { state: NodeStatusState.DOWN, message: HEARTBEAT_FAILURE_UNKNOWN, addr },
            unlessStateIn: [NodeStatusState.DOWN],
          }, 'DOWN');
          this.armOrphan(id);
        }, graceMs),
      );
    }
    this.o.logger.info({ nodes: nodes.length }, 'dispatcher started');
  }

  /** Stops serving: every stream ends with Aborted "dispatcher is stopped", timers and queued writes are dropped. */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    const err = stoppedError();
    for (const s of this.sessions.values()) this.closeSession(s, err);
    this.sessions.clear();
    for (const t of this.unknownTimers.values()) this.o.timers.clearTimeout(t);
    this.unknownTimers.clear();
    for (const t of this.orphanTimers.values()) this.o.timers.clearTimeout(t);
    this.orphanTimers.clear();
    for (const t of this.nodeRetryTimers.values()) this.o.timers.clearTimeout(t);
    this.nodeRetryTimers.clear();
    this.writes?.stop(err);
    this.writes = undefined;
    this.flusher?.stop();
    this.flusher = undefined;
    this.watcher?.close();
    this.watcher = undefined;
    this.o.logger.info({}, 'dispatcher stopped');
  }

  /** Pushes the manager list to every session if it changed (call on raft membership changes). */
  managersChanged(): void {
    if (!this.running) return;
    const key = managersKey(this.o.managerList());
    if (key === this.lastManagersKey) return;
    this.lastManagersKey = key;
    for (const s of this.sessions.values()) this.pushSession(s);
  }

  // ------------------------------------------------------------------ RPCs

  /** Session stream: registers (or resumes) the caller's session, then pushes SessionMessages. */
  async *session(req: SessionRequest, ctx: CallContext): AsyncGenerator<SessionMessage, void, undefined> {
    this.checkRunning();
    const nodeId = callerNodeId(ctx);
    let description: NodeDescription | undefined;
    if (req.descriptionJson !== '') description = parseDescription(req.descriptionJson);
    let s = this.sessions.get(nodeId);
    if (s === undefined || req.sessionId === '' || req.sessionId !== s.sessionId) {
      s = await this.register(nodeId, description, hostOf(ctx.peer?.addr ?? ''));
    } else if (description !== undefined) {
      void this.queueNode(nodeId, {
        status: { state: NodeStatusState.READY, message: '', addr: s.addr },
        description,
      }).catch(() => undefined);
    }
    const ch = new Channel<SessionMessage>(1);
    s.sessionStreams.add(ch);
    ch.replaceAll(this.sessionMessage(s));
    try {
      yield* ch.iterate(ctx.signal);
    } finally {
      s.sessionStreams.delete(ch);
    }
  }

  /** Heartbeat: resets the expiry timer and hands out the (jittered) period to wait before the next one. */
  async heartbeat(req: HeartbeatRequest, ctx: CallContext): Promise<HeartbeatResponse> {
    this.checkRunning();
    const s = this.sessionOf(callerNodeId(ctx), req.sessionId);
    return { periodMs: this.armExpiry(s) };
  }

  /**
   * Task status reports: the session must be valid and every task must be assigned to the caller (checked
   * for the whole request before anything is queued); unknown tasks are ignored; writes are batched.
   */
  async updateTaskStatus(req: UpdateTaskStatusRequest, ctx: CallContext): Promise<UpdateTaskStatusResponse> {
    this.checkRunning();
    const nodeId = callerNodeId(ctx);
    this.sessionOf(nodeId, req.sessionId);
    const parsed: { taskId: string; status: TaskStatus }[] = [];
    req.updates.forEach((u, i) => parsed.push({ taskId: u.taskId, status: parseStatus(u.statusJson, i) }));
    this.o.store.view((tx) => {
      for (const u of parsed) {
        const t = tx.get('tasks', u.taskId);
        if (t !== undefined && t.nodeId !== nodeId) throw new PermissionDeniedError('cannot update a task not assigned this node');
      }
    });
    const writes = this.writes!;
    for (const u of parsed) writes.queueTaskStatus(u.taskId, nodeId, u.status);
    return {};
  }

  /** Assignments stream: COMPLETE set, then INCREMENTAL changes of the caller's tasks. */
  async *assignments(req: AssignmentsRequest, ctx: CallContext): AsyncGenerator<AssignmentsMessage, void, undefined> {
    this.checkRunning();
    const nodeId = callerNodeId(ctx);
    const s = this.sessionOf(nodeId, req.sessionId);
    const store = this.o.store;
    const stream = new AssignmentStream({
      nodeId,
      timers: this.o.timers,
      batchMs: this.limits.assignmentBatchMs,
      maxChanges: this.limits.maxAssignmentChanges,
      maxQueued: this.limits.maxQueuedAssignmentMessages,
      ...(this.flusher ? { flusher: this.flusher } : {}),
      readSet: () => store.view((tx) => ({ tasks: tx.find('tasks', { nodeId }), index: store.appliedIndex })),
    });
    s.assignmentStreams.add(stream);
    try {
      yield* stream.channel.iterate(ctx.signal);
    } finally {
      stream.close();
      s.assignmentStreams.delete(stream);
    }
  }

  // ------------------------------------------------------------------ sessions

  private async register(nodeId: string, description: NodeDescription | undefined, addr: string): Promise<NodeSession> {
    const now = this.o.timers.now();
    const rl = this.registrations.get(nodeId);
    if (rl !== undefined) {
      if (now - rl.lastAtMs > this.limits.registrationLimitWindowMs) rl.count = 0;
      if (rl.count >= this.limits.registrationLimitCount) {
        throw new UnavailableError(`node ${nodeId} exceeded rate limit count of registrations`);
      }
    }
    const exists = this.o.store.view((tx) => tx.get('nodes', nodeId) !== undefined);
    if (!exists) throw new NotFoundError('node not registered');
    const rec = rl ?? { count: 0, lastAtMs: now };
    rec.count++;
    rec.lastAtMs = now;
    this.registrations.set(nodeId, rec);
    for (const timers of [this.unknownTimers, this.orphanTimers, this.nodeRetryTimers]) {
      const t = timers.get(nodeId);
      if (t) {
        this.o.timers.clearTimeout(t);
        timers.delete(nodeId);
      }
    }
    const old = this.sessions.get(nodeId);
    if (old) this.closeSession(old, sessionInvalid());
    const s: NodeSession = {
      nodeId,
      sessionId: newId(this.o.rng),
      addr,
      expiry: undefined,
      sessionStreams: new Set(),
      assignmentStreams: new Set(),
    };
    this.sessions.set(nodeId, s);
    this.armExpiry(s);
    const change = { status: { state: NodeStatusState.READY, message: '', addr }, ...(description ? { description } : {}) };
    try {
      await this.bounded(this.queueNode(nodeId, change), this.limits.registrationTimeoutMs, `node ${nodeId}: registration not written within ${this.limits.registrationTimeoutMs} ms`);
    } catch (err) {
      if (this.sessions.get(nodeId) === s) {
        this.sessions.delete(nodeId);
        this.closeSession(s, sessionInvalid());
        // The node is left without a session here, and the session this registration replaced (and its expiry)
        // is gone too: unless it registers again, it is DOWN after the heartbeat grace, like a silent session.
        this.armSessionlessExpiry(nodeId, addr);
      }
      throw err;
    }
    if (!this.running) throw stoppedError();
    if (this.sessions.get(nodeId) !== s) throw sessionInvalid();
    this.o.logger.info({ nodeId, addr }, 'node registered');
    return s;
  }

  /** Resets the session's expiry; returns the jittered period handed to the agent, ms. */
  private armExpiry(s: NodeSession): number {
    const base = this.heartbeatPeriodMs();
    const j = Math.min(this.limits.heartbeatJitterMs, Math.floor(base / 2));
    const periodMs = base - j + this.o.rng.int(2 * j + 1);
    if (s.expiry) this.o.timers.clearTimeout(s.expiry);
    s.expiry = this.o.timers.setTimeout(() => this.expire(s), periodMs * this.limits.heartbeatGraceMultiplier);
    return periodMs;
  }

  private expire(s: NodeSession): void {
    s.expiry = undefined;
    if (this.sessions.get(s.nodeId) !== s) return;
    this.sessions.delete(s.nodeId);
    this.closeSession(s, sessionInvalid());
    this.o.logger.warn({ nodeId: s.nodeId }, 'node heartbeat expired');
    this.writeNodeUntilDone(s.nodeId, { status: { state: NodeStatusState.DOWN, message: HEARTBEAT_FAILURE, addr: s.addr } }, 'DOWN');
    this.armOrphan(s.nodeId);
  }

  /**
   * A node whose registration failed has no session and no expiry: unless it registers within the heartbeat grace
   * (the longest jittered period × `heartbeatGraceMultiplier`), it is written DOWN "heartbeat failure" (a node
   * that was not DOWN already). Found by the orchestration simulation: a node whose re-registration failed during
   * a refused leadership transfer, then died, stayed READY for good — the failed registration had closed the
   * session whose expiry would have marked it DOWN.
   */
  private armSessionlessExpiry(nodeId: string, addr: string): void {
    if (!this.running) return;
    const prev = this.unknownTimers.get(nodeId);
    if (prev) this.o.timers.clearTimeout(prev);
    const base = this.heartbeatPeriodMs();
    const graceMs = (base + Math.min(this.limits.heartbeatJitterMs, Math.floor(base / 2))) * this.limits.heartbeatGraceMultiplier;
    this.unknownTimers.set(
      nodeId,
      this.o.timers.setTimeout(() => {
        this.unknownTimers.delete(nodeId);
        if (!this.running || this.sessions.has(nodeId)) return;
        this.writeNodeUntilDone(nodeId, { status: { state: NodeStatusState.DOWN, message: HEARTBEAT_FAILURE, addr }, unlessStateIn: [NodeStatusState.DOWN] }, 'DOWN');
        this.armOrphan(nodeId);
      }, graceMs),
    );
  }

  /** Starts the 24 h clock of a DOWN node; when it runs out its live tasks are marked ORPHANED. */
  private armOrphan(nodeId: string): void {
    const prev = this.orphanTimers.get(nodeId);
    if (prev) this.o.timers.clearTimeout(prev);
    this.orphanTimers.set(
      nodeId,
      this.o.timers.setTimeout(() => {
        this.orphanTimers.delete(nodeId);
        if (!this.running || this.sessions.has(nodeId)) return;
        void this.orphanTasks(nodeId);
      }, this.limits.orphanAfterDownMs),
    );
  }

  private async orphanTasks(nodeId: string): Promise<void> {
    const ids = this.o.store.view((tx) => tx.find('tasks', { nodeId }).map((t) => t.id));
    const now = this.o.timers.now();
    const r = await this.o.store.batch((b) => {
      for (const id of ids) {
        b.update((tx) => {
          const t = tx.get('tasks', id);
          if (!t || t.nodeId !== nodeId || t.status.state < TaskState.ASSIGNED || t.status.state > TaskState.RUNNING) return;
          if (tx.get('nodes', nodeId)?.status.state !== NodeStatusState.DOWN) return; // came back meanwhile
          tx.update('tasks', { ...t, status: { ...t.status, state: TaskState.ORPHANED, message: TASK_ORPHANED, timestamp: now } });
        });
      }
    });
    if (r.failed.length > 0) this.o.logger.warn({ nodeId, failed: r.failed.length, err: r.failed[0]!.error.message }, 'dispatcher: orphaning tasks failed');
    else this.o.logger.info({ nodeId, tasks: ids.length }, 'dispatcher: tasks of a long-down node orphaned');
  }

  private closeSession(s: NodeSession, err: Error): void {
    if (s.expiry) this.o.timers.clearTimeout(s.expiry);
    s.expiry = undefined;
    for (const ch of s.sessionStreams) ch.fail(err);
    for (const a of s.assignmentStreams) {
      a.close();
      a.channel.fail(err);
    }
    s.sessionStreams.clear();
    s.assignmentStreams.clear();
  }

  private sessionOf(nodeId: string, sessionId: string): NodeSession {
    const s = this.sessions.get(nodeId);
    if (s === undefined || sessionId === '' || s.sessionId !== sessionId) throw sessionInvalid();
    return s;
  }

  private sessionMessage(s: NodeSession): SessionMessage {
    const { node, rootCa } = this.o.store.view((tx) => ({
      node: tx.get('nodes', s.nodeId),
      rootCa: this.cluster(tx)?.rootCA.caCert ?? '',
    }));
    return {
      sessionId: s.sessionId,
      nodeJson: node ? JSON.stringify(node) : '',
      managers: this.o.managerList().map((m) => ({ ...m })),
      networkBootstrapKeysJson: '[]',
      rootCa: Buffer.from(rootCa, 'utf8'),
    };
  }

  private pushSession(s: NodeSession): void {
    if (s.sessionStreams.size === 0) return;
    const m = this.sessionMessage(s);
    for (const ch of s.sessionStreams) ch.replaceAll(m);
  }

  /**
   * Writes a node state change that must not be lost for a node without a session (a dead node's DOWN, a new
   * leader's UNKNOWN): a failed write is tried again every `nodeWriteRetryMs` while this dispatcher runs and the
   * node has not registered (registration cancels the retry: its READY supersedes); a newer such write of the
   * same node supersedes an older one still being retried. Before, a failed write was dropped, which could leave
   * a dead node READY for good (seen while investigating the orchestration simulation's seed 3).
   */
  private writeNodeUntilDone(nodeId: string, change: Parameters<WriteBatcher['queueNode']>[1], what: string): void {
    this.clearNodeRetry(nodeId);
    const gen = (this.nodeWriteGen.get(nodeId) ?? 0) + 1;
    this.nodeWriteGen.set(nodeId, gen);
    const current = (): boolean => this.running && !this.sessions.has(nodeId) && this.nodeWriteGen.get(nodeId) === gen;
    const attempt = (): void => {
      if (!current()) return;
      this.queueNode(nodeId, change).catch((err: unknown) => {
        if (!current()) return;
        this.o.logger.warn({ nodeId, err: String(err), retryInMs: this.limits.nodeWriteRetryMs }, `could not mark the node ${what}; retrying`);
        this.nodeRetryTimers.set(
          nodeId,
          this.o.timers.setTimeout(() => {
            this.nodeRetryTimers.delete(nodeId);
            attempt();
          }, this.limits.nodeWriteRetryMs),
        );
      });
    };
    attempt();
  }

  private clearNodeRetry(nodeId: string): void {
    const t = this.nodeRetryTimers.get(nodeId);
    if (t) this.o.timers.clearTimeout(t);
    this.nodeRetryTimers.delete(nodeId);
  }

  private queueNode(nodeId: string, change: Parameters<WriteBatcher['queueNode']>[1]): Promise<void> {
    const w = this.writes;
    if (!w) return Promise.reject(stoppedError());
    return w.queueNode(nodeId, change);
  }

  // ------------------------------------------------------------------ store events

  /** Routes store events: task events to the assignment streams of their node, node/cluster events to sessions. */
  private async watchLoop(first: Watcher): Promise<void> {
    let watcher = first;
    let group: StoreEvent[] = [];
    while (this.running) {
      try {
        for await (const ev of watcher) {
          if (ev.kind === 'restored') {
            group = [];
            this.resyncAll();
          } else if (ev.kind === 'commit') {
            this.route(group, ev.version);
            group = [];
          } else group.push(ev);
        }
        if (!this.running || watcher.error === undefined) return;
      } catch (err) {
        if (!this.running) return;
        this.o.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'dispatcher watcher failed; resyncing');
      }
      // The watcher overflowed: a new one, and every stream restarts from a COMPLETE set.
      group = [];
      watcher = this.o.store.watch({ tables: ['nodes', 'tasks', 'clusters'], bufferSize: this.limits.watchBufferEvents });
      this.watcher = watcher;
      this.resyncAll();
    }
  }

  private resyncAll(): void {
    for (const s of this.sessions.values()) {
      for (const a of s.assignmentStreams) a.sendComplete();
      this.pushSession(s);
    }
  }

  private route(events: StoreEvent[], version: number): void {
    const sessionsToPush = new Set<NodeSession>();
    let clusterChanged = false;
    for (const ev of events) {
      if (ev.kind === 'commit' || ev.kind === 'restored') continue;
      if (ev.table === 'tasks') {
        const t = ev.object as Readonly<Task>;
        const old = ev.kind === 'update' ? (ev.old as Readonly<Task>) : undefined;
        this.routeTask(t.nodeId, ev.kind, t, old, version);
        if (old && old.nodeId !== t.nodeId) this.routeTask(old.nodeId, ev.kind, t, old, version);
      } else if (ev.table === 'nodes') {
        const id = ev.object.id;
        const s = this.sessions.get(id);
        if (s) sessionsToPush.add(s);
        if (ev.kind === 'delete') {
          // A removed node: end its session and forget everything kept about it.
          if (s) {
            this.sessions.delete(id);
            this.closeSession(s, new NotFoundError('node not found'));
            sessionsToPush.delete(s);
          }
          this.registrations.delete(id);
          this.nodeWriteGen.delete(id);
          for (const timers of [this.unknownTimers, this.orphanTimers, this.nodeRetryTimers]) {
            const t = timers.get(id);
            if (t) this.o.timers.clearTimeout(t);
            timers.delete(id);
          }
        }
      } else if (ev.table === 'clusters') clusterChanged = true;
    }
    if (clusterChanged) for (const s of this.sessions.values()) sessionsToPush.add(s);
    for (const s of sessionsToPush) this.pushSession(s);
  }

  private routeTask(nodeId: string, kind: 'create' | 'update' | 'delete', t: Readonly<Task>, old: Readonly<Task> | undefined, version: number): void {
    if (nodeId === '') return;
    const s = this.sessions.get(nodeId);
    if (!s) return;
    for (const a of s.assignmentStreams) a.onTaskEvent(kind, t, old, version);
  }

  // ------------------------------------------------------------------ helpers

  private cluster(tx: ReadTx): Stored<'clusters'> | undefined {
    return tx.get('clusters', this.o.clusterId) ?? tx.list('clusters')[0];
  }

  /** The cluster's heartbeat period (read live), ms; the default when unset or invalid. */
  heartbeatPeriodMs(): number {
    const p = this.o.store.view((tx) => this.cluster(tx)?.spec?.dispatcher?.heartbeatPeriodMs);
    return typeof p === 'number' && Number.isFinite(p) && p > 0 ? p : this.limits.defaultHeartbeatPeriodMs;
  }

  /** `p`, or UnavailableError(`message`) after `ms` (the write itself still completes or fails on its own). */
  private bounded<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
    return withDeadline(this.o.timers, p, ms, () => new UnavailableError(message));
  }

  private checkRunning(): void {
    if (!this.running) throw stoppedError();
  }
}

function stoppedError(): AbortedError {
  return new AbortedError('dispatcher is stopped');
}

function sessionInvalid(): InvalidArgumentError {
  return new InvalidArgumentError('session invalid');
}

function callerNodeId(ctx: CallContext): string {
  const id = ctx.peer?.nodeId;
  if (!id) throw new PermissionDeniedError('dispatcher: the caller has no node identity (a node certificate is required)');
  return id;
}

function managersKey(m: WeightedPeer[]): string {
  return JSON.stringify([...m].sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0)));
}

/** The host part of "host:port", "[v6]:port" or "ipv4:host:port" (grpc-js peer strings). */
export function hostOf(addr: string): string {
  let a = addr.replace(/^ipv[46]:/, '');
  if (a.startsWith('[')) {
    const end = a.indexOf(']');
    return end > 0 ? a.slice(1, end) : a;
  }
  const colon = a.lastIndexOf(':');
  if (colon > 0 && a.indexOf(':') === colon) a = a.slice(0, colon);
  return a;
}

function parseDescription(json: string): NodeDescription {
  let d: unknown;
  try {
    d = JSON.parse(json);
  } catch {
    throw new InvalidArgumentError('session.descriptionJson: must be valid JSON');
  }
  if (d === null || typeof d !== 'object' || Array.isArray(d)) throw new InvalidArgumentError('session.descriptionJson: must be a JSON object');
  const h = (d as { hostname?: unknown }).hostname;
  if (h !== undefined && typeof h !== 'string') throw new InvalidArgumentError('session.descriptionJson.hostname: must be a string');
  return d as NodeDescription;
}

const STATES = new Set<number>(Object.values(TaskState).filter((v): v is number => typeof v === 'number'));

function parseStatus(json: string, i: number): TaskStatus {
  const field = `updates[${i}].statusJson`;
  let s: unknown;
  try {
    s = JSON.parse(json);
  } catch {
    throw new InvalidArgumentError(`${field}: must be valid JSON`);
  }
  if (s === null || typeof s !== 'object' || Array.isArray(s)) throw new InvalidArgumentError(`${field}: must be a JSON object`);
  const st = s as Partial<TaskStatus>;
  if (typeof st.state !== 'number' || !STATES.has(st.state)) throw new InvalidArgumentError(`${field}.state: must be a task state value`);
  if (st.state < TaskState.ASSIGNED || st.state === TaskState.REMOVE) {
    throw new InvalidArgumentError(`${field}.state: an agent reports ACCEPTED or later, got ${TaskState[st.state]}`);
  }
  if (typeof st.timestamp !== 'number' || !Number.isFinite(st.timestamp)) throw new InvalidArgumentError(`${field}.timestamp: must be a number of ms`);
  const out: TaskStatus = {
    timestamp: st.timestamp,
    state: st.state,
    message: typeof st.message === 'string' ? st.message : '',
    err: typeof st.err === 'string' ? st.err : '',
    appliedBy: typeof st.appliedBy === 'string' ? st.appliedBy : '',
    appliedAt: typeof st.appliedAt === 'number' ? st.appliedAt : 0,
  };
  const c = st.container;
  if (c !== undefined && c !== null) {
    if (typeof c !== 'object') throw new InvalidArgumentError(`${field}.container: must be an object`);
    out.container = {
      containerId: typeof c.containerId === 'string' ? c.containerId : '',
      pid: typeof c.pid === 'number' ? c.pid : 0,
      exitCode: typeof c.exitCode === 'number' ? c.exitCode : 0,
    };
  }
  return out;
}
