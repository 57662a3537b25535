/**
 * Drives one task's Controller through the pure state machine (task-machine.ts), reporting every status
 * change through a callback. It reacts to desired-state changes (a stop aborts the running wait and shuts the
 * task down with its stop grace period), retries temporary errors with backoff on the injected Timers, and
 * bounds every controller call except `wait` (which is cancelled through its AbortSignal instead).
 */
import { TaskState } from '../api/objects.js';
import type { Task, TaskStatus } from '../api/objects.js';
import { withDeadline, type Timers, type TimerHandle } from '../env/index.js';
import { isFatal } from './executor.js';
import type { Controller, ExitResult, TaskHandle } from './executor.js';
import { DEFAULT_BACKOFF, applyOutcome, isTerminal, nextAction } from './task-machine.js';
import type { BackoffConfig, ControllerOp, MachineState, Outcome, StatusChange } from './task-machine.js';

/** Upper bounds on controller calls, in milliseconds. A call that exceeds its bound counts as a temporary error. */
export interface RunnerLimits {
  /** prepare may pull an image: generous. */
  prepareTimeoutMs: number;
  startTimeoutMs: number;
  /** Added to the task's stop grace period to bound shutdown. */
  shutdownExtraMs: number;
  removeTimeoutMs: number;
  inspectTimeoutMs: number;
}

/** Default call bounds (ms). */
export const DEFAULT_RUNNER_LIMITS: RunnerLimits = {
  prepareTimeoutMs: 300_000,
  startTimeoutMs: 60_000,
  shutdownExtraMs: 30_000,
  removeTimeoutMs: 60_000,
  inspectTimeoutMs: 10_000,
};

/** Stop grace period used when the task spec leaves it at 0/undefined (SwarmKit's default, 10 s). */
export const DEFAULT_STOP_GRACE_MS = 10_000;

/** Options of a {@link TaskRunner}. */
export interface TaskRunnerOptions {
  task: Task;
  controller: Controller;
  timers: Timers;
  /**
   * Called on every status change (persist it, then report it); `handle` lets a restarted agent recover. The
   * status object is the runner's own, never changed afterwards: keep it as is, do not mutate it.
   */
  onStatus: (status: TaskStatus, handle: TaskHandle) => void;
  /** Status to resume from (after recovery); defaults to `task.status`. */
  initialStatus?: TaskStatus;
  backoff?: BackoffConfig;
  limits?: Partial<RunnerLimits>;
  /** Told about every failed controller call (for logs); must not throw. */
  onError?: (op: ControllerOp, err: unknown, willRetry: boolean) => void;
}

/**
 * The cancel flag of one controller call: `aborted` is read after the call; `cancel` is how a `wait` in
 * progress is given up (its ExitWatch's cancel, or its AbortController's abort), set by the call itself.
 */
class CallFlag {
  aborted = false;
  cancel: { cancel(): void } | undefined = undefined;
  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.cancel?.cancel();
  }
}

/** The outcome of a call that succeeded (shared: outcomes are read, never changed). */
const OK: Outcome = Object.freeze({ kind: 'ok' });

/** The outcome of a failed call: fatal when the executor says so, else temporary (retried). */
function failure(err: unknown, flag: CallFlag): Outcome {
  if (flag.aborted) return { kind: 'temporary', message: 'aborted' };
  const message = err instanceof Error ? err.message : String(err);
  return isFatal(err) ? { kind: 'fatal', message } : { kind: 'temporary', message };
}

/** Runs one task. Create, call {@link TaskRunner.run}, feed desired-state changes, {@link TaskRunner.stop} to detach. */
export class TaskRunner {
  private readonly controller: Controller;
  private readonly timers: Timers;
  private readonly limits: RunnerLimits;
  private readonly backoff: BackoffConfig;
  private desired: TaskState;
  private current: TaskStatus;
  private removed = false;
  private stopped = false;
  /** Aborts the controller call in progress (only a `wait` is actually interrupted; see CallFlag). */
  private callAbort: CallFlag | undefined;
  private currentOp: ControllerOp | undefined;
  private wake: (() => void) | undefined;
  private attempt = 0;

  constructor(private readonly opts: TaskRunnerOptions) {
    this.controller = opts.controller;
    this.timers = opts.timers;
    this.limits = opts.limits === undefined ? DEFAULT_RUNNER_LIMITS : { ...DEFAULT_RUNNER_LIMITS, ...opts.limits };
    this.backoff = opts.backoff ?? DEFAULT_BACKOFF;
    this.desired = opts.task.desiredState;
    this.current = { ...(opts.initialStatus ?? opts.task.status) };
  }

  /** The last status reported (or the initial one). */
  get status(): TaskStatus {
    return this.current;
  }

  /** The desired state the runner currently works towards. */
  get desiredState(): TaskState {
    return this.desired;
  }

  /** True when nothing is left to do: the task ended and, if it was to be removed, it was. */
  get finished(): boolean {
    return isTerminal(this.current.state) && (this.desired < TaskState.REMOVE || this.removed);
  }

  /** Applies a new desired state from the manager; it is never lowered (a lower value is ignored). */
  setDesired(state: TaskState): void {
    if (state <= this.desired) return;
    this.desired = state;
    if (state >= TaskState.SHUTDOWN && this.currentOp === 'wait') this.callAbort?.abort();
    this.poke();
  }

  /** Stops driving the task WITHOUT touching it (agent shutdown or executor swap): it keeps running. */
  stop(): void {
    this.stopped = true;
    this.callAbort?.abort();
    this.poke();
  }

  /** Drives the task until {@link TaskRunner.stop}. Never rejects: controller errors become statuses or retries. */
  async run(): Promise<void> {
    // One machine-state object for the whole run, refreshed each step: the pure machine keeps nothing of it.
    const state: MachineState = { desired: this.desired, observed: this.current.state, removed: this.removed };
    while (!this.stopped) {
      state.desired = this.desired;
      state.observed = this.current.state;
      state.removed = this.removed;
      const action = nextAction(state);
      if (action.kind === 'report') {
        this.emit(action.status);
        continue;
      }
      if (action.kind === 'idle') {
        await this.sleep(undefined);
        continue;
      }
      const op = action.op;
      // A plain flag per call; only a `wait` makes a way to interrupt it (an AbortController per call is costly).
      const flag = new CallFlag();
      this.callAbort = flag;
      this.currentOp = op;
      let outcome: Outcome;
      // The call's promise is awaited here, not in a helper async function: one await per call, no extra frame.
      try {
        const exit = await this.call(op, flag);
        outcome = exit === undefined ? OK : { kind: 'exited', exit };
      } catch (err) {
        outcome = failure(err, flag);
      } finally {
        this.callAbort = undefined;
        this.currentOp = undefined;
      }
      if (this.stopped) break;
      if (flag.aborted && outcome.kind !== 'exited' && outcome.kind !== 'ok') continue; // desired changed under a wait
      // Decide with the desired state as it is now: an exit that races a stop request is the shutdown.
      state.desired = this.desired;
      const decision = applyOutcome(state, op, outcome, this.attempt, this.backoff);
      if (outcome.kind === 'temporary' || outcome.kind === 'fatal') {
        this.opts.onError?.(op, new Error(outcome.message), decision.retryAfterMs !== undefined);
      }
      if (decision.retryAfterMs !== undefined) {
        this.attempt++;
        await this.sleep(decision.retryAfterMs);
        continue;
      }
      this.attempt = 0;
      if (decision.removed) this.removed = true;
      if (decision.status) {
        if (decision.status.state === TaskState.RUNNING) {
          // The pid/container id for the RUNNING status; informative only: without them it is reported as is.
          try {
            const info = await this.bounded(this.controller.inspect(), this.limits.inspectTimeoutMs, 'inspect');
            this.emit(decision.status, { containerId: info.containerId ?? '', pid: info.pid ?? 0, exitCode: 0 });
            continue;
          } catch {
            // reported without them, below
          }
        }
        this.emit(decision.status, undefined);
      }
    }
  }

  /** Starts controller call `op`; the promise gives the exit for `wait`, nothing for the others. May throw. */
  private call(op: ControllerOp, flag: CallFlag): Promise<ExitResult | void> {
    const c = this.controller;
    switch (op) {
      case 'prepare':
        return this.bounded(c.prepare(), this.limits.prepareTimeoutMs, op);
      case 'start':
        return this.bounded(c.start(), this.limits.startTimeoutMs, op);
      case 'wait':
        return this.waitExit(flag);
      case 'shutdown': {
        const grace = this.graceMs();
        return this.bounded(c.shutdown(grace), grace + this.limits.shutdownExtraMs, op);
      }
      case 'remove':
        return this.bounded(c.remove(), this.limits.removeTimeoutMs, op);
    }
  }

  /** The controller's wait, interruptible through `flag`: its ExitWatch when it has one, else an AbortSignal. */
  private waitExit(flag: CallFlag): Promise<ExitResult> {
    const c = this.controller;
    if (c.watchExit !== undefined) {
      const w = c.watchExit();
      flag.cancel = w; // the watch itself: its cancel() method, no closure
      return w.exit;
    }
    const ac = new AbortController();
    flag.cancel = { cancel: () => ac.abort() };
    return c.wait(ac.signal);
  }

  private graceMs(): number {
    const g = this.opts.task.spec?.container?.stopGracePeriodMs;
    return g !== undefined && g > 0 ? g : DEFAULT_STOP_GRACE_MS;
  }

  /** Races `p` against a timer of `ms`; the loser is ignored (a late rejection is swallowed). */
  private bounded<T>(p: Promise<T>, ms: number, op: string): Promise<T> {
    if (this.controller.selfBounded) return p;
    return withDeadline(this.timers, p, ms, () => new Error(`executor: ${op} did not finish within ${ms} ms`));
  }

  /** Reports `change`; `container` (from inspect) replaces the last status's container info when given. */
  private emit(change: StatusChange, container: TaskStatus['container'] = this.current.container ?? { containerId: '', pid: 0, exitCode: 0 }): void {
    const next: TaskStatus = {
      timestamp: this.timers.now(),
      state: change.state,
      message: change.message,
      err: change.err,
      container: change.exitCode !== undefined ? { ...container, exitCode: change.exitCode } : container,
      appliedBy: '',
      appliedAt: 0,
    };
    this.current = next;
    // Handed over as is (no copy): the runner never mutates a status once emitted.
    this.opts.onStatus(next, this.controller.handle());
  }

  /** Waits for `ms` (or, when undefined, indefinitely) or until a desired-state change or stop. */
  private sleep(ms: number | undefined): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let h: TimerHandle | undefined;
      this.wake = () => {
        if (h) this.timers.clearTimeout(h);
        this.wake = undefined;
        resolve();
      };
      if (ms !== undefined) h = this.timers.setTimeout(() => this.poke(), ms);
    });
  }

  private poke(): void {
    this.wake?.();
  }
}
