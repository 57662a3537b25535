/**
 * Recorded fixtures for the conformance check of a candidate plugin: small clusters, services and stopped tasks
 * whose well-formed answers every orchestrator and restart policy must give before it may serve. JSON objects
 * built fresh on each call (a plugin cannot mutate a shared copy).
 */
import {
  IssuanceState,
  NodeAvailability,
  NodeMembership,
  NodeRole,
  NodeStatusState,
  RestartCondition,
  TaskState,
  type Node,
  type Service,
  type ServiceMode,
  type Task,
  type TaskSpec,
} from '../api/index.js';
import type { OrchestratorInput } from '../../plugins/contracts.js';
import type { RestartDecisionInput } from '../../plugins/restart/default.js';
import type { ServiceKind } from '../../plugins/orchestrators/slots.js';

/** Fixed "now" of every fixture, ms since the epoch. */
export const FIXTURE_NOW_MS = 1_700_000_000_000;

function fixtureNode(id: string, availability = NodeAvailability.ACTIVE, state = NodeStatusState.READY): Node {
  return {
    id,
    meta: { version: 1, createdAt: 0, updatedAt: 0 },
    spec: { annotations: { name: id, labels: {} }, desiredRole: NodeRole.WORKER, membership: NodeMembership.ACCEPTED, availability },
    description: {
      hostname: id,
      platform: { architecture: 'x86_64', os: 'linux' },
      resources: { nanoCpus: 4e9, memoryBytes: 8 * 2 ** 30 },
      engine: { engineVersion: '1', labels: {}, plugins: [] },
    },
    status: { state, message: '', addr: '10.0.0.1' },
    certificate: { role: NodeRole.WORKER, csr: '', status: { state: IssuanceState.ISSUED, err: '' }, certificate: '', cn: id },
    role: NodeRole.WORKER,
  };
}

function fixtureSpec(condition: RestartCondition = RestartCondition.ANY, maxAttempts = 0): TaskSpec {
  return {
    container: { image: 'busybox:1', command: [], args: [], env: [], labels: {}, hostname: '', dir: '', user: '', tty: false, stopSignal: '', stopGracePeriodMs: 10_000 },
    resources: { limits: { nanoCpus: 0, memoryBytes: 0 }, reservations: { nanoCpus: 0, memoryBytes: 0 } },
    restart: { condition, delayMs: 5_000, maxAttempts, windowMs: 0 },
    placement: { constraints: [], preferences: [], platforms: [], maxReplicas: 0 },
    forceUpdate: 0,
  };
}

function fixtureService(id: string, mode: ServiceMode): Service {
  return { id, meta: { version: 10, createdAt: 0, updatedAt: 0 }, spec: { annotations: { name: id, labels: {} }, task: fixtureSpec(), mode }, specVersion: 1 };
}

function fixtureTask(id: string, svc: Service, o: { slot?: number; nodeId?: string; state?: TaskState; desired?: TaskState; spec?: TaskSpec; jobIteration?: number }): Task {
  const t: Task = {
    id,
    meta: { version: 1, createdAt: FIXTURE_NOW_MS - 60_000, updatedAt: 0 },
    spec: structuredClone(o.spec ?? svc.spec.task),
    specVersion: svc.specVersion,
    serviceId: svc.id,
    slot: o.slot ?? 1,
    nodeId: o.nodeId ?? '',
    annotations: { name: id, labels: {} },
    serviceAnnotations: svc.spec.annotations,
    status: { timestamp: FIXTURE_NOW_MS - 1_000, state: o.state ?? TaskState.RUNNING, message: '', err: '', appliedBy: '', appliedAt: FIXTURE_NOW_MS - 1_000 },
    desiredState: o.desired ?? TaskState.RUNNING,
  };
  if (o.jobIteration !== undefined) t.jobIteration = o.jobIteration;
  return t;
}

/** One orchestrator fixture: a named situation and the reconcile input. */
export interface OrchestratorFixture {
  name: string;
  input: OrchestratorInput;
}

/** Fixtures for the orchestrator slot that owns `kind`. */
export function orchestratorFixtures(kind: 'replicated' | 'global' | 'jobs'): OrchestratorFixture[] {
  const nodes = { n1: fixtureNode('n1'), n2: fixtureNode('n2'), n3: fixtureNode('n3', NodeAvailability.DRAIN) };
  const out: OrchestratorFixture[] = [];
  const mk = (name: string, service: Service | undefined, tasks: Task[], serviceId = service?.id ?? 'gone'): void => {
    const input: OrchestratorInput = { serviceId, tasks, nodes: structuredClone(nodes), nowMs: FIXTURE_NOW_MS, noRestartTaskIds: [] };
    if (service) input.service = service;
    out.push({ name, input });
  };
  if (kind === 'replicated') {
    const s = fixtureService('svc-r', { replicated: { replicas: 3 } });
    mk('scale up from one running task', s, [fixtureTask('r1', s, { slot: 1, nodeId: 'n1' })]);
    const down = fixtureService('svc-d', { replicated: { replicas: 1 } });
    mk('scale down from three', down, [1, 2, 3].map((i) => fixtureTask(`d${i}`, down, { slot: i, nodeId: i === 3 ? 'n2' : 'n1' })));
    const f = fixtureService('svc-f', { replicated: { replicas: 1 } });
    mk('one failed task', f, [fixtureTask('f1', f, { slot: 1, nodeId: 'n1', state: TaskState.FAILED })]);
    mk('deleted service', undefined, [fixtureTask('x1', s, { slot: 1, nodeId: 'n1' })], 'svc-r');
  } else if (kind === 'global') {
    const g = fixtureService('svc-g', { global: {} });
    mk('one task per eligible node', g, [fixtureTask('g1', g, { slot: 0, nodeId: 'n1' })]);
    mk('task on a drained node', g, [fixtureTask('g3', g, { slot: 0, nodeId: 'n3' })]);
  } else {
    const j = fixtureService('svc-j', { replicatedJob: { maxConcurrent: 2, totalCompletions: 3 } });
    j.jobStatus = { jobIteration: 0, lastExecution: 0 };
    mk('replicated job from nothing', j, []);
    const gj = fixtureService('svc-gj', { globalJob: {} });
    gj.jobStatus = { jobIteration: 0, lastExecution: 0 };
    mk('global job', gj, []);
  }
  return out;
}

/** The service kinds each orchestrator slot must own. */
export const ORCHESTRATOR_SLOT_KINDS: Record<'replicated' | 'global' | 'jobs', readonly ServiceKind[]> = {
  replicated: ['replicated'],
  global: ['global'],
  jobs: ['replicatedJob', 'globalJob'],
};

/** One restart-policy fixture, with what a conforming policy must (not) do. */
export interface RestartFixture {
  name: string;
  input: RestartDecisionInput;
  /** `false`: the policy must not restart (the service's condition forbids it). */
  mayRestart: boolean;
}

/** Fixtures for the restart-policy slot. */
export function restartFixtures(): RestartFixture[] {
  const s = fixtureService('svc', { replicated: { replicas: 1 } });
  const n = { availability: NodeAvailability.ACTIVE, state: NodeStatusState.READY };
  const failed = fixtureTask('t-failed', s, { nodeId: 'n1', state: TaskState.FAILED });
  const none = fixtureTask('t-none', s, { nodeId: 'n1', state: TaskState.FAILED, spec: fixtureSpec(RestartCondition.NONE) });
  const onFailDone = fixtureTask('t-complete', s, { nodeId: 'n1', state: TaskState.COMPLETE, spec: fixtureSpec(RestartCondition.ON_FAILURE) });
  const drained = fixtureTask('t-drained', s, { nodeId: 'n3', state: TaskState.RUNNING });
  return [
    { name: 'failed task, condition any', input: { task: failed, isJob: false, node: n, nowMs: FIXTURE_NOW_MS }, mayRestart: true },
    {
      name: 'failed task with history',
      input: { task: failed, isJob: false, node: n, nowMs: FIXTURE_NOW_MS, history: { specVersion: 1, totalRestarts: 4, restartTimesMs: [FIXTURE_NOW_MS - 40_000, FIXTURE_NOW_MS - 20_000] } },
      mayRestart: true,
    },
    { name: 'condition none', input: { task: none, isJob: false, node: n, nowMs: FIXTURE_NOW_MS }, mayRestart: false },
    { name: 'completed with on-failure', input: { task: onFailDone, isJob: false, node: n, nowMs: FIXTURE_NOW_MS }, mayRestart: false },
    { name: 'running task on a drained node', input: { task: drained, isJob: false, node: { availability: NodeAvailability.DRAIN, state: NodeStatusState.READY }, nowMs: FIXTURE_NOW_MS }, mayRestart: true },
    { name: 'node gone', input: { task: failed, isJob: false, nowMs: FIXTURE_NOW_MS }, mayRestart: true },
  ];
}
