/**
 * Example orchestrator plugin: the replicated orchestrator with a guard rail. A service asking for more than
 * `maxReplicas` replicas runs `maxReplicas` (a cluster-wide cap an operator can change while swarmhost runs);
 * everything else is the built-in replicated reconcile. Options: `{ maxReplicas: number }` (integer >= 1).
 */
import { definePlugin, type PluginOptions } from 'swarmhost/config';
import { reconcileReplicated } from '../../src/plugins/orchestrators/replicated.js';
import type { OrchestratorPlugin } from '../../src/plugins/contracts.js';

/** Checks the options; throws naming the option and the rule. */
export function cappedOptions(o: PluginOptions): { maxReplicas: number } {
  for (const k of Object.keys(o)) if (k !== 'maxReplicas') throw new Error(`option ${k}: unknown (allowed: maxReplicas)`);
  const v = o.maxReplicas;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new Error('option maxReplicas: must be an integer >= 1');
  return { maxReplicas: v };
}

/** The capped replicated orchestrator. */
export function cappedOrchestrator(maxReplicas: number): OrchestratorPlugin {
  return {
    name: 'replicated-capped',
    version: '1.0.0',
    kinds: ['replicated'],
    reconcile(input, caps) {
      const s = input.service;
      if (s && 'replicated' in s.spec.mode && s.spec.mode.replicated.replicas > maxReplicas) {
        const capped = { ...s, spec: { ...s.spec, mode: { replicated: { replicas: maxReplicas } } } };
        return reconcileReplicated({ ...input, service: capped }, caps);
      }
      return reconcileReplicated(input, caps);
    },
  };
}

export default definePlugin({
  kind: 'orchestrator',
  validateOptions: (o) => void cappedOptions(o),
  init: (o) => cappedOrchestrator(cappedOptions(o).maxReplicas),
});
