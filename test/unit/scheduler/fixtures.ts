/** Builders of plain Node/Task objects for scheduler tests. */
import type { Node, PortConfig, Task, TaskSpec } from '../../../src/host/api/objects.js';
import { NodeAvailability, NodeMembership, NodeRole, NodeStatusState, TaskState } from '../../../src/host/api/objects.js';

export interface NodeOpts {
  id: string;
  hostname?: string;
  role?: NodeRole;
  state?: NodeStatusState;
  availability?: NodeAvailability;
  arch?: string;
  os?: string;
  noDescription?: boolean;
  nanoCpus?: number;
  memoryBytes?: number;
  generic?: Record<string, number>;
  genericNamed?: Record<string, string[]>;
  labels?: Record<string, string>;
  engineLabels?: Record<string, string>;
  addr?: string;
}

export function makeNode(o: NodeOpts): Node {
  return {
    id: o.id,
    meta: { version: 1, createdAt: 0, updatedAt: 0 },
    spec: {
      annotations: { name: o.id, labels: o.labels ?? {} },
      desiredRole: o.role ?? NodeRole.WORKER,
      membership: NodeMembership.ACCEPTED,
      availability: o.availability ?? NodeAvailability.ACTIVE,
    },
    ...(o.noDescription
      ? {}
      : {
          description: {
            hostname: o.hostname ?? o.id,
            platform: { architecture: o.arch ?? 'x86_64', os: o.os ?? 'linux' },
            resources: {
              nanoCpus: o.nanoCpus ?? 4e9,
              memoryBytes: o.memoryBytes ?? 8 * 2 ** 30,
              ...(o.generic ? { generic: o.generic } : {}),
              ...(o.genericNamed ? { genericNamed: o.genericNamed } : {}),
            },
            engine: { engineVersion: '20.10', labels: o.engineLabels ?? {}, plugins: [] },
          },
        }),
    status: { state: o.state ?? NodeStatusState.READY, message: '', addr: o.addr ?? '10.0.0.1' },
    certificate: { role: o.role ?? NodeRole.WORKER, csr: '', status: { state: 3, err: '' }, certificate: '', cn: o.id },
    role: o.role ?? NodeRole.WORKER,
  };
}

export interface SpecOpts {
  nanoCpus?: number;
  memoryBytes?: number;
  generic?: Record<string, number>;
  constraints?: string[];
  preferences?: string[];
  platforms?: { architecture: string; os: string }[];
  maxReplicas?: number;
}

export function makeSpec(o: SpecOpts = {}): TaskSpec {
  return {
    container: { image: 'busybox', command: [], args: [], env: [], labels: {}, hostname: '', dir: '', user: '', tty: false, stopSignal: '', stopGracePeriodMs: 10000 },
    resources: {
      limits: { nanoCpus: 0, memoryBytes: 0 },
      reservations: { nanoCpus: o.nanoCpus ?? 0, memoryBytes: o.memoryBytes ?? 0, ...(o.generic ? { generic: o.generic } : {}) },
    },
    restart: { condition: 2, delayMs: 5000, maxAttempts: 0, windowMs: 0 },
    placement: {
      constraints: o.constraints ?? [],
      preferences: (o.preferences ?? []).map((d) => ({ spreadDescriptor: d })),
      platforms: o.platforms ?? [],
      maxReplicas: o.maxReplicas ?? 0,
    },
    forceUpdate: 0,
  };
}

export interface TaskOpts {
  id: string;
  serviceId: string;
  specVersion?: number;
  spec?: TaskSpec;
  nodeId?: string;
  state?: TaskState;
  desired?: TaskState;
  hostPorts?: number[];
}

export function makeTask(o: TaskOpts): Task {
  const ports: PortConfig[] = (o.hostPorts ?? []).map((p) => ({ name: '', protocol: 0, targetPort: 80, publishedPort: p, publishMode: 1 }));
  return {
    id: o.id,
    meta: { version: 1, createdAt: 0, updatedAt: 0 },
    spec: o.spec ?? makeSpec(),
    specVersion: o.specVersion ?? 0,
    serviceId: o.serviceId,
    slot: 1,
    nodeId: o.nodeId ?? '',
    annotations: { name: o.id, labels: {} },
    serviceAnnotations: { name: o.serviceId, labels: {} },
    status: { timestamp: 0, state: o.state ?? TaskState.PENDING, message: '', err: '', appliedBy: '', appliedAt: 0 },
    desiredState: o.desired ?? TaskState.RUNNING,
    ...(ports.length ? { endpoint: { mode: 'vip' as const, ports } } : {}),
  };
}

/** `count` pending tasks of one service version, ids `<prefix>-<i>`. */
export function pendingGroup(prefix: string, serviceId: string, count: number, spec: TaskSpec, hostPorts?: number[]): Task[] {
  const out: Task[] = [];
  for (let i = 0; i < count; i++) out.push(makeTask({ id: `${prefix}-${i}`, serviceId, spec, ...(hostPorts ? { hostPorts } : {}) }));
  return out;
}
