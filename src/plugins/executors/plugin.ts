/** The built-in executors as one plugin module: option `name` picks docker, process or sim (default process). */
import { definePlugin } from '../config.js';
import { EXECUTOR_NAMES, createExecutor } from './index.js';

/** Plugin module of the built-in executors. Options: `{ name: 'docker' | 'process' | 'sim' }`. */
export default definePlugin({
  kind: 'executor',
  validateOptions(options) {
    for (const k of Object.keys(options)) if (k !== 'name') throw new Error(`option ${k}: unknown (allowed: name)`);
    if (options.name !== undefined && !(EXECUTOR_NAMES as readonly unknown[]).includes(options.name)) {
      throw new Error(`option name: must be one of ${EXECUTOR_NAMES.join(', ')}`);
    }
  },
  init(options, ctx) {
    if (!ctx.stateDir || !ctx.nodeId || !ctx.timers) throw new Error('the executor slot needs the agent context (stateDir, nodeId, timers)');
    return createExecutor(String(options.name ?? 'process'), { stateDir: ctx.stateDir, nodeId: ctx.nodeId, timers: ctx.timers });
  },
});
