/**
 * The reference scheduler: SwarmKit's pipeline written plainly over Node/Task objects (NodeInfo records with
 * maps, string comparisons, a decision tree of maps), the way the Go scheduler does it. It defines the exact
 * decisions the WASM pipeline must reproduce, serves as the oracle of the property tests and as the benchmark
 * baseline.
 *
 * Where Go leaves an order to map iteration, both implementations fix it (see docs/scheduler.md):
 * groups in order of first appearance, tasks in input order, tree branches in order of first appearance in
 * node order, and ties between equally good nodes broken by node order.
 */
import type { Node, Task } from '../api/objects.js';
import { NodeAvailability, NodeStatusState, TaskState } from '../api/objects.js';
import { nodeMatches, ownLabel } from './constraint.js';
import type { RecentFailures } from './failures.js';
import { explain, FILTER_SLOTS, FilterCode, noSuitableNode } from './explain.js';
import { countsOnNode, isActive, isTracked, normalizeArch, taskRequirements, type TaskRequirements } from './task-info.js';

/** Recent failures of a service version on a node that deprioritize it (reference §6.3). */
export const MAX_RECENT_FAILURES = 5;


/** Input of one scheduling pass: every node, every task the scheduler should know about. */
export interface SchedulePassInput {
  /** Node order is significant: it breaks ties and orders preference branches. */
  nodes: readonly Node[];
  /** Tasks: those running on nodes (for accounting) and the PENDING ones to schedule. */
  tasks: readonly Task[];
  /** Recent failures; default none. */
  failures?: RecentFailures;
}

/** A decision: run task `taskId` on node `nodeId`. */
export interface Assignment {
  taskId: string;
  nodeId: string;
}

/** A task left PENDING with its status error. */
export interface Unplaceable {
  taskId: string;
  err: string;
}

/** Output of one scheduling pass. */
export interface SchedulePassResult {
  /** Preassigned confirmations first, then task groups in order. */
  assignments: Assignment[];
  unplaceable: Unplaceable[];
}

/** Scheduler-side view of one node (available resources, task counts), as Go's NodeInfo. */
class NodeInfo {
  readonly tasks = new Map<string, Task>();
  cpu: number;
  mem: number;
  readonly generic = new Map<string, number>();
  activeTotal = 0;
  readonly activeByService = new Map<string, number>();
  readonly usedPorts = new Set<number>();
  recentFailures = 0;
  constructor(
    readonly node: Node,
    readonly order: number,
  ) {
    const res = node.description?.resources;
    this.cpu = res?.nanoCpus ?? 0;
    this.mem = res?.memoryBytes ?? 0;
    for (const [k, v] of Object.entries(res?.genericNamed ?? {})) if (v.length > 0) this.generic.set(k, v.length);
    for (const [k, v] of Object.entries(res?.generic ?? {})) this.generic.set(k, v);
  }

  addTask(t: Task): void {
    if (this.tasks.has(t.id)) return;
    this.tasks.set(t.id, t);
    const r = t.spec.resources?.reservations;
    this.cpu -= r?.nanoCpus ?? 0;
    this.mem -= r?.memoryBytes ?? 0;
    for (const [k, v] of Object.entries(r?.generic ?? {})) {
      if (!(v > 0)) continue;
      const have = this.generic.get(k);
      if (have === undefined) continue;
      if (have - v <= 0) this.generic.delete(k);
      else this.generic.set(k, have - v);
    }
    for (const p of t.endpoint?.ports ?? []) {
      if (p.publishMode === 1 && p.publishedPort !== 0) this.usedPorts.add(p.protocol * 65536 + p.publishedPort);
    }
    if (isActive(t)) {
      this.activeTotal++;
      this.activeByService.set(t.serviceId, (this.activeByService.get(t.serviceId) ?? 0) + 1);
    }
  }
}

/** The filter pipeline with SwarmKit's failure counters: a node stops at its first failing filter. */
class Pipeline {
  private req!: TaskRequirements;
  private enabled: boolean[] = [];
  readonly counters = new Array<number>(FILTER_SLOTS).fill(0);

  setTask(req: TaskRequirements): void {
    this.req = req;
    this.enabled = [
      false,
      true,
      req.nanoCpus > 0 || req.memoryBytes > 0 || req.generic.length > 0,
      false,
      req.constraints !== null,
      req.platforms.length > 0,
      req.hostPorts.length > 0,
      req.maxReplicas > 0,
      false,
    ];
    this.counters.fill(0);
  }

  /** The first failing filter's code, or PASS; does not touch the counters. */
  firstFailure(n: NodeInfo): FilterCode {
    const r = this.req;
    const e = this.enabled;
    const node = n.node;
    if (node.status.state !== NodeStatusState.READY || node.spec.availability !== NodeAvailability.ACTIVE) return FilterCode.READY;
    if (e[FilterCode.RESOURCES]) {
      if (r.nanoCpus > n.cpu || r.memoryBytes > n.mem) return FilterCode.RESOURCES;
      for (const [k, v] of r.generic) {
        const have = n.generic.get(k);
        if (have === undefined || v > have) return FilterCode.RESOURCES;
      }
    }
    if (e[FilterCode.CONSTRAINTS] && !nodeMatches(r.constraints!, node)) return FilterCode.CONSTRAINTS;
    if (e[FilterCode.PLATFORM]) {
      const p = node.description?.platform;
      let ok = false;
      if (p) {
        for (const want of r.platforms) {
          const wa = normalizeArch(want.architecture);
          if ((wa === '' || wa === normalizeArch(p.architecture)) && (want.os === '' || want.os === p.os)) {
            ok = true;
            break;
          }
        }
      }
      if (!ok) return FilterCode.PLATFORM;
    }
    if (e[FilterCode.HOST_PORTS]) for (const k of r.hostPorts) if (n.usedPorts.has(k)) return FilterCode.HOST_PORTS;
    if (e[FilterCode.MAX_REPLICAS] && (n.activeByService.get(r.serviceId) ?? 0) >= r.maxReplicas) return FilterCode.MAX_REPLICAS;
    return FilterCode.PASS;
  }

  /** Go's Pipeline.Process: count the first failure, or reset every counter when the node passes. */
  process(n: NodeInfo): boolean {
    const f = this.firstFailure(n);
    if (f === FilterCode.PASS) {
      this.counters.fill(0);
      return true;
    }
    this.counters[f]!++;
    return false;
  }
}

/** Go's nodeLess: recent failures (when either has ≥5), then service tasks, then total tasks. */
function nodeLess(svc: string, a: NodeInfo, b: NodeInfo): boolean {
  const fa = a.recentFailures;
  const fb = b.recentFailures;
  if (fa >= MAX_RECENT_FAILURES || fb >= MAX_RECENT_FAILURES) {
    if (fa > fb) return false;
    if (fb > fa) return true;
  }
  const sa = a.activeByService.get(svc) ?? 0;
  const sb = b.activeByService.get(svc) ?? 0;
  if (sa !== sb) return sa < sb;
  return a.activeTotal < b.activeTotal;
}

/** nodeLess with node order as the final tie-break: a total order. */
function lessTotal(svc: string, a: NodeInfo, b: NodeInfo): boolean {
  if (nodeLess(svc, a, b)) return true;
  if (nodeLess(svc, b, a)) return false;
  return a.order < b.order;
}

interface DecisionTree {
  tasks: number;
  next: Map<string, DecisionTree> | null;
  /** Leaf: a max-heap (worst first) of at most `maxAssignments` nodes, later a best-first list. */
  nodes: NodeInfo[];
  collapsed: boolean;
}

function siftDown(h: NodeInfo[], i: number, len: number, less: (a: NodeInfo, b: NodeInfo) => boolean): void {
  for (;;) {
    const l = 2 * i + 1;
    if (l >= len) return;
    let m = l;
    if (l + 1 < len && less(h[l]!, h[l + 1]!)) m = l + 1;
    if (!less(h[i]!, h[m]!)) return;
    [h[i], h[m]] = [h[m]!, h[i]!];
    i = m;
  }
}

function siftUp(h: NodeInfo[], i: number, less: (a: NodeInfo, b: NodeInfo) => boolean): void {
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (!less(h[p]!, h[i]!)) return;
    [h[i], h[p]] = [h[p]!, h[i]!];
    i = p;
  }
}

/** The reference scheduler over plain objects. */
export class ReferenceScheduler {
  private readonly infos: NodeInfo[] = [];
  private readonly byId = new Map<string, NodeInfo>();
  private readonly pipeline = new Pipeline();
  private readonly failures: RecentFailures | undefined;

  constructor(nodes: readonly Node[], tasks: readonly Task[], failures?: RecentFailures) {
    this.failures = failures;
    nodes.forEach((n, i) => {
      const ni = new NodeInfo(n, i);
      this.infos.push(ni);
      this.byId.set(n.id, ni);
    });
    for (const t of tasks) if (countsOnNode(t)) this.byId.get(t.nodeId)?.addTask(t);
  }

  /** Runs a whole pass: preassigned tasks first (each against its own node), then groups. */
  schedulePass(tasks: readonly Task[]): SchedulePassResult {
    const out: SchedulePassResult = { assignments: [], unplaceable: [] };
    const groups = new Map<string, Task[]>();
    for (const t of tasks) {
      if (!isTracked(t) || t.status.state !== TaskState.PENDING) continue;
      if (t.nodeId !== '') {
        this.schedulePreassigned(t, out);
        continue;
      }
      const key = `${t.serviceId}\u0000${t.specVersion}`;
      let g = groups.get(key);
      if (!g) groups.set(key, (g = []));
      g.push(t);
    }
    // Preassigned tasks are processed before any group, as SwarmKit does.
    for (const g of groups.values()) this.scheduleGroup(g, out);
    return out;
  }

  private schedulePreassigned(t: Task, out: SchedulePassResult): void {
    const ni = this.byId.get(t.nodeId);
    if (!ni) return;
    this.pipeline.setTask(taskRequirements(t));
    if (!this.pipeline.process(ni)) {
      out.unplaceable.push({ taskId: t.id, err: explain(this.pipeline.counters) });
      return;
    }
    ni.addTask({ ...t, status: { ...t.status, state: TaskState.ASSIGNED } });
    out.assignments.push({ taskId: t.id, nodeId: ni.node.id });
  }

  /** First failing filter of `task` on every node (node order), without accounting. */
  evaluate(task: Task): { nodeIds: string[]; codes: number[]; feasible: number } {
    this.pipeline.setTask(taskRequirements(task));
    const codes = this.infos.map((ni) => this.pipeline.firstFailure(ni));
    return { nodeIds: this.infos.map((ni) => ni.node.id), codes, feasible: codes.filter((c) => c === FilterCode.PASS).length };
  }

  /** Schedules one group (same service and spec version). */
  scheduleGroup(group: readonly Task[], out: SchedulePassResult): void {
    if (group.length === 0) return;
    const req = taskRequirements(group[0]!);
    this.pipeline.setTask(req);
    for (const ni of this.infos) ni.recentFailures = this.failures ? this.failures.count(ni.node.id, req.serviceId, req.specVersion) : 0;
    const svc = req.serviceId;
    const lt = (a: NodeInfo, b: NodeInfo) => lessTotal(svc, a, b);
    const n = group.length;
    const root: DecisionTree = { tasks: 0, next: null, nodes: [], collapsed: false };
    for (const ni of this.infos) {
      let tree = root;
      const own = ni.activeByService.get(svc) ?? 0;
      tree.tasks += own;
      for (const level of req.spread) {
        const value = level.source === 'node' ? ownLabel(ni.node.spec.annotations.labels, level.label) : ownLabel(ni.node.description?.engine?.labels, level.label);
        if (!tree.next) tree.next = new Map();
        let nx = tree.next.get(value);
        if (!nx) tree.next.set(value, (nx = { tasks: 0, next: null, nodes: [], collapsed: false }));
        tree = nx;
        tree.tasks += own;
      }
      const h = tree.nodes;
      if (h.length < n) {
        if (this.pipeline.process(ni)) {
          h.push(ni);
          siftUp(h, h.length - 1, lt);
        }
      } else if (lt(ni, h[0]!)) {
        if (this.pipeline.process(ni)) {
          h[0] = ni;
          siftDown(h, 0, h.length, lt);
        }
      }
    }
    const state = { group, next: 0, out, svc };
    this.onSubtree(root, n, state);
    if (state.next < group.length) {
      const err = noSuitableNode(explain(this.pipeline.counters));
      for (let i = state.next; i < group.length; i++) out.unplaceable.push({ taskId: group[i]!.id, err });
    }
  }

  private orderedNodes(leaf: DecisionTree, svc: string): NodeInfo[] {
    const lt = (a: NodeInfo, b: NodeInfo) => lessTotal(svc, a, b);
    if (leaf.collapsed) leaf.nodes = leaf.nodes.filter((ni) => this.pipeline.process(ni));
    leaf.collapsed = true;
    leaf.nodes.sort((a, b) => (lt(a, b) ? -1 : lt(b, a) ? 1 : 0));
    return leaf.nodes;
  }

  private onSubtree(tree: DecisionTree, n: number, st: { group: readonly Task[]; next: number; out: SchedulePassResult; svc: string }): number {
    if (!tree.next) {
      const nodes = this.orderedNodes(tree, st.svc);
      if (nodes.length === 0) return 0;
      return this.onNodes(nodes, n, st);
    }
    let scheduled = 0;
    let usable = tree.tasks;
    const noRoom = new Set<DecisionTree>();
    const branches = [...tree.next.values()];
    while (scheduled !== n && noRoom.size !== branches.length) {
      const b = branches.length - noRoom.size;
      const total = usable + n - scheduled;
      const desired = Math.floor(total / b);
      let remainder = total % b;
      for (const sub of branches) {
        if (scheduled === n) break;
        if (noRoom.has(sub)) continue;
        const ct = sub.tasks;
        if (ct < desired || (ct === desired && remainder > 0)) {
          let toAssign = desired - ct;
          if (remainder > 0) toAssign++;
          toAssign = Math.min(toAssign, n - scheduled);
          const res = this.onSubtree(sub, toAssign, st);
          if (res < toAssign) {
            noRoom.add(sub);
            usable -= ct;
          } else if (remainder > 0) {
            remainder--;
          }
          scheduled += res;
        }
      }
    }
    return scheduled;
  }

  private onNodes(nodes: NodeInfo[], n: number, st: { group: readonly Task[]; next: number; out: SchedulePassResult; svc: string }): number {
    let scheduled = 0;
    const failed = new Set<number>();
    let iter = 0;
    const count = nodes.length;
    while (st.next < st.group.length) {
      const t = st.group[st.next++]!;
      const ni = nodes[iter % count]!;
      ni.addTask({ ...t, nodeId: ni.node.id, status: { ...t.status, state: TaskState.ASSIGNED } });
      st.out.assignments.push({ taskId: t.id, nodeId: ni.node.id });
      scheduled++;
      if (scheduled === n) return scheduled;
      if (iter + 1 < count) {
        if (nodeLess(st.svc, nodes[iter + 1]!, ni)) iter++;
      } else {
        iter++;
      }
      const orig = iter;
      while (failed.has(iter % count) || !this.pipeline.process(nodes[iter % count]!)) {
        failed.add(iter % count);
        iter++;
        if (iter - orig === count) return scheduled;
      }
    }
    return scheduled;
  }
}

/** One reference pass over plain objects (builds NodeInfo from scratch). */
export function referenceSchedulePass(input: SchedulePassInput): SchedulePassResult {
  return new ReferenceScheduler(input.nodes, input.tasks, input.failures).schedulePass(input.tasks);
}
