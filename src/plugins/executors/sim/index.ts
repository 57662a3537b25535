/**
 * The `sim` executor: runs nothing, but walks each task through prepare/start/exit on injected Timers, so the
 * deterministic simulation and the scale benchmarks can run thousands of nodes in one process. It is cheap on
 * purpose: a zero delay resolves without a timer, and a running task holds a timer only if it is configured to
 * exit (run-ms / fail-after-ms). Behaviour per task comes from the container spec's labels or env:
 *
 * | label (`swarmhost.sim.`…) | env (`SWARMHOST_SIM_`…) | effect |
 * |---|---|---|
 * | `run-ms` | `RUN_MS` | exits after this many ms of running, code `exit-code` (default 0) |
 * | `fail-after-ms` | `FAIL_AFTER_MS` | exits after this many ms of running, code `exit-code` (default 1) |
 * | `exit-code` | `EXIT_CODE` | the exit code used above |
 * | `prepare-error` | `PREPARE_ERROR` | prepare fails fatally with this message (→ REJECTED) |
 * | `start-error` | `START_ERROR` | start fails fatally with this message (→ FAILED) |
 * | `temporary-errors` | `TEMPORARY_ERRORS` | the first N prepare calls fail temporarily |
 * | `ignore-stop` | `IGNORE_STOP` | "true": ignores the stop signal, so shutdown kills after the grace period |
 *
 * Processes live in a {@link SimEngine} that can outlive an executor instance, which is how tests simulate
 * an agent restart followed by `recover`.
 */
import type { Resources, Task } from '../../../host/api/objects.js';
import type { Timers, TimerHandle } from '../../../host/env/index.js';
import { ExecutorFatalError, ExecutorTemporaryError, abortError, taskName } from '../../../host/agent/executor.js';
import type {
  Controller,
  ControllerInspect,
  ExitWatch,
  Executor,
  ExitResult,
  NodeDescriptionPart,
  TaskHandle,
} from '../../../host/agent/executor.js';
import { InvalidArgumentError } from '../../../host/api/errors.js';

/** Per-task behaviour, parsed from labels/env (see the module doc). */
export interface SimBehaviour {
  runMs?: number;
  exitCode: number;
  prepareError?: string;
  startError?: string;
  temporaryErrors: number;
  ignoreStop: boolean;
}

/** Simulated step durations in ms (0 = immediate, no timer). */
export interface SimDelays {
  prepareMs: number;
  startMs: number;
  /** Time a cooperative task takes to exit after the stop signal. */
  stopMs: number;
}

interface SimProc {
  taskId: string;
  name: string;
  behaviour: SimBehaviour;
  phase: 'created' | 'running' | 'exited';
  pid: number;
  exit?: ExitResult;
  exitTimer?: TimerHandle;
  /** Told once at exit: wait()'s callbacks and watchExit()'s watches. */
  waiters: Set<((r: ExitResult) => void) | SimExitWatch>;
}

/**
 * The simulated "machine" holding the sim processes of one node. Share one between executor instances to
 * simulate an agent restart (the processes keep running).
 */
export class SimEngine {
  readonly procs = new Map<string, SimProc>();
  /** Prepare calls made so far per task not yet prepared (drives `temporary-errors`). */
  readonly prepareCalls = new Map<string, number>();
  private nextPid = 1000;

  constructor(readonly timers: Timers) {}

  /** A fresh simulated pid. */
  allocPid(): number {
    return this.nextPid++;
  }

  /** Ends a running sim process now with `exitCode` (a test's "kill -9" or crash). No-op if not running. */
  kill(taskId: string, exitCode = 137, message = 'killed'): void {
    const p = this.procs.get(taskId);
    if (p && p.phase === 'running') this.exit(p, { exitCode, message });
  }

  /** Number of sim processes currently running. */
  runningCount(): number {
    let n = 0;
    for (const p of this.procs.values()) if (p.phase === 'running') n++;
    return n;
  }

  /** Marks `p` exited and wakes its waiters. */
  exit(p: SimProc, r: ExitResult): void {
    if (p.phase === 'exited') return;
    if (p.exitTimer) this.timers.clearTimeout(p.exitTimer);
    p.exitTimer = undefined;
    p.phase = 'exited';
    p.exit = r;
    const ws = [...p.waiters];
    p.waiters.clear();
    for (const w of ws) {
      if (typeof w === 'function') w(r);
      else w.exited(r);
    }
  }
}

/** Options of the sim executor. */
export interface SimExecutorOptions {
  timers: Timers;
  /** Share one engine across instances to simulate agent restarts; a new one is made by default. */
  engine?: SimEngine;
  delays?: Partial<SimDelays>;
  hostname?: string;
  /** Offered capacity; default 4 CPUs (4e9 nano-CPUs) and 8 GiB. */
  resources?: Resources;
  engineLabels?: Record<string, string>;
}

const PREFIX = 'swarmhost.sim.';
const ENV_PREFIX = 'SWARMHOST_SIM_';

/** The settings' env variable prefixes (`SWARMHOST_SIM_RUN_MS=`...), computed once rather than per lookup. */
const ENV_KEYS = new Map<string, string>(
  ['run-ms', 'fail-after-ms', 'exit-code', 'prepare-error', 'start-error', 'temporary-errors', 'ignore-stop'].map((k) => [
    k,
    ENV_PREFIX + k.toUpperCase().replace(/-/g, '_') + '=',
  ]),
);

function readSetting(task: Task, key: string): string | undefined {
  const c = task.spec?.container;
  const fromLabel = c?.labels?.[PREFIX + key];
  if (fromLabel !== undefined) return fromLabel;
  const envKey = ENV_KEYS.get(key)!;
  for (const e of c?.env ?? []) if (e.startsWith(envKey)) return e.slice(envKey.length);
  return undefined;
}

/** True when the task's labels or env carry any sim setting (most tasks carry none: one scan, not one per key). */
function hasSettings(task: Task): boolean {
  const c = task.spec?.container;
  if (c === undefined) return false;
  const labels = c.labels;
  if (labels !== undefined) for (const k in labels) if (k.startsWith(PREFIX)) return true;
  const env = c.env;
  if (env !== undefined) for (const e of env) if (e.startsWith(ENV_PREFIX)) return true;
  return false;
}

function readMs(task: Task, key: string): number | undefined {
  const v = readSetting(task, key);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`sim executor: ${PREFIX}${key} must be a non-negative number of ms, got "${v}"`);
  return n;
}

/** Parses the sim behaviour of a task from its labels/env; a malformed value is an InvalidArgumentError naming it. */
export function simBehaviour(task: Task): SimBehaviour {
  if (!hasSettings(task)) return { exitCode: 0, temporaryErrors: 0, ignoreStop: false };
  const failAfter = readMs(task, 'fail-after-ms');
  const run = readMs(task, 'run-ms');
  const codeText = readSetting(task, 'exit-code');
  let exitCode = failAfter !== undefined ? 1 : 0;
  if (codeText !== undefined) {
    exitCode = Number(codeText);
    if (!Number.isInteger(exitCode) || exitCode < 0 || exitCode > 255) {
      throw new InvalidArgumentError(`sim executor: ${PREFIX}exit-code must be an integer 0..255, got "${codeText}"`);
    }
  }
  const b: SimBehaviour = {
    exitCode,
    temporaryErrors: readMs(task, 'temporary-errors') ?? 0,
    ignoreStop: readSetting(task, 'ignore-stop') === 'true',
  };
  const runMs = failAfter ?? run;
  if (runMs !== undefined) b.runMs = runMs;
  const pe = readSetting(task, 'prepare-error');
  if (pe !== undefined) b.prepareError = pe;
  const se = readSetting(task, 'start-error');
  if (se !== undefined) b.startError = se;
  return b;
}

/** Executor that simulates tasks on injected timers. */
export class SimExecutor implements Executor {
  readonly name = 'sim';
  readonly engine: SimEngine;
  readonly delays: SimDelays;

  constructor(private readonly opts: SimExecutorOptions) {
    this.engine = opts.engine ?? new SimEngine(opts.timers);
    this.delays = { prepareMs: 0, startMs: 0, stopMs: 0, ...opts.delays };
  }

  async describe(): Promise<NodeDescriptionPart> {
    return {
      hostname: this.opts.hostname ?? 'sim',
      platform: { os: 'linux', architecture: 'x86_64' },
      resources: structuredClone(this.opts.resources ?? { nanoCpus: 4e9, memoryBytes: 8 * 1024 ** 3 }),
      engine: { engineVersion: 'sim', labels: { ...this.opts.engineLabels }, plugins: [] },
    };
  }

  controller(task: Task): Controller {
    return new SimController(this, task);
  }

  async recover(handle: TaskHandle, task: Task): Promise<Controller> {
    if (handle.executor !== 'sim') throw new ExecutorFatalError(`sim executor: cannot recover a ${handle.executor} handle`);
    if (!this.engine.procs.has(handle.taskId)) throw new ExecutorFatalError(`sim executor: task ${handle.taskId} is gone`);
    return new SimController(this, task);
  }

  async close(): Promise<void> {}

  /** Resolves after `ms` simulated ms; immediately (no timer) for 0. */
  delay(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => this.opts.timers.setTimeout(resolve, ms));
  }
}

/** A watch on a sim process's exit: one object (no closures of its own) registered with the process. */
class SimExitWatch implements ExitWatch {
  readonly exit: Promise<ExitResult>;
  private resolve!: (r: ExitResult) => void;
  private reject!: (err: Error) => void;

  constructor(private readonly p: SimProc) {
    this.exit = new Promise<ExitResult>((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
    p.waiters.add(this);
  }

  /** Called by the engine when the process exits. */
  exited(r: ExitResult): void {
    this.resolve({ ...r });
  }

  cancel(): void {
    if (this.p.waiters.delete(this)) this.reject(abortError());
  }
}

class SimController implements Controller {
  /** Every sim call settles after its configured simulated delay: no runner timeouts needed. */
  readonly selfBounded = true;
  private readonly engine: SimEngine;
  private lastHandle: TaskHandle | undefined;

  constructor(
    private readonly ex: SimExecutor,
    private readonly task: Task,
  ) {
    this.engine = ex.engine;
  }

  private proc(): SimProc | undefined {
    return this.engine.procs.get(this.task.id);
  }

  async prepare(): Promise<void> {
    let p = this.proc();
    if (p) return;
    let behaviour: SimBehaviour;
    try {
      behaviour = simBehaviour(this.task);
    } catch (err) {
      throw new ExecutorFatalError((err as Error).message);
    }
    if (this.ex.delays.prepareMs > 0) {
      await this.ex.delay(this.ex.delays.prepareMs);
      if (this.proc()) return;
    }
    const calls = this.engine.prepareCalls;
    const n = calls.get(this.task.id) ?? 0;
    // Counted only while a failure is configured (a task that prepares at once leaves no entry to delete).
    if (n < behaviour.temporaryErrors || behaviour.prepareError !== undefined) calls.set(this.task.id, n + 1);
    if (n < behaviour.temporaryErrors) throw new ExecutorTemporaryError(`sim executor: temporary prepare failure ${n + 1} of ${behaviour.temporaryErrors}`);
    if (behaviour.prepareError !== undefined) throw new ExecutorFatalError(behaviour.prepareError);
    if (n > 0) calls.delete(this.task.id);
    p = {
      taskId: this.task.id,
      name: taskName(this.task),
      behaviour,
      phase: 'created',
      pid: 0,
      waiters: new Set(),
    };
    this.engine.procs.set(this.task.id, p);
  }

  async start(): Promise<void> {
    const p = this.proc();
    if (!p) throw new ExecutorFatalError(`sim executor: task ${this.task.id} was not prepared`);
    if (p.phase !== 'created') return;
    if (p.behaviour.startError !== undefined) throw new ExecutorFatalError(p.behaviour.startError);
    if (this.ex.delays.startMs > 0) {
      await this.ex.delay(this.ex.delays.startMs);
      if (p.phase !== 'created') return;
    }
    p.phase = 'running';
    p.pid = this.engine.allocPid();
    if (p.behaviour.runMs !== undefined) {
      const code = p.behaviour.exitCode;
      p.exitTimer = this.engine.timers.setTimeout(() => this.engine.exit(p, { exitCode: code, message: '' }), p.behaviour.runMs);
    }
  }

  wait(signal?: AbortSignal): Promise<ExitResult> {
    const p = this.proc();
    if (!p) return Promise.reject(new ExecutorFatalError(`sim executor: task ${this.task.id} does not exist`));
    if (p.exit) return Promise.resolve({ ...p.exit });
    if (signal?.aborted) return Promise.reject(abortError());
    return new Promise((resolve, reject) => {
      const onExit = (r: ExitResult): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve({ ...r });
      };
      const onAbort = (): void => {
        p.waiters.delete(onExit);
        reject(abortError());
      };
      p.waiters.add(onExit);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  watchExit(): ExitWatch {
    const p = this.proc();
    if (!p) return { exit: Promise.reject(new ExecutorFatalError(`sim executor: task ${this.task.id} does not exist`)), cancel: () => undefined };
    if (p.exit) return { exit: Promise.resolve({ ...p.exit }), cancel: () => undefined };
    return new SimExitWatch(p);
  }

  async shutdown(graceMs: number): Promise<void> {
    const p = this.proc();
    if (!p || p.phase === 'exited') return;
    if (p.phase === 'created') {
      this.engine.exit(p, { exitCode: 0, message: 'never started' });
      return;
    }
    if (p.behaviour.ignoreStop) {
      await this.ex.delay(graceMs);
      this.engine.exit(p, { exitCode: 137, message: 'killed after the stop grace period' });
    } else {
      await this.ex.delay(Math.min(this.ex.delays.stopMs, graceMs));
      this.engine.exit(p, { exitCode: 143, message: 'stopped' });
    }
  }

  async terminate(): Promise<void> {
    const p = this.proc();
    if (p && p.phase !== 'exited') this.engine.exit(p, { exitCode: 137, message: 'killed' });
  }

  async remove(): Promise<void> {
    await this.terminate();
    this.engine.procs.delete(this.task.id);
  }

  async inspect(): Promise<ControllerInspect> {
    const p = this.proc();
    if (!p) return { running: false };
    const r: ControllerInspect = { running: p.phase === 'running', pid: p.phase === 'running' ? p.pid : 0 };
    if (p.exit) r.exitCode = p.exit.exitCode;
    return r;
  }

  handle(): TaskHandle {
    const pid = this.proc()?.pid ?? 0;
    // The same object while the pid is the same (handles are kept as given, never mutated): the runner asks
    // for it with every status.
    if (this.lastHandle?.data.pid !== pid) this.lastHandle = { executor: 'sim', taskId: this.task.id, data: { pid } };
    return this.lastHandle;
  }
}
