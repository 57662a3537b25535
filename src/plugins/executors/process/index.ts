/**
 * The `process` executor: runs a task's `command` + `args` as a local child process, the embedded default when
 * no Docker engine answers. Each task gets `<stateDir>/tasks/<taskId>/` holding `stdout.log`, `stderr.log`,
 * `pid` (JSON {pid, startTime}) and, once the task exits, `exitcode`.
 *
 * - The child runs under a tiny `/bin/sh` wrapper in its own process group (detached). The wrapper traps the
 *   catchable stop signals (so it survives them and outlives the command), runs the command in the foreground,
 *   and writes the command's exit status to `exitcode`. That is how an exit that happens after an agent
 *   restart still has its code: the new agent is not the parent and cannot collect it.
 * - Stop: the stop signal (spec `stopSignal`, default SIGTERM) goes to the whole group; after the grace period,
 *   SIGKILL to the group. A task killed by SIGKILL (wrapper included) has no `exitcode` file: its code is
 *   reported as 137 (128 + 9).
 * - `recover(handle)` re-attaches by pid, checking the process start time in `/proc/<pid>/stat` so that a
 *   reused pid is never mistaken for the task, then polls for the exit.
 * - `--image` (spec `image`) is ignored except that it is recorded in the task's `pid` file, for display.
 * - Env: the task's `env` on top of `PATH` (inherited from the agent, so commands resolve); nothing else leaks.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { constants as fsConstants, openSync, closeSync } from 'node:fs';
import { access, mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import { arch, constants as osConstants, cpus, hostname, totalmem } from 'node:os';
import { delimiter, isAbsolute, join } from 'node:path';
import type { Task } from '../../../host/api/objects.js';
import { RealTimers } from '../../../host/env/index.js';
import type { Timers } from '../../../host/env/index.js';
import { ExecutorFatalError, ExecutorTemporaryError, abortError } from '../../../host/agent/executor.js';
import type { Controller, ControllerInspect, Executor, ExitResult, LogLine, NodeDescriptionPart, TaskHandle } from '../../../host/agent/executor.js';

/** Options of the process executor. */
export interface ProcessExecutorOptions {
  /** Agent state dir; task files go under `<stateDir>/tasks/<taskId>/`. */
  stateDir: string;
  timers?: Timers;
  /** How often a recovered (non-child) task is checked for exit, ms. Default 100. */
  pollMs?: number;
  /** How long to wait for a process to disappear after SIGKILL, ms. Default 5000. */
  killWaitMs?: number;
  engineLabels?: Record<string, string>;
}

/** Longest wait at start for the command to be running under its wrapper (see untilCommandRuns), ms. */
const COMMAND_START_WAIT_MS = 2_000;

const WRAPPER = 'f=$1; shift; trap ":" TERM INT HUP QUIT USR1 USR2; "$@"; c=$?; echo "$c" > "$f"; exit "$c"';

/** uname -m style names, matching what Docker reports as Architecture. */
function machineArch(): string {
  const a = arch();
  return a === 'x64' ? 'x86_64' : a === 'arm64' ? 'aarch64' : a === 'ia32' ? 'i386' : a;
}

/** Start time of `pid` in clock ticks since boot (field 22 of /proc/<pid>/stat), and whether it is a zombie. */
async function procStat(pid: number): Promise<{ startTime: number; zombie: boolean } | undefined> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may contain spaces: parse after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { startTime: Number(rest[19]), zombie: rest[0] === 'Z' || rest[0] === 'X' };
}

/** Normalises "TERM", "sigterm", "15" to a Node signal name; undefined if unknown. */
export function parseSignal(s: string): NodeJS.Signals | undefined {
  const sigs = osConstants.signals as Record<string, number>;
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    return Object.keys(sigs).find((k) => sigs[k] === n) as NodeJS.Signals | undefined;
  }
  const name = (s.toUpperCase().startsWith('SIG') ? s.toUpperCase() : `SIG${s.toUpperCase()}`) as NodeJS.Signals;
  return name in sigs ? name : undefined;
}

async function resolveExecutable(cmd: string, pathVar: string, cwd: string): Promise<string | undefined> {
  const candidates = cmd.includes('/') ? [isAbsolute(cmd) ? cmd : join(cwd, cmd)] : pathVar.split(delimiter).filter(Boolean).map((d) => join(d, cmd));
  for (const c of candidates) {
    try {
      await access(c, fsConstants.X_OK);
      if ((await stat(c)).isFile()) return c;
    } catch {
      // try the next one
    }
  }
  return undefined;
}

/** Executor running tasks as local child processes. */
export class ProcessExecutor implements Executor {
  readonly name = 'process';
  readonly timers: Timers;
  readonly pollMs: number;
  readonly killWaitMs: number;

  constructor(readonly opts: ProcessExecutorOptions) {
    this.timers = opts.timers ?? new RealTimers();
    this.pollMs = opts.pollMs ?? 100;
    this.killWaitMs = opts.killWaitMs ?? 5000;
  }

  async describe(): Promise<NodeDescriptionPart> {
    return {
      hostname: hostname(),
      platform: { os: process.platform, architecture: machineArch() },
      resources: { nanoCpus: cpus().length * 1e9, memoryBytes: totalmem() },
      engine: { engineVersion: `process/node-${process.versions.node}`, labels: { ...this.opts.engineLabels }, plugins: [] },
    };
  }

  /** The directory holding one task's files. */
  taskDir(taskId: string): string {
    return join(this.opts.stateDir, 'tasks', taskId);
  }

  controller(task: Task): Controller {
    return new ProcessController(this, task);
  }

  async recover(handle: TaskHandle, task: Task): Promise<Controller> {
    if (handle.executor !== 'process') throw new ExecutorFatalError(`process executor: cannot recover a ${handle.executor} handle`);
    const c = new ProcessController(this, task);
    const pid = Number(handle.data.pid);
    const startTime = Number(handle.data.startTime);
    if (!(pid > 0)) throw new ExecutorFatalError(`process executor: handle of task ${handle.taskId} has no pid`);
    try {
      await stat(this.taskDir(task.id));
    } catch {
      throw new ExecutorFatalError(`process executor: task ${task.id} has no state directory; it is gone`);
    }
    c.adopt(pid, startTime);
    return c;
  }

  async close(): Promise<void> {}
}

class ProcessController implements Controller {
  private pid = 0;
  private startTime = 0;
  private child: ChildProcess | undefined;
  private childExit: Promise<void> | undefined;
  private exit: ExitResult | undefined;
  private readonly dir: string;

  constructor(
    private readonly ex: ProcessExecutor,
    private readonly task: Task,
  ) {
    this.dir = ex.taskDir(task.id);
  }

  /** Binds to an existing process (recovery). */
  adopt(pid: number, startTime: number): void {
    this.pid = pid;
    this.startTime = startTime;
  }

  private get spec() {
    return this.task.spec.container;
  }

  private env(): Record<string, string> {
    const env: Record<string, string> = {};
    if (process.env.PATH) env.PATH = process.env.PATH;
    for (const kv of this.spec.env ?? []) {
      const i = kv.indexOf('=');
      if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
    }
    return env;
  }

  private stopSignal(): NodeJS.Signals {
    const s = this.spec.stopSignal ? parseSignal(this.spec.stopSignal) : 'SIGTERM';
    if (!s) throw new ExecutorFatalError(`process executor: stopSignal "${this.spec.stopSignal}" is not a known signal`);
    return s;
  }

  async prepare(): Promise<void> {
    const argv = [...(this.spec.command ?? []), ...(this.spec.args ?? [])];
    if ((this.spec.command ?? []).length === 0) throw new ExecutorFatalError('process executor: task has no command');
    this.stopSignal();
    const cwd = this.spec.dir || this.dir;
    if (this.spec.dir) {
      const st = await stat(this.spec.dir).catch(() => undefined);
      if (!st?.isDirectory()) throw new ExecutorFatalError(`process executor: working directory "${this.spec.dir}" does not exist`);
    }
    if (this.spec.user) throw new ExecutorFatalError('process executor: spec.user is not supported (tasks run as the agent user)');
    const exe = await resolveExecutable(argv[0]!, this.env().PATH ?? '', cwd);
    if (!exe) throw new ExecutorFatalError(`process executor: executable "${argv[0]}" not found (PATH=${this.env().PATH ?? ''})`);
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
  }

  async start(): Promise<void> {
    if (this.pid > 0) return;
    const recorded = await this.readPidFile();
    if (recorded) {
      // Started before (e.g. the agent died between start and persisting the handle): do not start twice.
      this.adopt(recorded.pid, recorded.startTime);
      return;
    }
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const out = openSync(join(this.dir, 'stdout.log'), 'a', 0o600);
    const err = openSync(join(this.dir, 'stderr.log'), 'a', 0o600);
    let child: ChildProcess;
    try {
      child = spawn('/bin/sh', ['-c', WRAPPER, 'swarmhost-task', join(this.dir, 'exitcode'), ...this.spec.command, ...(this.spec.args ?? [])], {
        cwd: this.spec.dir || this.dir,
        env: this.env(),
        detached: true,
        stdio: ['ignore', out, err],
      });
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', reject);
      });
    } catch (e) {
      throw new ExecutorFatalError(`process executor: cannot start: ${(e as Error).message}`);
    } finally {
      closeSync(out);
      closeSync(err);
    }
    this.child = child;
    this.childExit = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.unref();
    this.pid = child.pid!;
    await this.untilCommandRuns();
    this.startTime = (await procStat(this.pid))?.startTime ?? 0;
    const tmp = join(this.dir, 'pid.tmp');
    await writeFile(tmp, JSON.stringify({ pid: this.pid, startTime: this.startTime, image: this.spec.image ?? '' }));
    await rename(tmp, join(this.dir, 'pid'));
  }

  /**
   * Waits (at most COMMAND_START_WAIT_MS) until the command runs: the wrapper has forked it and the child has
   * exec'd it (its command line is no longer the wrapper's). Before that, a stop signal reaches only shells —
   * the wrapper, which traps it, or its fork, which has not reset that trap yet — and the command would then run
   * unsignalled until the grace period ran out and SIGKILL came. Uses /proc/<pid>/task/<pid>/children and
   * /proc/<pid>/cmdline; where the kernel has no children file it returns at once.
   */
  private async untilCommandRuns(): Promise<void> {
    const deadline = this.ex.timers.now() + COMMAND_START_WAIT_MS;
    const wrapperCmdline = await readFile(`/proc/${this.pid}/cmdline`).catch(() => undefined);
    if (wrapperCmdline === undefined) return;
    let sawChild = false;
    for (;;) {
      let children: string;
      try {
        children = (await readFile(`/proc/${this.pid}/task/${this.pid}/children`, 'utf8')).trim();
      } catch {
        return; // the wrapper is gone already, or the kernel does not list children
      }
      if (this.child?.exitCode !== null || this.child?.signalCode !== null) return;
      if (children === '') {
        if (sawChild) return; // the command ran and ended already
      } else {
        sawChild = true;
        const cmd = await readFile(`/proc/${children.split(' ')[0]}/cmdline`).catch(() => undefined);
        if (cmd === undefined || !cmd.equals(wrapperCmdline)) return; // exec'd (or gone)
      }
      if (this.ex.timers.now() >= deadline) return;
      await new Promise<void>((resolve) => this.ex.timers.setTimeout(resolve, 1));
    }
  }

  private async readPidFile(): Promise<{ pid: number; startTime: number } | undefined> {
    try {
      const j = JSON.parse(await readFile(join(this.dir, 'pid'), 'utf8')) as { pid: number; startTime: number };
      return j.pid > 0 ? j : undefined;
    } catch {
      return undefined;
    }
  }

  /** True while the task's wrapper process (our pid with our start time) exists and is not a zombie. */
  private async alive(): Promise<boolean> {
    if (this.pid <= 0) return false;
    if (this.child) return this.child.exitCode === null && this.child.signalCode === null;
    const st = await procStat(this.pid);
    return st !== undefined && !st.zombie && (this.startTime === 0 || st.startTime === this.startTime);
  }

  private async readExit(): Promise<ExitResult> {
    if (this.exit) return this.exit;
    let text = '';
    try {
      text = (await readFile(join(this.dir, 'exitcode'), 'utf8')).trim();
    } catch {
      // no file: killed together with the wrapper
    }
    if (/^\d+$/.test(text)) {
      const code = Number(text);
      this.exit = { exitCode: code, message: code > 128 ? `terminated by signal ${code - 128}` : '' };
    } else if (this.child && this.child.signalCode) {
      const n = (osConstants.signals as Record<string, number>)[this.child.signalCode] ?? 9;
      // The wrapper itself died of the signal. For SIGKILL that is the grace period running out. For a stop
      // signal it traps, the signal came before the wrapper had installed its trap (a stop right after the
      // start): the task was terminated by that signal, reported the same way as when the command gets it.
      this.exit =
        this.child.signalCode === 'SIGKILL'
          ? { exitCode: 128 + n, message: 'killed by SIGKILL' }
          : { exitCode: 128 + n, message: `terminated by signal ${n}` };
    } else if (this.child && this.child.exitCode !== null) {
      this.exit = { exitCode: this.child.exitCode, message: '' };
    } else {
      this.exit = { exitCode: 137, message: 'process gone without recording an exit code (killed with its wrapper, assumed SIGKILL)' };
    }
    return this.exit;
  }

  /** Resolves when the process is gone, or after `limitMs` (then `false`). */
  private async waitGone(limitMs: number | undefined, signal?: AbortSignal): Promise<boolean> {
    const deadline = limitMs === undefined ? Infinity : this.ex.timers.now() + limitMs;
    for (;;) {
      if (!(await this.alive())) return true;
      if (signal?.aborted) throw abortError();
      const left = deadline - this.ex.timers.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const timers = this.ex.timers;
        const onAbort = (): void => done();
        const h = timers.setTimeout(done, Math.min(this.ex.pollMs, left));
        signal?.addEventListener('abort', onAbort, { once: true });
        this.childExit?.then(done);
        function done(): void {
          timers.clearTimeout(h);
          signal?.removeEventListener('abort', onAbort);
          resolve();
        }
      });
    }
  }

  async wait(signal?: AbortSignal): Promise<ExitResult> {
    if (this.pid <= 0) throw new ExecutorFatalError(`process executor: task ${this.task.id} was not started`);
    await this.waitGone(undefined, signal);
    return { ...(await this.readExit()) };
  }

  private kill(sig: NodeJS.Signals): void {
    try {
      process.kill(-this.pid, sig);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
    }
  }

  async shutdown(graceMs: number): Promise<void> {
    if (!(await this.alive())) return;
    this.kill(this.stopSignal());
    if (await this.waitGone(graceMs)) return;
    await this.terminate();
  }

  async terminate(): Promise<void> {
    if (!(await this.alive())) return;
    this.kill('SIGKILL');
    if (!(await this.waitGone(this.ex.killWaitMs))) {
      throw new ExecutorTemporaryError(`process executor: pid ${this.pid} still alive ${this.ex.killWaitMs} ms after SIGKILL`);
    }
  }

  async remove(): Promise<void> {
    await this.terminate();
    await rm(this.dir, { recursive: true, force: true });
  }

  async inspect(): Promise<ControllerInspect> {
    if (this.pid <= 0) return { running: false };
    if (await this.alive()) return { running: true, pid: this.pid };
    return { running: false, pid: 0, exitCode: (await this.readExit()).exitCode };
  }

  handle(): TaskHandle {
    return { executor: 'process', taskId: this.task.id, data: { pid: this.pid, startTime: this.startTime, dir: this.dir } };
  }

  /**
   * Lines of stdout.log and stderr.log (stdout first); `time` is the file's mtime, as lines carry no stamps.
   * The files are read in chunks of {@link LOG_READ_CHUNK_BYTES} from where the last read stopped (never whole:
   * a long-running task's log may be larger than memory), decoded as UTF-8 across chunk boundaries, and lines
   * longer than {@link MAX_LOG_LINE_CHARS} come as several lines of that length (the same split on every read,
   * so line cursors stay valid). A reader that stops early (a page of lines) reads no further.
   */
  async *logs(opts: { follow: boolean; signal: AbortSignal }): AsyncIterable<LogLine> {
    const offsets = { stdout: 0, stderr: 0 };
    const partial = { stdout: '', stderr: '' };
    const decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
    const chunk = Buffer.allocUnsafe(LOG_READ_CHUNK_BYTES);
    for (;;) {
      // Checked before reading, so the output written just before the exit is still read.
      const wasAlive = opts.follow && (await this.alive());
      for (const stream of ['stdout', 'stderr'] as const) {
        let fh: Awaited<ReturnType<typeof open>>;
        try {
          fh = await open(join(this.dir, `${stream}.log`), 'r');
        } catch {
          continue;
        }
        try {
          const time = (await fh.stat()).mtimeMs;
          for (;;) {
            const { bytesRead } = await fh.read(chunk, 0, chunk.length, offsets[stream]);
            if (bytesRead === 0) break;
            offsets[stream] += bytesRead;
            const lines = (partial[stream] + decoders[stream].write(chunk.subarray(0, bytesRead))).split('\n');
            let rest = lines.pop() ?? '';
            for (const line of lines) yield* logPieces(stream, line, time);
            // An unfinished line is cut only once it is longer than the limit, at the same places as a whole one.
            while (rest.length > MAX_LOG_LINE_CHARS) {
              yield { stream, line: rest.slice(0, MAX_LOG_LINE_CHARS), time };
              rest = rest.slice(MAX_LOG_LINE_CHARS);
            }
            partial[stream] = rest;
          }
        } finally {
          await fh.close();
        }
      }
      if (!wasAlive || opts.signal.aborted) break;
      await new Promise<void>((resolve) => this.ex.timers.setTimeout(resolve, this.ex.pollMs));
    }
    // A last line without a newline is still a line once the reader stops.
    for (const stream of ['stdout', 'stderr'] as const) {
      const last = partial[stream] + decoders[stream].end();
      if (last) yield* logPieces(stream, last, this.ex.timers.now());
    }
  }
}

/** Bytes read from a task's log file per read call (the reader's memory per stream). */
export const LOG_READ_CHUNK_BYTES = 64 * 1024;
/** Longest log line delivered, characters; longer lines come as several (Docker cuts at 16 KiB). */
export const MAX_LOG_LINE_CHARS = 64 * 1024;

/** `line` as log lines of at most MAX_LOG_LINE_CHARS (an empty line is one empty line). */
function* logPieces(stream: 'stdout' | 'stderr', line: string, time: number): Generator<LogLine> {
  let rest = line;
  while (rest.length > MAX_LOG_LINE_CHARS) {
    yield { stream, line: rest.slice(0, MAX_LOG_LINE_CHARS), time };
    rest = rest.slice(MAX_LOG_LINE_CHARS);
  }
  yield { stream, line: rest, time };
}
