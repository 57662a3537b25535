/**
 * Replicated services (reference §3.1): slots 1..N, scale up into the lowest free slots, scale down with
 * SwarmKit's victim choice, dead slots deleted, tasks on invalid nodes handed to the restart supervisor, all
 * tasks removed when the service is deleted. A pure function from (service, its tasks, nodes) to a Plan.
 */
import { TaskState, type Node, type Service, type Task } from '../../host/api/index.js';
import { emptyPlan, newTaskFromService, type NewId, type Plan } from './plan.js';
import {
  conditionForbidsRestart,
  isNodeInvalid,
  isRollingBack,
  isTerminal,
  newestTask,
} from './slots.js';

/** Everything the replicated reconcile looks at. JSON-only. */
export interface ReplicatedInput {
  serviceId: string;
  /** The service, or undefined when it was deleted. Its mode must be `replicated`. */
  service?: Service;
  /** Every task record of the service. */
  tasks: Task[];
  /** Nodes by id (a task whose node is absent is on a "missing" node). */
  nodes: Record<string, Node>;
  /** Current time, ms. */
  nowMs: number;
  /** Tasks whose replacement the restart supervisor already refused (max attempts reached). */
  noRestartTaskIds?: string[];
}

/** Injected non-JSON capabilities: ids for new tasks. */
export interface ReconcileContext {
  newId: NewId;
}

/** One slot: its number and the tasks in it. */
interface SlotTasks {
  slot: number;
  tasks: Task[];
}

/**
 * Tasks that must go through the restart supervisor: desired ≤ RUNNING and either stopped (observed > RUNNING)
 * or assigned to a missing / DOWN / DRAIN node. Shared by replicated and global reconciles.
 */
export function tasksNeedingRestart(tasks: readonly Task[], nodes: Record<string, Node>): { task: Task; reason: string }[] {
  const out: { task: Task; reason: string }[] = [];
  for (const t of tasks) {
    if (t.desiredState > TaskState.RUNNING) continue;
    if (isTerminal(t)) out.push({ task: t, reason: `task ${TaskState[t.status.state]}` });
    else if (t.nodeId !== '' && isNodeInvalid(nodes[t.nodeId])) {
      const n = nodes[t.nodeId];
      out.push({ task: t, reason: n === undefined ? 'node missing' : 'node down or drained' });
    }
  }
  return out;
}

/** All tasks of a deleted service go to desired REMOVE (never lowering a higher desired state). */
export function removeAllTasks(serviceId: string, tasks: readonly Task[]): Plan {
  const plan = emptyPlan();
  for (const t of tasks) {
    if (t.desiredState < TaskState.REMOVE) {
      plan.setDesired.push({ taskId: t.id, desiredState: TaskState.REMOVE, reason: 'service removed' });
    }
  }
  plan.forgetServices = [serviceId];
  return plan;
}

/**
 * Splits slots into updatable and dead. Updatable = tasks with desired ≤ RUNNING; a slot with none still holds
 * its newest task when the restart policy forbids replacing it (so it is not refilled) or when a rollback is
 * running (so the rollback converges); otherwise the slot is dead.
 */
function splitSlots(
  slots: SlotTasks[],
  noRestart: ReadonlySet<string>,
  rollingBack: boolean,
): { updatable: SlotTasks[]; dead: SlotTasks[] } {
  const updatable: SlotTasks[] = [];
  const dead: SlotTasks[] = [];
  for (const s of slots) {
    const live = s.tasks.filter((t) => t.desiredState <= TaskState.RUNNING);
    if (live.length > 0) {
      updatable.push({ slot: s.slot, tasks: live });
      continue;
    }
    const newest = newestTask(s.tasks);
    if (newest && (rollingBack || noRestart.has(newest.id) || (isTerminal(newest) && conditionForbidsRestart(newest, false)))) {
      updatable.push({ slot: s.slot, tasks: [newest] });
    } else {
      dead.push(s);
    }
  }
  return { updatable, dead };
}

/** A slot is running-first when any of its tasks is observed RUNNING. */
function slotIsRunning(s: SlotTasks): boolean {
  return s.tasks.some((t) => t.status.state === TaskState.RUNNING);
}

/**
 * Scale-down order: keep running slots first, then low slot numbers; then each single-task assigned slot gets
 * the ordinal of that slot among the service's slots on its node (1, 2, ...); unassigned or multi-task slots get
 * -1 and sort last. Sorted by ordinal (stable, so the pre-sort breaks ties deterministically). The first
 * `replicas` slots are kept.
 */
export function scaleDownOrder(slots: readonly { slot: number; tasks: Task[] }[]): { slot: number; tasks: Task[] }[] {
  const pre = [...slots].sort((a, b) => {
    const ra = slotIsRunning(a) ? 0 : 1;
    const rb = slotIsRunning(b) ? 0 : 1;
    return ra !== rb ? ra - rb : a.slot - b.slot;
  });
  const perNode = new Map<string, number>();
  const index = new Map<number, number>();
  for (const s of pre) {
    const only = s.tasks.length === 1 ? s.tasks[0]! : undefined;
    if (only && only.nodeId !== '') {
      const n = (perNode.get(only.nodeId) ?? 0) + 1;
      perNode.set(only.nodeId, n);
      index.set(s.slot, n);
    } else {
      index.set(s.slot, -1);
    }
  }
  const key = (s: SlotTasks): number => {
    const i = index.get(s.slot)!;
    return i === -1 ? Number.MAX_SAFE_INTEGER : i;
  };
  return pre.sort((a, b) => key(a) - key(b));
}

/** Reconciles one replicated service (reference §3.1). */
export function reconcileReplicated(input: ReplicatedInput, ctx: ReconcileContext): Plan {
  const { service, tasks, nodes } = input;
  if (!service) return removeAllTasks(input.serviceId, tasks);
  if (!('replicated' in service.spec.mode)) {
    throw new TypeError(`service ${service.id}: reconcileReplicated needs mode replicated`);
  }
  const replicas = service.spec.mode.replicated.replicas;
  const plan = emptyPlan();

  for (const r of tasksNeedingRestart(tasks, nodes)) plan.restart.push({ taskId: r.task.id, reason: r.reason });

  const bySlot = new Map<number, Task[]>();
  for (const t of tasks) {
    const g = bySlot.get(t.slot);
    if (g) g.push(t);
    else bySlot.set(t.slot, [t]);
  }
  const slots = [...bySlot.entries()].sort((a, b) => a[0] - b[0]).map(([slot, ts]) => ({ slot, tasks: ts }));
  const { updatable, dead } = splitSlots(slots, new Set(input.noRestartTaskIds ?? []), isRollingBack(service));

  let keep = updatable;
  const reused = new Set<number>();
  if (updatable.length < replicas) {
    const used = new Set(updatable.map((s) => s.slot));
    let next = 1;
    for (let n = updatable.length; n < replicas; n++) {
      while (used.has(next)) next++;
      used.add(next);
      reused.add(next);
      plan.create.push(
        newTaskFromService(service, { slot: next, desiredState: TaskState.RUNNING, nowMs: input.nowMs, newId: ctx.newId }),
      );
    }
  } else if (updatable.length > replicas) {
    const ordered = scaleDownOrder(updatable);
    keep = ordered.slice(0, replicas).sort((a, b) => a.slot - b.slot);
    for (const s of ordered.slice(replicas)) {
      for (const t of s.tasks) {
        if (t.desiredState < TaskState.REMOVE) {
          plan.setDesired.push({ taskId: t.id, desiredState: TaskState.REMOVE, reason: 'scale down' });
        }
      }
    }
  }
  for (const s of dead) if (!reused.has(s.slot)) for (const t of s.tasks) plan.remove.push(t.id);
  // A scale-down victim is removed, not restarted.
  const removed = new Set(plan.setDesired.map((c) => c.taskId));
  plan.restart = plan.restart.filter((r) => !removed.has(r.taskId));
  // Tasks restarted because their node is DOWN, drained or gone are replaced by the restart supervisor with the
  // current spec: handing them to the rolling updater too made a second task in the slot (found by the
  // orchestration simulation: a drain and a spec change at once). Failed tasks stay visible to the updater, whose
  // failure monitoring and rollback need them.
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const restarting = new Set(plan.restart.filter((r) => !isTerminal(byId.get(r.taskId)!)).map((r) => r.taskId));
  plan.updaterSlots = keep.map((s) => s.tasks.filter((t) => !restarting.has(t.id)).map((t) => t.id)).filter((ids) => ids.length > 0);
  return plan;
}
