/**
 * The constraint enforcer (reference §3.4) as a pure function: given a node, the tasks assigned to it, their
 * services and a constraint predicate, which tasks no longer fit (constraints or resources) and must be rejected.
 * The host writes them as observed REJECTED; the orchestrators then replace them.
 */
import { NodeAvailability, TaskState, type Node, type Service, type Task } from '../../host/api/index.js';
import type { ConstraintPredicate } from './dirty.js';
import { statusTimeMs } from './slots.js';

/** Message SwarmKit writes on a rejected task. */
export const ENFORCER_MESSAGE = 'task rejected by constraint enforcer';
/** Error SwarmKit writes on a rejected task. */
export const ENFORCER_ERR = 'assigned node no longer meets constraints';

/** One task to move to observed REJECTED. */
export interface TaskRejection {
  taskId: string;
  state: TaskState.REJECTED;
  message: string;
  err: string;
}

/** Input of one enforcer pass over a node. JSON-only. */
export interface EnforcerInput {
  node: Node;
  /** Tasks assigned to the node. */
  tasks: Task[];
  /** Services by id (the service's current constraints win over the task's own). */
  services: Record<string, Service>;
}

/** Tasks the enforcer checks: desired ASSIGNED..COMPLETE and not yet stopped. */
function checked(t: Task): boolean {
  return t.desiredState >= TaskState.ASSIGNED && t.desiredState <= TaskState.COMPLETE && t.status.state < TaskState.COMPLETE;
}

/**
 * Rejects, on an ACTIVE node only: tasks whose service's current constraints (the task's own if the service is
 * gone) the node no longer meets; then, oldest first, tasks whose reservations no longer fit in the node's
 * totals (cumulative nano-CPUs, memory bytes, discrete generic resources) or whose assigned named generic
 * resources the node no longer offers.
 */
export function enforceConstraints(input: EnforcerInput, constraintsMet: ConstraintPredicate): TaskRejection[] {
  const { node } = input;
  if (node.spec.availability !== NodeAvailability.ACTIVE) return [];
  const reject = (t: Task): TaskRejection => ({ taskId: t.id, state: TaskState.REJECTED, message: ENFORCER_MESSAGE, err: ENFORCER_ERR });
  const out: TaskRejection[] = [];
  const survivors: Task[] = [];
  for (const t of input.tasks.filter(checked)) {
    const constraints = (input.services[t.serviceId]?.spec.task ?? t.spec).placement.constraints;
    if (constraints.length > 0 && !constraintsMet(node, constraints)) out.push(reject(t));
    else survivors.push(t);
  }
  const total = node.description?.resources;
  if (!total) return out;
  let cpu = 0;
  let mem = 0;
  const generic = new Map<string, number>();
  survivors.sort((a, b) => statusTimeMs(a) - statusTimeMs(b) || (a.id < b.id ? -1 : 1));
  for (const t of survivors) {
    const r = t.spec.resources.reservations;
    let fits = cpu + r.nanoCpus <= total.nanoCpus && mem + r.memoryBytes <= total.memoryBytes;
    for (const [kind, n] of Object.entries(r.generic ?? {})) {
      if ((generic.get(kind) ?? 0) + n > (total.generic?.[kind] ?? 0) + (total.genericNamed?.[kind]?.length ?? 0)) fits = false;
    }
    for (const [kind, values] of Object.entries(t.assignedGenericResources ?? {})) {
      const offered = new Set(total.genericNamed?.[kind] ?? []);
      if (values.some((v) => !offered.has(v))) fits = false;
    }
    if (!fits) {
      out.push(reject(t));
      continue;
    }
    cpu += r.nanoCpus;
    mem += r.memoryBytes;
    for (const [kind, n] of Object.entries(r.generic ?? {})) generic.set(kind, (generic.get(kind) ?? 0) + n);
  }
  return out;
}
