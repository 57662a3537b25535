/**
 * The service flags of `swarmctl service create|update` (reference §13.1) and how they change a service spec.
 * Only flags that were given apply; any update (or rollback) flag creates the config from the lockstep
 * defaults (parallelism 0 = all at once) when the service had none.
 */
import type { Command } from 'commander';
import {
  InvalidArgumentError,
  RestartCondition,
  UpdateFailureAction,
  UpdateOrder,
  type ServiceSpec,
  type UpdateConfig,
} from '../api/index.js';
import { LOCKSTEP_UPDATE_CONFIG } from '../../plugins/orchestrators/index.js';
import { parseDuration } from './format.js';

/** Most decimals accepted in a CPU amount (nano-CPU precision). */
export const MAX_CPU_DECIMALS = 9;

/** Values of the service flags as commander parses them (undefined = not given). */
export interface ServiceFlags {
  name?: string;
  image?: string;
  mode?: string;
  replicas?: string;
  totalCompletions?: string;
  maxConcurrent?: string;
  command?: string[];
  args?: string[];
  env?: string[];
  label?: string[];
  constraint?: string[];
  hostname?: string;
  workdir?: string;
  user?: string;
  stopGracePeriod?: string;
  cpuReservation?: string;
  cpuLimit?: string;
  memoryReservation?: string;
  memoryLimit?: string;
  restartCondition?: string;
  restartDelay?: string;
  restartMaxAttempts?: string;
  restartWindow?: string;
  replicasMaxPerNode?: string;
  updateParallelism?: string;
  updateDelay?: string;
  updateOnFailure?: string;
  updateOrder?: string;
  updateMonitor?: string;
  updateMaxFailureRatio?: string;
  rollbackParallelism?: string;
  rollbackDelay?: string;
  rollbackOnFailure?: string;
  rollbackOrder?: string;
  rollbackMonitor?: string;
  rollbackMaxFailureRatio?: string;
  force?: boolean;
}

const collect = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v];

/** Adds the service flags to `cmd` (`forUpdate` adds --force and leaves out --mode). */
export function addServiceFlags(cmd: Command, forUpdate: boolean): Command {
  cmd
    .option('--name <name>', 'service name')
    .option('--image <image>', 'container image')
    .option('--replicas <n>', 'number of replicas (replicated mode)')
    .option('--total-completions <n>', 'completions of a replicated job')
    .option('--max-concurrent <n>', 'tasks of a replicated job run at once')
    .option('--command <arg>', 'command (repeat for each word)', collect)
    .option('--args <arg>', 'arguments (repeat for each)', collect)
    .option('--env <k=v>', 'environment variable (repeatable)', collect)
    .option('--label <k=v>', 'service label (repeatable; replaces all labels)', collect)
    .option('--constraint <expr>', 'placement constraint (repeatable; replaces all)', collect)
    .option('--hostname <name>', 'container hostname')
    .option('--workdir <dir>', 'working directory')
    .option('--user <user>', 'user to run as')
    .option('--stop-grace-period <duration>', 'time to wait before killing a task')
    .option('--cpu-reservation <cpus>', 'CPU reservation in cores (e.g. 0.5)')
    .option('--cpu-limit <cpus>', 'CPU limit in cores')
    .option('--memory-reservation <bytes>', 'memory reservation (e.g. 512m)')
    .option('--memory-limit <bytes>', 'memory limit (e.g. 512m)')
    .option('--restart-condition <condition>', 'any | on-failure | none')
    .option('--restart-delay <duration>', 'delay between restarts')
    .option('--restart-max-attempts <n>', 'maximum restarts (0 = unlimited)')
    .option('--restart-window <duration>', 'window restarts are counted in')
    .option('--replicas-max-per-node <n>', 'most tasks of this service per node (0 = unlimited)')
    .option('--update-parallelism <n>', 'tasks updated at once (0 = all)')
    .option('--update-delay <duration>', 'delay between updates')
    .option('--update-on-failure <action>', 'pause | continue | rollback')
    .option('--update-order <order>', 'stop-first | start-first')
    .option('--update-monitor <duration>', 'time a new task is watched for failure')
    .option('--update-max-failure-ratio <ratio>', 'tolerated failure ratio (0..1)')
    .option('--rollback-parallelism <n>', 'tasks rolled back at once (0 = all)')
    .option('--rollback-delay <duration>', 'delay between rollbacks')
    .option('--rollback-on-failure <action>', 'pause | continue')
    .option('--rollback-order <order>', 'stop-first | start-first')
    .option('--rollback-monitor <duration>', 'time a rolled-back task is watched for failure')
    .option('--rollback-max-failure-ratio <ratio>', 'tolerated failure ratio (0..1)');
  if (forUpdate) cmd.option('--force', 'update the tasks even if nothing changed');
  else cmd.option('--mode <mode>', 'replicated | global | replicated-job | global-job', 'replicated');
  return cmd;
}

function count(v: string, flag: string): number {
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) throw new InvalidArgumentError(`${flag}: "${v}" is not a non-negative integer`);
  return Number(v);
}

/** "0.5" cores → 500000000 nano-CPUs; at most 9 decimals. */
export function parseCpus(v: string, flag: string): number {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(v.trim());
  if (!m) throw new InvalidArgumentError(`${flag}: "${v}" is not a number of CPUs`);
  const frac = m[2] ?? '';
  if (frac.length > MAX_CPU_DECIMALS) throw new InvalidArgumentError(`${flag}: "${v}" has more than ${MAX_CPU_DECIMALS} decimals`);
  return Number(m[1]) * 1e9 + Number(frac.padEnd(MAX_CPU_DECIMALS, '0'));
}

/** "512m", "1g", "64k", "1048576" (plain bytes) → bytes (binary multiples). */
export function parseBytes(v: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([bkmgt]?)i?b?$/i.exec(v.trim());
  if (!m) throw new InvalidArgumentError(`${flag}: "${v}" is not a size (e.g. 512m, 1g)`);
  const mult = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as 'k'];
  return Math.round(Number(m[1]) * mult);
}

function keyValues(list: string[], flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new InvalidArgumentError(`${flag}: "${kv}" is not key=value`);
    out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

function failureAction(v: string, flag: string, allowRollback: boolean): UpdateFailureAction {
  const map: Record<string, UpdateFailureAction> = { pause: UpdateFailureAction.PAUSE, continue: UpdateFailureAction.CONTINUE };
  if (allowRollback) map.rollback = UpdateFailureAction.ROLLBACK;
  const a = map[v];
  if (a === undefined) throw new InvalidArgumentError(`${flag}: must be ${Object.keys(map).join(', ')} (got "${v}")`);
  return a;
}

function order(v: string, flag: string): UpdateOrder {
  if (v === 'stop-first') return UpdateOrder.STOP_FIRST;
  if (v === 'start-first') return UpdateOrder.START_FIRST;
  throw new InvalidArgumentError(`${flag}: must be stop-first or start-first (got "${v}")`);
}

function ratio(v: string, flag: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${flag}: "${v}" is not a number`);
  return n;
}

function updateConfig(
  current: UpdateConfig | undefined,
  f: { parallelism?: string; delay?: string; onFailure?: string; order?: string; monitor?: string; maxFailureRatio?: string },
  prefix: string,
  allowRollback: boolean,
): UpdateConfig | undefined {
  const given = Object.values(f).some((v) => v !== undefined);
  if (!given) return current;
  const c: UpdateConfig = { ...(current ?? LOCKSTEP_UPDATE_CONFIG) };
  if (f.parallelism !== undefined) c.parallelism = count(f.parallelism, `--${prefix}-parallelism`);
  if (f.delay !== undefined) c.delayMs = parseDuration(f.delay, `--${prefix}-delay`);
  if (f.onFailure !== undefined) c.failureAction = failureAction(f.onFailure, `--${prefix}-on-failure`, allowRollback);
  if (f.order !== undefined) c.order = order(f.order, `--${prefix}-order`);
  if (f.monitor !== undefined) c.monitorMs = parseDuration(f.monitor, `--${prefix}-monitor`);
  if (f.maxFailureRatio !== undefined) c.maxFailureRatio = ratio(f.maxFailureRatio, `--${prefix}-max-failure-ratio`);
  return c;
}

/** The mode a `--mode` value (with --replicas / job flags) asks for. */
export function modeFromFlags(f: ServiceFlags): ServiceSpec['mode'] {
  const mode = f.mode ?? 'replicated';
  if (mode !== 'replicated' && f.replicas !== undefined) throw new InvalidArgumentError('--replicas: only for replicated mode');
  switch (mode) {
    case 'replicated':
      return { replicated: { replicas: f.replicas === undefined ? 1 : count(f.replicas, '--replicas') } };
    case 'global':
      return { global: {} };
    case 'replicated-job':
      return {
        replicatedJob: {
          totalCompletions: f.totalCompletions === undefined ? 1 : count(f.totalCompletions, '--total-completions'),
          maxConcurrent: f.maxConcurrent === undefined ? 1 : count(f.maxConcurrent, '--max-concurrent'),
        },
      };
    case 'global-job':
      return { globalJob: {} };
    default:
      throw new InvalidArgumentError(`--mode: must be replicated, global, replicated-job or global-job (got "${mode}")`);
  }
}

/** A fresh spec for `service create` (needs --name and --image; the API validates the rest). */
export function specFromFlags(f: ServiceFlags): ServiceSpec {
  if (f.name === undefined) throw new InvalidArgumentError('--name is required');
  if (f.image === undefined) throw new InvalidArgumentError('--image is required');
  const spec: ServiceSpec = {
    annotations: { name: f.name, labels: {} },
    task: {
      container: { image: f.image, command: [], args: [], env: [], labels: {}, hostname: '', dir: '', user: '', tty: false, stopSignal: '', stopGracePeriodMs: 10_000 },
      resources: { limits: { nanoCpus: 0, memoryBytes: 0 }, reservations: { nanoCpus: 0, memoryBytes: 0 } },
      restart: { condition: RestartCondition.ANY, delayMs: 5_000, maxAttempts: 0, windowMs: 0 },
      placement: { constraints: [], preferences: [], platforms: [], maxReplicas: 0 },
      forceUpdate: 0,
    },
    mode: modeFromFlags(f),
  };
  return applyServiceFlags(spec, { ...f, name: undefined, mode: undefined, replicas: undefined });
}

/** Applies the given flags to a copy of `spec` (for update; create starts from an empty spec). */
export function applyServiceFlags(current: ServiceSpec, f: ServiceFlags): ServiceSpec {
  const spec = structuredClone(current);
  const c = spec.task.container;
  if (f.name !== undefined) spec.annotations.name = f.name;
  if (f.image !== undefined) c.image = f.image;
  if (f.replicas !== undefined) {
    if (!('replicated' in spec.mode)) throw new InvalidArgumentError('--replicas: only for replicated services');
    spec.mode = { replicated: { replicas: count(f.replicas, '--replicas') } };
  }
  if (f.command !== undefined) c.command = f.command;
  if (f.args !== undefined) c.args = f.args;
  if (f.env !== undefined) c.env = f.env;
  if (f.label !== undefined) spec.annotations.labels = keyValues(f.label, '--label');
  if (f.constraint !== undefined) spec.task.placement.constraints = f.constraint;
  if (f.hostname !== undefined) c.hostname = f.hostname;
  if (f.workdir !== undefined) c.dir = f.workdir;
  if (f.user !== undefined) c.user = f.user;
  if (f.stopGracePeriod !== undefined) c.stopGracePeriodMs = parseDuration(f.stopGracePeriod, '--stop-grace-period');
  const res = spec.task.resources;
  if (f.cpuReservation !== undefined) res.reservations.nanoCpus = parseCpus(f.cpuReservation, '--cpu-reservation');
  if (f.cpuLimit !== undefined) res.limits.nanoCpus = parseCpus(f.cpuLimit, '--cpu-limit');
  if (f.memoryReservation !== undefined) res.reservations.memoryBytes = parseBytes(f.memoryReservation, '--memory-reservation');
  if (f.memoryLimit !== undefined) res.limits.memoryBytes = parseBytes(f.memoryLimit, '--memory-limit');
  const rp = spec.task.restart;
  if (f.restartCondition !== undefined) {
    const m: Record<string, RestartCondition> = {
      any: RestartCondition.ANY,
      'on-failure': RestartCondition.ON_FAILURE,
      failure: RestartCondition.ON_FAILURE,
      none: RestartCondition.NONE,
    };
    const v = m[f.restartCondition];
    if (v === undefined) throw new InvalidArgumentError(`--restart-condition: must be any, on-failure or none (got "${f.restartCondition}")`);
    rp.condition = v;
  }
  if (f.restartDelay !== undefined) rp.delayMs = parseDuration(f.restartDelay, '--restart-delay');
  if (f.restartMaxAttempts !== undefined) rp.maxAttempts = count(f.restartMaxAttempts, '--restart-max-attempts');
  if (f.restartWindow !== undefined) rp.windowMs = parseDuration(f.restartWindow, '--restart-window');
  if (f.replicasMaxPerNode !== undefined) spec.task.placement.maxReplicas = count(f.replicasMaxPerNode, '--replicas-max-per-node');
  const update = updateConfig(
    spec.update,
    {
      parallelism: f.updateParallelism,
      delay: f.updateDelay,
      onFailure: f.updateOnFailure,
      order: f.updateOrder,
      monitor: f.updateMonitor,
      maxFailureRatio: f.updateMaxFailureRatio,
    },
    'update',
    true,
  );
  if (update) spec.update = update;
  const rollback = updateConfig(
    spec.rollback,
    {
      parallelism: f.rollbackParallelism,
      delay: f.rollbackDelay,
      onFailure: f.rollbackOnFailure,
      order: f.rollbackOrder,
      monitor: f.rollbackMonitor,
      maxFailureRatio: f.rollbackMaxFailureRatio,
    },
    'rollback',
    false,
  );
  if (rollback) spec.rollback = rollback;
  return spec;
}
