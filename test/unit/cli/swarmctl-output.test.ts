import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeAvailability, NodeRole, NodeStatusState, TaskState, UpdateState, type Node, type Service } from '../../../src/host/api/index.js';
import { IDS, redisService, redisTask, seedCluster } from './swarmctl-fixtures.js';

// Expected outputs copied verbatim from the seed README (swarmkit-README.md), trailing spaces trimmed.
const README_CLUSTER_INSPECT = `ID          : 87d2ecpg12dfonxp3g562fru1
Name        : default
Orchestration settings:
  Task history entries: 5
Dispatcher settings:
  Dispatcher heartbeat period: 5s
Certificate Authority settings:
  Certificate Validity Duration: 2160h0m0s
  Join Tokens:
    Worker: SWMTKN-1-3vi7ajem0jed8guusgvyl98nfg18ibg4pclify6wzac6ucrhg3-0117z3s2ytr6egmmnlr6gd37n
    Manager: SWMTKN-1-3vi7ajem0jed8guusgvyl98nfg18ibg4pclify6wzac6ucrhg3-d1ohk84br3ph0njyexw0wdagx
`;
const README_NODE_LS = `ID                         Name    Membership  Status  Availability  Manager Status
--                         ----    ----------  ------  ------------  --------------
3x12fpoi36eujbdkgdnbvbi6r  node-2  ACCEPTED    READY   ACTIVE
4spl3tyipofoa2iwqgabsdcve  node-1  ACCEPTED    READY   ACTIVE        REACHABLE *
dknwk1uqxhnyyujq66ho0h54t  node-3  ACCEPTED    READY   ACTIVE
zw3rwfawdasdewfq66ho34eaw  node-4  ACCEPTED    READY   ACTIVE        REACHABLE
`;
const README_SERVICE_LS = `ID                         Name   Image        Replicas
--                         ----   -----        --------
08ecg7vc7cbf9k57qs722n2le  redis  redis:3.0.5  1/1
`;
const README_SERVICE_INSPECT_UPDATED = `ID                   : 08ecg7vc7cbf9k57qs722n2le
Name                 : redis
Replicas             : 6/6
Update Status
 State               : COMPLETED
 Started             : 3 minutes ago
 Completed           : 1 minute ago
 Message             : update completed
Template
 Container
  Image              : redis:3.0.6

Task ID                      Service    Slot    Image          Desired State    Last State              Node
-------                      -------    ----    -----          -------------    ----------              ----
0udsjss61lmwz52pke5hd107g    redis      1       redis:3.0.6    RUNNING          RUNNING 1 minute ago    node-3
b8o394v840thk10tamfqlwztb    redis      2       redis:3.0.6    RUNNING          RUNNING 1 minute ago    node-1
efw7j66xqpoj3cn3zjkdrwff7    redis      3       redis:3.0.6    RUNNING          RUNNING 1 minute ago    node-3
8ajeipzvxucs3776e4z8gemey    redis      4       redis:3.0.6    RUNNING          RUNNING 1 minute ago    node-2
f05f2lbqzk9fh4kstwpulygvu    redis      5       redis:3.0.6    RUNNING          RUNNING 1 minute ago    node-2
7sbpoy82deq7hu3q9cnucfin6    redis      6       redis:3.0.6    RUNNING          RUNNING 1 minute ago    node-1
`;
const README_NODE_LS_DRAINED = `ID                         Name    Membership  Status  Availability  Manager Status
--                         ----    ----------  ------  ------------  --------------
3x12fpoi36eujbdkgdnbvbi6r  node-2  ACCEPTED    READY   ACTIVE
4spl3tyipofoa2iwqgabsdcve  node-1  ACCEPTED    READY   DRAIN         REACHABLE *
dknwk1uqxhnyyujq66ho0h54t  node-3  ACCEPTED    READY   ACTIVE
`;
const README_SERVICE_INSPECT_DRAINED = `ID                   : 08ecg7vc7cbf9k57qs722n2le
Name                 : redis
Replicas             : 6/6
Update Status
 State               : COMPLETED
 Started             : 2 minutes ago
 Completed           : 1 minute ago
 Message             : update completed
Template
 Container
  Image              : redis:3.0.7

Task ID                      Service    Slot    Image          Desired State    Last State                Node
-------                      -------    ----    -----          -------------    ----------                ----
8uy2fy8dqbwmlvw5iya802tj0    redis      1       redis:3.0.7    RUNNING          RUNNING 23 seconds ago    node-2
7h9lgvidypcr7q1k3lfgohb42    redis      2       redis:3.0.7    RUNNING          RUNNING 2 minutes ago     node-3
ae4dl0chk3gtwm1100t5yeged    redis      3       redis:3.0.7    RUNNING          RUNNING 23 seconds ago    node-3
9fz7fxbg0igypstwliyameobs    redis      4       redis:3.0.7    RUNNING          RUNNING 2 minutes ago     node-3
drzndxnjz3c8iujdewzaplgr6    redis      5       redis:3.0.7    RUNNING          RUNNING 23 seconds ago    node-2
7rcgciqhs4239quraw7evttyf    redis      6       redis:3.0.7    RUNNING          RUNNING 2 minutes ago     node-2
`;

const MIN = 60_000;

describe('swarmctl output in the seed README formats', () => {
  test('cluster inspect default', async () => {
    const { run } = await seedCluster();
    const r = await run('cluster', 'inspect', 'default');
    assert.equal(r.err, '');
    assert.equal(r.code, 0);
    assert.equal(r.out, README_CLUSTER_INSPECT);
  });

  test('node ls: membership, status, availability, manager status with the leader starred', async () => {
    const { run } = await seedCluster();
    const r = await run('node', 'ls');
    assert.equal(r.out, README_NODE_LS);
  });

  test('node drain then node ls shows DRAIN', async () => {
    const { run } = await seedCluster({ withNode4: false });
    const d = await run('node', 'drain', 'node-1');
    assert.equal(d.code, 0);
    assert.equal(d.out, '');
    assert.equal((await run('node', 'ls')).out, README_NODE_LS_DRAINED);
  });

  test('service ls: running/desired replicas', async () => {
    const { run, store, clock } = await seedCluster();
    await store.update((tx) => {
      tx.create('services', redisService('redis:3.0.5', 1));
      tx.create('tasks', redisTask('0xk1ir8wr85lbs8sqg0ug03vr', 1, IDS.node1, 'redis:3.0.5', clock.t - MIN));
    });
    assert.equal((await run('service', 'ls')).out, README_SERVICE_LS);
  });

  test('service inspect after an update: Update Status block and task table', async () => {
    const { run, store, clock } = await seedCluster();
    const now = clock.t;
    await store.update((tx) => {
      const s: Service = redisService('redis:3.0.6', 6);
      s.updateStatus = { state: UpdateState.COMPLETED, startedAt: now - 3 * MIN, completedAt: now - MIN, message: 'update completed' };
      tx.create('services', s);
      const rows: [string, number, string][] = [
        ['0udsjss61lmwz52pke5hd107g', 1, IDS.node3],
        ['b8o394v840thk10tamfqlwztb', 2, IDS.node1],
        ['efw7j66xqpoj3cn3zjkdrwff7', 3, IDS.node3],
        ['8ajeipzvxucs3776e4z8gemey', 4, IDS.node2],
        ['f05f2lbqzk9fh4kstwpulygvu', 5, IDS.node2],
        ['7sbpoy82deq7hu3q9cnucfin6', 6, IDS.node1],
      ];
      for (const [id, slot, node] of rows) tx.create('tasks', redisTask(id, slot, node, 'redis:3.0.6', now - MIN));
      // A superseded task of slot 1: hidden without -a.
      const old = redisTask('0xk1ir8wr85lbs8sqg0ug03vr', 1, IDS.node1, 'redis:3.0.5', now - 4 * MIN);
      old.desiredState = TaskState.SHUTDOWN;
      old.status.state = TaskState.SHUTDOWN;
      tx.create('tasks', old);
    });
    const r = await run('service', 'inspect', 'redis');
    assert.equal(r.out, README_SERVICE_INSPECT_UPDATED);
    const all = await run('service', 'inspect', 'redis', '-a');
    assert.match(all.out, /0xk1ir8wr85lbs8sqg0ug03vr    redis      1       redis:3.0.5    SHUTDOWN         SHUTDOWN 4 minutes ago    node-1/);
  });

  test('service inspect after draining node-1: tasks moved, replicas counted on live nodes', async () => {
    const { run, store, clock } = await seedCluster({ withNode4: false });
    const now = clock.t;
    await store.update((tx) => {
      const s: Service = redisService('redis:3.0.7', 6);
      s.updateStatus = { state: UpdateState.COMPLETED, startedAt: now - 2 * MIN, completedAt: now - MIN, message: 'update completed' };
      tx.create('services', s);
      const rows: [string, number, string, number][] = [
        ['8uy2fy8dqbwmlvw5iya802tj0', 1, IDS.node2, 23_000],
        ['7h9lgvidypcr7q1k3lfgohb42', 2, IDS.node3, 2 * MIN],
        ['ae4dl0chk3gtwm1100t5yeged', 3, IDS.node3, 23_000],
        ['9fz7fxbg0igypstwliyameobs', 4, IDS.node3, 2 * MIN],
        ['drzndxnjz3c8iujdewzaplgr6', 5, IDS.node2, 23_000],
        ['7rcgciqhs4239quraw7evttyf', 6, IDS.node2, 2 * MIN],
      ];
      for (const [id, slot, node, age] of rows) tx.create('tasks', redisTask(id, slot, node, 'redis:3.0.7', now - age));
      const n1 = structuredClone(tx.get('nodes', IDS.node1)!) as Node;
      n1.spec.availability = NodeAvailability.DRAIN;
      tx.update('nodes', n1);
    });
    assert.equal((await run('service', 'inspect', 'redis')).out, README_SERVICE_INSPECT_DRAINED);
  });
});

describe('swarmctl tables and blocks beyond the README examples', () => {
  test('service ls counts only RUNNING tasks on nodes that are not DOWN; global services show "global"', async () => {
    const { run, store, clock } = await seedCluster();
    await store.update((tx) => {
      tx.create('services', redisService('redis:3.0.5', 3));
      tx.create('tasks', redisTask('t1', 1, IDS.node2, 'redis:3.0.5', clock.t));
      tx.create('tasks', redisTask('t2', 2, IDS.node3, 'redis:3.0.5', clock.t));
      const n3 = structuredClone(tx.get('nodes', IDS.node3)!) as Node;
      n3.status.state = NodeStatusState.DOWN;
      tx.update('nodes', n3);
      const g = redisService('nginx', 1);
      g.id = 'g000000000000000000000001';
      g.spec.annotations.name = 'edge';
      g.spec.mode = { global: {} };
      tx.create('services', g);
    });
    assert.equal(
      (await run('service', 'ls')).out,
      [
        'ID                         Name   Image        Replicas',
        '--                         ----   -----        --------',
        '08ecg7vc7cbf9k57qs722n2le  redis  redis:3.0.5  1/3',
        'g000000000000000000000001  edge   nginx        global',
        '',
      ].join('\n'),
    );
    assert.equal((await run('service', 'ls', '-q')).out, `${IDS.redis}\ng000000000000000000000001\n`);
  });

  test('node ls shows UNKNOWN for a promoted node without manager status, and -q lists ids', async () => {
    const { run, store } = await seedCluster({ withNode4: false });
    await store.update((tx) => {
      const n = structuredClone(tx.get('nodes', IDS.node2)!) as Node;
      n.spec.desiredRole = NodeRole.MANAGER;
      tx.update('nodes', n);
    });
    assert.match((await run('node', 'ls')).out, /3x12fpoi36eujbdkgdnbvbi6r  node-2  ACCEPTED    READY   ACTIVE        UNKNOWN\n/);
    assert.equal((await run('node', 'ls', '-q')).out, `${IDS.node2}\n${IDS.node1}\n${IDS.node3}\n`);
  });

  test('task ls: service.slot, desired and last state with age, node name; -a includes shut-down tasks', async () => {
    const { run, store, clock } = await seedCluster();
    await store.update((tx) => {
      tx.create('services', redisService('redis:3.0.5', 2));
      tx.create('tasks', redisTask('aaaa', 1, IDS.node1, 'redis:3.0.5', clock.t - 28_000));
      tx.create('tasks', redisTask('bbbb', 2, IDS.node2, 'redis:3.0.5', clock.t - 3 * MIN));
      const old = redisTask('cccc', 2, IDS.node3, 'redis:3.0.5', clock.t - 10 * MIN);
      old.desiredState = TaskState.SHUTDOWN;
      old.status.state = TaskState.FAILED;
      tx.create('tasks', old);
    });
    assert.equal(
      (await run('task', 'ls')).out,
      [
        'ID    Service  Desired State  Last State              Node',
        '--    -------  -------------  ----------              ----',
        'aaaa  redis.1  RUNNING        RUNNING 28 seconds ago  node-1',
        'bbbb  redis.2  RUNNING        RUNNING 3 minutes ago   node-2',
        '',
      ].join('\n'),
    );
    assert.match((await run('task', 'ls', '-a')).out, /cccc  redis\.2  SHUTDOWN       FAILED 10 minutes ago   node-3/);
  });

  test('task inspect: status block, node, spec, and the other tasks of the slot as parents', async () => {
    const { run, store, clock } = await seedCluster();
    await store.update((tx) => {
      tx.create('services', redisService('redis:3.0.5', 1));
      const cur = redisTask('newtask', 1, IDS.node2, 'redis:3.0.5', clock.t - 5_000);
      cur.status.message = 'started';
      tx.create('tasks', cur);
      const old = redisTask('oldtask', 1, IDS.node3, 'redis:3.0.5', clock.t - 2 * MIN);
      old.desiredState = TaskState.SHUTDOWN;
      old.status = { ...old.status, state: TaskState.FAILED, err: 'exit 1', container: { containerId: 'c1', pid: 0, exitCode: 1 } };
      tx.create('tasks', old);
    });
    const r = await run('task', 'inspect', 'newtask');
    assert.equal(
      r.out,
      [
        'ID                    : newtask',
        'Slot                  : 1',
        'Service               : redis',
        'Status',
        ' Desired State        : RUNNING',
        ' Last State           : RUNNING',
        ` Timestamp            : ${new Date(clock.t - 5_000).toISOString()}`,
        ' Message              : started',
        'Node                  : node-2',
        'Spec',
        ' Container',
        '  Image               : redis:3.0.5',
        '',
        '===> Task Parents',
        'Task ID    Service    Slot    Image          Desired State    Last State              Node',
        '-------    -------    ----    -----          -------------    ----------              ----',
        'oldtask    redis      1       redis:3.0.5    SHUTDOWN         FAILED 2 minutes ago    node-3',
        '',
      ].join('\n'),
    );
    const o = await run('task', 'inspect', 'oldtask');
    assert.match(o.out, / Error                : exit 1\n ContainerID          : c1\n ExitCode             : 1\n/);
  });

  test('node inspect: status, manager status with leader, platform, resources, engine, then its tasks', async () => {
    const { run, store, clock } = await seedCluster();
    await store.update((tx) => {
      tx.create('services', redisService('redis:3.0.5', 1));
      tx.create('tasks', redisTask('t1', 1, IDS.node1, 'redis:3.0.5', clock.t - 28_000));
    });
    const r = await run('node', 'inspect', 'node-1');
    assert.equal(
      r.out,
      [
        'ID                       : 4spl3tyipofoa2iwqgabsdcve',
        'Hostname                 : node-1',
        'Status',
        ' State                   : READY',
        ' Availability            : ACTIVE',
        ' Address                 : 10.0.0.1',
        'Manager status',
        ' Address                 : 127.0.0.1:4242',
        ' Raft Status             : REACHABLE',
        ' Leader                  : yes',
        'Platform',
        ' Operating System        : linux',
        ' Architecture            : x86_64',
        'Resources',
        ' CPUs                    : 2',
        ' Memory                  : 4GiB',
        'Engine Version           : 20.10',
        'Engine Labels',
        '  zone                   : a',
        '',
        'Task ID    Service    Slot    Image          Desired State    Last State                Node',
        '-------    -------    ----    -----          -------------    ----------                ----',
        't1         redis      1       redis:3.0.5    RUNNING          RUNNING 28 seconds ago    node-1',
        '',
      ].join('\n'),
    );
  });

  test('service inspect shows only the template parts that are set: command, args, env, resources, placement, restart', async () => {
    const { run } = await seedCluster();
    await run(
      'service', 'create', '--name', 'api', '--image', 'busybox', '--replicas', '0', '--label', 'tier=web',
      '--command', 'sleep', '--args', '3600', '--env', 'A=1', '--cpu-reservation', '0.5', '--memory-limit', '512m',
      '--constraint', 'node.role==worker', '--replicas-max-per-node', '2', '--restart-condition', 'on-failure', '--restart-delay', '10s',
    );
    const r = await run('service', 'inspect', 'api');
    assert.equal(r.err, '');
    const block = r.out.split('\n\n')[0];
    assert.equal(
      block + '\n',
      [
        `ID                             : ${/^ID\s+: (\w+)/.exec(r.out)![1]}`,
        'Name                           : api',
        'Labels',
        ' tier                          : web',
        'Replicas                       : 0/0',
        'Template',
        ' Container',
        '  Image                        : busybox',
        '  Command                      : sleep',
        '  Args                         : [3600]',
        '  Env                          : [A=1]',
        ' Resources',
        '  Reservations',
        '   CPU                         : 0.5',
        '  Limits',
        '   Memory                      : 512MiB',
        ' Placement',
        '  Constraints                  : [node.role==worker]',
        '  Max Replicas Per Node        : 2',
        ' Restart Policy',
        '  Condition                    : on-failure',
        '  Delay                        : 10s',
        '',
      ].join('\n'),
    );
  });

  test('cluster ls and config ls tables', async () => {
    const { run, clock } = await seedCluster();
    assert.equal((await run('cluster', 'ls')).out, 'ID                         Name\n--                         ----\n87d2ecpg12dfonxp3g562fru1  default\n');
    const id = (await run('config', 'create', 'app.conf', '-f', '/etc/app.conf')).out.trim();
    clock.t += 2 * MIN;
    assert.equal((await run('config', 'ls')).out, `ID                         Name      Created\n--                         ----      -------\n${id}  app.conf  2 minutes ago\n`);
    assert.equal(
      (await run('config', 'inspect', 'app.conf')).out,
      `ID             : ${id}\nName           : app.conf\nCreated        : 2 minutes ago\nSize           : 25\n`,
    );
  });

  test('--format json prints the API objects', async () => {
    const { run } = await seedCluster();
    const nodes = JSON.parse((await run('node', 'ls', '--format', 'json')).out) as Node[];
    assert.equal(nodes.length, 4);
    const c = JSON.parse((await run('cluster', 'inspect', 'default', '--format', 'json')).out) as { rootCA: { caKey: string } };
    assert.equal(c.rootCA.caKey, '');
    const bad = await run('node', 'ls', '--format', 'yaml');
    assert.equal(bad.code, 255);
    assert.equal(bad.err, 'Error: --format: only "json" is supported (got "yaml")\n');
  });
});
