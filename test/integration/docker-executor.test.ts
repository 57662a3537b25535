import { dockerGate } from '../support/docker.js';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { TaskState as S } from '../../src/host/api/objects.js';
import type { Task, TaskStatus } from '../../src/host/api/objects.js';
import { RealTimers } from '../../src/host/env/index.js';
import { ExecutorFatalError } from '../../src/host/agent/executor.js';
import type { Controller, LogLine } from '../../src/host/agent/executor.js';
import { TaskRunner } from '../../src/host/agent/task-runner.js';
import { DockerExecutor, LABEL_NODE_ID, LABEL_SERVICE_ID, LABEL_SLOT, LABEL_TASK_ID } from '../../src/plugins/executors/docker/index.js';
import { pickDefaultExecutor } from '../../src/plugins/executors/index.js';
import { eventually, makeTask } from '../support/tasks.js';

const run = promisify(execFile);
const IMAGE = 'swarmhost-test/busybox:latest';
const RUN_ID = `executors-${process.pid}-${Date.now()}`;
const NODE = `node-${process.pid}`;
const { docker, engine, needEngine } = await dockerGate();


after(async () => {
  if (!engine) return;
  const list = await docker.listContainers({ all: true, filters: { label: [`com.swarmhost.test=${RUN_ID}`] } });
  for (const c of list) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
});

function dockerTask(container: Parameters<typeof makeTask>[0] = {}, over: Partial<Task> = {}): Task {
  return makeTask({ image: IMAGE, ...container, labels: { 'com.swarmhost.test': RUN_ID, ...container.labels } }, { nodeId: NODE, ...over });
}

function executor(): DockerExecutor {
  return new DockerExecutor({ docker, nodeId: NODE, callTimeoutMs: 20_000 });
}

async function prepareAndStart(c: Controller): Promise<void> {
  await c.prepare();
  await c.start();
}

test('describe reports the engine from docker info', async (t) => {
  if (!needEngine(t)) return;
  const d = await executor().describe();
  assert.equal(d.platform.os, 'linux');
  assert.ok(d.platform.architecture.length > 0);
  assert.ok(d.resources.nanoCpus >= 1e9 && d.resources.nanoCpus % 1e9 === 0);
  assert.ok(d.resources.memoryBytes > 0);
  assert.match(d.engine.engineVersion, /^\d+\.\d+/);
  assert.ok(d.hostname.length > 0);
});

test('starts three containers from the spec; a docker kill of one is reported by wait, the others keep running', async (t) => {
  if (!needEngine(t)) return;
  const ex = executor();
  const tasks = [1, 2, 3].map((slot) => {
    const task = dockerTask({ command: ['sleep'], args: ['30'], env: ['A=1'], hostname: 'box', dir: '/tmp', user: '0', stopGracePeriodMs: 1000 }, { slot });
    task.spec.resources.limits = { nanoCpus: 5e8, memoryBytes: 64 * 1024 * 1024 };
    return task;
  });
  const cs = tasks.map((task) => ex.controller(task));
  await Promise.all(cs.map(prepareAndStart));
  const infos = await Promise.all(cs.map((c) => c.inspect()));
  assert.ok(infos.every((i) => i.running && (i.pid ?? 0) > 0 && i.containerId));
  const raw = await docker.getContainer(infos[0]!.containerId!).inspect();
  assert.equal(raw.Name, `/web.1.${tasks[0]!.id}`);
  assert.deepEqual(raw.Config.Entrypoint, ['sleep']);
  assert.deepEqual(raw.Config.Cmd, ['30']);
  assert.ok(raw.Config.Env.includes('A=1'));
  assert.deepEqual([raw.Config.Hostname, raw.Config.WorkingDir, raw.Config.User], ['box', '/tmp', '0']);
  assert.equal(raw.Config.Labels[LABEL_TASK_ID], tasks[0]!.id);
  assert.equal(raw.Config.Labels[LABEL_SERVICE_ID], tasks[0]!.serviceId);
  assert.equal(raw.Config.Labels[LABEL_NODE_ID], NODE);
  assert.equal(raw.Config.Labels[LABEL_SLOT], '1');
  assert.equal(raw.HostConfig.RestartPolicy?.Name, 'no');
  assert.equal(raw.HostConfig.NanoCpus, 5e8);
  assert.equal(raw.HostConfig.Memory, 64 * 1024 * 1024);
  assert.equal((raw.Config as { StopTimeout?: number }).StopTimeout, 1);

  const waiting = cs[1]!.wait();
  await run('docker', ['kill', infos[1]!.containerId!], { timeout: 20_000 });
  const exit = await waiting;
  assert.equal(exit.exitCode, 137);
  assert.equal(exit.oomKilled, false);
  assert.equal((await cs[0]!.inspect()).running, true);
  assert.equal((await cs[2]!.inspect()).running, true);
  const mine = (await ex.listTaskContainers({ nodeId: NODE })).filter((c) => tasks.some((t2) => t2.id === c.taskId));
  assert.deepEqual(mine.map((c) => c.slot).sort(), [1, 2, 3]);
  assert.deepEqual(mine.filter((c) => c.state === 'running').length, 2);
  await Promise.all(cs.map((c) => c.remove()));
});

test('a missing image that cannot be pulled is a fatal error carrying the engine message, and the runner REJECTS the task', async (t) => {
  if (!needEngine(t)) return;
  const task = dockerTask({ image: 'swarmhost-test/does-not-exist:1' });
  const c = executor().controller(task);
  await assert.rejects(c.prepare(), (e: unknown) => {
    assert.ok(e instanceof ExecutorFatalError, 'fatal');
    assert.match((e as Error).message, /image swarmhost-test\/does-not-exist:1 is not present and could not be pulled: \S+/);
    return true;
  });
  const seen: TaskStatus[] = [];
  const runner = new TaskRunner({ task, controller: executor().controller(task), timers: new RealTimers(), onStatus: (s) => seen.push(s) });
  const done = runner.run();
  await eventually(() => runner.finished, 60_000, 'REJECTED');
  assert.equal(seen.at(-1)!.state, S.REJECTED);
  assert.match(seen.at(-1)!.err, /could not be pulled/);
  runner.stop();
  await done;
});

test('reports the exit code, serves logs, and remove deletes the container', async (t) => {
  if (!needEngine(t)) return;
  const ex = executor();
  const task = dockerTask({ command: ['sh', '-c'], args: ['echo out; echo err >&2; exit 3'] });
  const c = ex.controller(task);
  await prepareAndStart(c);
  assert.deepEqual(await c.wait(), { exitCode: 3, oomKilled: false, message: '' });
  const lines: LogLine[] = [];
  for await (const l of c.logs!({ follow: false, signal: new AbortController().signal })) lines.push(l);
  assert.deepEqual(lines.map((l) => `${l.stream}:${l.line}`).sort(), ['stderr:err', 'stdout:out']);
  assert.ok(lines.every((l) => l.time > 0));
  const id = (await c.inspect()).containerId!;
  assert.equal((await c.inspect()).exitCode, 3);
  await c.remove();
  await c.remove(); // idempotent
  await assert.rejects(docker.getContainer(id).inspect(), (e: unknown) => (e as { statusCode?: number }).statusCode === 404);
  assert.ok(!(await ex.listTaskContainers()).some((x) => x.containerId === id));
});

test('shutdown waits the grace period for a PID 1 that ignores SIGTERM, then kills it', async (t) => {
  if (!needEngine(t)) return;
  const c = executor().controller(dockerTask({ command: ['sleep', '30'] }));
  await prepareAndStart(c);
  const t0 = Date.now();
  await c.shutdown(1000);
  const took = Date.now() - t0;
  assert.ok(took >= 900, `waited the 1 s grace period (took ${took} ms)`);
  assert.equal((await c.inspect()).running, false);
  assert.equal((await c.wait()).exitCode, 137);
  await c.remove();
});

test('an agent restart recovers a running container by id without restarting it', async (t) => {
  if (!needEngine(t)) return;
  const task = dockerTask({ command: ['sleep', '30'] });
  const first = executor().controller(task);
  await prepareAndStart(first);
  const before = await docker.getContainer((await first.inspect()).containerId!).inspect();
  const handle = JSON.parse(JSON.stringify(first.handle()));
  const c = await executor().recover(handle, task);
  await c.prepare();
  await c.start();
  const after = await docker.getContainer((await c.inspect()).containerId!).inspect();
  assert.equal(after.Id, before.Id, 'same container');
  assert.equal(after.State.StartedAt, before.State.StartedAt, 'not restarted');
  assert.equal(after.State.Pid, before.State.Pid, 'same pid');
  await c.terminate();
  assert.equal((await c.wait()).exitCode, 137);
  await c.remove();
  await assert.rejects(executor().recover(handle, task), /is gone/);
});

test('pickDefaultExecutor picks docker when the engine answers', async (t) => {
  if (!needEngine(t)) return;
  const ex = await pickDefaultExecutor({ stateDir: '/nonexistent', nodeId: NODE, timers: new RealTimers(), docker });
  assert.equal(ex.name, 'docker');
});

test('a command the engine cannot start is a fatal start error (the task FAILS at STARTING)', async (t) => {
  if (!needEngine(t)) return;
  const c = executor().controller(dockerTask({ command: ['/no/such/binary'] }));
  await c.prepare();
  await assert.rejects(c.start(), (e: unknown) => e instanceof ExecutorFatalError && /no such file or directory|not found/i.test((e as Error).message));
  await c.remove();
});
