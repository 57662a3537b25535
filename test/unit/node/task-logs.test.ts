import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Controller, Executor, LogLine } from '../../../src/host/agent/index.js';
import { TaskState, type Task } from '../../../src/host/api/objects.js';
import { instrumentExecutor } from '../../../src/host/node/executor-hooks.js';
import { readTaskLogs } from '../../../src/host/node/task-logs.js';
import { taskObject } from '../controlapi/fixtures.js';

/** An executor whose tasks print fixed lines (in the order a real executor yields them: stdout, then stderr). */
function fakeExecutor(lines: LogLine[], failing = new Set<string>()): Executor {
  const controller = (): Controller =>
    ({
      async prepare() {
        if (failing.has('prepare')) throw new Error('boom');
      },
      async start() {},
      async *logs() {
        for (const l of lines) yield l;
      },
    }) as unknown as Controller;
  return {
    name: 'fake',
    describe: async () => ({ hostname: 'h', platform: { os: 'linux', architecture: 'x86_64' }, resources: { nanoCpus: 1, memoryBytes: 1 }, engine: { engineVersion: '1', labels: { a: 'b' }, plugins: [] } }),
    controller,
    recover: async () => controller(),
    close: async () => {},
  };
}

const out = (line: string): LogLine => ({ stream: 'stdout', line, time: 0 });
const err = (line: string): LogLine => ({ stream: 'stderr', line, time: 0 });
const task: Task = taskObject('t1', 's1', 1, 'n1', TaskState.RUNNING);

test('reads the lines after a per-stream cursor, so stdout and stderr advance independently', async () => {
  const ex = fakeExecutor([out('o1'), out('o2'), out('o3'), err('e1'), err('e2')]);
  const signal = new AbortController().signal;
  const all = await readTaskLogs(ex, { task, skip: { stdout: 0, stderr: 0 }, maxLines: 1000 }, signal);
  assert.deepEqual(all.lines.map((l) => l.line), ['o1', 'o2', 'o3', 'e1', 'e2']);
  assert.equal(all.more, false);
  const after = await readTaskLogs(ex, { task, skip: { stdout: 2, stderr: 1 }, maxLines: 1000 }, signal);
  assert.deepEqual(after.lines.map((l) => l.line), ['o3', 'e2']);
});

test('stops at maxLines and says more are waiting', async () => {
  const ex = fakeExecutor([out('o1'), out('o2'), out('o3')]);
  const r = await readTaskLogs(ex, { task, skip: { stdout: 0, stderr: 0 }, maxLines: 2 }, new AbortController().signal);
  assert.deepEqual(r.lines.map((l) => l.line), ['o1', 'o2']);
  assert.equal(r.more, true);
});

test('an executor without logs() is refused with a typed error', async () => {
  const ex = fakeExecutor([]);
  const bare: Executor = { ...ex, controller: () => ({}) as Controller };
  await assert.rejects(readTaskLogs(bare, { task, skip: { stdout: 0, stderr: 0 }, maxLines: 10 }, new AbortController().signal), /executor fake cannot read task logs/);
});

test('the instrumented executor adds engine labels and reports rejected controller calls', async () => {
  const ops: string[] = [];
  const ex = instrumentExecutor(fakeExecutor([], new Set(['prepare'])), { extraLabels: () => ({ 'swarmhost.logs-addr': '127.0.0.1:1' }), onFailure: (op) => ops.push(op) });
  assert.equal(ex.name, 'fake');
  assert.deepEqual((await ex.describe()).engine.labels, { a: 'b', 'swarmhost.logs-addr': '127.0.0.1:1' });
  const c = ex.controller(task);
  await assert.rejects(c.prepare(), /boom/);
  await c.start();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(ops, ['prepare']);
});
