/**
 * The host-side restart supervisor core (reference §4, §3.5): restart history per instance, pending delayed
 * starts with their not-before times and wait-for-old-task conditions, reset on a new spec version, rebuilt at
 * leader start-up. A deterministic state machine with no timers: every call takes `nowMs` and returns a Plan
 * plus the time it next wants to be woken (`wakeAtMs`); the host runs the timer and calls `due` again.
 */
import { NodeStatusState, TaskState, type Node, type Service, type Task } from '../../host/api/index.js';
import { emptyPlan, mergePlans, newTaskFromService, type DelayedStart, type NewId, type Plan, type RestartRequest } from '../orchestrators/plan.js';
import { instanceKey, isGlobalKind, isJobKind, isTerminal, serviceKind, statusTimeMs } from '../orchestrators/slots.js';
import { decide as defaultDecide, effectiveRestartPolicy, type RestartDecision, type RestartDecisionInput, type RestartHistory } from './default.js';

/** SwarmKit waits at most this long for an old task to stop before starting its replacement, ms. */
export const WAIT_FOR_OLD_TASK_MAX_MS = 60_000;

/** Tuning for the supervisor. */
export interface SupervisorOptions {
  /** The restart policy's decision (the active RestartPolicyPlugin's `decide`). */
  decide?: (input: RestartDecisionInput) => RestartDecision;
  /** Upper bound on waiting for the old task, ms. */
  waitForOldTaskMaxMs?: number;
}

/** One restart request. */
export interface RestartRequestInput {
  task: Task;
  /** The task's service; undefined when deleted (nothing is restarted). */
  service: Service | undefined;
  /** The old task's node; undefined when it does not exist (or the task was never assigned). */
  node: Node | undefined;
  nowMs: number;
  newId: NewId;
}

/** What a restart did. */
export type RestartOutcome =
  /** The task's own delayed start is still pending: ask again after it ends (no tight loops). */
  | { kind: 'deferred' }
  /** Nothing to do (already being stopped, or no service). */
  | { kind: 'skipped'; reason: string }
  /** Old task stopped, no replacement (policy said no). */
  | { kind: 'stopped'; plan: Plan; reason: string }
  /** Old task stopped, replacement created at desired READY, delayed start armed. */
  | { kind: 'restarted'; plan: Plan; replacementId: string; wakeAtMs: number };

/** What the supervisor needs to look up when deciding whether a delayed start may fire. */
export interface WorldView {
  task(id: string): Task | undefined;
  node(id: string): Node | undefined;
}

interface Pending extends DelayedStart {
  serviceId: string;
}

/** The restart supervisor's state machine. Holds no timers; see the module comment. */
export class RestartSupervisor {
  private readonly decideFn: (input: RestartDecisionInput) => RestartDecision;
  private readonly waitMaxMs: number;
  /** serviceId → instance key → history. */
  private readonly history = new Map<string, Map<string, RestartHistory>>();
  /** replacement task id → pending start. */
  private readonly pending = new Map<string, Pending>();
  /** serviceId → tasks whose replacement the policy refused (their slots are held, not refilled). */
  private readonly refused = new Map<string, Set<string>>();

  constructor(opts: SupervisorOptions = {}) {
    this.decideFn = opts.decide ?? defaultDecide;
    this.waitMaxMs = opts.waitForOldTaskMaxMs ?? WAIT_FOR_OLD_TASK_MAX_MS;
  }

  /**
   * Restart(task): deferred while its own delayed start is pending; skipped when its desired state is already
   * past COMPLETE or its service is gone; otherwise the old task goes to desired SHUTDOWN and, if the policy
   * allows, a replacement is created in the same slot (unassigned) or on the same node (global kinds) at desired
   * READY, the restart recorded, and a delayed start armed.
   */
  restart(req: RestartRequestInput): RestartOutcome {
    const { task, service, nowMs } = req;
    if (this.pending.has(task.id)) return { kind: 'deferred' };
    if (task.desiredState > TaskState.COMPLETE) return { kind: 'skipped', reason: 'task is already being stopped' };
    if (!service) return { kind: 'skipped', reason: 'service not found' };
    const kind = serviceKind(service.spec.mode);
    const key = instanceKey(kind, task);
    const plan = emptyPlan();
    plan.setDesired.push({ taskId: task.id, desiredState: TaskState.SHUTDOWN, reason: 'restarting' });
    const input: RestartDecisionInput = { task, isJob: isJobKind(kind), nowMs };
    if (req.node) input.node = { availability: req.node.spec.availability, state: req.node.status.state };
    const h = this.history.get(service.id)?.get(key);
    if (h) input.history = structuredClone(h);
    const d = this.decideFn(input);
    if (!d.restart) {
      let set = this.refused.get(service.id);
      if (!set) this.refused.set(service.id, (set = new Set()));
      set.add(task.id);
      return { kind: 'stopped', plan, reason: d.reason };
    }
    const opts: Parameters<typeof newTaskFromService>[1] = {
      slot: isGlobalKind(kind) ? 0 : task.slot,
      nodeId: isGlobalKind(kind) ? task.nodeId : '',
      desiredState: TaskState.READY,
      nowMs,
      newId: req.newId,
    };
    if (task.jobIteration !== undefined) opts.jobIteration = task.jobIteration;
    const replacement = newTaskFromService(service, opts);
    plan.create.push(replacement);
    this.record(service.id, key, replacement.specVersion, nowMs, d.pruneBeforeMs);
    const start: Pending = {
      serviceId: service.id,
      taskId: replacement.id,
      desiredState: isJobKind(kind) ? TaskState.COMPLETE : TaskState.RUNNING,
      notBeforeMs: nowMs + d.delayMs,
    };
    if (d.waitForOldTask) {
      start.waitForTaskId = task.id;
      start.waitDeadlineMs = nowMs + this.waitMaxMs;
    }
    this.pending.set(replacement.id, start);
    plan.delayedStarts.push(toDelayedStart(start));
    return { kind: 'restarted', plan, replacementId: replacement.id, wakeAtMs: start.notBeforeMs };
  }

  /** Records one restart of an instance; a new spec version starts a fresh history; old window entries pruned. */
  private record(serviceId: string, key: string, specVersion: number, atMs: number, pruneBeforeMs?: number): void {
    let bySvc = this.history.get(serviceId);
    if (!bySvc) this.history.set(serviceId, (bySvc = new Map()));
    let h = bySvc.get(key);
    if (!h || h.specVersion !== specVersion) bySvc.set(key, (h = { specVersion, totalRestarts: 0, restartTimesMs: [] }));
    h.totalRestarts++;
    h.restartTimesMs.push(atMs);
    if (pruneBeforeMs !== undefined) h.restartTimesMs = h.restartTimesMs.filter((t) => t > pruneBeforeMs);
  }

  /**
   * Runs every restart request of a reconcile plan (`plan.restart`) and returns one merged plan: the host applies
   * it in the same transaction as the reconcile's own plan. Deferred requests are returned for a later retry.
   */
  restartAll(
    requests: readonly RestartRequest[],
    ctx: { world: WorldView; service: (id: string) => Service | undefined; nowMs: number; newId: NewId },
  ): { plan: Plan; deferred: string[]; wakeAtMs?: number } {
    const plans: Plan[] = [];
    const deferred: string[] = [];
    let wake: number | undefined;
    for (const r of requests) {
      const task = ctx.world.task(r.taskId);
      if (!task) continue;
      const node = task.nodeId !== '' ? ctx.world.node(task.nodeId) : undefined;
      const o = this.restart({ task, service: ctx.service(task.serviceId), node, nowMs: ctx.nowMs, newId: ctx.newId });
      if (o.kind === 'deferred') deferred.push(r.taskId);
      else if (o.kind === 'stopped') plans.push(o.plan);
      else if (o.kind === 'restarted') {
        plans.push(o.plan);
        wake = wake === undefined ? o.wakeAtMs : Math.min(wake, o.wakeAtMs);
      }
    }
    const out: { plan: Plan; deferred: string[]; wakeAtMs?: number } = { plan: mergePlans(...plans), deferred };
    if (wake !== undefined) out.wakeAtMs = wake;
    return out;
  }

  /**
   * Arms a delayed start decided elsewhere (e.g. the leader start-up re-arm). Replaces any pending start of the
   * same task.
   */
  arm(serviceId: string, start: DelayedStart): void {
    this.pending.set(start.taskId, { ...start, serviceId });
  }

  /**
   * Fires the delayed starts that are due at `nowMs`: not-before passed and, when waiting for an old task, that
   * task stopped (> RUNNING) or is gone, its node is DOWN or gone, or the wait deadline passed. Starts whose task
   * vanished or is already past the target desired state are dropped. Call on timer expiry and on task/node events.
   */
  due(nowMs: number, world: WorldView): { plan: Plan; wakeAtMs?: number } {
    const plan = emptyPlan();
    let wake: number | undefined;
    const later = (t: number): void => {
      wake = wake === undefined ? t : Math.min(wake, t);
    };
    for (const [id, p] of [...this.pending.entries()].sort((a, b) => a[1].notBeforeMs - b[1].notBeforeMs || (a[0] < b[0] ? -1 : 1))) {
      const t = world.task(id);
      if (!t || t.desiredState >= p.desiredState) {
        this.pending.delete(id);
        continue;
      }
      if (nowMs < p.notBeforeMs) {
        later(p.notBeforeMs);
        continue;
      }
      if (p.waitForTaskId !== undefined && !this.oldTaskReleased(p, nowMs, world)) {
        later(p.waitDeadlineMs ?? nowMs + this.waitMaxMs);
        continue;
      }
      plan.setDesired.push({ taskId: id, desiredState: p.desiredState, reason: 'delayed start' });
      this.pending.delete(id);
    }
    return wake === undefined ? { plan } : { plan, wakeAtMs: wake };
  }

  private oldTaskReleased(p: Pending, nowMs: number, world: WorldView): boolean {
    if (p.waitDeadlineMs !== undefined && nowMs >= p.waitDeadlineMs) return true;
    const old = world.task(p.waitForTaskId!);
    if (!old || isTerminal(old)) return true;
    if (old.nodeId === '') return true;
    const node = world.node(old.nodeId);
    return !node || node.status.state === NodeStatusState.DOWN;
  }

  /** Drops a pending start (its task was removed or superseded). */
  cancel(taskId: string): void {
    this.pending.delete(taskId);
  }

  /** True while the task's delayed start is pending. */
  isPending(taskId: string): boolean {
    return this.pending.has(taskId);
  }

  /** Pending delayed starts, sorted by not-before time (JSON, for inspection and tests). */
  pendingStarts(): DelayedStart[] {
    return [...this.pending.values()].sort((a, b) => a.notBeforeMs - b.notBeforeMs).map(toDelayedStart);
  }

  /** History of one instance (a copy), or undefined. */
  historyOf(serviceId: string, instance: string): RestartHistory | undefined {
    const h = this.history.get(serviceId)?.get(instance);
    return h ? structuredClone(h) : undefined;
  }

  /** Tasks of the service whose replacement the policy refused, for the reconcile's `noRestartTaskIds`. */
  refusedTaskIds(serviceId: string): string[] {
    return [...(this.refused.get(serviceId) ?? [])].sort();
  }

  /** A task record was deleted: forget that it was refused. */
  forgetTask(serviceId: string, taskId: string): void {
    this.refused.get(serviceId)?.delete(taskId);
    this.pending.delete(taskId);
  }

  /** The service was deleted: drop its history, refusals and pending starts. */
  forgetService(serviceId: string): void {
    this.history.delete(serviceId);
    this.refused.delete(serviceId);
    for (const [id, p] of this.pending) if (p.serviceId === serviceId) this.pending.delete(id);
  }

  /**
   * Leader start-up: rebuild history (per instance, tasks of the newest spec version by creation time, all but the
   * first count as restarts) and re-arm delayed starts for tasks at desired READY that have not stopped (remaining
   * delay counted from `appliedAt`, else the status timestamp; start now when it has passed). Call `due` next.
   */
  rebuild(services: readonly Service[], tasks: readonly Task[]): void {
    this.history.clear();
    this.pending.clear();
    this.refused.clear();
    const byService = new Map<string, Task[]>();
    for (const t of tasks) {
      const g = byService.get(t.serviceId);
      if (g) g.push(t);
      else byService.set(t.serviceId, [t]);
    }
    for (const service of services) {
      const kind = serviceKind(service.spec.mode);
      const mine = byService.get(service.id) ?? [];
      const byInstance = new Map<string, Task[]>();
      for (const t of mine) {
        const k = instanceKey(kind, t);
        const g = byInstance.get(k);
        if (g) g.push(t);
        else byInstance.set(k, [t]);
      }
      for (const [key, group] of byInstance) {
        const newest = Math.max(...group.map((t) => t.specVersion));
        const same = group.filter((t) => t.specVersion === newest).sort((a, b) => a.meta.createdAt - b.meta.createdAt);
        if (same.length > 1) {
          const times = same.slice(1).map((t) => t.meta.createdAt);
          let bySvc = this.history.get(service.id);
          if (!bySvc) this.history.set(service.id, (bySvc = new Map()));
          bySvc.set(key, { specVersion: newest, totalRestarts: times.length, restartTimesMs: times });
        }
      }
      for (const t of mine) {
        if (t.desiredState !== TaskState.READY || isTerminal(t)) continue;
        const delay = effectiveRestartPolicy(t).delayMs;
        this.pending.set(t.id, {
          serviceId: service.id,
          taskId: t.id,
          desiredState: isJobKind(kind) ? TaskState.COMPLETE : TaskState.RUNNING,
          notBeforeMs: statusTimeMs(t) + delay,
        });
      }
    }
  }
}

function toDelayedStart(p: Pending): DelayedStart {
  const d: DelayedStart = { taskId: p.taskId, desiredState: p.desiredState, notBeforeMs: p.notBeforeMs };
  if (p.waitForTaskId !== undefined) d.waitForTaskId = p.waitForTaskId;
  if (p.waitDeadlineMs !== undefined) d.waitDeadlineMs = p.waitDeadlineMs;
  return d;
}
