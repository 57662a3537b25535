/**
 * Public surface of the scheduler: the WASM node table and pass, the TypeScript reference, constraint
 * parsing/validation, explanations, recent-failure tracking and third-party strategies.
 */
export { NodeTable, schedulePass, SCHEDULER_WASM_URL, MAX_GENERIC_KINDS, MAX_LABEL_COLUMNS, MAX_TABLE_MEMORY_BYTES, TABLE_HEADER, GROUP_HEADER } from './node-table.js';
export type { NodeTableOptions, Evaluation, WasmPassInput, ExternalGroup } from './node-table.js';
export { ReferenceScheduler, referenceSchedulePass, MAX_RECENT_FAILURES } from './reference.js';
export type { SchedulePassInput, SchedulePassResult, Assignment, Unplaceable } from './reference.js';
export { parseConstraints, validateConstraints, nodeMatches, OP_EQ, OP_NE, NODE_LABEL_PREFIX, ENGINE_LABEL_PREFIX } from './constraint.js';
export type { Constraint } from './constraint.js';
export { explain, filterExplanation, noSuitableNode, FilterCode, FILTER_SLOTS } from './explain.js';
export { FailureTracker, FAILURE_WINDOW_MS, noFailures } from './failures.js';
export type { RecentFailures } from './failures.js';
export { taskRequirements, isTracked, countsOnNode, isActive } from './task-info.js';
export type { TaskRequirements, SpreadLevel } from './task-info.js';
export {
  StrategyRunner,
  StrategyLoadError,
  validateStrategyModule,
  STRATEGY_ABI_VERSION,
  STRATEGY_ALLOWED_IMPORTS,
  STRATEGY_REQUIRED_EXPORTS,
  STRATEGY_STATIC_LIMIT_BYTES,
  DEFAULT_STRATEGY_MEMORY_LIMIT_BYTES,
  DEFAULT_STRATEGY_CALL_TIMEOUT_MS,
} from './strategy.js';
export type { StrategyOptions, StrategyStatus, StrategyFailureKind, StrategyEvaluation } from './strategy.js';
