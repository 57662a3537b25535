/**
 * Issue 5 with a real Docker engine: a swarmhost node with the docker executor runs a 3-replica service as
 * three containers; a killed container's task is restarted; a missing image is REJECTED with the engine's
 * message; an agent restart re-attaches to running containers without restarting them; removing the service
 * removes the containers. With CI set and no engine, these tests fail (never skip).
 */
import { dockerGate } from '../support/docker.js';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import Docker from 'dockerode';
import type { Service, Task } from '../../src/host/api/objects.js';
import { TaskState } from '../../src/host/api/objects.js';
import { LABEL_SERVICE_ID } from '../../src/plugins/executors/docker/index.js';
import { NodeProc, freePort, teardown, tempDir, waitFor } from '../support/procs.js';

const IMAGE = 'swarmhost-test/busybox:latest';
const { docker, engine, needEngine } = await dockerGate();
const procs: NodeProc[] = [];
const dirs: string[] = [];
let m1: NodeProc;


const tasksOf = async (serviceId: string): Promise<Task[]> =>
  (await m1.control<{ tasks: Task[] }>('ListTasks', { filters: { serviceIds: [serviceId] } })).tasks;
const runningTasks = (ts: Task[]): Task[] => ts.filter((t) => t.status.state === TaskState.RUNNING && t.desiredState === TaskState.RUNNING);
const containersOf = async (serviceId: string, all = false): Promise<Docker.ContainerInfo[]> =>
  docker.listContainers({ all, filters: { label: [`${LABEL_SERVICE_ID}=${serviceId}`] } });

before(async () => {
  if (!engine) return;
  const dir = await tempDir('swarmhost-docker-');
  dirs.push(dir);
  m1 = new NodeProc({ name: 'docker-1', stateDir: dir, port: await freePort(), extraArgs: ['--executor', 'docker'] });
  procs.push(m1);
  m1.start();
  await m1.waitLog(/agent started/, 30_000);
});

after(async () => {
  if (engine) {
    for (const c of await docker.listContainers({ all: true, filters: { label: ['com.swarmhost.test=services-docker'] } })) {
      await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
    }
  }
  await teardown(procs, dirs);
});

let svc: Service;

test('a 3-replica service starts three containers from the local image', async (t) => {
  if (!needEngine(t)) return;
  svc = (
    await m1.control<{ service: Service }>('CreateService', {
      spec: {
        annotations: { name: 'redis' },
        task: {
          container: { image: IMAGE, command: ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'], labels: { 'com.swarmhost.test': 'services-docker' } },
          restart: { condition: 2, delayMs: 200, maxAttempts: 0, windowMs: 0 },
        },
        mode: { replicated: { replicas: 3 } },
      },
    })
  ).service;
  await waitFor('3 running tasks', 60_000, async () => (runningTasks(await tasksOf(svc.id)).length === 3 ? true : undefined), 250);
  const cs = await containersOf(svc.id);
  assert.equal(cs.length, 3);
  for (const c of cs) assert.equal(c.Image, IMAGE);
});

test('killing a container restarts its task in the same slot', async (t) => {
  if (!needEngine(t)) return;
  const before = runningTasks(await tasksOf(svc.id));
  const victim = before[0]!;
  await docker.getContainer(victim.status.container!.containerId).kill();
  const after = await waitFor('a replacement in the slot', 60_000, async () => {
    const ts = await tasksOf(svc.id);
    const r = runningTasks(ts);
    const inSlot = r.find((x) => x.slot === victim.slot && x.id !== victim.id);
    return r.length === 3 && inSlot ? ts : undefined;
  }, 250);
  const old = after.find((x) => x.id === victim.id)!;
  assert.ok(old.status.state > TaskState.RUNNING, 'the killed task ended');
});

test('an agent restart re-attaches to its running containers without restarting them', async (t) => {
  if (!needEngine(t)) return;
  const before = runningTasks(await tasksOf(svc.id)).map((x) => [x.id, x.status.container!.containerId] as const).sort();
  const startedAt = new Map((await containersOf(svc.id)).map((c) => [c.Id, c.Created]));
  await m1.kill('SIGTERM');
  m1.start();
  await m1.waitLog(/agent started/, 30_000);
  // The log still holds the first run's lines: wait (bounded) until the restarted manager leads and answers.
  await waitFor('the restarted manager to answer', 30_000, async () => m1.control('ListNodes').then(() => true, () => undefined), 200);
  // Give the agent time to re-report; the same tasks and containers must still be the running ones.
  await new Promise((r) => setTimeout(r, 3_000));
  const after = runningTasks(await tasksOf(svc.id)).map((x) => [x.id, x.status.container!.containerId] as const).sort();
  assert.deepEqual(after, before);
  for (const c of await containersOf(svc.id)) assert.equal(c.Created, startedAt.get(c.Id), 'container not recreated');
});

test('an image that is not present and cannot be pulled is REJECTED with the engine message', async (t) => {
  if (!needEngine(t)) return;
  const bad = (
    await m1.control<{ service: Service }>('CreateService', {
      spec: {
        annotations: { name: 'missing-image' },
        task: { container: { image: 'swarmhost-test/does-not-exist:1.0' }, restart: { condition: 0, delayMs: 0, maxAttempts: 0, windowMs: 0 } },
        mode: { replicated: { replicas: 1 } },
      },
    })
  ).service;
  const rejected = await waitFor('REJECTED task', 60_000, async () => (await tasksOf(bad.id)).find((x) => x.status.state === TaskState.REJECTED), 250);
  assert.match(rejected.status.err, /does-not-exist/);
  await m1.control('RemoveService', { serviceId: bad.id });
});

test('removing the service removes its containers', async (t) => {
  if (!needEngine(t)) return;
  await m1.control('RemoveService', { serviceId: svc.id });
  await waitFor('containers removed', 60_000, async () => ((await containersOf(svc.id, true)).length === 0 ? true : undefined), 250);
  await waitFor('task records removed', 30_000, async () => ((await tasksOf(svc.id)).length === 0 ? true : undefined), 250);
});
