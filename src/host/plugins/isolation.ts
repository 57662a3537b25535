/**
 * Isolation of untrusted JavaScript plugins: their `validateOptions`, `init` and conformance check run in a
 * tinypool worker (a fresh worker per check, `isolateWorkers`) with a deadline; a worker that overruns is
 * terminated, so a plugin that loops or crashes there is refused without stalling the host.
 */
import Tinypool from 'tinypool';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Timers } from '../env/index.js';
import { bundleModule, type Bundle } from './bundle.js';

const WORKER = fileURLToPath(new URL('./pool-worker.mjs', import.meta.url));
const CONFORMANCE = fileURLToPath(new URL('./conformance.ts', import.meta.url));

/** Extra time an isolated check or worker gets to start a thread and import the bundle, ms (not the plugin's). */
export const ISOLATION_STARTUP_ALLOWANCE_MS = 1500;

/** Most isolated checks running at once (threads of the pool). */
export const ISOLATION_MAX_THREADS = 2;

/** Outcome of an isolated check. */
export type IsolatedResult = { ok: true; name: string; version: string; kinds: string[] } | { ok: false; stage: string; message: string };

/** A small tinypool of isolation workers. */
export class PluginIsolation {
  private pool: Tinypool | undefined;
  private conformance: Promise<Bundle> | undefined;

  constructor(private readonly timers: Timers) {}

  /**
   * Runs validateOptions, init and the conformance fixtures of the bundle in a worker, within `timeoutMs` plus
   * {@link ISOLATION_STARTUP_ALLOWANCE_MS} for the worker to start and import.
   */
  async check(bundle: Bundle, kind: string, slot: string, options: Record<string, unknown>, timeoutMs: number): Promise<IsolatedResult> {
    this.pool ??= new Tinypool({ filename: WORKER, minThreads: 0, maxThreads: ISOLATION_MAX_THREADS, isolateWorkers: true, idleTimeout: 1000 });
    this.conformance ??= bundleModule(CONFORMANCE);
    const conf = await this.conformance;
    const ac = new AbortController();
    const timer = this.timers.setTimeout(() => ac.abort(), timeoutMs + ISOLATION_STARTUP_ALLOWANCE_MS);
    try {
      return (await this.pool.run(
        { bundleUrl: pathToFileURL(bundle.file).href, conformanceUrl: pathToFileURL(conf.file).href, kind, slot, options },
        { signal: ac.signal },
      )) as IsolatedResult;
    } catch (e) {
      if (ac.signal.aborted) return { ok: false, stage: 'timeout', message: `did not finish within ${timeoutMs} ms (+${ISOLATION_STARTUP_ALLOWANCE_MS} ms start-up allowance; worker terminated)` };
      return { ok: false, stage: 'worker', message: (e as Error).message };
    } finally {
      this.timers.clearTimeout(timer);
    }
  }

  /** Stops the workers. */
  async close(): Promise<void> {
    const p = this.pool;
    this.pool = undefined;
    await p?.destroy();
  }
}
