// Builders for nodes, services and tasks used by the orchestrator and restart tests.
import {
  TaskState,
  type Node,
  type Service,
  type ServiceMode,
  type Task,
  type TaskSpec,
} from '../../../src/host/api/index.js';
import { node, taskSpec } from '../../support/objects.js';

export { node, taskSpec };

export function idGen(prefix = 'id'): () => string {
  let n = 0;
  return () => `${prefix}${++n}`;
}


export function nodesById(...ns: Node[]): Record<string, Node> {
  return Object.fromEntries(ns.map((n) => [n.id, n]));
}


export function service(o: { id?: string; name?: string; mode?: ServiceMode; replicas?: number; spec?: TaskSpec; specVersion?: number; jobIteration?: number } = {}): Service {
  const s: Service = {
    id: o.id ?? 'svc',
    meta: { version: 10, createdAt: 0, updatedAt: 0 },
    spec: {
      annotations: { name: o.name ?? 'web', labels: {} },
      task: o.spec ?? taskSpec(),
      mode: o.mode ?? { replicated: { replicas: o.replicas ?? 3 } },
    },
    specVersion: o.specVersion ?? 1,
  };
  if (o.jobIteration !== undefined) s.jobStatus = { jobIteration: o.jobIteration, lastExecution: 0 };
  return s;
}

export function task(o: {
  id: string;
  svc?: Service;
  slot?: number;
  nodeId?: string;
  state?: TaskState;
  desired?: TaskState;
  createdAt?: number;
  at?: number;
  appliedAt?: number;
  specVersion?: number;
  spec?: TaskSpec;
  jobIteration?: number;
}): Task {
  const svc = o.svc ?? service();
  const t: Task = {
    id: o.id,
    meta: { version: 1, createdAt: o.createdAt ?? 0, updatedAt: 0 },
    spec: structuredClone(o.spec ?? svc.spec.task),
    specVersion: o.specVersion ?? svc.specVersion,
    serviceId: svc.id,
    slot: o.slot ?? 1,
    nodeId: o.nodeId ?? '',
    annotations: { name: o.id, labels: {} },
    serviceAnnotations: svc.spec.annotations,
    status: { timestamp: o.at ?? o.createdAt ?? 0, state: o.state ?? TaskState.RUNNING, message: '', err: '', appliedBy: '', appliedAt: o.appliedAt ?? 0 },
    desiredState: o.desired ?? TaskState.RUNNING,
  };
  if (o.jobIteration !== undefined) t.jobIteration = o.jobIteration;
  return t;
}

/** Ids of tasks whose desired state the plan sets to `state`. */
export function desiredIds(plan: { setDesired: { taskId: string; desiredState: TaskState }[] }, state: TaskState): string[] {
  return plan.setDesired.filter((c) => c.desiredState === state).map((c) => c.taskId).sort();
}

/** Label-equality constraints only (`node.labels.k==v`, `node.labels.k!=v`): enough for the cores' tests. */
export function labelConstraints(n: Node, constraints: readonly string[]): boolean {
  return constraints.every((c) => {
    const m = /^node\.labels\.([\w.-]+)\s*(==|!=)\s*(.*)$/.exec(c.trim());
    if (!m) throw new Error(`test predicate cannot parse ${c}`);
    const v = n.spec.annotations.labels[m[1]!];
    return m[2] === '==' ? v === m[3] : v !== m[3];
  });
}
