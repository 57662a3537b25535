/**
 * Serve-time isolation of an untrusted JS plugin. The leader's plugin contracts are synchronous (a reconcile or a
 * restart decision runs inside a store read), so each call is posted to a dedicated worker thread and the host
 * blocks in `Atomics.wait` for at most `callTimeoutMs`: a plugin that loops or crashes costs one bounded pause,
 * its worker is terminated and recreated for the next call, and the caller falls back to the built-in. Only JSON
 * crosses: an orchestrator's capabilities are replaced by pre-generated ids and pre-computed constraint results
 * (as src/plugins/contracts.ts anticipates).
 */
import { Worker } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import type { Node } from '../api/objects.js';
import type { OrchestratorInput, ReconcileCapabilities } from '../../plugins/contracts.js';
import type { Plan } from '../../plugins/orchestrators/plan.js';
import type { RestartDecision, RestartDecisionInput } from '../../plugins/restart/default.js';
import type { Bundle } from './bundle.js';
import { ISOLATION_STARTUP_ALLOWANCE_MS } from './isolation.js';

const WORKER_URL = new URL('./sync-worker.mjs', import.meta.url);

/** Largest answer a plugin call may return, bytes. */
export const MAX_PLUGIN_ANSWER_BYTES = 8 * 1024 * 1024;
/** Spare ids handed to an isolated reconcile beyond tasks + replicas + nodes. */
export const ISOLATED_SPARE_IDS = 64;

/** A plugin call failed in its worker (threw, timed out, or the worker died). */
export class IsolatedCallError extends Error {}

/** One untrusted plugin version served from its own worker thread. */
export class SyncPluginWorker {
  private worker: Worker | undefined;
  private readonly ctl = new Int32Array(new SharedArrayBuffer(8));
  private readonly data = new SharedArrayBuffer(MAX_PLUGIN_ANSWER_BYTES);
  private seq = 0;
  private closed = false;

  constructor(private readonly o: { bundle: Bundle; slot: string; options: Record<string, unknown>; callTimeoutMs: number }) {}

  private ensure(): Worker {
    if (this.closed) throw new IsolatedCallError('plugin worker is closed');
    if (!this.worker) {
      const w = new Worker(WORKER_URL, {
        workerData: { bundleUrl: pathToFileURL(this.o.bundle.file).href, options: this.o.options, slot: this.o.slot, ctlBuffer: this.ctl.buffer, dataBuffer: this.data },
      });
      w.unref();
      w.on('error', () => undefined);
      this.worker = w;
    }
    return this.worker;
  }

  /** Starts the worker and waits (≤ `callTimeoutMs` + the start-up allowance) until the plugin's `init` finished there. */
  async start(timers: { setTimeout(fn: () => void, ms: number): unknown; clearTimeout(h: never): void }): Promise<void> {
    const w = this.ensure();
    const r = await new Promise<{ ready: boolean; message?: string }>((resolve) => {
      const limit = this.o.callTimeoutMs + ISOLATION_STARTUP_ALLOWANCE_MS;
      const h = timers.setTimeout(() => resolve({ ready: false, message: `did not start within ${limit} ms` }), limit);
      w.once('message', (m: { ready: boolean; message?: string }) => {
        timers.clearTimeout(h as never);
        resolve(m);
      });
    });
    if (!r.ready) {
      await this.close();
      throw new IsolatedCallError(`plugin worker: ${r.message ?? 'failed to start'}`);
    }
  }

  /** Posts a call and blocks until the answer or `callTimeoutMs` (then the worker is terminated). */
  private call<T>(msg: Record<string, unknown>): T {
    const w = this.ensure();
    const id = (this.seq = (this.seq % 0x7ffffffe) + 1);
    Atomics.store(this.ctl, 0, 0);
    w.postMessage({ ...msg, id });
    const deadline = performance.now() + this.o.callTimeoutMs;
    for (;;) {
      const cur = Atomics.load(this.ctl, 0);
      if (cur === id) break;
      const left = deadline - performance.now();
      if (left <= 0) {
        this.worker = undefined;
        void w.terminate();
        // Start the replacement now, so that it has loaded the plugin by the next call.
        this.ensure();
        throw new IsolatedCallError(`${String(msg.op)} did not return within ${this.o.callTimeoutMs} ms (worker terminated)`);
      }
      Atomics.wait(this.ctl, 0, cur, left);
    }
    const len = Atomics.load(this.ctl, 1);
    const text = new TextDecoder().decode(new Uint8Array(this.data, 0, len).slice());
    const res = JSON.parse(text) as { ok: boolean; value?: T; message?: string };
    if (!res.ok) throw new IsolatedCallError(res.message ?? 'plugin call failed');
    return res.value as T;
  }

  /** A restart decision, computed in the worker. */
  decide(input: RestartDecisionInput): RestartDecision {
    return this.call<RestartDecision>({ op: 'decide', input });
  }

  /** A reconcile, computed in the worker with pre-generated ids and pre-computed constraint results. */
  reconcile(input: OrchestratorInput, caps: ReconcileCapabilities): Plan {
    const nodes: Node[] = Object.values(input.nodes);
    const replicas = input.service && 'replicated' in input.service.spec.mode ? input.service.spec.mode.replicated.replicas : 0;
    const jobs = input.service && 'replicatedJob' in input.service.spec.mode ? input.service.spec.mode.replicatedJob.maxConcurrent : 0;
    const ids: string[] = [];
    for (let i = 0; i < input.tasks.length + replicas + jobs + nodes.length + ISOLATED_SPARE_IDS; i++) ids.push(caps.newId());
    const sets = new Map<string, readonly string[]>();
    const add = (cs: readonly string[] | undefined): void => {
      if (cs) sets.set(cs.join('\u0000'), cs);
    };
    add(input.service?.spec.task.placement.constraints);
    add([]);
    for (const t of input.tasks) add(t.spec.placement.constraints);
    const met: Record<string, boolean> = {};
    for (const n of nodes) for (const [k, cs] of sets) met[`${n.id}\u0000${k}`] = caps.constraintsMet(n, cs);
    return this.call<Plan>({ op: 'reconcile', input, ids, met });
  }

  /** Terminates the worker. */
  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    this.worker = undefined;
    await w?.terminate();
  }
}
