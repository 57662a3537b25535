import type { Logger } from './logger.js';
import type { ControlDispatch, SwarmNodeHooks } from './swarm-node.js';

/** What a swarmhost process runs besides Raft and the store: the control API, leader components, the agent. */
export interface NodeServices {
  control: ControlDispatch | undefined;
  hooks: SwarmNodeHooks;
}

/** The composition root: wires the subsystems into a node. */
export function nodeServices(_o: { hostname: string; executor: string | undefined; logger: Logger }): NodeServices {
  return { control: undefined, hooks: {} };
}
