/** The default restart policy plugin and the host-side restart supervisor core. */
import type { RestartPolicyPlugin } from '../contracts.js';
import { decide } from './default.js';

export * from './default.js';
export * from './supervisor.js';

/** The built-in restart policy (reference §4) as a plugin. */
export const defaultRestartPolicy: RestartPolicyPlugin = {
  name: 'default',
  version: '1.0.0',
  decide,
};
