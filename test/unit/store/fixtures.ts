/** Object factories and store setup shared by the store tests (not a test file itself). */
import {
  NodeAvailability,
  NodeMembership,
  NodeRole,
  NodeStatusState,
  RestartCondition,
  TaskState,
  IssuanceState,
  type Meta,
  type Node,
  type Secret,
  type Service,
  type Task,
  type TaskSpec,
} from '../../../src/host/api/index.js';
import { SeededRng } from '../../../src/host/env/index.js';
import { Store, createLocalStore, newId, type Proposer } from '../../../src/host/store/index.js';

/** A clock tests move by hand. */
export class ManualClock {
  constructor(public t = 1_700_000_000_000) {}
  now(): number {
    return this.t;
  }
}

const zeroMeta = (): Meta => ({ version: 0, createdAt: 0, updatedAt: 0 });

export function taskSpec(): TaskSpec {
  return {
    container: {
      image: 'busybox:latest',
      command: ['sleep'],
      args: ['3600'],
      env: ['A=1', 'B=2'],
      labels: { app: 'web' },
      hostname: '',
      dir: '',
      user: '',
      tty: false,
      stopSignal: 'SIGTERM',
      stopGracePeriodMs: 10_000,
    },
    resources: { limits: { nanoCpus: 1e9, memoryBytes: 256 << 20 }, reservations: { nanoCpus: 1e8, memoryBytes: 64 << 20 } },
    restart: { condition: RestartCondition.ANY, delayMs: 5000, maxAttempts: 0, windowMs: 0 },
    placement: { constraints: ['node.role==worker'], preferences: [], platforms: [], maxReplicas: 0 },
    forceUpdate: 0,
  };
}

export function task(id: string, serviceId: string, slot: number, nodeId = '', desiredState = TaskState.RUNNING): Task {
  return {
    id,
    meta: zeroMeta(),
    spec: taskSpec(),
    specVersion: 0,
    serviceId,
    slot,
    nodeId,
    annotations: { name: `web.${slot}.${id}`, labels: {} },
    serviceAnnotations: { name: 'web', labels: {} },
    status: { timestamp: 0, state: TaskState.NEW, message: 'created', err: '', appliedBy: '', appliedAt: 0 },
    desiredState,
  };
}

export function service(id: string, name: string): Service {
  return {
    id,
    meta: zeroMeta(),
    spec: { annotations: { name, labels: {} }, task: taskSpec(), mode: { replicated: { replicas: 3 } } },
    specVersion: 0,
  };
}

export function secret(id: string, name: string): Secret {
  return { id, meta: zeroMeta(), spec: { annotations: { name, labels: {} }, data: 'c2VjcmV0' } };
}

export function node(id: string, hostname: string, role = NodeRole.WORKER, membership = NodeMembership.ACCEPTED): Node {
  return {
    id,
    meta: zeroMeta(),
    spec: { annotations: { name: '', labels: {} }, desiredRole: role, membership, availability: NodeAvailability.ACTIVE },
    description: {
      hostname,
      platform: { architecture: 'x86_64', os: 'linux' },
      resources: { nanoCpus: 2e9, memoryBytes: 4 << 30 },
      engine: { engineVersion: '20.10', labels: {}, plugins: [] },
    },
    status: { state: NodeStatusState.READY, message: '', addr: '10.0.0.1' },
    certificate: { role, csr: '', status: { state: IssuanceState.ISSUED, err: '' }, certificate: '', cn: id },
    role,
  };
}

/** A fresh single-manager store with a seeded rng and manual clock. */
export function localStore(
  seed = 1,
  extra: { record?: boolean; maxProposalBytes?: number; maxQueuedTransactions?: number; maxProposalsInFlight?: number } = {},
) {
  const clock = new ManualClock();
  const rng = new SeededRng(seed);
  const { store, proposer } = createLocalStore({ clock, rng, ...extra });
  return { store, proposer, clock, rng, id: () => newId(rng) };
}

/**
 * A proposer whose proposals wait until the test releases them: `release()` applies all held entries in order,
 * `failAll(err)` rejects them (as a lost leadership would). Records every proposal.
 */
export class HeldProposer implements Proposer {
  readonly held: { data: Uint8Array; resolve: () => void; reject: (e: Error) => void }[] = [];
  readonly proposed: Uint8Array[] = [];
  private index = 0;
  constructor(private readonly store: Store) {}
  propose(data: Uint8Array): Promise<void> {
    this.proposed.push(data);
    return new Promise((resolve, reject) => this.held.push({ data, resolve, reject }));
  }
  release(): void {
    for (const h of this.held.splice(0)) {
      this.index = Math.max(this.index, this.store.appliedIndex) + 1;
      this.store.applyCommitted(this.index, h.data);
      h.resolve();
    }
  }
  failAll(err: Error): void {
    for (const h of this.held.splice(0)) h.reject(err);
  }
}

/** Lets queued microtasks (the store's pump) run. */
export async function tick(n = 3): Promise<void> {
  for (let i = 0; i < n; i++) await Promise.resolve();
}

/** Releases held proposals until `p` settles (bounded), returning its result. */
export async function drive<T>(h: HeldProposer, p: Promise<T>, maxRounds = 1000): Promise<T> {
  let done = false;
  const watched = p.finally(() => {
    done = true;
  });
  watched.catch(() => {});
  for (let i = 0; i < maxRounds && !done; i++) {
    await tick(5);
    h.release();
    await tick(5);
  }
  if (!done) throw new Error(`drive: promise not settled after ${maxRounds} rounds`);
  return p;
}

/**
 * One Raft log shared by several stores (managers): every store may propose; `release()` commits held
 * proposals in proposal order and applies each to every store, as the Raft driver would.
 */
export class SharedLog {
  readonly held: { data: Uint8Array; resolve: () => void }[] = [];
  private index = 0;
  constructor(readonly stores: Store[]) {
    for (const s of stores) s.setProposer(this);
  }
  propose(data: Uint8Array): Promise<void> {
    return new Promise((resolve) => this.held.push({ data, resolve }));
  }
  release(): void {
    for (const h of this.held.splice(0)) {
      this.index++;
      for (const s of this.stores) s.applyCommitted(this.index, h.data);
      h.resolve();
    }
  }
}
