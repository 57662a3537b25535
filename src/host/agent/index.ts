/** The agent's public surface: the Agent, its dispatcher client, the executor contract, the task state machine, its runner, persistence and recovery. */
export * from './executor.js';
export * from './task-machine.js';
export * from './task-runner.js';
export * from './task-db.js';
export * from './task-recovery.js';
export * from './agent.js';
export * from './dispatcher-client.js';
