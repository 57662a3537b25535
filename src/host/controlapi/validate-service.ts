/**
 * validateServiceSpec: turns an untyped service spec from a request into a complete, checked ServiceSpec
 * (reference §12 "validateServiceSpec", §1.3 defaults). Missing optional parts get their defaults so that the
 * orchestrators, scheduler and agents always see complete objects; every refusal is an InvalidArgumentError
 * naming the field and the rule (SwarmKit's wording where it has one).
 */
import {
  InvalidArgumentError,
  PortProtocol,
  PublishMode,
  RestartCondition,
  UpdateFailureAction,
  UpdateOrder,
  type ContainerSpec,
  type EndpointSpec,
  type Placement,
  type PortConfig,
  type Resources,
  type RestartPolicy,
  type ServiceMode,
  type ServiceSpec,
  type TaskSpec,
  type UpdateConfig,
} from '../api/index.js';
import { validateConstraints } from '../scheduler/index.js';
import { LOCKSTEP_UPDATE_CONFIG, validateUpdateConfig } from '../../plugins/orchestrators/index.js';
import { asObj, bool, enumVal, int, nonNegInt, num, str, strArr, strMap, type Obj } from './input.js';

/** Longest service name, characters (a DNS label). */
export const MAX_SERVICE_NAME_CHARS = 63;
/** Smallest non-zero CPU reservation or limit, nano-CPUs (0.001 core). */
export const MIN_NANO_CPUS = 1_000_000;
/** Smallest non-zero memory reservation or limit, bytes (4 MiB). */
export const MIN_MEMORY_BYTES = 4 * 1024 * 1024;
/** Default stop grace period, ms (SwarmKit: 10s). */
export const DEFAULT_STOP_GRACE_PERIOD_MS = 10_000;
/** Default restart policy (SwarmKit: condition ANY, delay 5s, unlimited attempts and window). */
export const DEFAULT_RESTART_POLICY: Readonly<RestartPolicy> = Object.freeze({
  condition: RestartCondition.ANY,
  delayMs: 5_000,
  maxAttempts: 0,
  windowMs: 0,
});

/** Service and network names: a DNS name component. */
const SERVICE_NAME_RE = /^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$/;

// Image references, after the distribution reference grammar: [domain[:port]/]path(/path)*[:tag][@digest].
const DOMAIN_PART = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `${DOMAIN_PART}(?:\\.${DOMAIN_PART})*(?::[0-9]+)?`;
const PATH_PART = '[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*';
const NAME = `(?:${DOMAIN}/)?${PATH_PART}(?:/${PATH_PART})*`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
const IMAGE_RE = new RegExp(`^${NAME}(?::${TAG})?(?:@${DIGEST})?$`);
/** Longest repository name, characters (distribution's limit). */
const MAX_REPOSITORY_NAME_CHARS = 255;

/** Throws InvalidArgumentError unless `name` is a valid service name (SwarmKit's messages). */
export function validateServiceName(name: string): void {
  if (name === '') throw new InvalidArgumentError('meta: name must be provided');
  if (!SERVICE_NAME_RE.test(name)) throw new InvalidArgumentError('name must be valid as a DNS name component');
  if (name.length > MAX_SERVICE_NAME_CHARS) throw new InvalidArgumentError(`name must be ${MAX_SERVICE_NAME_CHARS} characters or fewer`);
}

/** Throws InvalidArgumentError unless `image` parses as a repository[:tag][@digest] reference. */
export function validateImageReference(image: string): void {
  if (image === '') throw new InvalidArgumentError('ContainerSpec: image reference must be provided');
  const name = image.split('@')[0]!.replace(/:[\w][\w.-]*$/, '');
  if (!IMAGE_RE.test(image) || name.length > MAX_REPOSITORY_NAME_CHARS) {
    throw new InvalidArgumentError(`ContainerSpec: "${image}" is not a valid repository/tag`);
  }
}

function resources(v: unknown, field: string): Resources {
  const o = asObj(v, field, true);
  const nanoCpus = nonNegInt(o.nanoCpus, `${field}.nanoCpus`);
  const memoryBytes = nonNegInt(o.memoryBytes, `${field}.memoryBytes`);
  if (nanoCpus !== 0 && nanoCpus < MIN_NANO_CPUS) {
    throw new InvalidArgumentError(`${field}.nanoCpus: invalid cpu value ${nanoCpus / 1e9}: Must be at least ${MIN_NANO_CPUS / 1e9}`);
  }
  if (memoryBytes !== 0 && memoryBytes < MIN_MEMORY_BYTES) {
    throw new InvalidArgumentError(`${field}.memoryBytes: invalid memory value ${memoryBytes}: Must be at least 4MiB`);
  }
  const out: Resources = { nanoCpus, memoryBytes };
  if (o.generic !== undefined && o.generic !== null) {
    const g = asObj(o.generic, `${field}.generic`);
    out.generic = {};
    for (const [k, n] of Object.entries(g)) out.generic[k] = nonNegInt(n, `${field}.generic.${k}`);
  }
  return out;
}

function restartPolicy(v: unknown, field: string): RestartPolicy {
  if (v === undefined || v === null) return { ...DEFAULT_RESTART_POLICY };
  const o = asObj(v, field);
  const delayMs = num(o.delayMs, `${field}.delayMs`, DEFAULT_RESTART_POLICY.delayMs);
  const windowMs = num(o.windowMs, `${field}.windowMs`, 0);
  if (delayMs < 0) throw new InvalidArgumentError(`${field}.delayMs: TaskSpec: restart-delay cannot be negative`);
  if (windowMs < 0) throw new InvalidArgumentError(`${field}.windowMs: TaskSpec: restart-window cannot be negative`);
  return {
    condition: enumVal(o.condition, `${field}.condition`, RestartCondition, RestartCondition.ANY),
    delayMs,
    maxAttempts: nonNegInt(o.maxAttempts, `${field}.maxAttempts`),
    windowMs,
  };
}

function placement(v: unknown, field: string): Placement {
  const o = asObj(v, field, true);
  const constraints = strArr(o.constraints, `${field}.constraints`);
  validateConstraints(constraints);
  const prefs = o.preferences === undefined || o.preferences === null ? [] : o.preferences;
  if (!Array.isArray(prefs)) throw new InvalidArgumentError(`${field}.preferences: must be an array`);
  const platforms = o.platforms === undefined || o.platforms === null ? [] : o.platforms;
  if (!Array.isArray(platforms)) throw new InvalidArgumentError(`${field}.platforms: must be an array`);
  return {
    constraints,
    preferences: prefs.map((p, i) => {
      const f = `${field}.preferences[${i}]`;
      const spreadDescriptor = str(asObj(p, f).spreadDescriptor, `${f}.spreadDescriptor`);
      if (spreadDescriptor === '') throw new InvalidArgumentError(`${f}.spreadDescriptor: must not be empty`);
      return { spreadDescriptor };
    }),
    platforms: platforms.map((p, i) => {
      const f = `${field}.platforms[${i}]`;
      const po = asObj(p, f);
      return { architecture: str(po.architecture, `${f}.architecture`), os: str(po.os, `${f}.os`) };
    }),
    maxReplicas: nonNegInt(o.maxReplicas, `${field}.maxReplicas`),
  };
}

function container(v: unknown, field: string): ContainerSpec {
  if (v === undefined || v === null) throw new InvalidArgumentError('TaskSpec: missing runtime');
  const o = asObj(v, field);
  const image = str(o.image, `${field}.image`);
  validateImageReference(image);
  const stopGracePeriodMs = num(o.stopGracePeriodMs, `${field}.stopGracePeriodMs`, DEFAULT_STOP_GRACE_PERIOD_MS);
  if (stopGracePeriodMs < 0) throw new InvalidArgumentError(`${field}.stopGracePeriodMs: must be >= 0`);
  return {
    image,
    command: strArr(o.command, `${field}.command`),
    args: strArr(o.args, `${field}.args`),
    env: strArr(o.env, `${field}.env`),
    labels: strMap(o.labels, `${field}.labels`),
    hostname: str(o.hostname, `${field}.hostname`),
    dir: str(o.dir, `${field}.dir`),
    user: str(o.user, `${field}.user`),
    tty: bool(o.tty, `${field}.tty`),
    stopSignal: str(o.stopSignal, `${field}.stopSignal`),
    stopGracePeriodMs,
  };
}

function taskSpec(v: unknown, field: string): TaskSpec {
  const o = asObj(v, field, true);
  const r = asObj(o.resources, `${field}.resources`, true);
  return {
    container: container(o.container, `${field}.container`),
    resources: { limits: resources(r.limits, `${field}.resources.limits`), reservations: resources(r.reservations, `${field}.resources.reservations`) },
    restart: restartPolicy(o.restart, `${field}.restart`),
    placement: placement(o.placement, `${field}.placement`),
    forceUpdate: nonNegInt(o.forceUpdate, `${field}.forceUpdate`),
  };
}

function mode(v: unknown, field: string): ServiceMode {
  const o = asObj(v, field);
  const keys = Object.keys(o).filter((k) => o[k] !== undefined && o[k] !== null);
  if (keys.length !== 1) throw new InvalidArgumentError(`${field}: must set exactly one of replicated, global, replicatedJob, globalJob`);
  const k = keys[0]!;
  const inner = asObj(o[k], `${field}.${k}`);
  switch (k) {
    case 'replicated':
      return { replicated: { replicas: nonNegInt(inner.replicas, `${field}.replicated.replicas`, 1) } };
    case 'global':
      return { global: {} };
    case 'replicatedJob': {
      const totalCompletions = nonNegInt(inner.totalCompletions, `${field}.replicatedJob.totalCompletions`, 1);
      const maxConcurrent = nonNegInt(inner.maxConcurrent, `${field}.replicatedJob.maxConcurrent`, 1);
      return { replicatedJob: { maxConcurrent, totalCompletions } };
    }
    case 'globalJob':
      return { globalJob: {} };
    default:
      throw new InvalidArgumentError(`${field}: unknown mode "${k}" (replicated, global, replicatedJob or globalJob)`);
  }
}

function updateConfig(v: unknown, field: string): UpdateConfig | undefined {
  if (v === undefined || v === null) return undefined;
  const o = asObj(v, field);
  const d = LOCKSTEP_UPDATE_CONFIG;
  const c: UpdateConfig = {
    parallelism: int(o.parallelism, `${field}.parallelism`, d.parallelism),
    delayMs: num(o.delayMs, `${field}.delayMs`, d.delayMs),
    failureAction: enumVal(o.failureAction, `${field}.failureAction`, UpdateFailureAction, d.failureAction),
    monitorMs: num(o.monitorMs, `${field}.monitorMs`, d.monitorMs),
    maxFailureRatio: num(o.maxFailureRatio, `${field}.maxFailureRatio`, d.maxFailureRatio),
    order: enumVal(o.order, `${field}.order`, UpdateOrder, d.order),
  };
  validateUpdateConfig(c, field);
  return c;
}

function endpoint(v: unknown, field: string): EndpointSpec | undefined {
  if (v === undefined || v === null) return undefined;
  const o = asObj(v, field);
  const m = str(o.mode, `${field}.mode`, 'vip');
  if (m !== 'vip' && m !== 'dnsrr') throw new InvalidArgumentError(`${field}.mode: must be vip or dnsrr`);
  const ports = o.ports === undefined || o.ports === null ? [] : o.ports;
  if (!Array.isArray(ports)) throw new InvalidArgumentError(`${field}.ports: must be an array`);
  const out: PortConfig[] = ports.map((p, i) => {
    const f = `${field}.ports[${i}]`;
    const po = asObj(p, f);
    const targetPort = nonNegInt(po.targetPort, `${f}.targetPort`);
    const publishedPort = nonNegInt(po.publishedPort, `${f}.publishedPort`);
    if (targetPort < 1 || targetPort > 65535) throw new InvalidArgumentError(`${f}.targetPort: must be in 1..65535`);
    if (publishedPort > 65535) throw new InvalidArgumentError(`${f}.publishedPort: must be in 0..65535`);
    return {
      name: str(po.name, `${f}.name`),
      protocol: enumVal(po.protocol, `${f}.protocol`, PortProtocol, PortProtocol.TCP),
      targetPort,
      publishedPort,
      publishMode: enumVal(po.publishMode, `${f}.publishMode`, PublishMode, PublishMode.INGRESS),
    };
  });
  const seen = new Set<string>();
  for (const p of out) {
    if (m === 'dnsrr' && p.publishMode === PublishMode.INGRESS) {
      throw new InvalidArgumentError('EndpointSpec: port published with ingress mode can\'t be used with dnsrr mode');
    }
    if (p.publishedPort === 0) continue;
    const key = `${p.publishedPort}/${p.protocol}`;
    if (seen.has(key)) throw new InvalidArgumentError('EndpointSpec: duplicate published ports provided');
    seen.add(key);
  }
  return { mode: m, ports: out };
}

/**
 * Validates an untyped service spec and returns it complete: missing lists, maps and resources are empty,
 * a missing restart policy is {ANY, 5s}, a missing stop grace period is 10s. `update`/`rollback` stay absent
 * when not given (the control API carries the last ones over on update; the updater's default is lockstep).
 */
export function validateServiceSpec(input: unknown): ServiceSpec {
  if (input === undefined || input === null) throw new InvalidArgumentError('spec: must be provided (invalid argument)');
  const o: Obj = asObj(input, 'spec');
  const a = asObj(o.annotations, 'spec.annotations', true);
  const name = str(a.name, 'spec.annotations.name');
  validateServiceName(name);
  const spec: ServiceSpec = {
    annotations: { name, labels: strMap(a.labels, 'spec.annotations.labels') },
    task: taskSpec(o.task, 'spec.task'),
    mode: mode(o.mode ?? { replicated: { replicas: 1 } }, 'spec.mode'),
  };
  const isJob = 'replicatedJob' in spec.mode || 'globalJob' in spec.mode;
  const update = updateConfig(o.update, 'spec.update');
  if (update && isJob) throw new InvalidArgumentError('Jobs may not have an update config');
  if (update) spec.update = update;
  const rollback = updateConfig(o.rollback, 'spec.rollback');
  if (rollback) spec.rollback = rollback;
  const ep = endpoint(o.endpoint, 'spec.endpoint');
  if (ep) spec.endpoint = ep;
  return spec;
}

/** The kind of a mode, for "service mode change is not allowed". */
export function modeKind(m: ServiceMode): 'replicated' | 'global' | 'replicatedJob' | 'globalJob' {
  if ('replicated' in m) return 'replicated';
  if ('global' in m) return 'global';
  if ('replicatedJob' in m) return 'replicatedJob';
  return 'globalJob';
}
