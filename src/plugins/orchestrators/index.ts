/**
 * Built-in orchestrator plugins and the pure cores behind them. The host (and the plugin registry) uses only
 * what is exported here.
 */
import type { OrchestratorPlugin } from '../contracts.js';
import { reconcileGlobal } from './global.js';
import { reconcileGlobalJob, reconcileReplicatedJob } from './jobs.js';
import { reconcileReplicated } from './replicated.js';

export type { OrchestratorPlugin, OrchestratorInput, ReconcileCapabilities, RestartPolicyPlugin, PluginIdentity } from '../contracts.js';
export * from './plan.js';
export * from './slots.js';
export * from './dirty.js';
export { reconcileReplicated, scaleDownOrder, tasksNeedingRestart, removeAllTasks } from './replicated.js';
export type { ReplicatedInput, ReconcileContext } from './replicated.js';
export { reconcileGlobal, reconcileGlobalNode, isNodeEligible } from './global.js';
export type { GlobalInput, GlobalNodeInput, GlobalContext } from './global.js';
export { reconcileReplicatedJob, reconcileGlobalJob, currentJobIteration } from './jobs.js';
export type { JobInput, JobContext } from './jobs.js';
export * from './reaper.js';
export * from './constraint-enforcer.js';
export * from './updater.js';
export { startupFixups } from './startup.js';

/** Version of the built-in orchestrators (bumped when their behaviour changes). */
export const BUILTIN_ORCHESTRATOR_VERSION = '1.0.0';

/** Built-in replicated-service orchestrator (reference §3.1). */
export const replicatedOrchestrator: OrchestratorPlugin = {
  name: 'replicated',
  version: BUILTIN_ORCHESTRATOR_VERSION,
  kinds: ['replicated'],
  reconcile: (input, caps) => reconcileReplicated(input, caps),
};

/** Built-in global-service orchestrator (reference §3.2). */
export const globalOrchestrator: OrchestratorPlugin = {
  name: 'global',
  version: BUILTIN_ORCHESTRATOR_VERSION,
  kinds: ['global'],
  reconcile: (input, caps) => reconcileGlobal(input, caps),
};

/** Built-in job orchestrator for replicated and global jobs (reference §3.3). */
export const jobsOrchestrator: OrchestratorPlugin = {
  name: 'jobs',
  version: BUILTIN_ORCHESTRATOR_VERSION,
  kinds: ['replicatedJob', 'globalJob'],
  reconcile: (input, caps) => {
    const mode = input.service?.spec.mode;
    if (mode && 'globalJob' in mode) return reconcileGlobalJob(input, caps);
    if (mode && 'replicatedJob' in mode) return reconcileReplicatedJob(input, caps);
    // Deleted service: both job kinds remove every task the same way.
    return reconcileReplicatedJob(input, caps);
  },
};

/** Every built-in orchestrator. */
export const builtinOrchestrators: readonly OrchestratorPlugin[] = [replicatedOrchestrator, globalOrchestrator, jobsOrchestrator];
