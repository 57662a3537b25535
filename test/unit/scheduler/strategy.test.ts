/**
 * Third-party strategies: the binpack example built with the SDK, and each failure kind with a deliberately
 * broken module (trap, abort, infinite loop, forbidden import, memory over the limit, bad marker).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { RealTimers } from '../../../src/host/env/index.js';
import { NodeTable } from '../../../src/host/scheduler/node-table.js';
import type { SchedulePassResult } from '../../../src/host/scheduler/reference.js';
import { StrategyLoadError, StrategyRunner, validateStrategyModule } from '../../../src/host/scheduler/strategy.js';
import { makeNode, makeSpec, makeTask, pendingGroup } from './fixtures.js';

const wasm = (name: string) => new Uint8Array(readFileSync(new URL(`../../../build/${name}.wasm`, import.meta.url)));

/** Three 4-CPU nodes; n1 already runs a 3-CPU task. */
function cluster(initialCapacity = 64): NodeTable {
  const t = new NodeTable({ initialCapacity });
  const busy = makeTask({ id: 'old', serviceId: 'other', nodeId: 'n1', state: 512, spec: makeSpec({ nanoCpus: 3e9 }) });
  t.upsertNode(makeNode({ id: 'n0', nanoCpus: 4e9 }), []);
  t.upsertNode(makeNode({ id: 'n1', nanoCpus: 4e9 }), [busy]);
  t.upsertNode(makeNode({ id: 'n2', nanoCpus: 4e9 }), []);
  return t;
}

function empty(): SchedulePassResult {
  return { assignments: [], unplaceable: [] };
}

test('binpack fills the most-loaded feasible node first and explains what does not fit', async () => {
  const timers = new RealTimers();
  const r = await StrategyRunner.load(wasm('strategy-binpack'), { name: 'binpack', timers });
  try {
    const table = cluster();
    const out = empty();
    await r.scheduleGroup(table, pendingGroup('t', 'web', 10, makeSpec({ nanoCpus: 1e9 })), out);
    const where = out.assignments.map((a) => a.nodeId);
    // n1 has 1 CPU free: it gets the first task; then n0 fills up (4), then n2 (4); one task does not fit.
    assert.deepEqual(where, ['n1', 'n0', 'n0', 'n0', 'n0', 'n2', 'n2', 'n2', 'n2']);
    assert.deepEqual(out.unplaceable, [{ taskId: 't-9', err: 'no suitable node (insufficient resources on 3 nodes)' }]);
    assert.equal(r.status().failures, 0);
  } finally {
    await r.close();
    timers.clearAll();
  }
});

test('binpack honours constraints through the SDK pipeline', async () => {
  const timers = new RealTimers();
  const r = await StrategyRunner.load(wasm('strategy-binpack'), { name: 'binpack', timers });
  try {
    const table = cluster();
    const out = empty();
    await r.scheduleGroup(table, pendingGroup('t', 'web', 2, makeSpec({ nanoCpus: 1e9, constraints: ['node.id != n1'] })), out);
    assert.deepEqual(out.assignments.map((a) => a.nodeId), ['n0', 'n0']);
  } finally {
    await r.close();
    timers.clearAll();
  }
});

async function expectFallback(module: string, kind: string, opts: { callTimeoutMs?: number } = {}) {
  const timers = new RealTimers();
  const lines: string[] = [];
  const r = await StrategyRunner.load(wasm(module), { name: module, timers, logger: (l) => lines.push(l), ...opts });
  try {
    const table = cluster();
    const out = empty();
    const group = pendingGroup('t', 'web', 3, makeSpec({ nanoCpus: 1e9 }));
    await r.scheduleGroup(table, group, out);
    // The built-in spread placed the group: one task per node, emptiest service count first.
    const spread = empty();
    cluster().scheduleGroup(group, spread);
    assert.deepEqual(out, spread);
    const st = r.status();
    assert.equal(st.failures, 1);
    assert.equal(st.lastFailure?.kind, kind);
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, new RegExp(`strategy ${module} failed \\(${kind}:.*built-in spread used`));
    // The next call starts a fresh instance (and fails the same way), still falling back.
    const out2 = empty();
    await r.scheduleGroup(cluster(), group, out2);
    assert.deepEqual(out2, spread);
    assert.equal(r.status().restarts, 2);
  } finally {
    await r.close();
    timers.clearAll();
  }
}

test('a strategy that traps is discarded and the built-in spread schedules the pass', async () => {
  await expectFallback('test-strategy-trap', 'trap');
});

test('a strategy that aborts is discarded and reported as abort', async () => {
  await expectFallback('test-strategy-abort', 'abort');
});

test('a strategy stuck in an infinite loop is terminated at its deadline', async () => {
  await expectFallback('test-strategy-loop', 'timeout', { callTimeoutMs: 300 });
});

test('a strategy importing a function outside the allow-list is refused at load', () => {
  assert.throws(() => validateStrategyModule(wasm('test-strategy-forbidden')), (e: unknown) => e instanceof StrategyLoadError && /import env\.read_file \(function\) is not allowed/.test(e.message));
});

test('a strategy whose memory maximum is over the limit is refused at load', () => {
  assert.throws(() => validateStrategyModule(wasm('test-strategy-greedy'), 256 * 2 ** 20), (e: unknown) => e instanceof StrategyLoadError && /memory maximum 4294967296 bytes is over the limit of 268435456 bytes/.test(e.message));
});

test('a strategy with the wrong ABI marker is refused at load', async () => {
  const timers = new RealTimers();
  try {
    await assert.rejects(StrategyRunner.load(wasm('test-strategy-bad-marker'), { name: 'bad', timers }), (e: unknown) => e instanceof StrategyLoadError && /marker swarmhost_strategy_abi\(\) returned 99, expected 1/.test(e.message));
  } finally {
    timers.clearAll();
  }
});

test('a module that is not WebAssembly or lacks the ABI exports is refused', () => {
  assert.throws(() => validateStrategyModule(new Uint8Array([1, 2, 3])), StrategyLoadError);
  assert.throws(() => validateStrategyModule(wasm('scheduler')), /must be shared|must import/);
});

test('strategy_evaluate fills the feasibility bitmap, first failing filter and score per node', async () => {
  const timers = new RealTimers();
  const r = await StrategyRunner.load(wasm('strategy-binpack'), { name: 'binpack', timers });
  try {
    const table = cluster();
    table.upsertNode(makeNode({ id: 'down', state: 1 }), []);
    const task = makeTask({ id: 'q', serviceId: 'web', spec: makeSpec({ nanoCpus: 2e9, constraints: ['node.id != n2'] }) });
    const ev = await r.evaluate(table, task);
    assert.deepEqual(ev.nodeIds, ['n0', 'n1', 'n2', 'down']);
    // n1 has 1 CPU left (resources), n2 is excluded (constraints), "down" is not ready.
    assert.deepEqual(ev.codes, [0, 2, 4, 1]);
    assert.deepEqual(ev.feasible, [true, false, false, false]);
    assert.equal(ev.feasibleCount, 1);
    assert.deepEqual(ev.codes, table.evaluate(task).codes);
    assert.equal(ev.scores[0], -4 * 1024 - 8);
    assert.deepEqual(ev.scores.slice(1), [-Infinity, -Infinity, -Infinity]);
  } finally {
    await r.close();
    timers.clearAll();
  }
});

test('a node table larger than the strategy memory falls back to the built-in spread and reports memory', async () => {
  const timers = new RealTimers();
  const lines: string[] = [];
  const r = await StrategyRunner.load(wasm('test-strategy-tiny'), { name: 'tiny', timers, logger: (l) => lines.push(l) });
  try {
    const group = pendingGroup('t', 'web', 3, makeSpec({ nanoCpus: 1e9 }));
    const out = empty();
    // Room for 4096 rows: the table's columns no longer fit in the module's 3 pages (192 KiB).
    await r.scheduleGroup(cluster(4096), group, out);
    const spread = empty();
    cluster().scheduleGroup(group, spread);
    assert.deepEqual(out, spread);
    assert.equal(r.status().lastFailure?.kind, 'memory');
    assert.match(lines[0]!, /over the strategy limit of 196608 bytes/);
  } finally {
    await r.close();
    timers.clearAll();
  }
});

test('after a failed call the rest of the pass uses the built-in spread without calling the strategy again', async () => {
  const timers = new RealTimers();
  const lines: string[] = [];
  const r = await StrategyRunner.load(wasm('test-strategy-trap'), { name: 'trap', timers, logger: (l) => lines.push(l) });
  try {
    const tasks = [...pendingGroup('a', 'web', 2, makeSpec({ nanoCpus: 1e9 })), ...pendingGroup('b', 'api', 2, makeSpec({ nanoCpus: 1e9 })), makeTask({ id: 'g', serviceId: 'glob', nodeId: 'n2' })];
    const out = await r.schedulePass(cluster(), tasks);
    assert.deepEqual(out, cluster().schedulePass(tasks));
    assert.equal(r.status().failures, 1);
    assert.equal(r.status().calls, 1);
    assert.equal(lines.length, 1);
  } finally {
    await r.close();
    timers.clearAll();
  }
});
