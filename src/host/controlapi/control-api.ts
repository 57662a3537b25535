/**
 * The control API (reference §12): one object whose `call(method, request)` serves SwarmKit's Control RPCs
 * over the store, with SwarmKit's rules, messages and status codes. It runs on the leader (forwarding happens
 * outside); reads are local views, each write is one store transaction. Requests and responses are plain
 * JSON-able objects with camelCase fields (see docs/controlapi.md for every method's shape).
 */
import {
  AlreadyExistsError,
  Code,
  FailedPreconditionError,
  InvalidArgumentError,
  NodeAvailability,
  NodeMembership,
  NodeRole,
  NodeStatusState,
  NotFoundError,
  PublishMode,
  Reachability,
  SwarmError,
  TaskState,
  UnimplementedError,
  type Cluster,
  type ClusterSpec,
  type Config,
  type ManagerStatus,
  type Node,
  type NodeSpec,
  type Service,
  type ServiceSpec,
  type Task,
} from '../api/index.js';
import { parseCertificate, rotateJoinToken, validateNodeCertExpiryMs } from '../ca/index.js';
import type { Clock, Rng } from '../env/index.js';
import { mutableCopy, newId, type ReadTx, type Store, type Stored } from '../store/index.js';
import { carryUpdateConfig, effectiveUpdateConfig, manualRollback, taskName } from '../../plugins/orchestrators/index.js';
import { anyOf, labelsMatch, matchesNameAndId, parseFilters } from './filters.js';
import { asObj, bool, enumVal, int, reqId, reqVersion, str, strMap, type Obj } from './input.js';
import { modeKind, validateServiceSpec } from './validate-service.js';

/** What the control API needs to know about Raft; the node process implements it over its raft driver. */
export interface RaftView {
  /** Current Raft members; `reachable` is true for this manager and for peers with an active transport. */
  members(): { raftId: string; nodeId: string; addr: string; reachable: boolean }[];
  /** Node id of the current leader, or '' when there is none. */
  leaderNodeId(): string;
}

/** Structured logger (pino-compatible subset). Every successful write is logged at info. */
export interface ControlApiLogger {
  info(obj: object, msg: string): void;
}

/** Construction options of {@link ControlApi}. */
export interface ControlApiOptions {
  store: Store;
  clock: Clock;
  rng: Rng;
  raft: RaftView;
  logger: ControlApiLogger;
}

/** Smallest dispatcher heartbeat period accepted, ms (must be > 0). */
export const MIN_HEARTBEAT_PERIOD_MS = 1;
/** A removed node's certificate stays blacklisted this long after it expires, ms (SwarmKit: 7 days). */
export const BLACKLIST_RETENTION_AFTER_EXPIRY_MS = 7 * 24 * 3_600_000;
/** Config names: like secrets. */
const CONFIG_NAME_RE = /^[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?$/;
/** Longest config name, characters. */
export const MAX_CONFIG_NAME_CHARS = 64;
/** Config data must be smaller than this, bytes (UTF-8 of the data string). */
export const MAX_CONFIG_DATA_BYTES = 1_024_000;
/** Message given to tasks orphaned by RemoveNode. */
export const ORPHANED_BY_REMOVAL_MESSAGE = 'Task belonged to a node that has been deleted';

/** Per-service counts answered by ListServiceStatuses. */
export interface ServiceStatus {
  serviceId: string;
  desiredTasks: number;
  runningTasks: number;
  completedTasks: number;
}

type Handler = (req: Obj) => Promise<unknown> | unknown;

/** The control API. `call` dispatches by method name; an unknown method is Unimplemented. */
export class ControlApi {
  private readonly store: Store;
  private readonly clock: Clock;
  private readonly rng: Rng;
  private readonly raft: RaftView;
  private readonly logger: ControlApiLogger;
  private readonly handlers: ReadonlyMap<string, Handler>;

  constructor(opts: ControlApiOptions) {
    this.store = opts.store;
    this.clock = opts.clock;
    this.rng = opts.rng;
    this.raft = opts.raft;
    this.logger = opts.logger;
    const h: [string, Handler][] = [
      ['GetCluster', (r) => this.getCluster(r)],
      ['ListClusters', (r) => this.listClusters(r)],
      ['UpdateCluster', (r) => this.updateCluster(r)],
      ['GetNode', (r) => this.getNode(r)],
      ['ListNodes', (r) => this.listNodes(r)],
      ['UpdateNode', (r) => this.updateNode(r)],
      ['RemoveNode', (r) => this.removeNode(r)],
      ['CreateService', (r) => this.createService(r)],
      ['GetService', (r) => this.getService(r)],
      ['ListServices', (r) => this.listServices(r)],
      ['UpdateService', (r) => this.updateService(r)],
      ['RemoveService', (r) => this.removeService(r)],
      ['ListServiceStatuses', (r) => this.listServiceStatuses(r)],
      ['GetTask', (r) => this.getTask(r)],
      ['ListTasks', (r) => this.listTasks(r)],
      ['RemoveTask', (r) => this.removeTask(r)],
      ['CreateConfig', (r) => this.createConfig(r)],
      ['GetConfig', (r) => this.getConfig(r)],
      ['ListConfigs', (r) => this.listConfigs(r)],
      ['UpdateConfig', (r) => this.updateConfig(r)],
      ['RemoveConfig', (r) => this.removeConfig(r)],
    ];
    this.handlers = new Map(h);
  }

  /** Method names this API serves. */
  methods(): string[] {
    return [...this.handlers.keys()];
  }

  /** Runs one control call. Rejects with a SwarmError (InvalidArgument, NotFound, ...) on refusal. */
  async call(method: string, request: unknown): Promise<unknown> {
    const h = this.handlers.get(method);
    if (h === undefined) throw new UnimplementedError(`unknown control method ${JSON.stringify(method)}`);
    const req = asObj(request, 'request', true);
    return await h(req);
  }

  // ------------------------------------------------------------------ helpers

  private get<T extends 'nodes' | 'services' | 'tasks' | 'clusters' | 'configs'>(tx: ReadTx, table: T, id: string): Stored<T> {
    const o = tx.get(table, id);
    if (o === undefined) throw new NotFoundError(`${KINDS[table]} ${id} not found`);
    return o;
  }

  private read<T extends 'nodes' | 'services' | 'tasks' | 'clusters' | 'configs'>(table: T, id: string): Stored<T> {
    return this.store.view((tx) => this.get(tx, table, id));
  }

  // ------------------------------------------------------------------ clusters

  private getCluster(req: Obj): { cluster: Cluster } {
    return { cluster: redactCluster(this.read('clusters', reqId(req, 'clusterId'))) };
  }

  private listClusters(req: Obj): { clusters: Cluster[] } {
    const f = parseFilters(req, ['names', 'namePrefixes', 'idPrefixes', 'labels']);
    const list = this.store.view((tx) => tx.list('clusters'));
    return {
      clusters: list
        .filter((c) => matchesNameAndId(f, c.spec.annotations.name, c.id) && labelsMatch(f.labels, c.spec.annotations.labels))
        .map(redactCluster),
    };
  }

  private async updateCluster(req: Obj): Promise<{ cluster: Cluster }> {
    const id = reqId(req, 'clusterId');
    const version = reqVersion(req, 'clusterVersion');
    if (req.spec === undefined || req.spec === null) throw new InvalidArgumentError('spec: must be provided (invalid argument)');
    const rotation = asObj(req.rotation, 'rotation', true);
    const rotateWorker = bool(rotation.workerJoinToken, 'rotation.workerJoinToken');
    const rotateManager = bool(rotation.managerJoinToken, 'rotation.managerJoinToken');
    const now = this.clock.now();
    await this.store.update((tx) => {
      const cur = this.get(tx, 'clusters', id);
      const spec = validateClusterSpec(req.spec, cur.spec);
      const next: Cluster = mutableCopy(cur) as Cluster;
      next.meta = { ...next.meta, version };
      next.spec = spec;
      if (rotateWorker) next.rootCA.joinTokens = rotateJoinToken(next.rootCA.joinTokens, 'worker', this.rng);
      if (rotateManager) next.rootCA.joinTokens = rotateJoinToken(next.rootCA.joinTokens, 'manager', this.rng);
      next.blacklistedCertificates = purgeBlacklist(next.blacklistedCertificates, now);
      tx.update('clusters', next);
    });
    this.logger.info({ clusterId: id, rotateWorker, rotateManager }, 'cluster updated');
    return { cluster: redactCluster(this.read('clusters', id)) };
  }

  // ------------------------------------------------------------------ nodes

  private withManagerStatus(n: Stored<'nodes'>): Node {
    const out = mutableCopy(n) as Node;
    delete out.managerStatus;
    const m = this.raft.members().find((x) => x.nodeId === n.id);
    if (m !== undefined) {
      const ms: ManagerStatus = {
        raftId: m.raftId,
        addr: m.addr,
        leader: this.raft.leaderNodeId() === n.id,
        reachability: m.reachable ? Reachability.REACHABLE : Reachability.UNREACHABLE,
      };
      out.managerStatus = ms;
    }
    return out;
  }

  private getNode(req: Obj): { node: Node } {
    return { node: this.withManagerStatus(this.read('nodes', reqId(req, 'nodeId'))) };
  }

  private listNodes(req: Obj): { nodes: Node[] } {
    const f = parseFilters(req, ['names', 'namePrefixes', 'idPrefixes', 'labels', 'nodeLabels', 'memberships', 'roles']);
    const list = this.store.view((tx) => tx.list('nodes'));
    return {
      nodes: list
        .filter((n) => {
          const hostname = n.description?.hostname ?? '';
          return (
            matchesNameAndId(f, hostname, n.id) &&
            labelsMatch(f.labels, n.description?.engine.labels) &&
            labelsMatch(f.nodeLabels, n.spec.annotations.labels) &&
            anyOf(f.memberships, n.spec.membership) &&
            anyOf(f.roles, n.role)
          );
        })
        .map((n) => this.withManagerStatus(n)),
    };
  }

  /** Quorum rule for removing a raft member: the reachable others must still form a quorum of the rest. */
  private canRemoveMember(nodeId: string): boolean {
    const members = this.raft.members();
    const reachableOthers = members.filter((m) => m.nodeId !== nodeId && m.reachable).length;
    const quorum = Math.floor((members.length - 1) / 2) + 1;
    return reachableOthers >= quorum;
  }

  private async updateNode(req: Obj): Promise<{ node: Node }> {
    const id = reqId(req, 'nodeId');
    const version = reqVersion(req, 'nodeVersion');
    if (req.spec === undefined || req.spec === null) throw new InvalidArgumentError('spec: must be provided (invalid argument)');
    const spec = validateNodeSpec(req.spec);
    await this.store.update((tx) => {
      const cur = this.get(tx, 'nodes', id);
      // A demotion request (desired manager → worker) must not break the raft cluster. Managers are counted by
      // observed role; membership and quorum come from raft.
      if (cur.spec.desiredRole === NodeRole.MANAGER && spec.desiredRole === NodeRole.WORKER) {
        const managers = tx.find('nodes', { role: NodeRole.MANAGER });
        if (managers.length === 1 && managers[0]!.id === id) {
          throw new FailedPreconditionError('attempting to demote the last manager of the swarm');
        }
        if (!this.raft.members().some((m) => m.nodeId === id)) throw new NotFoundError("can't find manager in raft memberlist");
        if (!this.canRemoveMember(id)) {
          throw new FailedPreconditionError("can't remove member from the raft: this would result in a loss of quorum");
        }
      }
      const next = mutableCopy(cur) as Node;
      delete next.managerStatus;
      next.meta = { ...next.meta, version };
      next.spec = spec;
      tx.update('nodes', next);
    });
    this.logger.info({ nodeId: id, availability: spec.availability, desiredRole: spec.desiredRole }, 'node updated');
    return { node: this.withManagerStatus(this.read('nodes', id)) };
  }

  private async removeNode(req: Obj): Promise<Record<string, never>> {
    const id = reqId(req, 'nodeId');
    const force = bool(req.force, 'force');
    const now = this.clock.now();
    let orphaned = 0;
    await this.store.update((tx) => {
      const node = this.get(tx, 'nodes', id);
      if (this.raft.members().some((m) => m.nodeId === id)) {
        throw new FailedPreconditionError(
          `node ${id} is a cluster manager and is a member of the raft cluster. It must be demoted to worker before removal`,
        );
      }
      if (!force && node.status.state === NodeStatusState.READY) {
        throw new FailedPreconditionError(`node ${id} is not down and can't be removed`);
      }
      const clusters = tx.list('clusters');
      if (clusters.length === 0) throw new SwarmError(Code.INTERNAL, 'internal error: the cluster object is missing');
      const cluster = mutableCopy(clusters[0]!) as Cluster;
      const cn = node.certificate.cn || node.id;
      cluster.blacklistedCertificates = { ...cluster.blacklistedCertificates, [cn]: { expiry: certExpiryMs(node, cluster, now) } };
      tx.update('clusters', cluster);
      for (const t of tx.find('tasks', { nodeId: id })) {
        if (t.status.state >= TaskState.COMPLETE) continue;
        const next = mutableCopy(t) as Task;
        next.status = { ...next.status, state: TaskState.ORPHANED, message: ORPHANED_BY_REMOVAL_MESSAGE, timestamp: now };
        tx.update('tasks', next);
        orphaned++;
      }
      tx.delete('nodes', id);
    });
    this.logger.info({ nodeId: id, force, orphaned }, 'node removed');
    return {};
  }

  // ------------------------------------------------------------------ services

  /** Ingress ports of other services that `spec` would reuse, and host ports that hit another's ingress port. */
  private checkPortConflicts(tx: ReadTx, spec: ServiceSpec, selfId: string): void {
    const mine = spec.endpoint?.ports.filter((p) => p.publishedPort !== 0) ?? [];
    if (mine.length === 0) return;
    for (const other of tx.list('services')) {
      if (other.id === selfId) continue;
      for (const op of other.spec.endpoint?.ports ?? []) {
        if (op.publishedPort === 0) continue;
        for (const p of mine) {
          if (p.publishedPort !== op.publishedPort || p.protocol !== op.protocol) continue;
          const clash = p.publishMode === PublishMode.INGRESS || op.publishMode === PublishMode.INGRESS;
          if (clash) {
            throw new InvalidArgumentError(
              `port '${p.publishedPort}' is already in use by service '${other.spec.annotations.name}' (${other.id}) as an ingress port`,
            );
          }
        }
      }
    }
  }

  private async createService(req: Obj): Promise<{ service: Service }> {
    const spec = validateServiceSpec(req.spec);
    const id = newId(this.rng);
    const now = this.clock.now();
    await this.store.update((tx) => {
      const taken = tx.find('services', { name: spec.annotations.name.toLowerCase() })[0];
      if (taken !== undefined) {
        throw new AlreadyExistsError(`name conflicts with an existing object: service ${taken.spec.annotations.name} already exists`);
      }
      this.checkPortConflicts(tx, spec, id);
      const svc: Service = { id, meta: { version: 0, createdAt: 0, updatedAt: 0 }, spec, specVersion: 0 };
      const k = modeKind(spec.mode);
      if (k === 'replicatedJob' || k === 'globalJob') svc.jobStatus = { jobIteration: 0, lastExecution: now };
      tx.create('services', svc);
    });
    this.logger.info({ serviceId: id, name: spec.annotations.name }, 'service created');
    return { service: mutableCopy(this.read('services', id)) as Service };
  }

  private getService(req: Obj): { service: Service } {
    const s = mutableCopy(this.read('services', reqId(req, 'serviceId'))) as Service;
    if (bool(req.insertDefaults, 'insertDefaults') && !('replicatedJob' in s.spec.mode || 'globalJob' in s.spec.mode)) {
      s.spec.update ??= effectiveUpdateConfig(s.spec, false);
      s.spec.rollback ??= effectiveUpdateConfig(s.spec, true);
    }
    return { service: s };
  }

  private listServices(req: Obj): { services: Service[] } {
    const f = parseFilters(req, ['names', 'namePrefixes', 'idPrefixes', 'labels', 'runtimes']);
    const list = this.store.view((tx) => tx.list('services'));
    return {
      services: list
        .filter(
          (s) =>
            matchesNameAndId(f, s.spec.annotations.name, s.id) &&
            labelsMatch(f.labels, s.spec.annotations.labels) &&
            // Every service here runs a container runtime.
            anyOf(f.runtimes, 'container'),
        )
        .map((s) => mutableCopy(s) as Service),
    };
  }

  private async updateService(req: Obj): Promise<{ service: Service }> {
    const id = reqId(req, 'serviceId');
    const version = reqVersion(req, 'serviceVersion');
    const rollback = str(req.rollback, 'rollback', 'none');
    if (rollback !== 'none' && rollback !== 'previous') throw new InvalidArgumentError('rollback: must be "none" or "previous"');
    const spec = validateServiceSpec(req.spec);
    const now = this.clock.now();
    await this.store.update((tx) => {
      const cur = this.get(tx, 'services', id);
      if (modeKind(cur.spec.mode) !== modeKind(spec.mode)) throw new UnimplementedError('service mode change is not allowed');
      if (cur.spec.annotations.name !== spec.annotations.name) throw new UnimplementedError('renaming services is not supported');
      let next: Service;
      if (rollback === 'previous') {
        next = manualRollback(mutableCopy(cur) as Service, now);
      } else {
        this.checkPortConflicts(tx, spec, id);
        next = mutableCopy(cur) as Service;
        next.previousSpec = mutableCopy(cur.spec) as ServiceSpec;
        next.previousSpecVersion = cur.specVersion;
        next.spec = carryUpdateConfig(cur.spec as ServiceSpec, spec);
        next.specVersion = cur.meta.version;
        delete next.updateStatus;
      }
      if (next.jobStatus) next.jobStatus = { jobIteration: next.jobStatus.jobIteration + 1, lastExecution: now };
      next.meta = { ...next.meta, version };
      tx.update('services', next);
    });
    this.logger.info({ serviceId: id, rollback }, 'service updated');
    return { service: mutableCopy(this.read('services', id)) as Service };
  }

  private async removeService(req: Obj): Promise<Record<string, never>> {
    const id = reqId(req, 'serviceId');
    await this.store.update((tx) => {
      this.get(tx, 'services', id);
      tx.delete('services', id);
    });
    this.logger.info({ serviceId: id }, 'service removed');
    return {};
  }

  private listServiceStatuses(req: Obj): { statuses: ServiceStatus[] } {
    const ids = req.services;
    if (!Array.isArray(ids) || ids.some((x) => typeof x !== 'string')) {
      throw new InvalidArgumentError('services: must be an array of service ids');
    }
    return {
      statuses: this.store.view((tx) =>
        (ids as string[]).map((serviceId) => {
          const st: ServiceStatus = { serviceId, desiredTasks: 0, runningTasks: 0, completedTasks: 0 };
          const svc = tx.get('services', serviceId);
          if (svc === undefined) return st;
          const mode = svc.spec.mode;
          const iteration = svc.jobStatus?.jobIteration ?? 0;
          const isJob = 'replicatedJob' in mode || 'globalJob' in mode;
          for (const t of tx.find('tasks', { serviceId })) {
            if (isJob && (t.jobIteration ?? 0) !== iteration) continue;
            const node = t.nodeId === '' ? undefined : tx.get('nodes', t.nodeId);
            if (t.status.state === TaskState.RUNNING && node !== undefined && node.status.state !== NodeStatusState.DOWN) st.runningTasks++;
            if (t.status.state === TaskState.COMPLETE) st.completedTasks++;
            if ('global' in mode && t.desiredState === TaskState.RUNNING) st.desiredTasks++;
            if ('globalJob' in mode && t.desiredState === TaskState.COMPLETE && t.status.state !== TaskState.COMPLETE) st.desiredTasks++;
          }
          if ('replicated' in mode) st.desiredTasks = mode.replicated.replicas;
          if ('replicatedJob' in mode) st.desiredTasks = mode.replicatedJob.maxConcurrent;
          return st;
        }),
      ),
    };
  }

  // ------------------------------------------------------------------ tasks

  private getTask(req: Obj): { task: Task } {
    return { task: mutableCopy(this.read('tasks', reqId(req, 'taskId'))) as Task };
  }

  private listTasks(req: Obj): { tasks: Task[] } {
    const f = parseFilters(req, ['names', 'namePrefixes', 'idPrefixes', 'labels', 'serviceIds', 'nodeIds', 'desiredStates', 'runtimes', 'upToDate']);
    return {
      tasks: this.store.view((tx) =>
        tx
          .list('tasks')
          .filter((t) => {
            const name = t.annotations.name || taskName(t.serviceAnnotations.name, t.slot, t.nodeId, t.id);
            if (!matchesNameAndId(f, name, t.id)) return false;
            if (!labelsMatch(f.labels, t.serviceAnnotations.labels)) return false;
            if (!anyOf(f.serviceIds, t.serviceId) || !anyOf(f.nodeIds, t.nodeId) || !anyOf(f.desiredStates, t.desiredState)) return false;
            if (!anyOf(f.runtimes, 'container')) return false;
            if (f.upToDate) {
              const svc = tx.get('services', t.serviceId);
              if (svc === undefined || svc.specVersion !== t.specVersion) return false;
            }
            return true;
          })
          .map((t) => mutableCopy(t) as Task),
      ),
    };
  }

  private async removeTask(req: Obj): Promise<Record<string, never>> {
    const id = reqId(req, 'taskId');
    await this.store.update((tx) => {
      this.get(tx, 'tasks', id);
      tx.delete('tasks', id);
    });
    this.logger.info({ taskId: id }, 'task removed');
    return {};
  }

  // ------------------------------------------------------------------ configs

  private async createConfig(req: Obj): Promise<{ config: Config }> {
    const spec = asObj(req.spec, 'spec');
    const a = asObj(spec.annotations, 'spec.annotations', true);
    const name = str(a.name, 'spec.annotations.name');
    validateConfigName(name);
    const data = str(spec.data, 'spec.data');
    const bytes = Buffer.byteLength(data, 'utf8');
    if (bytes === 0 || bytes >= MAX_CONFIG_DATA_BYTES) {
      throw new InvalidArgumentError(`spec.data: config data must be larger than 0 and less than ${MAX_CONFIG_DATA_BYTES} bytes`);
    }
    const id = newId(this.rng);
    await this.store.update((tx) => {
      if (tx.find('configs', { name: name.toLowerCase() }).length > 0) throw new AlreadyExistsError(`config ${name} already exists`);
      tx.create('configs', {
        id,
        meta: { version: 0, createdAt: 0, updatedAt: 0 },
        spec: { annotations: { name, labels: strMap(a.labels, 'spec.annotations.labels') }, data },
      });
    });
    this.logger.info({ configId: id, name }, 'config created');
    // The stored object is frozen and only serialised by the caller: no copy needed.
    return { config: this.read('configs', id) as Config };
  }

  private getConfig(req: Obj): { config: Config } {
    return { config: mutableCopy(this.read('configs', reqId(req, 'configId'))) as Config };
  }

  private listConfigs(req: Obj): { configs: Config[] } {
    const f = parseFilters(req, ['names', 'namePrefixes', 'idPrefixes', 'labels']);
    const list = this.store.view((tx) => tx.list('configs'));
    return {
      configs: list
        .filter((c) => matchesNameAndId(f, c.spec.annotations.name, c.id) && labelsMatch(f.labels, c.spec.annotations.labels))
        .map((c) => mutableCopy(c) as Config),
    };
  }

  private async updateConfig(req: Obj): Promise<{ config: Config }> {
    const id = reqId(req, 'configId');
    const version = reqVersion(req, 'configVersion');
    const spec = asObj(req.spec, 'spec');
    const a = asObj(spec.annotations, 'spec.annotations', true);
    await this.store.update((tx) => {
      const cur = this.get(tx, 'configs', id);
      if (str(a.name, 'spec.annotations.name') !== cur.spec.annotations.name || str(spec.data, 'spec.data') !== cur.spec.data) {
        throw new InvalidArgumentError('only updates to Labels are allowed');
      }
      const next = mutableCopy(cur) as Config;
      next.meta = { ...next.meta, version };
      next.spec.annotations.labels = strMap(a.labels, 'spec.annotations.labels');
      tx.update('configs', next);
    });
    this.logger.info({ configId: id }, 'config updated');
    return { config: mutableCopy(this.read('configs', id)) as Config };
  }

  private async removeConfig(req: Obj): Promise<Record<string, never>> {
    const id = reqId(req, 'configId');
    await this.store.update((tx) => {
      this.get(tx, 'configs', id);
      tx.delete('configs', id);
    });
    this.logger.info({ configId: id }, 'config removed');
    return {};
  }
}

const KINDS = { nodes: 'node', services: 'service', tasks: 'task', clusters: 'cluster', configs: 'config' } as const;

/** A cluster as reads return it: the CA key is never sent. */
export function redactCluster(c: Stored<'clusters'>): Cluster {
  const out = mutableCopy(c) as Cluster;
  out.rootCA = { ...out.rootCA, caKey: '' };
  return out;
}

/** Throws InvalidArgumentError unless `name` is a valid config name. */
export function validateConfigName(name: string): void {
  if (name === '') throw new InvalidArgumentError('meta: name must be provided');
  if (!CONFIG_NAME_RE.test(name) || name.length > MAX_CONFIG_NAME_CHARS) {
    throw new InvalidArgumentError(
      `spec.annotations.name: invalid name, only ${MAX_CONFIG_NAME_CHARS} [a-zA-Z0-9-_.] characters allowed, and the start and end character must be [a-zA-Z0-9]`,
    );
  }
}

/** Validates a node spec from a request (replaced whole by UpdateNode). */
export function validateNodeSpec(input: unknown): NodeSpec {
  const o = asObj(input, 'spec');
  const a = asObj(o.annotations, 'spec.annotations', true);
  return {
    annotations: { name: str(a.name, 'spec.annotations.name'), labels: strMap(a.labels, 'spec.annotations.labels') },
    desiredRole: enumVal(o.desiredRole, 'spec.desiredRole', NodeRole, NodeRole.WORKER),
    membership: enumVal(o.membership, 'spec.membership', NodeMembership, NodeMembership.ACCEPTED),
    availability: enumVal(o.availability, 'spec.availability', NodeAvailability, NodeAvailability.ACTIVE),
  };
}

/** Validates a cluster spec for UpdateCluster; fields left out keep their current values. */
export function validateClusterSpec(input: unknown, current: Readonly<ClusterSpec>): ClusterSpec {
  const o = asObj(input, 'spec');
  const a = asObj(o.annotations, 'spec.annotations', true);
  const name = str(a.name, 'spec.annotations.name', current.annotations.name);
  if (name !== current.annotations.name) throw new InvalidArgumentError('modification of cluster name is not allowed');
  const orch = asObj(o.orchestration, 'spec.orchestration', true);
  const raft = asObj(o.raft, 'spec.raft', true);
  const disp = asObj(o.dispatcher, 'spec.dispatcher', true);
  const ca = asObj(o.caConfig, 'spec.caConfig', true);
  const heartbeatPeriodMs = int(disp.heartbeatPeriodMs, 'spec.dispatcher.heartbeatPeriodMs', current.dispatcher.heartbeatPeriodMs);
  if (heartbeatPeriodMs < MIN_HEARTBEAT_PERIOD_MS) {
    throw new InvalidArgumentError(`spec.dispatcher.heartbeatPeriodMs: heartbeat period must be > 0, got ${heartbeatPeriodMs}`);
  }
  const nodeCertExpiryMs = int(ca.nodeCertExpiryMs, 'spec.caConfig.nodeCertExpiryMs', current.caConfig.nodeCertExpiryMs);
  validateNodeCertExpiryMs(nodeCertExpiryMs);
  const r = current.raft;
  const positive = (v: unknown, f: string, d: number): number => {
    const n = int(v, f, d);
    if (n < 1) throw new InvalidArgumentError(`${f}: must be a positive integer, got ${n}`);
    return n;
  };
  return {
    annotations: { name, labels: a.labels === undefined ? { ...current.annotations.labels } : strMap(a.labels, 'spec.annotations.labels') },
    orchestration: {
      taskHistoryRetentionLimit: int(orch.taskHistoryRetentionLimit, 'spec.orchestration.taskHistoryRetentionLimit', current.orchestration.taskHistoryRetentionLimit),
    },
    raft: {
      snapshotInterval: positive(raft.snapshotInterval, 'spec.raft.snapshotInterval', r.snapshotInterval),
      keepOldSnapshots: int(raft.keepOldSnapshots, 'spec.raft.keepOldSnapshots', r.keepOldSnapshots),
      logEntriesForSlowFollowers: int(raft.logEntriesForSlowFollowers, 'spec.raft.logEntriesForSlowFollowers', r.logEntriesForSlowFollowers),
      heartbeatTick: positive(raft.heartbeatTick, 'spec.raft.heartbeatTick', r.heartbeatTick),
      electionTick: positive(raft.electionTick, 'spec.raft.electionTick', r.electionTick),
    },
    dispatcher: { heartbeatPeriodMs },
    caConfig: { nodeCertExpiryMs },
  };
}

/** Drops blacklist entries whose certificate expired more than BLACKLIST_RETENTION_AFTER_EXPIRY_MS ago. */
export function purgeBlacklist(bl: Readonly<Record<string, { expiry: number }>>, nowMs: number): Record<string, { expiry: number }> {
  const out: Record<string, { expiry: number }> = {};
  for (const [cn, e] of Object.entries(bl)) if (e.expiry + BLACKLIST_RETENTION_AFTER_EXPIRY_MS > nowMs) out[cn] = { ...e };
  return out;
}

/** When the removed node's certificate expires: from the certificate if it parses, else now + the cluster's validity. */
function certExpiryMs(node: Stored<'nodes'>, cluster: Cluster, nowMs: number): number {
  if (node.certificate.certificate !== '') {
    try {
      return parseCertificate(node.certificate.certificate).notAfterMs;
    } catch {
      // An unreadable certificate cannot outlive the cluster's validity period.
    }
  }
  return nowMs + cluster.spec.caConfig.nodeCertExpiryMs;
}
