import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runOrchScenario } from './orch-scenario.js';

// The deterministic orchestration simulation, as part of the suite: three Raft managers whose leader runs the
// orchestrators, scheduler and dispatcher; 5-8 agents with the sim executor; random service creates, scales and
// removes, node drains/pauses, task kills, agent and machine crashes, workers cut off, leader and manager crashes.
// After the faults stop the swarm must converge (see docs/simulation.md). A failure names its seed; replay it with
// `npm run sim:orch -- --seeds N --steps S --trace`.
const SEEDS = Number(process.env.SIM_ORCH_SEEDS ?? 30);
const STEPS = Number(process.env.SIM_ORCH_STEPS ?? 200);

test(`the simulated swarm converges after random faults over ${SEEDS} seeds`, async () => {
  let created = 0;
  let crashes = 0;
  let leaderStarts = 0;
  let running = 0;
  for (let seed = 1; seed <= SEEDS; seed++) {
    let r;
    try {
      r = await runOrchScenario({ seed, steps: STEPS });
    } catch (e) {
      throw new Error(`${e instanceof Error ? e.message : String(e)}\nreplay: npm run sim:orch -- --seeds ${seed} --steps ${STEPS} --trace`);
    }
    created += r.servicesCreated;
    crashes += r.agentCrashes + r.managerCrashes;
    leaderStarts += r.leaderStarts;
    running += r.runningTasks;
  }
  // A workload that created nothing, crashed nothing or never changed leader would check little.
  assert.ok(created > SEEDS * 3, `only ${created} services created over ${SEEDS} seeds`);
  assert.ok(crashes > SEEDS * 5, `only ${crashes} crashes over ${SEEDS} seeds`);
  assert.ok(leaderStarts > SEEDS * 2, `only ${leaderStarts} leader starts over ${SEEDS} seeds`);
  assert.ok(running > SEEDS * 5, `only ${running} tasks RUNNING at the end over ${SEEDS} seeds`);
});

test('the same seed replays the same orchestration run exactly', async () => {
  const a = await runOrchScenario({ seed: 777, steps: 120 });
  const b = await runOrchScenario({ seed: 777, steps: 120 });
  assert.deepEqual(a, b);
});
