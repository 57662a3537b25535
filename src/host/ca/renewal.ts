/**
 * When a node renews its certificate. Spreading renewals over 50–80% of the validity keeps a cluster whose
 * nodes joined together from renewing together; after a failure the node retries on a linear backoff.
 * Pure functions: the caller passes the time and the rng, and sets the timer.
 */
import { InvalidArgumentError } from '../api/errors.js';
import type { Rng } from '../env/rng.js';
import { parseCertificate } from './x509.js';

/** Start of the renewal window, as a fraction of the validity period. */
export const RENEW_WINDOW_START = 0.5;
/** End of the renewal window, as a fraction of the validity period. */
export const RENEW_WINDOW_END = 0.8;
/** First retry delay after a failed renewal, and the step added per further failure: 5 s. */
export const RENEW_BACKOFF_STEP_MS = 5_000;
/** Longest retry delay after failed renewals: 1 h. */
export const RENEW_BACKOFF_MAX_MS = 3_600_000;

/** Validity bounds of a certificate, ms since the epoch. */
export interface Validity {
  notBeforeMs: number;
  notAfterMs: number;
}

/**
 * The time (ms since epoch) at which to renew a certificate given as PEM or as its validity bounds: a uniformly
 * random whole minute between 50% and 80% of the way from NotBefore to NotAfter (whole milliseconds when the
 * validity is shorter than an hour or so and minutes would be too coarse). If that point has passed, or the
 * certificate has expired, the answer is `nowMs` (renew at once).
 */
export function nextRenewalAt(cert: string | Validity, nowMs: number, rng: Rng): number {
  const v = typeof cert === 'string' ? parseCertificate(cert) : cert;
  const validityMs = v.notAfterMs - v.notBeforeMs;
  if (!(validityMs > 0)) throw new InvalidArgumentError(`certificate: NotAfter must be after NotBefore (validity ${validityMs} ms)`);
  if (nowMs >= v.notAfterMs) return nowMs;
  const lo = validityMs * RENEW_WINDOW_START;
  const span = validityMs * (RENEW_WINDOW_END - RENEW_WINDOW_START);
  const unit = span >= 60 * 60_000 ? 60_000 : 1;
  const steps = Math.max(1, Math.floor(span / unit));
  const offset = lo + rng.int(steps) * unit;
  return Math.max(nowMs, Math.floor(v.notBeforeMs + offset));
}

/** Delay before renewal attempt number `failures + 1` after `failures` (>= 1) failures in a row: 5 s, 10 s, … 1 h. */
export function renewalBackoffMs(failures: number): number {
  if (!Number.isInteger(failures) || failures < 1) throw new InvalidArgumentError(`failures: must be a whole number >= 1, got ${failures}`);
  return Math.min(RENEW_BACKOFF_MAX_MS, failures * RENEW_BACKOFF_STEP_MS);
}
