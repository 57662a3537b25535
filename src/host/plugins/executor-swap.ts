/**
 * Executor hot swap on the agent side. The agent holds one {@link SwappableExecutor}; every controller it hands
 * out is a thin proxy over the current executor version's controller. A swap first waits for in-flight controller
 * calls to settle, then asks the new version to `recover` every running task of the old one (by the old
 * controller's handle) — if any recovery fails, the swap is aborted and nothing changes. Otherwise every proxy
 * is re-bound at once: a `wait` in progress re-attaches to the new controller, so no task is restarted. Tasks
 * that have already exited stay with the old version (pinned) until removed; the old executor is closed once no
 * proxy uses it.
 */
import type { Task } from '../api/objects.js';
import type { Controller, ControllerInspect, Executor, ExitResult, LogLine, NodeDescriptionPart, TaskHandle } from '../agent/executor.js';
import { abortError } from '../agent/executor.js';
import type { Timers } from '../env/index.js';

/** Default bound on waiting for in-flight controller calls before a swap, ms. */
export const DEFAULT_EXECUTOR_SWAP_QUIESCE_MS = 10_000;
/** Engine label through which the agent reports its executor version in the node description. */
export const EXECUTOR_VERSION_LABEL = 'swarmhost.executor.version';

/** What a swap did. */
export type ExecutorSwapResult =
  | { ok: true; recovered: string[]; fresh: string[]; pinned: string[] }
  | { ok: false; reason: string; failed: { taskId: string; error: string }[] };

interface Bound {
  exec: Executor;
  version: string;
  users: number;
  closed?: boolean;
}

/** One task's controller, re-bindable to a new executor version. */
export class SwappableController implements Controller {
  private waits = new Set<AbortController>();
  private swapped = new WeakSet<AbortController>();
  inFlight = 0;
  private idle: (() => void)[] = [];

  constructor(
    private readonly owner: SwappableExecutor,
    public inner: Controller,
    public bound: Bound,
    readonly task: Task,
  ) {}

  /** Version of the executor currently driving this task. */
  get executorVersion(): string {
    return this.bound.version;
  }

  private async op<R>(fn: (c: Controller) => Promise<R>): Promise<R> {
    this.inFlight++;
    try {
      return await fn(this.inner);
    } finally {
      this.inFlight--;
      if (this.inFlight === 0) for (const r of this.idle.splice(0)) r();
    }
  }

  /** Resolves when no call but `wait` is in progress. */
  quiet(): Promise<void> {
    return this.inFlight === 0 ? Promise.resolve() : new Promise((r) => this.idle.push(r));
  }

  prepare(): Promise<void> {
    return this.op((c) => c.prepare());
  }
  start(): Promise<void> {
    return this.op((c) => c.start());
  }
  shutdown(graceMs: number): Promise<void> {
    return this.op((c) => c.shutdown(graceMs));
  }
  terminate(): Promise<void> {
    return this.op((c) => c.terminate());
  }
  async remove(): Promise<void> {
    await this.op((c) => c.remove());
    this.owner.forget(this);
  }
  inspect(): Promise<ControllerInspect> {
    return this.op((c) => c.inspect());
  }
  handle(): TaskHandle {
    return this.inner.handle();
  }
  logs(opts: { follow: boolean; signal: AbortSignal }): AsyncIterable<LogLine> {
    const c = this.inner;
    if (!c.logs) return (async function* () {})();
    return c.logs(opts);
  }

  /** Waits for the exit through whichever controller is current; a swap re-attaches the wait. */
  async wait(signal?: AbortSignal): Promise<ExitResult> {
    for (;;) {
      if (signal?.aborted) throw abortError();
      const ac = new AbortController();
      const onAbort = (): void => ac.abort();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waits.add(ac);
      try {
        return await this.inner.wait(ac.signal);
      } catch (e) {
        if (this.swapped.has(ac) && !signal?.aborted) continue;
        throw e;
      } finally {
        this.waits.delete(ac);
        signal?.removeEventListener('abort', onAbort);
      }
    }
  }

  /** Switches to `next` (already recovered by the new version) and re-attaches waits in progress. */
  rebind(next: Controller, bound: Bound): void {
    this.inner = next;
    this.bound = bound;
    for (const ac of this.waits) {
      this.swapped.add(ac);
      ac.abort();
    }
  }
}

/** The agent's executor: the current version plus the proxies of every task it drives. */
export class SwappableExecutor implements Executor {
  private cur: Bound;
  private readonly live = new Set<SwappableController>();
  private swapping: Promise<unknown> = Promise.resolve();

  constructor(initial: Executor, version: string, private readonly o: { timers: Timers; quiesceMs?: number; log?: (line: string) => void }) {
    this.cur = { exec: initial, version, users: 0 };
  }

  /** The current version's executor name (handles carry it). */
  get name(): string {
    return this.cur.exec.name;
  }

  /** Version (content hash) of the executor new tasks get. */
  get version(): string {
    return this.cur.version;
  }

  /** Proxies of the tasks this executor drives (not yet removed). */
  controllers(): SwappableController[] {
    return [...this.live];
  }

  async describe(): Promise<NodeDescriptionPart> {
    const d = await this.cur.exec.describe();
    return { ...d, engine: { ...d.engine, labels: { ...d.engine.labels, [EXECUTOR_VERSION_LABEL]: this.cur.version.slice(0, 12) } } };
  }

  controller(task: Task): Controller {
    return this.track(new SwappableController(this, this.cur.exec.controller(task), this.cur, task));
  }

  async recover(handle: TaskHandle, task: Task): Promise<Controller> {
    const bound = this.cur;
    const c = await bound.exec.recover(handle, task);
    return this.track(new SwappableController(this, c, bound, task));
  }

  private track(c: SwappableController): SwappableController {
    c.bound.users++;
    this.live.add(c);
    return c;
  }

  /** A task was removed: drop its proxy; close an old version nobody uses any more. */
  forget(c: SwappableController): void {
    if (!this.live.delete(c)) return;
    this.unuse(c.bound);
  }

  private unuse(b: Bound): void {
    b.users--;
    if (b.users === 0 && b !== this.cur) void this.closeBound(b);
  }

  private async closeBound(b: Bound): Promise<void> {
    if (b.closed) return;
    b.closed = true;
    this.o.log?.(`plugins: executor ${b.exec.name}@${b.version.slice(0, 12)} drained; closing`);
    await b.exec.close();
  }

  /**
   * Swaps to `next`. Running tasks are recovered by `next` (all or nothing); tasks not yet started get a fresh
   * controller of `next`; exited tasks stay pinned to their version. Swaps are serialised.
   */
  swap(next: Executor, version: string): Promise<ExecutorSwapResult> {
    const run = this.swapping.then(() => this.doSwap(next, version));
    this.swapping = run.catch(() => undefined);
    return run;
  }

  private async doSwap(next: Executor, version: string): Promise<ExecutorSwapResult> {
    const quiesceMs = this.o.quiesceMs ?? DEFAULT_EXECUTOR_SWAP_QUIESCE_MS;
    const all = [...this.live];
    let timer: ReturnType<Timers['setTimeout']> | undefined;
    const quiet = await Promise.race([
      Promise.all(all.map((c) => c.quiet())).then(() => true),
      new Promise<boolean>((r) => (timer = this.o.timers.setTimeout(() => r(false), quiesceMs))),
    ]);
    if (timer !== undefined) this.o.timers.clearTimeout(timer);
    if (!quiet) return { ok: false, reason: `controller calls still in progress after ${quiesceMs} ms`, failed: [] };
    const nb: Bound = { exec: next, version, users: 0 };
    const plan: { c: SwappableController; next?: Controller; kind: 'recovered' | 'fresh' | 'pinned' }[] = [];
    const failed: { taskId: string; error: string }[] = [];
    for (const c of all) {
      if (c.bound !== this.cur) {
        plan.push({ c, kind: 'pinned' });
        continue;
      }
      let st: ControllerInspect;
      try {
        st = await c.inner.inspect();
      } catch (e) {
        failed.push({ taskId: c.task.id, error: `inspect: ${(e as Error).message}` });
        continue;
      }
      if (st.running) {
        try {
          plan.push({ c, next: await next.recover(c.inner.handle(), c.task), kind: 'recovered' });
        } catch (e) {
          failed.push({ taskId: c.task.id, error: (e as Error).message });
        }
      } else if (st.exitCode === undefined && !st.pid) {
        plan.push({ c, next: next.controller(c.task), kind: 'fresh' });
      } else {
        plan.push({ c, kind: 'pinned' });
      }
    }
    if (failed.length > 0) {
      const reason = `executor swap aborted: ${failed.length} running task(s) could not be recovered by the new version (${failed.map((f) => `${f.taskId}: ${f.error}`).join('; ')})`;
      this.o.log?.(`plugins: ${reason}`);
      return { ok: false, reason, failed };
    }
    const old = this.cur;
    this.cur = nb;
    const out = { ok: true as const, recovered: [] as string[], fresh: [] as string[], pinned: [] as string[] };
    for (const p of plan) {
      out[p.kind].push(p.c.task.id);
      if (!p.next) continue;
      const was = p.c.bound;
      nb.users++;
      p.c.rebind(p.next, nb);
      this.unuse(was);
    }
    if (old.users === 0) await this.closeBound(old);
    return out;
  }

  /** Closes every version still held (tasks keep running). */
  async close(): Promise<void> {
    const seen = new Set<Executor>([this.cur.exec]);
    for (const c of this.live) seen.add(c.bound.exec);
    for (const e of seen) await e.close();
  }
}
