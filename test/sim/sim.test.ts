import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runScenario } from './scenario.js';
import { appByName } from './apps.js';

// The deterministic cluster simulation, as part of the suite: 200 seeds (3 and 5 managers alternating) of random
// writes, crashes with lost unsynced writes, partitions, lossy links, membership changes and leadership
// transfers. A failure names its seed; `npm run sim -- --seeds N --trace` replays it exactly.
const SEEDS = Number(process.env.SIM_SEEDS ?? 200);
const STEPS = Number(process.env.SIM_STEPS ?? 250);

test(`the simulated cluster keeps every invariant and converges over ${SEEDS} seeds (store)`, async () => {
  let acked = 0;
  for (let seed = 1; seed <= SEEDS; seed++) {
    const r = await runScenario({ seed, managers: seed % 2 === 1 ? 5 : 3, steps: STEPS, app: appByName('store') });
    acked += r.ackedWrites;
  }
  // A run where nothing was acknowledged would check nothing: the workload must really write.
  assert.ok(acked > SEEDS * 10, `only ${acked} acknowledged writes over ${SEEDS} seeds`);
});

test('the same seed replays the same run exactly', async () => {
  const a = await runScenario({ seed: 4242, managers: 5, steps: 200, app: appByName('store') });
  const b = await runScenario({ seed: 4242, managers: 5, steps: 200, app: appByName('store') });
  assert.deepEqual(a, b);
});
