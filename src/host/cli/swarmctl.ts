/**
 * swarmctl: the operator's command line over the control socket (reference §13.1, the seed README's
 * walkthrough). Built on commander; all I/O goes through {@link SwarmctlIo} so that tests run it against a
 * fake ControlClient and compare whole outputs. Exit codes: 0 success, 255 any error reported by the API or
 * the connection ("Error: <message>" on stderr), 1 for usage errors found by commander.
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
import { parseDuration } from './format.js';
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
export const DEFAULT_SOCKET_PATH = '/var/run/swarmd.sock';
/** Exit code of a command that failed (SwarmKit's swarmctl exits 255). */
export const EXIT_ERROR = 255;

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
    .option('-q, --quiet', 'only ids')
    .option('--format <format>', 'json')
    .action(async (o: { quiet?: boolean; format?: string }) => {
      const { clusters } = await call<{ clusters: Cluster[] }>('ListClusters', {});
      if (checkFormat(o.format)) return json(clusters);
      io.out(o.quiet ? clusters.map((c) => c.id + '\n').join('') : renderClusterList(clusters));
    });
  cluster
    .command('inspect <cluster>')
    .option('--format <format>', 'json')
    .action(async (name: string, o: { format?: string }) => {
      const c = await resolve<Cluster>('cluster', name);
      if (checkFormat(o.format)) return json(c);
      io.out(renderClusterInspect(c));
    });
  cluster
    .command('update <cluster>')
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
    .option('-q, --quiet', 'only ids')
    .option('--format <format>', 'json')
    .action(async (o: { quiet?: boolean; format?: string }) => {
      const { nodes } = await call<{ nodes: Node[] }>('ListNodes', {});
      if (checkFormat(o.format)) return json(nodes);
      io.out(o.quiet ? [...nodes].sort((a, b) => a.id.localeCompare(b.id)).map((n) => n.id + '\n').join('') : renderNodeList(nodes));
    });
  node
    .command('inspect <node>')
    .option('-a, --all', 'show all tasks')
    .option('--format <format>', 'json')
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
  addServiceFlags(service.command('create').description('create a service'), false).action(async (o: ServiceFlags) => {
    const { service: s } = await call<{ service: Service }>('CreateService', { spec: specFromFlags(o) });
    io.out(s.id + '\n');
  });
  addServiceFlags(service.command('update <service>').description('update a service'), true).action(async (name: string, o: ServiceFlags) => {
    const s = await resolve<Service>('service', name);
    const spec: ServiceSpec = applyServiceFlags(s.spec, o);
    if (o.force) spec.task.forceUpdate = s.spec.task.forceUpdate + 1;
    else if (JSON.stringify(spec) === JSON.stringify(s.spec)) throw new InvalidArgumentError('no changes detected');
    await call('UpdateService', { serviceId: s.id, serviceVersion: s.meta.version, spec });
    io.out(s.id + '\n');
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
    .option('-q, --quiet', 'only ids')
    .option('--format <format>', 'json')
    .action(async (o: { quiet?: boolean; format?: string }) => {
      const { services } = await call<{ services: Service[] }>('ListServices', {});
      if (checkFormat(o.format)) return json(services);
      if (o.quiet) return io.out([...services].sort((a, b) => a.id.localeCompare(b.id)).map((s) => s.id + '\n').join(''));
      io.out(renderServiceList(services, await statuses(services.map((s) => s.id))));
    });
  service
    .command('inspect <service>')
    .option('-a, --all', 'show all tasks')
    .option('--format <format>', 'json')
    .action(async (name: string, o: { all?: boolean; format?: string }) => {
      const s = await resolve<Service>('service', name);
      if (checkFormat(o.format)) return json(s);
      const { tasks } = await call<{ tasks: Task[] }>('ListTasks', { filters: { serviceIds: [s.id] } });
      const st = await statuses([s.id]);
      io.out(renderServiceInspect(s, replicasText(s, st), tasks.filter((t) => isTaskShown(t, o.all === true)), await nodesById(), io.now()));
    });
  service
    .command('rm <service...>')
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
    .option('-a, --all', 'include tasks that are shut down')
    .option('-q, --quiet', 'only ids')
    .option('--format <format>', 'json')
    .action(async (o: { all?: boolean; quiet?: boolean; format?: string }) => {
      const { tasks } = await call<{ tasks: Task[] }>('ListTasks', {});
      const shown = tasks.filter((t) => isTaskShown(t, o.all === true));
      if (checkFormat(o.format)) return json(shown);
      if (o.quiet) return io.out(shown.map((t) => t.id + '\n').join(''));
      io.out(renderTaskList(shown, await nodesById(), io.now()));
    });
  task
    .command('inspect <task>')
    .option('--format <format>', 'json')
    .action(async (name: string, o: { format?: string }) => {
      const t = await resolve<Task>('task', name);
      if (checkFormat(o.format)) return json(t);
      const { tasks } = await call<{ tasks: Task[] }>('ListTasks', { filters: { serviceIds: [t.serviceId] } });
      const parents = tasks.filter((x) => x.id !== t.id && x.slot === t.slot && (t.slot !== 0 || x.nodeId === t.nodeId));
      io.out(renderTaskInspect(t, parents, await nodesById(), io.now()));
    });
  task
    .command('rm <task...>')
    .alias('remove')
    .action(async (names: string[]) => {
      for (const name of names) {
        const t = await resolve<Task>('task', name);
        await call('RemoveTask', { taskId: t.id });
        io.out(t.id + '\n');
      }
    });

  // ---------------------------------------------------------------- config
  const config = program.command('config').description('manage configs');
  config
    .command('create <name>')
    .option('-f, --file <path>', 'read the data from a file (default: stdin)')
    .action(async (name: string, o: { file?: string }) => {
      const data = o.file !== undefined ? io.readFile(o.file) : await io.readStdin();
      const { config: c } = await call<{ config: Config }>('CreateConfig', { spec: { annotations: { name, labels: {} }, data } });
      io.out(c.id + '\n');
    });
  config
    .command('ls')
    .option('-q, --quiet', 'only ids')
    .option('--format <format>', 'json')
    .action(async (o: { quiet?: boolean; format?: string }) => {
      const { configs } = await call<{ configs: Config[] }>('ListConfigs', {});
      if (checkFormat(o.format)) return json(configs);
      io.out(o.quiet ? configs.map((c) => c.id + '\n').join('') : renderConfigList(configs, io.now()));
    });
  config
    .command('inspect <config>')
    .option('--format <format>', 'json')
    .action(async (name: string, o: { format?: string }) => {
      const c = await resolve<Config>('config', name);
      if (checkFormat(o.format)) return json(c);
      io.out(renderConfigInspect(c, io.now()));
    });
  config
    .command('rm <config...>')
    .alias('remove')
    .action(async (names: string[]) => {
      for (const name of names) {
        const c = await resolve<Config>('config', name);
        await call('RemoveConfig', { configId: c.id });
        io.out(c.id + '\n');
      }
    });

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
      return e.exitCode === 0 ? 0 : 1;
    }
    io.err(`Error: ${e instanceof Error ? e.message : String(e)}\n`);
    return EXIT_ERROR;
  } finally {
    (client as ControlClient | null)?.close();
  }
}

/** The process entry point used by bin/swarmctl.mjs: real socket, stdout/stderr, clock and environment. */
export async function main(argv: string[]): Promise<number> {
  return runSwarmctl(argv, {
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
