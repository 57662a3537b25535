/**
 * `service create|update --detach=false`: what "converged" means and how progress is drawn, as pure functions
 * of the service and its tasks (swarmctl polls and redraws). Like `docker service create`: one line per slot
 * (replicated) or per node (global) with the task's state and a bar, an "overall progress" line, and a final
 * verdict. On a terminal the block is redrawn in place; otherwise only changed lines are printed, plainly.
 */
import { isDeepStrictEqual } from 'node:util';
import { TaskState, UpdateState, type Node, type Service, type Task, type TaskSpec } from '../api/index.js';

/** Width of the progress bar between the brackets, characters (docker's). */
export const PROGRESS_BAR_CHARS = 50;

/** One row of the display. */
export interface ProgressRow {
  /** "1/3" (replicated) or the node name (global). */
  label: string;
  /** Lower-case task state, "no task" while the slot has none. */
  state: string;
  /** 0..1: how far the task is on its way to RUNNING. */
  fraction: number;
  /** The task's error message, if any (shown after the bar). */
  err: string;
}

/** What one poll shows and decides. */
export interface ProgressView {
  rows: ProgressRow[];
  /** Tasks of the current spec running. */
  running: number;
  /** Tasks wanted. */
  desired: number;
  converged: boolean;
  /** Set when the service will not converge without operator action (update paused or rolled back). */
  failed?: string;
}

const STEPS = [TaskState.NEW, TaskState.PENDING, TaskState.ASSIGNED, TaskState.ACCEPTED, TaskState.PREPARING, TaskState.READY, TaskState.STARTING, TaskState.RUNNING];

function fractionOf(s: TaskState): number {
  const i = STEPS.indexOf(s);
  return i < 0 ? (s > TaskState.RUNNING ? 1 : 0) : (i + 1) / STEPS.length;
}

const stateName = (s: TaskState): string => (TaskState[s] ?? String(s)).toLowerCase();

/** The task that represents a slot: the newest one still wanted running, else the newest one. */
function pick(ts: Task[]): Task | undefined {
  const newest = (a: Task, b: Task): number => b.meta.createdAt - a.meta.createdAt || b.meta.version - a.meta.version;
  const wanted = ts.filter((t) => t.desiredState <= TaskState.RUNNING).sort(newest);
  return wanted[0] ?? [...ts].sort(newest)[0];
}

const withoutPlacement = (t: TaskSpec): Omit<TaskSpec, 'placement'> => {
  const { placement: _placement, ...rest } = t;
  return rest;
};

/**
 * A task runs the service's current spec when it was made from it (same spec version) or when the update did
 * not touch the task template (replicas, labels, update config, or placement that the orchestrator keeps):
 * the orchestrator leaves such tasks running, so waiting for new ones would never end.
 */
export function isCurrentTask(s: Service, t: Task): boolean {
  if (t.specVersion === s.specVersion) return true;
  if (!isDeepStrictEqual(withoutPlacement(s.spec.task), withoutPlacement(t.spec))) return false;
  return t.endpoint === undefined || isDeepStrictEqual(t.endpoint, s.spec.endpoint);
}

const isCurrentRunning = (s: Service, t: Task): boolean =>
  t.desiredState === TaskState.RUNNING && t.status.state === TaskState.RUNNING && isCurrentTask(s, t);

/**
 * The progress view of a replicated or global service. `desiredGlobal` is the server's desired task count
 * (ListServiceStatuses), used for global services. Jobs are not supported (they do not converge to running).
 */
export function progressView(s: Service, tasks: Task[], nodes: ReadonlyMap<string, Node>, desiredGlobal: number): ProgressView {
  const us = s.updateStatus?.state;
  const failed =
    us === UpdateState.PAUSED || us === UpdateState.ROLLBACK_PAUSED
      ? `update paused: ${s.updateStatus?.message || 'a task failed'}`
      : us === UpdateState.ROLLBACK_COMPLETED || us === UpdateState.ROLLBACK_STARTED
        ? `update rolled back: ${s.updateStatus?.message || 'a task failed'}`
        : undefined;
  const rows: ProgressRow[] = [];
  let running = 0;
  let desired: number;
  const runningAny = tasks.filter((t) => t.status.state === TaskState.RUNNING).length;
  if ('replicated' in s.spec.mode) {
    desired = s.spec.mode.replicated.replicas;
    const bySlot = new Map<number, Task[]>();
    for (const t of tasks) {
      let l = bySlot.get(t.slot);
      if (!l) bySlot.set(t.slot, (l = []));
      l.push(t);
    }
    for (let slot = 1; slot <= desired; slot++) {
      const t = pick(bySlot.get(slot) ?? []);
      if (t !== undefined && isCurrentRunning(s, t)) running++;
      rows.push(rowFor(`${slot}/${desired}`, t));
    }
  } else if ('global' in s.spec.mode) {
    desired = desiredGlobal;
    const byNode = new Map<string, Task[]>();
    for (const t of tasks) {
      if (t.nodeId === '') continue;
      let l = byNode.get(t.nodeId);
      if (!l) byNode.set(t.nodeId, (l = []));
      l.push(t);
    }
    const ids = [...byNode.keys()].sort((a, b) => nodeLabel(a, nodes).localeCompare(nodeLabel(b, nodes)));
    for (const id of ids) {
      const t = pick(byNode.get(id)!);
      if (t === undefined || t.desiredState > TaskState.RUNNING) continue;
      if (isCurrentRunning(s, t)) running++;
      rows.push(rowFor(nodeLabel(id, nodes), t));
    }
  } else {
    throw new Error('progress: jobs do not converge to running tasks');
  }
  const converged = failed === undefined && running === desired && runningAny === desired;
  return { rows, running, desired, converged, ...(failed !== undefined ? { failed } : {}) };
}

function nodeLabel(id: string, nodes: ReadonlyMap<string, Node>): string {
  const n = nodes.get(id);
  return n?.spec.annotations.name || n?.description?.hostname || id;
}

function rowFor(label: string, t: Task | undefined): ProgressRow {
  if (t === undefined) return { label, state: 'no task', fraction: 0, err: '' };
  return { label, state: stateName(t.status.state), fraction: fractionOf(t.status.state), err: t.status.err };
}

/** `[=====>    ]` for a fraction 0..1. */
export function progressBar(fraction: number, width = PROGRESS_BAR_CHARS): string {
  const f = Math.max(0, Math.min(1, fraction));
  const full = Math.round(f * width);
  if (full === 0) return `[${' '.repeat(width)}]`;
  return `[${'='.repeat(full - 1)}>${' '.repeat(width - full)}]`;
}

/** The overall line: "overall progress: 2 out of 3 tasks". */
export function overallLine(v: ProgressView): string {
  return `overall progress: ${v.running} out of ${v.desired} tasks`;
}

/** The lines of one frame. `bars` adds the progress bar (terminal mode). */
export function progressLines(v: ProgressView, bars: boolean): string[] {
  const labelW = Math.max(0, ...v.rows.map((r) => r.label.length));
  const stateW = Math.max(0, ...v.rows.map((r) => r.state.length));
  return [
    overallLine(v),
    ...v.rows.map((r) => {
      const head = `${r.label.padEnd(labelW)}: ${bars ? r.state.padEnd(stateW) : r.state}`;
      const tail = `${bars ? ' ' + progressBar(r.fraction) : ''}${r.err ? ` ${r.err}` : ''}`;
      return (head + tail).trimEnd();
    }),
  ];
}

/**
 * Draws successive frames. Terminal: the previous block is overwritten in place (cursor up, clear line).
 * Plain: each line is printed only when its text changed since the last frame, so a log stays readable.
 */
export class ProgressPrinter {
  private last: string[] = [];

  constructor(
    private readonly out: (s: string) => void,
    private readonly tty: boolean,
  ) {}

  frame(v: ProgressView): void {
    const lines = progressLines(v, this.tty);
    if (this.tty) {
      let s = this.last.length > 0 ? `\x1b[${this.last.length}A` : '';
      for (const l of lines) s += `\x1b[2K${l}\n`;
      // A shorter frame (scale-down) must not leave stale lines below it.
      for (let i = lines.length; i < this.last.length; i++) s += '\x1b[2K\n';
      const extra = Math.max(0, this.last.length - lines.length);
      if (extra > 0) s += `\x1b[${extra}A`;
      this.out(s);
    } else {
      const changed = lines.filter((l, i) => this.last[i] !== l);
      if (changed.length > 0) this.out(changed.join('\n') + '\n');
    }
    this.last = lines;
  }
}
