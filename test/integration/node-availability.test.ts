/**
 * Issue 6 (node availability and labels) with real swarmhost processes and the process executor: drain moves a
 * node's tasks elsewhere and nothing runs there afterwards; pause keeps its tasks but takes no new ones;
 * activate makes it eligible again; a node label that stops matching a service constraint moves the tasks
 * (the constraint enforcer).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeAvailability, NodeStatusState, TaskState, type Cluster, type Node, type NodeSpec, type Service, type Task } from '../../src/host/api/objects.js';
import { NodeProc, teardown, waitFor, startNode } from '../support/procs.js';

const procs: NodeProc[] = [];
const dirs: string[] = [];
let m1: NodeProc;
let cluster: Cluster;
const idOf = new Map<string, string>();

function newNode(name: string, join?: { addr: string; token: string }): Promise<NodeProc> {
  return startNode(procs, dirs, name, { extraArgs: ['--executor', 'process'], ...(join ? { join } : {}) });
}

const tasksOf = async (serviceId: string): Promise<Task[]> =>
  (await m1.control<{ tasks: Task[] }>('ListTasks', { filters: { serviceIds: [serviceId] } })).tasks;

/** Tasks that run and are meant to. */
const running = (ts: Task[]): Task[] => ts.filter((t) => t.status.state === TaskState.RUNNING && t.desiredState === TaskState.RUNNING);
/** Tasks whose process may still be alive on their node (observed state not past RUNNING). */
const live = (ts: Task[]): Task[] => ts.filter((t) => t.status.state <= TaskState.RUNNING && t.status.state >= TaskState.ASSIGNED);

async function updateNode(name: string, change: (spec: NodeSpec) => NodeSpec): Promise<void> {
  const n = (await m1.control<{ node: Node }>('GetNode', { nodeId: idOf.get(name) })).node;
  await m1.control('UpdateNode', { nodeId: n.id, nodeVersion: n.meta.version, spec: change(structuredClone(n.spec)) });
}

async function scale(svc: Service, replicas: number): Promise<void> {
  const cur = (await m1.control<{ service: Service }>('GetService', { serviceId: svc.id })).service;
  await m1.control('UpdateService', {
    serviceId: cur.id,
    serviceVersion: cur.meta.version,
    spec: { ...cur.spec, mode: { replicated: { replicas } } },
  });
}

function perNode(ts: Task[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, id] of idOf) out[name] = ts.filter((t) => t.nodeId === id).length;
  return out;
}

before(async () => {
  m1 = await newNode('node-1');
  await m1.waitLog(/agent started/, 30_000);
  cluster = await waitFor('cluster', 10_000, async () => (await m1.control<{ clusters: Cluster[] }>('ListClusters').catch(() => undefined))?.clusters[0]);
  await m1.control('UpdateCluster', {
    clusterId: cluster.id,
    clusterVersion: cluster.meta.version,
    spec: { ...cluster.spec, dispatcher: { heartbeatPeriodMs: 1_000 } },
  });
  await newNode('node-2', { addr: m1.addr, token: cluster.rootCA.joinTokens.worker });
  await newNode('node-3', { addr: m1.addr, token: cluster.rootCA.joinTokens.worker });
  const nodes = await waitFor('3 READY nodes', 30_000, async () => {
    const l = (await m1.control<{ nodes: Node[] }>('ListNodes')).nodes;
    return l.filter((n) => n.status.state === NodeStatusState.READY).length === 3 ? l : undefined;
  }, 200);
  for (const n of nodes) idOf.set(n.description!.hostname, n.id);
});

after(async () => {
  await teardown(procs, dirs);
});

test('drain moves every task off the node, pause keeps its tasks but takes no new ones, activate makes it eligible again', async () => {
  const svc = (
    await m1.control<{ service: Service }>('CreateService', {
      spec: { annotations: { name: 'web' }, task: { container: { image: 'process', command: ['sleep', '600'] } }, mode: { replicated: { replicas: 6 } } },
    })
  ).service;
  await waitFor('6 running, 2 per node', 30_000, async () => {
    const r = running(await tasksOf(svc.id));
    return r.length === 6 && Object.values(perNode(r)).every((c) => c === 2) ? true : undefined;
  }, 200);

  // Drain node-2: its tasks move to the others (no restart delay), and nothing runs there afterwards.
  const drainedAt = Date.now();
  await updateNode('node-2', (s) => ({ ...s, availability: NodeAvailability.DRAIN }));
  const afterDrain = await waitFor('6 running off node-2 and nothing alive on node-2', 30_000, async () => {
    const ts = await tasksOf(svc.id);
    const r = running(ts);
    const onDrained = live(ts).filter((t) => t.nodeId === idOf.get('node-2'));
    return r.length === 6 && perNode(r)['node-2'] === 0 && onDrained.length === 0 ? ts : undefined;
  }, 200);
  console.log(`# drain: node-2's tasks ran elsewhere and stopped there after ${Date.now() - drainedAt} ms`);
  const stopped = afterDrain.filter((t) => t.nodeId === idOf.get('node-2'));
  assert.equal(stopped.length, 2, 'the two tasks that ran on node-2');
  assert.ok(stopped.every((t) => t.desiredState >= TaskState.SHUTDOWN && t.status.state >= TaskState.COMPLETE), 'stopped, not just reassigned');

  // Pause node-3: its tasks stay; scaling up puts new tasks only on node-1 (node-2 is drained).
  const onNode3Before = running(afterDrain).filter((t) => t.nodeId === idOf.get('node-3')).map((t) => t.id).sort();
  await updateNode('node-3', (s) => ({ ...s, availability: NodeAvailability.PAUSE }));
  await scale(svc, 8);
  const afterPause = await waitFor('8 running', 30_000, async () => {
    const r = running(await tasksOf(svc.id));
    return r.length === 8 ? r : undefined;
  }, 200);
  const before = perNode(running(afterDrain));
  assert.deepEqual(perNode(afterPause), { 'node-1': before['node-1']! + 2, 'node-2': 0, 'node-3': onNode3Before.length });
  assert.deepEqual(afterPause.filter((t) => t.nodeId === idOf.get('node-3')).map((t) => t.id).sort(), onNode3Before, 'the paused node keeps its tasks');

  // Activate both: they are eligible again (tasks are not moved back, as in SwarmKit); new tasks go to them.
  await updateNode('node-2', (s) => ({ ...s, availability: NodeAvailability.ACTIVE }));
  await updateNode('node-3', (s) => ({ ...s, availability: NodeAvailability.ACTIVE }));
  await scale(svc, 11);
  const afterActivate = await waitFor('11 running', 30_000, async () => {
    const r = running(await tasksOf(svc.id));
    return r.length === 11 ? r : undefined;
  }, 200);
  const counts = perNode(afterActivate);
  assert.equal(counts['node-1'], before['node-1']! + 2, 'nothing moved off node-1');
  assert.equal(counts['node-2']! + counts['node-3']!, 11 - counts['node-1']!);
  assert.ok(counts['node-2']! >= 1, 'the reactivated node-2 gets new tasks');
  await m1.control('RemoveService', { serviceId: svc.id });
  await waitFor('service tasks gone', 30_000, async () => ((await tasksOf(svc.id)).length === 0 ? true : undefined), 200);
});

test('node labels: a constraint that stops matching moves the tasks to a node that matches', async () => {
  await updateNode('node-3', (s) => ({ ...s, annotations: { ...s.annotations, labels: { zone: 'a', disk: 'ssd' } } }));
  const svc = (
    await m1.control<{ service: Service }>('CreateService', {
      spec: {
        annotations: { name: 'zoned' },
        task: {
          container: { image: 'process', command: ['sleep', '600'] },
          placement: { constraints: ['node.labels.zone==a'] },
        },
        mode: { replicated: { replicas: 2 } },
      },
    })
  ).service;
  const first = await waitFor('2 running on node-3', 30_000, async () => {
    const r = running(await tasksOf(svc.id));
    return r.length === 2 && perNode(r)['node-3'] === 2 ? r : undefined;
  }, 200);

  // node-1 gets the label, node-3 loses it (label-rm zone): the enforcer rejects node-3's tasks; new ones run on node-1.
  await updateNode('node-1', (s) => ({ ...s, annotations: { ...s.annotations, labels: { zone: 'a' } } }));
  const movedAt = Date.now();
  await updateNode('node-3', (s) => {
    const labels = { ...s.annotations.labels };
    delete labels.zone;
    return { ...s, annotations: { ...s.annotations, labels } };
  });
  const ts = await waitFor('2 running on node-1, none alive on node-3', 30_000, async () => {
    const all = await tasksOf(svc.id);
    const r = running(all);
    const onOld = live(all).filter((t) => t.nodeId === idOf.get('node-3'));
    return r.length === 2 && perNode(r)['node-1'] === 2 && onOld.length === 0 ? all : undefined;
  }, 200);
  console.log(`# constraint enforcer: tasks ran on the matching node after ${Date.now() - movedAt} ms`);
  const old = ts.filter((t) => first.some((f) => f.id === t.id));
  assert.equal(old.length, 2);
  assert.ok(old.every((t) => t.desiredState >= TaskState.SHUTDOWN), 'the old tasks are shut down');
  const node3 = (await m1.control<{ node: Node }>('GetNode', { nodeId: idOf.get('node-3') })).node;
  assert.deepEqual(node3.spec.annotations.labels, { disk: 'ssd' }, 'label-rm removes only that label');
  await m1.control('RemoveService', { serviceId: svc.id });
});
