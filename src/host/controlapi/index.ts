/**
 * The control API: SwarmKit's Control RPCs (clusters, nodes, services, tasks, configs) with their validation,
 * served over the store on the leader, and the adapter that mounts it on the transport's Control service.
 * See docs/controlapi.md.
 */
export {
  ControlApi,
  redactCluster,
  validateConfigName,
  validateNodeSpec,
  validateClusterSpec,
  purgeBlacklist,
  MIN_HEARTBEAT_PERIOD_MS,
  BLACKLIST_RETENTION_AFTER_EXPIRY_MS,
  MAX_CONFIG_NAME_CHARS,
  MAX_CONFIG_DATA_BYTES,
  ORPHANED_BY_REMOVAL_MESSAGE,
} from './control-api.js';
export type { RaftView, ControlApiLogger, ControlApiOptions, ServiceStatus } from './control-api.js';
export {
  validateServiceSpec,
  validateServiceName,
  validateImageReference,
  modeKind,
  MAX_SERVICE_NAME_CHARS,
  MIN_NANO_CPUS,
  MIN_MEMORY_BYTES,
  DEFAULT_STOP_GRACE_PERIOD_MS,
  DEFAULT_RESTART_POLICY,
} from './validate-service.js';
export { controlHandlers, MAX_CONTROL_REQUEST_BYTES } from './handlers.js';
export type { ControlCaller } from './handlers.js';
export { parseFilters } from './filters.js';
export type { Filters } from './filters.js';
