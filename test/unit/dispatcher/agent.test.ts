import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeStatusState, TaskState, type Task } from '../../../src/host/api/objects.js';
import { UnavailableError } from '../../../src/host/api/errors.js';
import { Agent, InProcessDispatcherClient, TaskDb, type DispatcherClient, type Executor } from '../../../src/host/agent/index.js';
import { Dispatcher } from '../../../src/host/dispatcher/index.js';
import type { SimTimers } from '../../../src/host/env/index.js';
import type { Store } from '../../../src/host/store/index.js';
import type { SessionMessage, UpdateTaskStatusRequest } from '../../../src/host/transport/index.js';
import { SimEngine, SimExecutor } from '../../../src/plugins/executors/index.js';
import { makeTask } from '../../support/tasks.js';
import { CLUSTER_ID, RecordingLogger, driveFor, driveUntil, setup } from './fixtures.js';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function stateDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'swarmhost-agent-'));
  dirs.push(d);
  return d;
}

function peer(nodeId: string) {
  return { nodeId, role: 'swarm-worker', clusterId: CLUSTER_ID, addr: '10.0.0.9:50000' };
}

function makeAgent(o: {
  nodeId: string;
  timers: SimTimers;
  dispatcher: DispatcherClient;
  dir: string;
  engine: SimEngine;
  rngSeed?: number;
  connect?: (addr: string) => DispatcherClient;
  executor?: Executor;
  onSessionMessage?: (m: SessionMessage) => void;
  managers?: { nodeId: string; addr: string; weight: number }[];
}) {
  const executor = o.executor ?? new SimExecutor({ timers: o.timers, engine: o.engine, hostname: `sim-${o.nodeId}` });
  // Seeded per test so backoff jitter is reproducible.
  let x = o.rngSeed ?? 1;
  const rng = {
    next: () => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31),
    int(n: number) {
      return Math.floor(this.next() * n);
    },
    bytes: (n: number) => new Uint8Array(n),
  };
  return new Agent({ nodeId: o.nodeId, executor, timers: o.timers, rng, stateDir: o.dir, dispatcher: o.dispatcher, logger: new RecordingLogger(), ...(o.connect ? { connect: o.connect } : {}), ...(o.onSessionMessage ? { onSessionMessage: o.onSessionMessage } : {}), ...(o.managers ? { managers: o.managers } : {}) });
}

function taskIn(store: Store, id: string): Task | undefined {
  return store.view((tx) => tx.get('tasks', id)) as Task | undefined;
}

async function assign(store: Store, nodeId: string, over: Partial<Task> = {}): Promise<Task> {
  const t = makeTask({}, { nodeId, ...over });
  await store.update((tx) => tx.create('tasks', t));
  return t;
}

async function setDesired(store: Store, id: string, desiredState: TaskState): Promise<void> {
  await store.update((tx) => {
    const cur = tx.get('tasks', id)!;
    tx.update('tasks', { ...cur, desiredState });
  });
}

/** `inner` with every UpdateTaskStatus request it carries recorded in `reports`. */
function recordingReports(inner: DispatcherClient): { client: DispatcherClient; reports: UpdateTaskStatusRequest[] } {
  const reports: UpdateTaskStatusRequest[] = [];
  const client: DispatcherClient = {
    addr: inner.addr,
    session: (r, s) => inner.session(r, s),
    heartbeat: (r, s) => inner.heartbeat(r, s),
    assignments: (r, s) => inner.assignments(r, s),
    updateTaskStatus: (r, s) => {
      reports.push(r);
      return inner.updateTaskStatus(r, s);
    },
    close: () => inner.close(),
  };
  return { client, reports };
}

test('an agent registers: its node becomes READY with the executor description', async () => {
  const { timers, store, dispatcher } = await setup(['n1']);
  dispatcher.start();
  const pushed: SessionMessage[] = [];
  const agent = makeAgent({ nodeId: 'n1', timers, dispatcher: new InProcessDispatcherClient(dispatcher, peer('n1')), dir: await stateDir(), engine: new SimEngine(timers), onSessionMessage: (m) => pushed.push(m) });
  await agent.start();
  await driveUntil(timers, () => store.view((tx) => tx.get('nodes', 'n1')!.status.state) === NodeStatusState.READY, 'node READY');
  // The node object is pushed again once its READY status is written.
  await driveUntil(timers, () => pushed.some((m) => m.nodeJson !== '' && JSON.parse(m.nodeJson).status.state === NodeStatusState.READY), 'READY node pushed');
  const n = store.view((tx) => tx.get('nodes', 'n1')!);
  assert.deepEqual([n.description?.hostname, n.description?.executor, n.status.addr], ['sim-n1', 'sim', '10.0.0.9']);
  // Heartbeats keep it READY well past 3 periods.
  await driveFor(timers, 30_000, 500);
  assert.equal(store.view((tx) => tx.get('nodes', 'n1')!.status.state), NodeStatusState.READY);
  assert.equal(agent.sessionsOpened, 1);
  await agent.stop();
  dispatcher.stop();
});

test('a task assigned in the store reaches RUNNING in the store through the agent; desired SHUTDOWN stops it', async () => {
  const { timers, store, dispatcher } = await setup(['n1']);
  dispatcher.start();
  const engine = new SimEngine(timers);
  const agent = makeAgent({ nodeId: 'n1', timers, dispatcher: new InProcessDispatcherClient(dispatcher, peer('n1')), dir: await stateDir(), engine });
  await agent.start();
  const t = await assign(store, 'n1');
  await driveUntil(timers, () => taskIn(store, t.id)?.status.state === TaskState.RUNNING, 'task RUNNING in the store');
  const running = taskIn(store, t.id)!;
  assert.equal(running.status.message, 'started');
  assert.ok((running.status.container?.pid ?? 0) >= 1000, 'the sim pid is reported');
  assert.equal(engine.runningCount(), 1);
  await setDesired(store, t.id, TaskState.SHUTDOWN);
  await driveUntil(timers, () => taskIn(store, t.id)?.status.state === TaskState.SHUTDOWN, 'task SHUTDOWN in the store');
  assert.equal(engine.runningCount(), 0);
  await agent.stop();
  dispatcher.stop();
});

test('a task that fails to prepare is REJECTED in the store with the executor message', async () => {
  const { timers, store, dispatcher } = await setup(['n1']);
  dispatcher.start();
  const agent = makeAgent({ nodeId: 'n1', timers, dispatcher: new InProcessDispatcherClient(dispatcher, peer('n1')), dir: await stateDir(), engine: new SimEngine(timers) });
  await agent.start();
  const t = makeTask({ labels: { 'swarmhost.sim.prepare-error': 'no such image: nope' } }, { nodeId: 'n1' });
  await store.update((tx) => tx.create('tasks', t));
  await driveUntil(timers, () => taskIn(store, t.id)?.status.state === TaskState.REJECTED, 'task REJECTED');
  assert.equal(taskIn(store, t.id)!.status.err, 'no such image: nope');
  await agent.stop();
  dispatcher.stop();
});

test('an agent restart re-attaches to the running sim task instead of starting it again', async () => {
  const { timers, store, dispatcher } = await setup(['n1']);
  dispatcher.start();
  const engine = new SimEngine(timers);
  const dir = await stateDir();
  const client = new InProcessDispatcherClient(dispatcher, peer('n1'));
  const a1 = makeAgent({ nodeId: 'n1', timers, dispatcher: client, dir, engine });
  await a1.start();
  const t = await assign(store, 'n1');
  await driveUntil(timers, () => taskIn(store, t.id)?.status.state === TaskState.RUNNING, 'task RUNNING');
  const pid = engine.procs.get(t.id)!.pid;
  await a1.stop();
  assert.equal(engine.runningCount(), 1, 'stopping the agent leaves the task running');
  assert.equal((await TaskDb.open(dir)).get(t.id)?.status.state, TaskState.RUNNING);
  // The task was journaled from its assignment's text (not serialised again), and that is what re-attaches below.
  assert.match(await readFile(join(dir, 'worker', 'tasks.journal'), 'utf8'), /"src":\{"task":\{"id":/);

  const { client: recording, reports } = recordingReports(client);
  const a2 = makeAgent({ nodeId: 'n1', timers, dispatcher: recording, dir, engine, rngSeed: 2 });
  await a2.start();
  assert.equal(a2.taskStatus(t.id)?.state, TaskState.RUNNING, 'resumed at RUNNING before any session');
  await driveUntil(timers, () => a2.sessionId !== '', 'second session');
  await driveFor(timers, 2_000);
  const reported = reports.flatMap((r) => r.updates.filter((u) => u.taskId === t.id).map((u) => JSON.parse(u.statusJson).state as TaskState));
  assert.deepEqual(reported, [TaskState.RUNNING], 'only the re-report: no state walked again');
  assert.equal(engine.procs.get(t.id)!.pid, pid, 'same process');
  assert.equal(engine.runningCount(), 1);
  // The re-attached task is still controlled: desired SHUTDOWN stops it.
  await setDesired(store, t.id, TaskState.SHUTDOWN);
  await driveUntil(timers, () => taskIn(store, t.id)?.status.state === TaskState.SHUTDOWN, 'SHUTDOWN after the restart');
  await a2.stop();
  dispatcher.stop();
});

test('after reconnecting, a COMPLETE set without a task tears it down and forgets it', async () => {
  const { timers, store, dispatcher } = await setup(['n1']);
  dispatcher.start();
  const engine = new SimEngine(timers);
  const dir = await stateDir();
  const agent = makeAgent({ nodeId: 'n1', timers, dispatcher: new InProcessDispatcherClient(dispatcher, peer('n1')), dir, engine });
  await agent.start();
  const keep = await assign(store, 'n1');
  const gone = await assign(store, 'n1');
  await driveUntil(timers, () => engine.runningCount() === 2, 'two tasks running');
  dispatcher.stop(); // leader lost: the agent's streams end with Aborted
  await store.update((tx) => tx.delete('tasks', gone.id));
  dispatcher.start(); // leader again (fresh dispatcher state)
  await driveUntil(timers, () => agent.sessionsOpened === 2 && !agent.taskIds().includes(gone.id), 'reconnected and torn down');
  await driveUntil(timers, () => !engine.procs.has(gone.id), 'sim process removed');
  assert.equal(engine.procs.get(keep.id)?.phase, 'running');
  await agent.stop();
  assert.equal((await TaskDb.open(dir)).get(gone.id), undefined, 'record forgotten');
  dispatcher.stop();
});

test('the agent fails over to another manager of the pushed list and re-reports its task statuses there', async () => {
  const { timers, store, dispatcher: a, managers } = await setup(['n1']);
  managers.splice(0, managers.length, { nodeId: 'mA', addr: 'a:4242', weight: 10 }, { nodeId: 'mB', addr: 'b:4242', weight: 10 });
  const logger = new RecordingLogger();
  const b = new Dispatcher({ store, timers, rng: { next: () => 0.5, int: (n) => Math.floor(n / 2), bytes: (n) => new Uint8Array(n).fill(7) }, clusterId: CLUSTER_ID, managerList: () => managers, logger });
  const toB = recordingReports(new InProcessDispatcherClient(b, peer('n1'), 'b:4242'));
  const reportsToB = toB.reports;
  const connect = (addr: string): DispatcherClient => (addr === 'b:4242' ? toB.client : new InProcessDispatcherClient(a, peer('n1'), addr));
  a.start();
  const agent = makeAgent({ nodeId: 'n1', timers, dispatcher: connect('a:4242'), dir: await stateDir(), engine: new SimEngine(timers), connect });
  await agent.start();
  const t = await assign(store, 'n1');
  await driveUntil(timers, () => taskIn(store, t.id)?.status.state === TaskState.RUNNING, 'RUNNING via manager A');
  assert.equal(agent.managers.length, 2);
  a.stop();
  b.start(); // B is the new leader
  await driveUntil(timers, () => agent.managerAddr === 'b:4242' && agent.sessionId !== '' && b.sessionCount === 1, 'session on manager B');
  await driveUntil(timers, () => reportsToB.some((r) => r.updates.some((u) => u.taskId === t.id && JSON.parse(u.statusJson).state === TaskState.RUNNING)), 'RUNNING re-reported to B');
  await driveUntil(timers, () => store.view((tx) => tx.get('nodes', 'n1')!.status.state) === NodeStatusState.READY, 'READY again under B');
  await agent.stop();
  b.stop();
});

test('an agent whose first manager is down fails over to another manager of its initial list', async () => {
  // Found by the orchestration simulation: an agent restarted while the manager it starts on is down had no
  // list to fail over to (the list only came with a session), so it retried the dead manager forever.
  const { timers, store, dispatcher } = await setup(['n1']);
  dispatcher.start();
  const down: DispatcherClient = {
    addr: 'down:4242',
    session: () => ({
      [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new UnavailableError('connection refused')) }),
    }),
    heartbeat: () => Promise.reject(new UnavailableError('connection refused')),
    updateTaskStatus: () => Promise.reject(new UnavailableError('connection refused')),
    assignments: () => ({
      [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new UnavailableError('connection refused')) }),
    }),
    close: () => undefined,
  };
  const connect = (addr: string): DispatcherClient => (addr === 'up:4242' ? new InProcessDispatcherClient(dispatcher, peer('n1'), addr) : down);
  const agent = makeAgent({
    nodeId: 'n1',
    timers,
    dispatcher: down,
    dir: await stateDir(),
    engine: new SimEngine(timers),
    connect,
    managers: [
      { nodeId: '', addr: 'down:4242', weight: 10 },
      { nodeId: '', addr: 'up:4242', weight: 10 },
    ],
  });
  await agent.start();
  await driveUntil(timers, () => agent.managerAddr === 'up:4242' && agent.sessionId !== '', 'session on the live manager');
  await driveUntil(timers, () => store.view((tx) => tx.get('nodes', 'n1')!.status.state) === NodeStatusState.READY, 'node READY');
  await agent.stop();
  dispatcher.stop();
});

test('a changed node description restarts the session within the 20 s re-check, and the store gets the new one', async () => {
  const { timers, store, dispatcher } = await setup(['n1']);
  dispatcher.start();
  const sim = new SimExecutor({ timers, hostname: 'before' });
  let hostname = 'before';
  const executor: Executor = {
    name: sim.name,
    describe: async () => ({ ...(await sim.describe()), hostname }),
    controller: (t) => sim.controller(t),
    recover: (h, t) => sim.recover(h, t),
    close: () => sim.close(),
  };
  const agent = makeAgent({ nodeId: 'n1', timers, dispatcher: new InProcessDispatcherClient(dispatcher, peer('n1')), dir: await stateDir(), engine: sim.engine, executor });
  await agent.start();
  await driveUntil(timers, () => store.view((tx) => tx.get('nodes', 'n1')!.description?.hostname) === 'before', 'first description');
  hostname = 'after';
  await driveUntil(timers, () => store.view((tx) => tx.get('nodes', 'n1')!.description?.hostname) === 'after', 'new description', 25_000, 100);
  assert.equal(agent.sessionsOpened, 2);
  await agent.stop();
  dispatcher.stop();
});

/** A client whose "network" can be cut: calls then fail with Unavailable and open streams end with it. */
class CuttableClient implements DispatcherClient {
  readonly addr = '';
  private cutAc = new AbortController();
  cut = false;
  constructor(private readonly inner: DispatcherClient) {}
  setCut(v: boolean): void {
    this.cut = v;
    if (v) this.cutAc.abort();
    else this.cutAc = new AbortController();
  }
  private check(): void {
    if (this.cut) throw new UnavailableError('connection refused');
  }
  private stream<T>(open: (s: AbortSignal) => AsyncIterable<T>, signal: AbortSignal): AsyncIterable<T> {
    const self = this;
    return {
      async *[Symbol.asyncIterator]() {
        self.check();
        const ac = new AbortController();
        const cutSignal = self.cutAc.signal;
        const stop = () => ac.abort();
        signal.addEventListener('abort', stop, { once: true });
        cutSignal.addEventListener('abort', stop, { once: true });
        try {
          for await (const m of open(ac.signal)) yield m;
        } finally {
          signal.removeEventListener('abort', stop);
          cutSignal.removeEventListener('abort', stop);
        }
        if (cutSignal.aborted) throw new UnavailableError('connection reset');
      },
    };
  }
  session: DispatcherClient['session'] = (r, s) => this.stream((x) => this.inner.session(r, x), s);
  assignments: DispatcherClient['assignments'] = (r, s) => this.stream((x) => this.inner.assignments(r, x), s);
  heartbeat: DispatcherClient['heartbeat'] = async (r, s) => {
    this.check();
    return this.inner.heartbeat(r, s);
  };
  updateTaskStatus: DispatcherClient['updateTaskStatus'] = async (r, s) => {
    this.check();
    return this.inner.updateTaskStatus(r, s);
  };
  close(): void {}
}

test('a partitioned agent is marked DOWN after 3 periods, then re-registers, is READY again and reports what happened meanwhile', async () => {
  const { timers, store, dispatcher } = await setup(['n1'], { heartbeatPeriodMs: 1_000 });
  dispatcher.start();
  const engine = new SimEngine(timers);
  const client = new CuttableClient(new InProcessDispatcherClient(dispatcher, peer('n1')));
  const agent = makeAgent({ nodeId: 'n1', timers, dispatcher: client, dir: await stateDir(), engine });
  await agent.start();
  const t = await assign(store, 'n1');
  await driveUntil(timers, () => taskIn(store, t.id)?.status.state === TaskState.RUNNING, 'RUNNING');
  client.setCut(true);
  const cutAt = timers.now();
  engine.kill(t.id, 3, 'crashed'); // the task dies while the node is unreachable
  await driveUntil(timers, () => store.view((tx) => tx.get('nodes', 'n1')!.status.state) === NodeStatusState.DOWN, 'DOWN');
  const downAfter = timers.now() - cutAt;
  assert.ok(downAfter >= 1_500 && downAfter <= 4_800, `DOWN after ${downAfter} ms: 3 × (1000 ± 500) ms from the last heartbeat`);
  assert.equal(taskIn(store, t.id)!.status.state, TaskState.RUNNING, 'nothing reported while cut');
  client.setCut(false);
  await driveUntil(timers, () => store.view((tx) => tx.get('nodes', 'n1')!.status.state) === NodeStatusState.READY, 'READY again', 30_000);
  await driveUntil(timers, () => taskIn(store, t.id)?.status.state === TaskState.FAILED, 'FAILED reported after reconnecting');
  assert.match(taskIn(store, t.id)!.status.err, /non-zero exit \(3\)/);
  await agent.stop();
  dispatcher.stop();
});

test('tasks started together are reported in one UpdateTaskStatus, one update per task with its newest state', async () => {
  const { timers, store, dispatcher } = await setup(['n1']);
  dispatcher.start();
  const { client, reports } = recordingReports(new InProcessDispatcherClient(dispatcher, peer('n1')));
  const agent = makeAgent({ nodeId: 'n1', timers, dispatcher: client, dir: await stateDir(), engine: new SimEngine(timers) });
  await agent.start();
  await driveUntil(timers, () => agent.sessionId !== '', 'session');
  const tasks: Task[] = [];
  await store.update((tx) => {
    for (let i = 0; i < 5; i++) {
      const t = makeTask({}, { nodeId: 'n1' });
      tasks.push(t);
      tx.create('tasks', t);
    }
  });
  await driveUntil(timers, () => tasks.every((t) => taskIn(store, t.id)?.status.state === TaskState.RUNNING), 'all RUNNING', 60_000, 5);
  assert.equal(reports.length, 1, `one report call, got ${reports.map((r) => r.updates.length).join(', ')}`);
  assert.deepEqual(reports[0]!.updates.map((u) => u.taskId).sort(), tasks.map((t) => t.id).sort());
  assert.ok(reports[0]!.updates.every((u) => JSON.parse(u.statusJson).state === TaskState.RUNNING));
  await agent.stop();
  dispatcher.stop();
});

test('status changes made while a report is in flight go together in the next one, after it returns', async () => {
  const { timers, store, dispatcher } = await setup(['n1']);
  dispatcher.start();
  const reports: { at: number; ids: string[] }[] = [];
  let hold: Promise<void> | undefined;
  let release!: () => void;
  const inner = new InProcessDispatcherClient(dispatcher, peer('n1'));
  const client: DispatcherClient = {
    addr: '',
    session: (r, s) => inner.session(r, s),
    heartbeat: (r, s) => inner.heartbeat(r, s),
    assignments: (r, s) => inner.assignments(r, s),
    updateTaskStatus: async (r, s) => {
      reports.push({ at: timers.now(), ids: r.updates.map((u) => u.taskId) });
      if (hold) await hold;
      return inner.updateTaskStatus(r, s);
    },
    close: () => undefined,
  };
  const agent = makeAgent({ nodeId: 'n1', timers, dispatcher: client, dir: await stateDir(), engine: new SimEngine(timers) });
  await agent.start();
  await driveUntil(timers, () => agent.sessionId !== '', 'session');
  hold = new Promise<void>((r) => (release = r));
  const first = await assign(store, 'n1');
  await driveUntil(timers, () => reports.length === 1, 'first report in flight', 60_000, 5);
  const second = await assign(store, 'n1');
  const third = await assign(store, 'n1');
  await driveUntil(timers, () => agent.taskStatus(second.id)?.state === TaskState.RUNNING && agent.taskStatus(third.id)?.state === TaskState.RUNNING, 'others RUNNING on the agent', 60_000, 5);
  await driveFor(timers, 500, 10);
  assert.equal(reports.length, 1, 'nothing else is sent while the first report is in flight');
  hold = undefined;
  const releasedAt = timers.now();
  release();
  await driveUntil(timers, () => reports.length === 2, 'second report', 60_000, 5);
  assert.deepEqual(reports[0]!.ids, [first.id]);
  assert.deepEqual(reports[1]!.ids.sort(), [second.id, third.id].sort());
  assert.ok(reports[1]!.at - releasedAt >= 50, 'the batch waits statusBatchMs after the in-flight report');
  await agent.stop();
  dispatcher.stop();
});
