/**
 * The in-process swarm the converge benchmarks measure (bench:converge) or compare with
 * (bench:converge:transport's baseline): the leader's orchestration over one local store, no Raft, no
 * transport, N READY nodes and a fake agent that reports RUNNING as soon as a task is assigned.
 */
import { TaskState } from '../src/host/api/index.js';
import { RealTimers, SeededRng } from '../src/host/env/index.js';
import { createLocalStore, type Store } from '../src/host/store/index.js';
import { LeaderOrchestration } from '../src/host/orchestration/index.js';
import { FakeAgent, nodeObj, serviceObj, taskSpec } from '../test/unit/orchestration/harness.js';

/** A running in-process swarm (see the module comment). Nodes are `node0` … `node<N-1>`. */
export interface InProcessSwarm {
  store: Store;
  leader: LeaderOrchestration;
  agent: FakeAgent;
  /** Tasks of `serviceId` observed and desired RUNNING. */
  running(serviceId: string): number;
  stop(): Promise<void>;
}

/** Starts the leader and the fake agent over `nodes` READY nodes. */
export async function startInProcessSwarm(nodes: number): Promise<InProcessSwarm> {
  const timers = new RealTimers();
  const { store } = createLocalStore({ clock: timers, rng: new SeededRng(1) });
  const leader = new LeaderOrchestration({ store, timers, clock: timers, rng: new SeededRng(2) });
  const agent = new FakeAgent(store, timers);
  await store.batch((b) => {
    for (let i = 0; i < nodes; i++) b.update((tx) => void tx.create('nodes', nodeObj(`node${i}`)));
  });
  leader.start();
  agent.start();
  return {
    store,
    leader,
    agent,
    running: (serviceId) =>
      store.view((tx) => tx.find('tasks', { serviceId }).filter((t) => t.status.state === TaskState.RUNNING && t.desiredState === TaskState.RUNNING).length),
    stop: async () => {
      await leader.stop();
      agent.stop();
      timers.clearAll();
    },
  };
}

/** Polls `cond` every 5 ms; fails after `boundMs`. */
export async function waitUntil(cond: () => boolean, what: string, boundMs: number): Promise<void> {
  const end = Date.now() + boundMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`bench: ${what} not reached within ${boundMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Creates service `serviceId` with `replicas` (restart delay 0); returns ms until all run (bounded by `boundMs`). */
export async function convergeMs(swarm: InProcessSwarm, serviceId: string, replicas: number, boundMs: number): Promise<number> {
  const t0 = performance.now();
  await swarm.store.update((tx) => tx.create('services', serviceObj(serviceId, { replicas, spec: taskSpec({ restart: { delayMs: 0 } }) })));
  await waitUntil(() => swarm.running(serviceId) === replicas, `${replicas} running`, boundMs);
  return performance.now() - t0;
}
