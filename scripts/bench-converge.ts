/**
 * bench:converge — the leader's orchestration loop end to end on one local store: N simulated nodes, one
 * replicated service of R replicas, a fake agent that reports RUNNING as soon as a task is assigned to it.
 * Figures (wall-clock, real timers, so the 50 ms scheduler debounce is included):
 *   converge_ms / converge_tasks_per_s — service create until all R tasks RUNNING;
 *   node_down_ms — K nodes marked DOWN at once until every replica runs again on the other nodes (restart delay 0,
 *   so the figure is the machinery, not the policy's 5 s);
 *   baseline_store_ms — the same number of task writes (create, PENDING, ASSIGNED, RUNNING per task) pushed
 *   through the same store as plain batches, no orchestration: the floor the loop is compared with.
 * Usage: npm run bench:converge [-- --quick] [-- --json]
 */
import { TaskState, type Task } from '../src/host/api/index.js';
import { RealTimers, SeededRng } from '../src/host/env/index.js';
import { createLocalStore, newId } from '../src/host/store/index.js';
import { serviceObj } from '../test/unit/orchestration/harness.js';
import { convergeMs as convergeInProcess, startInProcessSwarm, waitUntil } from './in-process-swarm.js';

const quick = process.argv.includes('--quick');
const json = process.argv.includes('--json');
const NODES = quick ? 200 : 1_000;
const REPLICAS = quick ? 2_000 : 10_000;
const DOWN = quick ? 20 : 100;
const DEADLINE_MS = quick ? 50_000 : 300_000;

async function baseline(): Promise<number> {
  const timers = new RealTimers();
  const { store } = createLocalStore({ clock: timers, rng: new SeededRng(3) });
  const rng = new SeededRng(4);
  const svc = serviceObj('base', { replicas: REPLICAS });
  const ids: string[] = [];
  const t0 = performance.now();
  await store.batch((b) => {
    for (let i = 0; i < REPLICAS; i++) {
      const id = newId(rng);
      ids.push(id);
      const task: Task = {
        id,
        meta: { version: 0, createdAt: 0, updatedAt: 0 },
        spec: structuredClone(svc.spec.task),
        specVersion: 0,
        serviceId: 'base',
        slot: i + 1,
        nodeId: '',
        annotations: { name: `base.${i + 1}.${id}`, labels: {} },
        serviceAnnotations: svc.spec.annotations,
        status: { timestamp: 0, state: TaskState.NEW, message: 'created', err: '', appliedBy: '', appliedAt: 0 },
        desiredState: TaskState.RUNNING,
      };
      b.update((tx) => void tx.create('tasks', task));
    }
  });
  for (const [state, node] of [[TaskState.PENDING, ''], [TaskState.ASSIGNED, 'n'], [TaskState.RUNNING, 'n']] as const) {
    await store.batch((b) => {
      ids.forEach((id, i) => {
        b.update((tx) => {
          const t = tx.get('tasks', id)!;
          tx.update('tasks', { ...(t as Task), nodeId: node === '' ? '' : `node${i % NODES}`, status: { ...t.status, state } });
        });
      });
    });
  }
  return performance.now() - t0;
}

async function main(): Promise<void> {
  const baseMs = await baseline();

  const swarm = await startInProcessSwarm(NODES);
  const { store, leader, agent } = swarm;
  const convergeMs = await convergeInProcess(swarm, 'web', REPLICAS, DEADLINE_MS);

  const downIds = Array.from({ length: DOWN }, (_, i) => `node${i}`);
  for (const id of downIds) agent.dead.add(id);
  const down = new Set(downIds);
  const t1 = performance.now();
  await store.batch((b) => {
    for (const id of downIds) {
      b.update((tx) => {
        const n = tx.get('nodes', id)!;
        tx.update('nodes', { ...n, status: { ...n.status, state: 1 } } as typeof n);
      });
    }
  });
  const recovered = (): boolean => {
    const tasks = store.view((tx) => tx.find('tasks', { serviceId: 'web' }));
    let ok = 0;
    for (const t of tasks) if (t.status.state === TaskState.RUNNING && t.desiredState === TaskState.RUNNING && !down.has(t.nodeId)) ok++;
    return ok === REPLICAS;
  };
  await waitUntil(recovered, 'tasks of the DOWN nodes running elsewhere', DEADLINE_MS);
  const downMs = performance.now() - t1;
  await swarm.stop();

  const figures = {
    nodes: NODES,
    replicas: REPLICAS,
    converge_ms: round(convergeMs),
    converge_tasks_per_s: Math.round(REPLICAS / (convergeMs / 1000)),
    nodes_down: DOWN,
    node_down_ms: round(downMs),
    baseline_store_ms: round(baseMs),
    converge_vs_baseline_ratio: round(convergeMs / baseMs),
    scheduler_passes: leader.scheduler.stats.passes,
    reconciles: leader.stats.reconciles,
  };
  const units: Record<string, string> = {
    nodes: 'nodes',
    replicas: 'tasks',
    converge_ms: 'ms',
    converge_tasks_per_s: 'tasks/s',
    nodes_down: 'nodes',
    node_down_ms: 'ms',
    baseline_store_ms: 'ms',
    converge_vs_baseline_ratio: 'x',
    scheduler_passes: 'passes',
    reconciles: 'reconciles',
  };
  for (const [k, v] of Object.entries(figures)) console.log(`${k}: ${v} ${units[k]}`);
  if (json) console.log(JSON.stringify(figures));
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
