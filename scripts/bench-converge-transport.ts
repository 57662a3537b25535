/**
 * bench:converge:transport — issue 5's benchmark over the real transport. One real swarmhost manager process
 * (Raft with its WAL, the control socket, the mTLS remote API); in this process N Agents with the sim executor,
 * each a separate node with its own certificate (joined through the CA RPCs with the worker token, like
 * swarm-node's joinCluster, at a bounded concurrency) and its own TransportDispatcherClient (own TLS channel).
 * The manager's own node is drained, so every task runs on a simulated node.
 * Figures (wall clock):
 *   join_ms / join_nodes_per_s — N certificates issued (CSR → IssueNodeCertificate → NodeCertificateStatus);
 *   ready_ms — agents started until the manager lists N READY workers;
 *   converge_ms / converge_tasks_per_s — CreateService (R replicas, over the control socket) until
 *     ListServiceStatuses reports R running;
 *   kill_to_down_ms — K agents stopped at once (sessions and channels closed: dead nodes) until the manager
 *     lists all K as DOWN (cluster heartbeat period lowered to 1 s with UpdateCluster);
 *   down_to_replaced_ms / kill_to_replaced_ms — until R tasks run again on live nodes (restart delay 0),
 *     measured from the last of the K nodes seen DOWN and from the kill.
 * Polling every POLL_MS, so each figure carries up to that much of sampling error.
 * Baseline, same run: bench-converge's approach — the same leader orchestration (orchestrator, scheduler,
 * restart supervisor) on an in-process store, no Raft, no transport, a fake agent that reports RUNNING at once —
 * converging the same R replicas over the same N nodes. The ratio is transport converge / in-process converge.
 * Usage: npm run bench:converge:transport [-- --quick] [-- --json] [-- --nodes N --replicas R --kill K]
 *   [-- --profile DIR]: the manager process is CPU-profiled (scripts/cpu-prof-preload.mjs; stopped with SIGTERM
 *   so the profile is written to DIR); the converge window is printed as monotonic µs (`converge_window_us`, the clock
 *   of the profiles' timestamps) so `scripts/cpuprofile-top.ts --window` can keep the samples of that phase only.
 *   Profile the agents' side too by running this script under `node --cpu-prof --import tsx`.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NodeAvailability, NodeStatusState, TaskState, type Cluster, type Node } from '../src/host/api/index.js';
import { Agent, TransportDispatcherClient } from '../src/host/agent/index.js';
import { checkRootAgainstToken, generateKeyAndCsr } from '../src/host/ca/index.js';
import { RealTimers, SeededRng } from '../src/host/env/index.js';
import { TransportClient, type ClientTls } from '../src/host/transport/index.js';
import { SimExecutor } from '../src/plugins/executors/index.js';
import { NodeProc, freePort, teardown, tempDir, waitFor } from '../test/support/procs.js';
import { convergeMs, startInProcessSwarm } from './in-process-swarm.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const json = args.includes('--json');
const num = (flag: string, dflt: number): number => {
  const i = args.indexOf(flag);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const NODES = num('--nodes', quick ? 100 : 1_000);
const REPLICAS = num('--replicas', quick ? 1_000 : 10_000);
const KILL = num('--kill', quick ? 10 : 100);
const profileIdx = args.indexOf('--profile');
const PROFILE_DIR = profileIdx >= 0 ? args[profileIdx + 1] : undefined;
/** Monotonic time in µs (the clock V8 CPU profiles use for their timestamps). */
const monoUs = (): number => Number(process.hrtime.bigint() / 1000n);
/** Concurrent certificate requests while joining the simulated nodes. */
const JOIN_CONCURRENCY = 16;
/**
 * Cluster heartbeat period set before the kill phase, ms. Join and converge run with the default (5 s): on a
 * loaded 2-core machine a 1 s period (DOWN after 3 jittered periods, 1.5 to 4.5 s) can expire live agents while
 * the manager is busy, which then churns tasks.
 */
const HEARTBEAT_PERIOD_MS = 1_000;
/** Sampling period of the control-socket polls, ms. */
const POLL_MS = 100;
/** Bound on each phase, ms. */
const PHASE_BOUND_MS = quick ? 50_000 : 120_000;
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

const figures: Record<string, number> = {};
const report = (name: string, v: number, unit: string): void => {
  figures[name] = Number(v.toFixed(v < 10 ? 3 : 1));
  console.log(`${name}: ${figures[name]} ${unit}`);
};

/** The in-process baseline: bench-converge's loop for R replicas over N nodes; returns ms to all RUNNING. */
async function inProcessConvergeMs(): Promise<number> {
  const swarm = await startInProcessSwarm(NODES);
  try {
    return await convergeMs(swarm, 'web', REPLICAS, PHASE_BOUND_MS);
  } finally {
    await swarm.stop();
  }
}

/** Runs `fn` over `items` with at most `limit` in flight. */
async function pool<T, R>(items: T[], limit: number, fn: (x: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!, i);
      }
    }),
  );
  return out;
}

/** One simulated node's identity, obtained like swarm-node's joinCluster does (worker token, CA RPCs). */
async function joinOne(ca: TransportClient, rootPem: string, token: string, deadline: number): Promise<{ nodeId: string; tls: ClientTls }> {
  const { keyPem, csrPem } = generateKeyAndCsr();
  const { nodeId } = await ca.issueNodeCertificate({ csr: Buffer.from(csrPem), token, availability: 'active' });
  for (let wait = 20; ; wait = Math.min(wait * 2, 500)) {
    const st = await ca.nodeCertificateStatus({ nodeId });
    if (st.status?.state === 'issued' && st.certificate.length > 0) {
      return { nodeId, tls: { kind: 'verify', rootCaPem: Buffer.from(rootPem), certPem: st.certificate, keyPem: Buffer.from(keyPem) } };
    }
    if (st.status?.state === 'failed') throw new Error(`certificate issuance failed for ${nodeId}: ${st.status.err}`);
    if (performance.now() > deadline) throw new Error(`no certificate issued for ${nodeId} within the join bound`);
    await new Promise((r) => setTimeout(r, wait));
  }
}

/** CPU time (user + system) used so far by process `pid`, ms, from /proc (Linux; clock ticks of 10 ms). */
async function procCpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}
/** CPU time used so far by this (the agents') process, ms. */
const selfCpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** Calls the agents made (all agents together), to report messages per task for the converge phase. */
const calls = { updateTaskStatus: 0, statusUpdates: 0, heartbeat: 0, assignmentMessages: 0, assignmentChanges: 0, completeSets: 0 };
/** The agent's real transport client, counting what goes over it. */
class CountingClient extends TransportDispatcherClient {
  override updateTaskStatus(req: Parameters<TransportDispatcherClient['updateTaskStatus']>[0], signal: AbortSignal): Promise<void> {
    calls.updateTaskStatus++;
    calls.statusUpdates += req.updates.length;
    return super.updateTaskStatus(req, signal);
  }
  override heartbeat(req: Parameters<TransportDispatcherClient['heartbeat']>[0], signal: AbortSignal): ReturnType<TransportDispatcherClient['heartbeat']> {
    calls.heartbeat++;
    return super.heartbeat(req, signal);
  }
  override assignments(req: Parameters<TransportDispatcherClient['assignments']>[0], signal: AbortSignal): ReturnType<TransportDispatcherClient['assignments']> {
    const inner = super.assignments(req, signal);
    return (async function* () {
      for await (const m of inner) {
        calls.assignmentMessages++;
        calls.assignmentChanges += m.changes.length;
        if (m.type === 'COMPLETE') calls.completeSets++;
        yield m;
      }
    })();
  }
}

const procs: NodeProc[] = [];
const dirs: string[] = [];
const agents: { agent: Agent; client: CountingClient; nodeId: string; stopped: boolean }[] = [];
const timers = new RealTimers();
let ctl: TransportClient | undefined;

try {
  const baseMs = await inProcessConvergeMs();

  const dir = await tempDir('bench-converge-transport-m1-');
  dirs.push(dir);
  const m1 = new NodeProc({ name: 'm1', stateDir: dir, port: await freePort(), extraArgs: ['-l', 'warn', '--executor', 'sim'],
    ...(PROFILE_DIR ? { env: { NODE_OPTIONS: `--import ${join(import.meta.dirname, 'cpu-prof-preload.mjs')}`, CPU_PROF_DIR: PROFILE_DIR } } : {}),
  });
  procs.push(m1);
  m1.start();
  ctl = new TransportClient(`unix://${m1.socket}`, { tls: { kind: 'none' }, callTimeoutMs: 60_000 });
  const c = ctl;
  const control = async <T>(method: string, req: unknown = {}): Promise<T> =>
    JSON.parse((await c.control({ method, requestJson: JSON.stringify(req) })).responseJson) as T;
  await waitFor('m1 leader', 30_000, async () => ((await control<{ raftRole: string }>('NodeInfo').catch(() => undefined))?.raftRole === 'leader' ? true : undefined));
  const cluster = await waitFor('cluster', 10_000, async () => (await control<{ clusters: Cluster[] }>('ListClusters').catch(() => undefined))?.clusters[0]);
  const mgr = (await control<{ nodes: Node[] }>('ListNodes')).nodes[0]!;
  await control('UpdateNode', { nodeId: mgr.id, nodeVersion: mgr.meta.version, spec: { ...mgr.spec, availability: NodeAvailability.DRAIN } });
  console.log(`bench-converge-transport: 1 swarmhost manager process (drained) + ${NODES} sim agents over mTLS, ${REPLICAS} replicas, ${KILL} nodes killed, heartbeat ${HEARTBEAT_PERIOD_MS} ms`);

  // Join: root CA over an unauthenticated channel checked against the token, then one CSR per node.
  const token = cluster.rootCA.joinTokens.worker;
  const insecure = new TransportClient(m1.addr, { tls: { kind: 'insecureSkipVerify' } });
  const rootPem = (await insecure.getRootCACertificate()).certificate.toString('utf8');
  insecure.close();
  checkRootAgainstToken(rootPem, token);
  const caClient = new TransportClient(m1.addr, { tls: { kind: 'verify', rootCaPem: Buffer.from(rootPem) }, callTimeoutMs: 30_000 });
  const tj = performance.now();
  const joinDeadline = tj + PHASE_BOUND_MS;
  const ids = await pool(Array.from({ length: NODES }, (_, i) => i), JOIN_CONCURRENCY, () => joinOne(caClient, rootPem, token, joinDeadline));
  const joinMs = performance.now() - tj;
  caClient.close();
  report('nodes', NODES, 'nodes');
  report('join_ms', joinMs, 'ms');
  report('join_nodes_per_s', NODES / (joinMs / 1000), 'nodes/s');

  // Agents: each its own state dir, TLS channel and session.
  const agentRoot = await tempDir('bench-converge-transport-agents-');
  dirs.push(agentRoot);
  const rng = new SeededRng(7);
  const tr = performance.now();
  for (const { nodeId, tls } of ids) {
    const stateDir = join(agentRoot, nodeId);
    await mkdir(stateDir, { recursive: true });
    const client = new CountingClient(m1.addr, { tls, timers });
    const agent = new Agent({ nodeId, executor: new SimExecutor({ timers, hostname: nodeId }), timers, rng: rng.fork(), stateDir, dispatcher: client, logger: silent });
    agents.push({ agent, client, nodeId, stopped: false });
    await agent.start();
  }
  const readyWorkers = async (): Promise<Node[]> =>
    (await control<{ nodes: Node[] }>('ListNodes')).nodes.filter((n) => n.id !== mgr.id && n.status.state === NodeStatusState.READY);
  await waitFor(`${NODES} READY workers`, PHASE_BOUND_MS, async () => ((await readyWorkers()).length === NODES ? true : undefined), POLL_MS);
  report('ready_ms', performance.now() - tr, 'ms');

  // Converge.
  const statusOf = async (serviceId: string): Promise<number> =>
    (await control<{ statuses: { runningTasks: number }[] }>('ListServiceStatuses', { services: [serviceId] })).statuses[0]!.runningTasks;
  const mPid = m1.child!.pid!;
  const mCpu0 = await procCpuMs(mPid);
  const sCpu0 = selfCpuMs();
  const calls0 = { ...calls };
  const sessions0 = agents.reduce((n, a) => n + a.agent.sessionsOpened, 0);
  const tc = performance.now();
  const tcUs = monoUs();
  const svc = (
    await control<{ service: { id: string } }>('CreateService', {
      spec: { annotations: { name: 'bench' }, task: { container: { image: 'sim', command: ['run'] }, restart: { delayMs: 0 } }, mode: { replicated: { replicas: REPLICAS } } },
    })
  ).service;
  let lastRunning = 0;
  await waitFor(`${REPLICAS} running`, PHASE_BOUND_MS, async () => {
    lastRunning = await statusOf(svc.id);
    return lastRunning === REPLICAS ? true : undefined;
  }, POLL_MS).catch(async (e: unknown) => {
    throw new Error(`${String(e)}; last seen ${lastRunning} running, ${(await readyWorkers()).length} of ${NODES} workers READY`);
  });
  const convergeMs = performance.now() - tc;
  if (PROFILE_DIR) console.error(`converge_window_us: ${tcUs} ${monoUs()}`);
  const mCpu = (await procCpuMs(mPid)) - mCpu0;
  const sCpu = selfCpuMs() - sCpu0;
  report('replicas', REPLICAS, 'tasks');
  report('converge_ms', convergeMs, 'ms');
  report('converge_tasks_per_s', REPLICAS / (convergeMs / 1000), 'tasks/s');
  report('baseline_inprocess_converge_ms', baseMs, 'ms');
  report('baseline_inprocess_tasks_per_s', REPLICAS / (baseMs / 1000), 'tasks/s');
  report('converge_vs_baseline_ratio', convergeMs / baseMs, 'x');
  // Where the converge time went: CPU of the manager process and of this process (the N agents, the TLS
  // channels, the polls) over the converge wall time; 100 % = one core busy the whole time.
  report('converge_manager_cpu_pct', (mCpu / convergeMs) * 100, '%');
  report('converge_agents_cpu_pct', (sCpu / convergeMs) * 100, '%');
  report('converge_manager_cpu_ms', mCpu, 'ms');
  report('converge_agents_cpu_ms', sCpu, 'ms');
  // Messages of the converge phase (all agents): what each task cost on the wire.
  report('converge_status_rpcs', calls.updateTaskStatus - calls0.updateTaskStatus, 'calls');
  report('converge_status_updates', calls.statusUpdates - calls0.statusUpdates, 'updates');
  report('converge_heartbeats', calls.heartbeat - calls0.heartbeat, 'calls');
  report('converge_assignment_msgs', calls.assignmentMessages - calls0.assignmentMessages, 'messages');
  report('converge_assignment_changes', calls.assignmentChanges - calls0.assignmentChanges, 'changes');
  // Churn indicators (0 in a clean run): COMPLETE sets re-sent (stream reopened or consumer too slow), and
  // sessions re-opened (a node expired or a stream failed).
  report('converge_complete_sets', calls.completeSets - calls0.completeSets, 'messages');
  report('converge_sessions_reopened', agents.reduce((n, a) => n + a.agent.sessionsOpened, 0) - sessions0, 'sessions');

  // Lower the heartbeat period; every agent picks the new period up with its next heartbeat, which comes at
  // most one old jittered period later (5 s ± 500 ms): a settle time of 7 s covers it with margin.
  const cl = (await control<{ clusters: Cluster[] }>('ListClusters')).clusters[0]!;
  await control('UpdateCluster', { clusterId: cl.id, clusterVersion: cl.meta.version, spec: { ...cl.spec, dispatcher: { heartbeatPeriodMs: HEARTBEAT_PERIOD_MS } } });
  await new Promise((r) => setTimeout(r, 7_000));

  // Kill K agents at once: stop their sessions and close their channels (they never heartbeat again).
  const victims = agents.slice(0, KILL);
  const victimIds = new Set(victims.map((v) => v.nodeId));
  const tk = performance.now();
  await Promise.all(
    victims.map(async (v) => {
      v.stopped = true;
      await v.agent.stop();
      v.client.close();
    }),
  );
  let downAt = 0;
  // Live (not killed) workers seen DOWN at any poll of the kill phase: heartbeats of live agents that missed
  // the 1 s period's grace under load. Any such node also loses its tasks, which the figures then include.
  const liveSeenDown = new Set<string>();
  const noteLiveDown = (nodes: Node[]): void => {
    for (const n of nodes) if (n.id !== mgr.id && !victimIds.has(n.id) && n.status.state === NodeStatusState.DOWN) liveSeenDown.add(n.id);
  };
  await waitFor(`${KILL} nodes DOWN`, PHASE_BOUND_MS, async () => {
    const nodes = (await control<{ nodes: Node[] }>('ListNodes')).nodes;
    noteLiveDown(nodes);
    const down = nodes.filter((n) => victimIds.has(n.id) && n.status.state === NodeStatusState.DOWN).length;
    if (down === KILL) downAt = performance.now();
    return down === KILL ? true : undefined;
  }, POLL_MS);
  await waitFor('tasks running elsewhere', PHASE_BOUND_MS, async () => {
    noteLiveDown((await control<{ nodes: Node[] }>('ListNodes')).nodes);
    return (await statusOf(svc.id)) === REPLICAS ? true : undefined;
  }, POLL_MS);
  const replacedAt = performance.now();
  // Cross-check through ListTasks (the killed nodes' tasks): none of them is still meant to run there.
  const stale = (
    await control<{ tasks: { desiredState: number; status: { state: number } }[] }>('ListTasks', { filters: { serviceIds: [svc.id], nodeIds: [...victimIds] } })
  ).tasks.filter((t) => t.desiredState === TaskState.RUNNING);
  if (stale.length > 0) throw new Error(`after recovery: ${stale.length} tasks on killed nodes still have desired state RUNNING`);
  report('nodes_killed', KILL, 'nodes');
  report('kill_to_down_ms', downAt - tk, 'ms');
  report('down_to_replaced_ms', replacedAt - downAt, 'ms');
  report('kill_to_replaced_ms', replacedAt - tk, 'ms');
  report('live_nodes_seen_down', liveSeenDown.size, 'nodes');
  report('heartbeat_period_ms', HEARTBEAT_PERIOD_MS, 'ms');
  report('poll_period_ms', POLL_MS, 'ms');
} finally {
  await Promise.all(
    agents.filter((a) => !a.stopped).map(async (a) => {
      await a.agent.stop();
      a.client.close();
    }),
  );
  ctl?.close();
  timers.clearAll();
  if (PROFILE_DIR) await Promise.all(procs.map((p) => p.kill('SIGTERM').catch(() => undefined))); // writes the profile
  await teardown(procs, dirs);
}
if (json) console.log(JSON.stringify(figures));
