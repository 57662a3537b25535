/**
 * The Plan: what an orchestrator core wants changed in the store, as plain JSON. Cores never touch the store;
 * the host applies one plan in one write transaction (re-running the core if the store moved underneath).
 * Times are ms since the Unix epoch, durations ms.
 */
import { TaskState, type Service, type Task, type UpdateStatus } from '../../host/api/index.js';

/** Raise a task's desired state. The host skips it when the stored desired state is already higher (never lowered). */
export interface DesiredStateChange {
  taskId: string;
  desiredState: TaskState;
  /** Why, for logs and tests ("scale down", "node drained", "service removed", ...). */
  reason: string;
}

/**
 * A task created at desired READY that the host must raise to `desiredState` (RUNNING, or COMPLETE for job
 * tasks) once `notBeforeMs` has passed AND, when `waitForTaskId` is set, that old task has stopped (observed >
 * RUNNING), its node is DOWN or gone, or `waitDeadlineMs` passed. The restart supervisor keeps these.
 */
export interface DelayedStart {
  taskId: string;
  desiredState: TaskState;
  notBeforeMs: number;
  waitForTaskId?: string;
  /** Give up waiting for the old task at this time (SwarmKit waits at most 1 min). */
  waitDeadlineMs?: number;
}

/** A task that went wrong (failed, or on an invalid node) and must go through the restart supervisor. */
export interface RestartRequest {
  taskId: string;
  reason: string;
}

/** A change to the service record that an updater decided (status, or an automatic rollback of the spec). */
export interface ServiceChange {
  serviceId: string;
  /** New update status (replaces the stored one). */
  updateStatus?: UpdateStatus;
  /** Automatic rollback: spec := previousSpec (and its version), previousSpec cleared. */
  rollbackToPrevious?: boolean;
}

/** Everything one reconcile (or updater step, or restart) wants written, applied atomically by the host. */
export interface Plan {
  /** New task records (status NEW "created"). */
  create: Task[];
  /** Desired-state raises. */
  setDesired: DesiredStateChange[];
  /** Task records to delete outright (dead slots, tasks of deleted nodes). */
  remove: string[];
  /**
   * Delayed starts this plan armed (restart delay, wait for the old task). The restart supervisor that produced
   * them already holds them; the host sets a timer for the earliest `notBeforeMs` and calls its `due` then.
   */
  delayedStarts: DelayedStart[];
  /** Tasks to hand to the restart supervisor in the same pass (their slot counts as occupied meanwhile). */
  restart: RestartRequest[];
  /** Update-status / rollback change for the service. */
  setServiceUpdateStatus?: ServiceChange;
  /** Slots the rolling updater should look at (task ids per slot, in slot order). */
  updaterSlots?: string[][];
  /** Services whose restart history must be dropped (service deleted). */
  forgetServices?: string[];
}

/** A plan that changes nothing. */
export function emptyPlan(): Plan {
  return { create: [], setDesired: [], remove: [], delayedStarts: [], restart: [] };
}

/** True when applying `p` would change nothing. */
export function isEmptyPlan(p: Plan): boolean {
  return (
    p.create.length === 0 &&
    p.setDesired.length === 0 &&
    p.remove.length === 0 &&
    p.delayedStarts.length === 0 &&
    p.restart.length === 0 &&
    p.setServiceUpdateStatus === undefined &&
    (p.forgetServices?.length ?? 0) === 0
  );
}

/** Concatenates plans in order (later service changes win; updater slots are concatenated). */
export function mergePlans(...plans: Plan[]): Plan {
  const out = emptyPlan();
  for (const p of plans) {
    out.create.push(...p.create);
    out.setDesired.push(...p.setDesired);
    out.remove.push(...p.remove);
    out.delayedStarts.push(...p.delayedStarts);
    out.restart.push(...p.restart);
    if (p.setServiceUpdateStatus) out.setServiceUpdateStatus = p.setServiceUpdateStatus;
    if (p.updaterSlots) out.updaterSlots = [...(out.updaterSlots ?? []), ...p.updaterSlots];
    if (p.forgetServices) out.forgetServices = [...(out.forgetServices ?? []), ...p.forgetServices];
  }
  return out;
}

/** Makes a fresh object id; injected so that cores stay deterministic (the host passes its id generator). */
export type NewId = () => string;

/** Where and how a new task is created. */
export interface NewTaskOptions {
  /** Replicated slot (>= 1), job slot (>= 0), or 0 for global kinds. */
  slot: number;
  /** Preset node for global kinds; empty for replicated (the scheduler assigns it). */
  nodeId?: string;
  /** RUNNING for fresh tasks, READY for replacements that wait, COMPLETE for job tasks. */
  desiredState: TaskState;
  /** Creation time, ms. */
  nowMs: number;
  newId: NewId;
  /** Job iteration for job tasks. */
  jobIteration?: number;
}

/**
 * Task name: `<service>.<slot>.<taskId>`, or `<service>.<nodeId>.<taskId>` for global kinds (slot 0 with a
 * preset node).
 */
export function taskName(serviceName: string, slot: number, nodeId: string, taskId: string): string {
  return slot === 0 && nodeId !== '' ? `${serviceName}.${nodeId}.${taskId}` : `${serviceName}.${slot}.${taskId}`;
}

/** The value itself when it is frozen (immutable, safe to share), else a deep copy. */
function ownCopy<T>(v: T): T {
  return Object.isFrozen(v) ? v : structuredClone(v);
}

/**
 * Builds a new task record from a service: its task spec at its spec version (shared when the service is a
 * frozen stored object, else copied), status NEW "created". `meta` carries the creation time; the store
 * overwrites the version when it commits.
 */
export function newTaskFromService(service: Service, opts: NewTaskOptions): Task {
  const id = opts.newId();
  const nodeId = opts.nodeId ?? '';
  const task: Task = {
    id,
    meta: { version: 0, createdAt: opts.nowMs, updatedAt: opts.nowMs },
    // A stored service is deep-frozen, so its task spec can be shared by all its tasks (no copy per task).
    spec: ownCopy(service.spec.task),
    specVersion: service.specVersion,
    serviceId: service.id,
    slot: opts.slot,
    nodeId,
    annotations: { name: taskName(service.spec.annotations.name, opts.slot, nodeId, id), labels: {} },
    serviceAnnotations: ownCopy(service.spec.annotations),
    status: {
      timestamp: opts.nowMs,
      state: TaskState.NEW,
      message: 'created',
      err: '',
      appliedBy: '',
      appliedAt: 0,
    },
    desiredState: opts.desiredState,
  };
  if (service.spec.endpoint) task.endpoint = ownCopy(service.spec.endpoint);
  if (opts.jobIteration !== undefined) task.jobIteration = opts.jobIteration;
  return task;
}
