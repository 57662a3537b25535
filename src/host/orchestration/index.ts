/**
 * The leader's orchestration components (orchestrators, allocator step, scheduler host, restart supervisor
 * timers, rolling updater, task reaper, constraint enforcer) over the store. See docs/orchestration-host.md.
 */
export {
  LeaderOrchestration,
  DEFAULT_ORCHESTRATION_WATCH_BUFFER_EVENTS,
  MAX_OUT_OF_SEQUENCE_RETRIES,
  WRITE_RETRY_DELAY_MS,
} from './leader.js';
export type {
  LeaderOrchestrationOptions,
  OrchestrationPlugins,
  OrchestrationLogger,
  OrchestrationStats,
} from './leader.js';
export {
  SchedulerHost,
  SCHEDULER_DEBOUNCE_MS,
  SCHEDULER_MAX_LATENCY_MS,
  SCHEDULER_EAGER_PASS_TASKS,
  ASSIGNED_MESSAGE,
  PREASSIGNED_MESSAGE,
} from './scheduler-host.js';
export type { SchedulerHostOptions, SchedulerHostStats, PassStrategy, SchedulerPassInfo, SchedulerPassObserver } from './scheduler-host.js';
export {
  applyPlanInTx,
  planChunks,
  planActionCount,
  checkBasis,
  isOutOfSequence,
  OUT_OF_SEQUENCE,
  MAX_PLAN_CHUNK_ACTIONS,
  PENDING_MESSAGE,
  allocated,
} from './apply-plan.js';
export type { PlanBasis } from './apply-plan.js';
