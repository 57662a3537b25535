/**
 * The scheduler's host side on the leader (reference §6.1, §6.4): a NodeTable kept in sync with the store from
 * node and task events (only rows that changed are rewritten, at the start of a pass), a queue of PENDING tasks,
 * passes debounced (50 ms after the last change, at most 1 s after the first), and one `store.batch` per pass
 * that commits assignments and the explanation of unplaceable tasks. Unplaceable tasks stay queued and are
 * retried on the next pass, which node changes and tasks leaving nodes trigger.
 */
import { FailedPreconditionError, InvalidArgumentError, TaskState, type Node, type Task } from '../api/index.js';
import type { Clock, TimerHandle, Timers } from '../env/index.js';
import type { Store } from '../store/index.js';
import { NodeTable, isTracked, type FailureTracker, type RecentFailures, type SchedulePassResult } from '../scheduler/index.js';

/** SwarmKit's scheduler debounce: a pass runs this long after the last change, ms. */
export const SCHEDULER_DEBOUNCE_MS = 50;
/** Upper bound on the time from the first queued change to a pass, ms. */
export const SCHEDULER_MAX_LATENCY_MS = 1_000;
/**
 * Queue length at which a pass runs at once instead of after the debounce (swarmhost's addition): a large
 * service create is placed in pieces of about this size while its later tasks are still being written, so the
 * first agents start working while the leader writes the rest (SwarmKit waits until the writes pause or 1 s).
 */
export const SCHEDULER_EAGER_PASS_TASKS = 1_000;

/** Status message of a task placed by the scheduler. */
export const ASSIGNED_MESSAGE = 'scheduler assigned task to node';
/** Status message of a preassigned (global) task confirmed on its node. */
export const PREASSIGNED_MESSAGE = 'scheduler confirmed task can run on preassigned node';

/** Options of the scheduler host. */
export interface SchedulerHostOptions {
  store: Store;
  timers: Timers;
  clock: Clock;
  failures: FailureTracker;
  /** False once the leader components stopped: queued writes then do nothing. */
  isRunning: () => boolean;
  onError: (what: string, e: unknown) => void;
  debounceMs?: number;
  maxLatencyMs?: number;
  /** Queue length that starts a pass without waiting for the debounce (default {@link SCHEDULER_EAGER_PASS_TASKS}). */
  eagerPassTasks?: number;
  /**
   * Optional pluggable strategy (the plugin host): runs one whole pass, pinned to one strategy version, and
   * falls back to the built-in pipeline itself. Default: the built-in pipeline (`NodeTable.schedulePass`).
   */
  strategy?: PassStrategy;
}

/** A scheduling strategy that runs one pass over the node table (see {@link SchedulerHostOptions.strategy}). */
export interface PassStrategy {
  schedulePass(table: NodeTable, tasks: readonly Task[], failures?: RecentFailures): Promise<SchedulePassResult>;
}

/** Scheduler counters, for tests and benchmarks. */
export interface SchedulerHostStats {
  /** Passes that had tasks to look at (since construction). */
  passes: number;
  /** Assignments committed (since construction). */
  assigned: number;
  /** Tasks left unplaceable by the most recent pass. */
  unplaceable: number;
  /** Assignments refused at commit (node changed, §6.4) and re-queued (since construction). */
  commitFailures: number;
}

/** What one scheduling pass did (observability: metrics count decisions). */
export interface SchedulerPassInfo {
  /** Tasks the pass looked at. */
  tasks: number;
  /** Assignments committed by this pass. */
  assigned: number;
  /** Tasks this pass could not place. */
  unplaceable: number;
  /** Assignments refused at commit by this pass (re-queued). */
  commitFailures: number;
}

/**
 * Told when a pass that has work begins and ends. The observer times the pass itself (with a high-resolution
 * clock of its own), so the scheduler keeps only its injected clock.
 */
export interface SchedulerPassObserver {
  passStarted(): void;
  passEnded(info: SchedulerPassInfo): void;
}

/** The leader's scheduler loop around a NodeTable. */
export class SchedulerHost {
  private table = new NodeTable();
  private readonly queued = new Set<string>();
  private readonly dirtyNodes = new Set<string>();
  /** Node `meta.version` the table was last written from (the commit rule compares it). */
  private readonly nodeVersion = new Map<string, number>();
  private timer: TimerHandle | undefined;
  private firstChangeAtMs = 0;
  private lastChangeAtMs = 0;
  /** When the armed timer fires, ms (clock time). */
  private timerAtMs = 0;
  /** A change since the timer was armed moved the due time later: when it fires, it re-arms instead. */
  private postponed = false;
  private active = false;
  private again = false;
  private idle: (() => void)[] = [];
  readonly debounceMs: number;
  readonly maxLatencyMs: number;
  readonly eagerPassTasks: number;
  /** Counters (observability). */
  readonly stats: SchedulerHostStats = { passes: 0, assigned: 0, unplaceable: 0, commitFailures: 0 };
  private readonly observers = new Set<SchedulerPassObserver>();

  constructor(private readonly o: SchedulerHostOptions) {
    this.debounceMs = o.debounceMs ?? SCHEDULER_DEBOUNCE_MS;
    this.maxLatencyMs = o.maxLatencyMs ?? SCHEDULER_MAX_LATENCY_MS;
    this.eagerPassTasks = o.eagerPassTasks ?? SCHEDULER_EAGER_PASS_TASKS;
    if (!Number.isInteger(this.eagerPassTasks) || this.eagerPassTasks < 1) {
      throw new InvalidArgumentError(`scheduler eagerPassTasks: must be a positive integer, got ${this.eagerPassTasks}`);
    }
  }

  /** Adds a pass observer (metrics); returns its removal. An observer that throws is ignored. */
  addPassObserver(obs: SchedulerPassObserver): () => void {
    this.observers.add(obs);
    return () => this.observers.delete(obs);
  }

  private notify(fn: (o: SchedulerPassObserver) => void): void {
    for (const o of this.observers) {
      try {
        fn(o);
      } catch {
        // observability must never break scheduling
      }
    }
  }

  /** Rebuilds the table and the queue from a full read (leader start, watch resync). */
  reset(nodes: readonly Node[], tasks: readonly Task[]): void {
    this.table = new NodeTable({ initialCapacity: Math.max(64, nodes.length) });
    this.queued.clear();
    this.dirtyNodes.clear();
    this.nodeVersion.clear();
    const byNode = new Map<string, Task[]>();
    for (const t of tasks) {
      if (t.nodeId !== '') {
        let l = byNode.get(t.nodeId);
        if (!l) byNode.set(t.nodeId, (l = []));
        l.push(t);
      }
      if (isQueueable(t)) this.queued.add(t.id);
    }
    for (const n of nodes) {
      this.table.upsertNode(n, byNode.get(n.id) ?? []);
      this.nodeVersion.set(n.id, n.meta.version);
    }
    this.kick();
  }

  /** A node was created, updated or deleted. */
  onNode(nodeId: string): void {
    this.dirtyNodes.add(nodeId);
    this.kick();
  }

  /** Forgets a deleted service's per-node counts. */
  onServiceDeleted(serviceId: string): void {
    this.table.forgetService(serviceId);
  }

  /** A task was created, updated or deleted (`task` undefined on delete). */
  onTask(task: Task | undefined, old: Task | undefined): void {
    if (old && old.nodeId !== '') this.dirtyNodes.add(old.nodeId);
    if (task && task.nodeId !== '') this.dirtyNodes.add(task.nodeId);
    if (task && isQueueable(task)) {
      if (!this.queued.has(task.id)) {
        this.queued.add(task.id);
        this.kick();
      }
      return;
    }
    if (task) this.queued.delete(task.id);
    else if (old) this.queued.delete(old.id);
    // Something changed on a node: unplaceable tasks may fit now.
    if (this.queued.size > 0 && (old?.nodeId || task?.nodeId)) this.kick();
  }

  /** Tasks waiting for a node (including unplaceable ones). */
  get queueLength(): number {
    return this.queued.size;
  }

  /**
   * Arms the debounced pass: `debounceMs` after this change, but no later than `maxLatencyMs` after the first;
   * at once (the next timer turn) when `eagerPassTasks` or more tasks wait. The timer is re-armed lazily: a
   * change only records its time, and a timer that fires early re-arms itself for the quiet period (a 10,000-task
   * create would otherwise clear and set a timer 10,000 times).
   */
  kick(): void {
    if (!this.o.isRunning() || this.queued.size === 0) return;
    const now = this.o.clock.now();
    if (this.timer === undefined) this.firstChangeAtMs = now;
    this.lastChangeAtMs = now;
    const at = this.dueAtMs();
    if (this.timer !== undefined) {
      if (at > this.timerAtMs) this.postponed = true; // the armed timer fires first and waits on
      if (at >= this.timerAtMs) return;
      this.o.timers.clearTimeout(this.timer);
    }
    this.arm(at, now);
  }

  /** When the pass is due, from the recorded changes (see {@link kick}). */
  private dueAtMs(): number {
    if (this.queued.size >= this.eagerPassTasks) return this.lastChangeAtMs;
    return Math.min(this.lastChangeAtMs + this.debounceMs, this.firstChangeAtMs + this.maxLatencyMs);
  }

  private arm(atMs: number, nowMs: number): void {
    this.timerAtMs = atMs;
    this.postponed = false;
    this.timer = this.o.timers.setTimeout(() => {
      this.timer = undefined;
      const now = this.o.clock.now();
      if (this.postponed && this.queued.size > 0 && this.dueAtMs() > now) {
        this.arm(this.dueAtMs(), now); // changes came in since the timer was set: wait for the quiet period
        return;
      }
      void this.run();
    }, Math.max(0, atMs - nowMs));
  }

  /** Cancels the pending pass timer; resolves once a pass in progress has finished. */
  stop(): Promise<void> {
    if (this.timer !== undefined) this.o.timers.clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.active) return Promise.resolve();
    return new Promise((r) => this.idle.push(r));
  }

  private async run(): Promise<void> {
    if (this.active) {
      this.again = true;
      return;
    }
    this.active = true;
    try {
      do {
        this.again = false;
        if (!this.o.isRunning()) break;
        await this.pass();
      } while (this.again);
    } catch (e) {
      this.o.onError('scheduler pass', e);
    } finally {
      this.active = false;
      for (const r of this.idle.splice(0)) r();
    }
  }

  /** One scheduling pass: sync changed rows, place the queue, commit in one batch. */
  private async pass(): Promise<void> {
    const { store, clock } = this.o;
    const nowMs = clock.now();
    const { tasks, stale } = store.view((tx) => {
      for (const id of this.dirtyNodes) {
        const n = tx.get('nodes', id);
        if (!n) {
          this.table.removeNode(id);
          this.nodeVersion.delete(id);
          this.o.failures.forgetNode(id);
        } else {
          this.table.upsertNode(n as Node, tx.find('tasks', { nodeId: id }) as Task[]);
          this.nodeVersion.set(id, n.meta.version);
        }
      }
      this.dirtyNodes.clear();
      const tasks: Task[] = [];
      const stale: string[] = [];
      for (const id of this.queued) {
        const t = tx.get('tasks', id) as Task | undefined;
        if (!t || t.status.state !== TaskState.PENDING) {
          this.queued.delete(id);
          continue;
        }
        if (t.desiredState >= TaskState.SHUTDOWN) {
          // §6.2: a pending task no longer wanted is shut down rather than placed.
          stale.push(id);
          this.queued.delete(id);
          continue;
        }
        tasks.push(t);
      }
      return { tasks, stale };
    });
    if (tasks.length === 0 && stale.length === 0) return;
    this.stats.passes++;
    this.notify((o) => o.passStarted());
    const before = { assigned: this.stats.assigned, commitFailures: this.stats.commitFailures };
    try {
      await this.placeAndCommit(tasks, stale, nowMs);
    } finally {
      this.notify((o) =>
        o.passEnded({
          tasks: tasks.length,
          assigned: this.stats.assigned - before.assigned,
          unplaceable: this.stats.unplaceable,
          commitFailures: this.stats.commitFailures - before.commitFailures,
        }),
      );
    }
  }

  private async placeAndCommit(tasks: Task[], stale: string[], nowMs: number): Promise<void> {
    const { store } = this.o;
    const result = this.o.strategy ? await this.o.strategy.schedulePass(this.table, tasks, this.o.failures) : this.table.schedulePass(tasks, this.o.failures);
    const preassigned = new Set<string>();
    for (const t of tasks) if (t.nodeId !== '') preassigned.add(t.id);
    const seen = new Map<string, number>();
    for (const a of result.assignments) seen.set(a.nodeId, this.nodeVersion.get(a.nodeId) ?? -1);
    const running = this.o.isRunning;
    const res = await store.batch((b) => {
      for (const a of result.assignments) {
        b.update((tx) => {
          if (!running()) return;
          const t = tx.get('tasks', a.taskId);
          if (!t || t.status.state !== TaskState.PENDING) return;
          const n = tx.get('nodes', a.nodeId);
          // §6.4: the decision stands only on the node state the scheduler saw.
          if (!n || n.meta.version !== seen.get(a.nodeId)) {
            throw new FailedPreconditionError(`scheduler: node ${a.nodeId} changed since the pass`);
          }
          tx.update('tasks', {
            ...(t as Task),
            nodeId: a.nodeId,
            status: {
              ...t.status,
              state: TaskState.ASSIGNED,
              message: preassigned.has(a.taskId) ? PREASSIGNED_MESSAGE : ASSIGNED_MESSAGE,
              err: '',
              timestamp: nowMs,
            },
          });
        });
      }
      for (const u of result.unplaceable) {
        b.update((tx) => {
          if (!running()) return;
          const t = tx.get('tasks', u.taskId);
          if (!t || t.status.state !== TaskState.PENDING || t.status.err === u.err) return;
          tx.update('tasks', { ...(t as Task), status: { ...t.status, err: u.err, timestamp: nowMs } });
        });
      }
      for (const id of stale) {
        b.update((tx) => {
          if (!running()) return;
          const t = tx.get('tasks', id);
          if (!t || t.status.state !== TaskState.PENDING) return;
          tx.update('tasks', { ...(t as Task), status: { ...t.status, state: TaskState.SHUTDOWN, message: 'shutdown', timestamp: nowMs } });
        });
      }
    });
    this.stats.assigned += result.assignments.length - res.failed.filter((f) => f.index < result.assignments.length).length;
    this.stats.unplaceable = result.unplaceable.length;
    for (const a of result.assignments) this.queued.delete(a.taskId);
    let retryLater = false;
    for (const f of res.failed) {
      if (f.index >= result.assignments.length) continue;
      // The in-memory accounting of this decision is void: rewrite the row from the store, retry the task.
      const a = result.assignments[f.index]!;
      this.stats.commitFailures++;
      this.queued.add(a.taskId);
      this.dirtyNodes.add(a.nodeId);
      // A node that changed since the pass: the next pass re-reads it, so retry at once. Any other failure is
      // the proposal itself (a leadership transfer in progress, lost quorum): retry through the debounce timer —
      // an immediate retry would spin on microtasks and starve the very timers that end the condition (found by
      // the orchestration simulation: a manager stuck at 100% CPU, its leadership transfer never completing).
      if (f.error instanceof FailedPreconditionError) this.again = true;
      else retryLater = true;
    }
    if (retryLater) this.kick();
  }
}

/** A task the scheduler must place: observed PENDING, still wanted (desired ≤ COMPLETE) — or stale (shut down). */
function isQueueable(t: Task): boolean {
  return t.status.state === TaskState.PENDING && (isTracked(t) || t.desiredState >= TaskState.SHUTDOWN);
}
