/**
 * The executor contract: the agent owns each task's state machine (task-machine.ts) and reports status; an
 * executor plugin only runs things. One Executor per node; one Controller per task. Every Controller call is
 * idempotent (calling it twice has the effect of calling it once) and either takes an AbortSignal or has a
 * bounded duration, so a runner can never hang on a plugin. Times are milliseconds, CPU is nano-CPUs
 * (1e9 = one core), memory is bytes.
 */
import { Code, SwarmError } from '../api/errors.js';
import type { EngineDescription, Platform, Resources, Task } from '../api/objects.js';

/** What an executor contributes to the node's description (sent to the dispatcher at registration). */
export interface NodeDescriptionPart {
  hostname: string;
  /** `os` like "linux", `architecture` like "x86_64" (uname -m style, as Docker reports it). */
  platform: Platform;
  /** Capacity the executor can give tasks: CPU in nano-CPUs, memory in bytes. */
  resources: Resources;
  /** Engine version, engine labels (matched by `engine.labels.*` constraints) and plugins. */
  engine: EngineDescription;
}

/** How a task's process or container ended. */
export interface ExitResult {
  /** Process exit status; 128 + signal number when killed by a signal (shell convention). */
  exitCode: number;
  /** True when the kernel's OOM killer ended it (docker reports this; others leave it undefined). */
  oomKilled?: boolean;
  /** Human-readable detail, e.g. the engine's error text; empty when there is nothing to add. */
  message: string;
}

/** A snapshot of a controller's task as the executor sees it now. */
export interface ControllerInspect {
  running: boolean;
  /** Present once the task has exited. */
  exitCode?: number;
  /** Host pid of the task's main process (0 or absent when not running). */
  pid?: number;
  /** Docker container id (docker executor only). */
  containerId?: string;
}

/**
 * JSON-able record that lets {@link Executor.recover} take over a task after an agent restart or an executor
 * swap, without restarting it. `data` is executor-specific (container id; pid + start time; ...).
 */
export interface TaskHandle {
  /** Name of the executor that made it ('docker' | 'process' | 'sim'). */
  executor: string;
  taskId: string;
  data: Record<string, string | number | boolean | null>;
}

/** One log line of a task, `time` in ms since the epoch. */
export interface LogLine {
  stream: 'stdout' | 'stderr';
  line: string;
  time: number;
}

/** Drives one task's process or container. All calls are idempotent. */
export interface Controller {
  /**
   * True when every call but `wait` is guaranteed to settle on its own within a bounded (simulated) time, as
   * the sim executor's are: the runner then arms no timeout timer per call, which keeps thousands of simulated
   * tasks cheap. Real executors leave it unset.
   */
  readonly selfBounded?: boolean;
  /** Creates the container / validates the command. Throws ExecutorFatalError (→ REJECTED) or ExecutorTemporaryError (retried). */
  prepare(): Promise<void>;
  /** Starts it; a no-op if it is running or has already run. */
  start(): Promise<void>;
  /** Resolves when the task's process/container exits; rejects with an AbortError-named error if `signal` aborts. */
  wait(signal?: AbortSignal): Promise<ExitResult>;
  /**
   * Optional, the same as `wait` but cancelled through the returned {@link ExitWatch} instead of an
   * AbortSignal. An executor that can watch an exit without I/O (sim) offers it: the runner then makes no
   * AbortController and adds no event listener per task (each costs microseconds, which counts at thousands of
   * simulated tasks). Without it the runner calls `wait(signal)`.
   */
  watchExit?(): ExitWatch;
  /** Sends the stop signal, then kills after `graceMs` milliseconds; resolves once it is no longer running. */
  shutdown(graceMs: number): Promise<void>;
  /** Kills now; resolves once it is no longer running. */
  terminate(): Promise<void>;
  /** Deletes the container / files (kills first if needed). A missing container is not an error. */
  remove(): Promise<void>;
  inspect(): Promise<ControllerInspect>;
  /** What recover() needs to take this task over. */
  handle(): TaskHandle;
  /** Log lines of the task; with `follow` it keeps yielding until `signal` aborts or the task ends. */
  logs?(opts: { follow: boolean; signal: AbortSignal }): AsyncIterable<LogLine>;
}

/** A wait for a task's exit in progress ({@link Controller.watchExit}). */
export interface ExitWatch {
  /** Settles as `wait` would: the exit, or its error; an AbortError-named error once cancelled first. */
  readonly exit: Promise<ExitResult>;
  /** Gives the wait up (its listener is released now); `exit` then rejects with an AbortError. Idempotent. */
  cancel(): void;
}

/** A node's executor plugin. */
export interface Executor {
  /** 'docker' | 'process' | 'sim' (or a third-party name). */
  readonly name: string;
  /** The node's hostname, platform, resources and engine labels as this executor sees them. */
  describe(): Promise<NodeDescriptionPart>;
  /** A controller for one task; cheap, does no I/O until a controller method is called. */
  controller(task: Task): Controller;
  /** Takes over a task from a persisted handle WITHOUT restarting it; ExecutorFatalError if it is gone. */
  recover(handle: TaskHandle, task: Task): Promise<Controller>;
  /** Releases connections and timers; running tasks keep running. */
  close(): Promise<void>;
}

/**
 * A failure that retrying cannot fix (missing image, bad command, invalid config). Before STARTING the agent
 * reports the task REJECTED with this message; at or after STARTING, FAILED.
 */
export class ExecutorFatalError extends SwarmError {
  constructor(message: string) {
    super(Code.FAILED_PRECONDITION, message);
  }
}

/** A failure that may pass (engine busy, call timed out): the agent retries the same step with backoff. */
export class ExecutorTemporaryError extends SwarmError {
  constructor(message: string) {
    super(Code.UNAVAILABLE, message);
  }
}

/** True for errors an executor marked as fatal; anything else unknown is treated as temporary by the runner. */
export function isFatal(err: unknown): err is ExecutorFatalError {
  return err instanceof ExecutorFatalError;
}

/** The task's name as SwarmKit forms it: `<service>.<slot>.<taskId>`, node id instead of slot 0; an explicit task name wins. */
export function taskName(task: Task): string {
  if (task.annotations?.name) return task.annotations.name;
  const service = task.serviceAnnotations?.name || task.serviceId || 'task';
  const slot = task.slot === 0 ? task.nodeId : String(task.slot);
  return `${service}.${slot}.${task.id}`;
}

/** Error thrown by controller waits when their AbortSignal fires. */
export function abortError(): Error {
  const e = new Error('the operation was aborted');
  e.name = 'AbortError';
  return e;
}
