import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Controller, Executor, LogLine } from '../../../src/host/agent/index.js';
import { NodeRole, TaskState, type Task } from '../../../src/host/api/objects.js';
import { bootstrapClusterCA, generateKeyAndCsr } from '../../../src/host/ca/index.js';
import { RealTimers, cryptoRng } from '../../../src/host/env/index.js';
import { silentLogger } from '../../../src/host/node/logger.js';
import { instrumentExecutor } from '../../../src/host/node/executor-hooks.js';
import { TaskLogServer, fetchNodeLogs, readTaskLogs } from '../../../src/host/node/task-logs.js';
import { taskObject } from '../controlapi/fixtures.js';

/** An executor whose tasks print fixed lines (in the order a real executor yields them: stdout, then stderr). */
function fakeExecutor(lines: LogLine[], failing = new Set<string>()): Executor {
  const controller = (): Controller =>
    ({
      async prepare() {
        if (failing.has('prepare')) throw new Error('boom');
      },
      async start() {},
      async *logs() {
        for (const l of lines) yield l;
      },
    }) as unknown as Controller;
  return {
    name: 'fake',
    describe: async () => ({ hostname: 'h', platform: { os: 'linux', architecture: 'x86_64' }, resources: { nanoCpus: 1, memoryBytes: 1 }, engine: { engineVersion: '1', labels: { a: 'b' }, plugins: [] } }),
    controller,
    recover: async () => controller(),
    close: async () => {},
  };
}

const out = (line: string): LogLine => ({ stream: 'stdout', line, time: 0 });
const err = (line: string): LogLine => ({ stream: 'stderr', line, time: 0 });
const task: Task = taskObject('t1', 's1', 1, 'n1', TaskState.RUNNING);

test('reads the lines after a per-stream cursor, so stdout and stderr advance independently', async () => {
  const ex = fakeExecutor([out('o1'), out('o2'), out('o3'), err('e1'), err('e2')]);
  const signal = new AbortController().signal;
  const all = await readTaskLogs(ex, { task, skip: { stdout: 0, stderr: 0 }, maxLines: 1000 }, signal);
  assert.deepEqual(all.lines.map((l) => l.line), ['o1', 'o2', 'o3', 'e1', 'e2']);
  assert.equal(all.more, false);
  const after = await readTaskLogs(ex, { task, skip: { stdout: 2, stderr: 1 }, maxLines: 1000 }, signal);
  assert.deepEqual(after.lines.map((l) => l.line), ['o3', 'e2']);
});

test('stops at maxLines and says more are waiting', async () => {
  const ex = fakeExecutor([out('o1'), out('o2'), out('o3')]);
  const r = await readTaskLogs(ex, { task, skip: { stdout: 0, stderr: 0 }, maxLines: 2 }, new AbortController().signal);
  assert.deepEqual(r.lines.map((l) => l.line), ['o1', 'o2']);
  assert.equal(r.more, true);
});

test('an executor without logs() is refused with a typed error', async () => {
  const ex = fakeExecutor([]);
  const bare: Executor = { ...ex, controller: () => ({}) as Controller };
  await assert.rejects(readTaskLogs(bare, { task, skip: { stdout: 0, stderr: 0 }, maxLines: 10 }, new AbortController().signal), /executor fake cannot read task logs/);
});

test('the instrumented executor adds engine labels and reports rejected controller calls', async () => {
  const ops: string[] = [];
  const ex = instrumentExecutor(fakeExecutor([], new Set(['prepare'])), { extraLabels: () => ({ 'swarmhost.logs-addr': '127.0.0.1:1' }), onFailure: (op) => ops.push(op) });
  assert.equal(ex.name, 'fake');
  assert.deepEqual((await ex.describe()).engine.labels, { a: 'b', 'swarmhost.logs-addr': '127.0.0.1:1' });
  const c = ex.controller(task);
  await assert.rejects(c.prepare(), /boom/);
  await c.start();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(ops, ['prepare']);
});

// ------------------------------------------------------------------ the log server over real mutual TLS


const DAY_MS = 24 * 3600 * 1000;

function cluster(clusterId: string) {
  const env = { clock: new RealTimers(), rng: cryptoRng };
  const b = bootstrapClusterCA(env, { clusterId, nodeId: 'manager1', expiryMs: 90 * DAY_MS });
  const issue = (nodeId: string, role: NodeRole) => {
    const { keyPem, csrPem } = generateKeyAndCsr();
    return { certPem: b.signer.issueNodeCertificate(csrPem, { nodeId, role, clusterId, expiryMs: 90 * DAY_MS }), keyPem, rootPem: b.root.certPem };
  };
  return { manager: b.node, issue };
}

test('the log server answers a manager of its cluster and refuses workers and wrong node ids', async () => {
  const c = cluster('clusterA');
  const workerMat = c.issue('worker1', NodeRole.WORKER);
  const srv = new TaskLogServer({ executor: fakeExecutor([out('hi'), err('oops')]), material: () => workerMat, listen: '127.0.0.1:0', logger: silentLogger });
  await srv.start();
  try {
    const req = { task, skip: { stdout: 0, stderr: 0 }, maxLines: 100 };
    const res = await fetchNodeLogs(srv.addr, 'worker1', c.manager, req);
    assert.deepEqual(res.lines.map((l) => `${l.stream}:${l.line}`), ['stdout:hi', 'stderr:oops']);
    // Another worker may not read logs.
    await assert.rejects(fetchNodeLogs(srv.addr, 'worker1', c.issue('worker2', NodeRole.WORKER), req), /only managers of this cluster/);
    // The leader checks that the server is the node the task is on.
    await assert.rejects(fetchNodeLogs(srv.addr, 'worker9', c.manager, req), /is node worker1, not worker9/);
    // A manager of another cluster (another root) fails the TLS handshake.
    await assert.rejects(fetchNodeLogs(srv.addr, 'worker1', cluster('clusterB').manager, req));
    // Bad requests are named.
    await assert.rejects(fetchNodeLogs(srv.addr, 'worker1', c.manager, { ...req, maxLines: 0 }), /maxLines must be 1..1000/);
  } finally {
    await srv.stop();
  }
});
