/**
 * The dispatcher's batched writes (reference §8.2): node status changes and task status reports are queued
 * and written together in one `store.batch` every `intervalMs` (100 ms) or as soon as `maxItems` (10,000) are
 * queued. Per task and per node only the last queued change is written ("last per task wins"). A task status
 * is never lowered: the write is skipped when the stored observed state is already higher, when the task is
 * gone, or when it is no longer assigned to the reporting node. One batch is in flight at a time.
 */
import { NotFoundError } from '../api/errors.js';
import type { Node, NodeDescription, NodeStatus, NodeStatusState, TaskStatus } from '../api/objects.js';
import type { Timers, TimerHandle } from '../env/index.js';
import type { Store, WriteTx } from '../store/index.js';
import type { DispatcherLogger } from './types.js';

/** One queued node change. */
export interface NodeChange {
  status: NodeStatus;
  /** Replaces the stored description when present. */
  description?: NodeDescription;
  /** Write only when the stored status is in one of these states (e.g. UNKNOWN → DOWN after the grace). */
  onlyIfStateIn?: readonly NodeStatusState[];
  /** Write only when the stored status is NOT in one of these states (e.g. "non-DOWN nodes go UNKNOWN"). */
  unlessStateIn?: readonly NodeStatusState[];
}

interface QueuedNode {
  change: NodeChange;
  waiters: { resolve: () => void; reject: (e: Error) => void }[];
}

/** Options of {@link WriteBatcher}. */
export interface WriteBatcherOptions {
  store: Store;
  timers: Timers;
  logger: DispatcherLogger;
  /** Flush period, ms (SwarmKit: 100). */
  intervalMs: number;
  /** Queued items (nodes + tasks) that trigger an immediate flush (SwarmKit: 10,000). */
  maxItems: number;
}

/** Queues node and task status writes and flushes them as one store batch. */
export class WriteBatcher {
  private nodes = new Map<string, QueuedNode>();
  private tasks = new Map<string, { nodeId: string; status: TaskStatus }>();
  private timer: TimerHandle | undefined;
  private inFlight = false;
  private stopped = false;
  /** The last flush had writes that failed and were queued again. */
  private lastFlushFailed = false;
  /** Store batches written so far (observability and tests). */
  batchesWritten = 0;

  constructor(private readonly o: WriteBatcherOptions) {}

  /** Items waiting for the next flush. */
  get queued(): number {
    return this.nodes.size + this.tasks.size;
  }

  /**
   * Queues a node change; resolves once it is written (or skipped by its condition), rejects with NotFound
   * "node not found" when the node no longer exists, or with the store's error.
   */
  queueNode(nodeId: string, change: NodeChange): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const prev = this.nodes.get(nodeId);
      const merged: NodeChange = { ...change };
      // A later change without a description keeps the earlier one's (registration then heartbeat failure).
      if (merged.description === undefined && prev?.change.description !== undefined) merged.description = prev.change.description;
      this.nodes.set(nodeId, { change: merged, waiters: [...(prev?.waiters ?? []), { resolve, reject }] });
      this.kick();
    });
  }

  /** Queues one task status report from `nodeId` (last per task wins). */
  queueTaskStatus(taskId: string, nodeId: string, status: TaskStatus): void {
    this.tasks.set(taskId, { nodeId, status });
    this.kick();
  }

  /** Stops flushing; queued node waiters are rejected with `err`. */
  stop(err: Error): void {
    this.stopped = true;
    if (this.timer) this.o.timers.clearTimeout(this.timer);
    this.timer = undefined;
    for (const q of this.nodes.values()) for (const w of q.waiters) w.reject(err);
    this.nodes.clear();
    this.tasks.clear();
  }

  /** Puts failed task writes back (they are retried at the next flush) unless a newer report arrived meanwhile. */
  private requeueTasks(list: [string, { nodeId: string; status: TaskStatus }][]): void {
    if (this.stopped) return;
    for (const [taskId, u] of list) if (!this.tasks.has(taskId)) this.tasks.set(taskId, u);
  }

  private kick(): void {
    if (this.stopped || this.inFlight) return;
    // After a failed write, retries wait for the timer even with a full queue: never a loop of failing writes.
    if (this.queued >= this.o.maxItems && !this.lastFlushFailed) {
      if (this.timer) this.o.timers.clearTimeout(this.timer);
      this.timer = undefined;
      void this.flush();
      return;
    }
    if (!this.timer) {
      this.timer = this.o.timers.setTimeout(() => {
        this.timer = undefined;
        void this.flush();
      }, this.o.intervalMs);
    }
  }

  /** Writes everything queued now as one store batch. */
  async flush(): Promise<void> {
    if (this.stopped || this.inFlight || this.queued === 0) return;
    this.inFlight = true;
    const nodes = this.nodes;
    const tasks = this.tasks;
    this.nodes = new Map();
    this.tasks = new Map();
    const nodeWaiters: QueuedNode['waiters'][] = [];
    const taskList = [...tasks];
    let failedWrites = false;
    try {
      const result = await this.o.store.batch((b) => {
        for (const [nodeId, q] of nodes) {
          nodeWaiters.push(q.waiters);
          b.update((tx) => writeNode(tx, nodeId, q.change));
        }
        for (const [taskId, u] of taskList) b.update((tx) => writeTaskStatus(tx, taskId, u.nodeId, u.status));
      });
      this.batchesWritten++;
      const failed = new Map(result.failed.map((f) => [f.index, f.error]));
      nodeWaiters.forEach((ws, i) => {
        const err = failed.get(i);
        for (const w of ws) err ? w.reject(err) : w.resolve();
      });
      // A task sub-transaction only fails when its proposal failed (it reads before it writes): try again.
      const retry = result.failed.filter((f) => f.index >= nodeWaiters.length).map((f) => taskList[f.index - nodeWaiters.length]!);
      if (retry.length > 0) {
        failedWrites = true;
        this.o.logger.warn({ tasks: retry.length, err: result.failed[result.failed.length - 1]!.error.message }, 'dispatcher: task status writes failed; retrying');
        this.requeueTasks(retry);
      }
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      this.o.logger.error({ err: e.message }, 'dispatcher: batch write failed');
      for (const ws of nodeWaiters) for (const w of ws) w.reject(e);
      failedWrites = true;
      this.requeueTasks(taskList);
    } finally {
      this.inFlight = false;
    }
    this.lastFlushFailed = failedWrites;
    if (this.queued > 0) this.kick();
  }
}

function writeNode(tx: WriteTx, nodeId: string, c: NodeChange): void {
  const cur = tx.get('nodes', nodeId);
  if (!cur) throw new NotFoundError('node not found');
  if (c.onlyIfStateIn && !c.onlyIfStateIn.includes(cur.status.state)) return;
  if (c.unlessStateIn && c.unlessStateIn.includes(cur.status.state)) return;
  const next: Node = { ...(cur as Node), status: { ...c.status } };
  if (c.description !== undefined) next.description = c.description;
  tx.update('nodes', next);
}

function writeTaskStatus(tx: WriteTx, taskId: string, nodeId: string, status: TaskStatus): void {
  const cur = tx.get('tasks', taskId);
  if (!cur || cur.nodeId !== nodeId) return; // deleted, or moved since the report was accepted
  if (status.state < cur.status.state) return; // observed state never decreases
  const next: TaskStatus = {
    ...status,
    appliedBy: cur.status.appliedBy || nodeId,
    appliedAt: cur.status.appliedAt || status.appliedAt || status.timestamp,
  };
  if (sameStatus(cur.status, next)) return;
  tx.update('tasks', { ...cur, status: next } as typeof cur & { status: TaskStatus });
}

function sameStatus(a: Readonly<TaskStatus>, b: TaskStatus): boolean {
  return (
    a.state === b.state &&
    a.message === b.message &&
    a.err === b.err &&
    a.timestamp === b.timestamp &&
    (a.container?.exitCode ?? 0) === (b.container?.exitCode ?? 0) &&
    (a.container?.pid ?? 0) === (b.container?.pid ?? 0) &&
    (a.container?.containerId ?? '') === (b.container?.containerId ?? '')
  );
}
