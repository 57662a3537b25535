/**
 * Conformance check of a candidate scheduling strategy: a fixture cluster and one pending group, run through the
 * candidate's StrategyRunner. Kept apart from conformance.ts so that file stays free of the WASM node table (it
 * is bundled into the isolation worker).
 */
import { IssuanceState, NodeAvailability, NodeMembership, NodeRole, NodeStatusState, RestartCondition, TaskState, type Node, type Task } from '../api/index.js';
import { NodeTable } from '../scheduler/node-table.js';
import type { StrategyRunner } from '../scheduler/strategy.js';
import { ConformanceError } from './conformance.js';
import { FIXTURE_NOW_MS } from './fixtures.js';

function strategyNode(id: string): Node {
  return {
    id,
    meta: { version: 1, createdAt: 0, updatedAt: 0 },
    spec: { annotations: { name: id, labels: {} }, desiredRole: NodeRole.WORKER, membership: NodeMembership.ACCEPTED, availability: NodeAvailability.ACTIVE },
    description: { hostname: id, platform: { architecture: 'x86_64', os: 'linux' }, resources: { nanoCpus: 4e9, memoryBytes: 8 * 2 ** 30 }, engine: { engineVersion: '1', labels: {}, plugins: [] } },
    status: { state: NodeStatusState.READY, message: '', addr: '10.0.0.1' },
    certificate: { role: NodeRole.WORKER, csr: '', status: { state: IssuanceState.ISSUED, err: '' }, certificate: '', cn: id },
    role: NodeRole.WORKER,
  };
}

/** Pending tasks of one group, for the strategy fixture. */
export function fixturePendingTasks(serviceId: string, n: number, nanoCpus = 1e9): Task[] {
  const out: Task[] = [];
  for (let i = 0; i < n; i++) {
    out.push({
      id: `${serviceId}-t${i}`,
      meta: { version: 1, createdAt: FIXTURE_NOW_MS, updatedAt: 0 },
      spec: {
        container: { image: 'busybox:1', command: [], args: [], env: [], labels: {}, hostname: '', dir: '', user: '', tty: false, stopSignal: '', stopGracePeriodMs: 10_000 },
        resources: { limits: { nanoCpus: 0, memoryBytes: 0 }, reservations: { nanoCpus, memoryBytes: 0 } },
        restart: { condition: RestartCondition.ANY, delayMs: 5_000, maxAttempts: 0, windowMs: 0 },
        placement: { constraints: [], preferences: [], platforms: [], maxReplicas: 0 },
        forceUpdate: 0,
      },
      specVersion: 1,
      serviceId,
      slot: i + 1,
      nodeId: '',
      annotations: { name: `${serviceId}.${i + 1}`, labels: {} },
      serviceAnnotations: { name: serviceId, labels: {} },
      status: { timestamp: FIXTURE_NOW_MS, state: TaskState.PENDING, message: 'pending task scheduling', err: '', appliedBy: '', appliedAt: 0 },
      desiredState: TaskState.RUNNING,
    });
  }
  return out;
}

/** A small fixture cluster as a node table: `nodes` 4-CPU nodes. */
export function fixtureNodeTable(nodes = 3): NodeTable {
  const t = new NodeTable();
  for (let i = 0; i < nodes; i++) t.upsertNode(strategyNode(`n${i}`), []);
  return t;
}

/**
 * Runs the strategy on a fixture cluster (3 nodes, 6 one-CPU tasks): every call must succeed (no trap, abort,
 * timeout, memory or invalid decision: the runner records those as failures) and place all six tasks.
 */
export async function checkStrategy(r: StrategyRunner): Promise<void> {
  const table = fixtureNodeTable(3);
  const tasks = fixturePendingTasks('conf', 6);
  const before = r.status().failures;
  const out = await r.schedulePass(table, tasks);
  const st = r.status();
  if (st.failures !== before) {
    const f = st.lastFailure;
    throw new ConformanceError(`fixture "6 tasks on 3 nodes": ${f ? `${f.kind}: ${f.message}` : 'the strategy failed'}`);
  }
  if (out.assignments.length !== tasks.length) {
    throw new ConformanceError(`fixture "6 tasks on 3 nodes": placed ${out.assignments.length} of ${tasks.length} tasks that fit`);
  }
}
