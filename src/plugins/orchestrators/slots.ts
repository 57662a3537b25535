/**
 * Shared facts about tasks, slots and nodes that every orchestrator core uses: which nodes are invalid, how
 * tasks group into slots, which kind of service this is. Pure functions over the object model.
 */
import {
  NodeAvailability,
  NodeStatusState,
  RestartCondition,
  TaskState,
  type Node,
  type Service,
  type ServiceMode,
  type Task,
  UpdateState,
} from '../../host/api/index.js';

/** The four service modes, as one tag. */
export type ServiceKind = 'replicated' | 'global' | 'replicatedJob' | 'globalJob';

/** Which mode a service spec is in. */
export function serviceKind(mode: ServiceMode): ServiceKind {
  if ('replicated' in mode) return 'replicated';
  if ('global' in mode) return 'global';
  if ('replicatedJob' in mode) return 'replicatedJob';
  return 'globalJob';
}

/** Global kinds keep one task per node; their history and "slot" are (service, node). */
export function isGlobalKind(kind: ServiceKind): boolean {
  return kind === 'global' || kind === 'globalJob';
}

/** Job kinds run to completion (desired COMPLETE) and are never trimmed by the reaper. */
export function isJobKind(kind: ServiceKind): boolean {
  return kind === 'replicatedJob' || kind === 'globalJob';
}

/** A node the orchestrators must move work off: missing, DOWN, or DRAIN. */
export function isNodeInvalid(node: Node | undefined): boolean {
  return (
    node === undefined ||
    node.status.state === NodeStatusState.DOWN ||
    node.spec.availability === NodeAvailability.DRAIN
  );
}

/** Observed state past RUNNING: the task has stopped for good. */
export function isTerminal(t: Task): boolean {
  return t.status.state > TaskState.RUNNING;
}

/** The time SwarmKit trusts for a task's last status: the manager's `appliedAt`, else the agent's timestamp (ms). */
export function statusTimeMs(t: Task): number {
  return t.status.appliedAt > 0 ? t.status.appliedAt : t.status.timestamp;
}

/**
 * Key of the instance a task fills: `slot:<n>` for replicated services and replicated jobs, `node:<id>` for
 * global kinds. Restart history, reaper trimming and updater slots are all per instance.
 */
export function instanceKey(kind: ServiceKind, t: Task): string {
  return isGlobalKind(kind) ? `node:${t.nodeId}` : `slot:${t.slot}`;
}

/** Groups tasks by instance key, keeping input order inside a group; groups come out sorted by key order. */
export function groupByInstance(kind: ServiceKind, tasks: readonly Task[]): Map<string, Task[]> {
  const groups = new Map<string, Task[]>();
  for (const t of tasks) {
    const k = instanceKey(kind, t);
    const g = groups.get(k);
    if (g) g.push(t);
    else groups.set(k, [t]);
  }
  return groups;
}

/**
 * Whether the restart policy alone (its condition) forbids replacing this stopped task: NONE always, ON_FAILURE
 * when it completed, and any job task that completed (jobs treat ANY as ON_FAILURE).
 */
export function conditionForbidsRestart(t: Task, isJob: boolean): boolean {
  const c = t.spec.restart?.condition ?? RestartCondition.ANY;
  if (c === RestartCondition.NONE) return true;
  if (t.status.state === TaskState.COMPLETE && (c === RestartCondition.ON_FAILURE || isJob)) return true;
  return false;
}

/** The newest task of a group by creation time (ties: later in the list). */
export function newestTask(tasks: readonly Task[]): Task | undefined {
  let best: Task | undefined;
  for (const t of tasks) if (!best || t.meta.createdAt >= best.meta.createdAt) best = t;
  return best;
}

/** True when the service's update status says a rollback is running (so stopped slots still count). */
export function isRollingBack(service: Service): boolean {
  return service.updateStatus?.state === UpdateState.ROLLBACK_STARTED;
}
