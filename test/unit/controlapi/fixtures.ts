/** A ControlApi over a local store with a fake RaftView, plus object factories (not a test file itself). */
import {
  IssuanceState,
  NodeAvailability,
  NodeMembership,
  NodeRole,
  NodeStatusState,
  TaskState,
  type Cluster,
  type Node,
  type Task,
} from '../../../src/host/api/index.js';
import { generateJoinTokens } from '../../../src/host/ca/index.js';
import { SeededRng } from '../../../src/host/env/index.js';
import { ControlApi, type RaftView } from '../../../src/host/controlapi/index.js';
import { createLocalStore, newId, type Store } from '../../../src/host/store/index.js';
import { cluster } from '../../support/objects.js';

/** A clock the test moves by hand. */
export class ManualClock {
  constructor(public t = 1_700_000_000_000) {}
  now(): number {
    return this.t;
  }
}

/** A RaftView the test sets directly. */
export class FakeRaft implements RaftView {
  list: { raftId: string; nodeId: string; addr: string; reachable: boolean }[] = [];
  leader = '';
  members() {
    return this.list.map((m) => ({ ...m }));
  }
  leaderNodeId(): string {
    return this.leader;
  }
}

/** A logger that keeps what it was given. */
export class RecordingLogger {
  readonly lines: { obj: object; msg: string }[] = [];
  info(obj: object, msg: string): void {
    this.lines.push({ obj, msg });
  }
}

export const CLUSTER_ID = 'cluster0000000000000000001';

export function clusterObject(rng: SeededRng): Cluster {
  return cluster(CLUSTER_ID, { rootCA: { caKey: 'SECRET-KEY-PEM', caCert: 'ROOT-PEM', caCertHash: 'sha256:00', joinTokens: generateJoinTokens('ROOT-PEM', rng) } });
}

export function nodeObject(id: string, hostname: string, role = NodeRole.WORKER, state = NodeStatusState.READY): Node {
  return {
    id,
    meta: { version: 0, createdAt: 0, updatedAt: 0 },
    spec: { annotations: { name: '', labels: {} }, desiredRole: role, membership: NodeMembership.ACCEPTED, availability: NodeAvailability.ACTIVE },
    description: {
      hostname,
      platform: { architecture: 'x86_64', os: 'linux' },
      resources: { nanoCpus: 2e9, memoryBytes: 4 * 1024 ** 3 },
      engine: { engineVersion: '20.10', labels: { zone: 'a' }, plugins: [] },
    },
    status: { state, message: '', addr: '10.0.0.1' },
    certificate: { role, csr: '', status: { state: IssuanceState.ISSUED, err: '' }, certificate: '', cn: id },
    role,
  };
}

/** A minimal valid service spec request. */
export function serviceSpec(name = 'web', replicas = 2): Record<string, unknown> {
  return {
    annotations: { name, labels: { app: name } },
    task: { container: { image: 'redis:3.0.5' } },
    mode: { replicated: { replicas } },
  };
}

export function taskObject(id: string, serviceId: string, slot: number, nodeId: string, state: TaskState): Task {
  return {
    id,
    meta: { version: 0, createdAt: 0, updatedAt: 0 },
    spec: {
      container: { image: 'redis:3.0.5', command: [], args: [], env: [], labels: {}, hostname: '', dir: '', user: '', tty: false, stopSignal: '', stopGracePeriodMs: 10000 },
      resources: { limits: { nanoCpus: 0, memoryBytes: 0 }, reservations: { nanoCpus: 0, memoryBytes: 0 } },
      restart: { condition: 2, delayMs: 5000, maxAttempts: 0, windowMs: 0 },
      placement: { constraints: [], preferences: [], platforms: [], maxReplicas: 0 },
      forceUpdate: 0,
    },
    specVersion: 0,
    serviceId,
    slot,
    nodeId,
    annotations: { name: '', labels: {} },
    serviceAnnotations: { name: 'web', labels: { app: 'web' } },
    status: { timestamp: 1, state, message: '', err: '', appliedBy: '', appliedAt: 0 },
    desiredState: TaskState.RUNNING,
  };
}

/** A fresh API: store with the cluster object, three nodes (m1 leader manager, w1, w2 workers). */
export async function setup(seed = 7): Promise<{ api: ControlApi; store: Store; raft: FakeRaft; clock: ManualClock; rng: SeededRng; logger: RecordingLogger }> {
  const clock = new ManualClock();
  const rng = new SeededRng(seed);
  const { store } = createLocalStore({ clock, rng });
  const raft = new FakeRaft();
  const logger = new RecordingLogger();
  await store.update((tx) => {
    tx.create('clusters', clusterObject(rng));
    tx.create('nodes', nodeObject('m1', 'node-1', NodeRole.MANAGER));
    tx.create('nodes', nodeObject('w1', 'node-2'));
    tx.create('nodes', nodeObject('w2', 'node-3'));
  });
  raft.list = [{ raftId: 'a1', nodeId: 'm1', addr: '127.0.0.1:4242', reachable: true }];
  raft.leader = 'm1';
  const api = new ControlApi({ store, clock, rng, raft, logger });
  return { api, store, raft, clock, rng, logger };
}

export { newId };
