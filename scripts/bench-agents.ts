/**
 * bench:agents — the agent side of converge alone, in one process, no sockets: N Agents (sim executor, zero
 * step delays, each its own task table on the real disk) served by a stub dispatcher that hands each node a
 * COMPLETE assignment set of T/N tasks and counts the RUNNING reports. It measures the CPU the agents spend
 * per task (the figure that bounds bench:converge:transport's agent process), robust to other load on the
 * machine because it is CPU time, not wall time.
 * Baseline, same run: the same assignment messages parsed and answered with RUNNING directly (JSON.parse of
 * every assignment, one report per task, no runner, no task table): the floor of any agent.
 * Usage: npm run bench:agents [-- --quick] [-- --json]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TaskState, type Task } from '../src/host/api/index.js';
import { Agent, InProcessDispatcherClient } from '../src/host/agent/index.js';
import { RealTimers, SeededRng } from '../src/host/env/index.js';
import type { CallContext, DispatcherHandlers } from '../src/host/transport/index.js';
import type { AssignmentsMessage, SessionMessage } from '../src/host/transport/messages.js';
import { SimExecutor } from '../src/plugins/executors/index.js';
import { makeTask } from '../test/support/tasks.js';

const quick = process.argv.includes('--quick');
const json = process.argv.includes('--json');
const NODES = quick ? 100 : 1_000;
const TASKS = quick ? 1_000 : 10_000;
/** Bound on the phase, ms. */
const BOUND_MS = 120_000;
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };
const figures: Record<string, number> = {};
const report = (name: string, v: number, unit: string): void => {
  figures[name] = Number(v.toFixed(v < 10 ? 3 : 1));
  console.log(`${name}: ${figures[name]} ${unit}`);
};
const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** Assignment messages per node: T/N tasks each, like the dispatcher's COMPLETE set. */
function assignmentsFor(nodeId: string, n: number): AssignmentsMessage {
  const changes = [];
  for (let i = 0; i < n; i++) {
    const t: Task = makeTask({ image: 'sim', command: ['run'] }, { nodeId, desiredState: TaskState.RUNNING, serviceId: 'svc', slot: i + 1 });
    changes.push({ action: 'UPDATE' as const, assignmentJson: JSON.stringify({ task: t }) });
  }
  return { type: 'COMPLETE', appliesTo: '', resultsIn: '1', changes };
}

/** A dispatcher stub: one session message, the node's assignment set once released, RUNNING reports counted. */
class StubDispatcher implements DispatcherHandlers {
  running = 0;
  /** UpdateTaskStatus calls and the updates they carried. */
  statusCalls = 0;
  statusUpdates = 0;
  private readonly runningIds = new Set<string>();
  private release!: () => void;
  private readonly released = new Promise<void>((r) => (this.release = r));
  onAllRunning: (() => void) | undefined;
  constructor(private readonly sets: Map<string, AssignmentsMessage>) {}
  go(): void {
    this.release();
  }
  async *session(_req: unknown, ctx: CallContext): AsyncGenerator<SessionMessage> {
    yield { sessionId: `s-${ctx.peer!.nodeId}`, nodeJson: '', managers: [], networkBootstrapKeysJson: '[]', rootCa: Buffer.alloc(0) };
    await new Promise<void>((r) => ctx.signal.addEventListener('abort', () => r(), { once: true }));
  }
  async heartbeat(): Promise<{ periodMs: number }> {
    return { periodMs: 5_000 };
  }
  async updateTaskStatus(req: { updates: { taskId: string; statusJson: string }[] }): Promise<Record<string, never>> {
    this.statusCalls++;
    this.statusUpdates += req.updates.length;
    for (const u of req.updates) {
      const s = JSON.parse(u.statusJson) as { state: number };
      if (s.state === TaskState.RUNNING && !this.runningIds.has(u.taskId)) {
        this.runningIds.add(u.taskId);
        if (++this.running === TASKS) this.onAllRunning?.();
      }
    }
    return {};
  }
  async *assignments(_req: unknown, ctx: CallContext): AsyncGenerator<AssignmentsMessage> {
    await this.released;
    // A copy: the agent must not see shared objects between runs.
    yield structuredClone(this.sets.get(ctx.peer!.nodeId)!);
    await new Promise<void>((r) => ctx.signal.addEventListener('abort', () => r(), { once: true }));
  }
}

const root = await mkdtemp(join(tmpdir(), 'bench-agents-'));
const timers = new RealTimers();
const agents: Agent[] = [];
try {
  const sets = new Map<string, AssignmentsMessage>();
  for (let i = 0; i < NODES; i++) sets.set(`node${i}`, assignmentsFor(`node${i}`, TASKS / NODES));

  // Baseline: parse every assignment and answer RUNNING at once (what any agent must at least do).
  const b0 = cpuMs();
  const tb = performance.now();
  let answered = 0;
  for (const m of sets.values()) {
    const updates = m.changes.map((c) => {
      const t = (JSON.parse(c.assignmentJson) as { task: Task }).task;
      return { taskId: t.id, statusJson: JSON.stringify({ ...t.status, state: TaskState.RUNNING }) };
    });
    answered += updates.length;
  }
  const baseCpu = cpuMs() - b0;
  const baseWall = performance.now() - tb;
  if (answered !== TASKS) throw new Error('baseline answered the wrong number of tasks');

  const stub = new StubDispatcher(sets);
  const rng = new SeededRng(1);
  for (let i = 0; i < NODES; i++) {
    const nodeId = `node${i}`;
    const agent = new Agent({
      nodeId,
      executor: new SimExecutor({ timers, hostname: nodeId }),
      timers,
      rng: rng.fork(),
      stateDir: join(root, nodeId),
      dispatcher: new InProcessDispatcherClient(stub, { nodeId, role: 'swarm-worker', clusterId: 'c', addr: '127.0.0.1' }),
      logger: silent,
    });
    agents.push(agent);
    await agent.start();
  }
  await new Promise((r) => setTimeout(r, 200)); // sessions up
  const allRunning = new Promise<void>((resolve, reject) => {
    const h = setTimeout(() => reject(new Error(`only ${stub.running} of ${TASKS} RUNNING within ${BOUND_MS} ms`)), BOUND_MS);
    stub.onAllRunning = () => {
      clearTimeout(h);
      resolve();
    };
  });
  const c0 = cpuMs();
  const t0 = performance.now();
  const t0Us = Number(process.hrtime.bigint() / 1000n);
  stub.go();
  await allRunning;
  const wall = performance.now() - t0;
  const cpu = cpuMs() - c0;
  // The phase in monotonic µs, the clock of `node --cpu-prof` profiles (scripts/cpuprofile-top.ts --window).
  console.error(`agents_window_us: ${t0Us} ${Number(process.hrtime.bigint() / 1000n)}`);
  report('nodes', NODES, 'nodes');
  report('tasks', TASKS, 'tasks');
  report('agents_all_running_ms', wall, 'ms');
  report('agents_cpu_ms', cpu, 'ms');
  report('agents_cpu_us_per_task', (cpu * 1000) / TASKS, 'us');
  report('status_rpcs', stub.statusCalls, 'calls');
  report('status_updates_per_task', stub.statusUpdates / TASKS, 'updates');
  report('baseline_parse_and_answer_cpu_ms', baseCpu, 'ms');
  report('baseline_wall_ms', baseWall, 'ms');
  report('agents_vs_baseline_cpu_ratio', cpu / Math.max(0.001, baseCpu), 'x');
} finally {
  await Promise.all(agents.map((a) => a.stop()));
  timers.clearAll();
  await rm(root, { recursive: true, force: true });
}
if (json) console.log(JSON.stringify(figures));
