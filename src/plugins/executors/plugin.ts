/**
 * The built-in executors as one plugin module: option `name` picks docker, process or sim, or `auto` (the
 * default): docker when a Docker engine answers within 2 s, else process.
 */
import { definePlugin } from '../config.js';
import { EXECUTOR_NAMES, createExecutor, pickDefaultExecutor } from './index.js';

/** Plugin module of the built-in executors. Options: `{ name: 'auto' | 'docker' | 'process' | 'sim' }`. */
export default definePlugin({
  kind: 'executor',
  validateOptions(options) {
    for (const k of Object.keys(options)) if (k !== 'name') throw new Error(`option ${k}: unknown (allowed: name)`);
    if (options.name !== undefined && options.name !== 'auto' && !(EXECUTOR_NAMES as readonly unknown[]).includes(options.name)) {
      throw new Error(`option name: must be auto or one of ${EXECUTOR_NAMES.join(', ')}`);
    }
  },
  init(options, ctx) {
    if (!ctx.stateDir || !ctx.nodeId || !ctx.timers) throw new Error('the executor slot needs the agent context (stateDir, nodeId, timers)');
    const env = { stateDir: ctx.stateDir, nodeId: ctx.nodeId, timers: ctx.timers };
    const name = String(options.name ?? 'auto');
    return name === 'auto' ? pickDefaultExecutor(env) : createExecutor(name, env);
  },
});
