/**
 * Jobs (reference §3.3): replicated jobs run `totalCompletions` successful tasks, at most `maxConcurrent` at a
 * time, in slots 0..total-1; global jobs run one task per eligible node. Tasks are created at desired COMPLETE
 * with the service's current job iteration; tasks of older iterations still running are removed; failed ones go
 * to the restart supervisor (which, for jobs, never restarts a COMPLETE task).
 */
import { NodeAvailability, NodeStatusState, TaskState, type Node, type Service, type Task } from '../../host/api/index.js';
import type { ConstraintPredicate } from './dirty.js';
import { emptyPlan, newTaskFromService, type NewId, type Plan } from './plan.js';
import { removeAllTasks } from './replicated.js';
import { isNodeInvalid, isTerminal, serviceKind } from './slots.js';

/** Input of a job reconcile. JSON-only. */
export interface JobInput {
  serviceId: string;
  /** The job service, or undefined when deleted. */
  service?: Service;
  /** Every task record of the service. */
  tasks: Task[];
  /** Every node, by id. */
  nodes: Record<string, Node>;
  nowMs: number;
}

/** Injected capabilities for job reconciles. */
export interface JobContext {
  newId: NewId;
  /** Needed for global jobs only. */
  constraintsMet?: ConstraintPredicate;
}

/** The job iteration the service is on (0 at create, +1 per update). */
export function currentJobIteration(service: Service): number {
  return service.jobStatus?.jobIteration ?? 0;
}

/** Old-iteration tasks that have not stopped are removed (superseded run). */
function removeOldIterations(plan: Plan, tasks: readonly Task[], iteration: number): void {
  for (const t of tasks) {
    if ((t.jobIteration ?? 0) !== iteration && !isTerminal(t) && t.desiredState < TaskState.REMOVE) {
      plan.setDesired.push({ taskId: t.id, desiredState: TaskState.REMOVE, reason: 'superseded job iteration' });
    }
  }
}

/** A current-iteration task that failed (stopped, not COMPLETE) while still wanted. */
function isFailedJobTask(t: Task): boolean {
  return isTerminal(t) && t.status.state !== TaskState.COMPLETE && t.desiredState <= TaskState.COMPLETE;
}

/**
 * Replicated job: completed = observed COMPLETE; running = not COMPLETE with desired ≤ COMPLETE (failed ones are
 * handed to the restart supervisor, whose replacement keeps their place); creates
 * min(maxConcurrent − running, total − completed − running) tasks in the lowest unused slots of [0, total).
 * `maxConcurrent` 0 means no limit beyond `totalCompletions`.
 */
export function reconcileReplicatedJob(input: JobInput, ctx: JobContext): Plan {
  const { service } = input;
  if (!service) return removeAllTasks(input.serviceId, input.tasks);
  const mode = service.spec.mode;
  if (!('replicatedJob' in mode)) throw new TypeError(`service ${service.id}: reconcileReplicatedJob needs mode replicated-job`);
  const { totalCompletions } = mode.replicatedJob;
  const maxConcurrent = mode.replicatedJob.maxConcurrent > 0 ? mode.replicatedJob.maxConcurrent : totalCompletions;
  const iteration = currentJobIteration(service);
  const plan = emptyPlan();
  removeOldIterations(plan, input.tasks, iteration);

  const current = input.tasks.filter((t) => (t.jobIteration ?? 0) === iteration);
  let completed = 0;
  let running = 0;
  const usedSlots = new Set<number>();
  for (const t of current) {
    if (t.status.state === TaskState.COMPLETE) {
      completed++;
      usedSlots.add(t.slot);
    } else if (t.desiredState <= TaskState.COMPLETE) {
      running++;
      usedSlots.add(t.slot);
      if (isFailedJobTask(t)) plan.restart.push({ taskId: t.id, reason: `job task ${TaskState[t.status.state]}` });
      else if (t.nodeId !== '' && isNodeInvalid(input.nodes[t.nodeId])) {
        plan.restart.push({ taskId: t.id, reason: 'node down or drained' });
      }
    }
  }
  const want = Math.max(0, Math.min(maxConcurrent - running, totalCompletions - completed - running));
  let slot = 0;
  for (let n = 0; n < want; n++) {
    while (usedSlots.has(slot)) slot++;
    if (slot >= totalCompletions) break;
    usedSlots.add(slot);
    plan.create.push(
      newTaskFromService(service, {
        slot,
        desiredState: TaskState.COMPLETE,
        nowMs: input.nowMs,
        newId: ctx.newId,
        jobIteration: iteration,
      }),
    );
  }
  return plan;
}

/** A node a global job runs on: ACTIVE, READY and valid. */
function globalJobNodeOk(node: Node): boolean {
  return node.spec.availability === NodeAvailability.ACTIVE && node.status.state === NodeStatusState.READY;
}

/**
 * Global job: one current-iteration task per node that is ACTIVE, READY and meets the constraints; failed ones
 * are restarted; tasks on invalid nodes are shut down; older iterations removed.
 */
export function reconcileGlobalJob(input: JobInput, ctx: JobContext): Plan {
  const { service, nodes } = input;
  if (!service) return removeAllTasks(input.serviceId, input.tasks);
  if (serviceKind(service.spec.mode) !== 'globalJob') throw new TypeError(`service ${service.id}: reconcileGlobalJob needs mode global-job`);
  const iteration = currentJobIteration(service);
  const plan = emptyPlan();
  removeOldIterations(plan, input.tasks, iteration);

  const current = input.tasks.filter((t) => (t.jobIteration ?? 0) === iteration);
  const nodesWithTask = new Set<string>();
  for (const t of current) {
    if (t.desiredState > TaskState.COMPLETE) continue;
    if (isNodeInvalid(nodes[t.nodeId])) {
      if (!isTerminal(t)) plan.setDesired.push({ taskId: t.id, desiredState: TaskState.SHUTDOWN, reason: 'node not eligible' });
      continue;
    }
    nodesWithTask.add(t.nodeId);
    if (isFailedJobTask(t)) plan.restart.push({ taskId: t.id, reason: `job task ${TaskState[t.status.state]}` });
  }
  // A completed current-iteration task also means the node is done.
  for (const t of current) if (t.status.state === TaskState.COMPLETE) nodesWithTask.add(t.nodeId);

  const constraints = service.spec.task.placement.constraints;
  for (const nodeId of Object.keys(nodes).sort()) {
    const node = nodes[nodeId]!;
    if (nodesWithTask.has(nodeId) || !globalJobNodeOk(node)) continue;
    if (constraints.length > 0) {
      if (!ctx.constraintsMet) throw new TypeError('reconcileGlobalJob: constraintsMet is required for a job with constraints');
      if (!ctx.constraintsMet(node, constraints)) continue;
    }
    plan.create.push(
      newTaskFromService(service, {
        slot: 0,
        nodeId,
        desiredState: TaskState.COMPLETE,
        nowMs: input.nowMs,
        newId: ctx.newId,
        jobIteration: iteration,
      }),
    );
  }
  return plan;
}
