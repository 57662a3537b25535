/**
 * Store benchmark on a LocalProposer (no Raft, no disk: this measures the store's own cost — transaction,
 * encode, decode, apply, indexes, freeze, watch fan-out of zero watchers).
 * Figures: update transactions/s at concurrency 1, 16 and 256 (one task update per transaction), batch task
 * updates/s for a 10k-update batch, and a baseline measured in the same run: a raw Map.set of the same
 * updated objects. Ratios are store / baseline.
 * Usage: npm run bench:store [-- --quick] [-- --json]
 */
import { TaskState, type Task } from '../src/host/api/index.js';
import { SeededRng } from '../src/host/env/index.js';
import { createLocalStore, newId, type Store } from '../src/host/store/index.js';

const quick = process.argv.includes('--quick');
const asJson = process.argv.includes('--json');
const minMs = quick ? 400 : 2000;
const TASKS = 10_000;

function makeTask(rng: SeededRng, serviceId: string, slot: number): Task {
  const id = newId(rng);
  return {
    id,
    meta: { version: 0, createdAt: 0, updatedAt: 0 },
    spec: {
      container: {
        image: 'registry.local/team/web:2.14.3',
        command: ['/usr/local/bin/web'],
        args: ['--port', '8080'],
        env: ['NODE_ENV=production', `REPLICA=${slot}`],
        labels: { 'com.example.team': 'frontend' },
        hostname: '',
        dir: '/app',
        user: 'app',
        tty: false,
        stopSignal: 'SIGTERM',
        stopGracePeriodMs: 10_000,
      },
      resources: { limits: { nanoCpus: 1e9, memoryBytes: 536_870_912 }, reservations: { nanoCpus: 2.5e8, memoryBytes: 134_217_728 } },
      restart: { condition: 2, delayMs: 5000, maxAttempts: 0, windowMs: 0 },
      placement: { constraints: ['node.role==worker'], preferences: [], platforms: [], maxReplicas: 0 },
      forceUpdate: 0,
    },
    specVersion: 1,
    serviceId,
    slot,
    nodeId: '',
    annotations: { name: `web.${slot}.${id}`, labels: {} },
    serviceAnnotations: { name: 'web', labels: {} },
    status: { timestamp: 0, state: TaskState.PENDING, message: 'pending', err: '', appliedBy: '', appliedAt: 0 },
    desiredState: TaskState.RUNNING,
  };
}

let clockMs = 1_764_000_000_000;
const clock = { now: () => clockMs++ };

async function freshStore(): Promise<{ store: Store; ids: string[] }> {
  const rng = new SeededRng(1);
  const { store } = createLocalStore({ clock, rng });
  const serviceId = newId(rng);
  const tasks = Array.from({ length: TASKS }, (_, i) => makeTask(rng, serviceId, i + 1));
  const r = await store.batch((b) => {
    for (const t of tasks) b.update((tx) => void tx.create('tasks', t));
  });
  if (r.applied !== TASKS) throw new Error('setup failed');
  return { store, ids: tasks.map((t) => t.id) };
}

/** update() transactions per second (and transactions per proposal) with `concurrency` callers each awaiting its previous update. */
async function updatesPerSecond(concurrency: number): Promise<{ txPerSec: number; txPerProposal: number }> {
  const { store, ids } = await freshStore();
  const proposalsBefore = store.proposalsMade;
  let done = 0;
  let nodeSeq = 0;
  // LocalProposer settles through microtasks only, so a timer would never fire: check the clock instead.
  const t0 = performance.now();
  const worker = async (w: number): Promise<void> => {
    for (let i = w; (done & 63) !== 0 || performance.now() - t0 < minMs; i += concurrency) {
      const id = ids[i % ids.length]!;
      await store.update((tx) => {
        const t = tx.get('tasks', id)!;
        tx.update('tasks', { ...t, nodeId: `node-${nodeSeq++ % 100}`, status: { ...t.status, state: TaskState.ASSIGNED } });
      });
      done++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  return { txPerSec: (done * 1000) / (performance.now() - t0), txPerProposal: done / (store.proposalsMade - proposalsBefore) };
}

/** Task updates per second through one 10k-sub-update batch, repeated until minMs. */
async function batchUpdatesPerSecond(): Promise<number> {
  const { store, ids } = await freshStore();
  let n = 0;
  const t0 = performance.now();
  do {
    const r = await store.batch((b) => {
      for (const id of ids) {
        b.update((tx) => {
          const t = tx.get('tasks', id)!;
          tx.update('tasks', { ...t, nodeId: `node-${n % 100}`, status: { ...t.status, state: TaskState.ASSIGNED } });
        });
      }
    });
    if (r.applied !== ids.length) throw new Error(`batch failed: ${r.failed[0]?.error.message}`);
    n += ids.length;
  } while (performance.now() - t0 < minMs);
  return (n * 1000) / (performance.now() - t0);
}

/** Baseline: the same read-modify-write of the same objects into a plain Map. */
function mapSetPerSecond(): number {
  const rng = new SeededRng(1);
  const serviceId = newId(rng);
  const map = new Map<string, Task>();
  const tasks = Array.from({ length: TASKS }, (_, i) => makeTask(rng, serviceId, i + 1));
  for (const t of tasks) map.set(t.id, t);
  let n = 0;
  const t0 = performance.now();
  do {
    for (const t of tasks) {
      const cur = map.get(t.id)!;
      map.set(t.id, { ...cur, nodeId: `node-${n % 100}`, status: { ...cur.status, state: TaskState.ASSIGNED } });
      n++;
    }
  } while (performance.now() - t0 < minMs);
  return (n * 1000) / (performance.now() - t0);
}

const figures: Record<string, number> = {};
const put = (name: string, value: number, unit: string): void => {
  const v = Math.round(value * 100) / 100;
  figures[name] = v;
  console.log(`${name}: ${v} ${unit}`);
};

const baseline = mapSetPerSecond();
put('store_baseline_map_set', baseline, 'ops/s');
for (const c of [1, 16, 256]) {
  const r = await updatesPerSecond(c);
  put(`store_update_c${c}`, r.txPerSec, 'tx/s');
  put(`store_update_c${c}_vs_map_ratio`, r.txPerSec / baseline, 'x');
  put(`store_update_c${c}_tx_per_proposal`, r.txPerProposal, 'tx');
}
const b = await batchUpdatesPerSecond();
put('store_batch_10k_task_updates', b, 'updates/s');
put('store_batch_10k_vs_map_ratio', b / baseline, 'x');
if (asJson) console.log(JSON.stringify(figures));
