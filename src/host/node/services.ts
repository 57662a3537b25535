import { ControlApi } from '../controlapi/index.js';
import { Dispatcher, DispatcherProxy } from '../dispatcher/index.js';
import { Agent, TransportDispatcherClient, type Executor } from '../agent/index.js';
import { LeaderOrchestration } from '../orchestration/index.js';
import { PluginVersionRecorder, pluginControlHandlers, type PluginHost } from '../plugins/index.js';
import { createExecutor, pickDefaultExecutor } from '../../plugins/executors/index.js';
import type { CallContext, DispatcherHandlers, TransportClient } from '../transport/index.js';
import { msgFirst, type Logger } from './logger.js';
import type { Manager } from './manager.js';
import { builtinOrchestrators } from '../../plugins/orchestrators/index.js';
import { defaultRestartPolicy } from '../../plugins/restart/index.js';
import { instrumentExecutor } from './executor-hooks.js';
import type { NodeMetrics } from './metrics.js';
import { LOGS_ADDR_LABEL, TaskLogServer, taskLogs } from './task-logs.js';
import { RoleManager } from './role-manager.js';
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
  /**
   * The plugin host (`swarmhost --config`): when given, the leader orchestration uses its orchestrators, restart
   * policy and strategy, and the agent its hot-swappable executor (then `executor` is ignored).
   */
  plugins?: PluginHost;
  /** Metrics to feed (swarmhost --listen-metrics); none = no instrumentation. */
  metrics?: NodeMetrics;
  /** host:port of this node's task log server (default: the advertise host, any free port). */
  logsListen?: string;
}

/**
 * The composition root: wires the subsystems into a node.
 * - the control API over the manager's store (it only runs on the leader; the node forwards otherwise);
 * - leader components: the orchestration loop, the dispatcher and the role manager, started and stopped with
 *   leadership;
 * - the dispatcher service on every manager: the leader's dispatcher when this manager leads, else a proxy to
 *   the leader (agents may connect to any manager);
 * - the agent on every node, running tasks through its executor; its session messages go to the node, which
 *   remembers the manager list and follows its observed role (promotion, demotion).
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
  // swarmctl plugin ls|inspect|reload: the plugins of the manager that runs the call (the leader).
  const pluginMethods = o.plugins ? pluginControlHandlers(o.plugins) : undefined;
  let dispatcher: Dispatcher | undefined;
  let agent: Agent | undefined;
  let executor: Executor | undefined;
  let logServer: TaskLogServer | undefined;
  let self: SwarmNode | undefined;
  const metrics = o.metrics;
  return {
    // TaskLogs (swarmctl service logs) is served by the node layer: it reaches other nodes' log servers.
    // Plugin methods (swarmctl plugin ls|inspect|reload) answer from this manager's plugin host.
    control: (method, request, ctx) => {
      if (method === 'TaskLogs' && self !== undefined) return taskLogs(ctx.manager, self.material, request);
      const p = pluginMethods?.[method as keyof typeof pluginMethods];
      if (p !== undefined) return Promise.resolve((p as (r: unknown) => unknown)(request ?? {}));
      return apiFor(ctx.manager).call(method, request);
    },
    hooks: {
      onManager: (m, node) => {
        self = node;
        metrics?.setSources({ manager: () => m, dispatcherSessions: () => (m.isLeader ? dispatcher?.sessionCount : undefined) });
        for (const p of builtinOrchestrators) metrics?.recordPlugin('orchestrator', p.name, p.version);
        metrics?.recordPlugin('restart-policy', defaultRestartPolicy.name, defaultRestartPolicy.version);
        // Before orchestration: a new leader first adopts the plugin versions the previous leader recorded.
        if (o.plugins) {
          const pluginLog = o.logger.child({ component: 'plugins' });
          m.addLeaderComponent(new PluginVersionRecorder({ store: m.store, plugins: o.plugins, log: (line) => pluginLog.warn({}, line) }));
        }
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
              ...(o.plugins ? { plugins: o.plugins.orchestrationPlugins() } : {}),
            });
            if (metrics) orch.scheduler.addPassObserver(metrics.schedulerObserver());
            orch.start();
          },
          stop: async () => {
            await orch?.stop();
            orch = undefined;
          },
        });
        m.addMembersListener(() => dispatcher?.managersChanged());
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
        // Promotion and demotion: observed role and Raft membership follow the desired role (leader only).
        m.addLeaderComponent(
          new RoleManager({ store: m.store, timers: m.timers, raft: m, logger: o.logger.child({ component: 'role-manager' }) }),
        );
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
          session: (req, ctx) => {
            metrics?.recordSession();
            return route(ctx).session(req, ctx);
          },
          heartbeat: (req, ctx) => {
            metrics?.recordHeartbeat();
            return route(ctx).heartbeat(req, ctx);
          },
          updateTaskStatus: (req, ctx) => route(ctx).updateTaskStatus(req, ctx),
          assignments: (req, ctx) => route(ctx).assignments(req, ctx),
        });
      },
      onStarted: async (node: SwarmNode) => {
        if (o.agent === false) return;
        self = node;
        const env = { stateDir: node.o.stateDir, nodeId: node.nodeId, timers: node.timers };
        // --executor overrides the executor named in the plugin config, for this node.
        const plugin =
          o.executor !== undefined
            ? createExecutor(o.executor, env)
            : o.plugins
              ? await o.plugins.attachAgent({ stateDir: env.stateDir, nodeId: env.nodeId })
              : await pickDefaultExecutor(env);
        metrics?.recordPlugin('executor', plugin.name, o.executor !== undefined || !o.plugins ? 'builtin' : 'plugin');
        logServer = new TaskLogServer({
          executor: plugin,
          material: () => node.material,
          listen: o.logsListen ?? `${hostOfAddr(node.advertiseAddr)}:0`,
          logger: o.logger.child({ component: 'task-logs' }),
        });
        await logServer.start();
        const logsAddr = logServer.addr;
        executor = instrumentExecutor(plugin, {
          extraLabels: () => {
            logServer?.refreshTls();
            return { [LOGS_ADDR_LABEL]: logsAddr };
          },
          ...(metrics ? { onFailure: () => metrics.recordPluginFailure('executor', plugin.name) } : {}),
        });
        // A manager's agent starts on its own dispatcher but also knows its peers: when it cannot get a session
        // locally (e.g. this manager was removed from Raft while it was down and stops its manager role at
        // restart), it fails over to another manager instead of retrying a dispatcher that is gone.
        const known = node.state.managers.map((x) => x.addr).filter((a) => a !== '' && a !== node.advertiseAddr);
        const managers = node.manager ? [node.advertiseAddr, ...known] : known;
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
          onSessionMessage: (msg) => node.onSessionMessage(msg),
          logger: o.logger.child({ component: 'agent' }),
        });
        await agent.start();
        o.logger.info({ executor: executor.name, logsAddr }, 'agent started');
      },
      onStopping: async () => {
        await agent?.stop();
        await logServer?.stop();
        await executor?.close();
      },
    },
  };
}

/** The host of "host:port" (brackets of an IPv6 host kept). */
function hostOfAddr(addr: string): string {
  const i = addr.lastIndexOf(':');
  return i < 0 ? addr : addr.slice(0, i);
}
