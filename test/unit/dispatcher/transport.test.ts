import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeRole, NodeStatusState, TaskState } from '../../../src/host/api/objects.js';
import { PermissionDeniedError } from '../../../src/host/api/errors.js';
import { Agent, TransportDispatcherClient } from '../../../src/host/agent/index.js';
import { DEFAULT_NODE_CERT_EXPIRY_MS, RootCertificateAuthority, createRootCA, generateKeyAndCsr } from '../../../src/host/ca/index.js';
import { Dispatcher, DispatcherProxy } from '../../../src/host/dispatcher/index.js';
import { RealTimers, SeededRng, cryptoRng, realClock } from '../../../src/host/env/index.js';
import { createLocalStore, type Store } from '../../../src/host/store/index.js';
import { SWARM_MAX_MESSAGE_BYTES, ServerTlsIdentity, TransportClient, TransportServer, type ClientTls } from '../../../src/host/transport/index.js';
import { SimExecutor } from '../../../src/plugins/executors/index.js';
import { eventually, makeTask } from '../../support/tasks.js';
import { CLUSTER_ID, RecordingLogger, makeCluster, makeNode } from './fixtures.js';

/** A fresh root CA and a function issuing node certificates of the test cluster under it (as TLS material). */
function testIssuer(): (nodeId: string, role: NodeRole) => { rootCaPem: Buffer; certPem: Buffer; keyPem: Buffer } {
  const ca = new RootCertificateAuthority(createRootCA({ clock: realClock, rng: cryptoRng }), { clock: realClock, rng: cryptoRng });
  return (nodeId, role) => {
    const { keyPem, csrPem } = generateKeyAndCsr();
    const certPem = ca.issueNodeCertificate(csrPem, { nodeId, role, clusterId: CLUSTER_ID, expiryMs: DEFAULT_NODE_CERT_EXPIRY_MS });
    return { rootCaPem: Buffer.from(ca.certPem), certPem: Buffer.from(certPem), keyPem: Buffer.from(keyPem) };
  };
}

/** A leader's dispatcher over `store`, served on 127.0.0.1 over mutual TLS as manager `managernode1`. */
async function serveDispatcher(
  store: Store,
  timers: RealTimers,
  issue: ReturnType<typeof testIssuer>,
  maxMessageBytes?: number,
): Promise<{ dispatcher: Dispatcher; server: TransportServer; port: number }> {
  const dispatcher = new Dispatcher({
    store,
    timers,
    rng: cryptoRng,
    clusterId: CLUSTER_ID,
    managerList: () => [{ nodeId: 'managernode1', addr: '127.0.0.1:0', weight: 10 }],
    logger: new RecordingLogger(),
  });
  const server = new TransportServer({
    security: { kind: 'mtls', identity: new ServerTlsIdentity(issue('managernode1', NodeRole.MANAGER)), clusterId: CLUSTER_ID, isRemoved: () => false },
    logger: new RecordingLogger(),
    timers,
    ...(maxMessageBytes !== undefined ? { maxMessageBytes } : {}),
  });
  server.addDispatcher(dispatcher);
  const port = await server.listen('127.0.0.1:0');
  dispatcher.start();
  return { dispatcher, server, port };
}

/** Agent `workernode1` (sim executor, fresh state dir) dialling 127.0.0.1:`port` with its own worker certificate. */
async function workerAgent(
  port: number,
  timers: RealTimers,
  issue: ReturnType<typeof testIssuer>,
  hostname: string,
): Promise<{ agent: Agent; client: TransportDispatcherClient; stateDir: string }> {
  const stateDir = await mkdtemp(join(tmpdir(), `swarmhost-agent-${hostname}-`));
  const worker: ClientTls = { kind: 'verify', ...issue('workernode1', NodeRole.WORKER) };
  const client = new TransportDispatcherClient(`127.0.0.1:${port}`, { tls: worker, timers });
  const agent = new Agent({
    nodeId: 'workernode1',
    executor: new SimExecutor({ timers, hostname }),
    timers,
    rng: cryptoRng,
    stateDir,
    dispatcher: client,
    logger: new RecordingLogger(),
  });
  return { agent, client, stateDir };
}

/** A local store (seeded ids) holding the cluster with `heartbeatPeriodMs` and a READY worker per id, on real timers. */
async function storeWithNodes(seed: number, heartbeatPeriodMs: number, nodeIds: string[]): Promise<{ timers: RealTimers; store: Store }> {
  const timers = new RealTimers();
  const { store } = createLocalStore({ clock: timers, rng: new SeededRng(seed) });
  await store.update((tx) => {
    tx.create('clusters', makeCluster(heartbeatPeriodMs));
    for (const id of nodeIds) tx.create('nodes', makeNode(id));
  });
  return { timers, store };
}

test('over mutual TLS on 127.0.0.1: session, heartbeats and status reports reach the store', async () => {
  const issue = testIssuer();
  const { timers, store } = await storeWithNodes(3, 300, ['workernode1', 'workernode2']);
  const { dispatcher, server, port } = await serveDispatcher(store, timers, issue);
  const { agent, client, stateDir } = await workerAgent(port, timers, issue, 'tls-worker');
  try {
    await agent.start();
    await eventually(() => store.view((tx) => tx.get('nodes', 'workernode1')!.status.state) === NodeStatusState.READY, 10_000, 'node READY');
    const node = store.view((tx) => tx.get('nodes', 'workernode1')!);
    assert.deepEqual([node.status.addr, node.description?.hostname], ['127.0.0.1', 'tls-worker']);
    const task = makeTask({}, { nodeId: 'workernode1' });
    await store.update((tx) => tx.create('tasks', task));
    await eventually(() => store.view((tx) => tx.get('tasks', task.id)?.status.state) === TaskState.RUNNING, 10_000, 'task RUNNING');
    // Heartbeats every ~300 ms keep the node READY well past 3 periods.
    await new Promise((r) => setTimeout(r, 1_500));
    assert.equal(store.view((tx) => tx.get('nodes', 'workernode1')!.status.state), NodeStatusState.READY);
    assert.equal(agent.sessionsOpened, 1);
    // Another worker's certificate cannot report this node's task.
    const other = new TransportDispatcherClient(`127.0.0.1:${port}`, { tls: { kind: 'verify', ...issue('workernode2', NodeRole.WORKER) }, timers });
    const ac = new AbortController();
    const it = other.session({ descriptionJson: '{"hostname":"w2"}', sessionId: '' }, ac.signal)[Symbol.asyncIterator]();
    const first = await it.next();
    assert.equal(first.done, false);
    await assert.rejects(
      other.updateTaskStatus({ sessionId: first.value!.sessionId, updates: [{ taskId: task.id, statusJson: JSON.stringify({ ...task.status, state: TaskState.FAILED, timestamp: 1 }) }] }, ac.signal),
      (e: unknown) => e instanceof PermissionDeniedError && e.message === 'cannot update a task not assigned this node',
    );
    ac.abort();
    other.close();
  } finally {
    await agent.stop();
    dispatcher.stop();
    client.close();
    await server.close();
    timers.clearAll();
    await rm(stateDir, { recursive: true, force: true });
  }
});

test('a follower manager forwards an agent to the leader: the node registers with its own address and its task runs', async () => {
  const issue = testIssuer();
  const { timers, store } = await storeWithNodes(4, 1_000, ['workernode1']);
  const logger = new RecordingLogger();
  const dispatcher = new Dispatcher({ store, timers, rng: cryptoRng, clusterId: CLUSTER_ID, managerList: () => [], logger });
  const security = (nodeId: string) => ({ kind: 'mtls' as const, identity: new ServerTlsIdentity(issue(nodeId, NodeRole.MANAGER)), clusterId: CLUSTER_ID, isRemoved: () => false });
  const leaderServer = new TransportServer({ security: security('leadermgr'), logger, timers });
  leaderServer.addDispatcher(dispatcher);
  const leaderPort = await leaderServer.listen('127.0.0.1:0');
  dispatcher.start();
  const toLeader = new TransportClient(`127.0.0.1:${leaderPort}`, { tls: { kind: 'verify', ...issue('followermgr', NodeRole.MANAGER) }, timers });
  const followerServer = new TransportServer({ security: security('followermgr'), logger, timers });
  followerServer.addDispatcher(new DispatcherProxy(() => toLeader));
  const followerPort = await followerServer.listen('127.0.0.1:0');
  const stateDir = await mkdtemp(join(tmpdir(), 'swarmhost-agent-proxy-'));
  const client = new TransportDispatcherClient(`127.0.0.1:${followerPort}`, { tls: { kind: 'verify', ...issue('workernode1', NodeRole.WORKER) }, timers });
  const agent = new Agent({ nodeId: 'workernode1', executor: new SimExecutor({ timers }), timers, rng: cryptoRng, stateDir, dispatcher: client, logger: new RecordingLogger() });
  try {
    await agent.start();
    await eventually(() => store.view((tx) => tx.get('nodes', 'workernode1')!.status.state) === NodeStatusState.READY, 10_000, 'node READY through the follower');
    assert.equal(store.view((tx) => tx.get('nodes', 'workernode1')!.status.addr), '127.0.0.1');
    const task = makeTask({}, { nodeId: 'workernode1' });
    await store.update((tx) => tx.create('tasks', task));
    await eventually(() => store.view((tx) => tx.get('tasks', task.id)?.status.state) === TaskState.RUNNING, 10_000, 'task RUNNING');
    assert.equal(dispatcher.sessionCount, 1);
  } finally {
    await agent.stop();
    dispatcher.stop();
    client.close();
    toLeader.close();
    await followerServer.close();
    await leaderServer.close();
    timers.clearAll();
    await rm(stateDir, { recursive: true, force: true });
  }
});

test('a node whose assignment set is larger than 4 MiB still gets it (remote API and agent allow 128 MiB, as managers do)', async () => {
  const issue = testIssuer();
  const { timers, store } = await storeWithNodes(4, 300, ['workernode1']);
  // 400 tasks with 12 KiB of environment each: a COMPLETE set of about 5 MiB.
  const env = [`BIG=${'x'.repeat(12 * 1024)}`];
  await store.batch((b) => {
    for (let i = 0; i < 400; i++) b.update((tx) => void tx.create('tasks', makeTask({ env }, { id: `bigtask${String(i).padStart(4, '0')}`, nodeId: 'workernode1', slot: i + 1 })));
  });
  const { dispatcher, server, port } = await serveDispatcher(store, timers, issue, SWARM_MAX_MESSAGE_BYTES);
  const { agent, client, stateDir } = await workerAgent(port, timers, issue, 'big-worker');
  try {
    await agent.start();
    await eventually(
      () => store.view((tx) => tx.find('tasks', { nodeId: 'workernode1' }).filter((t) => t.status.state === TaskState.RUNNING).length) === 400,
      30_000,
      '400 tasks RUNNING',
      100,
    );
    assert.equal(agent.sessionsOpened, 1, 'one session: the large set did not break it');
  } finally {
    await agent.stop();
    dispatcher.stop();
    client.close();
    await server.close();
    timers.clearAll();
    await rm(stateDir, { recursive: true, force: true });
  }
});
