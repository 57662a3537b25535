import { ControlApi } from '../controlapi/index.js';
import { LeaderOrchestration } from '../orchestration/index.js';
import { msgFirst, type Logger } from './logger.js';
import type { Manager } from './manager.js';
import type { ControlDispatch, SwarmNodeHooks } from './swarm-node.js';

/** What a swarmhost process runs besides Raft and the store: the control API, leader components, the agent. */
export interface NodeServices {
  control: ControlDispatch;
  hooks: SwarmNodeHooks;
}

/**
 * The composition root: wires the subsystems into a node. The control API runs over the manager's store and
 * reads Raft membership from it; it only ever executes on the leader (the node forwards otherwise).
 */
export function nodeServices(o: { hostname: string; executor: string | undefined; logger: Logger }): NodeServices {
  const apis = new WeakMap<Manager, ControlApi>();
  const apiFor = (m: Manager): ControlApi => {
    let api = apis.get(m);
    if (api === undefined) {
      api = new ControlApi({
        store: m.store,
        clock: m.clock,
        rng: m.rng,
        raft: {
          members: () => m.members(),
          leaderNodeId: () => m.leaderInfo()?.nodeId ?? '',
        },
        logger: o.logger.child({ component: 'controlapi' }),
      });
      apis.set(m, api);
    }
    return api;
  };
  return {
    control: (method, request, ctx) => apiFor(ctx.manager).call(method, request),
    hooks: {
      onManager: (m) => {
        // The leader's orchestration loop: orchestrators, allocator, scheduler, restarts, updater, reaper.
        let orch: LeaderOrchestration | undefined;
        m.addLeaderComponent({
          name: 'orchestration',
          start: () => {
            orch = new LeaderOrchestration({ store: m.store, timers: m.timers, rng: m.rng, clock: m.clock, logger: msgFirst(o.logger.child({ component: 'orchestration' })) });
            orch.start();
          },
          stop: async () => {
            await orch?.stop();
            orch = undefined;
          },
        });
      },
    },
  };
}
