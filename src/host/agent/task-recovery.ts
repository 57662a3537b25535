/**
 * Re-attaching to work after an agent restart: for a persisted {@link TaskRecord}, get a Controller from the
 * executor — through `recover(handle)` when the task may have a live process/container (so it is NOT started
 * a second time), or a fresh controller when it never got that far. A task that had started but whose
 * process/container is gone is reported FAILED (its exit could not be observed).
 */
import { TaskState } from '../api/objects.js';
import type { TaskStatus } from '../api/objects.js';
import type { Timers } from '../env/index.js';
import { isFatal } from './executor.js';
import type { Controller, Executor } from './executor.js';
import type { TaskRecord } from './task-db.js';

/** A controller to resume a record with, and the status to resume from. */
export interface Resumed {
  controller: Controller;
  status: TaskStatus;
}

/**
 * The controller for `record` after a restart. Temporary recover errors propagate (the caller retries later);
 * a fatal one (process/container gone) yields FAILED when the task had reached STARTING, else a fresh controller.
 */
export async function resumeTask(executor: Executor, record: TaskRecord, timers: Timers): Promise<Resumed> {
  const { task, status, handle } = record;
  if (status.state > TaskState.RUNNING || !handle || handle.executor !== executor.name || status.state < TaskState.PREPARING) {
    return { controller: executor.controller(task), status };
  }
  try {
    return { controller: await executor.recover(handle, task), status };
  } catch (err) {
    if (!isFatal(err)) throw err;
    if (status.state < TaskState.STARTING) return { controller: executor.controller(task), status };
    const failed: TaskStatus = {
      ...status,
      timestamp: timers.now(),
      state: TaskState.FAILED,
      message: 'failed',
      err: `task lost across an agent restart: ${err.message}`,
    };
    return { controller: executor.controller(task), status: failed };
  }
}
