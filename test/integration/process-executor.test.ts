import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TaskState as S } from '../../src/host/api/objects.js';
import type { TaskStatus } from '../../src/host/api/objects.js';
import { RealTimers } from '../../src/host/env/index.js';
import { ExecutorFatalError } from '../../src/host/agent/executor.js';
import type { Controller, LogLine } from '../../src/host/agent/executor.js';
import { TaskRunner } from '../../src/host/agent/task-runner.js';
import { ProcessExecutor } from '../../src/plugins/executors/process/index.js';
import { eventually, makeTask } from '../support/tasks.js';

const stateDir = await mkdtemp(join(tmpdir(), 'proc-exec-'));
const timers = new RealTimers();
const started: Controller[] = [];

after(async () => {
  for (const c of started) await c.terminate().catch(() => undefined);
  timers.clearAll();
  await rm(stateDir, { recursive: true, force: true });
});

function executor(): ProcessExecutor {
  return new ProcessExecutor({ stateDir, timers, pollMs: 20 });
}

/** Polls the task's stdout until it printed "ready" (its signal traps are installed). */
async function untilReady(c: Controller): Promise<void> {
  const dir = String(c.handle().data.dir);
  await eventually(async () => (await readFile(join(dir, 'stdout.log'), 'utf8').catch(() => '')).includes('ready'), 5000, 'the task to print ready');
}

async function run(c: Controller): Promise<void> {
  await c.prepare();
  await c.start();
  started.push(c);
}

test('runs command + args with env and reports the exit code; output goes to files and logs()', async () => {
  const task = makeTask({ command: ['sh', '-c'], args: ['echo "hello $GREETING"; echo oops >&2; printf tail; exit 3'], env: ['GREETING=world'] });
  const c = executor().controller(task);
  await run(c);
  const exit = await c.wait();
  assert.equal(exit.exitCode, 3);
  const dir = join(stateDir, 'tasks', task.id);
  assert.equal(await readFile(join(dir, 'stdout.log'), 'utf8'), 'hello world\ntail');
  const lines: LogLine[] = [];
  for await (const l of c.logs!({ follow: false, signal: new AbortController().signal })) lines.push(l);
  assert.deepEqual(lines.map((l) => `${l.stream}:${l.line}`), ['stdout:hello world', 'stderr:oops', 'stdout:tail']);
  assert.deepEqual(await c.inspect(), { running: false, pid: 0, exitCode: 3 });
  await c.remove();
  await assert.rejects(readFile(join(dir, 'stdout.log')), /ENOENT/);
});

test('logs() reads large files in chunks: UTF-8 across chunk boundaries, long lines cut at 64 Ki characters, a page stops early', async () => {
  const task = makeTask({ command: ['true'] });
  const c = executor().controller(task);
  await run(c);
  await c.wait();
  const dir = join(stateDir, 'tasks', task.id);
  // ~3 MB of lines with 2- and 3-byte characters (chunk boundaries fall inside them), one 150,000-character line,
  // an empty line, and a last line without a newline.
  const expected: string[] = [];
  const body: string[] = [];
  for (let i = 0; i < 40_000; i++) body.push(`line ${i} é✓ ${'z'.repeat(i % 97)}`);
  const long = 'x'.repeat(150_000);
  const text = `${body.join('\n')}\n${long}\n\nlast é`;
  await writeFile(join(dir, 'stdout.log'), text);
  expected.push(...body, long.slice(0, 65_536), long.slice(65_536, 131_072), long.slice(131_072), '', 'last é');
  const lines: string[] = [];
  for await (const l of c.logs!({ follow: false, signal: new AbortController().signal })) if (l.stream === 'stdout') lines.push(l.line);
  assert.equal(lines.length, expected.length);
  assert.deepEqual(lines, expected);
  // A reader that stops after a page reads no further (and closes the file).
  let n = 0;
  for await (const l of c.logs!({ follow: false, signal: new AbortController().signal })) {
    if (l.stream === 'stdout' && ++n === 10) break;
  }
  assert.equal(n, 10);
  await c.remove();
});

test('an empty command, an unknown executable or a bad working dir is a fatal prepare error', async () => {
  const ex = executor();
  await assert.rejects(ex.controller(makeTask({ command: [] })).prepare(), (e: unknown) => e instanceof ExecutorFatalError && e.message === 'process executor: task has no command');
  await assert.rejects(ex.controller(makeTask({ command: ['no-such-binary-xyz'] })).prepare(), /executable "no-such-binary-xyz" not found/);
  await assert.rejects(ex.controller(makeTask({ command: ['true'], dir: '/no/such/dir' })).prepare(), /working directory "\/no\/such\/dir" does not exist/);
  await assert.rejects(ex.controller(makeTask({ command: ['true'], stopSignal: 'SIGNOPE' })).prepare(), /stopSignal "SIGNOPE" is not a known signal/);
});

test('shutdown sends the stop signal, and SIGKILLs a process that ignores it after the grace period', async () => {
  const ex = executor();
  const polite = ex.controller(makeTask({ command: ['sleep', '30'] }));
  const stubborn = ex.controller(makeTask({ command: ['sh', '-c', 'trap "" TERM; echo ready; while :; do sleep 0.05; done'] }));
  await run(polite);
  await run(stubborn);
  await untilReady(stubborn);
  let t0 = Date.now();
  await polite.shutdown(5000);
  assert.ok(Date.now() - t0 < 2000, 'a process that honours SIGTERM stops without waiting for the grace period');
  assert.deepEqual(await polite.wait(), { exitCode: 143, message: 'terminated by signal 15' });
  t0 = Date.now();
  await stubborn.shutdown(400);
  const took = Date.now() - t0;
  assert.ok(took >= 390, `waited the grace period before SIGKILL (took ${took} ms)`);
  assert.equal((await stubborn.inspect()).running, false);
  assert.equal((await stubborn.wait()).exitCode, 137);
});

test('a task stopped right after it starts reports 143 "terminated by signal 15", whether or not its command had started', async () => {
  const ex = executor();
  for (let i = 0; i < 15; i++) {
    const c = ex.controller(makeTask({ command: ['sleep', '30'] }));
    await run(c);
    await c.shutdown(2000); // no wait: the stop may reach the wrapper before its trap is installed
    assert.deepEqual(await c.wait(), { exitCode: 143, message: 'terminated by signal 15' }, `attempt ${i}`);
  }
});

test('a custom stop signal is delivered to the task', async () => {
  const task = makeTask({ command: ['sh', '-c', 'trap "exit 42" USR1; echo ready; while :; do sleep 0.05; done'], stopSignal: 'USR1' });
  const c = executor().controller(task);
  await run(c);
  await untilReady(c);
  await c.shutdown(3000);
  assert.equal((await c.wait()).exitCode, 42);
});

test('after an agent restart, recover re-attaches by pid without restarting and still gets the exit code', async () => {
  const task = makeTask({ command: ['sh', '-c', 'echo started >> runs; sleep 1; exit 5'] });
  const first = executor().controller(task);
  await run(first);
  const before = await first.inspect();
  const handle = JSON.parse(JSON.stringify(first.handle())); // as persisted in tasks.json
  // "Agent restart": a new executor instance that knows the task only by its handle.
  const second = executor();
  const c = await second.recover(handle, task);
  await c.start(); // idempotent: must not start a second copy
  const info = await c.inspect();
  assert.equal(info.running, true);
  assert.equal(info.pid, before.pid, 'same pid');
  const exit = await c.wait();
  assert.equal(exit.exitCode, 5, 'exit code recorded by the wrapper is read after recovery');
  assert.equal(await readFile(join(stateDir, 'tasks', task.id, 'runs'), 'utf8'), 'started\n');
  // A handle whose start time does not match (pid reused by another process) is never taken for the task.
  const victim = executor().controller(makeTask({ command: ['sleep', '30'] }));
  await run(victim);
  const h2 = victim.handle();
  const impostor = await executor().recover({ ...h2, data: { ...h2.data, startTime: Number(h2.data.startTime) + 1 } }, makeTask({}, { id: h2.taskId }));
  assert.equal((await impostor.inspect()).running, false);
  await victim.terminate();
  await assert.rejects(executor().recover({ executor: 'process', taskId: 'gone', data: { pid: 1, startTime: 1 } }, makeTask({}, { id: 'gone' })), /gone/);
});

test('the task runner drives a real process to RUNNING, then to SHUTDOWN when desired', async () => {
  const task = makeTask({ command: ['sleep', '30'], stopGracePeriodMs: 2000 });
  const controller = executor().controller(task);
  started.push(controller);
  const seen: TaskStatus[] = [];
  const runner = new TaskRunner({ task, controller, timers, onStatus: (s) => seen.push(s) });
  const done = runner.run();
  await eventually(() => seen.at(-1)?.state === S.RUNNING, 5000, 'RUNNING');
  assert.ok(seen.at(-1)!.container!.pid > 0);
  runner.setDesired(S.SHUTDOWN);
  await eventually(() => seen.at(-1)?.state === S.SHUTDOWN, 5000, 'SHUTDOWN');
  assert.deepEqual(seen.map((s) => S[s.state]), ['ACCEPTED', 'PREPARING', 'READY', 'STARTING', 'RUNNING', 'SHUTDOWN']);
  assert.equal((await controller.inspect()).running, false);
  runner.stop();
  await done;
});

test('the task runner reports a non-zero exit as FAILED with the exit code', async () => {
  const task = makeTask({ command: ['sh', '-c', 'exit 9'] });
  const controller = executor().controller(task);
  const seen: TaskStatus[] = [];
  const runner = new TaskRunner({ task, controller, timers, onStatus: (s) => seen.push(s) });
  const done = runner.run();
  await eventually(() => runner.finished, 5000, 'task end');
  assert.deepEqual([S[seen.at(-1)!.state], seen.at(-1)!.err, seen.at(-1)!.container!.exitCode], ['FAILED', 'task: non-zero exit (9)', 9]);
  runner.stop();
  await done;
});
