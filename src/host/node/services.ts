import { ControlApi } from '../controlapi/index.js';
import { Dispatcher, DispatcherProxy } from '../dispatcher/index.js';
import { Agent, TransportDispatcherClient, type Executor } from '../agent/index.js';
import { LeaderOrchestration } from '../orchestration/index.js';
import { createExecutor, pickDefaultExecutor } from '../../plugins/executors/index.js';
import type { CallContext, DispatcherHandlers, TransportClient } from '../transport/index.js';
import { msgFirst, type Logger } from './logger.js';
import type { Manager } from './manager.js';
import type { ControlDispatch, SwarmNode, SwarmNodeHooks } from './swarm-node.js';

/** What a swarmhost process runs besides Raft and the store: the control API, leader components, the agent. */
export interface NodeServices {
  control: ControlDispatch;
  hooks: SwarmNodeHooks;
}

/** Options of {@link nodeServices}. */
export interface NodeServicesOptions {
  hostname: string;
  /** docker | process | sim; undefined = docker when an engine answers, else process. */
  executor: string | undefined;
  logger: Logger;
  /** Run an agent on this node (default true). */
  agent?: boolean;
}

/**
 * The composition root: wires the subsystems into a node.
 * - the control API over the manager's store (it only runs on the leader; the node forwards otherwise);
 * - leader components: the orchestration loop and the dispatcher, started and stopped with leadership;
 * - the dispatcher service on every manager: the leader's dispatcher when this manager leads, else a proxy to
 *   the leader (agents may connect to any manager);
 * - the agent on every node, running tasks through its executor.
 */
export function nodeServices(o: NodeServicesOptions): NodeServices {
  const apis = new WeakMap<Manager, ControlApi>();
  const apiFor = (m: Manager): ControlApi => {
    let api = apis.get(m);
    if (api === undefined) {
      api = new ControlApi({
        store: m.store,
        clock: m.clock,
        rng: m.rng,
        raft: { members: () => m.members(), leaderNodeId: () => m.leaderInfo()?.nodeId ?? '' },
        logger: o.logger.child({ component: 'controlapi' }),
      });
      apis.set(m, api);
    }
    return api;
  };
  let dispatcher: Dispatcher | undefined;
  let agent: Agent | undefined;
  let executor: Executor | undefined;
  return {
    control: (method, request, ctx) => apiFor(ctx.manager).call(method, request),
    hooks: {
      onManager: (m, node) => {
        let orch: LeaderOrchestration | undefined;
        m.addLeaderComponent({
          name: 'orchestration',
          start: () => {
            orch = new LeaderOrchestration({
              store: m.store,
              timers: m.timers,
              rng: m.rng,
              clock: m.clock,
              logger: msgFirst(o.logger.child({ component: 'orchestration' })),
            });
            orch.start();
          },
          stop: async () => {
            await orch?.stop();
            orch = undefined;
          },
        });
        m.addLeaderComponent({
          name: 'dispatcher',
          start: () => {
            dispatcher = new Dispatcher({
              store: m.store,
              timers: m.timers,
              rng: m.rng,
              clusterId: node.identity.clusterId,
              managerList: () => m.members().map((x) => ({ nodeId: x.nodeId, addr: x.addr, weight: 10 })),
              logger: o.logger.child({ component: 'dispatcher' }),
            });
            dispatcher.start();
          },
          stop: async () => {
            const d = dispatcher;
            dispatcher = undefined;
            await d?.stop();
          },
        });
      },
      onRemoteServer: (server, m) => {
        const proxy = new DispatcherProxy((): TransportClient | undefined => {
          try {
            return m.leaderClient();
          } catch {
            return undefined;
          }
        });
        const route = (ctx: CallContext): DispatcherHandlers => (m.isLeader && dispatcher !== undefined ? dispatcher : proxy);
        server.addDispatcher({
          session: (req, ctx) => route(ctx).session(req, ctx),
          heartbeat: (req, ctx) => route(ctx).heartbeat(req, ctx),
          updateTaskStatus: (req, ctx) => route(ctx).updateTaskStatus(req, ctx),
          assignments: (req, ctx) => route(ctx).assignments(req, ctx),
        });
      },
      onStarted: async (node: SwarmNode) => {
        if (o.agent === false) return;
        const env = { stateDir: node.o.stateDir, nodeId: node.nodeId, timers: node.timers };
        executor = o.executor !== undefined ? createExecutor(o.executor, env) : await pickDefaultExecutor(env);
        const managers = node.manager ? [node.advertiseAddr] : node.state.managers.map((x) => x.addr).filter((a) => a !== '');
        const connect = (addr: string): TransportDispatcherClient => new TransportDispatcherClient(addr, { tls: node.clientTls(), timers: node.timers });
        agent = new Agent({
          nodeId: node.nodeId,
          executor,
          timers: node.timers,
          rng: node.rng,
          stateDir: node.o.stateDir,
          dispatcher: connect(managers[0] ?? ''),
          connect,
          managers: managers.map((addr) => ({ nodeId: '', addr, weight: 10 })),
          hostname: o.hostname,
          logger: o.logger.child({ component: 'agent' }),
        });
        await agent.start();
        o.logger.info({ executor: executor.name }, 'agent started');
      },
      onStopping: async () => {
        await agent?.stop();
        await executor?.close();
      },
    },
  };
}
