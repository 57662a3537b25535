/**
 * The dispatcher (leader side of agent sessions): sessions, heartbeats, task status intake, assignment
 * streams. See docs/dispatcher.md.
 */
export { Dispatcher, TASK_ORPHANED, HEARTBEAT_FAILURE, HEARTBEAT_FAILURE_UNKNOWN, LEADERSHIP_CHANGE_UNKNOWN, hostOf } from './dispatcher.js';
export { DEFAULT_DISPATCHER_LIMITS } from './types.js';
export type { DispatcherLimits, DispatcherLogger, DispatcherOptions } from './types.js';
export { AssignmentStream, assignedTo, equalIgnoringStatus } from './assignments.js';
export type { AssignmentStreamOptions } from './assignments.js';
export { Channel } from './channel.js';
export { WriteBatcher } from './write-batcher.js';
export type { NodeChange, WriteBatcherOptions } from './write-batcher.js';
export { DispatcherProxy } from './proxy.js';
