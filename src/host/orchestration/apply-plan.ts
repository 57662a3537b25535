/**
 * Applying an orchestration Plan to the store. A plan is computed from a read of the store; it is applied in one
 * write transaction that first checks the service it was computed from has not changed (else "update out of
 * sequence", and the host re-runs the reconcile). Desired-state raises re-read the task inside the transaction,
 * so a concurrent status report from an agent never invalidates them. A plan too large for one proposal is split
 * into several atomic chunks (see `planChunks`).
 */
import { FailedPreconditionError, TaskState, type Task } from '../api/index.js';
import type { WriteTx } from '../store/index.js';
import { applyServiceChange, type Plan } from '../../plugins/orchestrators/index.js';

/** The store's own message for a stale write; the host re-runs the reconcile when it sees it. */
export const OUT_OF_SEQUENCE = 'update out of sequence';

/** Most object changes per chunk of a split plan (SwarmKit's batch flushes every 200 changes). */
export const MAX_PLAN_CHUNK_ACTIONS = 200;

/** What a plan was computed from: the service's `meta.version` at read time (-1 = the service did not exist). */
export interface PlanBasis {
  serviceId: string;
  serviceVersion: number;
}

/** True when an error means "the store moved underneath; read again and re-run". */
export function isOutOfSequence(e: unknown): boolean {
  return e instanceof FailedPreconditionError && e.message.includes(OUT_OF_SEQUENCE);
}

/** Throws the out-of-sequence error when the service changed since the plan's read. */
export function checkBasis(tx: WriteTx, basis: PlanBasis | undefined): void {
  if (!basis) return;
  const s = tx.get('services', basis.serviceId);
  const v = s ? s.meta.version : -1;
  if (v !== basis.serviceVersion) {
    throw new FailedPreconditionError(`${OUT_OF_SEQUENCE}: service ${basis.serviceId} changed (version ${basis.serviceVersion} -> ${v})`);
  }
}

/** Number of object changes a plan makes (creates, desired raises, deletes, the service change). */
export function planActionCount(p: Plan): number {
  return p.create.length + p.setDesired.length + p.remove.length + (p.setServiceUpdateStatus ? 1 : 0);
}

/** Status message of a task the allocator moved to PENDING (reference §3: "pending task scheduling"). */
export const PENDING_MESSAGE = 'pending task scheduling';

/**
 * The allocator's step for one task: NEW → PENDING "pending task scheduling" at `nowMs`. swarmhost allocates no
 * networks or volumes, so allocation cannot fail or wait; other states are returned unchanged.
 */
export function allocated(t: Task, nowMs: number): Task {
  if (t.status.state !== TaskState.NEW) return t;
  return { ...t, status: { ...t.status, state: TaskState.PENDING, message: PENDING_MESSAGE, timestamp: nowMs } };
}

/**
 * Applies the writing parts of a plan inside `tx` (creates, desired raises that are still raises, deletes of
 * tasks that still exist, the service change). Returns how many objects it changed.
 *
 * With `allocateAtMs`, new tasks are written already allocated (PENDING, see {@link allocated}): the allocator
 * step happens in the transaction that creates them instead of a second write per task (one Raft entry, one
 * store event and one WAL record less per task; the state a watcher sees first is PENDING, as in SwarmKit when
 * its allocator is quick). Without it, tasks are created NEW and the host's allocator step moves them later.
 */
export function applyPlanInTx(tx: WriteTx, plan: Plan, allocateAtMs?: number): number {
  let changed = 0;
  for (const t of plan.create) {
    tx.create('tasks', allocateAtMs === undefined ? t : allocated(t, allocateAtMs));
    changed++;
  }
  // Several raises of one task in one plan: the highest wins (desired state is never lowered).
  const want = new Map<string, TaskState>();
  for (const d of plan.setDesired) want.set(d.taskId, Math.max(want.get(d.taskId) ?? 0, d.desiredState));
  for (const [id, desired] of want) {
    const cur = tx.get('tasks', id);
    if (!cur || cur.desiredState >= desired) continue;
    tx.update('tasks', { ...(cur as Task), desiredState: desired });
    changed++;
  }
  for (const id of plan.remove) {
    if (!tx.get('tasks', id)) continue;
    tx.delete('tasks', id);
    changed++;
  }
  const sc = plan.setServiceUpdateStatus;
  if (sc) {
    const s = tx.get('services', sc.serviceId);
    if (s) {
      tx.update('services', applyServiceChange(s as Parameters<typeof applyServiceChange>[0], sc));
      changed++;
    }
  }
  return changed;
}

/**
 * Splits a plan into chunks of at most `maxActions` object changes each, in order: creates, raises, deletes,
 * then the service change (last, so an update status is written after the tasks it describes). A plan that fits
 * is returned as is (one chunk, one transaction).
 */
export function planChunks(plan: Plan, maxActions = MAX_PLAN_CHUNK_ACTIONS): Plan[] {
  if (planActionCount(plan) <= maxActions) return [plan];
  const out: Plan[] = [];
  let cur = blank();
  let n = 0;
  const push = (): void => {
    out.push(cur);
    cur = blank();
    n = 0;
  };
  for (const t of plan.create) {
    if (n >= maxActions) push();
    cur.create.push(t);
    n++;
  }
  for (const d of plan.setDesired) {
    if (n >= maxActions) push();
    cur.setDesired.push(d);
    n++;
  }
  for (const id of plan.remove) {
    if (n >= maxActions) push();
    cur.remove.push(id);
    n++;
  }
  if (plan.setServiceUpdateStatus) {
    if (n >= maxActions) push();
    cur.setServiceUpdateStatus = plan.setServiceUpdateStatus;
    n++;
  }
  if (n > 0) push();
  return out;
}

function blank(): Plan {
  return { create: [], setDesired: [], remove: [], delayedStarts: [], restart: [] };
}
