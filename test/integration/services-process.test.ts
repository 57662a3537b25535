/**
 * Issue 5 end to end with real swarmhost processes and the process executor: three nodes (one manager, two
 * workers), a replicated service spreads 2/2/2, a killed worker's tasks run elsewhere, a global service runs on
 * every node and on a node that joins later, and a task that exits non-zero is restarted per its policy.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Cluster, Node, Service, Task } from '../../src/host/api/objects.js';
import { NodeStatusState, TaskState } from '../../src/host/api/objects.js';
import { NodeProc, teardown, waitFor, startNode } from '../support/procs.js';

const procs: NodeProc[] = [];
const dirs: string[] = [];
let m1: NodeProc;
let w3: NodeProc;
let cluster: Cluster;

function newNode(name: string, join?: { addr: string; token: string }): Promise<NodeProc> {
  return startNode(procs, dirs, name, { extraArgs: ['--executor', 'process'], ...(join ? { join } : {}) });
}

const tasksOf = async (serviceId: string): Promise<Task[]> =>
  (await m1.control<{ tasks: Task[] }>('ListTasks', { filters: { serviceIds: [serviceId] } })).tasks;

const running = (ts: Task[]): Task[] => ts.filter((t) => t.status.state === TaskState.RUNNING && t.desiredState === TaskState.RUNNING);

async function readyNodes(): Promise<Node[]> {
  return (await m1.control<{ nodes: Node[] }>('ListNodes')).nodes.filter((n) => n.status.state === NodeStatusState.READY);
}

async function createService(spec: Record<string, unknown>): Promise<Service> {
  return (await m1.control<{ service: Service }>('CreateService', { spec })).service;
}

before(async () => {
  m1 = await newNode('node-1');
  await m1.waitLog(/agent started/, 30_000);
  cluster = await waitFor('cluster', 10_000, async () => (await m1.control<{ clusters: Cluster[] }>('ListClusters').catch(() => undefined))?.clusters[0]);
  // A short heartbeat so that a dead node is noticed quickly (3 periods).
  await m1.control('UpdateCluster', {
    clusterId: cluster.id,
    clusterVersion: cluster.meta.version,
    spec: { ...cluster.spec, dispatcher: { heartbeatPeriodMs: 1_000 } },
  });
  await newNode('node-2', { addr: m1.addr, token: cluster.rootCA.joinTokens.worker });
  w3 = await newNode('node-3', { addr: m1.addr, token: cluster.rootCA.joinTokens.worker });
  await waitFor('3 READY nodes', 30_000, async () => ((await readyNodes()).length === 3 ? true : undefined), 200);
});

after(async () => {
  await teardown(procs, dirs);
});

test('a 6-replica service spreads 2/2/2 over three nodes and runs', async () => {
  const svc = await createService({
    annotations: { name: 'spread' },
    task: { container: { image: 'process', command: ['sleep', '600'] } },
    mode: { replicated: { replicas: 6 } },
  });
  const ts = await waitFor('6 running', 30_000, async () => {
    const r = running(await tasksOf(svc.id));
    return r.length === 6 ? r : undefined;
  }, 200);
  const perNode = new Map<string, number>();
  for (const t of ts) perNode.set(t.nodeId, (perNode.get(t.nodeId) ?? 0) + 1);
  assert.deepEqual([...perNode.values()].sort(), [2, 2, 2]);
  assert.deepEqual(ts.map((t) => t.slot).sort((a, b) => a - b), [1, 2, 3, 4, 5, 6]);
});

test('kill -9 of a worker: its node goes DOWN and its tasks run on the other nodes', async () => {
  const svc = (await m1.control<{ services: Service[] }>('ListServices')).services.find((s) => s.spec.annotations.name === 'spread')!;
  const w3Id = (await m1.control<{ nodes: Node[] }>('ListNodes')).nodes.find((n) => n.description?.hostname === 'node-3')!.id;
  w3.child!.kill('SIGKILL');
  const killedAt = Date.now();
  await w3.waitExit();
  await waitFor('node-3 DOWN', 30_000, async () => {
    const n = (await m1.control<{ nodes: Node[] }>('ListNodes')).nodes.find((x) => x.id === w3Id)!;
    return n.status.state === NodeStatusState.DOWN ? n : undefined;
  }, 200);
  const ts = await waitFor('6 running elsewhere', 60_000, async () => {
    const r = running(await tasksOf(svc.id));
    return r.length === 6 && r.every((t) => t.nodeId !== w3Id) ? r : undefined;
  }, 200);
  console.log(`# worker killed: its tasks ran elsewhere after ${Date.now() - killedAt} ms (heartbeat 1 s, restart delay 5 s)`);
  assert.equal(new Set(ts.map((t) => t.slot)).size, 6, 'each slot once');
  // node-3 comes back: it re-attaches to its old processes, learns they are no longer wanted and stops them;
  // after the service is removed every task record goes (those of node-3 once it reports them stopped).
  w3.start();
  await waitFor('node-3 back READY', 30_000, async () => ((await readyNodes()).length === 3 ? true : undefined), 200);
  await m1.control('RemoveService', { serviceId: svc.id });
  await waitFor('service tasks gone', 30_000, async () => ((await tasksOf(svc.id)).length === 0 ? true : undefined), 200);
});

test('a global service runs one task on every node, and a node that joins later gets its own', async () => {
  const svc = await createService({
    annotations: { name: 'agent' },
    task: { container: { image: 'process', command: ['sleep', '600'] } },
    mode: { global: {} },
  });
  await waitFor('3 global tasks running', 30_000, async () => (running(await tasksOf(svc.id)).length === 3 ? true : undefined), 200);
  const n4 = await newNode('node-4', { addr: m1.addr, token: cluster.rootCA.joinTokens.worker });
  await n4.waitLog(/agent started/, 30_000);
  const ts = await waitFor('4 global tasks running', 30_000, async () => {
    const r = running(await tasksOf(svc.id));
    return r.length === 4 ? r : undefined;
  }, 200);
  assert.equal(new Set(ts.map((t) => t.nodeId)).size, 4, 'one per node');
  await m1.control('RemoveService', { serviceId: svc.id });
});

test('a task that exits non-zero is restarted per its restart policy, up to max attempts', async () => {
  const svc = await createService({
    annotations: { name: 'crashy' },
    task: {
      container: { image: 'process', command: ['sh', '-c', 'sleep 0.2; exit 3'] },
      restart: { condition: 1, delayMs: 100, maxAttempts: 2, windowMs: 0 },
    },
    mode: { replicated: { replicas: 1 } },
  });
  const ts = await waitFor('3 failed attempts', 30_000, async () => {
    const all = await tasksOf(svc.id);
    const failed = all.filter((t) => t.status.state === TaskState.FAILED);
    return failed.length >= 3 ? all : undefined;
  }, 200);
  const failed = ts.filter((t) => t.status.state === TaskState.FAILED);
  assert.ok(failed.every((t) => t.status.container?.exitCode === 3 || /exit|3/.test(t.status.err)), 'failures carry the exit code');
  // max attempts 2 = the original task plus two restarts, then no more.
  await new Promise((r) => setTimeout(r, 1_500));
  const after = await tasksOf(svc.id);
  assert.equal(after.filter((t) => t.desiredState <= TaskState.RUNNING && t.status.state <= TaskState.RUNNING).length, 0, 'no further restart');
  assert.equal(after.length, 3);
  await m1.control('RemoveService', { serviceId: svc.id });
});
