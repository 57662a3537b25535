/**
 * Node and task-spec builders shared by the unit tests, the simulations and the in-process benchmarks (one
 * definition, so a change to the object model is made once).
 */
import {
  defaultClusterSpec,
  IssuanceState,
  NodeAvailability,
  NodeMembership,
  NodeRole,
  NodeStatusState,
  RestartCondition,
  type Cluster,
  type ClusterSpec,
  type Node,
  type Resources,
  type RestartPolicy,
  type TaskSpec,
} from '../../src/host/api/index.js';

/** A READY, ACTIVE worker node named `id` (4 CPUs, 8 GiB unless given), meta version 1. */
export function node(id: string, o: { availability?: NodeAvailability; state?: NodeStatusState; labels?: Record<string, string>; cpu?: number; mem?: number; generic?: Record<string, number>; genericNamed?: Record<string, string[]> } = {}): Node {
  const resources: Resources = { nanoCpus: o.cpu ?? 4e9, memoryBytes: o.mem ?? 8 * 2 ** 30 };
  if (o.generic) resources.generic = o.generic;
  if (o.genericNamed) resources.genericNamed = o.genericNamed;
  return {
    id,
    meta: { version: 1, createdAt: 0, updatedAt: 0 },
    spec: {
      annotations: { name: id, labels: o.labels ?? {} },
      desiredRole: NodeRole.WORKER,
      membership: NodeMembership.ACCEPTED,
      availability: o.availability ?? NodeAvailability.ACTIVE,
    },
    description: {
      hostname: id,
      platform: { architecture: 'x86_64', os: 'linux' },
      resources,
      engine: { engineVersion: '1', labels: {}, plugins: [] },
    },
    status: { state: o.state ?? NodeStatusState.READY, message: '', addr: '10.0.0.1' },
    certificate: { role: NodeRole.WORKER, csr: '', status: { state: IssuanceState.ISSUED, err: '' }, certificate: '', cn: id },
    role: NodeRole.WORKER,
  };
}

/** A busybox container task spec with restart ANY after 5 s; reservations, constraints, restart overridable. */
export function taskSpec(o: { image?: string; restart?: Partial<RestartPolicy>; constraints?: string[]; cpu?: number; mem?: number; generic?: Record<string, number> } = {}): TaskSpec {
  const reservations: TaskSpec['resources']['reservations'] = { nanoCpus: o.cpu ?? 0, memoryBytes: o.mem ?? 0 };
  if (o.generic) reservations.generic = o.generic;
  return {
    container: {
      image: o.image ?? 'busybox:1',
      command: [],
      args: [],
      env: [],
      labels: {},
      hostname: '',
      dir: '',
      user: '',
      tty: false,
      stopSignal: '',
      stopGracePeriodMs: 10_000,
    },
    resources: { limits: { nanoCpus: 0, memoryBytes: 0 }, reservations },
    restart: { condition: RestartCondition.ANY, delayMs: 5_000, maxAttempts: 0, windowMs: 0, ...o.restart },
    placement: { constraints: o.constraints ?? [], preferences: [], platforms: [], maxReplicas: 0 },
    forceUpdate: 0,
  };
}

/**
 * A cluster object `id` with the default spec (changed by `spec` when given) and `rootCA` (no CA material and
 * empty join tokens unless given), meta version 0.
 */
export function cluster(id: string, o: { spec?: (s: ClusterSpec) => ClusterSpec; rootCA?: Partial<Cluster['rootCA']> } = {}): Cluster {
  const spec = defaultClusterSpec();
  return {
    id,
    meta: { version: 0, createdAt: 0, updatedAt: 0 },
    spec: o.spec ? o.spec(spec) : spec,
    rootCA: { caKey: '', caCert: '', caCertHash: '', joinTokens: { worker: '', manager: '' }, ...o.rootCA },
    blacklistedCertificates: {},
  };
}
