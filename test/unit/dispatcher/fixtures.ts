/** Builders and drivers for the dispatcher and agent tests: store objects, a call context, SimTimers helpers. */
import {
  IssuanceState,
  NodeAvailability,
  NodeMembership,
  NodeRole,
  NodeStatusState,
  type Cluster,
  type Node,
} from '../../../src/host/api/objects.js';
import { SeededRng, SimTimers } from '../../../src/host/env/index.js';
import { createLocalStore, type Store } from '../../../src/host/store/index.js';
import type { CallContext } from '../../../src/host/transport/index.js';
import { Dispatcher, type DispatcherLogger } from '../../../src/host/dispatcher/index.js';
import { cluster } from '../../support/objects.js';

export const CLUSTER_ID = 'clusterdispatchtest0000001';

/** A logger that keeps entries (and prints nothing). */
export class RecordingLogger implements DispatcherLogger {
  readonly entries: { level: string; obj: object; msg: string }[] = [];
  info(obj: object, msg: string): void {
    this.entries.push({ level: 'info', obj, msg });
  }
  warn(obj: object, msg: string): void {
    this.entries.push({ level: 'warn', obj, msg });
  }
  error(obj: object, msg: string): void {
    this.entries.push({ level: 'error', obj, msg });
  }
}

/** A node as the CA creates it at join. */
export function makeNode(id: string, state = NodeStatusState.UNKNOWN): Node {
  return {
    id,
    meta: { version: 0, createdAt: 0, updatedAt: 0 },
    spec: { annotations: { name: '', labels: {} }, desiredRole: NodeRole.WORKER, membership: NodeMembership.ACCEPTED, availability: NodeAvailability.ACTIVE },
    status: { state, message: '', addr: '' },
    certificate: { role: NodeRole.WORKER, csr: '', status: { state: IssuanceState.ISSUED, err: '' }, certificate: '', cn: id },
    role: NodeRole.WORKER,
  };
}

/** The cluster object with a heartbeat period. */
export function makeCluster(heartbeatPeriodMs = 5_000): Cluster {
  return cluster(CLUSTER_ID, {
    spec: (s) => ({ ...s, dispatcher: { heartbeatPeriodMs } }),
    rootCA: { caCert: '-----BEGIN CERTIFICATE-----\ntest\n-----END CERTIFICATE-----\n' },
  });
}

/** A call context for `nodeId` calling from `addr`, with an abort controller to end streams. */
export function ctxFor(nodeId: string, addr = '10.0.0.7:40000'): CallContext & { abort: () => void } {
  const ac = new AbortController();
  return {
    path: '/swarmhost.api.Dispatcher/Test',
    peer: { nodeId, role: 'swarm-worker', clusterId: CLUSTER_ID, addr },
    local: false,
    signal: ac.signal,
    abort: () => ac.abort(),
  };
}

/** Lets promises and microtasks run (a few real macrotask turns). */
export async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((r) => setImmediate(r));
}

/** Advances simulated time in steps of `stepMs`, letting async work run after each, for `totalMs`. */
export async function advance(timers: SimTimers, totalMs: number, stepMs = 50): Promise<void> {
  let left = totalMs;
  while (left > 0) {
    const step = Math.min(stepMs, left);
    timers.advance(step);
    left -= step;
    await settle(2);
  }
}

/**
 * Drives simulated time (steps of `stepMs`) until `cond` holds; fails after `simDeadlineMs` of simulated time
 * or 10 s of real time, whichever comes first. Real turns between steps let real file I/O finish.
 */
export async function driveUntil(timers: SimTimers, cond: () => boolean, what: string, simDeadlineMs = 60_000, stepMs = 20): Promise<void> {
  const simEnd = timers.now() + simDeadlineMs;
  const realEnd = Date.now() + 10_000;
  for (;;) {
    if (cond()) return;
    if (timers.now() >= simEnd || Date.now() > realEnd) throw new Error(`timed out waiting for ${what} (sim ${simDeadlineMs} ms)`);
    timers.advance(stepMs);
    await settle(3);
    await new Promise<void>((r) => setTimeout(r, 1));
  }
}

/** A store with the cluster and the given nodes, a dispatcher over it (not started), SimTimers and a seeded Rng. */
export async function setup(nodeIds: string[], opts: { heartbeatPeriodMs?: number; nodeState?: NodeStatusState } = {}): Promise<{
  timers: SimTimers;
  rng: SeededRng;
  store: Store;
  dispatcher: Dispatcher;
  logger: RecordingLogger;
  managers: { nodeId: string; addr: string; weight: number }[];
}> {
  const timers = new SimTimers();
  const rng = new SeededRng(7);
  const { store } = createLocalStore({ clock: timers, rng: rng.fork() });
  await store.update((tx) => {
    tx.create('clusters', makeCluster(opts.heartbeatPeriodMs));
    for (const id of nodeIds) tx.create('nodes', makeNode(id, opts.nodeState));
  });
  const logger = new RecordingLogger();
  const managers = [{ nodeId: 'mgr1', addr: '10.0.0.1:4242', weight: 10 }];
  const dispatcher = new Dispatcher({ store, timers, rng: rng.fork(), clusterId: CLUSTER_ID, managerList: () => managers, logger });
  return { timers, rng, store, dispatcher, logger, managers };
}

/** Drives simulated time for `simMs` in steps of `stepMs`, with real turns between steps (real file I/O). */
export async function driveFor(timers: SimTimers, simMs: number, stepMs = 100): Promise<void> {
  const end = timers.now() + simMs;
  while (timers.now() < end) {
    timers.advance(Math.min(stepMs, end - timers.now()));
    await settle(3);
    await new Promise<void>((r) => setTimeout(r, 1));
  }
}
