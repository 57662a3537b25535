/**
 * Scheduler benchmark: decisions per second of the WASM pipeline (NodeTable, one call per task group) and of
 * the TypeScript reference (baseline), measured in the same run, and their ratio.
 * Matrix: 1k/5k/10k nodes x task groups of 1k/10k/100k x {plain spread, 3 constraints + 1 placement preference}.
 * Usage: npm run bench:scheduler [-- --quick] [-- --json] [-- --store-only]
 */
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { Node, Task } from '../src/host/api/objects.js';
import { NodeTable } from '../src/host/scheduler/node-table.js';
import { ReferenceScheduler, type SchedulePassResult } from '../src/host/scheduler/reference.js';
import { makeNode, makeSpec, pendingGroup } from '../test/unit/scheduler/fixtures.js';
import { TaskState } from '../src/host/api/objects.js';
import { SeededRng } from '../src/host/env/index.js';
import { createLocalStore } from '../src/host/store/index.js';

const quick = process.argv.includes('--quick');
const json = process.argv.includes('--json');

function cluster(n: number): Node[] {
  const out: Node[] = [];
  for (let i = 0; i < n; i++) {
    out.push(
      makeNode({
        id: `node-${i}`,
        hostname: `host-${i}`,
        nanoCpus: 64e9,
        memoryBytes: 256 * 2 ** 30,
        labels: { zone: `z${i % 3}`, rack: `r${i % 20}`, tier: i % 10 === 0 ? 'edge' : 'core' },
        engineLabels: { disk: i % 4 === 0 ? 'hdd' : 'ssd' },
        os: 'linux',
        arch: i % 2 ? 'x86_64' : 'amd64',
        addr: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
      }),
    );
  }
  return out;
}

function group(size: number, constrained: boolean): Task[] {
  const spec = constrained
    ? makeSpec({ nanoCpus: 1e6, memoryBytes: 2 ** 20, constraints: ['node.labels.tier != edge', 'engine.labels.disk == ssd', 'node.platform.os == linux'], preferences: ['node.labels.zone'] })
    : makeSpec({ nanoCpus: 1e6, memoryBytes: 2 ** 20 });
  return pendingGroup('t', 'svc', size, spec);
}

/** The same group under another service, run first so both schedulers measure a steady state. */
function warmGroup(tasks: Task[]): Task[] {
  return tasks.map((t) => ({ ...t, id: `w${t.id}`, serviceId: 'warm' }));
}

function empty(): SchedulePassResult {
  return { assignments: [], unplaceable: [] };
}

const figures: Record<string, number> = {};
function emit(name: string, value: number, unit: string): void {
  figures[name] = Number(value.toFixed(value >= 100 ? 0 : 2));
  if (!json) console.log(`${name}: ${figures[name]} ${unit}`);
}

function timeWasm(nodes: Node[], tasks: Task[], reps: number): number {
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const table = new NodeTable({ initialCapacity: nodes.length });
    for (const n of nodes) table.upsertNode(n, []);
    // Steady state: a previous pass (another service) has sized the scratch and group areas.
    table.scheduleGroup(warmGroup(tasks), empty());
    const out = empty();
    const t0 = performance.now();
    table.scheduleGroup(tasks, out);
    const dt = performance.now() - t0;
    if (out.assignments.length !== tasks.length) throw new Error(`wasm placed ${out.assignments.length}/${tasks.length}`);
    best = Math.min(best, dt);
  }
  return best;
}

function timeRef(nodes: Node[], tasks: Task[], reps: number): number {
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const s = new ReferenceScheduler(nodes, []);
    s.scheduleGroup(warmGroup(tasks), empty());
    const out = empty();
    const t0 = performance.now();
    s.scheduleGroup(tasks, out);
    const dt = performance.now() - t0;
    if (out.assignments.length !== tasks.length) throw new Error(`reference placed ${out.assignments.length}/${tasks.length}`);
    best = Math.min(best, dt);
  }
  return best;
}

const nodeCounts = quick ? [1000, 5000] : [1000, 5000, 10000];
const groupSizes = quick ? [1000, 10000] : [1000, 10000, 100000];
const k = (n: number) => `${n / 1000}k`;

// Warm up both paths (JIT, module compile).
timeWasm(cluster(200), group(2000, true), 2);
timeRef(cluster(200), group(2000, true), 2);

const scenarios: [number, number, boolean][] = [];
for (const n of nodeCounts) for (const g of groupSizes) for (const c of [false, true]) scenarios.push([n, g, c]);
if (quick) scenarios.push([5000, 100000, true]);

const storeOnly = process.argv.includes('--store-only');
for (const [n, g, c] of storeOnly ? [] : scenarios) {
  const nodes = cluster(n);
  const tasks = group(g, c);
  const reps = g >= 100000 ? 2 : 3;
  const tw = timeWasm(nodes, tasks, reps);
  const tr = timeRef(nodes, tasks, reps);
  const name = `${k(n)}_nodes_${k(g)}_tasks_${c ? 'constrained' : 'plain'}`;
  emit(`wasm_${name}`, (g / tw) * 1000, 'decisions/s');
  emit(`ref_${name}`, (g / tr) * 1000, 'decisions/s');
  emit(`ratio_${name}`, tr / tw, 'x');
}
// Decisions committed to the store (single manager, no Raft: LocalProposer): 10k PENDING tasks, one pass, the
// assignments written as one store batch (split into proposals of <= 200 changes), as the scheduler host does;
// best of 5 fresh stores. Baseline in the same run: the same task updates written without scheduling.
// Measured in a child process (`--store-only`), like bench:codec does per codec: after the 100k-task matrix
// above, the heap and JIT state it leaves behind slowed this figure by 10-20 % in the same process.
if (!storeOnly) {
  const args = [...process.execArgv, fileURLToPath(import.meta.url), '--store-only', '--json', ...(quick ? ['--quick'] : [])];
  const out = execFileSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 20 });
  const child = JSON.parse(out.trim().split('\n').pop()!) as Record<string, number>;
  emit('store_commit_baseline_updates', child.store_commit_baseline_updates!, 'tasks/s');
  emit('store_committed_decisions', child.store_committed_decisions!, 'tasks/s');
  emit('store_committed_ratio_vs_baseline', child.store_committed_ratio_vs_baseline!, 'x');
} else {
  const commitTasks = quick ? 5000 : 10000;
  const nodes = cluster(1000);
  const tasks = group(commitTasks, true);
  const run = async (schedule: boolean): Promise<number> => {
    const { store } = createLocalStore({ clock: { now: () => 1_700_000_000_000 }, rng: new SeededRng(7) });
    await store.batch((b) => {
      for (const n of nodes) b.update((tx) => tx.create('nodes', { ...n, meta: { version: 0, createdAt: 0, updatedAt: 0 } }));
      for (const t of tasks) b.update((tx) => tx.create('tasks', { ...t, meta: { version: 0, createdAt: 0, updatedAt: 0 } }));
    });
    const t0 = performance.now();
    const pending = store.view((tx) => tx.list('tasks')) as Task[];
    let assignments: { taskId: string; nodeId: string }[];
    if (schedule) {
      const table = new NodeTable();
      for (const n of store.view((tx) => tx.list('nodes')) as Node[]) table.upsertNode(n, []);
      assignments = table.schedulePass(pending).assignments;
    } else {
      assignments = pending.map((t, i) => ({ taskId: t.id, nodeId: nodes[i % nodes.length]!.id }));
    }
    const res = await store.batch((b) => {
      for (const a of assignments) {
        b.update((tx) => {
          const cur = tx.get('tasks', a.taskId) as Task;
          tx.update('tasks', { ...cur, nodeId: a.nodeId, status: { ...cur.status, state: TaskState.ASSIGNED, message: 'scheduler assigned task to node' } });
        });
      }
    });
    if (res.failed.length > 0) throw new Error(`bench: ${res.failed.length} commits failed: ${res.failed[0]!.error.message}`);
    return (assignments.length / (performance.now() - t0)) * 1000;
  };
  // Best of 5 fresh stores each, interleaved (like the decision figures: best of several runs).
  let base = 0;
  let committed = 0;
  for (let rep = 0; rep < 5; rep++) {
    base = Math.max(base, await run(false));
    committed = Math.max(committed, await run(true));
  }
  emit('store_commit_baseline_updates', base, 'tasks/s');
  emit('store_committed_decisions', committed, 'tasks/s');
  emit('store_committed_ratio_vs_baseline', committed / base, 'x');
}
if (!json) console.log('note: decisions/s = tasks placed / wall time of one group call (host side + WASM); best of 2-3 runs; shared 2-core machine');
if (json) console.log(JSON.stringify(figures));
