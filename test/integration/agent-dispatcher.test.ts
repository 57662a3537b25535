import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TaskState } from '../../src/host/api/objects.js';
import { Agent, InProcessDispatcherClient } from '../../src/host/agent/index.js';
import { Dispatcher } from '../../src/host/dispatcher/index.js';
import { RealTimers, SeededRng } from '../../src/host/env/index.js';
import { createLocalStore } from '../../src/host/store/index.js';
import { ProcessExecutor } from '../../src/plugins/executors/index.js';
import { CLUSTER_ID, RecordingLogger, makeCluster, makeNode } from '../unit/dispatcher/fixtures.js';
import { eventually, makeTask } from '../support/tasks.js';

test('with the process executor, a restarted agent re-attaches to its running process: it runs once, and stops on desired SHUTDOWN', async () => {
  const timers = new RealTimers();
  const { store } = createLocalStore({ clock: timers, rng: new SeededRng(5) });
  await store.update((tx) => {
    tx.create('clusters', makeCluster(1_000));
    tx.create('nodes', makeNode('procnode1'));
  });
  const dispatcher = new Dispatcher({ store, timers, rng: new SeededRng(6), clusterId: CLUSTER_ID, managerList: () => [], logger: new RecordingLogger() });
  dispatcher.start();
  const stateDir = await mkdtemp(join(tmpdir(), 'swarmhost-agent-proc-'));
  const client = new InProcessDispatcherClient(dispatcher, { nodeId: 'procnode1', role: 'swarm-worker', clusterId: CLUSTER_ID, addr: '127.0.0.1:1' });
  const newAgent = (seed: number) =>
    new Agent({ nodeId: 'procnode1', executor: new ProcessExecutor({ stateDir, timers, pollMs: 20 }), timers, rng: new SeededRng(seed), stateDir, dispatcher: client, logger: new RecordingLogger() });
  const mark = join(stateDir, 'runs');
  const task = makeTask({ command: ['sh', '-c', `echo run >> "${mark}"; exec sleep 60`], stopGracePeriodMs: 2_000 }, { nodeId: 'procnode1' });
  let agent = newAgent(1);
  try {
    await agent.start();
    await store.update((tx) => tx.create('tasks', task));
    await eventually(() => store.view((tx) => tx.get('tasks', task.id)?.status.state) === TaskState.RUNNING, 10_000, 'RUNNING');
    const pid = store.view((tx) => tx.get('tasks', task.id)!.status.container!.pid);
    await agent.stop();
    agent = newAgent(2);
    await agent.start();
    assert.equal(agent.taskStatus(task.id)?.state, TaskState.RUNNING, 'resumed RUNNING');
    await eventually(() => agent.sessionId !== '', 10_000, 'second session');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(process.kill(pid, 0), true, 'the same process is still alive');
    assert.equal(await readFile(mark, 'utf8'), 'run\n', 'started exactly once');
    await store.update((tx) => {
      const cur = tx.get('tasks', task.id)!;
      tx.update('tasks', { ...cur, desiredState: TaskState.SHUTDOWN });
    });
    await eventually(() => store.view((tx) => tx.get('tasks', task.id)?.status.state) === TaskState.SHUTDOWN, 10_000, 'SHUTDOWN');
    assert.throws(() => process.kill(pid, 0), 'the process is gone');
  } finally {
    await agent.stop();
    dispatcher.stop();
    timers.clearAll();
    await rm(stateDir, { recursive: true, force: true });
  }
});
