/**
 * The rolling updater core (reference §5), one state machine per service:
 * `stepUpdater(state, observation, nowMs, ctx) → { actions, nextState, wakeAtMs? }`.
 * The host calls it on every store event touching the service (task status, service update) and when the timer
 * it set for `wakeAtMs` fires; the simulation calls it the same way on virtual time. It never waits itself.
 *
 * Per run (one target spec version): dirty slots are queued in slot order; `parallelism` workers (0 = one per
 * dirty slot, the lockstep update) each take a slot, replace its task (stop-first or start-first), wait for the
 * new task to reach RUNNING (no timeout), then pause `delayMs`. New tasks that stop before running, or within
 * `monitorMs` of reaching RUNNING, count as failures; when failures / dirty slots exceeds `maxFailureRatio` the
 * failure action applies (pause, continue, roll back). After the last slot the run keeps monitoring for
 * `monitorMs` (or `delayMs` + 1 s when the delay is at least the monitor period), then completes.
 */
import {
  FailedPreconditionError,
  InvalidArgumentError,
  NodeStatusState,
  TaskState,
  UpdateFailureAction,
  UpdateOrder,
  UpdateState,
  type Node,
  type Service,
  type ServiceSpec,
  type Task,
  type UpdateConfig,
  type UpdateStatus,
} from '../../host/api/index.js';
import { isSlotDirty, isTaskDirty, type ConstraintPredicate } from './dirty.js';
import { emptyPlan, newTaskFromService, type DelayedStart, type NewId, type Plan } from './plan.js';
import { instanceKey, isGlobalKind, isTerminal, serviceKind } from './slots.js';

/** Longest a stop-first replacement waits for its old task to stop before starting anyway, ms. */
export const STOP_FIRST_WAIT_MAX_MS = 60_000;

/** Extra tail monitoring when the delay is at least the monitor period, ms. */
export const TAIL_MONITOR_EXTRA_MS = 1_000;

/**
 * The update config used when a service never set one. swarmhost follows the seed README (reference §15): a
 * lockstep update (parallelism 0, every dirty slot at once) with SwarmKit's other defaults.
 */
export const LOCKSTEP_UPDATE_CONFIG: Readonly<UpdateConfig> = Object.freeze({
  parallelism: 0,
  delayMs: 0,
  failureAction: UpdateFailureAction.PAUSE,
  monitorMs: 5_000,
  maxFailureRatio: 0,
  order: UpdateOrder.STOP_FIRST,
});

/** SwarmKit's exact UpdateStatus messages. */
export const UPDATE_MESSAGES = {
  inProgress: 'update in progress',
  completed: 'update completed',
  rollbackCompleted: 'rollback completed',
  manualRollback: 'manually requested rollback',
  paused: (taskId: string) => `update paused due to failure or early termination of task ${taskId}`,
  rolledBack: (taskId: string) => `update rolled back due to failure or early termination of task ${taskId}`,
  rollbackPaused: (taskId: string) => `rollback paused due to failure or early termination of task ${taskId}`,
} as const;

/** Error text when an automatic rollback finds no previous spec. */
export const NO_PREVIOUS_SPEC_FOR_ROLLBACK = 'cannot roll back service because no previous spec is available';

/** Throws InvalidArgumentError naming the field when an update config breaks a rule. */
export function validateUpdateConfig(c: UpdateConfig, field = 'update'): void {
  if (!Number.isInteger(c.parallelism) || c.parallelism < 0) throw new InvalidArgumentError(`${field}.parallelism: must be an integer >= 0`);
  if (!Number.isFinite(c.delayMs) || c.delayMs < 0) throw new InvalidArgumentError(`${field}.delayMs: must be >= 0`);
  if (!Number.isFinite(c.monitorMs) || c.monitorMs < 0) throw new InvalidArgumentError(`${field}.monitorMs: must be >= 0`);
  if (!(c.maxFailureRatio >= 0 && c.maxFailureRatio <= 1)) throw new InvalidArgumentError(`${field}.maxFailureRatio: must be in [0, 1]`);
  if (!(c.failureAction in UpdateFailureAction)) throw new InvalidArgumentError(`${field}.failureAction: must be pause, continue or rollback`);
  if (!(c.order in UpdateOrder)) throw new InvalidArgumentError(`${field}.order: must be stop-first or start-first`);
}

/** The config a run uses: `rollback` while rolling back, else `update`; lockstep defaults when unset. */
export function effectiveUpdateConfig(spec: ServiceSpec, rollingBack: boolean): UpdateConfig {
  return { ...((rollingBack ? spec.rollback : spec.update) ?? LOCKSTEP_UPDATE_CONFIG) };
}

/**
 * For the control API: an update request that names no update (or rollback) options keeps the ones last set
 * (seed README). Returns `next` with `update`/`rollback` carried over from `previous` where `next` omits them.
 */
export function carryUpdateConfig(previous: ServiceSpec, next: ServiceSpec): ServiceSpec {
  const out = { ...next };
  if (!out.update && previous.update) out.update = { ...previous.update };
  if (!out.rollback && previous.rollback) out.rollback = { ...previous.rollback };
  return out;
}

/**
 * Manual rollback (`UpdateService rollback=PREVIOUS`): swaps spec and previous spec (with their versions) and
 * sets ROLLBACK_STARTED "manually requested rollback". Throws FailedPreconditionError when there is no previous
 * spec. Returns a new service object; the host writes it.
 */
export function manualRollback(service: Service, nowMs: number): Service {
  if (!service.previousSpec) throw new FailedPreconditionError(`service ${service.id} does not have a previous spec`);
  const out: Service = {
    ...service,
    spec: service.previousSpec,
    specVersion: service.previousSpecVersion ?? 0,
    previousSpec: service.spec,
    previousSpecVersion: service.specVersion,
    updateStatus: { state: UpdateState.ROLLBACK_STARTED, startedAt: nowMs, completedAt: 0, message: UPDATE_MESSAGES.manualRollback },
  };
  return out;
}

/**
 * Applies an updater's ServiceChange to a service (for the host): a new update status, and for an automatic
 * rollback spec := previous spec (and version) with the previous cleared. Throws FailedPreconditionError when a
 * rollback finds no previous spec.
 */
export function applyServiceChange(service: Service, change: { updateStatus?: UpdateStatus; rollbackToPrevious?: boolean }): Service {
  const out: Service = { ...service };
  if (change.rollbackToPrevious) {
    if (!service.previousSpec) throw new FailedPreconditionError(NO_PREVIOUS_SPEC_FOR_ROLLBACK);
    out.spec = service.previousSpec;
    out.specVersion = service.previousSpecVersion ?? 0;
    delete out.previousSpec;
    delete out.previousSpecVersion;
  }
  if (change.updateStatus) out.updateStatus = { ...change.updateStatus };
  return out;
}

/** One slot being worked on. */
export interface InFlightSlot {
  /** Instance key (`slot:<n>` or `node:<id>`). */
  key: string;
  /** The task this update created for the slot, if any. */
  newTaskId?: string;
  /** Tasks that were in the slot when it was dispatched. */
  oldTaskIds: string[];
  /** waitOldStop: stop-first, new task at READY; waitRunning: new task started; delay: post-slot pause. */
  phase: 'waitOldStop' | 'waitRunning' | 'delay';
  /** Stop-first: start the new task anyway at this time, ms. */
  startDeadlineMs?: number;
  /** End of the post-slot delay, ms. */
  delayUntilMs?: number;
}

/** A task created by this run, watched for early failure. */
export interface MonitoredTask {
  taskId: string;
  /** When this updater first saw it RUNNING, ms. */
  runningSinceMs?: number;
  /** No longer watched (counted, survived the monitor period, or gone). */
  done: boolean;
}

/** The updater's state for one service. Plain JSON. */
export interface UpdaterState {
  serviceId: string;
  /** Spec version this run moves tasks to; -1 before the first run. */
  specVersion: number;
  /** idle: no run yet; updating: dispatching; monitoring: tail monitor; finished/stopped: nothing until a new spec. */
  phase: 'idle' | 'updating' | 'monitoring' | 'finished' | 'stopped';
  /** This run is a rollback (uses the rollback config and rollback messages). */
  rollingBack: boolean;
  config: UpdateConfig;
  /** Dirty slots at the start of the run: the failure ratio's denominator. */
  dirtyCount: number;
  /** Dirty slot keys of this run, in order; never mutated (steps share it), consumed through `queueHead`. */
  queue: string[];
  /** Index of the next slot key of `queue` to dispatch. */
  queueHead: number;
  inFlight: InFlightSlot[];
  monitored: MonitoredTask[];
  failures: number;
  /** Tail monitoring ends at this time, ms. */
  monitorUntilMs?: number;
}

/** What the updater sees at each step. */
export interface UpdaterObservation {
  service: Service;
  /** Updatable slots from the orchestrator (its `plan.updaterSlots` resolved to tasks). */
  slots: Task[][];
  /** Every task of the service (new tasks and old ones are looked up here by id). */
  tasks: Task[];
  nodes: Record<string, Node>;
}

/** Injected capabilities. */
export interface UpdaterContext {
  newId: NewId;
  constraintsMet: ConstraintPredicate;
}

/** The result of one step. */
export interface UpdaterStep {
  actions: Plan;
  nextState: UpdaterState;
  /** Call `stepUpdater` again at this time (ms) even if nothing changes in the store. */
  wakeAtMs?: number;
  /** A failure to report (e.g. a rollback without a previous spec). */
  error?: string;
}

/** The state before any run. */
export function initialUpdaterState(serviceId: string): UpdaterState {
  return {
    serviceId,
    specVersion: -1,
    phase: 'idle',
    rollingBack: false,
    config: { ...LOCKSTEP_UPDATE_CONFIG },
    dirtyCount: 0,
    queue: [],
    queueHead: 0,
    inFlight: [],
    monitored: [],
    failures: 0,
  };
}

function status(state: UpdateState, message: string, startedAt: number, completedAt = 0): UpdateStatus {
  return { state, message, startedAt, completedAt };
}

/** A task created by this update stopped on its own (not because a manager stopped it). */
function stoppedEarly(t: Task): boolean {
  if (!isTerminal(t)) return false;
  if (t.status.state === TaskState.SHUTDOWN) return t.desiredState <= TaskState.RUNNING;
  return true;
}

/** Advances one service's updater by one step. Pure: the input state is not modified. */
export function stepUpdater(prev: UpdaterState, obs: UpdaterObservation, nowMs: number, ctx: UpdaterContext): UpdaterStep {
  const service = obs.service;
  const kind = serviceKind(service.spec.mode);
  const st = service.updateStatus;
  const actions = emptyPlan();
  // Copy-on-step: the queue is shared read-only; slots in flight and watched tasks are copied (finished ones dropped).
  let state: UpdaterState = {
    ...prev,
    config: { ...prev.config },
    inFlight: prev.inFlight.map((f) => ({ ...f })),
    monitored: prev.monitored.filter((m) => !m.done).map((m) => ({ ...m })),
  };

  if (state.specVersion !== service.specVersion) {
    // A new spec (or the first look after a leader change): cancel whatever ran and start a new run.
    handOverInFlight(state, actions, nowMs);
    state = initialUpdaterState(service.id);
    state.specVersion = service.specVersion;
    if (st && (st.state === UpdateState.PAUSED || st.state === UpdateState.ROLLBACK_PAUSED)) {
      state.phase = 'stopped';
      return { actions, nextState: state };
    }
    state.rollingBack = st?.state === UpdateState.ROLLBACK_STARTED;
    state.config = effectiveUpdateConfig(service.spec, state.rollingBack);
    const dirty = obs.slots.filter((s) => s.length > 0 && isSlotDirty(service, s, obs.nodes, ctx.constraintsMet));
    if (dirty.length === 0) {
      state.phase = 'finished';
      if (st && (st.state === UpdateState.UPDATING || st.state === UpdateState.ROLLBACK_STARTED)) {
        actions.setServiceUpdateStatus = { serviceId: service.id, updateStatus: completion(state, st.startedAt, nowMs) };
      }
      return { actions, nextState: state };
    }
    if (!st) {
      actions.setServiceUpdateStatus = {
        serviceId: service.id,
        updateStatus: status(UpdateState.UPDATING, UPDATE_MESSAGES.inProgress, nowMs),
      };
    }
    state.phase = 'updating';
    state.dirtyCount = dirty.length;
    state.queue = dirty.map((s) => instanceKey(kind, s[0]!));
  }

  if (state.phase !== 'updating' && state.phase !== 'monitoring') return { actions, nextState: state };

  // Only the tasks this run watches are looked up; dispatched slots add theirs below.
  const wanted = new Set<string>();
  for (const m of state.monitored) wanted.add(m.taskId);
  for (const f of state.inFlight) {
    if (f.newTaskId !== undefined) wanted.add(f.newTaskId);
    for (const id of f.oldTaskIds) wanted.add(id);
  }
  const byId = new Map<string, Task>();
  if (wanted.size > 0) for (const t of obs.tasks) if (wanted.has(t.id)) byId.set(t.id, t);
  const cfg = state.config;

  // 1. Failure monitoring of the tasks this run created.
  let lastFailed: string | undefined;
  for (const m of state.monitored) {
    if (m.done) continue;
    const t = byId.get(m.taskId);
    if (!t) {
      m.done = true;
      continue;
    }
    if (t.status.state === TaskState.RUNNING && m.runningSinceMs === undefined) m.runningSinceMs = nowMs;
    if (stoppedEarly(t)) {
      m.done = true;
      if (m.runningSinceMs === undefined || nowMs - m.runningSinceMs <= cfg.monitorMs) {
        state.failures++;
        lastFailed = t.id;
      }
    } else if (m.runningSinceMs !== undefined && nowMs - m.runningSinceMs > cfg.monitorMs) {
      m.done = true;
    }
  }
  if (
    lastFailed !== undefined &&
    cfg.failureAction !== UpdateFailureAction.CONTINUE &&
    state.failures / state.dirtyCount > cfg.maxFailureRatio
  ) {
    return failureAction(state, service, lastFailed, nowMs, actions);
  }

  // 2. Advance slots in flight; 3. dispatch queued slots to free workers.
  let liveSlots: Map<string, Task[]> | undefined;
  let windowEnd = 0;
  const workers = cfg.parallelism === 0 ? Number.POSITIVE_INFINITY : cfg.parallelism;
  let wake: number | undefined;
  const wakeAt = (t: number): void => {
    wake = wake === undefined ? t : Math.min(wake, t);
  };

  const createdNow = new Set<string>();
  const advance = (f: InFlightSlot): boolean => {
    // Returns true when the slot is finished (worker free).
    for (;;) {
      if (f.phase === 'waitOldStop') {
        if (!oldTaskReleased(f, byId, obs.nodes, nowMs)) {
          wakeAt(f.startDeadlineMs!);
          return false;
        }
        actions.setDesired.push({ taskId: f.newTaskId!, desiredState: TaskState.RUNNING, reason: 'update: old task stopped' });
        f.phase = 'waitRunning';
        // The store has not seen the start yet; wait for the next observation.
        return false;
      }
      if (f.phase === 'waitRunning') {
        const nt = f.newTaskId !== undefined ? byId.get(f.newTaskId) : undefined;
        // Created in this step: the store has not seen it yet.
        if (!nt && f.newTaskId !== undefined && createdNow.has(f.newTaskId)) return false;
        if (nt && nt.status.state < TaskState.RUNNING) return false;
        if (cfg.order === UpdateOrder.START_FIRST && nt && nt.status.state === TaskState.RUNNING) {
          shutdownTasks(actions, f.oldTaskIds.map((id) => byId.get(id)), 'update: replaced (start-first)');
        }
        f.phase = 'delay';
        f.delayUntilMs = nowMs + cfg.delayMs;
        continue;
      }
      if (nowMs >= (f.delayUntilMs ?? 0)) return true;
      wakeAt(f.delayUntilMs!);
      return false;
    }
  };

  state.inFlight = state.inFlight.filter((f) => !advance(f));
  while (state.phase === 'updating' && state.inFlight.length < workers && state.queueHead < state.queue.length) {
    const key = state.queue[state.queueHead++]!;
    if (!liveSlots || state.queueHead > windowEnd) {
      // Look up the next window of keys (as many as there are free workers) in one pass over the slots.
      const from = state.queueHead - 1;
      windowEnd = Math.min(state.queue.length, from + Math.min(workers - state.inFlight.length, state.queue.length));
      liveSlots = slotsByKey(obs.slots, kind, state.queue.slice(from, windowEnd));
    }
    const slot = liveSlots.get(key);
    if (!slot) continue; // scaled away or node gone since the run started
    for (const t of slot) byId.set(t.id, t);
    const f = dispatch(key, slot, service, obs, nowMs, ctx, cfg, actions, state);
    if (f.newTaskId !== undefined) createdNow.add(f.newTaskId);
    if (!advance(f)) state.inFlight.push(f);
  }

  if (state.phase === 'updating' && state.queueHead >= state.queue.length && state.inFlight.length === 0) {
    state.phase = 'monitoring';
    state.monitorUntilMs = nowMs + (cfg.delayMs >= cfg.monitorMs ? cfg.delayMs + TAIL_MONITOR_EXTRA_MS : cfg.monitorMs);
  }
  if (state.phase === 'monitoring') {
    if (nowMs >= state.monitorUntilMs!) {
      state.phase = 'finished';
      actions.setServiceUpdateStatus = { serviceId: service.id, updateStatus: completion(state, st?.startedAt ?? nowMs, nowMs) };
    } else {
      wakeAt(state.monitorUntilMs!);
    }
  }
  const out: UpdaterStep = { actions, nextState: state };
  if (wake !== undefined) out.wakeAtMs = wake;
  return out;
}

/** The observed slots for the given keys only (matching on slot number or node id, without building every key). */
function slotsByKey(slots: readonly Task[][], kind: ReturnType<typeof serviceKind>, keys: readonly string[]): Map<string, Task[]> {
  const out = new Map<string, Task[]>();
  const global = isGlobalKind(kind);
  const want = new Set<string | number>(keys.map((k) => (global ? k.slice('node:'.length) : Number(k.slice('slot:'.length)))));
  for (const s of slots) {
    const first = s[0];
    if (!first) continue;
    const id = global ? first.nodeId : first.slot;
    if (want.has(id)) out.set(global ? `node:${first.nodeId}` : `slot:${first.slot}`, s);
  }
  return out;
}

function completion(state: UpdaterState, startedAt: number, nowMs: number): UpdateStatus {
  return state.rollingBack
    ? status(UpdateState.ROLLBACK_COMPLETED, UPDATE_MESSAGES.rollbackCompleted, startedAt, nowMs)
    : status(UpdateState.COMPLETED, UPDATE_MESSAGES.completed, startedAt, nowMs);
}

/**
 * A run that ends early (paused, rolled back, superseded by a new spec) still finishes the slots it dispatched
 * stop-first: their old task is on the way down and their new task waits at READY, so each new task becomes a
 * delayed start behind its old task, kept by the restart supervisor. Dropping them left those slots with no
 * running task for good (found by the orchestration simulation). A newer run that replaces the slot sets the
 * task's desired state above RUNNING, which cancels the delayed start.
 */
function handOverInFlight(state: UpdaterState, actions: Plan, nowMs: number): void {
  for (const f of state.inFlight) {
    if (f.phase !== 'waitOldStop' || f.newTaskId === undefined) continue;
    const start: DelayedStart = { taskId: f.newTaskId, desiredState: TaskState.RUNNING, notBeforeMs: nowMs };
    if (f.oldTaskIds[0] !== undefined) start.waitForTaskId = f.oldTaskIds[0];
    if (f.startDeadlineMs !== undefined) start.waitDeadlineMs = f.startDeadlineMs;
    actions.delayedStarts.push(start);
  }
  state.inFlight = [];
}

function failureAction(state: UpdaterState, service: Service, taskId: string, nowMs: number, actions: Plan): UpdaterStep {
  state.phase = 'stopped';
  state.queue = [];
  state.queueHead = 0;
  handOverInFlight(state, actions, nowMs);
  const startedAt = service.updateStatus?.startedAt ?? nowMs;
  if (state.rollingBack) {
    actions.setServiceUpdateStatus = {
      serviceId: service.id,
      updateStatus: status(UpdateState.ROLLBACK_PAUSED, UPDATE_MESSAGES.rollbackPaused(taskId), startedAt),
    };
    return { actions, nextState: state };
  }
  if (state.config.failureAction === UpdateFailureAction.PAUSE) {
    actions.setServiceUpdateStatus = {
      serviceId: service.id,
      updateStatus: status(UpdateState.PAUSED, UPDATE_MESSAGES.paused(taskId), startedAt),
    };
    return { actions, nextState: state };
  }
  if (!service.previousSpec) return { actions, nextState: state, error: NO_PREVIOUS_SPEC_FOR_ROLLBACK };
  actions.setServiceUpdateStatus = {
    serviceId: service.id,
    rollbackToPrevious: true,
    updateStatus: status(UpdateState.ROLLBACK_STARTED, UPDATE_MESSAGES.rolledBack(taskId), nowMs),
  };
  return { actions, nextState: state };
}

function shutdownTasks(actions: Plan, tasks: (Task | undefined)[], reason: string): void {
  for (const t of tasks) {
    if (t && t.desiredState <= TaskState.RUNNING) actions.setDesired.push({ taskId: t.id, desiredState: TaskState.SHUTDOWN, reason });
  }
}

function oldTaskReleased(f: InFlightSlot, byId: Map<string, Task>, nodes: Record<string, Node>, nowMs: number): boolean {
  if (f.oldTaskIds.length === 0 || nowMs >= (f.startDeadlineMs ?? 0)) return true;
  for (const id of f.oldTaskIds) {
    const old = byId.get(id);
    if (!old || isTerminal(old)) return true;
    if (old.nodeId !== '') {
      const n = nodes[old.nodeId];
      if (!n || n.status.state === NodeStatusState.DOWN) return true;
    }
  }
  return false;
}

/** Starts work on one slot per reference §5.3 step 5. */
function dispatch(
  key: string,
  slot: Task[],
  service: Service,
  obs: UpdaterObservation,
  nowMs: number,
  ctx: UpdaterContext,
  cfg: UpdateConfig,
  actions: Plan,
  state: UpdaterState,
): InFlightSlot {
  const clean = slot.filter((t) => !isTerminal(t) && !isTaskDirty(service, t, obs.nodes[t.nodeId], ctx.constraintsMet));
  const keep = clean.find((t) => t.desiredState === TaskState.RUNNING) ?? clean.find((t) => t.desiredState < TaskState.RUNNING);
  if (keep) {
    shutdownTasks(actions, slot.filter((t) => t !== keep), 'update: superseded in slot');
    if (keep.desiredState < TaskState.RUNNING) {
      actions.setDesired.push({ taskId: keep.id, desiredState: TaskState.RUNNING, reason: 'update: start clean task' });
    }
    return { key, oldTaskIds: [], phase: 'delay', delayUntilMs: nowMs + cfg.delayMs };
  }
  const kind = serviceKind(service.spec.mode);
  const first = slot[0]!;
  const global = isGlobalKind(kind);
  const live = slot.filter((t) => t.desiredState <= TaskState.RUNNING);
  const oldRunning = live.filter((t) => !isTerminal(t));
  const startNow = cfg.order === UpdateOrder.START_FIRST || oldRunning.length === 0;
  const created = newTaskFromService(service, {
    slot: global ? 0 : first.slot,
    nodeId: global ? first.nodeId : '',
    desiredState: startNow ? TaskState.RUNNING : TaskState.READY,
    nowMs,
    newId: ctx.newId,
  });
  actions.create.push(created);
  state.monitored.push({ taskId: created.id, done: false });
  if (cfg.order === UpdateOrder.STOP_FIRST) shutdownTasks(actions, live, 'update: replaced (stop-first)');
  if (startNow) return { key, newTaskId: created.id, oldTaskIds: live.map((t) => t.id), phase: 'waitRunning' };
  return {
    key,
    newTaskId: created.id,
    oldTaskIds: live.map((t) => t.id),
    phase: 'waitOldStop',
    startDeadlineMs: nowMs + STOP_FIRST_WAIT_MAX_MS,
  };
}
