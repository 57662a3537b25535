// In-process harness for the leader orchestration tests: a local store on SimTimers, the leader components, and
// a tiny fake agent that moves ASSIGNED tasks to RUNNING (and stops or fails them) like the dispatcher would.
import {
  TaskState,
  type Node,
  type Service,
  type ServiceMode,
  type Task,
  type TaskSpec,
  type UpdateConfig,
} from '../../../src/host/api/index.js';
import { SeededRng, SimTimers } from '../../../src/host/env/index.js';
import { createLocalStore, type Store, type Watcher } from '../../../src/host/store/index.js';
import { LeaderOrchestration, type LeaderOrchestrationOptions } from '../../../src/host/orchestration/index.js';
import { node, taskSpec } from '../../support/objects.js';

export { taskSpec };

/** Lets every queued promise and microtask run (no wall-clock wait: one macrotask turn). */
export async function flush(): Promise<void> {
  await new Promise<void>((r) => setImmediate(r));
  await new Promise<void>((r) => setImmediate(r));
}

/** A READY, ACTIVE worker (see test/support/objects.ts) with meta version 0, as the leader tests create them. */
export function nodeObj(id: string, o: { cpu?: number; mem?: number; labels?: Record<string, string> } = {}): Node {
  return { ...node(id, o), meta: { version: 0, createdAt: 0, updatedAt: 0 } };
}


export function serviceObj(id: string, o: { mode?: ServiceMode; replicas?: number; spec?: TaskSpec; update?: UpdateConfig } = {}): Service {
  const s: Service = {
    id,
    meta: { version: 0, createdAt: 0, updatedAt: 0 },
    spec: {
      annotations: { name: id, labels: {} },
      task: o.spec ?? taskSpec(),
      mode: o.mode ?? { replicated: { replicas: o.replicas ?? 1 } },
    },
    specVersion: 0,
  };
  if (o.update) s.spec.update = o.update;
  return s;
}

/** A task of `svc` as a writer other than the orchestrators would store it (desired RUNNING, version 0). */
export function storedTaskOf(svc: Service, o: { id: string; slot: number; nodeId: string; state: TaskState; message: string }): Task {
  return {
    id: o.id,
    meta: { version: 0, createdAt: 0, updatedAt: 0 },
    spec: svc.spec.task,
    specVersion: 0,
    serviceId: svc.id,
    slot: o.slot,
    nodeId: o.nodeId,
    annotations: { name: `${svc.spec.annotations.name}.${o.slot}.${o.id}`, labels: {} },
    serviceAnnotations: svc.spec.annotations,
    status: { timestamp: 0, state: o.state, message: o.message, err: '', appliedBy: '', appliedAt: 0 },
    desiredState: TaskState.RUNNING,
  };
}

/**
 * The fake agent: for tasks on nodes it serves, moves ASSIGNED..STARTING with desired RUNNING to RUNNING (desired
 * COMPLETE: straight to COMPLETE), stops tasks whose desired state is SHUTDOWN or more, and fails tasks that `shouldFail` picks (FAILED instead of
 * RUNNING). Tasks on nodes in `dead` get no reports at all (their agent is gone).
 */
export class FakeAgent {
  readonly dead = new Set<string>();
  shouldFail: (t: Task) => boolean = () => false;
  private readonly touched = new Set<string>();
  private scheduled = false;
  private watcher: Watcher | undefined;
  reports = 0;

  constructor(private readonly store: Store, private readonly clock: { now(): number }) {}

  start(): void {
    const { result, watcher } = this.store.viewAndWatch((tx) => tx.list('tasks').map((t) => t.id), { tables: ['tasks'], bufferSize: 1_000_000 });
    this.watcher = watcher;
    for (const id of result) this.touched.add(id);
    this.schedule();
    void (async () => {
      for await (const ev of watcher) {
        if (ev.kind === 'create' || ev.kind === 'update') {
          this.touched.add(ev.object.id);
          this.schedule();
        }
      }
    })();
  }

  stop(): void {
    this.watcher?.close();
  }

  /** Re-examines every task (e.g. after a node came back). */
  poke(): void {
    for (const id of this.store.view((tx) => tx.list('tasks').map((t) => t.id))) this.touched.add(id);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      void this.report();
    });
  }

  private async report(): Promise<void> {
    const ids = [...this.touched];
    this.touched.clear();
    const now = this.clock.now();
    await this.store.batch((b) => {
      for (const id of ids) {
        b.update((tx) => {
          const t = tx.get('tasks', id) as Task | undefined;
          if (!t || t.nodeId === '' || this.dead.has(t.nodeId)) return;
          const s = t.status.state;
          let next: TaskState | undefined;
          if (t.desiredState >= TaskState.SHUTDOWN && s >= TaskState.ASSIGNED && s <= TaskState.RUNNING) next = TaskState.SHUTDOWN;
          else if (t.desiredState === TaskState.RUNNING && s >= TaskState.ASSIGNED && s < TaskState.RUNNING) {
            next = this.shouldFail(t) ? TaskState.FAILED : TaskState.RUNNING;
          } else if (t.desiredState === TaskState.COMPLETE && s >= TaskState.ASSIGNED && s <= TaskState.RUNNING) {
            // A job task runs to completion at once (or fails).
            next = this.shouldFail(t) ? TaskState.FAILED : TaskState.COMPLETE;
          }
          if (next === undefined) return;
          this.reports++;
          tx.update('tasks', { ...t, status: { ...t.status, state: next, message: TaskState[next].toLowerCase(), timestamp: now, appliedAt: now } });
        });
      }
    });
  }
}

/** A store, SimTimers, the leader components and the fake agent, wired together. */
export class World {
  readonly timers = new SimTimers(1_700_000_000_000);
  readonly store: Store;
  readonly leader: LeaderOrchestration;
  readonly agent: FakeAgent;

  constructor(opts: Partial<LeaderOrchestrationOptions> = {}) {
    this.store = createLocalStore({ clock: this.timers, rng: new SeededRng(7) }).store;
    this.leader = new LeaderOrchestration({ store: this.store, timers: this.timers, clock: this.timers, rng: new SeededRng(11), ...opts });
    this.agent = new FakeAgent(this.store, this.timers);
  }

  start(): void {
    this.leader.start();
    this.agent.start();
  }

  async stop(): Promise<void> {
    await this.leader.stop();
    this.agent.stop();
    await flush();
  }

  /** Moves simulated time forward by `ms` in steps of `stepMs`, letting the loop run between steps. */
  async advance(ms: number, stepMs = 10): Promise<void> {
    const end = this.timers.now() + ms;
    await flush();
    while (this.timers.now() < end) {
      this.timers.advance(Math.min(stepMs, end - this.timers.now()));
      await flush();
    }
  }

  /** Advances time until `cond` holds; fails after `maxMs` of simulated time. Returns the simulated ms taken. */
  async until(cond: () => boolean, maxMs = 30_000, what = 'condition', stepMs = 10): Promise<number> {
    const start = this.timers.now();
    await flush();
    while (!cond()) {
      if (this.timers.now() - start > maxMs) throw new Error(`not reached within ${maxMs} simulated ms: ${what}`);
      this.timers.advance(stepMs);
      await flush();
    }
    return this.timers.now() - start;
  }

  async addNode(id: string, o: Parameters<typeof nodeObj>[1] = {}): Promise<void> {
    await this.store.update((tx) => tx.create('nodes', nodeObj(id, o)));
  }

  async updateNode(id: string, fn: (n: Node) => void): Promise<void> {
    await this.store.update((tx) => {
      const n = structuredClone(tx.get('nodes', id)) as Node;
      fn(n);
      tx.update('nodes', n);
    });
  }

  async createService(s: Service): Promise<void> {
    await this.store.update((tx) => tx.create('services', s));
  }

  /** Changes a service the way the control API does: spec version = the previous meta.version, previous spec kept. */
  async updateService(id: string, fn: (s: Service) => void, opts: { newSpec?: boolean } = {}): Promise<void> {
    await this.store.update((tx) => {
      const cur = tx.get('services', id) as Service;
      const s = structuredClone(cur) as Service;
      fn(s);
      if (opts.newSpec !== false) {
        s.previousSpec = structuredClone(cur.spec) as Service['spec'];
        s.previousSpecVersion = cur.specVersion;
        s.specVersion = cur.meta.version;
        delete s.updateStatus;
      }
      tx.update('services', s);
    });
  }

  async deleteService(id: string): Promise<void> {
    await this.store.update((tx) => tx.delete('services', id));
  }

  tasks(serviceId?: string): Task[] {
    return this.store.view((tx) => (serviceId ? tx.find('tasks', { serviceId }) : tx.list('tasks')) as Task[]);
  }

  /** Tasks desired RUNNING and observed RUNNING. */
  running(serviceId?: string): Task[] {
    return this.tasks(serviceId).filter((t) => t.status.state === TaskState.RUNNING && t.desiredState === TaskState.RUNNING);
  }

  /** Running tasks per node id. */
  spread(serviceId?: string): Record<string, number> {
    const out: Record<string, number> = {};
    for (const t of this.running(serviceId)) out[t.nodeId] = (out[t.nodeId] ?? 0) + 1;
    return out;
  }

  service(id: string): Service | undefined {
    return this.store.view((tx) => tx.get('services', id) as Service | undefined);
  }
}
