// The swarmhost command: one swarm node (manager or worker), with SwarmKit's swarmd flags.
import { hostname as osHostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { PluginHost } from '../plugins/index.js';
import { RealTimers } from '../env/index.js';
import { Command, InvalidArgumentError as CommanderArgError } from 'commander';
import { createLogger } from '../node/logger.js';
import { NODE_ID_LOG_FIELD, defaultLogFormat, type LogFormat } from '../node/log-format.js';
import { NodeMetrics, serveMetrics, type MetricsServer } from '../node/metrics.js';
import { SwarmNode } from '../node/swarm-node.js';
import { DEFAULT_RAFT_TIMING } from '../node/manager.js';
import { nodeServices } from '../node/services.js';
import { SCHEDULER_WASM_URL } from '../scheduler/index.js';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The checkout this command runs from (plugins.config.ts lives there). */
const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

function positiveInt(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n <= 0) throw new CommanderArgError(`${flag} must be a positive integer, got "${v}"`);
    return n;
  };
}

const program = new Command()
  .name('swarmhost')
  .description('Run a swarmhost node: create a swarm, or join one with a token')
  .version('0.1.0', '-v, --version')
  .option('-d, --state-dir <dir>', 'state directory (certificates, raft log, tasks)', '/var/lib/swarmhost')
  .option('--hostname <name>', 'node hostname', osHostname())
  .option('--listen-remote-api <addr>', 'host:port for the remote API (mutual TLS)', '0.0.0.0:4242')
  .option('--advertise-remote-api <addr>', 'host:port other nodes use to reach this one')
  .option('--listen-control-api <path>', 'unix socket of the control API (managers)', '/var/run/swarmhost.sock')
  .option('--join-addr <addr>', 'host:port of a manager to join (none and no state = create a new swarm)')
  .option('--join-token <token>', 'join token (SWMTKN-1-...)')
  .option('--config <file>', 'plugins configuration (default: plugins.config.ts at the project root)')
  .option('--executor <name>', 'executor for this node: docker | process | sim (default: docker when an engine answers, else process)')
  .option('--tick-ms <ms>', 'raft tick length in ms', positiveInt('--tick-ms'), DEFAULT_RAFT_TIMING.tickMs)
  .option('--election-tick <n>', 'ticks without a leader before an election', positiveInt('--election-tick'), DEFAULT_RAFT_TIMING.electionTick)
  .option('--heartbeat-tick <n>', 'ticks between leader heartbeats', positiveInt('--heartbeat-tick'), DEFAULT_RAFT_TIMING.heartbeatTick)
  .option('-l, --log-level <level>', 'log level: debug | info | warn | error', 'info')
  .option('--log-format <format>', 'log format: text | json (default: text when stderr is a terminal, else json)')
  .option('--listen-metrics <addr>', 'host:port to serve Prometheus metrics at /metrics (plain HTTP; off by default)')
  .option('--listen-logs-api <addr>', 'host:port of the task log server managers read logs from (default: advertise host, free port)')
  .parse();

const o = program.opts<{
  stateDir: string;
  hostname: string;
  listenRemoteApi: string;
  advertiseRemoteApi?: string;
  listenControlApi: string;
  joinAddr?: string;
  joinToken?: string;
  config?: string;
  executor?: string;
  tickMs: number;
  electionTick: number;
  heartbeatTick: number;
  logLevel: string;
  logFormat?: string;
  listenMetrics?: string;
  listenLogsApi?: string;
}>();

if (o.logFormat !== undefined && o.logFormat !== 'text' && o.logFormat !== 'json') {
  console.error(`Error: --log-format must be text or json, got "${o.logFormat}"`);
  process.exit(2);
}
const logFormat: LogFormat = (o.logFormat as LogFormat | undefined) ?? defaultLogFormat(process.stderr.isTTY === true);

if (o.heartbeatTick >= o.electionTick) {
  console.error(`Error: --heartbeat-tick (${o.heartbeatTick}) must be smaller than --election-tick (${o.electionTick})`);
  process.exit(2);
}
if (o.executor !== undefined && !['docker', 'process', 'sim'].includes(o.executor)) {
  console.error(`Error: --executor must be docker, process or sim, got "${o.executor}"`);
  process.exit(2);
}

if (!existsSync(fileURLToPath(SCHEDULER_WASM_URL))) {
  console.error(`Error: ${fileURLToPath(SCHEDULER_WASM_URL)} is missing: build the WebAssembly modules first with "npm run build"`);
  process.exit(2);
}

// The node id is known once the node has loaded or created its identity: from then on every line carries it
// as "node.id" (SwarmKit's field name; "nodeId" stays free for the node a line is about).
let nodeRef: SwarmNode | undefined;
const logger = createLogger({
  level: o.logLevel,
  format: logFormat,
  color: logFormat === 'text' && process.stderr.isTTY === true,
  bindings: { hostname: o.hostname },
  dynamic: () => {
    const id = (nodeRef?.identity as { nodeId?: string } | undefined)?.nodeId;
    return id ? { [NODE_ID_LOG_FIELD]: id } : {};
  },
});

// The plugin host: orchestrators, restart policy, strategy and executor as declared in the config, watched
// for changes (hot swap). An explicit --config is also type-checked at start.
const configFile = resolve(o.config ?? join(PROJECT_ROOT, 'plugins.config.ts'));
let plugins: PluginHost;
try {
  plugins = await PluginHost.start({
    configFile,
    timers: new RealTimers(),
    log: (line) => logger.info({ component: 'plugins' }, line),
    typeCheckConfig: o.config !== undefined,
  });
  plugins.watch();
} catch (e) {
  console.error(`Error: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(2);
}

const metrics = o.listenMetrics !== undefined ? new NodeMetrics() : undefined;
const services = nodeServices({
  hostname: o.hostname,
  executor: o.executor,
  logger,
  plugins,
  ...(metrics ? { metrics } : {}),
  ...(o.listenLogsApi ? { logsListen: o.listenLogsApi } : {}),
});
const node = new SwarmNode(
  {
    stateDir: resolve(o.stateDir),
    hostname: o.hostname,
    listenRemoteApi: o.listenRemoteApi,
    ...(o.advertiseRemoteApi ? { advertiseRemoteApi: o.advertiseRemoteApi } : {}),
    listenControlApi: resolve(o.listenControlApi),
    ...(o.joinAddr ? { joinAddr: o.joinAddr } : {}),
    ...(o.joinToken ? { joinToken: o.joinToken } : {}),
    timing: { tickMs: o.tickMs, electionTick: o.electionTick, heartbeatTick: o.heartbeatTick },
    logger,
    control: services.control,
  },
  services.hooks,
);
nodeRef = node;
let metricsServer: MetricsServer | undefined;

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'shutting down');
  const hard = setTimeout(() => {
    logger.error({}, 'shutdown took longer than 10 s; exiting');
    process.exit(1);
  }, 10_000);
  hard.unref();
  await node.stop().catch((e) => logger.error({ err: String(e) }, 'error during shutdown'));
  await plugins.close().catch(() => undefined);
  await metricsServer?.close();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));

try {
  if (metrics && o.listenMetrics) {
    metricsServer = await serveMetrics(metrics, o.listenMetrics);
    logger.info({ addr: metricsServer.addr }, 'serving metrics at /metrics');
  }
  await node.start();
} catch (e) {
  const msg = e instanceof Error ? e.message : String(e);
  logger.error({ err: msg }, 'failed to start');
  console.error(`Error: ${msg}`);
  await node.stop().catch(() => undefined);
  process.exit(1);
}
