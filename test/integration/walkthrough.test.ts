/**
 * Issues 6 and 8 end to end: the seed README's "Usage Examples" session with real swarmhost processes in place
 * of swarmd and the real `bin/swarmctl.mjs` (a child process, `-s <socket>`), checked on its printed output.
 * Node-1 starts a cluster; the join tokens are read from `swarmctl cluster inspect default`; node-2 and node-3
 * join as workers and node-4 as a manager; a service is created, scaled 1 → 6, updated in lockstep, updated two
 * slots at a time with a delay (observed: never more than two slots updating at once, the delay kept between
 * a slot's new task running and the next slot's start), and node-1 is drained. It runs for the process executor
 * (the "image" is only recorded, so image changes show in the task spec: proc:1 → proc:2 → proc:3) and for the
 * Docker executor (the local test image under three tags). Then, on the process-executor cluster: the failure
 * actions pause and rollback, `service rollback`, "no changes detected" and a stale version refused.
 *
 * Set WALKTHROUGH_OUTPUT=<file> to save the swarmctl session as markdown (docs/walkthrough-output.md is made
 * this way) and WALKTHROUGH_LOGS=<dir> to keep every node's log lines. With CI set and no Docker engine, the Docker variant fails; it never skips in CI.
 */
import { after, before, describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { appendFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import Docker from 'dockerode';
import { dockerGate } from '../support/docker.js';
import type { Service, Task } from '../../src/host/api/objects.js';
import { TaskState, UpdateState } from '../../src/host/api/objects.js';
import { LABEL_SERVICE_ID } from '../../src/plugins/executors/docker/index.js';
import { NodeProc, freePort, teardown, tempDir, waitFor } from '../support/procs.js';

const ROOT = resolve(import.meta.dirname, '../..');
const SWARMCTL = join(ROOT, 'bin/swarmctl.mjs');
/** Longest one swarmctl invocation may take, ms (tsx start-up included). */
const SWARMCTL_TIMEOUT_MS = 30_000;
/** Clock skew tolerated between a manager's and an agent's timestamps (same machine, same clock), ms. */
const CLOCK_SLACK_MS = 50;
const OUTPUT = process.env.WALKTHROUGH_OUTPUT;

/** The result of one swarmctl run. */
interface CtlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real swarmctl against a socket; never throws on a non-zero exit. */
function swarmctlRaw(socket: string, args: string[]): Promise<CtlResult> {
  return new Promise((res) => {
    execFile(process.execPath, [SWARMCTL, '-s', socket, ...args], { cwd: ROOT, timeout: SWARMCTL_TIMEOUT_MS, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      res({ code, stdout, stderr });
    });
  });
}

/** Records a command and its output for docs/walkthrough-output.md. */
async function record(title: string | undefined, args: string[], out: string): Promise<void> {
  if (!OUTPUT) return;
  const head = title ? `\n${title}\n\n` : '';
  await appendFile(OUTPUT, `${head}\`\`\`\n$ swarmctl ${args.map((a) => (/[\s"]/.test(a) ? `'${a}'` : a)).join(' ')}\n${out}\`\`\`\n`);
}

/** One variant of the walkthrough: which executor and how a task is specified for it. */
interface Variant {
  executor: 'process' | 'docker';
  images: [string, string, string];
  /** swarmctl flags that give the task its command. */
  commandFlags: string[];
}

/** The columns of swarmctl's task table rows (by the header), per row. */
function taskRows(table: string): Record<string, string>[] {
  const lines = table.split('\n');
  const h = lines.findIndex((l) => l.startsWith('Task ID'));
  if (h < 0) return [];
  const header = lines[h]!;
  const names = ['Task ID', 'Service', 'Slot', 'Image', 'Desired State', 'Last State', 'Node'];
  const starts = names.map((n) => header.indexOf(n));
  const rows: Record<string, string>[] = [];
  for (const l of lines.slice(h + 2)) {
    if (l.trim() === '') break;
    const r: Record<string, string> = {};
    names.forEach((n, i) => {
      r[n] = l.slice(starts[i]!, i + 1 < names.length ? starts[i + 1]! : undefined).trim();
    });
    rows.push(r);
  }
  return rows;
}

/** `key : value` lines of an inspect output. */
function keyValue(text: string, key: string): string | undefined {
  const re = new RegExp(`^\\s*${key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*: (.*)$`, 'm');
  return re.exec(text)?.[1]?.trim();
}

/** Rows of a plain table (header, dashes, rows), split on runs of two or more spaces. */
function tableRows(text: string): string[][] {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  return lines.slice(2).map((l) => l.trim().split(/\s{2,}/));
}

/**
 * Checks a finished rolling update from the task timestamps (creation by the manager, RUNNING reported by the
 * agent): six new tasks of `image`; never more than `parallelism` slots between their new task's creation and
 * its running at any instant; and a slot started only when enough earlier slots had run and waited out the
 * delay (a worker takes its next slot `delayMs` after its previous slot's task runs: when the i-th slot starts,
 * i >= parallelism, at least i - parallelism + 1 earlier slots are past their delay).
 */
function checkRolling(tasks: Task[], image: string, parallelism: number, delayMs: number): void {
  const fresh = tasks.filter((x) => x.spec.container!.image === image && x.desiredState === TaskState.RUNNING);
  assert.equal(fresh.length, 6, 'six tasks of the new image');
  assert.ok(fresh.every((x) => x.status.state === TaskState.RUNNING));
  const spans = fresh.map((x) => ({ slot: x.slot, created: x.meta.createdAt, running: x.status.timestamp })).sort((a, b) => a.created - b.created);
  const shown = JSON.stringify(spans.map((o) => ({ slot: o.slot, created: o.created - spans[0]!.created, running: o.running - spans[0]!.created })));
  for (const s of spans) {
    const overlapping = spans.filter((o) => o.created <= s.created && o.running > s.created);
    assert.ok(overlapping.length <= parallelism, `slots ${overlapping.map((o) => o.slot).join(',')} updating at once: ${shown}`);
  }
  for (let i = parallelism; i < spans.length; i++) {
    const c = spans[i]!.created;
    const finished = spans.slice(0, i).filter((o) => o.running + delayMs <= c + CLOCK_SLACK_MS).length;
    assert.ok(finished >= i - parallelism + 1, `slot ${spans[i]!.slot} started with only ${finished} earlier slots past their delay: ${shown}`);
  }
  const total = spans.at(-1)!.created - spans[0]!.created;
  const batches = Math.ceil(spans.length / parallelism);
  assert.ok(total >= (batches - 1) * delayMs, `${batches} batches take at least ${batches - 1} delays (${total} ms): ${shown}`);
}

/** A cluster of swarmhost processes driven through swarmctl. */
class Walk {
  readonly procs: NodeProc[] = [];
  readonly dirs: string[] = [];
  m1!: NodeProc;

  constructor(readonly v: Variant) {}

  async node(name: string, join?: { token: string }): Promise<NodeProc> {
    const dir = await tempDir(`swarmhost-walk-${name}-`);
    this.dirs.push(dir);
    const p = new NodeProc({
      name,
      stateDir: dir,
      port: await freePort(),
      extraArgs: ['--executor', this.v.executor],
      ...(join ? { joinAddr: this.m1.addr, joinToken: join.token } : {}),
    });
    this.procs.push(p);
    return p.start();
  }

  /** swarmctl on node-1's socket; fails the test on a non-zero exit. */
  async ctl(args: string[], title?: string): Promise<string> {
    const r = await swarmctlRaw(this.m1.socket, args);
    assert.equal(r.code, 0, `swarmctl ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
    await record(title, args, r.stdout);
    return r.stdout;
  }

  async tasks(serviceId: string): Promise<Task[]> {
    return (await this.m1.control<{ tasks: Task[] }>('ListTasks', { filters: { serviceIds: [serviceId] } })).tasks;
  }

  async service(name: string): Promise<Service> {
    const { services } = await this.m1.control<{ services: Service[] }>('ListServices', { filters: { names: [name] } });
    assert.equal(services.length, 1, `one service named ${name}`);
    return services[0]!;
  }

  /** Running tasks desired RUNNING, one per slot. */
  async running(serviceId: string): Promise<Task[]> {
    return (await this.tasks(serviceId)).filter((t) => t.desiredState === TaskState.RUNNING && t.status.state === TaskState.RUNNING);
  }

  /** Polls `service inspect` until its Update Status State is `state`; returns the output. */
  async untilUpdateState(name: string, state: string, timeoutMs: number): Promise<string> {
    return waitFor(`${name} update status ${state}`, timeoutMs, async () => {
      const r = await swarmctlRaw(this.m1.socket, ['service', 'inspect', name]);
      return r.code === 0 && keyValue(r.stdout, 'State') === state ? r.stdout : undefined;
    }, 300);
  }
}

/** Runs the seed README's session on a fresh four-node cluster; leaves the cluster running for more tests. */
function walkthrough(v: Variant, needEngine: (t: TestContext) => boolean, onReady?: (w: Walk) => void): void {
  const w = new Walk(v);
  const [img1, img2, img3] = v.images;
  let serviceId = '';
  let tokens: { worker: string; manager: string };
  let nodeIdByName = new Map<string, string>();

  after(async () => {
    // WALKTHROUGH_LOGS=<dir>: keep each node's log lines (for a failed run).
    if (process.env.WALKTHROUGH_LOGS) {
      for (const p of w.procs) await writeFile(join(process.env.WALKTHROUGH_LOGS, `${v.executor}-${p.o.name}.log`), p.lines.join('\n') + '\n');
    }
    // Nodes first: an agent that is still up would replace containers removed under it.
    await teardown(w.procs, w.dirs);
    if (v.executor === 'docker' && serviceId !== '') {
      const docker = new Docker();
      for (const c of await docker.listContainers({ all: true, filters: { label: [`${LABEL_SERVICE_ID}=${serviceId}`] } }).catch(() => [])) {
        await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
      }
    }
  });

  test('node-1 starts a cluster; the join tokens come from `cluster inspect default`', async (t) => {
    if (!needEngine(t)) return;
    if (OUTPUT) await appendFile(OUTPUT, `\n## With the ${v.executor} executor\n`);
    w.m1 = await w.node('node-1');
    await w.m1.waitLog(/agent started/, 60_000);
    const out = await waitFor('cluster inspect default', 30_000, async () => {
      const r = await swarmctlRaw(w.m1.socket, ['cluster', 'inspect', 'default']);
      return r.code === 0 ? r.stdout : undefined;
    }, 300);
    await record('Before joining, fetch the join tokens:', ['cluster', 'inspect', 'default'], out);
    assert.equal(keyValue(out, 'Name'), 'default');
    const worker = /Worker: (SWMTKN-1-\S+)/.exec(out)?.[1];
    const manager = /Manager: (SWMTKN-1-\S+)/.exec(out)?.[1];
    assert.ok(worker && manager, `tokens in:\n${out}`);
    assert.match(worker, /^SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}$/);
    assert.notEqual(worker, manager);
    tokens = { worker, manager };
    // A 1 s heartbeat keeps the test quick (a drained or lost node is noticed sooner).
    await w.ctl(['cluster', 'update', 'default', '--heartbeatperiod', '1s']);
    assert.equal(keyValue(await w.ctl(['cluster', 'inspect', 'default']), 'Dispatcher heartbeat period'), '1s');
  });

  test('node-2 and node-3 join as workers, node-4 as a manager: `node ls`', async (t) => {
    if (!needEngine(t)) return;
    await w.node('node-2', { token: tokens.worker });
    await w.node('node-3', { token: tokens.worker });
    const n4 = await w.node('node-4', { token: tokens.manager });
    const out = await waitFor('4 READY nodes, node-4 a reachable manager', 90_000, async () => {
      const r = await swarmctlRaw(w.m1.socket, ['node', 'ls']);
      const rows = tableRows(r.stdout);
      const ready = rows.filter((x) => x[2] === 'READY' || x[3] === 'READY');
      return r.code === 0 && rows.length === 4 && ready.length === 4 && /node-4\s.*REACHABLE/.test(r.stdout) ? r.stdout : undefined;
    }, 500);
    await record('Four nodes: node-1 and node-4 managers, node-2 and node-3 workers:', ['node', 'ls'], out);
    const rows = tableRows(out);
    const byName = new Map(rows.map((r) => [r[1]!, r]));
    assert.deepEqual([...byName.keys()].sort(), ['node-1', 'node-2', 'node-3', 'node-4']);
    for (const r of rows) assert.deepEqual(r.slice(2, 5), ['ACCEPTED', 'READY', 'ACTIVE'], r.join(' | '));
    assert.equal(byName.get('node-1')![5], 'REACHABLE *', 'node-1 is the leader');
    assert.equal(byName.get('node-4')![5], 'REACHABLE');
    assert.equal(byName.get('node-2')![5], undefined, 'workers have no manager status');
    nodeIdByName = new Map(rows.map((r) => [r[1]!, r[0]!]));
    // node-4's own control socket answers too (a manager serves the control API).
    const r4 = await swarmctlRaw(n4.socket, ['node', 'ls']);
    assert.equal(r4.code, 0, r4.stderr);
    assert.equal(tableRows(r4.stdout).length, 4);
  });

  test('service create, service ls, service inspect', async (t) => {
    if (!needEngine(t)) return;
    const args = ['service', 'create', '--name', 'redis', '--image', img1, ...v.commandFlags];
    const created = await w.ctl(args, 'Start a service:');
    assert.match(created, /^[0-9a-z]{25}\n$/);
    serviceId = created.trim();
    const ls = await waitFor('redis 1/1', 60_000, async () => {
      const r = await swarmctlRaw(w.m1.socket, ['service', 'ls']);
      return r.code === 0 && / 1\/1\s*$/m.test(r.stdout) ? r.stdout : undefined;
    }, 300);
    await record(undefined, ['service', 'ls'], ls);
    assert.deepEqual(tableRows(ls), [[serviceId, 'redis', img1, '1/1']]);
    const insp = await w.ctl(['service', 'inspect', 'redis']);
    assert.equal(keyValue(insp, 'ID'), serviceId);
    assert.equal(keyValue(insp, 'Replicas'), '1/1');
    assert.equal(keyValue(insp, 'Image'), img1);
    const rows = taskRows(insp);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!['Slot'], '1');
    assert.equal(rows[0]!['Image'], img1);
    assert.equal(rows[0]!['Desired State'], 'RUNNING');
    assert.match(rows[0]!['Last State']!, /^RUNNING /);
  });

  test('service update --replicas 6 creates five more tasks, spread over the nodes', async (t) => {
    if (!needEngine(t)) return;
    const before = await w.running(serviceId);
    assert.equal((await w.ctl(['service', 'update', 'redis', '--replicas', '6'], 'Scale it to six replicas:')).trim(), serviceId);
    const run = await waitFor('6 running', 60_000, async () => {
      const r = await w.running(serviceId);
      return r.length === 6 ? r : undefined;
    }, 200);
    const insp = await w.ctl(['service', 'inspect', 'redis']);
    assert.equal(keyValue(insp, 'Replicas'), '6/6');
    const rows = taskRows(insp);
    assert.deepEqual(rows.map((r) => r['Slot']), ['1', '2', '3', '4', '5', '6']);
    assert.ok(rows.every((r) => r['Desired State'] === 'RUNNING' && r['Last State']!.startsWith('RUNNING') && r['Image'] === img1));
    assert.ok(run.some((x) => x.id === before[0]!.id), 'the first task keeps running (scaling does not replace it)');
    assert.ok(new Set(run.map((x) => x.nodeId)).size >= 3, 'spread over the nodes');
  });

  test('service update --image (no update options: lockstep): every task replaced, COMPLETED "update completed"', async (t) => {
    if (!needEngine(t)) return;
    const before = new Set((await w.running(serviceId)).map((x) => x.id));
    await w.ctl(['service', 'update', 'redis', '--image', img2], 'Change the image (no update options: every task at once):');
    const insp = await w.untilUpdateState('redis', 'COMPLETED', 90_000);
    await record(undefined, ['service', 'inspect', 'redis'], insp);
    assert.equal(keyValue(insp, 'Message'), 'update completed');
    assert.equal(keyValue(insp, 'Image'), img2);
    assert.ok(keyValue(insp, 'Started') && keyValue(insp, 'Completed'), 'started and completed times shown');
    const run = await w.running(serviceId);
    assert.equal(run.length, 6);
    assert.ok(run.every((x) => !before.has(x.id) && x.spec.container!.image === img2), 'all six tasks replaced by tasks of the new image');
    // Lockstep: all six new tasks were created together (one pass, not slot after slot).
    const created = run.map((x) => x.meta.createdAt);
    assert.ok(Math.max(...created) - Math.min(...created) < 1_000, `new tasks created together (spread ${Math.max(...created) - Math.min(...created)} ms)`);
    const rows = taskRows(insp);
    assert.equal(rows.length, 6);
    assert.ok(rows.every((r) => r['Image'] === img2));
  });

  test('service update --image --update-parallelism 2 --update-delay 2s: at most two slots at once, the delay kept', async (t) => {
    if (!needEngine(t)) return;
    const delayMs = 2_000;
    const parallelism = 2;
    await w.ctl(
      ['service', 'update', 'redis', '--image', img3, '--update-parallelism', String(parallelism), '--update-delay', '2s'],
      'Update two tasks at a time with a delay between them:',
    );
    // Watch: sample the task list while the update runs.
    let maxUpdating = 0;
    let samples = 0;
    const seenUpdating: string[] = [];
    const done = await waitFor('the rolling update to finish', 120_000, async () => {
      const ts = await w.tasks(serviceId);
      samples++;
      // A slot is updating from the creation of its new task until that task runs.
      const updating = ts.filter((x) => x.spec.container!.image === img3 && x.desiredState <= TaskState.RUNNING && x.status.state < TaskState.RUNNING);
      if (updating.length > maxUpdating) maxUpdating = updating.length;
      if (updating.length > 0) seenUpdating.push(updating.map((x) => x.slot).sort().join(','));
      const s = await w.service('redis');
      return s.updateStatus?.state === UpdateState.COMPLETED && s.spec.task.container!.image === img3 ? ts : undefined;
    }, 100);
    const insp = await w.ctl(['service', 'inspect', 'redis']);
    assert.equal(keyValue(insp, 'Message'), 'update completed');
    assert.ok(samples > 10, `watched the update (${samples} samples)`);
    assert.ok(maxUpdating <= parallelism, `never more than ${parallelism} slots updating at once (saw ${maxUpdating}: ${seenUpdating.join(' | ')})`);
    checkRolling(done, img3, parallelism, delayMs);
  });

  test('node drain node-1: its tasks move to the other nodes and nothing runs there afterwards', async (t) => {
    if (!needEngine(t)) return;
    const n1 = nodeIdByName.get('node-1')!;
    const onN1 = (await w.running(serviceId)).filter((x) => x.nodeId === n1);
    assert.ok(onN1.length > 0, 'node-1 runs some tasks before the drain');
    const drained = await w.ctl(['node', 'drain', 'node-1'], 'Drain node-1:');
    assert.equal(drained, '');
    const ls = await w.ctl(['node', 'ls']);
    const row = tableRows(ls).find((r) => r[1] === 'node-1')!;
    assert.equal(row[4], 'DRAIN');
    assert.equal(row[5], 'REACHABLE *');
    const run = await waitFor('6 running, none on node-1', 60_000, async () => {
      const ts = await w.tasks(serviceId);
      const r = ts.filter((x) => x.desiredState === TaskState.RUNNING && x.status.state === TaskState.RUNNING);
      const liveOnN1 = ts.filter((x) => x.nodeId === n1 && x.status.state <= TaskState.RUNNING);
      return r.length === 6 && r.every((x) => x.nodeId !== n1) && liveOnN1.length === 0 ? r : undefined;
    }, 200);
    assert.deepEqual(run.map((x) => x.slot).sort(), [1, 2, 3, 4, 5, 6]);
    assert.ok(run.every((x) => x.spec.container!.image === img3), 'moved tasks keep the current spec');
    const insp = await w.ctl(['service', 'inspect', 'redis']);
    const rows = taskRows(insp);
    assert.equal(rows.length, 6);
    assert.ok(rows.every((r) => r['Node'] !== 'node-1'), 'no task shown on node-1');
    assert.equal(keyValue(insp, 'Replicas'), '6/6');
    // Nothing comes back to node-1: a later look still finds nothing live there.
    await new Promise((r) => setTimeout(r, 2_000));
    const later = (await w.tasks(serviceId)).filter((x) => x.nodeId === n1 && x.status.state <= TaskState.RUNNING);
    assert.deepEqual(later, []);
    if (v.executor === 'docker') {
      const docker = new Docker();
      const cs = await docker.listContainers({ filters: { label: [`${LABEL_SERVICE_ID}=${serviceId}`] } });
      assert.equal(cs.length, 6, 'six containers run');
      for (const c of cs) assert.equal(c.Image, img3);
    }
    onReady?.(w);
  });
}

const PROCESS: Variant = {
  executor: 'process',
  images: ['proc:1', 'proc:2', 'proc:3'],
  commandFlags: ['--command', 'sleep', '--args', '600'],
};

const DOCKER_BASE = 'swarmhost-test/busybox';
const DOCKER: Variant = {
  executor: 'docker',
  images: [`${DOCKER_BASE}:latest`, `${DOCKER_BASE}:v2`, `${DOCKER_BASE}:v3`],
  // busybox sleep as PID 1 ignores SIGTERM: a shell that traps it stops at once.
  commandFlags: ['--command', 'sh', '--args=-c', '--args', 'trap "exit 0" TERM; while true; do sleep 1; done'],
};

before(async () => {
  if (OUTPUT) await writeFile(OUTPUT, '');
});

describe('the seed walkthrough with the process executor', () => {
  let w: Walk | undefined;
  const always = (): boolean => true;
  walkthrough(PROCESS, always, (x) => {
    w = x;
  });

  const cluster = (): Walk => {
    assert.ok(w, 'the walkthrough cluster is up');
    return w;
  };

  test('"no changes detected" when an update changes nothing', async () => {
    const r = await swarmctlRaw(cluster().m1.socket, ['service', 'update', 'redis', '--image', 'proc:3']);
    assert.equal(r.code, 255);
    assert.equal(r.stderr.trim(), 'Error: no changes detected');
  });

  test('a stale service version is refused through the control API: "update out of sequence"', async () => {
    const c = cluster();
    const s = await c.service('redis');
    const spec = structuredClone(s.spec);
    spec.annotations.labels = { touched: '1' };
    await c.m1.control('UpdateService', { serviceId: s.id, serviceVersion: s.meta.version, spec });
    const stale = structuredClone(s.spec);
    stale.annotations.labels = { touched: '2' };
    await assert.rejects(c.m1.control('UpdateService', { serviceId: s.id, serviceVersion: s.meta.version, spec: stale }), /update out of sequence/);
    assert.deepEqual((await c.service('redis')).spec.annotations.labels, { touched: '1' });
  });

  test('node drain again: "was already drained"; node activate: tasks are not moved back', async () => {
    const c = cluster();
    const again = await swarmctlRaw(c.m1.socket, ['node', 'drain', 'node-1']);
    assert.equal(again.code, 255);
    assert.equal(again.stderr.trim(), 'Error: Node node-1 was already drained');
    const s = await c.service('redis');
    const before = (await c.running(s.id)).map((x) => x.id).sort();
    assert.equal(await c.ctl(['node', 'activate', 'node-1']), '');
    const row = tableRows(await c.ctl(['node', 'ls'])).find((r) => r[1] === 'node-1')!;
    assert.equal(row[4], 'ACTIVE');
    await new Promise((r) => setTimeout(r, 2_000));
    assert.deepEqual((await c.running(s.id)).map((x) => x.id).sort(), before, 'the same six tasks keep running where they are');
  });

  test('an update that names no update options reuses the last ones set (two at a time, 2 s delay)', async () => {
    const c = cluster();
    await c.ctl(['service', 'update', 'redis', '--image', 'proc:4'], 'An update without update options reuses the last ones:');
    const s = await c.service('redis');
    assert.equal(s.spec.update?.parallelism, 2);
    assert.equal(s.spec.update?.delayMs, 2_000);
    const done = await waitFor('the rolling update to finish', 120_000, async () => {
      const x = await c.service('redis');
      return x.updateStatus?.state === UpdateState.COMPLETED && x.spec.task.container!.image === 'proc:4' ? c.tasks(s.id) : undefined;
    }, 200);
    checkRolling(done, 'proc:4', 2, 2_000);
  });

  test('service rollback: the previous spec comes back, ROLLBACK_COMPLETED "rollback completed"', async () => {
    const c = cluster();
    const rolled = await c.ctl(['service', 'rollback', 'redis'], 'Roll back to the previous spec:');
    assert.match(rolled, /^[0-9a-z]{25}\n$/);
    const s = await c.service('redis');
    assert.equal(s.spec.task.container!.image, 'proc:3');
    assert.equal(s.previousSpec?.task.container!.image, 'proc:4', 'spec and previous spec swapped');
    const insp = await c.untilUpdateState('redis', 'ROLLBACK_COMPLETED', 60_000);
    await record(undefined, ['service', 'inspect', 'redis'], insp);
    assert.equal(keyValue(insp, 'Message'), 'rollback completed');
    const run = await c.running(s.id);
    assert.equal(run.length, 6);
    assert.ok(run.every((x) => x.spec.container!.image === 'proc:3'));
  });

  test('--update-order start-first: each new task runs before its old one is stopped (never fewer than 6 running)', async () => {
    const c = cluster();
    const s = await c.service('redis');
    const replaced = new Set((await c.running(s.id)).map((x) => x.id));
    assert.equal(replaced.size, 6);
    await c.ctl(['service', 'update', 'redis', '--image', 'proc:5', '--update-order', 'start-first', '--update-parallelism', '1', '--update-delay', '0s']);
    let minRunning = Number.POSITIVE_INFINITY;
    const done = await waitFor('the start-first update to finish', 120_000, async () => {
      const ts = await c.tasks(s.id);
      minRunning = Math.min(minRunning, ts.filter((x) => x.status.state === TaskState.RUNNING).length);
      const x = await c.service('redis');
      return x.updateStatus?.state === UpdateState.COMPLETED && x.spec.task.container!.image === 'proc:5' ? ts : undefined;
    }, 100);
    assert.ok(minRunning >= 6, `never fewer than 6 running (saw ${minRunning})`);
    const fresh = done.filter((x) => x.spec.container!.image === 'proc:5' && x.desiredState === TaskState.RUNNING);
    assert.equal(fresh.length, 6);
    for (const n of fresh) {
      const olds = done.filter((x) => x.slot === n.slot && replaced.has(x.id));
      assert.equal(olds.length, 1, `slot ${n.slot}: one task replaced`);
      for (const o of olds) {
        assert.ok(o.status.state >= TaskState.SHUTDOWN, 'the old task stopped');
        assert.ok(o.status.timestamp + CLOCK_SLACK_MS >= n.status.timestamp, `slot ${n.slot}: old task stopped after the new one ran`);
      }
    }
  });

  test('an update whose new tasks fail, with --update-on-failure pause: PAUSED with SwarmKit message', async () => {
    const c = cluster();
    const id = (await c.ctl(['service', 'create', '--name', 'fragile', '--image', 'proc:1', '--replicas', '3', '--command', 'sleep', '--args', '600'])).trim();
    await waitFor('fragile 3 running', 60_000, async () => ((await c.running(id)).length === 3 ? true : undefined), 200);
    await c.ctl([
      'service', 'update', 'fragile', '--image', 'proc:2', '--command', 'sh', '--args=-c', '--args', 'exit 1',
      '--update-parallelism', '1', '--update-on-failure', 'pause', '--update-monitor', '2s',
    ]);
    const insp = await c.untilUpdateState('fragile', 'PAUSED', 60_000);
    await record('An update whose new task fails pauses:', ['service', 'inspect', 'fragile'], insp);
    const msg = keyValue(insp, 'Message')!;
    const m = /^update paused due to failure or early termination of task ([0-9a-z]{25})$/.exec(msg);
    assert.ok(m, msg);
    const ts = await c.tasks(id);
    const failed = ts.find((x) => x.id === m[1])!;
    assert.ok(failed, 'the message names a task of the service');
    assert.equal(failed.spec.container!.image, 'proc:2');
    // Paused after the first slot: the other two slots still run the old spec.
    const old = (await c.running(id)).filter((x) => x.spec.container!.image === 'proc:1');
    assert.equal(old.length, 2, 'two slots were not touched');
    // A new update resets the paused status and runs to completion.
    await c.ctl(['service', 'update', 'fragile', '--image', 'proc:3', '--command', 'sleep', '--args', '600']);
    const resumed = await c.untilUpdateState('fragile', 'COMPLETED', 90_000);
    assert.equal(keyValue(resumed, 'Message'), 'update completed');
    const run = await waitFor('3 running proc:3', 30_000, async () => {
      const r = await c.running(id);
      return r.length === 3 && r.every((x) => x.spec.container!.image === 'proc:3') ? r : undefined;
    }, 200);
    assert.equal(run.length, 3);
    await c.ctl(['service', 'rm', 'fragile']);
  });

  test('an update whose new tasks fail, with --update-on-failure rollback: the previous spec comes back', async () => {
    const c = cluster();
    const id = (await c.ctl(['service', 'create', '--name', 'fallback', '--image', 'proc:1', '--replicas', '3', '--command', 'sleep', '--args', '600'])).trim();
    await waitFor('fallback 3 running', 60_000, async () => ((await c.running(id)).length === 3 ? true : undefined), 200);
    await c.ctl([
      'service', 'update', 'fallback', '--image', 'proc:2', '--command', 'sh', '--args=-c', '--args', 'exit 1',
      '--update-parallelism', '1', '--update-on-failure', 'rollback', '--update-monitor', '2s',
    ]);
    const insp = await c.untilUpdateState('fallback', 'ROLLBACK_COMPLETED', 90_000);
    await record('An update whose new task fails rolls back with --update-on-failure rollback:', ['service', 'inspect', 'fallback'], insp);
    assert.equal(keyValue(insp, 'Message'), 'rollback completed');
    assert.equal(keyValue(insp, 'Image'), 'proc:1');
    const s = await c.service('fallback');
    assert.deepEqual(s.spec.task.container!.command, ['sleep']);
    const run = await waitFor('3 running the old spec', 60_000, async () => {
      const r = await c.running(id);
      return r.length === 3 && r.every((x) => x.spec.container!.image === 'proc:1') ? r : undefined;
    }, 200);
    assert.equal(run.length, 3);
    await c.ctl(['service', 'rm', 'fallback']);
  });

  test('a new update while one runs supersedes it: no more tasks of the superseded spec', async () => {
    const c = cluster();
    const id = (await c.ctl(['service', 'create', '--name', 'busy', '--image', 'proc:1', '--replicas', '3', '--command', 'sleep', '--args', '600'])).trim();
    await waitFor('busy 3 running', 60_000, async () => ((await c.running(id)).length === 3 ? true : undefined), 200);
    await c.ctl(['service', 'update', 'busy', '--image', 'proc:2', '--update-parallelism', '1', '--update-delay', '3s']);
    await waitFor('the first slot on proc:2', 30_000, async () => ((await c.running(id)).some((x) => x.spec.container!.image === 'proc:2') ? true : undefined), 100);
    await c.ctl(['service', 'update', 'busy', '--image', 'proc:3', '--update-parallelism', '0']);
    const supersededAt = Date.now();
    await c.untilUpdateState('busy', 'COMPLETED', 60_000);
    const ts = await c.tasks(id);
    const run = ts.filter((x) => x.desiredState === TaskState.RUNNING && x.status.state === TaskState.RUNNING);
    assert.equal(run.length, 3);
    assert.ok(run.every((x) => x.spec.container!.image === 'proc:3'), 'every slot on the newest spec');
    const late = ts.filter((x) => x.spec.container!.image === 'proc:2' && x.meta.createdAt > supersededAt + CLOCK_SLACK_MS);
    assert.deepEqual(late.map((x) => x.slot), [], 'no task of the superseded spec created after the new update');
    await c.ctl(['service', 'rm', 'busy']);
  });

  test('a rollback whose tasks fail pauses: ROLLBACK_PAUSED "rollback paused due to failure or early termination of task <id>"', async () => {
    const c = cluster();
    const id = (await c.ctl(['service', 'create', '--name', 'brittle', '--image', 'proc:1', '--replicas', '2', '--command', 'false'])).trim();
    await waitFor('a failed task', 30_000, async () => ((await c.tasks(id)).some((x) => x.status.state === TaskState.FAILED) ? true : undefined), 200);
    await c.ctl(['service', 'update', 'brittle', '--image', 'proc:2', '--command', 'sleep', '--args', '600', '--rollback-monitor', '2s']);
    await c.untilUpdateState('brittle', 'COMPLETED', 90_000);
    await c.ctl(['service', 'rollback', 'brittle']);
    const insp = await c.untilUpdateState('brittle', 'ROLLBACK_PAUSED', 90_000);
    await record('A rollback whose tasks fail pauses:', ['service', 'inspect', 'brittle'], insp);
    const m = /^rollback paused due to failure or early termination of task ([0-9a-z]{25})$/.exec(keyValue(insp, 'Message')!);
    assert.ok(m, keyValue(insp, 'Message'));
    const failed = (await c.tasks(id)).find((x) => x.id === m[1]);
    assert.ok(failed, 'the message names a task of the service');
    assert.deepEqual(failed.spec.container!.command, ['false']);
    await c.ctl(['service', 'rm', 'brittle']);
  });
});

describe('the seed walkthrough with the docker executor', async () => {
  const { docker, engine, needEngine } = await dockerGate();
  before(async () => {
    if (!engine) return;
    const base = docker.getImage(DOCKER.images[0]);
    await base.inspect();
    for (const tag of ['v2', 'v3']) await base.tag({ repo: DOCKER_BASE, tag });
  });
  walkthrough(DOCKER, needEngine);
});
