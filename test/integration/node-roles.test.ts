/**
 * Issue 6 (node roles) with real swarmhost processes: promotion and demotion through the desired role (Raft
 * membership and the certificate's OU follow), demotion of the leader (leadership moves, writes still work),
 * SwarmKit's refusals (last manager, remove a manager, remove a READY node without force), and a removed
 * node's certificate refused from then on.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NodeRole, NodeStatusState, TaskState, type Cluster, type Node, type Service, type Task } from '../../src/host/api/objects.js';
import { TransportClient } from '../../src/host/transport/index.js';
import { NodeProc, teardown, waitFor, startNode } from '../support/procs.js';

const procs: NodeProc[] = [];
const dirs: string[] = [];
let n1: NodeProc;
let n2: NodeProc;
let n3: NodeProc;
let cluster: Cluster;
const ids = new Map<NodeProc, string>();

interface Info {
  nodeId: string;
  role: string;
  raftRole: string;
  leaderNodeId: string;
  members: { nodeId: string; raftId: string; reachable: boolean }[];
}

function newNode(name: string, join?: { addr: string; token: string }): Promise<NodeProc> {
  return startNode(procs, dirs, name, { extraArgs: ['--executor', 'process'], ...(join ? { join } : {}) });
}

/** Some node whose control socket answers and that knows a leader. */
async function anyManager(): Promise<NodeProc> {
  return waitFor('a manager with a leader', 20_000, async () => {
    for (const p of [n1, n2, n3]) {
      const info = await p.control<Info>('NodeInfo').catch(() => undefined);
      if (info !== undefined && info.leaderNodeId !== '') return p;
    }
    return undefined;
  });
}

async function nodes(): Promise<Node[]> {
  return (await (await anyManager()).control<{ nodes: Node[] }>('ListNodes')).nodes;
}

async function nodeOf(p: NodeProc): Promise<Node> {
  const n = (await nodes()).find((x) => x.id === ids.get(p));
  assert.ok(n, `node object of ${p.o.name}`);
  return n;
}

async function setRole(p: NodeProc, role: NodeRole, via?: NodeProc): Promise<void> {
  const n = await nodeOf(p);
  await (via ?? (await anyManager())).control('UpdateNode', { nodeId: n.id, nodeVersion: n.meta.version, spec: { ...n.spec, desiredRole: role } });
}

async function certOU(p: NodeProc): Promise<string> {
  const pem = await readFile(join(p.o.stateDir, 'certificates', 'swarm-node.crt'), 'utf8');
  return /OU=([^\n]+)/.exec(new X509Certificate(pem).subject)?.[1] ?? '';
}

async function raftMembers(): Promise<string[]> {
  const m = await anyManager();
  return (await m.control<Info>('NodeInfo')).members.map((x) => x.nodeId).sort();
}

function controlError(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

before(async () => {
  n1 = await newNode('node-1');
  await n1.waitLog(/agent started/, 30_000);
  cluster = await waitFor('cluster', 10_000, async () => (await n1.control<{ clusters: Cluster[] }>('ListClusters').catch(() => undefined))?.clusters[0]);
  await n1.control('UpdateCluster', {
    clusterId: cluster.id,
    clusterVersion: cluster.meta.version,
    spec: { ...cluster.spec, dispatcher: { heartbeatPeriodMs: 1_000 } },
  });
  n2 = await newNode('node-2', { addr: n1.addr, token: cluster.rootCA.joinTokens.worker });
  n3 = await newNode('node-3', { addr: n1.addr, token: cluster.rootCA.joinTokens.worker });
  const all = await waitFor('3 READY nodes', 30_000, async () => {
    const l = (await n1.control<{ nodes: Node[] }>('ListNodes')).nodes;
    return l.filter((n) => n.status.state === NodeStatusState.READY).length === 3 ? l : undefined;
  }, 200);
  for (const p of [n1, n2, n3]) ids.set(p, all.find((n) => n.description?.hostname === p.o.name)!.id);
});

after(async () => {
  await teardown(procs, dirs);
});

test('demoting the last manager is refused with SwarmKit message', async () => {
  await assert.rejects(setRole(n1, NodeRole.WORKER, n1), (e) => /attempting to demote the last manager of the swarm/.test(controlError(e)));
  assert.equal((await nodeOf(n1)).role, NodeRole.MANAGER);
});

test('promoting a worker: observed role, certificate OU, a manager joined to raft; demoting it back undoes all three', async () => {
  const started = Date.now();
  await setRole(n2, NodeRole.MANAGER, n1);
  await waitFor('node-2 in raft', 30_000, async () => ((await raftMembers()).includes(ids.get(n2)!) ? true : undefined), 200);
  const info2 = await waitFor('node-2 answers as a manager', 20_000, () => n2.control<Info>('NodeInfo').catch(() => undefined), 200);
  console.log(`# promotion: node-2 answered as a manager after ${Date.now() - started} ms`);
  assert.equal(info2.role, 'manager');
  assert.equal(await certOU(n2), 'swarm-manager');
  assert.equal((await nodeOf(n2)).role, NodeRole.MANAGER);
  // The new manager has a replica of the store: it serves reads locally.
  const listed = await n2.control<{ nodes: Node[] }>('ListNodes');
  assert.equal(listed.nodes.length, 3);

  const demoted = Date.now();
  await setRole(n2, NodeRole.WORKER, n1);
  await waitFor('node-2 out of raft and a worker', 30_000, async () => {
    const members = await raftMembers();
    const n = await nodeOf(n2);
    return !members.includes(ids.get(n2)!) && n.role === NodeRole.WORKER ? true : undefined;
  }, 200);
  await waitFor('node-2 worker certificate', 30_000, async () => ((await certOU(n2)) === 'swarm-worker' ? true : undefined), 200);
  console.log(`# demotion: node-2 had a worker certificate after ${Date.now() - demoted} ms`);
  await waitFor('node-2 control socket closed', 20_000, async () => ((await n2.control('NodeInfo').then(() => false, () => true)) ? true : undefined), 200);
  assert.deepEqual(await raftMembers(), [ids.get(n1)!]);
  await waitFor('node-2 READY as a worker', 20_000, async () => ((await nodeOf(n2)).status.state === NodeStatusState.READY ? true : undefined), 200);
});

test('demoting the leader moves leadership, the cluster keeps working, and the old leader runs on as a worker', async () => {
  await readFile(join(n1.o.stateDir, 'certificates', 'swarm-root-ca.key')); // the bootstrapping manager has one
  await setRole(n2, NodeRole.MANAGER, n1);
  await setRole(n3, NodeRole.MANAGER, n1);
  await waitFor('three managers in raft', 45_000, async () => ((await raftMembers()).length === 3 ? true : undefined), 200);
  await waitFor('node-2 and node-3 serve control calls', 20_000, async () => {
    const a = await n2.control<Info>('NodeInfo').catch(() => undefined);
    const b = await n3.control<Info>('NodeInfo').catch(() => undefined);
    return a?.leaderNodeId && b?.leaderNodeId ? true : undefined;
  }, 200);
  assert.equal((await n1.control<Info>('NodeInfo')).leaderNodeId, ids.get(n1));

  const t0 = Date.now();
  await setRole(n1, NodeRole.WORKER, n1);
  const newLeader = await waitFor('a new leader', 30_000, async () => {
    const i = await n2.control<Info>('NodeInfo').catch(() => undefined);
    return i && i.leaderNodeId !== '' && i.leaderNodeId !== ids.get(n1) ? i.leaderNodeId : undefined;
  }, 100);
  console.log(`# leader demoted: new leader after ${Date.now() - t0} ms`);
  assert.ok([ids.get(n2), ids.get(n3)].includes(newLeader));
  await waitFor('node-1 out of raft, observed worker', 30_000, async () => {
    const members = await raftMembers();
    const n = await nodeOf(n1);
    return members.length === 2 && !members.includes(ids.get(n1)!) && n.role === NodeRole.WORKER ? true : undefined;
  }, 200);
  // A write succeeds through the new managers.
  const svc = (
    await n2.control<{ service: Service }>('CreateService', {
      spec: { annotations: { name: 'after-demotion' }, task: { container: { image: 'process', command: ['sleep', '600'] } }, mode: { replicated: { replicas: 3 } } },
    })
  ).service;
  await waitFor('3 tasks running', 30_000, async () => {
    const ts = (await n3.control<{ tasks: Task[] }>('ListTasks', { filters: { serviceIds: [svc.id] } })).tasks;
    return ts.filter((t) => t.status.state === TaskState.RUNNING).length === 3 ? true : undefined;
  }, 200);
  await waitFor('node-1 worker certificate', 30_000, async () => ((await certOU(n1)) === 'swarm-worker' ? true : undefined), 200);
  await assert.rejects(readFile(join(n1.o.stateDir, 'certificates', 'swarm-root-ca.key')), { code: 'ENOENT' }, 'a worker keeps no root CA key');
  await assert.rejects(readFile(join(n1.o.stateDir, 'raft')), { code: 'ENOENT' }, 'nor a raft log');
  await waitFor('node-1 READY as a worker', 30_000, async () => ((await nodeOf(n1)).status.state === NodeStatusState.READY ? true : undefined), 200);
  await n2.control('RemoveService', { serviceId: svc.id });
});

test('remove: a manager must be demoted first, a READY node needs force, and the removed node is refused', async () => {
  const m = await anyManager();
  const id2 = ids.get(n2)!;
  await assert.rejects(m.control('RemoveNode', { nodeId: id2 }), (e) =>
    controlError(e).includes(`node ${id2} is a cluster manager and is a member of the raft cluster. It must be demoted to worker before removal`),
  );
  const id1 = ids.get(n1)!;
  await assert.rejects(m.control('RemoveNode', { nodeId: id1 }), (e) => controlError(e).includes(`node ${id1} is not down and can't be removed`));
  // A service with a task on node-1: removing node-1 orphans that task and the slot runs elsewhere.
  const svc = (
    await m.control<{ service: Service }>('CreateService', {
      spec: { annotations: { name: 'before-removal' }, task: { container: { image: 'process', command: ['sleep', '600'] } }, mode: { replicated: { replicas: 3 } } },
    })
  ).service;
  const tasks = async (): Promise<Task[]> => (await m.control<{ tasks: Task[] }>('ListTasks', { filters: { serviceIds: [svc.id] } })).tasks;
  const onN1 = await waitFor('3 running, one on node-1', 30_000, async () => {
    const r = (await tasks()).filter((t) => t.status.state === TaskState.RUNNING);
    return r.length === 3 && r.some((t) => t.nodeId === id1) ? r.find((t) => t.nodeId === id1) : undefined;
  }, 200);
  await m.control('RemoveNode', { nodeId: id1, force: true });
  assert.equal((await nodes()).some((n) => n.id === id1), false);
  await waitFor('3 running elsewhere, node-1 task orphaned', 30_000, async () => {
    const all = await tasks();
    const r = all.filter((t) => t.status.state === TaskState.RUNNING && t.desiredState === TaskState.RUNNING && t.nodeId !== id1);
    const orphan = all.find((t) => t.id === onN1.id);
    return r.length === 3 && orphan?.status.state === TaskState.ORPHANED ? true : undefined;
  }, 200);
  // node-1's certificate is refused from then on.
  const dir = join(n1.o.stateDir, 'certificates');
  const tls = {
    kind: 'verify' as const,
    rootCaPem: await readFile(join(dir, 'swarm-root-ca.crt')),
    certPem: await readFile(join(dir, 'swarm-node.crt')),
    keyPem: await readFile(join(dir, 'swarm-node.key')),
  };
  const c = new TransportClient(m.addr, { tls });
  try {
    await assert.rejects(c.heartbeat({ sessionId: 'x' }), (e) => controlError(e).includes(`node ${id1} was removed from swarm`));
  } finally {
    c.close();
  }
  await n1.waitLog(new RegExp(`node ${id1} was removed from swarm`), 20_000);
});
