import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { TaskState as S } from '../../src/host/api/objects.js';
import type { Task, TaskStatus } from '../../src/host/api/objects.js';
import { InvalidArgumentError } from '../../src/host/api/errors.js';
import { RealTimers } from '../../src/host/env/index.js';
import { TaskDb, TaskRunner, resumeTask } from '../../src/host/agent/index.js';
import type { Executor } from '../../src/host/agent/index.js';
import { ProcessExecutor, createExecutor, pickDefaultExecutor } from '../../src/plugins/executors/index.js';
import { eventually, makeTask } from '../support/tasks.js';

const stateDir = await mkdtemp(join(tmpdir(), 'agent-restart-'));
const timers = new RealTimers();
after(async () => {
  timers.clearAll();
  await rm(stateDir, { recursive: true, force: true });
});

/** One "agent life": runs (or resumes) every task of the db with the executor, persisting each status. */
async function agentLife(db: TaskDb, executor: Executor) {
  const runners = new Map<string, TaskRunner>();
  const seen = new Map<string, TaskStatus[]>();
  for (const record of db.list()) {
    const { controller, status } = await resumeTask(executor, record, timers);
    const list: TaskStatus[] = [];
    seen.set(record.task.id, list);
    if (status !== record.status) await db.updateStatus(record.task.id, status);
    const runner = new TaskRunner({
      task: record.task,
      controller,
      timers,
      initialStatus: status,
      onStatus: (s, h) => {
        list.push(s);
        void db.updateStatus(record.task.id, s, h);
      },
    });
    runners.set(record.task.id, runner);
    void runner.run();
  }
  return { runners, seen };
}

test('an agent restart re-attaches to its running process from tasks.json instead of starting it twice', async () => {
  const task: Task = makeTask({ command: ['sh', '-c', 'echo run >> "$MARK"; while [ ! -e "$MARK.stop" ]; do sleep 0.05; done; exit 4'], env: [`MARK=${join(stateDir, 'mark')}`] });
  let db = await TaskDb.open(stateDir);
  await db.put({ task, status: task.status });
  const life1 = await agentLife(db, new ProcessExecutor({ stateDir, timers, pollMs: 20 }));
  await eventually(() => db.get(task.id)?.status.state === S.RUNNING, 5000, 'RUNNING persisted');
  const pid = db.get(task.id)!.status.container!.pid;
  assert.ok(pid > 0);
  for (const r of life1.runners.values()) r.stop(); // the agent dies; the task lives on
  await db.flush();

  db = await TaskDb.open(stateDir); // a new agent reads the table back
  assert.equal(db.get(task.id)!.handle?.executor, 'process');
  const life2 = await agentLife(db, new ProcessExecutor({ stateDir, timers, pollMs: 20 }));
  const runner = life2.runners.get(task.id)!;
  assert.equal(runner.status.state, S.RUNNING);
  await writeFile(join(stateDir, 'mark.stop'), '');
  await eventually(() => runner.finished, 5000, 'task end after the restart');
  const last = life2.seen.get(task.id)!.at(-1)!;
  assert.deepEqual([S[last.state], last.container!.exitCode, last.container!.pid], ['FAILED', 4, pid]);
  assert.equal(await readFile(join(stateDir, 'mark'), 'utf8'), 'run\n', 'the command ran exactly once');
  assert.deepEqual(life2.seen.get(task.id)!.map((s) => S[s.state]), ['FAILED'], 'no state re-walked after recovery');
  await db.flush();
  assert.equal((await TaskDb.open(stateDir)).get(task.id)!.status.state, S.FAILED);
  runner.stop();
});

test('a started task whose process vanished across the restart is reported FAILED', async () => {
  const task = makeTask({ command: ['true'] });
  const running: TaskStatus = { ...task.status, state: S.RUNNING, message: 'started' };
  const r = await resumeTask(new ProcessExecutor({ stateDir, timers }), { task, status: running, handle: { executor: 'process', taskId: task.id, data: { pid: 999999, startTime: 1 } } }, timers);
  assert.equal(r.status.state, S.FAILED);
  assert.match(r.status.err, /task lost across an agent restart: .*gone/);
  // Not yet started: a fresh controller, same status.
  const preparing: TaskStatus = { ...task.status, state: S.PREPARING, message: 'preparing' };
  const r2 = await resumeTask(new ProcessExecutor({ stateDir, timers }), { task, status: preparing, handle: { executor: 'process', taskId: task.id, data: { pid: 999999, startTime: 1 } } }, timers);
  assert.equal(r2.status, preparing);
});

test('pickDefaultExecutor falls back to process when no engine answers; createExecutor rejects unknown names', async () => {
  const env = { stateDir, nodeId: 'n1', timers, docker: new Docker({ socketPath: join(stateDir, 'no-docker.sock') }), probeTimeoutMs: 500 };
  assert.equal((await pickDefaultExecutor(env)).name, 'process');
  assert.equal(createExecutor('sim', env).name, 'sim');
  assert.throws(() => createExecutor('lxc', env), (e: unknown) => e instanceof InvalidArgumentError && /--executor must be one of docker, process, sim, got "lxc"/.test(e.message));
});
