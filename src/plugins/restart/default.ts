/**
 * The default restart policy (reference §4), as a pure decision: given the stopped (or stranded) task, its
 * policy, the restart history of its instance and the old node's state, restart after a delay or not. The host's
 * restart supervisor keeps the history and the timers; this function only decides.
 */
import { NodeAvailability, NodeStatusState, RestartCondition, TaskState, type RestartPolicy, type Task } from '../../host/api/index.js';
import { InvalidArgumentError } from '../../host/api/index.js';

/** SwarmKit's default restart delay, ms. */
export const DEFAULT_RESTART_DELAY_MS = 5_000;

/** SwarmKit's default policy: restart on any exit after 5 s, no attempt limit, no window. */
export const DEFAULT_RESTART_POLICY: RestartPolicy = {
  condition: RestartCondition.ANY,
  delayMs: DEFAULT_RESTART_DELAY_MS,
  maxAttempts: 0,
  windowMs: 0,
};

/** Restarts recorded for one instance (service+slot, or service+node) under one spec version. */
export interface RestartHistory {
  /** Spec version the history belongs to; a task of another version starts a fresh history. */
  specVersion: number;
  /** Restarts ever recorded under this spec version (for max attempts without a window). */
  totalRestarts: number;
  /** Creation times of the replacements, ms, oldest first (for the window). */
  restartTimesMs: number[];
}

/** What `decide` needs. JSON-only. */
export interface RestartDecisionInput {
  /** The task to replace (observed stopped, or stranded on an invalid node). */
  task: Task;
  /** Its service is a job (ANY then acts as ON_FAILURE). */
  isJob: boolean;
  /** The old task's node as the supervisor sees it; `undefined` when the node no longer exists. */
  node?: { availability: NodeAvailability; state: NodeStatusState };
  /** History of the task's instance, if any. */
  history?: RestartHistory;
  /** Current time, ms (kept for policies that need it; the default one uses the task's own times). */
  nowMs: number;
}

/** The outcome: restart after `delayMs` (optionally waiting for the old task to stop), or not. */
export type RestartDecision =
  | {
      restart: true;
      /** Wait this long before raising the replacement's desired state, ms. */
      delayMs: number;
      /** Also wait (≤ 1 min) until the old task stops or its node goes down. */
      waitForOldTask: boolean;
      /** Restarts of the instance to forget (older than the window), ms times; the supervisor prunes them. */
      pruneBeforeMs?: number;
    }
  | { restart: false; reason: string };

/** Throws InvalidArgumentError when a restart policy breaks a rule (field named in the message). */
export function validateRestartPolicy(p: RestartPolicy, field = 'task.restart'): void {
  if (!(p.condition in RestartCondition)) throw new InvalidArgumentError(`${field}.condition: must be none, on-failure or any`);
  if (!Number.isFinite(p.delayMs) || p.delayMs < 0) throw new InvalidArgumentError(`${field}.delayMs: must be >= 0`);
  if (!Number.isInteger(p.maxAttempts) || p.maxAttempts < 0) throw new InvalidArgumentError(`${field}.maxAttempts: must be an integer >= 0`);
  if (!Number.isFinite(p.windowMs) || p.windowMs < 0) throw new InvalidArgumentError(`${field}.windowMs: must be >= 0`);
}

/** The task's restart policy with SwarmKit's defaults filled in. */
export function effectiveRestartPolicy(task: Task): RestartPolicy {
  return task.spec.restart ?? DEFAULT_RESTART_POLICY;
}

/**
 * Whether the policy lets this task be replaced, counting attempts: condition first (NONE never, ON_FAILURE not
 * after COMPLETE, jobs never after COMPLETE); then, when max attempts > 0 and the history is for this spec
 * version: without a window, allowed while total restarts < max; with window W, count recorded restarts in the
 * open interval (T−W, T) where T is the task's `appliedAt` (else its status timestamp), allowed while < max.
 */
export function shouldRestart(input: RestartDecisionInput): { ok: boolean; reason: string; pruneBeforeMs?: number } {
  const { task, history } = input;
  const p = effectiveRestartPolicy(task);
  if (p.condition === RestartCondition.NONE) return { ok: false, reason: 'restart condition none' };
  if (task.status.state === TaskState.COMPLETE && (p.condition === RestartCondition.ON_FAILURE || input.isJob)) {
    return { ok: false, reason: 'task completed' };
  }
  if (p.maxAttempts === 0 || history === undefined || history.specVersion !== task.specVersion) return { ok: true, reason: '' };
  if (p.windowMs === 0) {
    return history.totalRestarts < p.maxAttempts
      ? { ok: true, reason: '' }
      : { ok: false, reason: `max attempts (${p.maxAttempts}) reached` };
  }
  const t = task.status.appliedAt > 0 ? task.status.appliedAt : task.status.timestamp;
  const lookback = t - p.windowMs;
  const inWindow = history.restartTimesMs.filter((r) => r > lookback && r < t).length;
  const verdict = inWindow < p.maxAttempts
    ? { ok: true, reason: '' }
    : { ok: false, reason: `max attempts (${p.maxAttempts}) reached within window ${p.windowMs} ms` };
  return { ...verdict, pruneBeforeMs: lookback };
}

/**
 * The default policy's decision: restart per {@link shouldRestart}; delay = the policy's delay (default 5 s), 0 when
 * the old node is DRAINED; wait for the old task when it has not stopped (observed ≤ RUNNING) and its node
 * exists and is not DOWN.
 */
export function decide(input: RestartDecisionInput): RestartDecision {
  const verdict = shouldRestart(input);
  if (!verdict.ok) return { restart: false, reason: verdict.reason };
  const p = effectiveRestartPolicy(input.task);
  const drained = input.node?.availability === NodeAvailability.DRAIN;
  const delayMs = drained ? 0 : p.delayMs;
  const waitForOldTask =
    input.task.status.state <= TaskState.RUNNING && input.node !== undefined && input.node.state !== NodeStatusState.DOWN;
  const out: RestartDecision = { restart: true, delayMs, waitForOldTask };
  if (verdict.pruneBeforeMs !== undefined) out.pruneBeforeMs = verdict.pruneBeforeMs;
  return out;
}
