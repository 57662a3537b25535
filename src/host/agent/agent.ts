/**
 * The agent (every node): keeps a session with the leader's dispatcher and runs what it is assigned.
 *
 *  start ─► TaskDb (state dir) ─► resumeTask for every record (running work is re-attached, not restarted)
 *        ─► session loop: Session(description) ─► first message = session id + manager list
 *              ├─ heartbeats at the period the dispatcher hands out
 *              ├─ Assignments: COMPLETE ⇒ tear down what is not listed; INCREMENTAL ⇒ apply (gap ⇒ reopen)
 *              ├─ status reports: persisted first, then sent (one UpdateTaskStatus per burst; what comes in
 *              │  while one is in flight goes statusBatchMs after it); all re-reported on a new session
 *              └─ description re-check every 20 s (a change restarts the session)
 *           on failure: jittered backoff 100 ms..8 s (min(100 + 2 × prev, 8000)), and a switch to another
 *           manager from the pushed list through `connect(addr)`.
 *
 * Each task is driven by a TaskRunner (the agent's state machine) over the executor's Controller; the
 * executor never reports anything itself. Everything waits on the injected Timers.
 */
import { hostname as osHostname } from 'node:os';
import { InvalidArgumentError, PermissionDeniedError } from '../api/errors.js';
import { TaskState, type NodeDescription, type Task, type TaskStatus } from '../api/objects.js';
import { withDeadline, type Rng, type TimerHandle, type Timers } from '../env/index.js';
import type { Fs } from '../env/fs.js';
import { Backoff } from '../transport/backoff.js';
import type { AssignmentsMessage, SessionMessage, WeightedPeer } from '../transport/messages.js';
import type { DispatcherClient } from './dispatcher-client.js';
import type { Controller, Executor } from './executor.js';
import { TaskDb, type TaskDbDone } from './task-db.js';
import { resumeTask } from './task-recovery.js';
import { DEFAULT_STOP_GRACE_MS, TaskRunner } from './task-runner.js';

/** Structured logger (pino-compatible subset). */
export interface AgentLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** The agent's tunables (ms unless named otherwise), SwarmKit's values by default. */
export interface AgentLimits {
  /** First session backoff, ms (100). */
  backoffMinMs: number;
  /** Session backoff ceiling, ms (8,000). */
  backoffMaxMs: number;
  /**
   * Reports queued while a status send is in flight are sent this long after it ends, ms (50), so a steady
   * trickle of changes is batched; a report queued while idle goes at once (next timer turn).
   */
  statusBatchMs: number;
  /** Most status updates in one UpdateTaskStatus call (1,000). */
  maxStatusBatch: number;
  /** Wait before resending reports after a failed UpdateTaskStatus, ms (1,000). */
  statusRetryMs: number;
  /** How often the node description is re-checked, ms (20,000). */
  descriptionCheckMs: number;
  /** Bound on tearing down one task (shutdown + remove), on top of its stop grace period, ms (30,000). */
  teardownExtraMs: number;
}

/** SwarmKit's numbers (reference §8.2, §14). */
export const DEFAULT_AGENT_LIMITS: Readonly<AgentLimits> = Object.freeze({
  backoffMinMs: 100,
  backoffMaxMs: 8_000,
  statusBatchMs: 50,
  maxStatusBatch: 1_000,
  statusRetryMs: 1_000,
  descriptionCheckMs: 20_000,
  teardownExtraMs: 30_000,
});

/** What an agent is built from. */
export interface AgentOptions {
  nodeId: string;
  executor: Executor;
  timers: Timers;
  rng: Rng;
  /** Where tasks.json lives (`<stateDir>/worker/tasks.json`). */
  stateDir: string;
  /** The first manager to talk to. */
  dispatcher: DispatcherClient;
  /** Makes a client for another manager address (failover). Without it the agent stays on `dispatcher`. */
  connect?: (addr: string) => DispatcherClient;
  /**
   * The managers known before any session (e.g. the list the node layer persisted): failover candidates until
   * a session pushes a fresh list. Without it, an agent whose first manager is down never finds another.
   */
  managers?: readonly WeightedPeer[];
  logger: AgentLogger;
  /** Hostname reported in the description (default: the executor's, else the OS hostname). */
  hostname?: string;
  /**
   * Told about every session message (node object, manager list, root CA), e.g. for the node layer to react
   * to a desired-role change or to persist the manager list. Must not throw.
   */
  onSessionMessage?: (m: SessionMessage) => void;
  limits?: Partial<AgentLimits>;
  /** File-system seam for the task table (the deterministic simulation passes a SimFs); default node:fs. */
  fs?: Fs;
}

interface TaskEntry {
  task: Task;
  runner: TaskRunner | undefined;
  controller: Controller | undefined;
  /** Resolves once runner/controller exist (or creation failed). */
  ready: Promise<void>;
  /** Set when a teardown started: a late creation must not start the runner. */
  tornDown: boolean;
  /** Told when a status of this task is durable (made once per task; see TaskDb.updateStatusThen). */
  durable: TaskDbDone;
}

/** Ends a session on purpose (description changed): not a failure, no failover. */
class SessionRestart extends Error {}

/** The node agent. `start()` once, `stop()` to detach (running tasks keep running). */
export class Agent {
  private readonly limits: AgentLimits;
  private db: TaskDb | undefined;
  private readonly tasks = new Map<string, TaskEntry>();
  private client: DispatcherClient;
  private readonly ownedClients = new Set<DispatcherClient>();
  private managerList: WeightedPeer[] = [];
  private currentSessionId = '';
  private readonly stopAc = new AbortController();
  private loop: Promise<void> | undefined;
  private readonly pendingReports = new Map<string, TaskStatus>();
  private reportTimer: TimerHandle | undefined;
  private reporting = false;
  private sentDescription = '';
  /** Sessions opened so far (observability and tests). */
  sessionsOpened = 0;

  constructor(private readonly o: AgentOptions) {
    this.limits = { ...DEFAULT_AGENT_LIMITS, ...o.limits };
    for (const [k, v] of Object.entries(this.limits)) {
      if (!Number.isFinite(v) || v <= 0) throw new InvalidArgumentError(`agent.limits.${k}: must be a positive number, got ${v}`);
    }
    this.client = o.dispatcher;
    this.managerList = (o.managers ?? []).map((m) => ({ ...m }));
  }

  /** Current session id ('' while not connected). */
  get sessionId(): string {
    return this.currentSessionId;
  }

  /** The manager list last pushed by the dispatcher. */
  get managers(): readonly WeightedPeer[] {
    return this.managerList;
  }

  /** Address of the manager currently used. */
  get managerAddr(): string {
    return this.client.addr;
  }

  /** The status the agent last observed for a task (undefined when it does not hold the task). */
  taskStatus(taskId: string): TaskStatus | undefined {
    return this.tasks.get(taskId)?.runner?.status;
  }

  /** Ids of the tasks the agent holds. */
  taskIds(): string[] {
    return [...this.tasks.keys()];
  }

  /** Opens the task table, re-attaches persisted tasks, and starts the session loop. */
  async start(): Promise<void> {
    if (this.loop) throw new InvalidArgumentError('agent.start: already started');
    this.db = await TaskDb.open(this.o.stateDir, this.o.fs);
    await this.db.openJournal(); // now rather than on the first assignment
    for (const record of this.db.list()) this.createEntry(record.task);
    await Promise.all([...this.tasks.values()].map((e) => e.ready));
    this.loop = this.sessionLoop();
  }

  /** Stops the session and detaches from the tasks WITHOUT stopping them; the task table is flushed and closed. */
  async stop(): Promise<void> {
    this.stopAc.abort();
    if (this.reportTimer) this.o.timers.clearTimeout(this.reportTimer);
    this.reportTimer = undefined;
    await this.loop;
    for (const e of this.tasks.values()) {
      await e.ready;
      e.runner?.stop();
    }
    await this.db?.close();
    for (const c of this.ownedClients) c.close();
    this.ownedClients.clear();
  }

  // ------------------------------------------------------------------ session

  private async sessionLoop(): Promise<void> {
    const backoff = new Backoff(this.o.rng, { minMs: this.limits.backoffMinMs, maxMs: this.limits.backoffMaxMs });
    const stop = this.stopAc.signal;
    while (!stop.aborted) {
      let established = false;
      let failure: unknown;
      try {
        await this.runSession(() => {
          established = true;
          backoff.reset();
        });
      } catch (err) {
        failure = err;
      }
      this.currentSessionId = '';
      if (stop.aborted) break;
      if (failure instanceof SessionRestart) continue;
      const delayMs = backoff.nextDelayMs();
      this.o.logger.warn(
        { err: failure instanceof Error ? failure.message : String(failure), delayMs, manager: this.client.addr, established },
        'agent: session ended; reconnecting',
      );
      if (!(failure instanceof InvalidArgumentError)) this.failover();
      await this.sleep(delayMs, stop);
    }
  }

  /** Switches to another manager of the pushed list (weights as pushed), when a factory was given. */
  private failover(): void {
    const connect = this.o.connect;
    if (!connect) return;
    const others = this.managerList.filter((m) => m.addr !== '' && m.addr !== this.client.addr);
    if (others.length === 0) return;
    const total = others.reduce((s, m) => s + Math.max(1, m.weight), 0);
    let pick = this.o.rng.next() * total;
    let chosen = others[others.length - 1]!;
    for (const m of others) {
      pick -= Math.max(1, m.weight);
      if (pick < 0) {
        chosen = m;
        break;
      }
    }
    const old = this.client;
    this.client = connect(chosen.addr);
    this.ownedClients.add(this.client);
    if (this.ownedClients.delete(old)) old.close();
    this.o.logger.info({ from: old.addr, to: chosen.addr }, 'agent: switching manager');
  }

  private async runSession(onEstablished: () => void): Promise<void> {
    const ac = new AbortController();
    const stop = this.stopAc.signal;
    const onStop = (): void => ac.abort();
    stop.addEventListener('abort', onStop, { once: true });
    const client = this.client;
    let failure: unknown;
    const fail = (err: unknown): void => {
      if (failure === undefined) failure = err;
      ac.abort();
    };
    try {
      const description = await this.describe();
      const it = client.session({ descriptionJson: description, sessionId: '' }, ac.signal)[Symbol.asyncIterator]();
      const first = await it.next();
      if (first.done === true) throw new Error('session stream ended before its first message');
      this.sentDescription = description;
      this.onSessionMessage(first.value);
      const sessionId = first.value.sessionId;
      this.currentSessionId = sessionId;
      this.sessionsOpened++;
      onEstablished();
      this.o.logger.info({ sessionId, manager: client.addr }, 'agent: session established');
      this.reReportAll();
      const loops = [
        this.sessionMessages(it, ac.signal).then(() => fail(new Error('session stream ended')), fail),
        this.heartbeats(client, sessionId, ac.signal).catch(fail),
        this.assignmentsLoop(client, sessionId, ac.signal).catch(fail),
        this.descriptionChecks(ac.signal).catch(fail),
      ];
      await Promise.all(loops);
    } catch (err) {
      fail(err);
    } finally {
      stop.removeEventListener('abort', onStop);
      ac.abort();
    }
    if (!stop.aborted) throw failure ?? new Error('session ended');
  }

  private async sessionMessages(it: AsyncIterator<SessionMessage>, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const r = await it.next();
      if (r.done === true) return;
      this.onSessionMessage(r.value);
    }
  }

  private onSessionMessage(m: SessionMessage): void {
    if (m.managers.length > 0) this.managerList = m.managers.map((x) => ({ ...x }));
    try {
      this.o.onSessionMessage?.(m);
    } catch (err) {
      this.o.logger.error({ err: String(err) }, 'agent: onSessionMessage hook threw');
    }
  }

  private async heartbeats(client: DispatcherClient, sessionId: string, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const res = await client.heartbeat({ sessionId }, signal);
      if (signal.aborted) return;
      await this.sleep(Math.max(1, res.periodMs), signal);
    }
  }

  private async descriptionChecks(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.sleep(this.limits.descriptionCheckMs, signal);
      if (signal.aborted) return;
      const now = await this.describe();
      if (now !== this.sentDescription) throw new SessionRestart('node description changed');
    }
  }

  private async describe(): Promise<string> {
    const part = await this.o.executor.describe();
    const d: NodeDescription = {
      hostname: this.o.hostname ?? (part.hostname || osHostname()),
      platform: part.platform,
      resources: part.resources,
      engine: part.engine,
      executor: this.o.executor.name,
    };
    return JSON.stringify(d);
  }

  // ------------------------------------------------------------------ assignments

  private async assignmentsLoop(client: DispatcherClient, sessionId: string, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      let last = '';
      let gap = false;
      const streamAc = new AbortController();
      const onAbort = (): void => streamAc.abort();
      signal.addEventListener('abort', onAbort, { once: true });
      // Each message is read and applied in a frame of its own (nextAssignments), so the loop keeps no reference
      // to the last message while it waits for the next one (a COMPLETE set can be megabytes).
      const it = client.assignments({ sessionId }, streamAc.signal)[Symbol.asyncIterator]();
      let ended = false;
      try {
        for (;;) {
          const step = await this.nextAssignments(it, last);
          if (step.kind === 'done') {
            ended = true;
            break;
          }
          if (step.kind === 'gap') {
            gap = true; // a message went missing: reopen the stream to get a fresh COMPLETE set
            break;
          }
          last = step.resultsIn;
        }
      } finally {
        signal.removeEventListener('abort', onAbort);
        streamAc.abort();
        // As `for await` does when it leaves a stream early; the stream is aborted just above anyway.
        if (!ended) await it.return?.().catch(() => undefined);
      }
      if (signal.aborted) return;
      if (!gap) throw new Error('assignments stream ended');
      this.o.logger.warn({ sessionId }, 'agent: gap in the assignments stream; reopening');
    }
  }

  /** Reads the next assignments message and applies it, unless it shows a gap after `last` (its `resultsIn`). */
  private async nextAssignments(
    it: AsyncIterator<AssignmentsMessage>,
    last: string,
  ): Promise<{ kind: 'done' } | { kind: 'gap' } | { kind: 'applied'; resultsIn: string }> {
    const r = await it.next();
    if (r.done === true) return { kind: 'done' };
    const m = r.value;
    if (m.type === 'INCREMENTAL' && m.appliesTo !== last) return { kind: 'gap' };
    await this.applyAssignments(m);
    return { kind: 'applied', resultsIn: m.resultsIn };
  }

  private async applyAssignments(m: AssignmentsMessage): Promise<void> {
    const updates: Task[] = [];
    /** Per update, the assignment's JSON when it holds the task alone: the task table journals that text as is. */
    const sources: (string | undefined)[] = [];
    const removes: string[] = [];
    for (const c of m.changes) {
      let parsed: { task?: Task };
      try {
        parsed = JSON.parse(c.assignmentJson) as { task?: Task };
      } catch {
        throw new InvalidArgumentError('assignments.changes.assignmentJson: must be valid JSON');
      }
      if (!parsed.task || typeof parsed.task.id !== 'string') continue; // secrets/configs/volumes: not handled by this agent yet
      if (c.action === 'REMOVE') removes.push(parsed.task.id);
      else {
        updates.push(parsed.task);
        sources.push(Object.keys(parsed).length === 1 ? c.assignmentJson : undefined);
      }
    }
    const teardowns: Promise<void>[] = [];
    if (m.type === 'COMPLETE') {
      const keep = new Set(updates.map((t) => t.id));
      for (const id of [...this.tasks.keys()]) if (!keep.has(id)) teardowns.push(this.teardown(id));
    }
    for (let i = 0; i < updates.length; i++) this.applyTask(updates[i]!, sources[i]);
    for (const id of removes) teardowns.push(this.teardown(id));
    // Teardowns run in the background (a stop may take the task's grace period); the stream goes on.
    for (const p of teardowns) p.catch((err: unknown) => this.o.logger.error({ err: String(err) }, 'agent: teardown failed'));
  }

  /** `source`: the JSON text `{"task": …}` the task was parsed from, when it holds nothing else (see TaskDb.put). */
  private applyTask(task: Task, source: string | undefined): void {
    const e = this.tasks.get(task.id);
    if (!e) {
      this.createEntry(task, source);
      return;
    }
    if (e.tornDown) return;
    e.task = task;
    e.runner?.setDesired(task.desiredState);
    const rec = this.db!.get(task.id);
    if (rec && rec.task.desiredState !== task.desiredState) {
      void this.db!.put({ ...rec, task }, source).catch((err: unknown) => this.o.logger.error({ err: String(err) }, 'agent: task db write failed'));
    }
  }

  /** Creates the runner of a task: resumed from its record when there is one, else fresh. */
  private createEntry(task: Task, source?: string): void {
    const taskId = task.id;
    const entry: TaskEntry = {
      task,
      runner: undefined,
      controller: undefined,
      ready: Promise.resolve(),
      tornDown: false,
      durable: (err, written) => {
        if (err !== undefined) this.o.logger.error({ taskId, err: String(err) }, 'agent: task db write failed');
        else if (written !== undefined && this.tasks.has(taskId)) this.queueReport(taskId, written);
      },
    };
    this.tasks.set(task.id, entry);
    // A method, not a closure here: the closures above (kept as long as the task) must not share a context
    // with `source`, or every task would keep its assignment's text alive.
    entry.ready = this.startEntry(entry, task, source).catch((err: unknown) => this.o.logger.error({ taskId, err: String(err) }, 'agent: could not start task'));
  }

  /** Persists a new task's record (or raises a known one's desired state), then makes and starts its runner. */
  private async startEntry(entry: TaskEntry, task: Task, source: string | undefined): Promise<void> {
    const taskId = task.id;
    const db = this.db!;
    let rec = db.get(task.id);
    let controller: Controller;
    let status: TaskStatus;
    if (!rec) {
      // A new task: nothing to re-attach to (what resumeTask would decide too, without its extra turns).
      rec = { task, status: task.status };
      await db.put(rec, source);
      controller = this.o.executor.controller(task);
      status = rec.status;
    } else {
      if (rec.task.desiredState < task.desiredState) await db.put({ ...rec, task }, source);
      try {
        ({ controller, status } = await resumeTask(this.o.executor, rec, this.o.timers));
      } catch (err) {
        // A temporary failure to re-attach: drive a fresh controller (its calls are idempotent).
        this.o.logger.warn({ taskId: task.id, err: String(err) }, 'agent: recover failed; using a fresh controller');
        controller = this.o.executor.controller(rec.task);
        status = rec.status;
      }
    }
    if (status !== rec.status) {
      await db.updateStatus(task.id, status);
      this.queueReport(task.id, status);
    }
    if (entry.tornDown) {
      entry.controller = controller;
      return;
    }
    const runTask = entry.task.desiredState >= rec.task.desiredState ? entry.task : rec.task;
    const runner = new TaskRunner({
      task: runTask,
      controller,
      timers: this.o.timers,
      initialStatus: status,
      onStatus: (s, h) => this.db!.updateStatusThen(taskId, s, h, entry.durable), // reported once durable
      onError: (op, err, willRetry) => this.o.logger.warn({ taskId: task.id, op, err: String(err), willRetry }, 'agent: controller call failed'),
    });
    entry.controller = controller;
    entry.runner = runner;
    runner.setDesired(entry.task.desiredState);
    void runner.run();
  }

  /** Stops driving a task, stops and removes its process/container, forgets its record. */
  private async teardown(taskId: string): Promise<void> {
    const e = this.tasks.get(taskId);
    if (!e) return;
    e.tornDown = true;
    this.tasks.delete(taskId);
    await e.ready;
    e.runner?.stop();
    const c = e.controller ?? this.o.executor.controller(e.task);
    const grace = e.task.spec?.container?.stopGracePeriodMs || DEFAULT_STOP_GRACE_MS;
    try {
      await this.bounded(c.shutdown(grace), grace + this.limits.teardownExtraMs, 'shutdown');
    } catch (err) {
      this.o.logger.warn({ taskId, err: String(err) }, 'agent: shutdown during teardown failed; removing anyway');
    }
    await this.bounded(c.remove(), this.limits.teardownExtraMs, 'remove');
    this.pendingReports.delete(taskId);
    await this.db!.delete(taskId);
  }

  // ------------------------------------------------------------------ status reports

  private queueReport(taskId: string, status: TaskStatus): void {
    const prev = this.pendingReports.get(taskId);
    if (prev && prev.state > status.state) return;
    this.pendingReports.set(taskId, status);
    // Idle: send on the next timer turn (reports made durable by the same task-table write go together).
    // Reports queued while a send is in flight wait for it, then statusBatchMs more (see sendReports).
    this.scheduleReports(this.reporting ? this.limits.statusBatchMs : 0);
  }

  /** On a new session: every held task's last status is reported again (the new leader may have missed some). */
  private reReportAll(): void {
    for (const r of this.db?.list() ?? []) {
      if (r.status.state > TaskState.ASSIGNED && this.tasks.has(r.task.id)) this.queueReport(r.task.id, r.status);
    }
  }

  private scheduleReports(delayMs: number): void {
    if (this.reportTimer || this.stopAc.signal.aborted) return;
    this.reportTimer = this.o.timers.setTimeout(() => {
      this.reportTimer = undefined;
      void this.sendReports();
    }, delayMs);
  }

  private async sendReports(): Promise<void> {
    if (this.reporting || this.pendingReports.size === 0) return;
    const sessionId = this.currentSessionId;
    if (sessionId === '') return; // sent by reReportAll once a session exists
    this.reporting = true;
    const batch: [string, TaskStatus][] = [];
    for (const [id, s] of this.pendingReports) {
      batch.push([id, s]);
      if (batch.length >= this.limits.maxStatusBatch) break;
    }
    for (const [id] of batch) this.pendingReports.delete(id);
    let retry = false;
    try {
      await this.client.updateTaskStatus(
        { sessionId, updates: batch.map(([taskId, s]) => ({ taskId, statusJson: JSON.stringify(s) })) },
        this.stopAc.signal,
      );
    } catch (err) {
      if (err instanceof PermissionDeniedError) {
        this.o.logger.warn({ err: err.message, tasks: batch.length }, 'agent: status reports refused; dropped');
      } else {
        for (const [id, s] of batch) {
          const newer = this.pendingReports.get(id);
          if (!newer || newer.state < s.state) this.pendingReports.set(id, s);
        }
        retry = true;
      }
    } finally {
      this.reporting = false;
    }
    if (this.pendingReports.size > 0) this.scheduleReports(retry ? this.limits.statusRetryMs : this.limits.statusBatchMs);
  }

  // ------------------------------------------------------------------ helpers

  private sleep(ms: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      const h = this.o.timers.setTimeout(done, ms);
      const onAbort = (): void => {
        this.o.timers.clearTimeout(h);
        done();
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private bounded<T>(p: Promise<T>, ms: number, op: string): Promise<T> {
    return withDeadline(this.o.timers, p, ms, () => new Error(`agent: ${op} did not finish within ${ms} ms`));
  }
}
