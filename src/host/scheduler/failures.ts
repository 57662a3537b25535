/**
 * Recent task failures per (node, service, spec version): a node with at least 5 failures of a service version
 * in the last 5 minutes is deprioritized for that version (reference §6.3). Time comes from an injected Clock.
 */
import type { Clock } from '../env/index.js';

/** The look-back window for failures, in milliseconds (5 minutes). */
export const FAILURE_WINDOW_MS = 5 * 60 * 1000;

/** Read access to recent failures, as the schedulers need it. */
export interface RecentFailures {
  /** Failures of (serviceId, specVersion) on nodeId within the window. */
  count(nodeId: string, serviceId: string, specVersion: number): number;
  /** Every node with at least one recent failure of (serviceId, specVersion), with its count. */
  nodesWith(serviceId: string, specVersion: number): Iterable<[string, number]>;
}

/** Records failures (FAILED or REJECTED task transitions) and answers counts inside the window. */
export class FailureTracker implements RecentFailures {
  /** `service\0version` -> node -> failure times (ms, ascending). */
  private readonly byVersion = new Map<string, Map<string, number[]>>();

  constructor(
    private readonly clock: Clock,
    private readonly windowMs: number = FAILURE_WINDOW_MS,
  ) {}

  /** Records one failure of a task of (serviceId, specVersion) on nodeId, now. */
  record(nodeId: string, serviceId: string, specVersion: number): void {
    const key = `${serviceId}\u0000${specVersion}`;
    let m = this.byVersion.get(key);
    if (!m) this.byVersion.set(key, (m = new Map()));
    let l = m.get(nodeId);
    if (!l) m.set(nodeId, (l = []));
    l.push(this.clock.now());
  }

  private recent(l: number[]): number {
    const after = this.clock.now() - this.windowMs;
    let drop = 0;
    while (drop < l.length && !(l[drop]! > after)) drop++;
    if (drop) l.splice(0, drop);
    return l.length;
  }

  count(nodeId: string, serviceId: string, specVersion: number): number {
    const l = this.byVersion.get(`${serviceId}\u0000${specVersion}`)?.get(nodeId);
    return l ? this.recent(l) : 0;
  }

  *nodesWith(serviceId: string, specVersion: number): Iterable<[string, number]> {
    const key = `${serviceId}\u0000${specVersion}`;
    const m = this.byVersion.get(key);
    if (!m) return;
    for (const [node, l] of [...m]) {
      const c = this.recent(l);
      if (c === 0) m.delete(node);
      else yield [node, c];
    }
    if (m.size === 0) this.byVersion.delete(key);
  }

  /** Forgets a node (removed from the cluster). */
  forgetNode(nodeId: string): void {
    for (const m of this.byVersion.values()) m.delete(nodeId);
  }
}

/** No failures anywhere. */
export const noFailures: RecentFailures = { count: () => 0, nodesWith: () => [] };
