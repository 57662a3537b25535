/**
 * Global services (reference §3.2): one task per eligible node (not DOWN, not DRAIN, constraints met); PAUSE
 * leaves a node's tasks as they are; tasks on ineligible or deleted nodes are shut down without replacement.
 * Two pure entry points: per service (`reconcileGlobal`) and per node event (`reconcileGlobalNode`).
 */
import { NodeAvailability, NodeStatusState, TaskState, type Node, type Service, type Task } from '../../host/api/index.js';
import { isTaskDirty, type ConstraintPredicate } from './dirty.js';
import { emptyPlan, newTaskFromService, type NewId, type Plan } from './plan.js';
import { removeAllTasks } from './replicated.js';
import { conditionForbidsRestart, isTerminal, newestTask, serviceKind } from './slots.js';

/** Input of the per-service global reconcile. JSON-only. */
export interface GlobalInput {
  serviceId: string;
  /** The service, or undefined when deleted. Mode must be `global`. */
  service?: Service;
  /** Every task record of the service. */
  tasks: Task[];
  /** Every node, by id. */
  nodes: Record<string, Node>;
  nowMs: number;
  /** Tasks whose replacement the restart supervisor already refused (max attempts reached). */
  noRestartTaskIds?: string[];
}

/** Injected capabilities for the global reconciles. */
export interface GlobalContext {
  newId: NewId;
  constraintsMet: ConstraintPredicate;
}

/** Eligible for global tasks: known, not DOWN, not DRAIN (PAUSE is eligible but gets no new tasks). */
export function isNodeEligible(node: Node | undefined): node is Node {
  return (
    node !== undefined &&
    node.status.state !== NodeStatusState.DOWN &&
    node.spec.availability !== NodeAvailability.DRAIN
  );
}

function shutdown(plan: Plan, tasks: readonly Task[], reason: string): void {
  for (const t of tasks) {
    if (t.desiredState <= TaskState.RUNNING) plan.setDesired.push({ taskId: t.id, desiredState: TaskState.SHUTDOWN, reason });
  }
}

function groupByNode(tasks: readonly Task[]): Map<string, Task[]> {
  const m = new Map<string, Task[]>();
  for (const t of tasks) {
    const g = m.get(t.nodeId);
    if (g) g.push(t);
    else m.set(t.nodeId, [t]);
  }
  return m;
}

/** Reconciles one global service across every node (reference §3.2). */
export function reconcileGlobal(input: GlobalInput, ctx: GlobalContext): Plan {
  const { service, nodes } = input;
  if (!service) return removeAllTasks(input.serviceId, input.tasks);
  if (serviceKind(service.spec.mode) !== 'global') {
    throw new TypeError(`service ${service.id}: reconcileGlobal needs mode global`);
  }
  const plan = emptyPlan();
  const noRestart = new Set(input.noRestartTaskIds ?? []);
  const byNode = groupByNode(input.tasks);

  // Tasks on nodes that are gone, DOWN or DRAIN: shut down, no replacement.
  for (const [nodeId, tasks] of byNode) {
    if (!isNodeEligible(nodes[nodeId])) shutdown(plan, tasks, 'node not eligible');
  }

  const constraints = service.spec.task.placement.constraints;
  for (const nodeId of Object.keys(nodes).sort()) {
    const node = nodes[nodeId]!;
    if (!isNodeEligible(node)) continue;
    const onNode = byNode.get(nodeId) ?? [];
    const live = onNode.filter((t) => t.desiredState <= TaskState.RUNNING);
    if (!constraintsMet(ctx, node, constraints)) {
      shutdown(plan, live, 'constraints not met');
      continue;
    }
    const failed = live.filter(isTerminal);
    if (node.spec.availability === NodeAvailability.PAUSE) {
      shutdown(plan, failed, 'node paused');
      continue;
    }
    for (const t of failed) plan.restart.push({ taskId: t.id, reason: `task ${TaskState[t.status.state]}` });
    if (live.length === 0) {
      const newest = newestTask(onNode);
      const held = newest !== undefined && isTerminal(newest) && (noRestart.has(newest.id) || conditionForbidsRestart(newest, false));
      if (!held) {
        plan.create.push(
          newTaskFromService(service, { slot: 0, nodeId, desiredState: TaskState.RUNNING, nowMs: input.nowMs, newId: ctx.newId }),
        );
      }
      continue;
    }
    // Failed tasks go through the restart supervisor (whose replacement takes the current spec): handing them
    // to the rolling updater too made a second task on the node (found by the orchestration simulation).
    const updatable = live.filter((t) => !isTerminal(t));
    if (updatable.length > 0) (plan.updaterSlots ??= []).push(updatable.map((t) => t.id));
  }
  return plan;
}

function constraintsMet(ctx: GlobalContext, node: Node, constraints: readonly string[]): boolean {
  return constraints.length === 0 || ctx.constraintsMet(node, constraints);
}

/** Input of the node-event path: one node and every global service with its tasks on that node. */
export interface GlobalNodeInput {
  nodeId: string;
  /** The node, or undefined when it was deleted. */
  node?: Node;
  /** Global services (other kinds are ignored). */
  services: Service[];
  /** Tasks of those services on this node. */
  tasksOnNode: Task[];
  nowMs: number;
}

/**
 * A node was created, updated or deleted (reference §3.2 node events): deleted ⇒ its global tasks are deleted;
 * DOWN or DRAIN ⇒ shut down; PAUSE ⇒ nothing; otherwise, per service whose constraints the node meets: add a
 * task if none is live, else shut down dirty and surplus clean tasks and add one if no clean task remains. This
 * path bypasses the rolling updater (and its UpdateStatus), as SwarmKit does.
 */
export function reconcileGlobalNode(input: GlobalNodeInput, ctx: GlobalContext): Plan {
  const plan = emptyPlan();
  const globals = input.services.filter((s) => serviceKind(s.spec.mode) === 'global');
  const ids = new Set(globals.map((s) => s.id));
  const tasks = input.tasksOnNode.filter((t) => ids.has(t.serviceId));
  const node = input.node;
  if (!node) {
    for (const t of tasks) plan.remove.push(t.id);
    return plan;
  }
  if (!isNodeEligible(node)) {
    shutdown(plan, tasks, 'node not eligible');
    return plan;
  }
  if (node.spec.availability === NodeAvailability.PAUSE) return plan;
  const nodes = { [node.id]: node };
  for (const service of globals) {
    const live = tasks.filter((t) => t.serviceId === service.id && t.desiredState <= TaskState.RUNNING);
    if (!constraintsMet(ctx, node, service.spec.task.placement.constraints)) {
      shutdown(plan, live, 'constraints not met');
      continue;
    }
    let keptClean = false;
    for (const t of live) {
      const clean = !isTerminal(t) && !isTaskDirty(service, t, nodes[t.nodeId], ctx.constraintsMet);
      if (clean && !keptClean) keptClean = true;
      else shutdown(plan, [t], clean ? 'surplus task' : 'dirty task');
    }
    if (!keptClean) {
      plan.create.push(
        newTaskFromService(service, { slot: 0, nodeId: node.id, desiredState: TaskState.RUNNING, nowMs: input.nowMs, newId: ctx.newId }),
      );
    }
  }
  return plan;
}
