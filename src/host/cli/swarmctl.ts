/**
 * swarmctl: the operator's command line over the control socket (reference §13.1, the seed README's
 * walkthrough). Built on commander; all I/O goes through {@link SwarmctlIo} so that tests run it against a
 * fake ControlClient and compare whole outputs. Exit codes (EXIT_CODES_HELP): 0 success, 1 usage errors
 * found by commander, 3 a `--detach=false` wait that ended without convergence, 255 any error reported by the
 * API or the connection ("Error: <message>" on stderr).
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import {
  NotFoundError,
  InvalidArgumentError,
  NodeAvailability,
  NodeRole,
  type Cluster,
  type Config,
  type Node,
  type Service,
  type ServiceSpec,
  type Task,
} from '../api/index.js';
import { GrpcControlClient, type ControlClient } from './control-client.js';
import { humanizeAge, parseDuration, table } from './format.js';
import { bashCompletion } from './swarmctl-completion.js';

/** One row of ListPlugins (see src/host/plugins). */
interface PluginRow {
  slot: string;
  name: string;
  version: string;
  state: string;
  loadedAtMs: number;
  lastError: string;
  /** Active manager-side rows: the version the leader record names, `name@hash12` (absent without a record). */
  recorded?: string;
}
import { ProgressPrinter, progressView } from './swarmctl-progress.js';
import { addServiceFlags, applyServiceFlags, specFromFlags, type ServiceFlags } from './swarmctl-flags.js';
import {
  isTaskShown,
  renderClusterInspect,
  renderClusterList,
  renderConfigInspect,
  renderConfigList,
  renderNodeInspect,
  renderNodeList,
  renderServiceInspect,
  renderServiceList,
  renderTaskInspect,
  renderTaskList,
  replicasText,
  type StatusById,
} from './swarmctl-render.js';

/** Default control socket when neither -s nor SWARM_SOCKET is given (SwarmKit's). */
export const DEFAULT_SOCKET_PATH = '/var/run/swarmhost.sock'; // swarmhost's --listen-control-api default
/** Exit code of a command that failed (SwarmKit's swarmctl exits 255). */
export const EXIT_ERROR = 255;
/** Exit code of a usage error (unknown command or option, missing argument). */
export const EXIT_USAGE = 1;
/** Exit code of `--detach=false` when the service did not converge (timeout, update paused or rolled back). */
export const EXIT_NOT_CONVERGED = 3;
/** Default bound of a `--detach=false` wait. */
export const DEFAULT_CONVERGE_TIMEOUT = '3m';
/** How often `--detach=false` and `service logs -f` poll the control API, ms. */
export const DEFAULT_POLL_MS = 500;

/** The exit codes, as printed at the end of `swarmctl --help`. */
export const EXIT_CODES_HELP = `
Exit codes:
  0    success
  1    usage error (unknown command or option, missing argument)
  3    --detach=false: the service did not converge before --timeout, or its update paused or rolled back
  255  the control API or the connection reported an error (the message is printed on stderr)

Environment:
  SWARM_SOCKET  control socket path (instead of -s/--socket)
`;

/** A --detach=false wait that ended without convergence. */
class NotConvergedError extends Error {}

/** What swarmctl touches outside itself. */
export interface SwarmctlIo {
  out(text: string): void;
  err(text: string): void;
  /** Current time, ms since the epoch (for humanized ages). */
  now(): number;
  env: Readonly<Record<string, string | undefined>>;
  /** Opens the control connection for a socket path. */
  connect(socketPath: string): ControlClient;
  /** Reads all of stdin (config create without --file). */
  readStdin(): Promise<string>;
  /** Reads a file (config create --file). */
  readFile(path: string): string;
  /** stdout is a terminal (progress redrawn in place); default false: plain output. */
  isTTY?: boolean;
  /** Waits `ms` (polling loops); default: a real timer. */
  sleep?(ms: number): Promise<void>;
  /** Aborted when the user interrupts (Ctrl-C ends `service logs -f`). */
  signal?: AbortSignal;
}

type Kind = 'node' | 'service' | 'task' | 'config' | 'cluster';
const API: Record<Kind, { get: string; list: string; idKey: string; field: string; plural: string }> = {
  node: { get: 'GetNode', list: 'ListNodes', idKey: 'nodeId', field: 'node', plural: 'nodes' },
  service: { get: 'GetService', list: 'ListServices', idKey: 'serviceId', field: 'service', plural: 'services' },
  task: { get: 'GetTask', list: 'ListTasks', idKey: 'taskId', field: 'task', plural: 'tasks' },
  config: { get: 'GetConfig', list: 'ListConfigs', idKey: 'configId', field: 'config', plural: 'configs' },
  cluster: { get: 'GetCluster', list: 'ListClusters', idKey: 'clusterId', field: 'cluster', plural: 'clusters' },
};

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Runs one swarmctl invocation (`argv` = the arguments after the program name); resolves with the exit code. */
export async function runSwarmctl(argv: string[], io: SwarmctlIo): Promise<number> {
  let client: ControlClient | null = null;
  const program = new Command('swarmctl');
  const conn = (): ControlClient => {
    if (client === null) {
      const o = program.opts<{ socket?: string }>();
      client = io.connect(o.socket ?? io.env.SWARM_SOCKET ?? DEFAULT_SOCKET_PATH);
    }
    return client;
  };
  const call = async <T>(method: string, req: unknown): Promise<T> => (await conn().call(method, req)) as T;
  const json = (v: unknown): void => io.out(JSON.stringify(v, null, 2) + '\n');

  /** Exact id, then exact name, then unique id prefix. */
  async function resolve<T>(kind: Kind, input: string): Promise<T> {
    const a = API[kind];
    try {
      return ((await call<Record<string, unknown>>(a.get, { [a.idKey]: input }))[a.field]) as T;
    } catch (e) {
      if (!(e instanceof NotFoundError)) throw e;
    }
    const byName = (await call<Record<string, T[]>>(a.list, { filters: { names: [input] } }))[a.plural]!;
    if (byName.length === 1) return byName[0]!;
    if (byName.length > 1) throw new InvalidArgumentError(`${input} is ambiguous (${byName.length} matches found)`);
    const byPrefix = (await call<Record<string, T[]>>(a.list, { filters: { idPrefixes: [input] } }))[a.plural]!;
    if (byPrefix.length === 1) return byPrefix[0]!;
    if (byPrefix.length > 1) throw new InvalidArgumentError(`${input} is ambiguous (${byPrefix.length} matches found)`);
    throw new NotFoundError(`${kind} ${input} not found`);
  }

  /** Nodes by id for the Node column; empty with -n/--no-resolve, so that ids are shown instead of names. */
  async function nodesById(): Promise<Map<string, Node>> {
    if (program.opts<{ resolve?: boolean }>().resolve === false) return new Map();
    const { nodes } = await call<{ nodes: Node[] }>('ListNodes', {});
    return new Map(nodes.map((n) => [n.id, n]));
  }

  async function statuses(ids: string[]): Promise<StatusById> {
    if (ids.length === 0) return new Map();
    const r = await call<{ statuses: { serviceId: string; desiredTasks: number; runningTasks: number; completedTasks: number }[] }>(
      'ListServiceStatuses',
      { services: ids },
    );
    return new Map(r.statuses.map((s) => [s.serviceId, s]));
  }

  const checkFormat = (f: string | undefined): boolean => {
    if (f === undefined) return false;
    if (f !== 'json') throw new InvalidArgumentError(`--format: only "json" is supported (got "${f}")`);
    return true;
  };

  program
    .description('Control a swarmhost cluster through its control socket')
    .option('-s, --socket <path>', `control socket (default: $SWARM_SOCKET or ${DEFAULT_SOCKET_PATH})`)
    .option('-n, --no-resolve', 'show node ids instead of node names in task tables')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })
    .showHelpAfterError(false);

  program
    .command('version')
    .description('print the version')
    .action(() => io.out(`swarmctl swarmhost ${packageVersion()}\n`));

  // ---------------------------------------------------------------- cluster
  const cluster = program.command('cluster').description('manage the cluster');
  cluster
    .command('ls')
    .description('list clusters')
    .option('-q, --quiet', 'only ids')
    .option('--format <format>', 'output format: json (for scripts)')
    .action(async (o: { quiet?: boolean; format?: string }) => {
      const { clusters } = await call<{ clusters: Cluster[] }>('ListClusters', {});
      if (checkFormat(o.format)) return json(clusters);
      io.out(o.quiet ? clusters.map((c) => c.id + '\n').join('') : renderClusterList(clusters));
    });
  cluster
    .command('inspect <cluster>')
    .description('show a cluster: join tokens, CA, raft, dispatcher and orchestration settings')
    .option('--format <format>', 'output format: json (for scripts)')
    .action(async (name: string, o: { format?: string }) => {
      const c = await resolve<Cluster>('cluster', name);
      if (checkFormat(o.format)) return json(c);
      io.out(renderClusterInspect(c));
    });
  cluster
    .command('update <cluster>')
    .description('change cluster settings or rotate a join token')
    .option('--rotate-join-token <role>', 'worker | manager')
    .option('--certexpiry <duration>', 'node certificate validity (e.g. 2160h; at least 30m)')
    .option('--heartbeatperiod <duration>', 'dispatcher heartbeat period')
    .option('--taskhistory <n>', 'task history entries kept per slot (negative = all)')
    .action(async (name: string, o: { rotateJoinToken?: string; certexpiry?: string; heartbeatperiod?: string; taskhistory?: string }) => {
      const c = await resolve<Cluster>('cluster', name);
      const spec = structuredClone(c.spec);
      const rotation: { workerJoinToken?: boolean; managerJoinToken?: boolean } = {};
      if (o.rotateJoinToken !== undefined) {
        if (o.rotateJoinToken === 'worker') rotation.workerJoinToken = true;
        else if (o.rotateJoinToken === 'manager') rotation.managerJoinToken = true;
        else throw new InvalidArgumentError(`--rotate-join-token: must be worker or manager (got "${o.rotateJoinToken}")`);
      }
      if (o.certexpiry !== undefined) spec.caConfig.nodeCertExpiryMs = parseDuration(o.certexpiry, '--certexpiry');
      if (o.heartbeatperiod !== undefined) spec.dispatcher.heartbeatPeriodMs = parseDuration(o.heartbeatperiod, '--heartbeatperiod');
      if (o.taskhistory !== undefined) {
        if (!/^-?\d+$/.test(o.taskhistory)) throw new InvalidArgumentError(`--taskhistory: "${o.taskhistory}" is not an integer`);
        spec.orchestration.taskHistoryRetentionLimit = Number(o.taskhistory);
      }
      await call('UpdateCluster', { clusterId: c.id, clusterVersion: c.meta.version, spec, rotation });
      io.out(c.id + '\n');
    });

  // ---------------------------------------------------------------- node
  const node = program.command('node').description('manage nodes');
  node
    .command('ls')
    .description('list nodes')
    .option('-q, --quiet', 'only ids')
    .option('--format <format>', 'output format: json (for scripts)')
    .action(async (o: { quiet?: boolean; format?: string }) => {
      const { nodes } = await call<{ nodes: Node[] }>('ListNodes', {});
      if (checkFormat(o.format)) return json(nodes);
      io.out(o.quiet ? [...nodes].sort((a, b) => a.id.localeCompare(b.id)).map((n) => n.id + '\n').join('') : renderNodeList(nodes));
    });
  node
    .command('inspect <node>')
    .description('show a node and its tasks')
    .option('-a, --all', 'show all tasks')
    .option('--format <format>', 'output format: json (for scripts)')
    .action(async (name: string, o: { all?: boolean; format?: string }) => {
      const n = await resolve<Node>('node', name);
      if (checkFormat(o.format)) return json(n);
      const { tasks } = await call<{ tasks: Task[] }>('ListTasks', { filters: { nodeIds: [n.id] } });
      io.out(renderNodeInspect(n, tasks.filter((t) => isTaskShown(t, o.all === true)), await nodesById(), io.now()));
    });

  const nodeChange = (
    cmd: string,
    describe: string,
    already: (n: Node) => boolean,
    alreadyMsg: (input: string) => string,
    change: (spec: Node['spec']) => void,
  ): void => {
    node
      .command(`${cmd} <node>`)
      .description(describe)
      .action(async (name: string) => {
        const n = await resolve<Node>('node', name);
        if (already(n)) throw new InvalidArgumentError(alreadyMsg(name));
        const spec = structuredClone(n.spec);
        change(spec);
        await call('UpdateNode', { nodeId: n.id, nodeVersion: n.meta.version, spec });
      });
  };
  nodeChange('activate', 'make a node available for tasks', (n) => n.spec.availability === NodeAvailability.ACTIVE, (x) => `Node ${x} is already active`, (s) => {
    s.availability = NodeAvailability.ACTIVE;
  });
  nodeChange('pause', 'stop scheduling new tasks on a node', (n) => n.spec.availability === NodeAvailability.PAUSE, (x) => `Node ${x} was already paused`, (s) => {
    s.availability = NodeAvailability.PAUSE;
  });
  nodeChange('drain', 'move all tasks off a node', (n) => n.spec.availability === NodeAvailability.DRAIN, (x) => `Node ${x} was already drained`, (s) => {
    s.availability = NodeAvailability.DRAIN;
  });
  nodeChange('promote', 'make a node a manager', (n) => n.spec.desiredRole === NodeRole.MANAGER, (x) => `Node ${x} is already a manager`, (s) => {
    s.desiredRole = NodeRole.MANAGER;
  });
  nodeChange('demote', 'make a node a worker', (n) => n.spec.desiredRole === NodeRole.WORKER, (x) => `Node ${x} is already a worker`, (s) => {
    s.desiredRole = NodeRole.WORKER;
  });
  const collect = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v];
  node
    .command('update <node>')
    .description("change a node's labels")
    .option('--label <k=v>', 'node label (repeatable; replaces all labels)', collect)
    .option('--label-add <k=v>', 'add or change a label (repeatable)', collect)
    .option('--label-rm <k>', 'remove a label (repeatable)', collect)
    .action(async (name: string, o: { label?: string[]; labelAdd?: string[]; labelRm?: string[] }) => {
      const n = await resolve<Node>('node', name);
      const spec = structuredClone(n.spec);
      const kv = (s: string, flag: string): [string, string] => {
        const i = s.indexOf('=');
        if (i <= 0) throw new InvalidArgumentError(`${flag}: "${s}" is not key=value`);
        return [s.slice(0, i), s.slice(i + 1)];
      };
      if (o.label !== undefined) spec.annotations.labels = Object.fromEntries(o.label.map((s) => kv(s, '--label')));
      for (const s of o.labelAdd ?? []) {
        const [k, v] = kv(s, '--label-add');
        spec.annotations.labels[k] = v;
      }
      for (const k of o.labelRm ?? []) {
        if (!(k in spec.annotations.labels)) throw new InvalidArgumentError(`--label-rm: node ${name} has no label ${k}`);
        delete spec.annotations.labels[k];
      }
      if (JSON.stringify(spec) === JSON.stringify(n.spec)) throw new InvalidArgumentError(`No change for node ${name}`);
      await call('UpdateNode', { nodeId: n.id, nodeVersion: n.meta.version, spec });
    });
  node
    .command('rm <node...>')
    .description('remove nodes from the cluster')
    .alias('remove')
    .option('-f, --force', 'remove a node that is not down')
    .action(async (names: string[], o: { force?: boolean }) => {
      for (const name of names) {
        const n = await resolve<Node>('node', name);
        await call('RemoveNode', { nodeId: n.id, force: o.force === true });
      }
    });

  // ---------------------------------------------------------------- service
  const service = program.command('service').description('manage services');
  const sleep = (ms: number): Promise<void> => (io.sleep ? io.sleep(ms) : new Promise((r) => setTimeout(r, ms)));
  const parseBool = (flag: string) => (v: string): boolean => {
    if (v === 'true' || v === '1') return true;
    if (v === 'false' || v === '0') return false;
    throw new InvalidArgumentError(`${flag}: must be true or false (got "${v}")`);
  };
  const detachFlags = (cmd: Command): Command =>
    cmd
      .option('--detach [bool]', 'return at once (true, the default) or wait for the service to converge (--detach=false)', parseBool('--detach'), true)
      .option('--timeout <duration>', `bound of the --detach=false wait`, DEFAULT_CONVERGE_TIMEOUT);
  type DetachOpts = { detach?: boolean; timeout?: string };

  /** Polls the service and its tasks until converged, failed or timed out, drawing progress. */
  async function waitConverged(serviceId: string, o: DetachOpts): Promise<void> {
    const timeoutMs = parseDuration(o.timeout ?? DEFAULT_CONVERGE_TIMEOUT, '--timeout');
    const deadline = io.now() + timeoutMs;
    const printer = new ProgressPrinter(io.out, io.isTTY === true);
    for (;;) {
      const { service: s } = await call<{ service: Service }>('GetService', { serviceId });
      if ('replicatedJob' in s.spec.mode || 'globalJob' in s.spec.mode) {
        throw new InvalidArgumentError('--detach=false: jobs run to completion and do not converge; follow them with "task ls"');
      }
      const { tasks } = await call<{ tasks: Task[] }>('ListTasks', { filters: { serviceIds: [serviceId] } });
      const desired = (await statuses([serviceId])).get(serviceId)?.desiredTasks ?? 0;
      const v = progressView(s, tasks, await nodesById(), desired);
      printer.frame(v);
      if (v.converged) {
        io.out('verify: Service converged\n');
        return;
      }
      if (v.failed !== undefined) throw new NotConvergedError(`service ${s.spec.annotations.name} did not converge: ${v.failed}`);
      if (io.now() >= deadline) {
        throw new NotConvergedError(`service ${s.spec.annotations.name} did not converge within ${o.timeout ?? DEFAULT_CONVERGE_TIMEOUT} (${v.running} of ${v.desired} tasks running)`);
      }
      if (io.signal?.aborted) throw new NotConvergedError('interrupted; the service keeps converging in the background');
      await sleep(DEFAULT_POLL_MS);
    }
  }

  detachFlags(addServiceFlags(service.command('create').description('create a service'), false)).action(async (o: ServiceFlags & DetachOpts) => {
    if (o.detach === false) parseDuration(o.timeout ?? DEFAULT_CONVERGE_TIMEOUT, '--timeout');
    const { service: s } = await call<{ service: Service }>('CreateService', { spec: specFromFlags(o) });
    io.out(s.id + '\n');
    if (o.detach === false) await waitConverged(s.id, o);
  });
  detachFlags(addServiceFlags(service.command('update <service>').description('update a service'), true)).action(async (name: string, o: ServiceFlags & DetachOpts) => {
    if (o.detach === false) parseDuration(o.timeout ?? DEFAULT_CONVERGE_TIMEOUT, '--timeout');
    const s = await resolve<Service>('service', name);
    const spec: ServiceSpec = applyServiceFlags(s.spec, o);
    if (o.force) spec.task.forceUpdate = s.spec.task.forceUpdate + 1;
    else if (JSON.stringify(spec) === JSON.stringify(s.spec)) throw new InvalidArgumentError('no changes detected');
    await call('UpdateService', { serviceId: s.id, serviceVersion: s.meta.version, spec });
    io.out(s.id + '\n');
    if (o.detach === false) await waitConverged(s.id, o);
  });
  service
    .command('logs <service>')
    .description('print the output of a service\'s tasks, each line prefixed <service>.<slot>@<node>')
    .option('-f, --follow', 'keep printing new output until interrupted (Ctrl-C)')
    .action(async (name: string, o: { follow?: boolean }) => {
      const s = await resolve<Service>('service', name);
      const cursors: Record<string, { stdout: number; stderr: number }> = {};
      const reported = new Map<string, string>();
      type Chunk = { taskId: string; slot: number; nodeName: string; lines: { stream: string; line: string }[]; cursor: { stdout: number; stderr: number }; more: boolean; error?: string };
      for (;;) {
        const res = await call<{ serviceName: string; tasks: Chunk[] }>('TaskLogs', { serviceId: s.id, cursors });
        let more = false;
        for (const c of res.tasks) {
          cursors[c.taskId] = c.cursor;
          more ||= c.more;
          if (c.error !== undefined) {
            if (reported.get(c.taskId) !== c.error) io.err(`warning: logs of task ${c.taskId}: ${c.error}\n`);
            reported.set(c.taskId, c.error);
            continue;
          }
          reported.delete(c.taskId);
          const prefix = `${res.serviceName}.${c.slot > 0 ? c.slot : c.taskId.slice(0, 12)}@${c.nodeName}\u276f `;
          if (c.lines.length > 0) io.out(c.lines.map((l) => prefix + l.line + '\n').join(''));
        }
        if (more) continue;
        if (!o.follow || io.signal?.aborted) return;
        await sleep(DEFAULT_POLL_MS);
        if (io.signal?.aborted) return;
      }
    });
  service
    .command('rollback <service>')
    .description('roll a service back to its previous spec')
    .action(async (name: string) => {
      const s = await resolve<Service>('service', name);
      await call('UpdateService', { serviceId: s.id, serviceVersion: s.meta.version, spec: s.spec, rollback: 'previous' });
      io.out(s.id + '\n');
    });
  service
    .command('ls')
    .description('list services with their replica counts')
    .option('-q, --quiet', 'only ids')
    .option('--format <format>', 'output format: json (for scripts)')
    .action(async (o: { quiet?: boolean; format?: string }) => {
      const { services } = await call<{ services: Service[] }>('ListServices', {});
      if (checkFormat(o.format)) return json(services);
      if (o.quiet) return io.out([...services].sort((a, b) => a.id.localeCompare(b.id)).map((s) => s.id + '\n').join(''));
      io.out(renderServiceList(services, await statuses(services.map((s) => s.id))));
    });
  service
    .command('inspect <service>')
    .description('show a service and its tasks')
    .option('-a, --all', 'show all tasks')
    .option('--format <format>', 'output format: json (for scripts)')
    .action(async (name: string, o: { all?: boolean; format?: string }) => {
      const s = await resolve<Service>('service', name);
      if (checkFormat(o.format)) return json(s);
      const { tasks } = await call<{ tasks: Task[] }>('ListTasks', { filters: { serviceIds: [s.id] } });
      const st = await statuses([s.id]);
      io.out(renderServiceInspect(s, replicasText(s, st), tasks.filter((t) => isTaskShown(t, o.all === true)), await nodesById(), io.now()));
    });
  service
    .command('rm <service...>')
    .description('remove services (their tasks are shut down)')
    .alias('remove')
    .action(async (names: string[]) => {
      for (const name of names) {
        const s = await resolve<Service>('service', name);
        await call('RemoveService', { serviceId: s.id });
        io.out(s.id + '\n');
      }
    });

  // ---------------------------------------------------------------- task
  const task = program.command('task').description('inspect and remove tasks');
  task
    .command('ls')
    .description('list tasks')
    .option('-a, --all', 'include tasks that are shut down')
    .option('-q, --quiet', 'only ids')
    .option('--format <format>', 'output format: json (for scripts)')
    .action(async (o: { all?: boolean; quiet?: boolean; format?: string }) => {
      const { tasks } = await call<{ tasks: Task[] }>('ListTasks', {});
      const shown = tasks.filter((t) => isTaskShown(t, o.all === true));
      if (checkFormat(o.format)) return json(shown);
      if (o.quiet) return io.out(shown.map((t) => t.id + '\n').join(''));
      io.out(renderTaskList(shown, await nodesById(), io.now()));
    });
  task
    .command('inspect <task>')
    .description('show a task and the earlier tasks of its slot')
    .option('--format <format>', 'output format: json (for scripts)')
    .action(async (name: string, o: { format?: string }) => {
      const t = await resolve<Task>('task', name);
      if (checkFormat(o.format)) return json(t);
      const { tasks } = await call<{ tasks: Task[] }>('ListTasks', { filters: { serviceIds: [t.serviceId] } });
      const parents = tasks.filter((x) => x.id !== t.id && x.slot === t.slot && (t.slot !== 0 || x.nodeId === t.nodeId));
      io.out(renderTaskInspect(t, parents, await nodesById(), io.now()));
    });
  task
    .command('rm <task...>')
    .description('remove tasks')
    .alias('remove')
    .action(async (names: string[]) => {
      for (const name of names) {
        const t = await resolve<Task>('task', name);
        await call('RemoveTask', { taskId: t.id });
        io.out(t.id + '\n');
      }
    });

  // ---------------------------------------------------------------- plugins
  const plugin = program.command('plugin').description('inspect and reload the plugins the leader runs');
  plugin
    .command('ls')
    .description('list plugin versions per slot: state, load time, last error')
    .option('--format <format>', 'json')
    .action(async (o: { format?: string }) => {
      const r = await call<{ configFile: string; plugins: PluginRow[] }>('ListPlugins', {});
      if (checkFormat(o.format)) return json(r);
      // The Recorded column appears only when a slot serves something else than the leader record names.
      const mismatch = (p: PluginRow): string => (p.recorded !== undefined && p.recorded !== `${p.name}@${p.version}` ? p.recorded : '');
      const showRecorded = r.plugins.some((p) => mismatch(p) !== '');
      const rows = r.plugins.map((p) => [
        p.slot,
        p.name,
        p.version,
        p.state.toUpperCase(),
        p.loadedAtMs ? humanizeAge(p.loadedAtMs, io.now()) : '',
        p.lastError.length > 60 ? `${p.lastError.slice(0, 57)}...` : p.lastError,
        ...(showRecorded ? [mismatch(p)] : []),
      ]);
      io.out(table(['Slot', 'Name', 'Version', 'State', 'Loaded', 'Last Error', ...(showRecorded ? ['Recorded'] : [])], rows));
    });
  plugin
    .command('inspect <slot>')
    .description('the slot: its active version, history and config entry')
    .action(async (slot: string) => json(await call('InspectPlugin', { slot })));
  plugin
    .command('reload')
    .description('reload the config and every plugin module now (also happens on file change)')
    .action(async () => {
      const r = await call<{ configError?: string; slots: { slot: string; outcome: string; version?: string; error?: string }[] }>('ReloadPlugins', {});
      if (r.configError) io.out(`config: refused: ${r.configError}\n`);
      for (const x of r.slots) io.out(`${x.slot}: ${x.outcome}${x.version ? ` ${x.version}` : ''}${x.error ? `: ${x.error}` : ''}\n`);
    });

  // ---------------------------------------------------------------- config
  const config = program.command('config').description('manage configs');
  config
    .command('create <name>')
    .description('create a config from a file or stdin')
    .option('-f, --file <path>', 'read the data from a file (default: stdin)')
    .action(async (name: string, o: { file?: string }) => {
      const data = o.file !== undefined ? io.readFile(o.file) : await io.readStdin();
      const { config: c } = await call<{ config: Config }>('CreateConfig', { spec: { annotations: { name, labels: {} }, data } });
      io.out(c.id + '\n');
    });
  config
    .command('ls')
    .description('list configs')
    .option('-q, --quiet', 'only ids')
    .option('--format <format>', 'output format: json (for scripts)')
    .action(async (o: { quiet?: boolean; format?: string }) => {
      const { configs } = await call<{ configs: Config[] }>('ListConfigs', {});
      if (checkFormat(o.format)) return json(configs);
      io.out(o.quiet ? configs.map((c) => c.id + '\n').join('') : renderConfigList(configs, io.now()));
    });
  config
    .command('inspect <config>')
    .description('show a config')
    .option('--format <format>', 'output format: json (for scripts)')
    .action(async (name: string, o: { format?: string }) => {
      const c = await resolve<Config>('config', name);
      if (checkFormat(o.format)) return json(c);
      io.out(renderConfigInspect(c, io.now()));
    });
  config
    .command('rm <config...>')
    .description('remove configs')
    .alias('remove')
    .action(async (names: string[]) => {
      for (const name of names) {
        const c = await resolve<Config>('config', name);
        await call('RemoveConfig', { configId: c.id });
        io.out(c.id + '\n');
      }
    });

  program
    .command('completion <shell>')
    .description('print a shell completion script (bash); install with: source <(swarmctl completion bash)')
    .action((shell: string) => {
      if (shell !== 'bash') throw new InvalidArgumentError(`completion: only bash is supported (got "${shell}")`);
      io.out(bashCompletion(program));
    });
  program.addHelpText('after', EXIT_CODES_HELP);

  // Every sub-command reports through the same handlers.
  const configureAll = (cmd: Command): void => {
    cmd.exitOverride().configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) });
    for (const c of cmd.commands) configureAll(c);
  };
  for (const c of program.commands) configureAll(c);

  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version requests exit 0; usage errors were already printed by commander.
      return e.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    io.err(`Error: ${e instanceof Error ? e.message : String(e)}\n`);
    if (e instanceof NotConvergedError) return EXIT_NOT_CONVERGED;
    return EXIT_ERROR;
  } finally {
    (client as ControlClient | null)?.close();
  }
}

/** The process entry point used by bin/swarmctl.mjs: real socket, stdout/stderr, clock and environment. */
export async function main(argv: string[]): Promise<number> {
  const ac = new AbortController();
  process.once('SIGINT', () => {
    ac.abort();
    // Polling loops stop at once; a command blocked on a call is ended shortly after (128 + SIGINT).
    setTimeout(() => process.exit(130), 1_000).unref();
  });
  return runSwarmctl(argv, {
    isTTY: process.stdout.isTTY === true,
    signal: ac.signal,
    out: (s) => process.stdout.write(s),
    err: (s) => process.stderr.write(s),
    now: () => Date.now(),
    env: process.env,
    connect: (path) => new GrpcControlClient(path),
    readFile: (path) => readFileSync(path, 'utf8'),
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
  });
}
