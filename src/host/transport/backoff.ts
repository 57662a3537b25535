/**
 * Reconnect policy for long-lived streams (agent sessions, assignments, raft peers): the backoff grows as
 * min(minMs + 2 × previous, maxMs) — 100 ms, 300 ms, 700 ms, … up to 8 s by default — and each wait is drawn
 * uniformly from [0, backoff) through the injected Rng, so that many agents losing their manager at once do
 * not come back in lockstep. Pure: no timers, no clock.
 */
import { InvalidArgumentError } from '../api/errors.js';
import type { Rng } from '../env/index.js';

/** Default first backoff, ms. */
export const DEFAULT_BACKOFF_MIN_MS = 100;
/** Default ceiling of the backoff, ms. */
export const DEFAULT_BACKOFF_MAX_MS = 8_000;

/** Options of {@link Backoff}. */
export interface BackoffOptions {
  /** First backoff, ms (default 100). */
  minMs?: number;
  /** Ceiling, ms (default 8000). */
  maxMs?: number;
}

/** Jittered exponential backoff state for one reconnecting stream. */
export class Backoff {
  private readonly minMs: number;
  private readonly maxMs: number;
  private currentMs = 0;

  constructor(
    private readonly rng: Rng,
    opts: BackoffOptions = {},
  ) {
    this.minMs = opts.minMs ?? DEFAULT_BACKOFF_MIN_MS;
    this.maxMs = opts.maxMs ?? DEFAULT_BACKOFF_MAX_MS;
    if (!Number.isFinite(this.minMs) || this.minMs <= 0) {
      throw new InvalidArgumentError(`backoff.minMs: must be > 0, got ${this.minMs}`);
    }
    if (!Number.isFinite(this.maxMs) || this.maxMs < this.minMs) {
      throw new InvalidArgumentError(`backoff.maxMs: must be >= minMs (${this.minMs}), got ${this.maxMs}`);
    }
  }

  /** The current backoff ceiling, ms (0 before the first failure). */
  get ceilingMs(): number {
    return this.currentMs;
  }

  /** Records a failure and returns how long to wait before the next attempt, ms, in [0, new ceiling). */
  nextDelayMs(): number {
    this.currentMs = Math.min(this.minMs + 2 * this.currentMs, this.maxMs);
    return Math.floor(this.rng.next() * this.currentMs);
  }

  /** Records a success: the next failure starts from minMs again. */
  reset(): void {
    this.currentMs = 0;
  }
}
