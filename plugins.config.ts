// The default plugin configuration of swarmhost: every slot names its built-in. Copy this file, point a slot
// at your own module (paths relative to this file), and run `swarmhost --config your.config.ts`.
// Edits to this file or to a module it names are picked up while swarmhost runs (see docs/plugins.md).
import { defineConfig } from 'swarmhost/config';

export default defineConfig({
  // auto: docker when a Docker engine answers, else process (swarmhost --executor overrides it per node).
  executor: { module: './src/plugins/executors/plugin.ts', options: { name: 'auto' } },
  orchestrators: {
    replicated: { module: './src/plugins/orchestrators/plugin-replicated.ts' },
    global: { module: './src/plugins/orchestrators/plugin-global.ts' },
    jobs: { module: './src/plugins/orchestrators/plugin-jobs.ts' },
  },
  restartPolicy: { module: './src/plugins/restart/plugin.ts' },
  // No module: the built-in spread (build/scheduler.wasm). A third-party one: { module: './build/strategy-binpack.wasm' }.
  strategy: {},
  rollback: { failureThreshold: 3, failureWindowMs: 60_000 },
  watchDebounceMs: 200,
});
