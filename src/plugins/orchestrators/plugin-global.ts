/** The built-in global orchestrator as a plugin module (named by plugins.config.ts; loaded through the registry). */
import { definePlugin } from '../config.js';
import { globalOrchestrator } from './index.js';

/** Plugin module of the built-in global orchestrator. No options. */
export default definePlugin({
  kind: 'orchestrator',
  validateOptions(options) {
    for (const k of Object.keys(options)) throw new Error(`option ${k}: the built-in global orchestrator takes no options`);
  },
  init: () => globalOrchestrator,
});
