/**
 * Dirty detection (reference §5.2): whether a task must be replaced to match its service's current spec.
 * Shared by the rolling updater and the global orchestrator's node-event path.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Node, Service, Task, TaskSpec } from '../../host/api/index.js';

/**
 * Decides whether `node` satisfies placement constraints (SwarmKit's expression syntax, e.g.
 * `node.labels.zone==a`). Injected so the cores do not depend on the scheduler's parser.
 */
export type ConstraintPredicate = (node: Node, constraints: readonly string[]) => boolean;

function withoutPlacement(spec: TaskSpec): Omit<TaskSpec, 'placement'> {
  const { placement: _placement, ...rest } = spec;
  return rest;
}

/**
 * A task is clean when its spec version equals the service's; otherwise when its spec equals the service's task
 * spec, or differs only in placement and its node (if any) still satisfies the new constraints; and in both
 * cases its endpoint (when it has one) equals the service's endpoint spec. Replicas, labels and update config are
 * not part of the task spec, so they never dirty a task; a `forceUpdate` bump does. (swarmhost's TaskSpec has no
 * pull options, so SwarmKit's pull-options exemption has nothing to exempt.)
 */
export function isTaskDirty(service: Service, task: Task, node: Node | undefined, constraintsMet: ConstraintPredicate): boolean {
  if (task.specVersion === service.specVersion) return false;
  const want = service.spec.task;
  if (!isDeepStrictEqual(want, task.spec)) {
    if (!isDeepStrictEqual(withoutPlacement(want), withoutPlacement(task.spec))) return true;
    // Placement-only change: clean while the task's node still satisfies the new constraints.
    if (task.nodeId === '' || node === undefined) return true;
    if (!constraintsMet(node, want.placement.constraints)) return true;
  }
  if (task.endpoint !== undefined && !isDeepStrictEqual(task.endpoint, service.spec.endpoint)) return true;
  return false;
}

/** A slot is dirty when it holds more than one task or its only task is dirty. */
export function isSlotDirty(
  service: Service,
  slot: readonly Task[],
  nodes: Record<string, Node>,
  constraintsMet: ConstraintPredicate,
): boolean {
  if (slot.length !== 1) return slot.length > 1;
  const t = slot[0]!;
  return isTaskDirty(service, t, nodes[t.nodeId], constraintsMet);
}
