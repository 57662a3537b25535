import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AlreadyExistsError,
  Code,
  FailedPreconditionError,
  InvalidArgumentError,
  NodeAvailability,
  NodeRole,
  NodeStatusState,
  NotFoundError,
  Reachability,
  SwarmError,
  TaskState,
  UnimplementedError,
  UpdateState,
  type Cluster,
  type Config,
  type Node,
  type Service,
  type Task,
} from '../../../src/host/api/index.js';
import { parseJoinToken } from '../../../src/host/ca/index.js';
import { MAX_CONTROL_REQUEST_BYTES, ORPHANED_BY_REMOVAL_MESSAGE, controlHandlers } from '../../../src/host/controlapi/index.js';
import { CLUSTER_ID, nodeObject, serviceSpec, setup, taskObject } from './fixtures.js';

type Api = Awaited<ReturnType<typeof setup>>['api'];

async function rejects(p: Promise<unknown>, cls: new (m: string) => SwarmError, message: string | RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${String(e)}`);
    if (typeof message === 'string') assert.equal((e as Error).message, message);
    else assert.match((e as Error).message, message);
    return true;
  });
}

async function cluster(api: Api): Promise<Cluster> {
  return ((await api.call('GetCluster', { clusterId: CLUSTER_ID })) as { cluster: Cluster }).cluster;
}
async function node(api: Api, id: string): Promise<Node> {
  return ((await api.call('GetNode', { nodeId: id })) as { node: Node }).node;
}
async function create(api: Api, spec = serviceSpec()): Promise<Service> {
  return ((await api.call('CreateService', { spec })) as { service: Service }).service;
}

describe('ControlApi dispatch', () => {
  test('an unknown method is Unimplemented', async () => {
    const { api } = await setup();
    await rejects(api.call('Frobnicate', {}), UnimplementedError, 'unknown control method "Frobnicate"');
  });

  test('a missing id is InvalidArgument naming the field', async () => {
    const { api } = await setup();
    for (const [m, field] of [
      ['GetNode', 'nodeId'],
      ['GetService', 'serviceId'],
      ['GetTask', 'taskId'],
      ['GetCluster', 'clusterId'],
      ['GetConfig', 'configId'],
      ['RemoveNode', 'nodeId'],
    ] as const) {
      await rejects(api.call(m, {}), InvalidArgumentError, `${field}: must be a non-empty string (invalid argument)`);
    }
  });

  test('a missing object is NotFound "<kind> <id> not found"', async () => {
    const { api } = await setup();
    await rejects(api.call('GetNode', { nodeId: 'nope' }), NotFoundError, 'node nope not found');
    await rejects(api.call('GetService', { serviceId: 'nope' }), NotFoundError, 'service nope not found');
    await rejects(api.call('GetTask', { taskId: 'nope' }), NotFoundError, 'task nope not found');
    await rejects(api.call('GetCluster', { clusterId: 'nope' }), NotFoundError, 'cluster nope not found');
    await rejects(api.call('GetConfig', { configId: 'nope' }), NotFoundError, 'config nope not found');
  });
});

describe('ControlApi clusters', () => {
  test('reads never return the CA key', async () => {
    const { api } = await setup();
    assert.equal((await cluster(api)).rootCA.caKey, '');
    const list = (await api.call('ListClusters', { filters: { names: ['default'] } })) as { clusters: Cluster[] };
    assert.equal(list.clusters.length, 1);
    assert.equal(list.clusters[0]!.rootCA.caKey, '');
    assert.equal(list.clusters[0]!.rootCA.caCert, 'ROOT-PEM');
  });

  test('UpdateCluster requires the version last read', async () => {
    const { api } = await setup();
    const c = await cluster(api);
    await rejects(api.call('UpdateCluster', { clusterId: c.id, spec: c.spec }), InvalidArgumentError, /clusterVersion/);
  });

  test('a stale cluster version is refused with "update out of sequence"', async () => {
    const { api } = await setup();
    const c = await cluster(api);
    await api.call('UpdateCluster', { clusterId: c.id, clusterVersion: c.meta.version, spec: { orchestration: { taskHistoryRetentionLimit: 10 } } });
    await rejects(
      api.call('UpdateCluster', { clusterId: c.id, clusterVersion: c.meta.version, spec: { orchestration: { taskHistoryRetentionLimit: 3 } } }),
      FailedPreconditionError,
      'update out of sequence',
    );
    assert.equal((await cluster(api)).spec.orchestration.taskHistoryRetentionLimit, 10);
  });

  const specCases: { name: string; spec: Record<string, unknown>; error?: RegExp }[] = [
    { name: 'certificate expiry below 30 minutes', spec: { caConfig: { nodeCertExpiryMs: 29 * 60_000 } }, error: /minimum certificate expiry time is: 30m0s/ },
    { name: 'certificate expiry of exactly 30 minutes', spec: { caConfig: { nodeCertExpiryMs: 30 * 60_000 } } },
    { name: 'heartbeat period of 0', spec: { dispatcher: { heartbeatPeriodMs: 0 } }, error: /heartbeatPeriodMs: heartbeat period must be > 0/ },
    { name: 'heartbeat period of 1s', spec: { dispatcher: { heartbeatPeriodMs: 1000 } } },
    { name: 'a renamed cluster', spec: { annotations: { name: 'other' } }, error: /^modification of cluster name is not allowed$/ },
    { name: 'negative task history (never trim)', spec: { orchestration: { taskHistoryRetentionLimit: -1 } } },
    { name: 'a fractional task history', spec: { orchestration: { taskHistoryRetentionLimit: 1.5 } }, error: /taskHistoryRetentionLimit: must be an integer/ },
    { name: 'an election tick of 0', spec: { raft: { electionTick: 0 } }, error: /spec.raft.electionTick: must be a positive integer/ },
  ];
  for (const c of specCases) {
    test(`UpdateCluster ${c.error ? 'refuses' : 'accepts'} ${c.name}`, async () => {
      const { api } = await setup();
      const cur = await cluster(api);
      const p = api.call('UpdateCluster', { clusterId: cur.id, clusterVersion: cur.meta.version, spec: c.spec });
      if (c.error) await rejects(p, InvalidArgumentError, c.error);
      else await p;
    });
  }

  test('rotating the worker token changes only the worker token, keeping the digest', async () => {
    const { api } = await setup();
    const before = await cluster(api);
    await api.call('UpdateCluster', { clusterId: before.id, clusterVersion: before.meta.version, spec: {}, rotation: { workerJoinToken: true } });
    const after = await cluster(api);
    assert.notEqual(after.rootCA.joinTokens.worker, before.rootCA.joinTokens.worker);
    assert.equal(after.rootCA.joinTokens.manager, before.rootCA.joinTokens.manager);
    assert.equal(parseJoinToken(after.rootCA.joinTokens.worker).digest, parseJoinToken(before.rootCA.joinTokens.worker).digest);
    assert.equal(after.rootCA.caKey, '');
  });

  test('rotating the manager token changes only the manager token, and the stored CA key survives', async () => {
    const { api, store } = await setup();
    const before = await cluster(api);
    await api.call('UpdateCluster', { clusterId: before.id, clusterVersion: before.meta.version, spec: {}, rotation: { managerJoinToken: true } });
    const after = await cluster(api);
    assert.notEqual(after.rootCA.joinTokens.manager, before.rootCA.joinTokens.manager);
    assert.equal(after.rootCA.joinTokens.worker, before.rootCA.joinTokens.worker);
    assert.equal(store.view((tx) => tx.get('clusters', CLUSTER_ID)!.rootCA.caKey), 'SECRET-KEY-PEM');
  });

  test('UpdateCluster purges blacklist entries 7 days past their expiry', async () => {
    const { api, store, clock } = await setup();
    await store.update((tx) => {
      const c = structuredClone(tx.get('clusters', CLUSTER_ID)!) as Cluster;
      c.blacklistedCertificates = { old: { expiry: clock.t - 8 * 86_400_000 }, recent: { expiry: clock.t - 86_400_000 } };
      tx.update('clusters', c);
    });
    const cur = await cluster(api);
    await api.call('UpdateCluster', { clusterId: cur.id, clusterVersion: cur.meta.version, spec: {} });
    assert.deepEqual(Object.keys((await cluster(api)).blacklistedCertificates), ['recent']);
  });
});

describe('ControlApi nodes', () => {
  test('ListNodes computes manager status from raft: leader REACHABLE, others by transport', async () => {
    const { api, raft, store } = await setup();
    await store.update((tx) => tx.create('nodes', nodeObject('m2', 'node-4', NodeRole.MANAGER)));
    raft.list.push({ raftId: 'a2', nodeId: 'm2', addr: '127.0.0.1:4245', reachable: false });
    const { nodes } = (await api.call('ListNodes', {})) as { nodes: Node[] };
    const byId = new Map(nodes.map((n) => [n.id, n]));
    assert.deepEqual(byId.get('m1')!.managerStatus, { raftId: 'a1', addr: '127.0.0.1:4242', leader: true, reachability: Reachability.REACHABLE });
    assert.equal(byId.get('m2')!.managerStatus!.reachability, Reachability.UNREACHABLE);
    assert.equal(byId.get('m2')!.managerStatus!.leader, false);
    assert.equal(byId.get('w1')!.managerStatus, undefined);
  });

  const filterCases: { name: string; filters: Record<string, unknown>; ids: string[] }[] = [
    { name: 'names match the hostname exactly', filters: { names: ['node-2'] }, ids: ['w1'] },
    { name: 'name prefixes', filters: { namePrefixes: ['node-'] }, ids: ['m1', 'w1', 'w2'] },
    { name: 'id prefixes', filters: { idPrefixes: ['w'] }, ids: ['w1', 'w2'] },
    { name: 'observed roles', filters: { roles: [NodeRole.MANAGER] }, ids: ['m1'] },
    { name: 'engine labels with a value', filters: { labels: { zone: 'a' } }, ids: ['m1', 'w1', 'w2'] },
    { name: 'engine labels by key only', filters: { labels: { rack: '' } }, ids: [] },
    { name: 'filters AND-ed', filters: { idPrefixes: ['w'], names: ['node-3', 'node-1'] }, ids: ['w2'] },
  ];
  for (const c of filterCases) {
    test(`ListNodes filters: ${c.name}`, async () => {
      const { api } = await setup();
      const { nodes } = (await api.call('ListNodes', { filters: c.filters })) as { nodes: Node[] };
      assert.deepEqual(nodes.map((n) => n.id).sort(), c.ids);
    });
  }

  test('ListNodes refuses a filter it does not know', async () => {
    const { api } = await setup();
    await rejects(api.call('ListNodes', { filters: { serviceIds: ['x'] } }), InvalidArgumentError, /filters.serviceIds: not a filter of this list/);
  });

  test('UpdateNode replaces the spec whole and needs the current version', async () => {
    const { api } = await setup();
    const n = await node(api, 'w1');
    await rejects(api.call('UpdateNode', { nodeId: 'w1', spec: n.spec }), InvalidArgumentError, /nodeVersion/);
    await rejects(api.call('UpdateNode', { nodeId: 'w1', nodeVersion: n.meta.version }), InvalidArgumentError, /spec: must be provided/);
    const res = (await api.call('UpdateNode', {
      nodeId: 'w1',
      nodeVersion: n.meta.version,
      spec: { ...n.spec, availability: NodeAvailability.DRAIN, annotations: { name: '', labels: { disk: 'ssd' } } },
    })) as { node: Node };
    assert.equal(res.node.spec.availability, NodeAvailability.DRAIN);
    assert.deepEqual(res.node.spec.annotations.labels, { disk: 'ssd' });
    assert.ok(res.node.meta.version > n.meta.version);
    await rejects(api.call('UpdateNode', { nodeId: 'w1', nodeVersion: n.meta.version, spec: n.spec }), FailedPreconditionError, 'update out of sequence');
  });

  test('UpdateNode refuses an availability outside the enum', async () => {
    const { api } = await setup();
    const n = await node(api, 'w1');
    await rejects(api.call('UpdateNode', { nodeId: 'w1', nodeVersion: n.meta.version, spec: { ...n.spec, availability: 7 } }), InvalidArgumentError, /spec.availability: must be one of ACTIVE=0, PAUSE=1, DRAIN=2/);
  });

  test('demoting the last manager is refused', async () => {
    const { api } = await setup();
    const n = await node(api, 'm1');
    await rejects(
      api.call('UpdateNode', { nodeId: 'm1', nodeVersion: n.meta.version, spec: { ...n.spec, desiredRole: NodeRole.WORKER } }),
      FailedPreconditionError,
      'attempting to demote the last manager of the swarm',
    );
  });

  test('demoting a manager that is not in the raft member list is NotFound', async () => {
    const { api, store } = await setup();
    await store.update((tx) => tx.create('nodes', nodeObject('m2', 'node-4', NodeRole.MANAGER)));
    const n = await node(api, 'm2');
    await rejects(
      api.call('UpdateNode', { nodeId: 'm2', nodeVersion: n.meta.version, spec: { ...n.spec, desiredRole: NodeRole.WORKER } }),
      NotFoundError,
      "can't find manager in raft memberlist",
    );
  });

  test('a demotion that would lose quorum is refused; with the others reachable it is accepted', async () => {
    const { api, store, raft } = await setup();
    await store.update((tx) => {
      tx.create('nodes', nodeObject('m2', 'node-4', NodeRole.MANAGER));
      tx.create('nodes', nodeObject('m3', 'node-5', NodeRole.MANAGER));
    });
    raft.list.push({ raftId: 'a2', nodeId: 'm2', addr: 'x:1', reachable: true }, { raftId: 'a3', nodeId: 'm3', addr: 'x:2', reachable: false });
    const n = await node(api, 'm2');
    const req = { nodeId: 'm2', nodeVersion: n.meta.version, spec: { ...n.spec, desiredRole: NodeRole.WORKER } };
    await rejects(api.call('UpdateNode', req), FailedPreconditionError, "can't remove member from the raft: this would result in a loss of quorum");
    raft.list[2]!.reachable = true;
    const res = (await api.call('UpdateNode', req)) as { node: Node };
    assert.equal(res.node.spec.desiredRole, NodeRole.WORKER);
  });

  test('a demotion already requested is not checked again (other spec changes go through)', async () => {
    const { api, store } = await setup();
    await store.update((tx) => {
      const m = structuredClone(tx.get('nodes', 'm1')!) as Node;
      m.spec.desiredRole = NodeRole.WORKER;
      tx.update('nodes', m);
    });
    const n = await node(api, 'm1');
    const res = (await api.call('UpdateNode', { nodeId: 'm1', nodeVersion: n.meta.version, spec: { ...n.spec, availability: NodeAvailability.PAUSE } })) as { node: Node };
    assert.equal(res.node.spec.availability, NodeAvailability.PAUSE);
  });

  test('RemoveNode refuses a raft member', async () => {
    const { api } = await setup();
    await rejects(
      api.call('RemoveNode', { nodeId: 'm1', force: true }),
      FailedPreconditionError,
      'node m1 is a cluster manager and is a member of the raft cluster. It must be demoted to worker before removal',
    );
  });

  test('RemoveNode refuses a READY node without force', async () => {
    const { api } = await setup();
    await rejects(api.call('RemoveNode', { nodeId: 'w1' }), FailedPreconditionError, "node w1 is not down and can't be removed");
  });

  test('RemoveNode of a DOWN node needs no force: CN blacklisted, live tasks orphaned, node deleted', async () => {
    const { api, store, clock } = await setup();
    await store.update((tx) => {
      const n = structuredClone(tx.get('nodes', 'w2')!) as Node;
      n.status.state = NodeStatusState.DOWN;
      tx.update('nodes', n);
      tx.create('tasks', taskObject('t1', 's1', 1, 'w2', TaskState.RUNNING));
      tx.create('tasks', taskObject('t2', 's1', 2, 'w2', TaskState.FAILED));
    });
    await api.call('RemoveNode', { nodeId: 'w2' });
    const c = await cluster(api);
    assert.deepEqual(c.blacklistedCertificates, { w2: { expiry: clock.t + 2160 * 3_600_000 } });
    const [t1, t2, gone] = store.view((tx) => [tx.get('tasks', 't1')!, tx.get('tasks', 't2')!, tx.get('nodes', 'w2')]);
    assert.equal(t1.status.state, TaskState.ORPHANED);
    assert.equal(t1.status.message, ORPHANED_BY_REMOVAL_MESSAGE);
    assert.equal(t2.status.state, TaskState.FAILED);
    assert.equal(gone, undefined);
  });

  test('RemoveNode with force removes a READY worker', async () => {
    const { api } = await setup();
    await api.call('RemoveNode', { nodeId: 'w1', force: true });
    await rejects(api.call('GetNode', { nodeId: 'w1' }), NotFoundError, 'node w1 not found');
  });

  test('RemoveNode without a cluster object is Internal', async () => {
    const { api, store } = await setup();
    await store.update((tx) => tx.delete('clusters', CLUSTER_ID));
    await assert.rejects(api.call('RemoveNode', { nodeId: 'w1', force: true }), (e: unknown) => e instanceof SwarmError && e.code === Code.INTERNAL);
  });
});

describe('ControlApi services: validation', () => {
  const base = serviceSpec();
  const task = base.task as Record<string, unknown>;
  const cases: { name: string; spec: unknown; error: RegExp }[] = [
    { name: 'no spec', spec: undefined, error: /^spec: must be provided/ },
    { name: 'no name', spec: { ...base, annotations: { name: '' } }, error: /^meta: name must be provided$/ },
    { name: 'a name that is not a DNS label', spec: { ...base, annotations: { name: 'bad name' } }, error: /^name must be valid as a DNS name component$/ },
    { name: 'a name starting with a dash', spec: { ...base, annotations: { name: '-web' } }, error: /DNS name component/ },
    { name: 'a 64-character name', spec: { ...base, annotations: { name: 'a'.repeat(64) } }, error: /^name must be 63 characters or fewer$/ },
    { name: 'no container', spec: { ...base, task: {} }, error: /^TaskSpec: missing runtime$/ },
    { name: 'no image', spec: { ...base, task: { container: { image: '' } } }, error: /^ContainerSpec: image reference must be provided$/ },
    { name: 'an unparseable image', spec: { ...base, task: { container: { image: 'Redis:3.0' } } }, error: /^ContainerSpec: "Redis:3.0" is not a valid repository\/tag$/ },
    { name: 'negative replicas', spec: { ...base, mode: { replicated: { replicas: -1 } } }, error: /spec.mode.replicated.replicas: must be a non-negative integer/ },
    { name: 'two modes', spec: { ...base, mode: { replicated: { replicas: 1 }, global: {} } }, error: /spec.mode: must set exactly one/ },
    { name: 'an unknown mode', spec: { ...base, mode: { sometimes: {} } }, error: /unknown mode "sometimes"/ },
    { name: 'a restart condition outside the enum', spec: { ...base, task: { ...task, restart: { condition: 9 } } }, error: /spec.task.restart.condition: must be one of NONE=0, ON_FAILURE=1, ANY=2/ },
    { name: 'a negative restart delay', spec: { ...base, task: { ...task, restart: { delayMs: -1 } } }, error: /restart-delay cannot be negative/ },
    { name: 'a negative restart window', spec: { ...base, task: { ...task, restart: { windowMs: -5 } } }, error: /restart-window cannot be negative/ },
    { name: 'negative max attempts', spec: { ...base, task: { ...task, restart: { maxAttempts: -1 } } }, error: /maxAttempts: must be a non-negative integer/ },
    { name: 'a malformed constraint', spec: { ...base, task: { ...task, placement: { constraints: ['node.role'] } } }, error: /constraint 'node.role'/ },
    { name: 'a CPU reservation under 0.001 core', spec: { ...base, task: { ...task, resources: { reservations: { nanoCpus: 999_999 } } } }, error: /reservations.nanoCpus: invalid cpu value 0.000999999: Must be at least 0.001/ },
    { name: 'a memory limit under 4 MiB', spec: { ...base, task: { ...task, resources: { limits: { memoryBytes: 1024 } } } }, error: /limits.memoryBytes: invalid memory value 1024: Must be at least 4MiB/ },
    { name: 'a negative update delay', spec: { ...base, update: { delayMs: -1 } }, error: /spec.update.delayMs: must be >= 0/ },
    { name: 'a failure ratio above 1', spec: { ...base, rollback: { maxFailureRatio: 1.5 } }, error: /spec.rollback.maxFailureRatio: must be in \[0, 1\]/ },
    { name: 'a job with an update config', spec: { ...base, mode: { replicatedJob: { totalCompletions: 3 } }, update: {} }, error: /^Jobs may not have an update config$/ },
    { name: 'negative max replicas per node', spec: { ...base, task: { ...task, placement: { maxReplicas: -1 } } }, error: /placement.maxReplicas/ },
    { name: 'duplicate published ports', spec: { ...base, endpoint: { ports: [{ targetPort: 80, publishedPort: 8080 }, { targetPort: 81, publishedPort: 8080 }] } }, error: /duplicate published ports/ },
  ];
  for (const c of cases) {
    test(`CreateService refuses ${c.name}`, async () => {
      const { api } = await setup();
      await rejects(api.call('CreateService', { spec: c.spec }), InvalidArgumentError, c.error);
    });
  }

  test('CreateService accepts images with registry, port, path, tag and digest', async () => {
    const { api } = await setup();
    const images = ['busybox', 'redis:3.0.5', 'localhost:5000/team/app:v1.2', 'registry.example.com/a/b@sha256:' + 'a'.repeat(64)];
    for (const [i, image] of images.entries()) {
      await create(api, { ...serviceSpec(`s${i}`), task: { container: { image } } });
    }
  });

  test('CreateService fills defaults: restart {ANY, 5s}, stop grace 10s, empty lists', async () => {
    const { api } = await setup();
    const s = await create(api);
    assert.deepEqual(s.spec.task.restart, { condition: 2, delayMs: 5000, maxAttempts: 0, windowMs: 0 });
    assert.equal(s.spec.task.container.stopGracePeriodMs, 10_000);
    assert.deepEqual(s.spec.task.container.args, []);
    assert.equal(s.specVersion, 0);
    assert.equal(s.spec.update, undefined);
    assert.equal(s.id.length, 25);
  });

  test('a name taken case-insensitively is AlreadyExists', async () => {
    const { api } = await setup();
    await create(api, serviceSpec('web'));
    await rejects(create(api, serviceSpec('WEB')), AlreadyExistsError, 'name conflicts with an existing object: service web already exists');
  });

  test('an ingress port used by another service is refused', async () => {
    const { api } = await setup();
    await create(api, { ...serviceSpec('a'), endpoint: { ports: [{ targetPort: 80, publishedPort: 30080 }] } });
    await rejects(create(api, { ...serviceSpec('b'), endpoint: { ports: [{ targetPort: 81, publishedPort: 30080, publishMode: 1 }] } }), InvalidArgumentError, /port '30080' is already in use by service 'a'/);
    await create(api, { ...serviceSpec('c'), endpoint: { ports: [{ targetPort: 81, publishedPort: 30080, protocol: 1 }] } });
  });
});

describe('ControlApi services: updates', () => {
  async function update(api: Api, s: Service, spec: unknown, extra: Record<string, unknown> = {}): Promise<Service> {
    return ((await api.call('UpdateService', { serviceId: s.id, serviceVersion: s.meta.version, spec, ...extra })) as { service: Service }).service;
  }

  test('UpdateService records the previous spec and sets spec_version to the previous meta version', async () => {
    const { api } = await setup();
    const s = await create(api);
    const u = await update(api, s, { ...serviceSpec(), task: { container: { image: 'redis:3.0.6' } } });
    assert.equal(u.spec.task.container.image, 'redis:3.0.6');
    assert.equal(u.previousSpec!.task.container.image, 'redis:3.0.5');
    assert.equal(u.specVersion, s.meta.version);
    assert.equal(u.previousSpecVersion, 0);
  });

  test('UpdateService needs the version and refuses a stale one', async () => {
    const { api } = await setup();
    const s = await create(api);
    await rejects(api.call('UpdateService', { serviceId: s.id, spec: serviceSpec() }), InvalidArgumentError, /serviceVersion/);
    await update(api, s, serviceSpec('web', 3));
    await rejects(update(api, s, serviceSpec('web', 4)), FailedPreconditionError, 'update out of sequence');
  });

  test('a mode change and a rename are Unimplemented', async () => {
    const { api } = await setup();
    const s = await create(api);
    await rejects(update(api, s, { ...serviceSpec(), mode: { global: {} } }), UnimplementedError, 'service mode change is not allowed');
    await rejects(update(api, s, serviceSpec('other')), UnimplementedError, 'renaming services is not supported');
  });

  test('an update naming no update options keeps the last ones set', async () => {
    const { api } = await setup();
    const s = await create(api, { ...serviceSpec(), update: { parallelism: 2, delayMs: 10_000 } });
    const u = await update(api, s, serviceSpec('web', 6));
    assert.equal(u.spec.update!.parallelism, 2);
    assert.equal(u.spec.update!.delayMs, 10_000);
  });

  test('every user update clears the update status', async () => {
    const { api, store } = await setup();
    const s = await create(api);
    await store.update((tx) => {
      const cur = structuredClone(tx.get('services', s.id)!) as Service;
      cur.updateStatus = { state: UpdateState.PAUSED, startedAt: 1, completedAt: 0, message: 'paused' };
      tx.update('services', cur);
    });
    const cur = ((await api.call('GetService', { serviceId: s.id })) as { service: Service }).service;
    const u = await update(api, cur, serviceSpec('web', 1));
    assert.equal(u.updateStatus, undefined);
  });

  test('manual rollback swaps spec and previous spec and starts a rollback', async () => {
    const { api, clock } = await setup();
    const s = await create(api);
    const u = await update(api, s, { ...serviceSpec(), task: { container: { image: 'redis:3.0.6' } } });
    const r = await update(api, u, u.spec, { rollback: 'previous' });
    assert.equal(r.spec.task.container.image, 'redis:3.0.5');
    assert.equal(r.previousSpec!.task.container.image, 'redis:3.0.6');
    assert.equal(r.specVersion, 0);
    assert.equal(r.previousSpecVersion, u.specVersion);
    assert.deepEqual(r.updateStatus, { state: UpdateState.ROLLBACK_STARTED, startedAt: clock.t, completedAt: 0, message: 'manually requested rollback' });
  });

  test('manual rollback without a previous spec is FailedPrecondition', async () => {
    const { api } = await setup();
    const s = await create(api);
    await rejects(update(api, s, s.spec, { rollback: 'previous' }), FailedPreconditionError, `service ${s.id} does not have a previous spec`);
  });

  test('updating a job starts a new iteration', async () => {
    const { api } = await setup();
    const s = await create(api, { ...serviceSpec('job'), mode: { replicatedJob: { totalCompletions: 4, maxConcurrent: 2 } } });
    assert.equal(s.jobStatus!.jobIteration, 0);
    const u = await update(api, s, s.spec);
    assert.equal(u.jobStatus!.jobIteration, 1);
  });

  test('GetService with insertDefaults fills lockstep update and rollback configs', async () => {
    const { api } = await setup();
    const s = await create(api);
    const g = ((await api.call('GetService', { serviceId: s.id, insertDefaults: true })) as { service: Service }).service;
    assert.equal(g.spec.update!.parallelism, 0);
    assert.equal(g.spec.update!.monitorMs, 5000);
    assert.equal(g.spec.rollback!.parallelism, 0);
  });

  test('RemoveService deletes the service', async () => {
    const { api } = await setup();
    const s = await create(api);
    await api.call('RemoveService', { serviceId: s.id });
    await rejects(api.call('GetService', { serviceId: s.id }), NotFoundError, `service ${s.id} not found`);
    await rejects(api.call('RemoveService', { serviceId: s.id }), NotFoundError, `service ${s.id} not found`);
  });

  test('ListServices filters by name, id prefix and label', async () => {
    const { api } = await setup();
    const a = await create(api, serviceSpec('alpha'));
    await create(api, serviceSpec('beta'));
    const names = async (filters: object): Promise<string[]> =>
      ((await api.call('ListServices', { filters })) as { services: Service[] }).services.map((s) => s.spec.annotations.name).sort();
    assert.deepEqual(await names({}), ['alpha', 'beta']);
    assert.deepEqual(await names({ names: ['beta'] }), ['beta']);
    assert.deepEqual(await names({ idPrefixes: [a.id.slice(0, 6)] }), ['alpha']);
    assert.deepEqual(await names({ labels: { app: 'alpha' } }), ['alpha']);
    assert.deepEqual(await names({ labels: { app: '' } }), ['alpha', 'beta']);
    assert.deepEqual(await names({ namePrefixes: ['al', 'be'] }), ['alpha', 'beta']);
  });

  test('ListServiceStatuses counts RUNNING tasks on nodes that are not DOWN; unknown ids get zeros', async () => {
    const { api, store } = await setup();
    const s = await create(api, serviceSpec('web', 3));
    await store.update((tx) => {
      const n = structuredClone(tx.get('nodes', 'w2')!) as Node;
      n.status.state = NodeStatusState.DOWN;
      tx.update('nodes', n);
      tx.create('tasks', taskObject('t1', s.id, 1, 'w1', TaskState.RUNNING));
      tx.create('tasks', taskObject('t2', s.id, 2, 'w2', TaskState.RUNNING));
      tx.create('tasks', taskObject('t3', s.id, 3, 'm1', TaskState.STARTING));
    });
    const res = (await api.call('ListServiceStatuses', { services: [s.id, 'ghost'] })) as { statuses: unknown[] };
    assert.deepEqual(res.statuses, [
      { serviceId: s.id, desiredTasks: 3, runningTasks: 1, completedTasks: 0 },
      { serviceId: 'ghost', desiredTasks: 0, runningTasks: 0, completedTasks: 0 },
    ]);
  });

  test('ListServiceStatuses of a global service counts tasks desired RUNNING', async () => {
    const { api, store } = await setup();
    const s = await create(api, { ...serviceSpec('g'), mode: { global: {} } });
    await store.update((tx) => {
      tx.create('tasks', { ...taskObject('t1', s.id, 0, 'w1', TaskState.RUNNING) });
      tx.create('tasks', { ...taskObject('t2', s.id, 0, 'w2', TaskState.PENDING) });
      tx.create('tasks', { ...taskObject('t3', s.id, 0, 'm1', TaskState.SHUTDOWN), desiredState: TaskState.SHUTDOWN });
    });
    const res = (await api.call('ListServiceStatuses', { services: [s.id] })) as { statuses: { desiredTasks: number; runningTasks: number }[] };
    assert.equal(res.statuses[0]!.desiredTasks, 2);
    assert.equal(res.statuses[0]!.runningTasks, 1);
  });
});

describe('ControlApi tasks', () => {
  async function seed(): Promise<Awaited<ReturnType<typeof setup>>> {
    const env = await setup();
    await env.store.update((tx) => {
      tx.create('tasks', taskObject('task1aaaa', 's1', 1, 'w1', TaskState.RUNNING));
      tx.create('tasks', { ...taskObject('task2bbbb', 's1', 2, 'w2', TaskState.SHUTDOWN), desiredState: TaskState.SHUTDOWN });
      tx.create('tasks', { ...taskObject('other3', 's2', 1, 'w1', TaskState.RUNNING), serviceAnnotations: { name: 'db', labels: {} } });
    });
    return env;
  }
  const cases: { name: string; filters: Record<string, unknown>; ids: string[] }[] = [
    { name: 'service ids', filters: { serviceIds: ['s1'] }, ids: ['task1aaaa', 'task2bbbb'] },
    { name: 'node ids', filters: { nodeIds: ['w1'] }, ids: ['other3', 'task1aaaa'] },
    { name: 'desired states', filters: { desiredStates: [TaskState.RUNNING] }, ids: ['other3', 'task1aaaa'] },
    { name: 'id prefixes', filters: { idPrefixes: ['task'] }, ids: ['task1aaaa', 'task2bbbb'] },
    { name: 'task names (<service>.<slot>.<id>)', filters: { names: ['web.1.task1aaaa'] }, ids: ['task1aaaa'] },
    { name: 'service labels', filters: { labels: { app: 'web' } }, ids: ['task1aaaa', 'task2bbbb'] },
  ];
  for (const c of cases) {
    test(`ListTasks filters by ${c.name}`, async () => {
      const { api } = await seed();
      const { tasks } = (await api.call('ListTasks', { filters: c.filters })) as { tasks: Task[] };
      assert.deepEqual(tasks.map((t) => t.id).sort(), c.ids);
    });
  }

  test('GetTask and RemoveTask', async () => {
    const { api } = await seed();
    assert.equal(((await api.call('GetTask', { taskId: 'task1aaaa' })) as { task: Task }).task.slot, 1);
    await api.call('RemoveTask', { taskId: 'task1aaaa' });
    await rejects(api.call('GetTask', { taskId: 'task1aaaa' }), NotFoundError, 'task task1aaaa not found');
  });
});

describe('ControlApi configs', () => {
  async function createConfig(api: Api, name: string, data = 'hello'): Promise<Config> {
    return ((await api.call('CreateConfig', { spec: { annotations: { name, labels: { a: '1' } }, data } })) as { config: Config }).config;
  }

  test('create, get, list, update labels, remove', async () => {
    const { api } = await setup();
    const c = await createConfig(api, 'app.conf');
    assert.equal(((await api.call('GetConfig', { configId: c.id })) as { config: Config }).config.spec.data, 'hello');
    const u = ((await api.call('UpdateConfig', { configId: c.id, configVersion: c.meta.version, spec: { annotations: { name: 'app.conf', labels: { b: '2' } }, data: 'hello' } })) as { config: Config }).config;
    assert.deepEqual(u.spec.annotations.labels, { b: '2' });
    const list = ((await api.call('ListConfigs', { filters: { names: ['app.conf'] } })) as { configs: Config[] }).configs;
    assert.equal(list.length, 1);
    await api.call('RemoveConfig', { configId: c.id });
    await rejects(api.call('GetConfig', { configId: c.id }), NotFoundError, `config ${c.id} not found`);
  });

  test('a duplicate name is AlreadyExists "config <name> already exists"', async () => {
    const { api } = await setup();
    await createConfig(api, 'x');
    await rejects(createConfig(api, 'x'), AlreadyExistsError, 'config x already exists');
  });

  test('data must be 1..<1024000 bytes and names follow the config rules', async () => {
    const { api } = await setup();
    await rejects(createConfig(api, 'empty', ''), InvalidArgumentError, /config data must be larger than 0 and less than 1024000 bytes/);
    await rejects(createConfig(api, 'big', 'x'.repeat(1_024_000)), InvalidArgumentError, /less than 1024000 bytes/);
    await createConfig(api, 'big', 'x'.repeat(1_023_999));
    await rejects(createConfig(api, '-bad'), InvalidArgumentError, /spec.annotations.name: invalid name/);
  });

  test('UpdateConfig changes labels only', async () => {
    const { api } = await setup();
    const c = await createConfig(api, 'x');
    await rejects(
      api.call('UpdateConfig', { configId: c.id, configVersion: c.meta.version, spec: { annotations: { name: 'x' }, data: 'changed' } }),
      InvalidArgumentError,
      'only updates to Labels are allowed',
    );
    await rejects(
      api.call('UpdateConfig', { configId: c.id, configVersion: c.meta.version - 1, spec: { annotations: { name: 'x' }, data: 'hello' } }),
      FailedPreconditionError,
      'update out of sequence',
    );
  });

  test('writes are logged', async () => {
    const { api, logger } = await setup();
    await createConfig(api, 'x');
    assert.equal(logger.lines.at(-1)!.msg, 'config created');
  });
});

describe('controlHandlers (the transport adapter)', () => {
  test('parses the request JSON, dispatches, and serializes the answer', async () => {
    const { api } = await setup();
    const h = controlHandlers(api);
    const ctx = {} as Parameters<typeof h.call>[1];
    const res = await h.call({ method: 'ListNodes', requestJson: '{"filters":{"names":["node-2"]}}' }, ctx);
    assert.deepEqual((JSON.parse(res.responseJson) as { nodes: Node[] }).nodes.map((n) => n.id), ['w1']);
    const empty = await h.call({ method: 'ListClusters', requestJson: '' }, ctx);
    assert.equal((JSON.parse(empty.responseJson) as { clusters: unknown[] }).clusters.length, 1);
  });

  test('refuses malformed and oversized request JSON', async () => {
    const { api } = await setup();
    const h = controlHandlers(api);
    const ctx = {} as Parameters<typeof h.call>[1];
    await rejects(h.call({ method: 'ListNodes', requestJson: '{nope' }, ctx), InvalidArgumentError, /^request: not valid JSON/);
    await rejects(h.call({ method: 'ListNodes', requestJson: `"${'é'.repeat(MAX_CONTROL_REQUEST_BYTES / 2)}"` }, ctx), InvalidArgumentError, /^request: larger than 2097152 bytes$/);
    await rejects(h.call({ method: 'ListNodes', requestJson: '[1]' }, ctx), InvalidArgumentError, 'request: must be an object');
  });
});
