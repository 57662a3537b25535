// The strategy slot: broken WASM candidates (trap, infinite loop, forbidden import, memory over the limit) are
// refused with the reason in ListPlugins while the old version keeps scheduling; a promoted strategy that keeps
// failing is rolled back; and a swap during a scheduling pass leaves every decision of that pass to one version.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { RealTimers } from '../../../src/host/env/index.js';
import { NodeTable } from '../../../src/host/scheduler/node-table.js';
import { PluginHost, fixtureNodeTable, fixturePendingTasks, listPlugins, type PluginInfo, type StrategyImpl } from '../../../src/host/plugins/index.js';
import { ROOT, Scratch } from './helpers.js';

const timers = new RealTimers();
const p = new Scratch();
after(() => {
  p.remove();
  timers.clearAll();
});

const wasm = (name: string): string => join(ROOT, 'build', `${name}.wasm`);
const strategyRows = (h: PluginHost): PluginInfo[] => listPlugins(h).plugins.filter((r) => r.slot === 'strategy');

async function withBinpack(fn: (h: PluginHost, configFile: string) => Promise<void>): Promise<void> {
  const configFile = p.config(`{ strategy: { module: ${JSON.stringify(wasm('strategy-binpack'))} } }`, `binpack-${Math.random().toString(36).slice(2)}.config.ts`);
  const h = await PluginHost.start({ configFile, timers });
  try {
    await fn(h, configFile);
  } finally {
    await h.close();
  }
}

/** Binpack's signature on the fixture: the first node fills up before the next gets anything. */
async function assertBinpackServes(h: PluginHost): Promise<void> {
  const out = await h.schedulePass(fixtureNodeTable(3), fixturePendingTasks('web', 6));
  assert.equal(out.assignments.length, 6);
  assert.equal(new Set(out.assignments.slice(0, 4).map((a) => a.nodeId)).size, 1, 'binpack fills one node first');
}

for (const [name, module, extra, reason] of [
  ['traps', 'test-strategy-trap', '', /conformance: fixture "6 tasks on 3 nodes": trap: /],
  ['loops forever', 'test-strategy-loop', ', callTimeoutMs: 300', /conformance: .*timeout: strategy_place did not return within 300 ms/],
  ['imports a forbidden host function', 'test-strategy-forbidden', '', /load: strategy module: import env\.read_file \(function\) is not allowed/],
  ['exceeds its memory limit', 'test-strategy-greedy', '', /load: strategy module: memory maximum 4294967296 bytes is over the limit of 268435456 bytes/],
] as const) {
  test(`a strategy candidate that ${name} is refused; the old version keeps scheduling and plugin ls shows why`, async () => {
    await withBinpack(async (h, configFile) => {
      const active = strategyRows(h)[0]!;
      p.write(configFile.slice(p.dir.length + 1), `import { defineConfig } from 'swarmhost/config';\nexport default defineConfig({ strategy: { module: ${JSON.stringify(wasm(module))}${extra} } });\n`);
      const r = await h.reload();
      assert.equal(r.slots.find((s) => s.slot === 'strategy')?.outcome, 'refused');
      const rows = strategyRows(h);
      assert.equal(rows[0]!.name, module);
      assert.equal(rows[0]!.state, 'failed');
      assert.match(rows[0]!.lastError, reason);
      assert.equal(rows[1]!.version, active.version);
      assert.equal(rows[1]!.state, 'active');
      await assertBinpackServes(h);
    });
  });
}

test('a broken strategy named at start refuses the start', async () => {
  const configFile = p.config(`{ strategy: { module: ${JSON.stringify(wasm('test-strategy-trap'))} } }`, 'trap.config.ts');
  await assert.rejects(PluginHost.start({ configFile, timers }), /strategy: conformance: fixture "6 tasks on 3 nodes": trap/);
});

test('a promoted strategy that keeps failing (memory) is rolled back to the previous version; scheduling never stops', async () => {
  await withBinpack(async (h, configFile) => {
    const binpack = strategyRows(h)[0]!;
    p.write(configFile.slice(p.dir.length + 1), `import { defineConfig } from 'swarmhost/config';\nexport default defineConfig({ strategy: { module: ${JSON.stringify(wasm('test-strategy-tiny'))} }, rollback: { failureThreshold: 3, failureWindowMs: 60000 } });\n`);
    assert.equal((await h.reload()).slots.find((s) => s.slot === 'strategy')?.outcome, 'activated', 'tiny passes the small fixture');
    const tiny = strategyRows(h)[0]!;
    assert.equal(tiny.state, 'active');
    for (let i = 0; i < 3; i++) {
      // A table with room for 4096 rows does not fit in tiny's 192 KiB: each pass falls back to the spread.
      const out = await h.schedulePass(new NodeTable({ initialCapacity: 4096 }), fixturePendingTasks(`s${i}`, 3));
      assert.equal(out.assignments.length, 0, 'no node in this empty table, but the pass completed');
      assert.equal(out.strategyVersion, tiny.version);
    }
    const rows = strategyRows(h);
    const t = rows.find((r) => r.version === tiny.version)!;
    assert.equal(t.state, 'failed');
    assert.match(t.lastError, /rolled back: 3 failures within 60000 ms, last: memory: node table needs \d+ bytes, over the strategy limit of 196608 bytes/);
    assert.equal(rows.find((r) => r.version === binpack.version)!.state, 'active');
    await assertBinpackServes(h);
  });
});

test('a swap during a large scheduling pass: every decision of the pass comes from the version it started with', async () => {
  await withBinpack(async (h, configFile) => {
    const binpack = strategyRows(h)[0]!;
    // 200 one-task groups on 40 nodes: one strategy call per group.
    const tasks = Array.from({ length: 200 }, (_, i) => fixturePendingTasks(`svc${i}`, 1, 1e8)).flat();
    const expected = await h.schedulePass(fixtureNodeTable(40), tasks);
    assert.equal(expected.assignments.length, 200);
    // Hold the pass after its 100th group until the swap is done (a gate in front of binpack's runner).
    const runner = (h.slots.strategy.current!.impl as StrategyImpl).runner!;
    const place = runner.scheduleGroup.bind(runner);
    let groups = 0;
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    let reachedGate!: () => void;
    const atGate = new Promise<void>((r) => (reachedGate = r));
    runner.scheduleGroup = async (...args) => {
      if (++groups === 100) {
        reachedGate();
        await gate;
      }
      return place(...args);
    };

    p.write(configFile.slice(p.dir.length + 1), `import { defineConfig } from 'swarmhost/config';\nexport default defineConfig({ strategy: {} });\n`);
    let passDone = false;
    const pass = h.schedulePass(fixtureNodeTable(40), tasks).finally(() => (passDone = true));
    await atGate;
    const r = await h.reload();
    assert.equal(r.slots.find((s) => s.slot === 'strategy')?.outcome, 'activated');
    assert.equal(passDone, false, 'the swap completed while the pass was still running');
    const rowsDuring = strategyRows(h);
    assert.equal(rowsDuring.find((x) => x.version === binpack.version)!.state, 'draining', 'binpack drains while the pass holds it');
    assert.equal(rowsDuring.find((x) => x.version === binpack.version)!.leases, 1);
    open();
    const out = await pass;
    assert.equal(groups, 200, 'every group of the pass went to binpack, also after the swap');
    assert.equal(out.strategyVersion, binpack.version);
    assert.deepEqual(out.assignments, expected.assignments, 'identical to a pass run wholly by binpack');
    assert.equal(strategyRows(h).find((x) => x.version === binpack.version)!.state, 'retired', 'drained, kept for rollback');
    // The next pass is the new version's (the built-in spread: one task per node first).
    const next = await h.schedulePass(fixtureNodeTable(3), fixturePendingTasks('web', 3));
    assert.equal(new Set(next.assignments.map((a) => a.nodeId)).size, 3);
    assert.notEqual(next.strategyVersion, binpack.version);
  });
});
