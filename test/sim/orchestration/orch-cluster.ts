/**
 * The orchestration simulation's world: three Raft managers (the real core, driver, WAL, store — SimCluster)
 * where the current leader runs the leader components exactly as a swarmhost process does (LeaderOrchestration
 * then Dispatcher, started on leadership gain and stopped on loss, one transition at a time), plus M worker
 * nodes, each an Agent with a SimExecutor on its own SimEngine ("the machine") and SimFs ("the disk"). Agents
 * talk to a manager through {@link SimDispatcherClient}: the manager serves the call with its own dispatcher
 * when it leads, else proxies to the leader; the call fails with Unavailable when the manager is down, the
 * agent is cut off, or the manager cannot reach the leader — and an open stream breaks when any of that
 * becomes true later, as a TCP connection would.
 */
import { AbortedError, UnavailableError } from '../../../src/host/api/errors.js';
import {
  IssuanceState,
  NodeAvailability,
  NodeMembership,
  NodeRole,
  NodeStatusState,
  type Cluster,
  type Node,
} from '../../../src/host/api/objects.js';
import { SeededRng, SimFs, type Fs } from '../../../src/host/env/index.js';
import { Store } from '../../../src/host/store/index.js';
import { LeaderOrchestration } from '../../../src/host/orchestration/index.js';
import { Dispatcher } from '../../../src/host/dispatcher/index.js';
import { Agent, type DispatcherClient } from '../../../src/host/agent/index.js';
import { SimEngine, SimExecutor } from '../../../src/plugins/executors/index.js';
import { ControlApi } from '../../../src/host/controlapi/index.js';
import type { CallContext, DispatcherHandlers } from '../../../src/host/transport/index.js';
import type {
  AssignmentsMessage,
  AssignmentsRequest,
  HeartbeatRequest,
  HeartbeatResponse,
  SessionMessage,
  SessionRequest,
  UpdateTaskStatusRequest,
} from '../../../src/host/transport/messages.js';
import type { RaftId } from '../../../src/host/raft/types.js';
import { SimCluster, SimViolation, settle, type AppFactory, type SimApp } from '../cluster.js';
import { cluster } from '../../support/objects.js';

/** Cluster id of the simulated swarm. */
export const SIM_CLUSTER_ID = 'simorchcluster000000000001';

/** Simulated epoch of SimCluster's timers (ms). */
const EPOCH_MS = 1_700_000_000_000;

/** Collects log lines into the trace when tracing; otherwise drops them. */
class TraceLogger {
  constructor(
    private readonly sink: (line: string) => void,
    private readonly who: string,
  ) {}
  info(a: object | string, b?: string | Record<string, unknown>): void {
    this.sink(`${this.who} ${fmt(a, b)}`);
  }
  warn(a: object | string, b?: string | Record<string, unknown>): void {
    this.sink(`${this.who} WARN ${fmt(a, b)}`);
  }
  error(a: object | string, b?: string | Record<string, unknown>): void {
    this.sink(`${this.who} ERROR ${fmt(a, b)}`);
  }
}

function fmt(a: object | string, b?: string | Record<string, unknown>): string {
  return typeof a === 'string' ? `${a} ${b ? JSON.stringify(b) : ''}` : `${String(b)} ${JSON.stringify(a)}`;
}

/** The leader components of one running manager (the process: gone when it crashes). */
interface ManagerServices {
  id: RaftId;
  store: Store;
  leading: boolean;
  transition: Promise<void>;
  orch: LeaderOrchestration | undefined;
  dispatcher: Dispatcher | undefined;
  /** Set when the manager process crashed: no more transitions. */
  dead: boolean;
}

/** One worker node: its machine (engine), its disk, its agent process when running. */
export interface SimWorker {
  nodeId: string;
  /** Observed IP of the node. */
  addr: string;
  engine: SimEngine;
  fs: SimFs;
  agent: Agent | undefined;
  /** True while its agent process runs. */
  alive: boolean;
  /** True while the node cannot reach any manager. */
  cut: boolean;
  /** Agent processes started so far (state-dir stays the same across them). */
  incarnation: number;
  /** Kills the current agent process's access to the disk (a dead process writes nothing more). */
  revokeFs: (() => void) | undefined;
}

/** The disk as one process sees it: every call fails once the process is dead. */
function processFs(fs: Fs): { fs: Fs; revoke: () => void } {
  let dead = false;
  const view = new Proxy(fs, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        if (dead) return Promise.reject(new Error('EIO: the process that opened this disk is dead'));
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { fs: view, revoke: () => (dead = true) };
}

/** One open call from an agent to a manager (and through it to the leader's dispatcher). */
interface Conn {
  worker: SimWorker;
  managerId: RaftId;
  leaderId: RaftId;
  dispatcher: Dispatcher;
  ac: AbortController;
  /** Resolves when the connection breaks (never rejects). */
  broken: Promise<void>;
  breakIt: () => void;
}

/** Options of an {@link OrchSim}. */
export interface OrchSimOptions {
  seed: number;
  /** Worker nodes (each runs an agent with the sim executor). */
  workers: number;
  trace?: boolean;
}

/** The simulated swarm: managers with leader components, workers with agents, one SimTimers. */
export class OrchSim {
  readonly cluster: SimCluster;
  readonly workers = new Map<string, SimWorker>();
  private readonly stores = new WeakMap<SimApp, Store>();
  private readonly services = new Map<RaftId, ManagerServices>();
  private readonly conns = new Set<Conn>();
  private readonly rng: SeededRng;
  /** A property broken inside a callback (thrown by run()). */
  violation: SimViolation | undefined;
  /** Leader-component starts so far (observability: leader changes the run went through). */
  leaderStarts = 0;

  constructor(readonly o: OrchSimOptions) {
    const factory: AppFactory = (propose, clock, rng) => {
      const store = new Store({ clock, rng, proposer: { propose: async (d) => void (await propose(d)) } });
      const app: SimApp = {
        apply: (index, data) => {
          store.applyCommitted(index, data);
          return undefined;
        },
        snapshot: () => store.snapshot(),
        restore: (data) => store.restore(data),
        write: () => Promise.reject(new Error('the orchestration simulation writes through the control API')),
        has: () => false,
        fingerprint: () => '',
      };
      this.stores.set(app, store);
      return app;
    };
    this.cluster = new SimCluster({
      seed: o.seed,
      managers: 3,
      faults: { dropRate: 0, duplicateRate: 0, minDelayMs: 1, maxDelayMs: 10 },
      app: factory,
      trace: o.trace ?? false,
      onRole: (id, leader) => this.setLeading(id, leader),
    });
    this.rng = this.cluster.rng.fork();
  }

  get timers() {
    return this.cluster.timers;
  }

  /** Simulated ms since the start. */
  nowMs(): number {
    return this.timers.now() - EPOCH_MS;
  }

  trace(line: string): void {
    this.cluster.trace(line);
  }

  // ------------------------------------------------------------------ managers

  /** Starts the managers, waits for a leader, writes the cluster object and the workers' node objects. */
  async bootstrap(): Promise<void> {
    await this.cluster.bootstrap();
    await this.runUntil(() => this.leaderServices() !== undefined, 30_000, 'a first leader');
    const nodes: Node[] = [];
    for (let i = 1; i <= this.o.workers; i++) {
      const nodeId = `worker${String(i).padStart(2, '0')}node000000000`.slice(0, 25);
      nodes.push(workerNode(nodeId, this.timers.now()));
      this.workers.set(nodeId, {
        nodeId,
        addr: `10.0.1.${i}`,
        engine: new SimEngine(this.timers),
        fs: new SimFs(),
        agent: undefined,
        alive: false,
        cut: false,
        incarnation: 0,
        revokeFs: undefined,
      });
    }
    let ok = false;
    for (let attempt = 0; attempt < 20 && !ok; attempt++) {
      const l = this.leaderServices();
      if (l === undefined) {
        await this.run(500);
        continue;
      }
      // As the bootstrapping manager and the CA would: the cluster object, then one node per joined worker.
      const p = l.store
        .update((tx) => {
          if (tx.list('clusters').length === 0) tx.create('clusters', simClusterObject());
          for (const n of nodes) if (tx.get('nodes', n.id) === undefined) tx.create('nodes', n);
        })
        .then(
          () => (ok = true),
          () => undefined,
        );
      await this.run(1_000);
      await p;
    }
    if (!ok) throw new SimViolation('could not write the cluster and node objects at bootstrap');
    for (const w of this.workers.values()) await this.startAgent(w);
  }

  /** The running services of the member that leads and has started its leader components. */
  leaderServices(): ManagerServices | undefined {
    const l = this.cluster.leader();
    if (l === undefined) return undefined;
    const s = this.services.get(l.id);
    return s && !s.dead && s.leading && s.dispatcher?.isRunning === true ? s : undefined;
  }

  /** The store of a running member (any role). */
  storeOf(id: RaftId): Store | undefined {
    const app = this.cluster.members.get(id)?.app;
    return app ? this.stores.get(app) : undefined;
  }

  /** As Manager.setLeading: transitions run one at a time, in order; orchestration then dispatcher, reversed on loss. */
  private setLeading(id: RaftId, leader: boolean): void {
    let s = this.services.get(id);
    const store = this.storeOf(id);
    if (store === undefined) return;
    if (s === undefined || s.store !== store) {
      s = { id, store, leading: false, transition: Promise.resolve(), orch: undefined, dispatcher: undefined, dead: false };
      this.services.set(id, s);
    }
    const svc = s;
    const node = this.cluster.members.get(id)?.node;
    // Everything applied anywhere by now was committed before this member's leadership began.
    const committedBefore = this.cluster.maxApplied;
    svc.transition = svc.transition.then(async () => {
      if (svc.dead || leader === svc.leading || node === undefined) return;
      // As Manager.setLeading: leader components start once the new leader has applied its own term's entry.
      if (leader && !(await node.leaderReady())) return;
      if (svc.dead) return;
      svc.leading = leader;
      if (leader && svc.store.appliedIndex < committedBefore) {
        this.violation ??= new SimViolation(
          `t=${this.nowMs()}ms: ${id} starts its leader components on a stale store (applied ${svc.store.appliedIndex} < committed ${committedBefore})`,
        );
      }
      if (leader) {
        this.leaderStarts++;
        this.trace(`${id} became leader: starting leader components`);
        svc.orch = new LeaderOrchestration({
          store: svc.store,
          timers: this.timers,
          rng: this.rng.fork(),
          clock: this.timers,
          logger: new TraceLogger((l) => this.trace(l), `${id} orch`),
        });
        svc.orch.start();
        svc.dispatcher = new Dispatcher({
          store: svc.store,
          timers: this.timers,
          rng: this.rng.fork(),
          clusterId: SIM_CLUSTER_ID,
          managerList: () => this.managerList(),
          logger: new TraceLogger((l) => this.trace(l), `${id} dispatcher`),
        });
        svc.dispatcher.start();
      } else {
        this.trace(`${id} lost leadership: stopping leader components`);
        const d = svc.dispatcher;
        svc.dispatcher = undefined;
        d?.stop();
        await svc.orch?.stop();
        svc.orch = undefined;
      }
      this.checkConns();
    });
  }

  private managerList() {
    return [...this.cluster.members.values()].filter((m) => !m.removed).map((m) => ({ nodeId: m.id, addr: m.id, weight: 10 }));
  }

  /** Crashes a manager process: its leader components die with it (no graceful stop), its disk loses unsynced writes. */
  crashManager(id: RaftId): void {
    const s = this.services.get(id);
    if (s) {
      s.dead = true;
      s.dispatcher?.stop();
      s.dispatcher = undefined;
      void s.orch?.stop();
      s.orch = undefined;
      this.services.delete(id);
    }
    this.cluster.crash(id);
    this.checkConns();
  }

  /** Restarts a crashed manager from its disk. */
  async restartManager(id: RaftId): Promise<void> {
    await this.cluster.startMember(id);
    this.checkConns();
  }

  /** Isolates a manager from the other managers and from every agent. */
  isolateManager(id: RaftId): void {
    this.cluster.net.isolate(id);
    this.checkConns();
  }

  /** Splits the managers into groups that cannot reach each other (agents still reach every manager). */
  partitionManagers(groups: RaftId[][]): void {
    this.cluster.net.partition(groups);
    this.checkConns();
  }

  /** Heals every partition (managers and workers). */
  healAll(): void {
    this.cluster.net.heal();
    for (const w of this.workers.values()) w.cut = false;
    this.checkConns();
  }

  // ------------------------------------------------------------------ workers

  /** Starts the agent process of a worker (its state dir and machine are what the last one left). */
  async startAgent(w: SimWorker): Promise<void> {
    if (w.alive) return;
    w.alive = true;
    w.incarnation++;
    const managers = this.managerList();
    // The node layer persists the manager list; the agent starts on one of them (picked at random).
    const first = managers[this.rng.int(managers.length)]!.addr;
    const connect = (addr: string): DispatcherClient => new SimDispatcherClient(this, w, addr);
    const disk = processFs(w.fs);
    w.revokeFs = disk.revoke;
    const agent = new Agent({
      nodeId: w.nodeId,
      executor: new SimExecutor({ timers: this.timers, engine: w.engine, hostname: w.nodeId, delays: { prepareMs: 50, startMs: 50, stopMs: 100 } }),
      timers: this.timers,
      rng: this.rng.fork(),
      stateDir: `/workers/${w.nodeId}`,
      fs: disk.fs,
      dispatcher: connect(first),
      connect,
      managers,
      logger: new TraceLogger((l) => this.trace(l), `${w.nodeId.slice(0, 8)}#${w.incarnation} agent`),
    });
    w.agent = agent;
    this.trace(`start agent ${w.nodeId} on manager ${first}`);
    await agent.start();
  }

  /**
   * Crashes a worker. `machine` false: only the agent process dies (its sim processes keep running, its disk
   * keeps everything). `machine` true: power loss — every sim process dies and the disk loses unsynced writes.
   */
  async crashAgent(w: SimWorker, machine: boolean): Promise<void> {
    if (!w.alive) return;
    w.alive = false;
    const agent = w.agent;
    w.agent = undefined;
    w.revokeFs?.();
    this.checkConns();
    this.trace(`crash ${machine ? 'machine' : 'agent'} ${w.nodeId}`);
    if (machine) {
      w.fs.crash();
      for (const id of [...w.engine.procs.keys()]) w.engine.kill(id, 137, 'power loss');
      w.engine = new SimEngine(this.timers);
    }
    // The old process must not act any more: stop its loops (its disk writes, if any, go to a crashed fs).
    if (agent) await this.drive(agent.stop(), 60_000, `stopping the crashed agent of ${w.nodeId}`);
  }

  /** Cuts a worker off from every manager (or reconnects it). */
  setCut(w: SimWorker, cut: boolean): void {
    w.cut = cut;
    this.checkConns();
  }

  // ------------------------------------------------------------------ connections

  /** Opens a connection for one call, or throws Unavailable as a network would. */
  openConn(w: SimWorker, managerId: RaftId, signal: AbortSignal): Conn {
    if (!w.alive || w.cut) throw new UnavailableError('connection error: network unreachable');
    const m = this.cluster.members.get(managerId);
    if (m === undefined || !m.alive) throw new UnavailableError(`connection error: ${managerId} connection refused`);
    // A manager isolated from the others is also unreachable for agents.
    if (this.isIsolated(managerId)) {
      throw new UnavailableError(`connection error: ${managerId} unreachable`);
    }
    const own = this.services.get(managerId);
    let leaderId: RaftId;
    let dispatcher: Dispatcher;
    if (own && !own.dead && own.leading && own.dispatcher?.isRunning) {
      leaderId = managerId;
      dispatcher = own.dispatcher;
    } else {
      const l = this.leaderServices();
      if (l === undefined || !this.cluster.net.connected(managerId, l.id)) throw new UnavailableError('no leader reachable from this manager');
      leaderId = l.id;
      dispatcher = l.dispatcher!;
    }
    const ac = new AbortController();
    let breakIt!: () => void;
    const broken = new Promise<void>((r) => (breakIt = r));
    const conn: Conn = {
      worker: w,
      managerId,
      leaderId,
      dispatcher,
      ac,
      broken,
      breakIt: () => {
        this.conns.delete(conn);
        breakIt();
        ac.abort();
      },
    };
    const onAbort = (): void => conn.breakIt();
    if (signal.aborted) conn.breakIt();
    else signal.addEventListener('abort', onAbort, { once: true });
    void broken.then(() => signal.removeEventListener('abort', onAbort));
    this.conns.add(conn);
    return conn;
  }

  private isIsolated(id: RaftId): boolean {
    const others = [...this.cluster.members.values()].filter((m) => m.id !== id && !m.removed);
    return others.length > 0 && others.every((m) => !this.cluster.net.connected(id, m.id));
  }

  /** Breaks every open connection whose path no longer exists. */
  checkConns(): void {
    for (const c of [...this.conns]) {
      const m = this.cluster.members.get(c.managerId);
      const l = this.services.get(c.leaderId);
      const ok =
        c.worker.alive &&
        !c.worker.cut &&
        m !== undefined &&
        m.alive &&
        !this.isIsolated(c.managerId) &&
        l !== undefined &&
        !l.dead &&
        l.dispatcher === c.dispatcher &&
        c.dispatcher.isRunning &&
        this.cluster.net.connected(c.managerId, c.leaderId);
      if (!ok) c.breakIt();
    }
  }

  // ------------------------------------------------------------------ control API

  /** A control API call through the current leader; rejects when there is none. */
  control(method: string, request: unknown): Promise<unknown> {
    const l = this.leaderServices();
    if (l === undefined) return Promise.reject(new UnavailableError('no leader'));
    const api = new ControlApi({
      store: l.store,
      clock: this.timers,
      rng: this.rng.fork(),
      raft: {
        members: () => this.managerList().map((m) => ({ raftId: m.nodeId, nodeId: m.nodeId, addr: m.addr, reachable: true })),
        leaderNodeId: () => l.id,
      },
      logger: new TraceLogger((x) => this.trace(x), `${l.id} control`),
    });
    return api.call(method, request);
  }

  // ------------------------------------------------------------------ time

  /** Lets simulated time pass (fires timers, settles promise chains); throws a violation seen on the way. */
  async run(ms: number): Promise<void> {
    await this.cluster.run(ms);
    if (this.violation) throw this.violation;
  }

  /** Runs until `cond` holds, checking every 100 ms of simulated time, at most `boundMs`. */
  async runUntil(cond: () => boolean, boundMs: number, what: string): Promise<void> {
    const end = this.timers.now() + boundMs;
    while (!cond()) {
      if (this.timers.now() >= end) throw new SimViolation(`${what} did not happen within ${boundMs} ms of simulated time`);
      await this.run(100);
    }
  }

  /**
   * Awaits `p` while simulated time passes (a promise that needs timers would otherwise never settle: time
   * only moves inside run()). Throws a violation when it is still pending after `boundMs`; a rejection is ignored.
   */
  async drive(p: Promise<unknown>, boundMs: number, what: string): Promise<void> {
    let done = false;
    p.then(
      () => (done = true),
      () => (done = true),
    );
    await settle();
    const end = this.timers.now() + boundMs;
    while (!done) {
      if (this.timers.now() >= end) throw new SimViolation(`${what} did not finish within ${boundMs} ms of simulated time`);
      await this.cluster.run(10);
    }
  }

  /** Stops everything (end of a run): agents, leader components, Raft — driving time until they finished. */
  async shutdown(): Promise<void> {
    const stops: Promise<unknown>[] = [];
    for (const w of this.workers.values()) {
      w.alive = false;
      if (w.agent) stops.push(w.agent.stop());
      w.agent = undefined;
    }
    this.checkConns();
    for (const s of this.services.values()) {
      s.dead = true;
      s.dispatcher?.stop();
      if (s.orch) stops.push(s.orch.stop());
    }
    try {
      await this.drive(Promise.allSettled(stops), 60_000, 'shutting down');
    } finally {
      this.cluster.shutdown();
      await settle();
    }
  }
}

/**
 * An agent's client of one manager in the simulation: every call opens a {@link Conn} (failing like a network
 * when there is no path), and fails with Unavailable when the path breaks while the call is open.
 */
export class SimDispatcherClient implements DispatcherClient {
  constructor(
    private readonly sim: OrchSim,
    private readonly worker: SimWorker,
    readonly addr: string,
  ) {}

  private ctx(conn: Conn, path: string): CallContext {
    return {
      path: `/swarmhost.api.Dispatcher/${path}`,
      peer: { nodeId: this.worker.nodeId, role: 'swarm-worker', clusterId: SIM_CLUSTER_ID, addr: `${this.worker.addr}:40000` },
      local: false,
      signal: conn.ac.signal,
    };
  }

  private async unary<T>(path: string, signal: AbortSignal, call: (h: DispatcherHandlers, ctx: CallContext) => Promise<T>): Promise<T> {
    const conn = this.sim.openConn(this.worker, this.addr, signal);
    try {
      const lost = conn.broken.then((): never => {
        throw signal.aborted ? new AbortedError('call cancelled') : new UnavailableError('connection lost');
      });
      lost.catch(() => undefined);
      // Results cross a network: copy them.
      return structuredClone(await Promise.race([call(conn.dispatcher, this.ctx(conn, path)), lost]));
    } finally {
      conn.breakIt();
    }
  }

  private async *stream<T>(path: string, signal: AbortSignal, open: (h: DispatcherHandlers, ctx: CallContext) => AsyncIterable<T>): AsyncGenerator<T, void, undefined> {
    const conn = this.sim.openConn(this.worker, this.addr, signal);
    const it = open(conn.dispatcher, this.ctx(conn, path))[Symbol.asyncIterator]();
    const lost = conn.broken.then(() => 'lost' as const);
    try {
      for (;;) {
        const r = await Promise.race([it.next(), lost]);
        if (r === 'lost') {
          if (signal.aborted) return;
          throw new UnavailableError('connection lost');
        }
        if (r.done === true) return;
        yield structuredClone(r.value);
      }
    } finally {
      conn.breakIt();
      void it.return?.(undefined)?.catch(() => undefined);
    }
  }

  session(req: SessionRequest, signal: AbortSignal): AsyncIterable<SessionMessage> {
    return this.stream('Session', signal, (h, ctx) => h.session(structuredClone(req), ctx));
  }
  heartbeat(req: HeartbeatRequest, signal: AbortSignal): Promise<HeartbeatResponse> {
    return this.unary('Heartbeat', signal, (h, ctx) => h.heartbeat(structuredClone(req), ctx));
  }
  async updateTaskStatus(req: UpdateTaskStatusRequest, signal: AbortSignal): Promise<void> {
    await this.unary('UpdateTaskStatus', signal, (h, ctx) => h.updateTaskStatus(structuredClone(req), ctx));
  }
  assignments(req: AssignmentsRequest, signal: AbortSignal): AsyncIterable<AssignmentsMessage> {
    return this.stream('Assignments', signal, (h, ctx) => h.assignments(structuredClone(req), ctx));
  }
  close(): void {}
}

/** A worker node as the CA creates it at join: ACCEPTED, role worker, status UNKNOWN until its agent registers. */
export function workerNode(nodeId: string, nowMs: number): Node {
  return {
    id: nodeId,
    meta: { version: 0, createdAt: nowMs, updatedAt: nowMs },
    spec: { annotations: { name: '', labels: {} }, desiredRole: NodeRole.WORKER, membership: NodeMembership.ACCEPTED, availability: NodeAvailability.ACTIVE },
    status: { state: NodeStatusState.UNKNOWN, message: '', addr: '' },
    certificate: { role: NodeRole.WORKER, csr: '', status: { state: IssuanceState.ISSUED, err: '' }, certificate: '', cn: nodeId },
    role: NodeRole.WORKER,
  };
}

/** The cluster object the bootstrapping manager writes (heartbeat 5 s, task history 5). */
export function simClusterObject(): Cluster {
  return cluster(SIM_CLUSTER_ID, { spec: (s) => ({ ...s, raft: { ...s.raft, snapshotInterval: 200, logEntriesForSlowFollowers: 50 } }) });
}
