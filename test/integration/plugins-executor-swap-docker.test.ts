// Executor hot swap under 5 running containers with the real Docker executor: the new version recovers every
// running task by its handle, container ids are unchanged, and a wait started under the old version observes
// the exit through the new one. Fails in CI without an engine; skips (with the reason) elsewhere.
import { dockerGate } from '../support/docker.js';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { RealTimers } from '../../src/host/env/index.js';
import type { Controller, ExitResult } from '../../src/host/agent/executor.js';
import { DockerExecutor } from '../../src/plugins/executors/docker/index.js';
import { SwappableExecutor } from '../../src/host/plugins/index.js';
import { makeTask } from '../support/tasks.js';

const IMAGE = 'swarmhost-test/busybox:latest';
const RUN_ID = `plugins-swap-${process.pid}-${Date.now()}`;
const NODE = `node-${process.pid}`;
const { docker, engine, needEngine } = await dockerGate();
const timers = new RealTimers();


after(async () => {
  timers.clearAll();
  if (!engine) return;
  const list = await docker.listContainers({ all: true, filters: { label: [`com.swarmhost.test=${RUN_ID}`] } });
  for (const c of list) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
});

test('swapping the docker executor under 5 running containers keeps every container (ids unchanged)', async (t) => {
  if (!needEngine(t)) return;
  const v1 = new DockerExecutor({ docker, nodeId: NODE, callTimeoutMs: 20_000 });
  const ex = new SwappableExecutor(v1, 'dock-v1', { timers });
  const running: { c: Controller; id: string; started: string; exit: Promise<ExitResult> }[] = [];
  for (let i = 0; i < 5; i++) {
    const c = ex.controller(makeTask({ image: IMAGE, command: ['sleep', '300'], labels: { 'com.swarmhost.test': RUN_ID } }, { nodeId: NODE, slot: i + 1 }));
    await c.prepare();
    await c.start();
    const st = await c.inspect();
    assert.ok(st.running && st.containerId);
    const raw = await docker.getContainer(st.containerId!).inspect();
    running.push({ c, id: st.containerId!, started: raw.State.StartedAt, exit: c.wait() });
  }
  const v2 = new DockerExecutor({ docker, nodeId: NODE, callTimeoutMs: 20_000 });
  const r = await ex.swap(v2, 'dock-v2');
  assert.equal(r.ok, true);
  assert.equal(r.ok && r.recovered.length, 5);
  for (const x of running) {
    const st = await x.c.inspect();
    assert.equal(st.running, true);
    assert.equal(st.containerId, x.id, 'same container after the swap');
    const raw = await docker.getContainer(x.id).inspect();
    assert.equal(raw.State.StartedAt, x.started, 'not restarted');
    assert.equal(raw.RestartCount, 0);
  }
  assert.ok(ex.controllers().every((c) => c.executorVersion === 'dock-v2'));
  // A wait started under v1 observes the kill through v2.
  await running[0]!.c.terminate();
  const exit = await running[0]!.exit;
  assert.equal(exit.exitCode, 137);
  for (const x of running.slice(1)) await x.c.terminate();
  for (const x of running.slice(1)) await x.exit;
  for (const x of running) await x.c.remove();
  assert.equal(ex.controllers().length, 0);
});
