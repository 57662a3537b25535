/**
 * Plugin host benchmark: the cost of a hot swap and the scheduling pause it causes.
 *   swap_file_to_serving_ms  — from writing a plugin module to its new version serving (watcher + debounce + load +
 *                              validation + promotion), median and max over the runs;
 *   reload_ms                — an explicit reload() of one changed module (no debounce), median;
 *   sched_pass_*             — scheduling passes (binpack WASM strategy, 40 nodes, 50 tasks in 10 groups) run back to
 *                              back: the longest gap between two pass completions, without swaps (baseline) and while
 *                              the strategy is swapped repeatedly; the ratio of the two;
 *   event_loop_max_delay_ms  — the longest event-loop stall seen during the swaps.
 * Usage: npm run bench:plugins [-- --quick] [-- --json]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { RealTimers } from '../src/host/env/index.js';
import { PluginHost, fixtureNodeTable, fixturePendingTasks, inspectPlugin } from '../src/host/plugins/index.js';

const quick = process.argv.includes('--quick');
const json = process.argv.includes('--json');
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BINPACK = join(ROOT, 'build/strategy-binpack.wasm');
const DEBOUNCE_MS = 50;
const figures: Record<string, number> = {};
const out = (name: string, value: number, unit: string): void => {
  figures[name] = Number(value.toFixed(2));
  console.log(`${name}: ${value.toFixed(2)} ${unit}`);
};
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function policy(delayMs: number): string {
  return `import { definePlugin } from 'swarmhost/config';
export default definePlugin({ kind: 'restartPolicy', init: () => ({ name: 'bench', version: '1', decide: (i) =>
  i.task.spec.restart?.condition === 0 || (i.task.spec.restart?.condition === 1 && i.task.status.state === 576)
    ? { restart: false, reason: 'condition' } : { restart: true, delayMs: ${delayMs}, waitForOldTask: false } }) });
`;
}

const dir = mkdtempSync(join(tmpdir(), 'bench-plugins-'));
const timers = new RealTimers();
try {
  // ---------------------------------------------------------------- swap latency
  const config = (strategyTimeoutMs: number): string =>
    `import { defineConfig } from 'swarmhost/config';\nexport default defineConfig({ restartPolicy: { module: './policy.ts' }, strategy: { module: ${JSON.stringify(BINPACK)}, callTimeoutMs: ${strategyTimeoutMs} }, watchDebounceMs: ${DEBOUNCE_MS} });\n`;
  writeFileSync(join(dir, 'policy.ts'), policy(1));
  writeFileSync(join(dir, 'plugins.config.ts'), config(1000));
  const host = await PluginHost.start({ configFile: join(dir, 'plugins.config.ts'), timers });
  host.watch();
  const runs = quick ? 5 : 20;
  const fileToServing: number[] = [];
  for (let i = 0; i < runs; i++) {
    const before = inspectPlugin(host, { slot: 'restartPolicy' }).active!.version;
    const t0 = performance.now();
    writeFileSync(join(dir, 'policy.ts'), policy(100 + i));
    const deadline = t0 + 10_000;
    while (inspectPlugin(host, { slot: 'restartPolicy' }).active!.version === before) {
      if (performance.now() > deadline) throw new Error('a swap did not serve within 10 s');
      await sleep(1);
    }
    fileToServing.push(performance.now() - t0);
    await sleep(DEBOUNCE_MS * 2);
  }
  out('swap_file_to_serving_median_ms', median(fileToServing), 'ms');
  out('swap_file_to_serving_max_ms', Math.max(...fileToServing), 'ms');
  out('swap_watch_debounce_ms', DEBOUNCE_MS, 'ms');
  const reloads: number[] = [];
  for (let i = 0; i < runs; i++) {
    writeFileSync(join(dir, 'policy.ts'), policy(10_000 + i));
    const t0 = performance.now();
    await host.reload();
    reloads.push(performance.now() - t0);
  }
  out('reload_one_module_median_ms', median(reloads), 'ms');
  host.unwatch(); // the pause measurement below swaps with explicit reloads only

  // ---------------------------------------------------------------- scheduling pause
  const tasks = Array.from({ length: 10 }, (_, g) => fixturePendingTasks(`svc${g}`, 5, 1e8)).flat();
  async function passGaps(durationMs: number, during?: () => Promise<void>): Promise<{ maxGap: number; passes: number }> {
    let stop = false;
    let maxGap = 0;
    let passes = 0;
    const loop = (async () => {
      let last = performance.now();
      while (!stop) {
        const r = await host.schedulePass(fixtureNodeTable(40), tasks);
        if (r.assignments.length !== tasks.length) throw new Error('a pass did not place every task');
        const now = performance.now();
        maxGap = Math.max(maxGap, now - last);
        last = now;
        passes++;
      }
    })();
    const end = performance.now() + durationMs;
    if (during) while (performance.now() < end) await during();
    else await sleep(durationMs);
    stop = true;
    await loop;
    return { maxGap, passes };
  }
  const windowMs = quick ? 1_500 : 5_000;
  const base = await passGaps(windowMs);
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  let swaps = 0;
  let timeout = 1000;
  const withSwaps = await passGaps(windowMs, async () => {
    writeFileSync(join(dir, 'plugins.config.ts'), config(++timeout));
    const r = await host.reload();
    if (r.slots.find((s) => s.slot === 'strategy')?.outcome !== 'activated') throw new Error(`strategy swap not activated: ${JSON.stringify(r)}`);
    swaps++;
  });
  h.disable();
  out('sched_pass_max_gap_baseline_ms', base.maxGap, 'ms');
  out('sched_pass_max_gap_during_swaps_ms', withSwaps.maxGap, 'ms');
  out('sched_pause_ratio_swaps_vs_baseline', withSwaps.maxGap / base.maxGap, 'x');
  out('sched_passes_baseline', base.passes, 'passes');
  out('sched_passes_during_swaps', withSwaps.passes, 'passes');
  out('strategy_swaps', swaps, 'swaps');
  out('event_loop_max_delay_during_swaps_ms', h.max / 1e6, 'ms');
  await host.close();
} finally {
  timers.clearAll();
  rmSync(dir, { recursive: true, force: true });
}
if (json) console.log(JSON.stringify(figures));
