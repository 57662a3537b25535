/**
 * Keeps a long-lived server stream open: opens it, hands every message to `onMessage`, and when the stream
 * fails or ends reopens it after a jittered backoff (backoff.ts). The backoff resets once a message arrives.
 * Waiting goes through the injected Timers, so a simulation drives it with SimTimers.
 */
import type { Rng, Timers } from '../env/index.js';
import { Backoff, type BackoffOptions } from './backoff.js';

/** Options of {@link keepStreamOpen}. */
export interface KeepStreamOpenOptions<T> extends BackoffOptions {
  /** Opens one attempt of the stream (e.g. `() => client.session(req, { signal })`). */
  open(signal: AbortSignal): AsyncIterable<T>;
  /** Handles one message; a throw counts as a stream failure. */
  onMessage(msg: T): void | Promise<void>;
  /** Told about each failed or ended attempt and the delay before the next one, ms. */
  onRetry?(err: unknown, delayMs: number): void;
  timers: Timers;
  rng: Rng;
  /** Stops the loop (the current attempt is cancelled). */
  signal: AbortSignal;
}

/** Runs until `signal` aborts; resolves then. Never rejects on stream failures (they are retried). */
export async function keepStreamOpen<T>(o: KeepStreamOpenOptions<T>): Promise<void> {
  const backoff = new Backoff(o.rng, o);
  while (!o.signal.aborted) {
    const attempt = new AbortController();
    const stop = (): void => attempt.abort();
    o.signal.addEventListener('abort', stop, { once: true });
    let failure: unknown = new Error('stream ended');
    try {
      for await (const msg of o.open(attempt.signal)) {
        backoff.reset();
        await o.onMessage(msg);
        if (o.signal.aborted) break;
      }
    } catch (err) {
      failure = err;
    } finally {
      o.signal.removeEventListener('abort', stop);
      attempt.abort();
    }
    if (o.signal.aborted) break;
    const delayMs = backoff.nextDelayMs();
    o.onRetry?.(failure, delayMs);
    await new Promise<void>((resolve) => {
      const h = o.timers.setTimeout(done, delayMs);
      function done(): void {
        o.signal.removeEventListener('abort', onAbort);
        resolve();
      }
      function onAbort(): void {
        o.timers.clearTimeout(h);
        done();
      }
      o.signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}
