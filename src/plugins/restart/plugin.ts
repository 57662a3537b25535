/** The built-in restart policy as a plugin module (named by plugins.config.ts; loaded through the registry). */
import { definePlugin } from '../config.js';
import { defaultRestartPolicy } from './index.js';

/** Plugin module of the default restart policy (reference §4). No options. */
export default definePlugin({
  kind: 'restartPolicy',
  validateOptions(options) {
    for (const k of Object.keys(options)) throw new Error(`option ${k}: the default restart policy takes no options`);
  },
  init: () => defaultRestartPolicy,
});
