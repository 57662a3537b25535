/**
 * Third-party scheduling strategies (ABI v1, docs/abi/strategy-v1.md): validation on load (marker export,
 * allow-listed imports, memory limit, static data below the table), execution in a worker thread over a shared
 * WebAssembly.Memory with a deadline per call, and fallback to the built-in spread when a call traps, aborts,
 * times out or returns invalid decisions. Failures are kept in a status object and logged.
 */
import { Worker } from 'node:worker_threads';
import type { Task } from '../api/objects.js';
import { TaskState } from '../api/objects.js';
import { isTracked } from './task-info.js';
import { InvalidArgumentError } from '../api/errors.js';
import type { Timers } from '../env/index.js';
import type { RecentFailures } from './failures.js';
import type { NodeTable } from './node-table.js';
import type { SchedulePassResult } from './reference.js';
import { FILTER_SLOTS } from './explain.js';
import { declaredImports } from './wasm-imports.js';

/** The ABI version this host speaks; a module's `swarmhost_strategy_abi()` must return it. */
export const STRATEGY_ABI_VERSION = 1;
/** Imports a strategy module may declare: its memory and AssemblyScript's abort. Nothing else. */
export const STRATEGY_ALLOWED_IMPORTS: readonly { module: string; name: string; kind: string }[] = [
  { module: 'env', name: 'memory', kind: 'memory' },
  { module: 'env', name: 'abort', kind: 'function' },
];
/** Exports a strategy module must have (all functions). */
export const STRATEGY_REQUIRED_EXPORTS = ['swarmhost_strategy_abi', 'strategy_evaluate', 'strategy_place', 'strategy_heap_base'] as const;
/** A module's static data must end below this address (bytes): the node table starts there. */
export const STRATEGY_STATIC_LIMIT_BYTES = 65536;
/** Default memory limit of a strategy module, bytes (256 MiB). */
export const DEFAULT_STRATEGY_MEMORY_LIMIT_BYTES = 256 * 1024 * 1024;
/** Default deadline of one strategy call, ms. */
export const DEFAULT_STRATEGY_CALL_TIMEOUT_MS = 1000;
/** Deadline for a worker to start and answer the marker check, ms. */
export const DEFAULT_STRATEGY_START_TIMEOUT_MS = 5000;

const PAGE = 65536;
const WORKER_URL = new URL('./strategy-worker.mjs', import.meta.url);

/** Why a strategy call failed. */
export type StrategyFailureKind = 'trap' | 'abort' | 'timeout' | 'invalid-decision' | 'memory' | 'error';

/** What the CLI shows about a strategy. */
export interface StrategyStatus {
  name: string;
  abiVersion: number;
  /** `ready`: an instance is running or will start on the next call; `closed`: disposed. */
  state: 'ready' | 'closed';
  calls: number;
  failures: number;
  /** Instances discarded after a failure. */
  restarts: number;
  lastFailure?: { kind: StrategyFailureKind; message: string; atMs: number };
}

/** Options of a strategy runner. */
export interface StrategyOptions {
  name: string;
  timers: Timers;
  /** Log sink, one line per event. */
  logger?: (line: string) => void;
  memoryLimitBytes?: number;
  callTimeoutMs?: number;
  startTimeoutMs?: number;
}

/** The ABI's per-node outputs for one task, in node order. */
export interface StrategyEvaluation {
  nodeIds: string[];
  /** First failing filter (FilterCode), 0 = feasible. */
  codes: number[];
  /** Feasibility bitmap, one entry per node. */
  feasible: boolean[];
  /** Score per node (-Infinity when infeasible). */
  scores: number[];
  feasibleCount: number;
}

/** A strategy module refused at load time; the message names the rule. */
export class StrategyLoadError extends InvalidArgumentError {}

/** Checks a module's imports, exports and memory limit without running it; returns the compiled module. */
export function validateStrategyModule(bytes: Uint8Array, memoryLimitBytes: number = DEFAULT_STRATEGY_MEMORY_LIMIT_BYTES): WebAssembly.Module {
  if (!WebAssembly.validate(bytes)) throw new StrategyLoadError('strategy module: not a valid WebAssembly binary');
  const imports = declaredImports(bytes);
  let memory = false;
  for (const im of imports) {
    const ok = STRATEGY_ALLOWED_IMPORTS.some((a) => a.module === im.module && a.name === im.name && a.kind === im.kind);
    if (!ok) throw new StrategyLoadError(`strategy module: import ${im.module}.${im.name} (${im.kind}) is not allowed; allowed: env.memory, env.abort`);
    if (im.kind === 'memory') {
      memory = true;
      const m = im.memory!;
      if (!m.shared) throw new StrategyLoadError('strategy module: imported memory must be shared (build with --sharedMemory)');
      if (m.maxPages === undefined) throw new StrategyLoadError('strategy module: imported memory needs a maximum (--maximumMemory)');
      if (m.maxPages * PAGE > memoryLimitBytes) {
        throw new StrategyLoadError(`strategy module: memory maximum ${m.maxPages * PAGE} bytes is over the limit of ${memoryLimitBytes} bytes`);
      }
    }
  }
  if (!memory) throw new StrategyLoadError('strategy module: must import its memory as env.memory');
  const mod = new WebAssembly.Module(bytes);
  const exports = WebAssembly.Module.exports(mod);
  for (const name of STRATEGY_REQUIRED_EXPORTS) {
    if (!exports.some((e) => e.name === name && e.kind === 'function')) throw new StrategyLoadError(`strategy module: missing export ${name} (function)`);
  }
  return mod;
}

interface Pending {
  resolve: (v: { ok: true; value: number } | { ok: false; kind: StrategyFailureKind; message: string }) => void;
}

/** Runs one validated strategy module in a worker thread, with fallback to the built-in spread. */
export class StrategyRunner {
  private worker: Worker | null = null;
  private memory: WebAssembly.Memory;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly st: StrategyStatus;
  private readonly limitBytes: number;
  private readonly callTimeoutMs: number;
  private readonly startTimeoutMs: number;

  private constructor(
    private readonly module: WebAssembly.Module,
    private readonly bytes: Uint8Array,
    private readonly opts: StrategyOptions,
  ) {
    this.limitBytes = Math.min(opts.memoryLimitBytes ?? DEFAULT_STRATEGY_MEMORY_LIMIT_BYTES, declaredImports(bytes).find((i) => i.kind === 'memory')!.memory!.maxPages! * PAGE);
    this.callTimeoutMs = opts.callTimeoutMs ?? DEFAULT_STRATEGY_CALL_TIMEOUT_MS;
    this.startTimeoutMs = opts.startTimeoutMs ?? DEFAULT_STRATEGY_START_TIMEOUT_MS;
    this.memory = this.newMemory();
    this.st = { name: opts.name, abiVersion: STRATEGY_ABI_VERSION, state: 'ready', calls: 0, failures: 0, restarts: 0 };
  }

  /** A fresh shared memory within the module's declared limits (its maximum is at most the host's limit). */
  private newMemory(): WebAssembly.Memory {
    const lim = declaredImports(this.bytes).find((i) => i.kind === 'memory')!.memory!;
    return new WebAssembly.Memory({ initial: Math.min(Math.max(lim.minPages, STRATEGY_STATIC_LIMIT_BYTES / PAGE + 1), lim.maxPages!), maximum: lim.maxPages!, shared: true });
  }

  /**
   * Validates `bytes`, starts a worker and checks the marker (`swarmhost_strategy_abi() == 1`) and the static
   * data bound. Throws {@link StrategyLoadError} when the module is refused.
   */
  static async load(bytes: Uint8Array, opts: StrategyOptions): Promise<StrategyRunner> {
    const mod = validateStrategyModule(bytes, opts.memoryLimitBytes ?? DEFAULT_STRATEGY_MEMORY_LIMIT_BYTES);
    const r = new StrategyRunner(mod, bytes, opts);
    try {
      await r.start();
    } catch (e) {
      await r.close();
      throw e;
    }
    return r;
  }

  /** Current status (for the CLI). */
  status(): StrategyStatus {
    return { ...this.st, ...(this.st.lastFailure ? { lastFailure: { ...this.st.lastFailure } } : {}) };
  }

  private async start(): Promise<void> {
    const w = new Worker(WORKER_URL, { workerData: { module: this.module, memory: this.memory } });
    this.worker = w;
    const ready = await new Promise<{ ready: boolean; message?: string }>((resolve) => {
      const timer = this.opts.timers.setTimeout(() => resolve({ ready: false, message: `did not start within ${this.startTimeoutMs} ms` }), this.startTimeoutMs);
      w.once('message', (m: { ready: boolean; message?: string }) => {
        this.opts.timers.clearTimeout(timer);
        resolve(m);
      });
      w.once('error', (e) => {
        this.opts.timers.clearTimeout(timer);
        resolve({ ready: false, message: e.message });
      });
    });
    if (!ready.ready) {
      await this.discard();
      throw new StrategyLoadError(`strategy module ${this.opts.name}: failed to start: ${ready.message}`);
    }
    w.on('message', (m: { id: number; ok: boolean; value?: number; kind?: StrategyFailureKind; message?: string }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      p.resolve(m.ok ? { ok: true, value: m.value! } : { ok: false, kind: m.kind ?? 'error', message: m.message ?? '' });
    });
    w.on('error', (e) => this.failAll('error', e.message));
    w.on('exit', () => this.failAll('error', 'worker exited'));
    const marker = await this.call('swarmhost_strategy_abi', 0, 0, this.startTimeoutMs);
    if (!marker.ok || marker.value !== STRATEGY_ABI_VERSION) {
      await this.discard();
      throw new StrategyLoadError(`strategy module ${this.opts.name}: marker swarmhost_strategy_abi() returned ${marker.ok ? marker.value : marker.kind}, expected ${STRATEGY_ABI_VERSION}`);
    }
    const heap = await this.call('strategy_heap_base', 0, 0, this.startTimeoutMs);
    if (!heap.ok || heap.value > STRATEGY_STATIC_LIMIT_BYTES) {
      await this.discard();
      throw new StrategyLoadError(`strategy module ${this.opts.name}: static data ends at ${heap.ok ? heap.value : '?'}, over ${STRATEGY_STATIC_LIMIT_BYTES} bytes`);
    }
  }

  private failAll(kind: StrategyFailureKind, message: string): void {
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.resolve({ ok: false, kind, message });
    }
  }

  private call(fn: string, t: number, g: number, timeoutMs: number): Promise<{ ok: true; value: number } | { ok: false; kind: StrategyFailureKind; message: string }> {
    const w = this.worker!;
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = this.opts.timers.setTimeout(() => {
        this.pending.delete(id);
        resolve({ ok: false, kind: 'timeout', message: `${fn} did not return within ${timeoutMs} ms` });
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          this.opts.timers.clearTimeout(timer);
          resolve(v);
        },
      });
      w.postMessage({ id, fn, t, g });
    });
  }

  private async discard(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    this.failAll('error', 'instance discarded');
    if (w) await w.terminate();
  }

  private async record(kind: StrategyFailureKind, message: string): Promise<void> {
    this.st.failures++;
    this.st.restarts++;
    this.st.lastFailure = { kind, message, atMs: this.opts.timers.now() };
    this.opts.logger?.(`scheduler: strategy ${this.opts.name} failed (${kind}: ${message}); instance discarded, built-in spread used for this pass`);
    await this.discard();
    this.memory = this.newMemory();
  }

  /**
   * Schedules one group with the strategy. On trap, abort, timeout, memory exhaustion or an invalid decision
   * the instance is discarded and the group (or its remainder) is scheduled by the built-in spread.
   */
  async scheduleGroup(table: NodeTable, group: readonly Task[], out: SchedulePassResult, failures?: RecentFailures): Promise<void> {
    if (group.length === 0) return;
    if (this.st.state === 'closed') throw new InvalidArgumentError(`strategy ${this.opts.name} is closed`);
    this.st.calls++;
    const fallback = () => table.scheduleGroup(group, out, failures);
    if (!this.worker) {
      try {
        await this.start();
      } catch (e) {
        await this.record('error', (e as Error).message);
        fallback();
        return;
      }
    }
    const ext = table.prepareExternal(group, failures);
    if (ext.imageEnd > this.limitBytes) {
      await this.record('memory', `node table needs ${ext.imageEnd} bytes, over the strategy limit of ${this.limitBytes} bytes`);
      fallback();
      return;
    }
    const have = this.memory.buffer.byteLength;
    if (have < ext.imageEnd) this.memory.grow(Math.ceil((ext.imageEnd - have) / PAGE));
    new Uint8Array(this.memory.buffer).set(new Uint8Array(ext.memory.buffer, ext.imageStart, ext.imageEnd - ext.imageStart), ext.imageStart);
    const r = await this.call('strategy_place', ext.table, ext.group, this.callTimeoutMs);
    if (!r.ok) {
      await this.record(r.kind, r.message);
      fallback();
      return;
    }
    const placed = Math.max(0, Math.min(r.value | 0, group.length));
    const shared = new Int32Array(this.memory.buffer);
    const rows = Int32Array.from(shared.subarray(ext.out >> 2, (ext.out >> 2) + placed));
    const counters = Array.from(shared.subarray(ext.counters >> 2, (ext.counters >> 2) + FILTER_SLOTS), (v) => Math.max(0, v));
    const accepted = table.commitExternal(ext, group, rows, out);
    if (accepted < placed) {
      await this.record('invalid-decision', `decision ${accepted} (row ${rows[accepted]}) is not a feasible node`);
      table.scheduleGroup(group.slice(accepted), out, failures);
      return;
    }
    table.explainRest(group, placed, counters, out);
  }

  /**
   * A whole pass with the strategy: preassigned tasks are checked by the built-in pipeline (the strategy only
   * places unassigned groups); groups go to the strategy until one call fails, and the rest of the pass then
   * uses the built-in spread. The same grouping and order as {@link NodeTable.schedulePass}.
   */
  async schedulePass(table: NodeTable, tasks: readonly Task[], failures?: RecentFailures): Promise<SchedulePassResult> {
    const pre = tasks.filter((t) => t.nodeId !== '');
    const out = table.schedulePass(pre, failures);
    const groups = new Map<string, Task[]>();
    for (const t of tasks) {
      if (t.nodeId !== '' || !isTracked(t) || t.status.state !== TaskState.PENDING) continue;
      const key = `${t.serviceId}\u0000${t.specVersion}`;
      let g = groups.get(key);
      if (!g) groups.set(key, (g = []));
      g.push(t);
    }
    const before = this.st.failures;
    for (const g of groups.values()) {
      if (this.st.failures !== before) table.scheduleGroup(g, out, failures);
      else await this.scheduleGroup(table, g, out, failures);
    }
    return out;
  }

  /**
   * Runs `strategy_evaluate` for one task: the ABI's three per-node outputs (first failing filter, feasibility
   * bit, score) in node order. A failure is recorded like any other call and rethrown as an error.
   */
  async evaluate(table: NodeTable, task: Task, failures?: RecentFailures): Promise<StrategyEvaluation> {
    if (!this.worker) await this.start();
    const ext = table.prepareExternal([task], failures);
    if (ext.imageEnd > this.limitBytes) throw new InvalidArgumentError(`strategy ${this.opts.name}: node table needs ${ext.imageEnd} bytes, over the limit of ${this.limitBytes} bytes`);
    const have = this.memory.buffer.byteLength;
    if (have < ext.imageEnd) this.memory.grow(Math.ceil((ext.imageEnd - have) / PAGE));
    new Uint8Array(this.memory.buffer).set(new Uint8Array(ext.memory.buffer, ext.imageStart, ext.imageEnd - ext.imageStart), ext.imageStart);
    this.st.calls++;
    const r = await this.call('strategy_evaluate', ext.table, ext.group, this.callTimeoutMs);
    if (!r.ok) {
      await this.record(r.kind, r.message);
      throw new InvalidArgumentError(`strategy ${this.opts.name}: strategy_evaluate failed (${r.kind}: ${r.message})`);
    }
    const u8 = new Uint8Array(this.memory.buffer);
    const f64 = new Float64Array(this.memory.buffer);
    const out: StrategyEvaluation = { nodeIds: [], codes: [], feasible: [], scores: [], feasibleCount: r.value };
    const order = table.rowsInOrder();
    for (const [row, id] of order) {
      out.nodeIds.push(id);
      out.codes.push(u8[ext.codes + row]!);
      out.feasible.push(((u8[ext.bitmap + (row >> 3)]! >> (row & 7)) & 1) === 1);
      out.scores.push(f64[(ext.score >> 3) + row]!);
    }
    return out;
  }

  /** Stops the worker. */
  async close(): Promise<void> {
    this.st.state = 'closed';
    await this.discard();
  }
}
