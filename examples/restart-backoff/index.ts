/**
 * Example restart-policy plugin: exponential backoff. The n-th restart of an instance (n from the history the
 * host keeps) waits `baseDelayMs * factor^n`, capped at `maxDelayMs`. Everything else (condition none,
 * on-failure after completion, max attempts within the window) follows the default policy, so only the delay
 * changes. Options: `{ baseDelayMs?: number = 1000, factor?: number = 2, maxDelayMs?: number = 60000 }`.
 */
import { definePlugin, type PluginOptions } from 'swarmhost/config';
import { decide as defaultDecide, type RestartDecision, type RestartDecisionInput } from '../../src/plugins/restart/default.js';
import type { RestartPolicyPlugin } from '../../src/plugins/contracts.js';

/** Resolved options of the backoff policy (delays in ms). */
export interface BackoffOptions {
  baseDelayMs: number;
  factor: number;
  maxDelayMs: number;
}

/** Checks and fills the options; throws naming the option and the rule. */
export function backoffOptions(o: PluginOptions): BackoffOptions {
  for (const k of Object.keys(o)) if (!['baseDelayMs', 'factor', 'maxDelayMs'].includes(k)) throw new Error(`option ${k}: unknown (allowed: baseDelayMs, factor, maxDelayMs)`);
  const num = (k: string, d: number, min: number): number => {
    const v = o[k] ?? d;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min) throw new Error(`option ${k}: must be a number >= ${min}`);
    return v;
  };
  const r = { baseDelayMs: num('baseDelayMs', 1000, 0), factor: num('factor', 2, 1), maxDelayMs: num('maxDelayMs', 60_000, 0) };
  if (r.maxDelayMs < r.baseDelayMs) throw new Error('option maxDelayMs: must be >= baseDelayMs');
  return r;
}

/** The policy: the default decision with the delay replaced by the backoff. */
export function backoffPolicy(opts: BackoffOptions): RestartPolicyPlugin {
  return {
    name: 'restart-backoff',
    version: '1.0.0',
    decide(input: RestartDecisionInput): RestartDecision {
      const d = defaultDecide(input);
      if (!d.restart || d.delayMs === 0) return d; // drained node: restart at once, as the default does
      const n = input.history && input.history.specVersion === input.task.specVersion ? input.history.totalRestarts : 0;
      const delayMs = Math.min(opts.maxDelayMs, Math.round(opts.baseDelayMs * Math.pow(opts.factor, n)));
      return { ...d, delayMs };
    },
  };
}

export default definePlugin({
  kind: 'restartPolicy',
  validateOptions: (o) => void backoffOptions(o),
  init: (o) => backoffPolicy(backoffOptions(o)),
});
