/**
 * One node's assignment stream (reference §8.3): a COMPLETE set first (every task on the node whose observed
 * state is at least ASSIGNED), then INCREMENTAL messages built from store events, sent `batchMs` after the
 * last change (the dispatcher's, through an {@link AssignmentFlusher}; else the stream's own) or at once when
 * `maxChanges` are pending. `resultsIn` counts messages on this stream ("1", "2",
 * …) and `appliesTo` names the previous one ("" first), so the agent can detect a gap. Status-only changes of
 * a task the agent already has send nothing; a deleted task sends REMOVE. A consumer that falls behind by
 * `maxQueued` messages gets its backlog replaced by a fresh COMPLETE set (bounded memory per stream).
 */
import { TaskState, type Task } from '../api/objects.js';
import type { Timers, TimerHandle } from '../env/index.js';
import type { AssignmentChange, AssignmentsMessage } from '../transport/messages.js';
import { Channel } from './channel.js';

/** Options of an {@link AssignmentStream}. */
export interface AssignmentStreamOptions {
  nodeId: string;
  timers: Timers;
  batchMs: number;
  maxChanges: number;
  maxQueued: number;
  /** The node's current assignment set and the store index it reflects (a consistent read). */
  readSet: () => { tasks: readonly Readonly<Task>[]; index: number };
  /**
   * The dispatcher-wide debounce (see {@link AssignmentFlusher}). Without it the stream debounces on its own
   * changes only, with a timer of its own.
   */
  flusher?: AssignmentFlusher;
}

/**
 * One debounce for every assignment stream of a dispatcher: streams with pending changes are flushed together
 * `batchMs` after the last change on ANY stream, and never later than `maxDelayMs` after the first pending one.
 * Why not per stream: a scheduling pass of thousands of tasks commits as many Raft proposals, which on a busy
 * manager land more than `batchMs` apart, and a spread placement puts each node's tasks in different proposals:
 * a per-node debounce then sends each node one message per proposal (measured: 8.4 messages per node instead
 * of 1 for 10 tasks per node), and every message costs the agent a task-table write and a status report, which
 * cost the manager again. One timer also replaces one timer per node (re-armed lazily, not on every change).
 */
export class AssignmentFlusher {
  private readonly pending = new Set<AssignmentStream>();
  private timer: TimerHandle | undefined;
  private firstAtMs = 0;
  private lastAtMs = 0;

  constructor(private readonly o: { timers: Timers; batchMs: number; maxDelayMs: number }) {}

  /** A stream queued a change: it is flushed with the next batch. */
  changed(stream: AssignmentStream): void {
    const now = this.o.timers.now();
    if (this.pending.size === 0) this.firstAtMs = now;
    this.lastAtMs = now;
    this.pending.add(stream);
    if (this.timer === undefined) this.arm(now + this.o.batchMs);
  }

  /** A stream closed or flushed on its own: nothing of it is pending here any more. */
  forget(stream: AssignmentStream): void {
    this.pending.delete(stream);
  }

  /** Drops the timer and everything pending (dispatcher stopped). */
  stop(): void {
    if (this.timer !== undefined) this.o.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.pending.clear();
  }

  private arm(atMs: number): void {
    this.timer = this.o.timers.setTimeout(() => this.fire(), Math.max(0, atMs - this.o.timers.now()));
  }

  private fire(): void {
    this.timer = undefined;
    if (this.pending.size === 0) return;
    const dueMs = Math.min(this.lastAtMs + this.o.batchMs, this.firstAtMs + this.o.maxDelayMs);
    if (this.o.timers.now() < dueMs) {
      this.arm(dueMs); // changes came in since the timer was set: wait for the quiet period (or the bound)
      return;
    }
    const streams = [...this.pending];
    this.pending.clear();
    for (const s of streams) s.flushPending();
  }
}

/** Whether a task belongs in a node's assignment set. */
export function assignedTo(t: Readonly<Task>, nodeId: string): boolean {
  return t.nodeId === nodeId && t.status.state >= TaskState.ASSIGNED;
}

/**
 * True when two versions of a task differ only in status and meta (what the agent does not need again).
 * Stored objects are frozen and writers spread the old object, so unchanged fields are usually the very same
 * references: those are compared by identity, and only fields whose references differ are compared by value.
 */
export function equalIgnoringStatus(a: Readonly<Task>, b: Readonly<Task>): boolean {
  const ra = a as unknown as Record<string, unknown>;
  const rb = b as unknown as Record<string, unknown>;
  const keys = new Set([...Object.keys(ra), ...Object.keys(rb)]);
  for (const k of keys) {
    if (k === 'status' || k === 'meta') continue;
    const x = ra[k];
    const y = rb[k];
    if (x === y) continue;
    if (x === null || y === null || typeof x !== 'object' || typeof y !== 'object') return false;
    if (JSON.stringify(x) !== JSON.stringify(y)) return false;
  }
  return true;
}

/** The stream state of one Assignments call. */
export class AssignmentStream {
  readonly channel: Channel<AssignmentsMessage>;
  /** Store index the last COMPLETE set reflected: events at or below it are already included. */
  private baseIndex = 0;
  /** Tasks the agent has (sent as UPDATE and not removed since). */
  private readonly known = new Set<string>();
  private pending = new Map<string, AssignmentChange>();
  private timer: TimerHandle | undefined;
  private counter = 0;
  private lastResultsIn = '';
  private firstPendingAt = 0;

  constructor(private readonly o: AssignmentStreamOptions) {
    this.channel = new Channel<AssignmentsMessage>(o.maxQueued);
    this.sendComplete();
  }

  /** Queues a fresh COMPLETE set (initial message, store restored, watcher resync, slow consumer). */
  sendComplete(): void {
    this.clearTimer();
    this.pending.clear();
    const { tasks, index } = this.o.readSet();
    this.baseIndex = index;
    this.known.clear();
    const changes: AssignmentChange[] = [];
    for (const t of tasks) {
      if (!assignedTo(t, this.o.nodeId)) continue;
      this.known.add(t.id);
      changes.push({ action: 'UPDATE', assignmentJson: JSON.stringify({ task: t }) });
    }
    this.channel.replaceAll(this.message('COMPLETE', changes));
  }

  /** One task event (committed at store index `version`) that concerns this node. */
  onTaskEvent(kind: 'create' | 'update' | 'delete', task: Readonly<Task>, old: Readonly<Task> | undefined, version: number): void {
    if (version <= this.baseIndex || this.channel.closed) return;
    const id = task.id;
    if (kind === 'delete') {
      if (this.known.delete(id)) this.queue(id, { action: 'REMOVE', assignmentJson: JSON.stringify({ task }) });
      else this.pending.delete(id);
      return;
    }
    if (assignedTo(task, this.o.nodeId)) {
      if (kind === 'update' && old && this.known.has(id) && equalIgnoringStatus(old, task)) return;
      this.known.add(id);
      this.queue(id, { action: 'UPDATE', assignmentJson: JSON.stringify({ task }) });
    } else if (this.known.delete(id)) {
      // Moved off this node (not something SwarmKit does, but the agent must then let it go).
      this.queue(id, { action: 'REMOVE', assignmentJson: JSON.stringify({ task }) });
    }
  }

  /** Stops the stream's timer; the channel is ended by the caller. */
  close(): void {
    this.clearTimer();
    this.pending.clear();
    this.o.flusher?.forget(this);
  }

  /** Sends the pending changes now (called by the {@link AssignmentFlusher}). */
  flushPending(): void {
    this.flush();
  }

  private queue(id: string, change: AssignmentChange): void {
    this.pending.delete(id); // re-insert: order follows the latest change
    this.pending.set(id, change);
    if (this.pending.size >= this.o.maxChanges) {
      this.flush();
      return;
    }
    if (this.o.flusher) {
      this.o.flusher.changed(this);
      return;
    }
    // Debounced like SwarmKit (batchMs after the last change), but never later than 10 × batchMs after the
    // first pending change, so a steady trickle of changes cannot hold a message back without bound.
    const now = this.o.timers.now();
    if (this.pending.size === 1) this.firstPendingAt = now;
    const delayMs = Math.max(0, Math.min(this.o.batchMs, this.firstPendingAt + 10 * this.o.batchMs - now));
    this.clearTimer();
    this.timer = this.o.timers.setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, delayMs);
  }

  private flush(): void {
    this.clearTimer();
    if (this.pending.size === 0 || this.channel.closed) return;
    const changes = [...this.pending.values()];
    this.pending = new Map();
    if (!this.channel.push(this.message('INCREMENTAL', changes))) this.sendComplete();
  }

  private message(type: 'COMPLETE' | 'INCREMENTAL', changes: AssignmentChange[]): AssignmentsMessage {
    const resultsIn = String(++this.counter);
    const m: AssignmentsMessage = { type, appliesTo: this.lastResultsIn, resultsIn, changes };
    this.lastResultsIn = resultsIn;
    return m;
  }

  private clearTimer(): void {
    if (this.timer) this.o.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }
}
