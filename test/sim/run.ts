// Deterministic cluster simulation runner.
//   npm run sim -- --seeds 1000-1999 --steps 400 [--managers 3|5|both] [--app store|kv] [--trace]
// Runs every seed of the range; on the first failure prints the seed, the violation and the one command that
// replays exactly that run, and exits 1.
import { Command } from 'commander';
import { runScenario } from './scenario.js';
import { seedsAndSteps } from './run-args.js';
import { appByName, type AppName } from './apps.js';

const program = new Command()
  .name('sim')
  .option('--seeds <range>', 'seed or range a-b (inclusive)', '1-100')
  .option('--steps <n>', 'random steps per run', '300')
  .option('--managers <n>', '3, 5 or both (odd seeds 5, even seeds 3)', 'both')
  .option('--app <name>', 'store (the real store) or kv (a bare key-value map)', 'store')
  .option('--trace', 'print the last trace lines of a failing run', false)
  .parse();
const opts = program.opts<{ seeds: string; steps: string; managers: string; app: string; trace: boolean }>();

const { from, to, steps } = seedsAndSteps(opts.seeds, opts.steps);
if (!['3', '5', 'both'].includes(opts.managers)) {
  console.error(`Error: --managers must be 3, 5 or both, got "${opts.managers}"`);
  process.exit(2);
}
if (opts.app !== 'store' && opts.app !== 'kv') {
  console.error(`Error: --app must be store or kv, got "${opts.app}"`);
  process.exit(2);
}
const app = appByName(opts.app as AppName);

const started = Date.now();
let acked = 0;
for (let seed = from; seed <= to; seed++) {
  const managers = opts.managers === 'both' ? (seed % 2 === 1 ? 5 : 3) : (Number(opts.managers) as 3 | 5);
  try {
    const r = await runScenario({ seed, managers, steps, app, trace: opts.trace });
    acked += r.ackedWrites;
  } catch (e) {
    console.error(`FAIL ${e instanceof Error ? e.message : String(e)}`);
    console.error(
      `replay: npm run sim -- --seeds ${seed} --steps ${steps} --managers ${managers} --app ${opts.app} --trace`,
    );
    process.exit(1);
  }
}
const n = to - from + 1;
console.log(`sim: ${n} seeds passed (${from}-${to}, ${steps} steps, app ${opts.app}), ${acked} acknowledged writes checked, ${((Date.now() - started) / 1000).toFixed(1)} s`);
