/**
 * The leader's orchestration loop: everything SwarmKit runs only on the leader between the store and the
 * dispatcher — the replicated / global / jobs orchestrators, the allocator step (NEW → PENDING), the scheduler
 * host, the restart supervisor's delayed starts, the rolling updater, the task reaper and the constraint enforcer.
 * Driven by one store watcher and the injected timers; every decision comes from a pure core (or a plugin) and is
 * applied to the store, one Plan per transaction. See docs/orchestration-host.md.
 */
import {
  TaskState,
  type Cluster,
  type Node,
  type Service,
  type Task,
} from '../api/index.js';
import type { Clock, Rng, TimerHandle, Timers } from '../env/index.js';
import { WatchOverflowError, newId as makeId, type ReadTx, type Store, type StoreEvent, type Watcher } from '../store/index.js';
import { FailureTracker, nodeMatches, parseConstraints, type Constraint } from '../scheduler/index.js';
import {
  DEFAULT_TASK_HISTORY_RETENTION,
  REAPER_BATCH_DELAY_MS,
  REAPER_MAX_PENDING,
  builtinOrchestrators,
  enforceConstraints,
  initialUpdaterState,
  isEmptyPlan,
  isGlobalKind,
  isJobKind,
  mergePlans,
  reapTasks,
  serviceKind,
  startupFixups,
  stepUpdater,
  type OrchestratorPlugin,
  type Plan,
  type ServiceKind,
  type UpdaterState,
} from '../../plugins/orchestrators/index.js';
import { RestartSupervisor, defaultRestartPolicy, type WorldView } from '../../plugins/restart/index.js';
import type { RestartPolicyPlugin } from '../../plugins/contracts.js';
import { allocated, applyPlanInTx, checkBasis, isOutOfSequence, planChunks, type PlanBasis } from './apply-plan.js';
import { SchedulerHost, type PassStrategy } from './scheduler-host.js';

/** Per-watcher buffer of the orchestration watcher, events; on overflow the loop resynchronises from a full read. */
export const DEFAULT_ORCHESTRATION_WATCH_BUFFER_EVENTS = 1_000_000;

/**
 * Delay before work whose write failed for another reason than "out of sequence" (a leadership transfer in
 * progress, lost quorum) is tried again, ms. Without it such work was dropped until an unrelated event.
 */
export const WRITE_RETRY_DELAY_MS = 1_000;

/** Most reconciles of one service retried in a row after "update out of sequence" before waiting for an event. */
export const MAX_OUT_OF_SEQUENCE_RETRIES = 5;

/** Minimal structured logger. */
export interface OrchestrationLogger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** The swappable manager-side plugins; defaults are the built-ins. */
export interface OrchestrationPlugins {
  /** Orchestrators by the service kinds they own; the first that lists a kind wins. */
  orchestrators?: readonly OrchestratorPlugin[];
  restartPolicy?: RestartPolicyPlugin;
  /** Scheduling strategy running whole passes (the plugin host's); default the built-in pipeline. */
  strategy?: PassStrategy;
}

/** Construction options. Durations in ms. */
export interface LeaderOrchestrationOptions {
  store: Store;
  timers: Timers;
  rng: Rng;
  clock: Clock;
  logger?: OrchestrationLogger;
  plugins?: OrchestrationPlugins;
  /** Scheduler debounce after the last change, ms (default 50). */
  schedulerDebounceMs?: number;
  /** Scheduler latency bound from the first change, ms (default 1000). */
  schedulerMaxLatencyMs?: number;
  /** Reaper batching delay, ms (default 250). */
  reaperBatchDelayMs?: number;
  /** Watcher buffer, events (default 1,000,000; overflow triggers a full resync). */
  watchBufferEvents?: number;
}

const noopLogger: OrchestrationLogger = { info() {}, warn() {}, error() {} };

/** Live counters, for tests and benchmarks. */
export interface OrchestrationStats {
  passes: number;
  reconciles: number;
  plansApplied: number;
  outOfSequence: number;
  resyncs: number;
}

/**
 * The leader-only orchestration components over one store. `start()` on leadership gain, `stop()` on loss:
 * stop cancels every timer and the watcher, and no write is made after it (queued writes turn into no-ops).
 */
export class LeaderOrchestration {
  private readonly store: Store;
  private readonly timers: Timers;
  private readonly clock: Clock;
  private readonly rng: Rng;
  private readonly log: OrchestrationLogger;
  private readonly orchestrators: readonly OrchestratorPlugin[];
  private readonly supervisor: RestartSupervisor;
  /** Recent failures per (node, service version): the scheduler deprioritises such nodes. */
  readonly failures: FailureTracker;
  /** The scheduler host (node table, queue, passes). */
  readonly scheduler: SchedulerHost;
  private readonly reaperDelayMs: number;
  private readonly watchBuffer: number;

  private running = false;
  private watcher: Watcher | undefined;
  private loop: Promise<void> | undefined;
  private passActive = false;
  private passQueued = false;
  private passAgain = false;
  private passIdle: (() => void)[] = [];

  private readonly kinds = new Map<string, ServiceKind>();
  private readonly dirtyServices = new Set<string>();
  private readonly retries = new Map<string, number>();
  private readonly newTasks = new Set<string>();
  private readonly enforceNodes = new Set<string>();
  private restartDue = false;
  private restartTimer: { handle: TimerHandle; atMs: number } | undefined;
  private startupPlan: Plan | undefined;
  private readonly updaters = new Map<string, UpdaterState>();
  private readonly updaterTimers = new Map<string, { handle: TimerHandle; atMs: number }>();
  private readonly reaperServices = new Set<string>();
  private reaperTimer: TimerHandle | undefined;
  private reaperActive = false;
  private readonly constraintCache = new Map<string, Constraint[] | null>();
  private writeRetryTimer: TimerHandle | undefined;
  /**
   * Plans whose write failed, applied again by the next pass: delayed starts (setDesired only) and start-up
   * fix-ups (deletes only), both safe to apply again (raises that are no longer raises and deletes of tasks that
   * are gone are skipped).
   */
  private readonly retryPlans: Plan[] = [];

  /** Counters (observability). */
  readonly stats: OrchestrationStats = { passes: 0, reconciles: 0, plansApplied: 0, outOfSequence: 0, resyncs: 0 };

  constructor(opts: LeaderOrchestrationOptions) {
    this.store = opts.store;
    this.timers = opts.timers;
    this.clock = opts.clock;
    this.rng = opts.rng;
    this.log = opts.logger ?? noopLogger;
    this.orchestrators = opts.plugins?.orchestrators ?? builtinOrchestrators;
    const policy = opts.plugins?.restartPolicy ?? defaultRestartPolicy;
    this.supervisor = new RestartSupervisor({ decide: (i) => policy.decide(i) });
    this.failures = new FailureTracker(this.clock);
    this.reaperDelayMs = opts.reaperBatchDelayMs ?? REAPER_BATCH_DELAY_MS;
    this.watchBuffer = opts.watchBufferEvents ?? DEFAULT_ORCHESTRATION_WATCH_BUFFER_EVENTS;
    const sched: ConstructorParameters<typeof SchedulerHost>[0] = {
      store: this.store,
      timers: this.timers,
      clock: this.clock,
      failures: this.failures,
      isRunning: () => this.running,
      onError: (what, e) => this.log.error(`${what} failed`, { error: String(e) }),
    };
    if (opts.schedulerDebounceMs !== undefined) sched.debounceMs = opts.schedulerDebounceMs;
    if (opts.schedulerMaxLatencyMs !== undefined) sched.maxLatencyMs = opts.schedulerMaxLatencyMs;
    if (opts.plugins?.strategy) sched.strategy = opts.plugins.strategy;
    this.scheduler = new SchedulerHost(sched);
  }

  /** True between start() and stop(). */
  get isRunning(): boolean {
    return this.running;
  }

  /** The restart supervisor (read-only use: pending starts, history). */
  get restartSupervisor(): RestartSupervisor {
    return this.supervisor;
  }

  /** Begins orchestrating: full read, leader start-up fix-ups, then event-driven work. Idempotent. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.resync(true);
    this.loop = this.consume();
  }

  /**
   * Stops orchestrating: closes the watcher, cancels every timer, and resolves once the work in progress has
   * finished. Writes still queued in the store when stop() is called find `running` false and change nothing.
   */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.watcher?.close();
    this.watcher = undefined;
    if (this.restartTimer) this.timers.clearTimeout(this.restartTimer.handle);
    this.restartTimer = undefined;
    for (const t of this.updaterTimers.values()) this.timers.clearTimeout(t.handle);
    this.updaterTimers.clear();
    if (this.reaperTimer) this.timers.clearTimeout(this.reaperTimer);
    this.reaperTimer = undefined;
    if (this.writeRetryTimer) this.timers.clearTimeout(this.writeRetryTimer);
    this.writeRetryTimer = undefined;
    const waits: Promise<void>[] = [this.scheduler.stop()];
    if (this.loop) waits.push(this.loop);
    if (this.passActive || this.passQueued) waits.push(new Promise((r) => this.passIdle.push(r)));
    await Promise.all(waits);
    this.loop = undefined;
    this.dirtyServices.clear();
    this.newTasks.clear();
    this.enforceNodes.clear();
    this.reaperServices.clear();
    this.updaters.clear();
  }

  // ------------------------------------------------------------------ events

  private resync(initial: boolean): void {
    this.watcher?.close();
    const { result, watcher } = this.store.viewAndWatch(
      (tx) => ({
        nodes: tx.list('nodes') as Node[],
        services: tx.list('services') as Service[],
        tasks: tx.list('tasks') as Task[],
      }),
      { tables: ['nodes', 'services', 'tasks'], bufferSize: this.watchBuffer },
    );
    this.watcher = watcher;
    const { nodes, services, tasks } = result;
    this.kinds.clear();
    for (const s of services) {
      this.kinds.set(s.id, serviceKind(s.spec.mode));
      this.dirtyServices.add(s.id);
      this.reaperServices.add(s.id);
    }
    this.scheduler.reset(nodes, tasks);
    for (const t of tasks) if (t.status.state === TaskState.NEW) this.newTasks.add(t.id);
    for (const n of nodes) this.enforceNodes.add(n.id);
    if (initial) {
      this.supervisor.rebuild(services, tasks);
      this.restartDue = true;
      const byId: Record<string, Service> = {};
      for (const s of services) byId[s.id] = s;
      const fix = startupFixups(byId, tasks);
      if (!isEmptyPlan(fix)) this.startupPlan = fix;
    } else {
      this.stats.resyncs++;
      this.updaters.clear();
    }
    this.scheduleReaper();
    this.kick();
  }

  private async consume(): Promise<void> {
    while (this.running && this.watcher) {
      const w = this.watcher;
      try {
        for await (const ev of w) {
          if (!this.running) return;
          this.onEvent(ev);
        }
      } catch (e) {
        if (e instanceof WatchOverflowError && this.running) {
          this.log.warn('orchestration watcher overflowed; resynchronising', { bufferSize: e.bufferSize });
          this.resync(false);
          continue;
        }
        this.log.error('orchestration watcher failed', { error: String(e) });
      }
      if (this.watcher === w) return;
    }
  }

  private onEvent(ev: StoreEvent): void {
    if (ev.kind === 'commit') {
      this.kick();
      return;
    }
    if (ev.kind === 'restored') {
      this.resync(false);
      return;
    }
    if (ev.table === 'services') {
      const s = ev.object as Service;
      if (ev.kind === 'delete') {
        this.kinds.delete(s.id);
        this.scheduler.onServiceDeleted(s.id);
        this.clearUpdater(s.id);
      } else {
        this.kinds.set(s.id, serviceKind(s.spec.mode));
      }
      this.dirtyServices.add(s.id);
      this.reaperServices.add(s.id);
      this.scheduleReaper();
      return;
    }
    if (ev.table === 'nodes') {
      const n = ev.object as Node;
      const old = ev.kind === 'update' ? (ev.old as Node) : undefined;
      this.scheduler.onNode(n.id);
      if (ev.kind !== 'delete') this.enforceNodes.add(n.id);
      const relevant =
        ev.kind !== 'update' ||
        old!.status.state !== n.status.state ||
        old!.spec.availability !== n.spec.availability ||
        JSON.stringify(old!.spec.annotations.labels) !== JSON.stringify(n.spec.annotations.labels);
      if (!relevant) return;
      // Global kinds place per node; other services only care about the tasks that sit on this node.
      for (const [id, kind] of this.kinds) if (isGlobalKind(kind)) this.dirtyServices.add(id);
      if (ev.kind !== 'create') {
        this.store.view((tx) => {
          for (const t of tx.find('tasks', { nodeId: n.id })) if (t.desiredState <= TaskState.COMPLETE) this.dirtyServices.add(t.serviceId);
        });
      }
      this.restartDue = true;
      return;
    }
    // tasks
    const t = ev.object as Task;
    if (ev.kind === 'delete') {
      this.scheduler.onTask(undefined, t);
      this.newTasks.delete(t.id);
      this.supervisor.forgetTask(t.serviceId, t.id);
      if (t.desiredState <= TaskState.RUNNING) this.dirtyServices.add(t.serviceId);
      return;
    }
    const old = ev.kind === 'update' ? (ev.old as Task) : undefined;
    this.scheduler.onTask(t, old);
    if (t.status.state === TaskState.NEW) this.newTasks.add(t.id);
    if (!old) {
      this.reaperServices.add(t.serviceId);
      this.scheduleReaper();
      return;
    }
    const stateChanged = old.status.state !== t.status.state;
    if (stateChanged) {
      if (
        (t.status.state === TaskState.FAILED || t.status.state === TaskState.REJECTED) &&
        old.status.state < TaskState.FAILED &&
        t.nodeId !== ''
      ) {
        this.failures.record(t.nodeId, t.serviceId, t.specVersion);
      }
      if (t.status.state > TaskState.RUNNING) {
        this.dirtyServices.add(t.serviceId);
        this.restartDue = true;
        this.reaperServices.add(t.serviceId);
        this.scheduleReaper();
      } else if (this.updaterActive(t.serviceId)) {
        this.dirtyServices.add(t.serviceId);
      }
    }
    if (old.desiredState !== t.desiredState && t.desiredState === TaskState.REMOVE) {
      this.reaperServices.add(t.serviceId);
      this.scheduleReaper();
    }
  }

  private updaterActive(serviceId: string): boolean {
    const u = this.updaters.get(serviceId);
    return u !== undefined && (u.phase === 'updating' || u.phase === 'monitoring');
  }

  // ------------------------------------------------------------------ the pass

  /** Runs a pass soon (coalesced; one pass at a time). */
  private kick(): void {
    if (!this.running) return;
    if (this.passActive) {
      this.passAgain = true;
      return;
    }
    if (this.passQueued) return;
    this.passQueued = true;
    queueMicrotask(() => {
      this.passQueued = false;
      void this.runPasses();
    });
  }

  private async runPasses(): Promise<void> {
    if (!this.running) {
      for (const r of this.passIdle.splice(0)) r();
      return;
    }
    this.passActive = true;
    try {
      do {
        this.passAgain = false;
        await this.pass();
      } while (this.passAgain && this.running);
    } catch (e) {
      this.log.error('orchestration pass failed', { error: String(e), stack: e instanceof Error ? e.stack : undefined });
    } finally {
      this.passActive = false;
      for (const r of this.passIdle.splice(0)) r();
    }
  }

  private async pass(): Promise<void> {
    this.stats.passes++;
    if (this.startupPlan) {
      const p = this.startupPlan;
      this.startupPlan = undefined;
      // Deletes only (tasks of services that are gone), safe to apply again: a failed write is retried.
      if (!(await this.applyPlan(p, undefined))) this.retryWrite(() => this.retryPlans.push(p));
    }
    if (this.running && this.retryPlans.length > 0) {
      const plans = this.retryPlans.splice(0);
      for (const p of plans) if (!(await this.applyPlan(p, undefined))) this.retryWrite(() => this.retryPlans.push(p));
    }
    if (this.running && this.newTasks.size > 0) await this.allocate();
    if (this.running && this.dirtyServices.size > 0) await this.reconcileDirty();
    if (this.running && this.restartDue) await this.runRestartDue();
    if (this.running && this.enforceNodes.size > 0) await this.enforce();
  }

  /** The allocator step: NEW → PENDING "pending task scheduling", one batch. */
  private async allocate(): Promise<void> {
    const ids = [...this.newTasks];
    this.newTasks.clear();
    const nowMs = this.clock.now();
    const res = await this.store.batch((b) => {
      for (const id of ids) {
        b.update((tx) => {
          if (!this.running) return;
          const t = tx.get('tasks', id);
          if (!t || t.status.state !== TaskState.NEW) return;
          tx.update('tasks', allocated(t as Task, nowMs));
        });
      }
    });
    for (const f of res.failed) this.retryWrite(() => this.newTasks.add(ids[f.index]!));
  }

  /** Arranges for `redo` (which re-queues failed work) to run, then a pass, after {@link WRITE_RETRY_DELAY_MS}. */
  private retryWrite(redo: () => void): void {
    if (!this.running) return;
    redo();
    if (this.writeRetryTimer) return;
    this.writeRetryTimer = this.timers.setTimeout(() => {
      this.writeRetryTimer = undefined;
      this.kick();
    }, WRITE_RETRY_DELAY_MS);
  }

  private caps = {
    newId: (): string => makeId(this.rng),
    constraintsMet: (node: Node, constraints: readonly string[]): boolean => this.constraintsMet(node, constraints),
  };

  private constraintsMet(node: Node, constraints: readonly string[]): boolean {
    if (constraints.length === 0) return true;
    const key = constraints.join('\u0000');
    let parsed = this.constraintCache.get(key);
    if (parsed === undefined) {
      try {
        parsed = parseConstraints(constraints);
      } catch {
        parsed = null;
      }
      if (this.constraintCache.size >= 1024) this.constraintCache.clear();
      this.constraintCache.set(key, parsed);
    }
    // Constraints that do not parse were refused by the control API; a stored one that does not parse matches nothing.
    return parsed !== null && nodeMatches(parsed, node);
  }

  private orchestratorFor(kind: ServiceKind): OrchestratorPlugin | undefined {
    return this.orchestrators.find((o) => o.kinds.includes(kind));
  }

  /** Reconciles every dirty service; each service's plan (reconcile + restarts + updater step) is one transaction. */
  private async reconcileDirty(): Promise<void> {
    const ids = [...this.dirtyServices].sort();
    this.dirtyServices.clear();
    const nowMs = this.clock.now();
    const work: { plan: Plan; basis: PlanBasis; updater?: UpdaterState }[] = [];
    this.store.view((tx) => {
      for (const id of ids) {
        const w = this.planService(tx, id, nowMs);
        if (w) work.push(w);
      }
    });
    if (work.length === 0) return;
    // One batch: each plan (or each chunk of a plan too big for one proposal) is one atomic sub-transaction.
    const owners: number[] = [];
    const res = await this.store.batch((b) => {
      work.forEach((w, i) => {
        for (const chunk of planChunks(w.plan)) {
          owners.push(i);
          b.update((tx) => {
            if (!this.running) return;
            checkBasis(tx, w.basis);
            applyPlanInTx(tx, chunk, nowMs);
          });
        }
      });
    });
    const failed = new Set<number>();
    for (const f of res.failed) {
      const i = owners[f.index]!;
      const w = work[i]!;
      failed.add(i);
      if (isOutOfSequence(f.error)) {
        this.stats.outOfSequence++;
        const n = (this.retries.get(w.basis.serviceId) ?? 0) + 1;
        this.retries.set(w.basis.serviceId, n);
        if (n <= MAX_OUT_OF_SEQUENCE_RETRIES) {
          this.dirtyServices.add(w.basis.serviceId);
          this.passAgain = true;
        }
      } else {
        this.log.error('applying a plan failed; retrying later', { serviceId: w.basis.serviceId, error: String(f.error) });
        this.retryWrite(() => this.dirtyServices.add(w.basis.serviceId));
      }
    }
    work.forEach((w, i) => {
      if (failed.has(i)) return;
      this.stats.plansApplied++;
      this.retries.delete(w.basis.serviceId);
      if (w.updater) this.updaters.set(w.basis.serviceId, w.updater);
    });
  }

  /** Reads one service, runs its orchestrator, the restart supervisor and the updater step; returns the plan. */
  private planService(tx: ReadTx, serviceId: string, nowMs: number): { plan: Plan; basis: PlanBasis; updater?: UpdaterState } | undefined {
    const service = tx.get('services', serviceId) as Service | undefined;
    const tasks = tx.find('tasks', { serviceId }) as Task[];
    if (!service && tasks.length === 0) {
      this.supervisor.forgetService(serviceId);
      this.clearUpdater(serviceId);
      return undefined;
    }
    const kind = service ? serviceKind(service.spec.mode) : (this.kinds.get(serviceId) ?? 'replicated');
    const orch = this.orchestratorFor(kind);
    if (!orch) {
      this.log.warn('no orchestrator for service kind', { serviceId, kind });
      return undefined;
    }
    const nodes: Record<string, Node> = {};
    if (isGlobalKind(kind)) for (const n of tx.list('nodes')) nodes[n.id] = n as Node;
    else {
      for (const t of tasks) {
        if (t.nodeId === '' || t.nodeId in nodes) continue;
        const n = tx.get('nodes', t.nodeId);
        if (n) nodes[t.nodeId] = n as Node;
      }
    }
    this.stats.reconciles++;
    const input: Parameters<OrchestratorPlugin['reconcile']>[0] = {
      serviceId,
      tasks,
      nodes,
      nowMs,
      noRestartTaskIds: this.supervisor.refusedTaskIds(serviceId),
    };
    if (service) input.service = service;
    let plan = orch.reconcile(input, this.caps);
    for (const s of plan.forgetServices ?? []) {
      this.supervisor.forgetService(s);
      this.clearUpdater(s);
    }
    if (plan.restart.length > 0) {
      const world: WorldView = {
        task: (id) => tx.get('tasks', id) as Task | undefined,
        node: (id) => tx.get('nodes', id) as Node | undefined,
      };
      const r = this.supervisor.restartAll(plan.restart, {
        world,
        service: (id) => tx.get('services', id) as Service | undefined,
        nowMs,
        newId: this.caps.newId,
      });
      plan = mergePlans({ ...plan, restart: [] }, r.plan);
      if (r.wakeAtMs !== undefined) this.armRestartTimer(r.wakeAtMs);
      // Tasks the supervisor just stopped (and replaced) are not the updater's any more: it would replace them
      // a second time in the same slot (found by the orchestration simulation: a task killed during a rolling
      // update got two successors).
      const stopped = new Set(r.plan.setDesired.filter((d) => d.desiredState >= TaskState.SHUTDOWN).map((d) => d.taskId));
      if (plan.updaterSlots && stopped.size > 0) {
        plan.updaterSlots = plan.updaterSlots.map((ids) => ids.filter((id) => !stopped.has(id))).filter((ids) => ids.length > 0);
      }
    }
    let updater: UpdaterState | undefined;
    if (service && plan.updaterSlots && !isJobKind(kind)) {
      const byId = new Map(tasks.map((t) => [t.id, t]));
      const slots = plan.updaterSlots.map((ids) => ids.map((id) => byId.get(id)).filter((t): t is Task => t !== undefined));
      const prev = this.updaters.get(serviceId) ?? initialUpdaterState(serviceId);
      const step = stepUpdater(prev, { service, slots, tasks, nodes }, nowMs, this.caps);
      if (step.error) this.log.error('rolling update', { serviceId, error: step.error });
      updater = step.nextState;
      // Slots a cancelled or paused run had dispatched stop-first: their new tasks start behind the old ones.
      for (const d of step.actions.delayedStarts) {
        this.supervisor.arm(serviceId, d);
        this.armRestartTimer(d.notBeforeMs);
      }
      plan = mergePlans(plan, step.actions);
      if (step.wakeAtMs !== undefined) this.armUpdaterTimer(serviceId, step.wakeAtMs);
    }
    const basis: PlanBasis = { serviceId, serviceVersion: service ? service.meta.version : -1 };
    if (isEmptyPlan(plan)) {
      if (updater) this.updaters.set(serviceId, updater);
      return undefined;
    }
    const out: { plan: Plan; basis: PlanBasis; updater?: UpdaterState } = { plan, basis };
    if (updater) out.updater = updater;
    return out;
  }

  private clearUpdater(serviceId: string): void {
    this.updaters.delete(serviceId);
    const t = this.updaterTimers.get(serviceId);
    if (t) this.timers.clearTimeout(t.handle);
    this.updaterTimers.delete(serviceId);
  }

  private armUpdaterTimer(serviceId: string, atMs: number): void {
    if (!this.running) return;
    const cur = this.updaterTimers.get(serviceId);
    if (cur && cur.atMs <= atMs) return;
    if (cur) this.timers.clearTimeout(cur.handle);
    const handle = this.timers.setTimeout(() => {
      this.updaterTimers.delete(serviceId);
      this.dirtyServices.add(serviceId);
      this.kick();
    }, Math.max(0, atMs - this.clock.now()));
    this.updaterTimers.set(serviceId, { handle, atMs });
  }

  private armRestartTimer(atMs: number): void {
    if (!this.running) return;
    if (this.restartTimer && this.restartTimer.atMs <= atMs) return;
    if (this.restartTimer) this.timers.clearTimeout(this.restartTimer.handle);
    const handle = this.timers.setTimeout(() => {
      this.restartTimer = undefined;
      this.restartDue = true;
      this.kick();
    }, Math.max(0, atMs - this.clock.now()));
    this.restartTimer = { handle, atMs };
  }

  /** Fires due delayed starts (desired READY → RUNNING/COMPLETE) and re-arms the timer for the next one. */
  private async runRestartDue(): Promise<void> {
    this.restartDue = false;
    const nowMs = this.clock.now();
    const r = this.store.view((tx) =>
      this.supervisor.due(nowMs, {
        task: (id) => tx.get('tasks', id) as Task | undefined,
        node: (id) => tx.get('nodes', id) as Node | undefined,
      }),
    );
    if (this.restartTimer) {
      this.timers.clearTimeout(this.restartTimer.handle);
      this.restartTimer = undefined;
    }
    if (r.wakeAtMs !== undefined) this.armRestartTimer(r.wakeAtMs);
    if (r.plan.setDesired.length > 0) {
      // The tasks whose start was deferred behind these get another look once started.
      for (const d of r.plan.setDesired) {
        const t = this.store.view((tx) => tx.get('tasks', d.taskId));
        if (t) this.dirtyServices.add(t.serviceId);
      }
      // The supervisor forgot these starts: if the write fails, the plan itself is kept and applied again.
      if (!(await this.applyPlan(r.plan, undefined))) this.retryWrite(() => this.retryPlans.push(r.plan));
      this.passAgain = true;
    }
  }

  /** Applies a plan outside a reconcile (startup fix-ups, delayed starts): chunked, errors logged; false on a failure. */
  private async applyPlan(plan: Plan, basis: PlanBasis | undefined): Promise<boolean> {
    const nowMs = this.clock.now();
    const res = await this.store.batch((b) => {
      for (const chunk of planChunks(plan)) {
        b.update((tx) => {
          if (!this.running) return;
          checkBasis(tx, basis);
          applyPlanInTx(tx, chunk, nowMs);
        });
      }
    });
    for (const f of res.failed) this.log.error('applying a plan failed', { error: String(f.error) });
    return res.failed.length === 0;
  }

  /** The constraint enforcer over the nodes that changed: violators are written observed REJECTED. */
  private async enforce(): Promise<void> {
    const ids = [...this.enforceNodes].sort();
    this.enforceNodes.clear();
    const rejections = this.store.view((tx) => {
      const out: { taskId: string; message: string; err: string }[] = [];
      for (const id of ids) {
        const node = tx.get('nodes', id) as Node | undefined;
        if (!node) continue;
        const tasks = tx.find('tasks', { nodeId: id }) as Task[];
        if (tasks.length === 0) continue;
        const services: Record<string, Service> = {};
        for (const t of tasks) {
          if (t.serviceId in services) continue;
          const s = tx.get('services', t.serviceId);
          if (s) services[t.serviceId] = s as Service;
        }
        out.push(...enforceConstraints({ node, tasks, services }, (n, c) => this.constraintsMet(n, c)));
      }
      return out;
    });
    if (rejections.length === 0) return;
    const nowMs = this.clock.now();
    const res = await this.store.batch((b) => {
      for (const r of rejections) {
        b.update((tx) => {
          if (!this.running) return;
          const t = tx.get('tasks', r.taskId);
          if (!t || t.status.state >= TaskState.COMPLETE) return;
          tx.update('tasks', {
            ...(t as Task),
            status: { ...t.status, state: TaskState.REJECTED, message: r.message, err: r.err, timestamp: nowMs },
          });
        });
      }
    });
    if (res.failed.length > 0) this.retryWrite(() => ids.forEach((id) => this.enforceNodes.add(id)));
  }

  // ------------------------------------------------------------------ reaper

  private scheduleReaper(): void {
    if (!this.running || this.reaperServices.size === 0) return;
    if (this.reaperServices.size > REAPER_MAX_PENDING) {
      if (this.reaperTimer) this.timers.clearTimeout(this.reaperTimer);
      this.reaperTimer = undefined;
      queueMicrotask(() => void this.runReaper());
      return;
    }
    if (this.reaperTimer) return;
    this.reaperTimer = this.timers.setTimeout(() => {
      this.reaperTimer = undefined;
      void this.runReaper();
    }, this.reaperDelayMs);
  }

  /** One reaper run over the services that changed: one batched delete. */
  private async runReaper(): Promise<void> {
    if (!this.running || this.reaperActive || this.reaperServices.size === 0) return;
    this.reaperActive = true;
    const ids = [...this.reaperServices];
    this.reaperServices.clear();
    try {
      const doomed = this.store.view((tx) => {
        const cluster = tx.list('clusters')[0] as Cluster | undefined;
        const retentionLimit = cluster?.spec.orchestration.taskHistoryRetentionLimit ?? DEFAULT_TASK_HISTORY_RETENTION;
        const services: Record<string, Service> = {};
        const tasks: Task[] = [];
        const out = new Set<string>();
        for (const id of ids) {
          const s = tx.get('services', id) as Service | undefined;
          if (s) services[id] = s;
          for (const t of tx.find('tasks', { serviceId: id }) as Task[]) {
            tasks.push(t);
            // §2.7 cleanup list: desired REMOVE and never assigned or done — also when the service is gone.
            if (!s && t.desiredState === TaskState.REMOVE && (t.status.state < TaskState.ASSIGNED || t.status.state >= TaskState.COMPLETE)) {
              out.add(t.id);
            }
          }
        }
        for (const id of reapTasks({ tasks, services, retentionLimit })) out.add(id);
        return [...out];
      });
      if (doomed.length === 0) return;
      const chunk = 200;
      const res = await this.store.batch((b) => {
        for (let i = 0; i < doomed.length; i += chunk) {
          const part = doomed.slice(i, i + chunk);
          b.update((tx) => {
            if (!this.running) return;
            for (const id of part) if (tx.get('tasks', id)) tx.delete('tasks', id);
          });
        }
      });
      if (res.failed.length > 0) {
        // Nothing is lost: the services are marked again and the next run (one reaper delay later) re-reads them.
        this.log.error('task reaper: deleting tasks failed; retrying', { error: String(res.failed[0]!.error), failedChunks: res.failed.length });
        for (const id of ids) this.reaperServices.add(id);
      }
    } catch (e) {
      this.log.error('task reaper failed; retrying', { error: String(e) });
      for (const id of ids) this.reaperServices.add(id);
    } finally {
      this.reaperActive = false;
      if (this.reaperServices.size > 0) this.scheduleReaper();
    }
  }
}
