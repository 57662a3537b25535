// Deterministic orchestration simulation runner.
//   npm run sim:orch -- --seeds 1-50 --steps 200 [--workers N] [--trace]
// Runs every seed of the range; on the first failure prints the seed, the violation and the one command that
// replays exactly that run, and exits 1.
import { Command } from 'commander';
import { runOrchScenario } from './orch-scenario.js';
import { seedsAndSteps } from '../run-args.js';

const program = new Command()
  .name('sim:orch')
  .option('--seeds <range>', 'seed or range a-b (inclusive)', '1-20')
  .option('--steps <n>', 'random steps per run', '150')
  .option('--workers <n>', 'worker nodes (default: 5..8 picked by the seed)')
  .option('--trace', 'print the last trace lines of a failing run', false)
  .parse();
const opts = program.opts<{ seeds: string; steps: string; workers?: string; trace: boolean }>();

const { from, to, steps } = seedsAndSteps(opts.seeds, opts.steps);
let workers: number | undefined;
if (opts.workers !== undefined) {
  workers = Number(opts.workers);
  if (!Number.isInteger(workers) || workers < 1 || workers > 64) {
    console.error(`Error: --workers must be an integer 1..64, got "${opts.workers}"`);
    process.exit(2);
  }
}

const started = Date.now();
let created = 0;
let crashes = 0;
let leaders = 0;
for (let seed = from; seed <= to; seed++) {
  try {
    const r = await runOrchScenario({ seed, steps, ...(workers !== undefined ? { workers } : {}), trace: opts.trace });
    created += r.servicesCreated;
    crashes += r.agentCrashes + r.managerCrashes;
    leaders += r.leaderStarts;
  } catch (e) {
    console.error(`FAIL ${e instanceof Error ? e.message : String(e)}`);
    console.error(`replay: npm run sim:orch -- --seeds ${seed} --steps ${steps}${workers !== undefined ? ` --workers ${workers}` : ''} --trace`);
    process.exit(1);
  }
}
const n = to - from + 1;
console.log(
  `sim:orch: ${n} seeds passed (${from}-${to}, ${steps} steps): ${created} services created, ${crashes} crashes, ${leaders} leader starts, ${((Date.now() - started) / 1000).toFixed(1)} s`,
);
