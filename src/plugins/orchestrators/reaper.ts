/**
 * Task history retention (reference §2.7): which task records to delete. Pure: the host batches the
 * deletions into one write (and runs this 250 ms after the first pending event, or at once past 1000).
 */
import { TaskState, type Service, type Task } from '../../host/api/index.js';
import { instanceKey, isJobKind, isTerminal, serviceKind, statusTimeMs } from './slots.js';

/** SwarmKit's default `task_history_retention_limit`: tasks kept per slot (or per service+node). */
export const DEFAULT_TASK_HISTORY_RETENTION = 5;

/** Delay between the first pending reaper event and a run, ms. */
export const REAPER_BATCH_DELAY_MS = 250;

/** Above this many dirty slots + cleanup candidates the reaper runs at once. */
export const REAPER_MAX_PENDING = 1000;

/** Input of one reaper pass. JSON-only. */
export interface ReaperInput {
  /** Every task record (or those of the dirty slots plus cleanup candidates). */
  tasks: Task[];
  /** Services by id; a task whose service is absent is service-less. */
  services: Record<string, Service>;
  /** The cluster's `task_history_retention_limit` (negative = never trim). */
  retentionLimit: number;
}

/**
 * The retention limit for one service: `maxAttempts + 1` when its restart policy sets max attempts (so the
 * restart history can be rebuilt at leader start-up), else the cluster's limit; negative = keep everything.
 */
export function retentionFor(service: Service, clusterLimit: number): number {
  const max = service.spec.task.restart?.maxAttempts ?? 0;
  return max > 0 ? max + 1 : clusterLimit;
}

/** Never going to run: not yet assigned and desired past RUNNING. */
function neverToRun(t: Task): boolean {
  return t.status.state < TaskState.ASSIGNED && t.desiredState > TaskState.RUNNING;
}

/**
 * Task ids to delete, sorted: service-less tasks observed ≥ ORPHANED; tasks at desired REMOVE that are either
 * never assigned (< ASSIGNED) or done (≥ COMPLETE); and, per slot (replicated) or per (service, node) (global),
 * the oldest terminal or never-to-run tasks (by `appliedAt`, else status timestamp) until the slot holds at
 * most its limit. Jobs are not trimmed.
 */
export function reapTasks(input: ReaperInput): string[] {
  const out = new Set<string>();
  const groups = new Map<string, { service: Service; tasks: Task[] }>();
  for (const t of input.tasks) {
    const service = input.services[t.serviceId];
    if (!service) {
      if (t.status.state >= TaskState.ORPHANED) out.add(t.id);
      continue;
    }
    if (t.desiredState === TaskState.REMOVE && (t.status.state < TaskState.ASSIGNED || t.status.state >= TaskState.COMPLETE)) {
      out.add(t.id);
      continue;
    }
    const kind = serviceKind(service.spec.mode);
    if (isJobKind(kind)) continue;
    const key = `${t.serviceId}/${instanceKey(kind, t)}`;
    const g = groups.get(key);
    if (g) g.tasks.push(t);
    else groups.set(key, { service, tasks: [t] });
  }
  for (const { service, tasks } of groups.values()) {
    const limit = retentionFor(service, input.retentionLimit);
    if (limit < 0 || tasks.length <= limit) continue;
    const oldestFirst = [...tasks].sort((a, b) => statusTimeMs(a) - statusTimeMs(b) || (a.id < b.id ? -1 : 1));
    let count = tasks.length;
    for (const t of oldestFirst) {
      if (count <= limit) break;
      if (isTerminal(t) || neverToRun(t)) {
        out.add(t.id);
        count--;
      }
    }
  }
  return [...out].sort();
}
