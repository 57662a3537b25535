import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  NodeAvailability,
  NodeRole,
  NodeStatusState,
  RestartCondition,
  TaskState,
  UpdateFailureAction,
  UpdateOrder,
  type Cluster,
  type Node,
  type Service,
} from '../../../src/host/api/index.js';
import { IDS, WORKER_TOKEN, redisService, redisTask, seedCluster } from './swarmctl-fixtures.js';

type Env = Awaited<ReturnType<typeof seedCluster>>;

function service(env: Env, name: string): Service {
  return env.store.view((tx) => tx.list('services').find((s) => s.spec.annotations.name === name)!) as Service;
}
function nodeById(env: Env, id: string): Node {
  return env.store.view((tx) => tx.get('nodes', id)!) as Node;
}

describe('swarmctl connection and errors', () => {
  test('uses -s/--socket over SWARM_SOCKET, and SWARM_SOCKET when -s is absent', async () => {
    const env = await seedCluster();
    await env.run('-s', '/tmp/explicit.sock', 'cluster', 'ls');
    await env.run('cluster', 'ls');
    assert.deepEqual(env.sockets, ['/tmp/explicit.sock', '/tmp/from-env.sock']);
    assert.equal(env.client.closed, 2);
  });

  test('an API error prints "Error: <message>" and exits 255', async () => {
    const env = await seedCluster();
    const r = await env.run('service', 'inspect', 'nothere');
    assert.deepEqual(r, { code: 255, out: '', err: 'Error: service nothere not found\n' });
  });

  test('a usage error exits 1 without calling the API', async () => {
    const env = await seedCluster();
    const r = await env.run('node', 'frobnicate');
    assert.equal(r.code, 1);
    assert.match(r.err, /unknown command 'frobnicate'/);
    assert.equal(env.client.calls.length, 0);
  });

  test('version prints program, package and version', async () => {
    const env = await seedCluster();
    assert.match((await env.run('version')).out, /^swarmctl swarmhost \d+\.\d+\.\d+\n$/);
  });

  test('names and id prefixes resolve; ambiguous prefixes and unknown names are refused', async () => {
    const env = await seedCluster();
    assert.equal((await env.run('node', 'inspect', '4spl')).code, 0);
    assert.equal((await env.run('node', 'inspect', IDS.node3)).code, 0);
    assert.equal((await env.run('node', 'inspect', 'node-2')).code, 0);
    await env.store.update((tx) => {
      const n = structuredClone(tx.get('nodes', IDS.node4)!) as Node;
      n.description!.hostname = 'node-2';
      tx.update('nodes', n);
    });
    assert.equal((await env.run('node', 'inspect', 'node-2')).err, 'Error: node-2 is ambiguous (2 matches found)\n');
    assert.equal((await env.run('node', 'inspect', 'zz')).err, 'Error: node zz not found\n');
    await env.store.update((tx) => {
      tx.create('tasks', redisTask('abc1', 1, IDS.node1, 'redis', 0));
      tx.create('tasks', redisTask('abc2', 2, IDS.node1, 'redis', 0));
    });
    assert.equal((await env.run('task', 'inspect', 'abc')).err, 'Error: abc is ambiguous (2 matches found)\n');
  });
});

describe('swarmctl cluster commands', () => {
  test('cluster update rotates the worker token and sets expiry, heartbeat and history', async () => {
    const env = await seedCluster();
    const r = await env.run('cluster', 'update', 'default', '--rotate-join-token', 'worker', '--certexpiry', '720h', '--heartbeatperiod', '10s', '--taskhistory', '3');
    assert.equal(r.err, '');
    assert.equal(r.out, `${IDS.cluster}\n`);
    const c = env.store.view((tx) => tx.get('clusters', IDS.cluster)!) as Cluster;
    assert.notEqual(c.rootCA.joinTokens.worker, WORKER_TOKEN);
    assert.equal(c.spec.caConfig.nodeCertExpiryMs, 720 * 3_600_000);
    assert.equal(c.spec.dispatcher.heartbeatPeriodMs, 10_000);
    assert.equal(c.spec.orchestration.taskHistoryRetentionLimit, 3);
    const inspect = (await env.run('cluster', 'inspect', 'default')).out;
    assert.match(inspect, /Certificate Validity Duration: 720h0m0s/);
    assert.match(inspect, /Dispatcher heartbeat period: 10s/);
  });

  test('cluster update refuses a certificate expiry under 30 minutes with the API message', async () => {
    const env = await seedCluster();
    const r = await env.run('cluster', 'update', 'default', '--certexpiry', '20m');
    assert.equal(r.code, 255);
    assert.match(r.err, /^Error: minimum certificate expiry time is: 30m0s/);
  });

  test('cluster update refuses an unknown token role', async () => {
    const env = await seedCluster();
    assert.equal((await env.run('cluster', 'update', 'default', '--rotate-join-token', 'boss')).err, 'Error: --rotate-join-token: must be worker or manager (got "boss")\n');
  });
});

describe('swarmctl node commands', () => {
  const cases: { cmd: string; prepare?: (n: Node) => void; error: string; check?: (n: Node) => boolean }[] = [
    { cmd: 'activate', error: 'Node node-2 is already active' },
    { cmd: 'pause', prepare: (n) => (n.spec.availability = NodeAvailability.PAUSE), error: 'Node node-2 was already paused' },
    { cmd: 'drain', prepare: (n) => (n.spec.availability = NodeAvailability.DRAIN), error: 'Node node-2 was already drained' },
    { cmd: 'promote', prepare: (n) => (n.spec.desiredRole = NodeRole.MANAGER), error: 'Node node-2 is already a manager' },
    { cmd: 'demote', error: 'Node node-2 is already a worker' },
  ];
  for (const c of cases) {
    test(`node ${c.cmd} on a node already there: "${c.error}"`, async () => {
      const env = await seedCluster();
      if (c.prepare) {
        await env.store.update((tx) => {
          const n = structuredClone(tx.get('nodes', IDS.node2)!) as Node;
          c.prepare!(n);
          tx.update('nodes', n);
        });
      }
      const r = await env.run('node', c.cmd, 'node-2');
      assert.deepEqual(r, { code: 255, out: '', err: `Error: ${c.error}\n` });
    });
  }

  test('node pause, drain, activate and promote change the spec', async () => {
    const env = await seedCluster();
    await env.run('node', 'pause', 'node-2');
    assert.equal(nodeById(env, IDS.node2).spec.availability, NodeAvailability.PAUSE);
    await env.run('node', 'drain', 'node-2');
    assert.equal(nodeById(env, IDS.node2).spec.availability, NodeAvailability.DRAIN);
    await env.run('node', 'activate', 'node-2');
    assert.equal(nodeById(env, IDS.node2).spec.availability, NodeAvailability.ACTIVE);
    await env.run('node', 'promote', 'node-2');
    assert.equal(nodeById(env, IDS.node2).spec.desiredRole, NodeRole.MANAGER);
  });

  test('node demote of a manager goes through the API checks', async () => {
    const env = await seedCluster({ withNode4: false });
    const r = await env.run('node', 'demote', 'node-1');
    assert.equal(r.err, 'Error: attempting to demote the last manager of the swarm\n');
  });

  test('node update --label replaces, --label-add adds, --label-rm removes; no change is an error', async () => {
    const env = await seedCluster();
    await env.run('node', 'update', 'node-2', '--label', 'a=1', '--label', 'b=2');
    assert.deepEqual(nodeById(env, IDS.node2).spec.annotations.labels, { a: '1', b: '2' });
    await env.run('node', 'update', 'node-2', '--label-add', 'c=3', '--label-rm', 'a');
    assert.deepEqual(nodeById(env, IDS.node2).spec.annotations.labels, { b: '2', c: '3' });
    const r = await env.run('node', 'update', 'node-2', '--label-add', 'c=3');
    assert.equal(r.err, 'Error: No change for node node-2\n');
    assert.equal((await env.run('node', 'update', 'node-2', '--label-rm', 'zz')).err, 'Error: --label-rm: node node-2 has no label zz\n');
  });

  test('node rm needs --force for a READY node', async () => {
    const env = await seedCluster();
    assert.equal((await env.run('node', 'rm', 'node-2')).err, `Error: node ${IDS.node2} is not down and can't be removed\n`);
    assert.equal((await env.run('node', 'rm', '-f', 'node-2')).code, 0);
    assert.equal(env.store.view((tx) => tx.get('nodes', IDS.node2)), undefined);
  });

  test('node rm of a raft member tells to demote first', async () => {
    const env = await seedCluster();
    await env.store.update((tx) => {
      const n = structuredClone(tx.get('nodes', IDS.node4)!) as Node;
      n.status.state = NodeStatusState.DOWN;
      tx.update('nodes', n);
    });
    assert.match((await env.run('node', 'remove', 'node-4')).err, /is a cluster manager and is a member of the raft cluster\. It must be demoted to worker before removal/);
  });
});

describe('swarmctl service commands', () => {
  test('service create builds the spec from the flags and prints the id', async () => {
    const env = await seedCluster();
    const r = await env.run(
      'service', 'create', '--name', 'web', '--image', 'nginx:1.25', '--replicas', '3', '--env', 'A=1', '--env', 'B=2',
      '--command', 'nginx', '--args', '-g', '--args', 'daemon off;', '--label', 'tier=front', '--constraint', 'node.role==worker',
      '--cpu-reservation', '0.25', '--cpu-limit', '1.5', '--memory-reservation', '64m', '--memory-limit', '1g',
      '--restart-condition', 'on-failure', '--restart-delay', '3s', '--restart-max-attempts', '4', '--restart-window', '1m',
      '--replicas-max-per-node', '2', '--update-parallelism', '2', '--update-delay', '10s', '--update-on-failure', 'rollback',
      '--update-order', 'start-first', '--rollback-parallelism', '1',
    );
    assert.equal(r.err, '');
    const s = service(env, 'web');
    assert.equal(r.out, `${s.id}\n`);
    assert.deepEqual(s.spec.mode, { replicated: { replicas: 3 } });
    const c = s.spec.task.container;
    assert.deepEqual([c.image, c.command, c.args, c.env], ['nginx:1.25', ['nginx'], ['-g', 'daemon off;'], ['A=1', 'B=2']]);
    assert.deepEqual(s.spec.annotations.labels, { tier: 'front' });
    assert.deepEqual(s.spec.task.resources, {
      reservations: { nanoCpus: 250_000_000, memoryBytes: 64 * 1024 ** 2 },
      limits: { nanoCpus: 1_500_000_000, memoryBytes: 1024 ** 3 },
    });
    assert.deepEqual(s.spec.task.restart, { condition: RestartCondition.ON_FAILURE, delayMs: 3000, maxAttempts: 4, windowMs: 60_000 });
    assert.equal(s.spec.task.placement.maxReplicas, 2);
    assert.deepEqual(s.spec.task.placement.constraints, ['node.role==worker']);
    assert.deepEqual(s.spec.update, { parallelism: 2, delayMs: 10_000, failureAction: UpdateFailureAction.ROLLBACK, monitorMs: 5000, maxFailureRatio: 0, order: UpdateOrder.START_FIRST });
    assert.equal(s.spec.rollback!.parallelism, 1);
  });

  test('an update flag alone gives a lockstep config (parallelism 0) with that flag set', async () => {
    const env = await seedCluster();
    await env.run('service', 'create', '--name', 'web', '--image', 'nginx', '--update-delay', '5s');
    assert.deepEqual(service(env, 'web').spec.update, { parallelism: 0, delayMs: 5000, failureAction: 0, monitorMs: 5000, maxFailureRatio: 0, order: 0 });
  });

  test('service create --mode global and replicated-job', async () => {
    const env = await seedCluster();
    await env.run('service', 'create', '--name', 'g', '--image', 'nginx', '--mode', 'global');
    assert.deepEqual(service(env, 'g').spec.mode, { global: {} });
    await env.run('service', 'create', '--name', 'j', '--image', 'busybox', '--mode', 'replicated-job', '--total-completions', '5', '--max-concurrent', '2');
    assert.deepEqual(service(env, 'j').spec.mode, { replicatedJob: { totalCompletions: 5, maxConcurrent: 2 } });
    assert.equal((await env.run('service', 'create', '--name', 'x', '--image', 'nginx', '--mode', 'global', '--replicas', '2')).err, 'Error: --replicas: only for replicated mode\n');
  });

  test('service create needs --name and --image; the API validates the rest', async () => {
    const env = await seedCluster();
    assert.equal((await env.run('service', 'create', '--image', 'nginx')).err, 'Error: --name is required\n');
    assert.equal((await env.run('service', 'create', '--name', 'x')).err, 'Error: --image is required\n');
    assert.equal((await env.run('service', 'create', '--name', 'bad name', '--image', 'nginx')).err, 'Error: name must be valid as a DNS name component\n');
    assert.equal((await env.run('service', 'create', '--name', 'x', '--image', 'nginx', '--cpu-limit', '0.1234567891')).err, 'Error: --cpu-limit: "0.1234567891" has more than 9 decimals\n');
    assert.equal((await env.run('service', 'create', '--name', 'x', '--image', 'nginx', '--restart-condition', 'sometimes')).err, 'Error: --restart-condition: must be any, on-failure or none (got "sometimes")\n');
  });

  test('service update applies only the given flags, keeps update options, and says "no changes detected"', async () => {
    const env = await seedCluster();
    await env.run('service', 'create', '--name', 'redis', '--image', 'redis:3.0.5', '--update-parallelism', '2');
    const before = service(env, 'redis');
    const r = await env.run('service', 'update', 'redis', '--replicas', '6');
    assert.equal(r.out, `${before.id}\n`);
    const after = service(env, 'redis');
    assert.deepEqual(after.spec.mode, { replicated: { replicas: 6 } });
    assert.equal(after.spec.task.container.image, 'redis:3.0.5');
    assert.equal(after.spec.update!.parallelism, 2);
    assert.deepEqual(after.previousSpec!.mode, { replicated: { replicas: 1 } });
    const same = await env.run('service', 'update', 'redis', '--replicas', '6');
    assert.deepEqual(same, { code: 255, out: '', err: 'Error: no changes detected\n' });
  });

  test('service update --force bumps force_update even without other changes', async () => {
    const env = await seedCluster();
    await env.run('service', 'create', '--name', 'redis', '--image', 'redis:3.0.5');
    assert.equal((await env.run('service', 'update', 'redis', '--force')).code, 0);
    assert.equal(service(env, 'redis').spec.task.forceUpdate, 1);
  });

  test('service rollback returns to the previous spec; without one the API refuses', async () => {
    const env = await seedCluster();
    await env.run('service', 'create', '--name', 'redis', '--image', 'redis:3.0.5');
    const id = service(env, 'redis').id;
    assert.equal((await env.run('service', 'rollback', 'redis')).err, `Error: service ${id} does not have a previous spec\n`);
    await env.run('service', 'update', 'redis', '--image', 'redis:3.0.6');
    assert.equal((await env.run('service', 'rollback', 'redis')).code, 0);
    const s = service(env, 'redis');
    assert.equal(s.spec.task.container.image, 'redis:3.0.5');
    assert.equal(s.updateStatus!.message, 'manually requested rollback');
    assert.match((await env.run('service', 'inspect', 'redis')).out, /Update Status\n State +: ROLLBACK_STARTED\n Started +: now\n Message +: manually requested rollback\n/);
  });

  test('service rm removes each named service and prints its id', async () => {
    const env = await seedCluster();
    await env.run('service', 'create', '--name', 'a', '--image', 'nginx');
    await env.run('service', 'create', '--name', 'b', '--image', 'nginx');
    const ids = [service(env, 'a').id, service(env, 'b').id];
    assert.equal((await env.run('service', 'rm', 'a', 'b')).out, ids.map((i) => i + '\n').join(''));
    assert.equal(env.store.view((tx) => tx.list('services').length), 0);
  });
});

describe('swarmctl task and config commands', () => {
  test('-n/--no-resolve shows node ids instead of names', async () => {
    const env = await seedCluster();
    await env.store.update((tx) => tx.create('tasks', redisTask('t1', 1, IDS.node1, 'redis', 0)));
    assert.match((await env.run('task', 'ls')).out, /t1  redis\.1  RUNNING .* node-1\n/);
    assert.match((await env.run('-n', 'task', 'ls')).out, new RegExp(`t1  redis\\.1  RUNNING .* ${IDS.node1}\\n`));
  });

  test('task rm deletes the task record', async () => {
    const env = await seedCluster();
    await env.store.update((tx) => {
      tx.create('services', redisService('redis', 1));
      tx.create('tasks', redisTask('t1', 1, IDS.node1, 'redis', 0));
    });
    assert.equal((await env.run('task', 'rm', 't1')).out, 't1\n');
    assert.equal(env.store.view((tx) => tx.get('tasks', 't1')), undefined);
  });

  test('task ls hides tasks desired past RUNNING unless -a; -q lists ids', async () => {
    const env = await seedCluster();
    await env.store.update((tx) => {
      tx.create('tasks', redisTask('live', 1, IDS.node1, 'redis', 0));
      tx.create('tasks', { ...redisTask('gone', 1, IDS.node1, 'redis', 0), desiredState: TaskState.SHUTDOWN });
    });
    assert.equal((await env.run('task', 'ls', '-q')).out, 'live\n');
    assert.equal((await env.run('task', 'ls', '-q', '-a')).out.split('\n').filter(Boolean).sort().join(','), 'gone,live');
  });

  test('config create reads --file or stdin; duplicates are refused; rm deletes', async () => {
    const env = await seedCluster();
    const a = (await env.run('config', 'create', 'a', '--file', '/x')).out.trim();
    const b = (await env.run('config', 'create', 'b')).out.trim();
    const data = env.store.view((tx) => [tx.get('configs', a)!.spec.data, tx.get('configs', b)!.spec.data]);
    assert.deepEqual(data, ['contents of /x', 'from stdin']);
    assert.equal((await env.run('config', 'create', 'a')).err, 'Error: config a already exists\n');
    assert.equal((await env.run('config', 'rm', 'a')).out, `${a}\n`);
    assert.equal((await env.run('config', 'ls', '-q')).out, `${b}\n`);
  });
});
