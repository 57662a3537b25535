// A tiny deterministic world for driving the rolling updater: a store of tasks, a fake agent that moves tasks
// through their states on virtual time, the replicated reconcile feeding the updater its slots, and a log of
// what happened when. No timers: `run` advances virtual time in fixed ticks.
import { TaskState, type Node, type Service, type Task, type UpdateConfig } from '../../../src/host/api/index.js';
import {
  applyServiceChange,
  initialUpdaterState,
  reconcileReplicated,
  stepUpdater,
  type Plan,
  type UpdaterState,
} from '../../../src/plugins/orchestrators/index.js';
import { idGen, labelConstraints, node, nodesById, service, task, taskSpec } from './fixtures.js';

/** How the fake agent treats a task: start after `startMs`; optionally fail instead, or fail after running. */
export interface Behaviour {
  startMs: number;
  stopMs: number;
  fail?: boolean;
  failAfterRunningMs?: number;
  /** The agent never stops this task (stuck old task). */
  neverStops?: boolean;
}

export interface LogEntry {
  atMs: number;
  kind: 'created' | 'desired' | 'state' | 'status';
  taskId?: string;
  slot?: number;
  image?: string;
  value: number | string;
}

export class UpdateWorld {
  nowMs = 0;
  readonly tasks = new Map<string, Task>();
  readonly nodes: Record<string, Node>;
  svc: Service;
  state: UpdaterState;
  readonly log: LogEntry[] = [];
  readonly errors: string[] = [];
  lastWakeAtMs: number | undefined;
  /** Max number of slots at any tick holding a new-spec task that is not yet RUNNING (and not stopped). */
  maxSlotsUpdating = 0;
  private readonly newId = idGen('u');
  private readonly since = new Map<string, number>();
  private readonly runningAt = new Map<string, number>();

  constructor(
    replicas: number,
    readonly behaviour: (t: Task) => Behaviour,
  ) {
    this.nodes = nodesById(node('n1'), node('n2'), node('n3'));
    this.svc = service({ replicas, specVersion: 1, spec: taskSpec({ image: 'v1' }) });
    for (let s = 1; s <= replicas; s++) {
      const t = task({ id: `old${s}`, svc: this.svc, slot: s, nodeId: `n${((s - 1) % 3) + 1}` });
      this.tasks.set(t.id, t);
    }
    this.state = initialUpdaterState(this.svc.id);
  }

  /** A user update: new image (and optionally update/rollback configs), previous spec kept, status nulled. */
  userUpdate(image: string, update?: UpdateConfig, rollback?: UpdateConfig): void {
    const next = structuredClone(this.svc);
    next.previousSpec = this.svc.spec;
    next.previousSpecVersion = this.svc.specVersion;
    next.specVersion = this.svc.specVersion + 100;
    next.spec = structuredClone(this.svc.spec);
    next.spec.task.container.image = image;
    if (update) next.spec.update = update;
    if (rollback) next.spec.rollback = rollback;
    delete next.updateStatus;
    this.svc = next;
  }

  apply(plan: Plan): void {
    for (const t of plan.create) {
      this.tasks.set(t.id, structuredClone(t));
      this.since.set(t.id, this.nowMs);
      this.log.push({ atMs: this.nowMs, kind: 'created', taskId: t.id, slot: t.slot, image: t.spec.container.image, value: t.desiredState });
    }
    for (const c of plan.setDesired) {
      const t = this.tasks.get(c.taskId);
      if (!t || t.desiredState >= c.desiredState) continue;
      t.desiredState = c.desiredState;
      this.since.set(t.id, this.nowMs);
      this.log.push({ atMs: this.nowMs, kind: 'desired', taskId: t.id, slot: t.slot, value: c.desiredState });
    }
    for (const id of plan.remove) this.tasks.delete(id);
    if (plan.setServiceUpdateStatus) {
      this.svc = applyServiceChange(this.svc, plan.setServiceUpdateStatus);
      this.log.push({ atMs: this.nowMs, kind: 'status', value: this.svc.updateStatus?.message ?? '' });
    }
  }

  private setState(t: Task, s: TaskState): void {
    t.status = { ...t.status, state: s, timestamp: this.nowMs };
    if (s === TaskState.RUNNING) this.runningAt.set(t.id, this.nowMs);
    this.log.push({ atMs: this.nowMs, kind: 'state', taskId: t.id, slot: t.slot, value: s });
  }

  /** The fake agent: one pass over every task. */
  private agent(): void {
    for (const t of this.tasks.values()) {
      const b = this.behaviour(t);
      const since = this.since.get(t.id) ?? 0;
      if (t.desiredState >= TaskState.SHUTDOWN) {
        if (t.status.state <= TaskState.RUNNING && !b.neverStops && this.nowMs - since >= b.stopMs) this.setState(t, TaskState.SHUTDOWN);
        continue;
      }
      if (t.desiredState === TaskState.RUNNING && t.status.state < TaskState.RUNNING && this.nowMs - since >= b.startMs) {
        this.setState(t, b.fail ? TaskState.FAILED : TaskState.RUNNING);
        continue;
      }
      const ranAt = this.runningAt.get(t.id);
      if (t.status.state === TaskState.RUNNING && b.failAfterRunningMs !== undefined && ranAt !== undefined && this.nowMs - ranAt >= b.failAfterRunningMs) {
        this.setState(t, TaskState.FAILED);
      }
    }
  }

  /** One updater step at the current time, fed by the replicated reconcile's slots. */
  step(): void {
    const tasks = [...this.tasks.values()];
    const plan = reconcileReplicated({ serviceId: this.svc.id, service: this.svc, tasks, nodes: this.nodes, nowMs: this.nowMs }, { newId: this.newId });
    const slots = (plan.updaterSlots ?? []).map((ids) => ids.map((id) => this.tasks.get(id)!));
    const out = stepUpdater(this.state, { service: this.svc, slots, tasks, nodes: this.nodes }, this.nowMs, { newId: this.newId, constraintsMet: labelConstraints });
    this.state = out.nextState;
    this.lastWakeAtMs = out.wakeAtMs;
    if (out.error) this.errors.push(out.error);
    this.apply(out.actions);
  }

  /** Advances virtual time to `untilMs` in `tickMs` ticks: agent, then updater. */
  run(untilMs: number, tickMs = 100): void {
    while (this.nowMs < untilMs) {
      this.nowMs += tickMs;
      this.agent();
      this.step();
      const updating = new Set<number>();
      for (const t of this.tasks.values()) {
        if (t.specVersion === this.svc.specVersion && t.desiredState <= TaskState.RUNNING && t.status.state < TaskState.RUNNING && t.id.startsWith('u')) {
          updating.add(t.slot);
        }
      }
      this.maxSlotsUpdating = Math.max(this.maxSlotsUpdating, updating.size);
    }
  }

  /** Images of the tasks that are live (desired ≤ RUNNING), by slot. */
  liveImages(): Record<number, string[]> {
    const out: Record<number, string[]> = {};
    for (const t of this.tasks.values()) {
      if (t.desiredState <= TaskState.RUNNING) (out[t.slot] ??= []).push(t.spec.container.image);
    }
    return out;
  }

  createdAt(image: string): number[] {
    return this.log.filter((e) => e.kind === 'created' && e.image === image).map((e) => e.atMs);
  }
}
