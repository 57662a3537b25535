/**
 * Operability end to end with real swarmhost processes (process executor): the Prometheus endpoint scraped
 * over HTTP, JSON logs carrying the node id, `swarmctl service logs` reading task output from a manager and
 * from a worker (through their log servers), `--detach=false` waiting for convergence and failing on timeout.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Cluster, Node } from '../../src/host/api/objects.js';
import { NodeStatusState } from '../../src/host/api/objects.js';
import { GrpcControlClient } from '../../src/host/cli/control-client.js';
import { EXIT_NOT_CONVERGED, runSwarmctl } from '../../src/host/cli/swarmctl.js';
import { NodeProc, freePort, teardown, tempDir, waitFor, startNode } from '../support/procs.js';

const procs: NodeProc[] = [];
const dirs: string[] = [];
let m1: NodeProc;
let w2: NodeProc;
let metricsPort = 0;

function newNode(name: string, extra: string[], join?: { addr: string; token: string }): Promise<NodeProc> {
  return startNode(procs, dirs, name, { extraArgs: ['--executor', 'process', ...extra], ...(join ? { join } : {}) });
}

async function swarmctl(argv: string[], opts: { signal?: AbortSignal; onOut?: (all: string) => void } = {}): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runSwarmctl(['-s', m1.socket, ...argv], {
    out: (s) => {
      out += s;
      opts.onOut?.(out);
    },
    err: (s) => (err += s),
    now: () => Date.now(),
    env: {},
    connect: (p) => new GrpcControlClient(p, 15_000),
    readStdin: async () => '',
    readFile: () => '',
    isTTY: false,
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  return { code, out, err };
}

async function scrape(): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { signal: AbortSignal.timeout(5_000) });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
  return res.text();
}

/** The value of one sample (`name{labels} value`), or undefined. */
function sample(text: string, name: string, labels = ''): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-z_:]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    if (labels !== '' && !(m[2] ?? '').includes(labels)) continue;
    return Number(m[3]);
  }
  return undefined;
}

before(async () => {
  metricsPort = await freePort();
  m1 = await newNode('node-1', ['--listen-metrics', `127.0.0.1:${metricsPort}`]);
  await m1.waitLog(/agent started/, 30_000);
  const cluster = await waitFor('cluster', 10_000, async () => (await m1.control<{ clusters: Cluster[] }>('ListClusters').catch(() => undefined))?.clusters[0]);
  await m1.control('UpdateCluster', {
    clusterId: cluster.id,
    clusterVersion: cluster.meta.version,
    spec: { ...cluster.spec, dispatcher: { heartbeatPeriodMs: 1_000 } },
  });
  w2 = await newNode('node-2', [], { addr: m1.addr, token: cluster.rootCA.joinTokens.worker });
  await waitFor('2 READY nodes', 30_000, async () => {
    const { nodes } = await m1.control<{ nodes: Node[] }>('ListNodes');
    return nodes.filter((n) => n.status.state === NodeStatusState.READY).length === 2 ? true : undefined;
  }, 200);
});

after(async () => {
  await teardown(procs, dirs);
});

test('service create --detach=false waits for every slot to run and ends with "Service converged"', async () => {
  const r = await swarmctl([
    'service', 'create', '--name', 'echo', '--image', 'process', '--replicas', '2', '--replicas-max-per-node', '1',
    '--command', 'sh', '--command', '-c', '--command', 'echo "hello from $$"; echo "to stderr" >&2; sleep 600',
    '--detach=false', '--timeout', '60s',
  ]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^[a-z0-9]{25}\n/);
  assert.match(r.out, /overall progress: 2 out of 2 tasks/);
  assert.match(r.out, /^1\/2: running$/m);
  assert.match(r.out, /^2\/2: running$/m);
  assert.match(r.out, /verify: Service converged\n$/);
  assert.doesNotMatch(r.out, /\x1b\[/, 'no terminal escapes when not on a TTY');
});

test('--detach=false exits 3 when the service cannot converge before --timeout', async () => {
  const r = await swarmctl([
    'service', 'create', '--name', 'nowhere', '--image', 'process', '--command', 'sleep', '--command', '600',
    '--constraint', 'node.labels.zone==mars', '--detach=false', '--timeout', '2s',
  ]);
  assert.equal(r.code, EXIT_NOT_CONVERGED, r.out + r.err);
  assert.match(r.out, /1\/1: pending/);
  assert.match(r.err, /did not converge within 2s \(0 of 1 tasks running\)/);
});

test('service logs prints every task\'s output prefixed <service>.<slot>@<node>, from the manager and the worker', async () => {
  const r = await waitFor('logs of both tasks', 20_000, async () => {
    const x = await swarmctl(['service', 'logs', 'echo']);
    return /@node-1❯ hello from/.test(x.out) && /@node-2❯ hello from/.test(x.out) ? x : undefined;
  }, 300);
  assert.equal(r.code, 0, r.err);
  const lines = r.out.trimEnd().split('\n');
  for (const l of lines) assert.match(l, /^echo\.[12]@node-[12]❯ (hello from \d+|to stderr)$/);
  assert.equal(lines.filter((l) => l.includes('to stderr')).length, 2, 'stderr lines are shown too');
  assert.equal(lines.length, 4, 'each line once');
});

test('service logs -f prints lines written after it started, then stops when interrupted', async () => {
  const svc = await swarmctl([
    'service', 'create', '--name', 'ticker', '--image', 'process', '--replicas', '1',
    '--command', 'sh', '--command', '-c', '--command', 'i=0; while true; do i=$((i+1)); echo "tick $i"; sleep 0.2; done',
    '--detach=false', '--timeout', '60s',
  ]);
  assert.equal(svc.code, 0, svc.err);
  const ac = new AbortController();
  const bound = setTimeout(() => ac.abort(), 20_000);
  const r = await swarmctl(['service', 'logs', '-f', 'ticker'], {
    signal: ac.signal,
    onOut: (all) => {
      if (/tick 15\n/.test(all)) ac.abort();
    },
  });
  clearTimeout(bound);
  assert.equal(r.code, 0, r.err);
  const ticks = r.out.trimEnd().split('\n').map((l) => {
    const m = /^ticker\.1@node-[12]❯ tick (\d+)$/.exec(l);
    assert.ok(m, `unexpected line ${JSON.stringify(l)}`);
    return Number(m[1]);
  });
  assert.ok(ticks.includes(15), 'follow saw output written after the first call');
  assert.deepEqual(ticks, ticks.map((_, i) => ticks[0]! + i), 'in order, each line once');
});

test('service update --replicas --detach=false converges with the tasks already running plus the new one', async () => {
  const r = await swarmctl(['service', 'update', 'ticker', '--replicas', '2', '--detach=false', '--timeout', '60s']);
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.out, /^2\/2: running$/m);
  assert.match(r.out, /verify: Service converged\n$/);
});

test('GET /metrics on a running swarmhost reports raft, store, tasks, scheduler, dispatcher and plugins', async () => {
  const text = await waitFor('heartbeats and running tasks in metrics', 15_000, async () => {
    const t = await scrape();
    return (sample(t, 'swarmhost_dispatcher_heartbeats_total') ?? 0) > 0 && (sample(t, 'swarmhost_tasks', 'state="running"') ?? 0) >= 4 ? t : undefined;
  }, 300);
  assert.equal(sample(text, 'swarmhost_raft_leader'), 1);
  assert.ok((sample(text, 'swarmhost_raft_term') ?? 0) >= 1);
  const commit = sample(text, 'swarmhost_raft_commit_index') ?? 0;
  assert.ok(commit > 0 && (sample(text, 'swarmhost_raft_applied_index') ?? 0) <= commit);
  assert.ok((sample(text, 'swarmhost_raft_proposals_total') ?? 0) > 0);
  assert.equal(sample(text, 'swarmhost_store_objects', 'table="services"'), 3);
  assert.equal(sample(text, 'swarmhost_store_objects', 'table="nodes"'), 2);
  assert.equal(sample(text, 'swarmhost_tasks', 'state="pending"'), 1, 'the unplaceable task');
  assert.ok((sample(text, 'swarmhost_scheduler_decisions_total', 'result="assigned"') ?? 0) >= 4);
  assert.ok((sample(text, 'swarmhost_scheduler_decisions_total', 'result="unplaceable"') ?? 0) >= 1);
  assert.ok((sample(text, 'swarmhost_scheduler_pass_duration_seconds_count') ?? 0) >= 1);
  assert.equal(sample(text, 'swarmhost_dispatcher_sessions'), 2);
  assert.equal(sample(text, 'swarmhost_plugin_info', 'kind="executor",name="process"'), 1);
  assert.equal(sample(text, 'swarmhost_plugin_info', 'kind="orchestrator",name="replicated"'), 1);
  assert.ok(sample(text, 'swarmhost_process_resident_memory_bytes') !== undefined, 'process metrics too');
  const notFound = await fetch(`http://127.0.0.1:${metricsPort}/other`, { signal: AbortSignal.timeout(5_000) });
  assert.equal(notFound.status, 404);
});

test('every JSON log line after the identity is known carries the writer\'s node id as node.id', async () => {
  const { nodes } = await m1.control<{ nodes: Node[] }>('ListNodes');
  for (const p of [m1, w2]) {
    const id = nodes.find((n) => n.description?.hostname === p.o.name)!.id;
    const json = p.lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    const from = json.findIndex((r) => r.msg === 'node identity');
    assert.ok(from >= 0, `${p.o.name} logged its identity`);
    const after = json.slice(from);
    assert.ok(after.length > 3);
    for (const r of after) assert.equal(r['node.id'], id, `${p.o.name}: ${JSON.stringify(r)}`);
  }
});

test('swarmhost --log-format rejects anything but text or json', async () => {
  const dir = await tempDir('swarmhost-badfmt-');
  dirs.push(dir);
  const p = new NodeProc({ name: 'bad', stateDir: dir, port: await freePort(), extraArgs: ['--log-format', 'yaml'] });
  procs.push(p);
  p.start();
  assert.equal(await p.waitExit(15_000), 2);
  assert.ok(p.lines.some((l) => /--log-format must be text or json, got "yaml"/.test(l)));
});
