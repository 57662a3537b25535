// Executor hot swap under running tasks with the real process executor: the new version recovers every running
// task (pids unchanged, waits re-attached), and a version that cannot recover one aborts the swap.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RealTimers } from '../../src/host/env/index.js';
import { ExecutorFatalError, type Controller, type ExitResult, type TaskHandle } from '../../src/host/agent/executor.js';
import type { Task } from '../../src/host/api/objects.js';
import { ProcessExecutor } from '../../src/plugins/executors/process/index.js';
import { SwappableExecutor, EXECUTOR_VERSION_LABEL } from '../../src/host/plugins/index.js';
import { eventually, makeTask } from '../support/tasks.js';

const stateDir = await mkdtemp(join(tmpdir(), 'plugins-swap-'));
const timers = new RealTimers();
const started: Controller[] = [];

after(async () => {
  for (const c of started) await c.terminate().catch(() => undefined);
  timers.clearAll();
  await rm(stateDir, { recursive: true, force: true });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function startFive(ex: SwappableExecutor): Promise<{ c: Controller; pid: number; exit: Promise<ExitResult> }[]> {
  const out: { c: Controller; pid: number; exit: Promise<ExitResult> }[] = [];
  for (let i = 0; i < 5; i++) {
    const c = ex.controller(makeTask({ command: ['sleep', '30'] }));
    await c.prepare();
    await c.start();
    started.push(c);
    const pid = (await c.inspect()).pid!;
    assert.ok(pid > 0);
    out.push({ c, pid, exit: c.wait() });
  }
  return out;
}

test('swapping the executor under 5 running tasks recovers them all: same pids, waits re-attached, none restarted', async () => {
  const v1 = new ProcessExecutor({ stateDir, timers, pollMs: 20 });
  const ex = new SwappableExecutor(v1, 'aaaa1111', { timers });
  const tasks = await startFive(ex);
  let v1Closed = false;
  v1.close = async () => {
    v1Closed = true;
  };
  const v2 = new ProcessExecutor({ stateDir, timers, pollMs: 20 });
  const r = await ex.swap(v2, 'bbbb2222');
  assert.equal(r.ok, true);
  assert.equal(r.ok && r.recovered.length, 5);
  assert.equal(ex.version, 'bbbb2222');
  assert.equal(v1Closed, true, 'the old version is closed once no task uses it');
  for (const t of tasks) {
    const st = await t.c.inspect();
    assert.equal(st.running, true);
    assert.equal(st.pid, t.pid, 'same process after the swap');
    assert.ok(alive(t.pid));
  }
  assert.ok(ex.controllers().every((c) => c.executorVersion === 'bbbb2222'));
  assert.equal((await ex.describe()).engine.labels[EXECUTOR_VERSION_LABEL], 'bbbb2222');
  // The waits started under v1 now observe the exit through v2.
  await tasks[0]!.c.terminate();
  const exit = await tasks[0]!.exit;
  assert.equal(exit.exitCode, 137);
  for (const t of tasks.slice(1)) await t.c.shutdown(100);
  for (const t of tasks.slice(1)) await t.exit;
});

test('a new executor version that cannot recover one running task aborts the swap; the old keeps serving', async () => {
  const v1 = new ProcessExecutor({ stateDir, timers, pollMs: 20 });
  const ex = new SwappableExecutor(v1, 'cccc3333', { timers });
  const tasks = await startFive(ex);
  const victim = tasks[2]!.c.handle().taskId;
  const broken = new ProcessExecutor({ stateDir, timers, pollMs: 20 });
  const realRecover = broken.recover.bind(broken);
  broken.recover = async (h: TaskHandle, t: Task) => {
    if (h.taskId === victim) throw new ExecutorFatalError('cannot find the process');
    return realRecover(h, t);
  };
  const r = await ex.swap(broken, 'dddd4444');
  assert.equal(r.ok, false);
  assert.match(r.ok ? '' : r.reason, new RegExp(`executor swap aborted: 1 running task\\(s\\).*${victim}: cannot find the process`));
  assert.equal(ex.version, 'cccc3333');
  for (const t of tasks) {
    assert.equal((await t.c.inspect()).pid, t.pid);
    assert.ok(ex.controllers().every((c) => c.executorVersion === 'cccc3333'));
  }
  for (const t of tasks) await t.c.terminate();
  for (const t of tasks) await t.exit;
  await eventually(() => tasks.every((t) => !alive(t.pid)), 5000, 'all gone');
});
