/**
 * The agent's task state machine, pure: no I/O, no time. Given the task's desired state and its current
 * observed state, {@link nextAction} says what to do next (report a state, call a controller method, or
 * idle until the desired state changes); given the outcome of that controller call, {@link applyOutcome}
 * says which status to report. Rules (reference §2.1–2.2):
 *  - NEW/PENDING/ASSIGNED → ACCEPTED → PREPARING → READY → STARTING → RUNNING → COMPLETE (exit 0) / FAILED;
 *  - never advance past the desired state (desired READY stops at READY);
 *  - desired ≥ SHUTDOWN: stop the task and report SHUTDOWN (nothing to do once the task is terminal);
 *  - fatal errors before STARTING → REJECTED, at or after STARTING → FAILED; temporary errors are retried
 *    with capped exponential backoff ({@link retryDelayMs});
 *  - the observed state never decreases (an assertion: a bug here must crash, not report backwards).
 */
import { invariant } from '../api/errors.js';
import { TaskState } from '../api/objects.js';
import type { ExitResult } from './executor.js';

/** The controller calls the machine can ask for. */
export type ControllerOp = 'prepare' | 'start' | 'wait' | 'shutdown' | 'remove';

/** A status the agent should report (and persist). `err` is empty unless the task failed or was rejected. */
export interface StatusChange {
  state: TaskState;
  message: string;
  err: string;
  /** Set when the task's process exited (COMPLETE / FAILED after wait). */
  exitCode?: number;
}

/** What to do next. */
export type Action =
  | { kind: 'report'; status: StatusChange }
  | { kind: 'call'; op: ControllerOp }
  | { kind: 'idle' };

/** Input to {@link nextAction}. */
export interface MachineState {
  desired: TaskState;
  observed: TaskState;
  /** True once the controller's resources were removed (after desired REMOVE). */
  removed: boolean;
}

/** The result of one controller call. */
export type Outcome =
  | { kind: 'ok' }
  | { kind: 'exited'; exit: ExitResult }
  | { kind: 'fatal'; message: string }
  | { kind: 'temporary'; message: string };

/** Result of {@link applyOutcome}: a status to report, or a retry after a delay, or nothing (e.g. remove done). */
export interface OutcomeDecision {
  status?: StatusChange;
  /** When set, call the same op again after this many milliseconds. */
  retryAfterMs?: number;
  /** True when the op was 'remove' and it succeeded. */
  removed?: boolean;
}

/** Backoff for temporary errors: `baseMs * 2^attempt`, capped at `maxMs`. */
export interface BackoffConfig {
  baseMs: number;
  maxMs: number;
}

/** Default backoff: 100 ms doubling up to 8 s (the agent's session backoff cap in the reference). */
export const DEFAULT_BACKOFF: BackoffConfig = { baseMs: 100, maxMs: 8_000 };

/** Delay in ms before retry number `attempt` (0-based) of a temporarily failed call. */
export function retryDelayMs(attempt: number, cfg: BackoffConfig = DEFAULT_BACKOFF): number {
  invariant(attempt >= 0 && Number.isInteger(attempt), `retry attempt must be a non-negative integer, got ${attempt}`);
  const exp = Math.min(attempt, 30);
  return Math.min(cfg.maxMs, cfg.baseMs * 2 ** exp);
}

/** Observed states beyond RUNNING: the task has ended. */
export function isTerminal(state: TaskState): boolean {
  return state > TaskState.RUNNING;
}

function report(state: TaskState, message: string): Action {
  return Object.freeze({ kind: 'report', status: Object.freeze({ state, message, err: '' }) });
}

/** The report actions, made once (frozen): nextAction runs several times per task and allocates nothing for them. */
const REPORT_ACCEPTED = report(TaskState.ACCEPTED, 'accepted');
const REPORT_PREPARING = report(TaskState.PREPARING, 'preparing');
const REPORT_STARTING = report(TaskState.STARTING, 'starting');
const IDLE: Action = Object.freeze({ kind: 'idle' });
const CALL: Readonly<Record<ControllerOp, Action>> = Object.freeze({
  prepare: Object.freeze({ kind: 'call', op: 'prepare' }),
  start: Object.freeze({ kind: 'call', op: 'start' }),
  wait: Object.freeze({ kind: 'call', op: 'wait' }),
  shutdown: Object.freeze({ kind: 'call', op: 'shutdown' }),
  remove: Object.freeze({ kind: 'call', op: 'remove' }),
});

/** The next step for a task in `s`. Pure; the same input always gives the same action. */
export function nextAction(s: MachineState): Action {
  const { desired, observed } = s;
  if (isTerminal(observed)) {
    // Ended: only cleanup is left, when the manager wants the task removed.
    if (desired >= TaskState.REMOVE && !s.removed) return CALL.remove;
    return IDLE;
  }
  if (desired >= TaskState.SHUTDOWN) return CALL.shutdown;
  switch (observed) {
    case TaskState.NEW:
    case TaskState.PENDING:
    case TaskState.ASSIGNED:
      return desired >= TaskState.ACCEPTED ? REPORT_ACCEPTED : IDLE;
    case TaskState.ACCEPTED:
      return desired >= TaskState.PREPARING ? REPORT_PREPARING : IDLE;
    case TaskState.PREPARING:
      return desired >= TaskState.READY ? CALL.prepare : IDLE;
    case TaskState.READY:
      return desired >= TaskState.STARTING ? REPORT_STARTING : IDLE;
    case TaskState.STARTING:
      return desired >= TaskState.RUNNING ? CALL.start : IDLE;
    case TaskState.RUNNING:
      // Watch the running process whatever the (non-stop) desired state: its exit must be reported.
      return CALL.wait;
    default:
      invariant(false, `unknown observed task state ${observed}`);
  }
}

function checkMonotonic(observed: TaskState, d: OutcomeDecision): OutcomeDecision {
  if (d.status) invariant(d.status.state >= observed, `observed state would decrease from ${observed} to ${d.status.state}`);
  return d;
}

/**
 * The status to report after controller call `op` (asked for by {@link nextAction} in state `s`) ended with
 * `outcome`. `attempt` counts consecutive temporary failures of this op so far (0 for the first).
 */
export function applyOutcome(
  s: MachineState,
  op: ControllerOp,
  outcome: Outcome,
  attempt: number,
  backoff: BackoffConfig = DEFAULT_BACKOFF,
): OutcomeDecision {
  const { observed, desired } = s;
  if (outcome.kind === 'temporary') return { retryAfterMs: retryDelayMs(attempt, backoff) };
  const fatalState = observed < TaskState.STARTING ? TaskState.REJECTED : TaskState.FAILED;
  switch (op) {
    case 'prepare':
      if (outcome.kind === 'fatal') return checkMonotonic(observed, { status: status(fatalState, 'preparing', outcome.message) });
      return checkMonotonic(observed, { status: status(TaskState.READY, 'prepared') });
    case 'start':
      if (outcome.kind === 'fatal') return checkMonotonic(observed, { status: status(fatalState, 'starting', outcome.message) });
      return checkMonotonic(observed, { status: status(TaskState.RUNNING, 'started') });
    case 'wait': {
      if (outcome.kind === 'fatal') return checkMonotonic(observed, { status: status(TaskState.FAILED, 'failed', outcome.message) });
      invariant(outcome.kind === 'exited', 'wait must end with an exit or an error');
      const exit = outcome.exit;
      if (desired >= TaskState.SHUTDOWN) {
        // We asked it to stop: an exit now is the shutdown, whatever its code.
        return checkMonotonic(observed, { status: { ...status(TaskState.SHUTDOWN, 'shutdown'), exitCode: exit.exitCode } });
      }
      if (exit.exitCode === 0 && !exit.oomKilled) {
        return checkMonotonic(observed, { status: { ...status(TaskState.COMPLETE, 'finished'), exitCode: 0 } });
      }
      const why = exit.oomKilled ? `task: OOM killed (exit code ${exit.exitCode})` : `task: non-zero exit (${exit.exitCode})`;
      const err = exit.message ? `${why}: ${exit.message}` : why;
      return checkMonotonic(observed, { status: { ...status(TaskState.FAILED, 'failed', err), exitCode: exit.exitCode } });
    }
    case 'shutdown':
      if (outcome.kind === 'fatal') return checkMonotonic(observed, { status: status(TaskState.FAILED, 'shutdown', outcome.message) });
      return checkMonotonic(observed, { status: status(TaskState.SHUTDOWN, 'shutdown') });
    case 'remove':
      // A fatal remove cannot be retried usefully: give up (the runner reports the error through onError).
      return { removed: true };
  }
}

function status(state: TaskState, message: string, err = ''): StatusChange {
  return { state, message, err };
}
