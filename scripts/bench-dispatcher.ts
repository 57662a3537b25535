/**
 * Dispatcher + agent benchmark, in one process without sockets: one leader's Dispatcher over a store on a
 * LocalProposer (no Raft, no disk for the store) and N agents with the sim executor (zero step delays), each
 * with its own TaskDb on the real disk. It creates T tasks already ASSIGNED round-robin to the nodes and times
 * until every one is RUNNING in the store: that is the dispatcher's assignment streams, the agents' runners and
 * task tables, the batched status reports and the dispatcher's batched writes, end to end.
 * Baseline, same run: the same T tasks created in a fresh store and their RUNNING status written straight into
 * it with store.batch (no dispatcher, no agent) — the floor the end-to-end path pays on top of.
 * Figures: e2e tasks/s and time to all RUNNING, baseline tasks/s, ratio e2e / baseline, dispatcher batches.
 * Usage: npm run bench:dispatcher [-- --quick] [-- --json]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeStatusState, RestartCondition, TaskState, type Task } from '../src/host/api/index.js';
import { Agent, InProcessDispatcherClient } from '../src/host/agent/index.js';
import { Dispatcher } from '../src/host/dispatcher/index.js';
import { RealTimers, SeededRng } from '../src/host/env/index.js';
import { createLocalStore, newId, type Store } from '../src/host/store/index.js';
import { SimExecutor } from '../src/plugins/executors/index.js';
import { cluster, node } from '../test/support/objects.js';

const quick = process.argv.includes('--quick');
const asJson = process.argv.includes('--json');
const NODES = quick ? 50 : 200;
const TASKS = quick ? 2_000 : 10_000;
const CLUSTER = 'benchcluster0000000000001';
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

function task(rng: SeededRng, nodeId: string, slot: number): Task {
  const id = newId(rng);
  return {
    id,
    meta: { version: 0, createdAt: 0, updatedAt: 0 },
    spec: {
      container: { image: 'bench', command: ['run'], args: [], env: [], labels: {}, hostname: '', dir: '', user: '', tty: false, stopSignal: '', stopGracePeriodMs: 10_000 },
      resources: { limits: { nanoCpus: 0, memoryBytes: 0 }, reservations: { nanoCpus: 0, memoryBytes: 0 } },
      restart: { condition: RestartCondition.ANY, delayMs: 5_000, maxAttempts: 0, windowMs: 0 },
      placement: { constraints: [], preferences: [], platforms: [], maxReplicas: 0 },
      forceUpdate: 0,
    },
    specVersion: 0,
    serviceId: 'benchservice',
    slot,
    nodeId,
    annotations: { name: `bench.${slot}.${id}`, labels: {} },
    serviceAnnotations: { name: 'bench', labels: {} },
    status: { timestamp: 0, state: TaskState.ASSIGNED, message: 'scheduler assigned task to node', err: '', appliedBy: '', appliedAt: 0 },
    desiredState: TaskState.RUNNING,
  };
}

async function createTasks(store: Store, tasks: Task[]): Promise<void> {
  const r = await store.batch((b) => {
    for (const t of tasks) b.update((tx) => void tx.create('tasks', t));
  });
  if (r.failed.length > 0) throw r.failed[0]!.error;
}

function countRunning(store: Store): number {
  return store.view((tx) => tx.find('tasks', { serviceId: 'benchservice' }).filter((t) => t.status.state === TaskState.RUNNING).length);
}

async function waitFor(cond: () => boolean, boundMs: number, what: string): Promise<void> {
  const end = Date.now() + boundMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`bench: ${what} not reached within ${boundMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function baseline(): Promise<number> {
  const rng = new SeededRng(2);
  const { store } = createLocalStore({ clock: { now: () => Date.now() }, rng });
  const nodeIds = Array.from({ length: NODES }, (_, i) => `benchnode${i}`);
  const tasks = Array.from({ length: TASKS }, (_, i) => task(rng, nodeIds[i % NODES]!, i + 1));
  const t0 = performance.now();
  await createTasks(store, tasks);
  const r = await store.batch((b) => {
    for (const t of tasks) {
      b.update((tx) => {
        const cur = tx.get('tasks', t.id)!;
        tx.update('tasks', { ...cur, status: { ...cur.status, state: TaskState.RUNNING, message: 'started', timestamp: Date.now() } });
      });
    }
  });
  if (r.failed.length > 0) throw r.failed[0]!.error;
  return performance.now() - t0;
}

async function endToEnd(): Promise<{ ms: number; batches: number }> {
  const timers = new RealTimers();
  const rng = new SeededRng(1);
  const { store } = createLocalStore({ clock: timers, rng: rng.fork() });
  const nodeIds = Array.from({ length: NODES }, (_, i) => `benchnode${i}`);
  await store.update((tx) => {
    tx.create('clusters', cluster(CLUSTER));
    for (const id of nodeIds) tx.create('nodes', node(id, { state: NodeStatusState.UNKNOWN }));
  });
  const dispatcher = new Dispatcher({ store, timers, rng: rng.fork(), clusterId: CLUSTER, managerList: () => [{ nodeId: 'm', addr: '', weight: 10 }], logger: silent });
  dispatcher.start();
  const root = await mkdtemp(join(tmpdir(), 'swarmhost-bench-dispatcher-'));
  const agents: Agent[] = [];
  try {
    for (const id of nodeIds) {
      const a = new Agent({
        nodeId: id,
        executor: new SimExecutor({ timers, hostname: id }),
        timers,
        rng: rng.fork(),
        stateDir: join(root, id),
        dispatcher: new InProcessDispatcherClient(dispatcher, { nodeId: id, role: 'swarm-worker', clusterId: CLUSTER, addr: '127.0.0.1:1' }),
        logger: silent,
      });
      agents.push(a);
      await a.start();
    }
    await waitFor(() => dispatcher.sessionCount === NODES, 30_000, 'all sessions');
    const before = dispatcher.writeBatches;
    const tasks = Array.from({ length: TASKS }, (_, i) => task(rng, nodeIds[i % NODES]!, i + 1));
    const t0 = performance.now();
    await createTasks(store, tasks);
    await waitFor(() => countRunning(store) === TASKS, 120_000, 'all tasks RUNNING');
    const ms = performance.now() - t0;
    return { ms, batches: dispatcher.writeBatches - before };
  } finally {
    for (const a of agents) await a.stop();
    dispatcher.stop();
    timers.clearAll();
    await rm(root, { recursive: true, force: true });
  }
}

const base = await baseline();
const e2e = await endToEnd();
const figures = {
  nodes: NODES,
  tasks: TASKS,
  e2e_all_running_ms: Math.round(e2e.ms),
  e2e_tasks_per_s: Math.round((TASKS / e2e.ms) * 1000),
  baseline_store_only_tasks_per_s: Math.round((TASKS / base) * 1000),
  ratio_e2e_to_baseline: Number((base / e2e.ms).toFixed(3)),
  dispatcher_write_batches: e2e.batches,
};
const units: Record<string, string> = {
  nodes: 'nodes',
  tasks: 'tasks',
  e2e_all_running_ms: 'ms',
  e2e_tasks_per_s: 'tasks/s',
  baseline_store_only_tasks_per_s: 'tasks/s',
  ratio_e2e_to_baseline: 'x',
  dispatcher_write_batches: 'batches',
};
for (const [k, v] of Object.entries(figures)) console.log(`${k}: ${v} ${units[k]}`);
if (asJson) console.log(JSON.stringify(figures));
