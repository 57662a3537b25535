// Benchmark of the orchestration cores: replicated reconcile and rolling-updater steps on large services.
// Usage: npm run bench:orchestrators [-- --quick] [-- --json]
// Prints `name: value unit` per figure; with --json, one JSON object of the same figures as the last line.
// Baseline (same run): one pass grouping the tasks by slot into a Map, the least work any reconcile does.
import { performance } from 'node:perf_hooks';
import {
  RestartCondition,
  TaskState,
  UpdateFailureAction,
  UpdateOrder,
  type Node,
  type Service,
  type Task,
} from '../src/host/api/index.js';
import { initialUpdaterState, newTaskFromService, reconcileReplicated, stepUpdater } from '../src/plugins/orchestrators/index.js';
import { node } from '../test/support/objects.js';

const quick = process.argv.includes('--quick');
const json = process.argv.includes('--json');
const TASKS = quick ? 2_000 : 10_000;
const NODES = quick ? 100 : 1_000;
const PARALLELISM = 100;
const figures: Record<string, number> = {};
const report = (name: string, value: number, unit: string): void => {
  figures[name] = Number(value.toFixed(4));
  console.log(`${name}: ${value.toFixed(4)} ${unit}`);
};

const svc: Service = {
  id: 'svc',
  meta: { version: 1, createdAt: 0, updatedAt: 0 },
  specVersion: 1,
  spec: {
    annotations: { name: 'bench', labels: {} },
    mode: { replicated: { replicas: TASKS } },
    task: {
      container: { image: 'v1', command: [], args: [], env: [], labels: {}, hostname: '', dir: '', user: '', tty: false, stopSignal: '', stopGracePeriodMs: 10_000 },
      resources: { limits: { nanoCpus: 0, memoryBytes: 0 }, reservations: { nanoCpus: 0, memoryBytes: 0 } },
      restart: { condition: RestartCondition.ANY, delayMs: 5_000, maxAttempts: 0, windowMs: 0 },
      placement: { constraints: [], preferences: [], platforms: [], maxReplicas: 0 },
      forceUpdate: 0,
    },
  },
};
const nodes: Record<string, Node> = {};
for (let i = 0; i < NODES; i++) nodes[`n${i}`] = node(`n${i}`);
let seq = 0;
const newId = (): string => `t${++seq}`;
const tasks: Task[] = [];
for (let s = 1; s <= TASKS; s++) {
  const t = newTaskFromService(svc, { slot: s, desiredState: TaskState.RUNNING, nowMs: 0, newId });
  t.nodeId = `n${s % NODES}`;
  t.status.state = TaskState.RUNNING;
  tasks.push(t);
}

function timeIt(reps: number, fn: () => void): number {
  fn();
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) fn();
  return (performance.now() - t0) / reps;
}

const reps = quick ? 5 : 20;
const baseline = timeIt(reps, () => {
  const m = new Map<number, Task[]>();
  for (const t of tasks) {
    const g = m.get(t.slot);
    if (g) g.push(t);
    else m.set(t.slot, [t]);
  }
});
report(`baseline_group_by_slot_${TASKS}`, baseline, 'ms');
const steady = timeIt(reps, () => reconcileReplicated({ serviceId: svc.id, service: svc, tasks, nodes, nowMs: 0 }, { newId }));
report(`reconcile_steady_${TASKS}`, steady, 'ms');
report('reconcile_steady_vs_baseline', steady / baseline, 'x');
const half: Service = { ...svc, spec: { ...svc.spec, mode: { replicated: { replicas: TASKS / 2 } } } };
const down = timeIt(reps, () => reconcileReplicated({ serviceId: svc.id, service: half, tasks, nodes, nowMs: 0 }, { newId }));
report(`reconcile_scale_down_half_${TASKS}`, down, 'ms');

// Rolling update of every task with parallelism 100, no delay, start-first; the fake agent makes every new task
// RUNNING between steps. Measures the updater's own cost per step (the goal is <= 10 ms per step).
const v2: Service = structuredClone(svc);
v2.specVersion = 2;
v2.spec.task.container.image = 'v2';
v2.spec.update = { parallelism: PARALLELISM, delayMs: 0, failureAction: UpdateFailureAction.PAUSE, monitorMs: 0, maxFailureRatio: 0, order: UpdateOrder.START_FIRST };
const byId = new Map(tasks.map((t) => [t.id, structuredClone(t)]));
const slotOf = new Map<number, Task[]>();
for (const t of byId.values()) slotOf.set(t.slot, [t]);
let state = initialUpdaterState(v2.id);
let steps = 0;
let stepMs = 0;
let now = 0;
const ctx = { newId, constraintsMet: () => true };
for (;;) {
  const all = [...byId.values()];
  const slots = [...slotOf.values()];
  const t0 = performance.now();
  const out = stepUpdater(state, { service: v2, slots, tasks: all, nodes }, now, ctx);
  stepMs += performance.now() - t0;
  steps++;
  state = out.nextState;
  for (const t of out.actions.create) {
    const c = structuredClone(t);
    c.status.state = TaskState.RUNNING;
    byId.set(c.id, c);
    slotOf.get(c.slot)!.push(c);
  }
  for (const d of out.actions.setDesired) {
    const t = byId.get(d.taskId)!;
    t.desiredState = d.desiredState;
    t.status.state = TaskState.SHUTDOWN;
    const s = slotOf.get(t.slot)!;
    slotOf.set(t.slot, s.filter((x) => x.id !== t.id));
  }
  if (state.phase === 'finished' || state.phase === 'stopped' || steps > 10 * TASKS) break;
  now += 1_000;
}
report(`update_steps_${TASKS}_p${PARALLELISM}`, steps, 'steps');
report(`update_ms_per_step_${TASKS}_p${PARALLELISM}`, stepMs / steps, 'ms');
report('update_step_vs_baseline', stepMs / steps / baseline, 'x');
if (state.phase !== 'finished') throw new Error(`update did not finish: ${state.phase}`);
if (json) console.log(JSON.stringify(figures));
