/**
 * Prometheus metrics of one swarmhost process (prom-client), served at `/metrics` by
 * `swarmhost --listen-metrics host:port`. Most figures are read at scrape time from the live objects (Raft
 * status, store tables, dispatcher sessions), so nothing is updated on the hot path; counters that need
 * events (scheduler passes, heartbeats, plugin failures) are incremented by small hooks in services.ts.
 */
import { createServer, type Server } from 'node:http';
import { performance } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { InvalidArgumentError } from '../api/errors.js';
import { TABLES, TaskState, type Task } from '../api/objects.js';
import type { SchedulerPassObserver } from '../orchestration/index.js';
import type { Manager } from './manager.js';

/** Prefix of every swarmhost metric name. */
export const METRIC_PREFIX = 'swarmhost_';

/** Scheduler pass duration histogram buckets, seconds (0.1 ms .. 2.5 s). */
export const SCHEDULER_PASS_BUCKETS_SECONDS = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** What the metrics read at scrape time; every part is optional (a worker has no manager). */
export interface MetricsSources {
  manager?: () => Manager | undefined;
  /** Live dispatcher sessions on this node (leader only), or undefined when no dispatcher runs here. */
  dispatcherSessions?: () => number | undefined;
}

/** The lower-case name of a task state ("running"), as the `state` label. */
export function taskStateLabel(s: TaskState): string {
  return (TaskState[s] ?? String(s)).toLowerCase();
}

/**
 * The metrics registry of one node. Create one per process; pass `sources` so that scrape-time gauges can
 * read the manager; call the `record*` methods from hooks.
 */
export class NodeMetrics {
  /** A private registry (not prom-client's global one), so tests can create several. */
  readonly registry = new Registry();
  private sources: MetricsSources = {};
  private readonly heartbeats: Counter<string>;
  private readonly sessionsOpened: Counter<string>;
  private readonly passSeconds: Histogram<string>;
  private readonly decisions: Counter<'result'>;
  private readonly pluginInfo: Gauge<'kind' | 'name' | 'version'>;
  private readonly pluginFailures: Counter<'kind' | 'name'>;
  private managerMetrics = false;

  constructor(opts: { defaultMetrics?: boolean; labels?: Record<string, string> } = {}) {
    const r = this.registry;
    if (opts.labels) r.setDefaultLabels(opts.labels);
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: r, prefix: METRIC_PREFIX });
    this.passSeconds = new Histogram({
      name: `${METRIC_PREFIX}scheduler_pass_duration_seconds`,
      help: 'Wall-clock time of one scheduling pass (placement and its batched commit), on the leader',
      buckets: SCHEDULER_PASS_BUCKETS_SECONDS,
      registers: [r],
    });
    this.decisions = new Counter({
      name: `${METRIC_PREFIX}scheduler_decisions_total`,
      help: 'Scheduler decisions on the leader: assigned (committed), unplaceable, commit_failed (re-queued)',
      labelNames: ['result'],
      registers: [r],
    });
    for (const result of ['assigned', 'unplaceable', 'commit_failed']) this.decisions.inc({ result }, 0);
    this.sessionsOpened = new Counter({
      name: `${METRIC_PREFIX}dispatcher_session_requests_total`,
      help: 'Session calls received by this manager (served or proxied to the leader)',
      registers: [r],
    });
    this.heartbeats = new Counter({
      name: `${METRIC_PREFIX}dispatcher_heartbeats_total`,
      help: 'Heartbeat calls received by this manager (served or proxied to the leader)',
      registers: [r],
    });
    this.pluginInfo = new Gauge({
      name: `${METRIC_PREFIX}plugin_info`,
      help: 'Active plugin versions on this node (value 1)',
      labelNames: ['kind', 'name', 'version'],
      registers: [r],
    });
    this.pluginFailures = new Counter({
      name: `${METRIC_PREFIX}plugin_failures_total`,
      help: 'Failed plugin calls on this node (e.g. an executor controller call that rejected)',
      labelNames: ['kind', 'name'],
      registers: [r],
    });
  }

  /** Where scrape-time gauges read from (set once the manager / dispatcher exist). */
  setSources(s: MetricsSources): void {
    this.sources = { ...this.sources, ...s };
    if (s.manager !== undefined) this.addManagerMetrics();
  }

  /** Registers the manager-only metrics (once): a worker exposes no Raft or store figures at all. */
  private addManagerMetrics(): void {
    if (this.managerMetrics) return;
    this.managerMetrics = true;
    const r = this.registry;
    const self = this;
    const mgr = (): Manager | undefined => self.sources.manager?.();

    new Gauge({
      name: `${METRIC_PREFIX}raft_term`,
      help: 'Current Raft term of this manager',
      registers: [r],
      collect() {
        const m = mgr();
        if (m) this.set(m.raftStatus().term);
      },
    });
    new Gauge({
      name: `${METRIC_PREFIX}raft_leader`,
      help: '1 when this manager is the Raft leader, else 0',
      registers: [r],
      collect() {
        const m = mgr();
        if (m) this.set(m.isLeader ? 1 : 0);
      },
    });
    new Gauge({
      name: `${METRIC_PREFIX}raft_commit_index`,
      help: 'Highest Raft log index known to be committed',
      registers: [r],
      collect() {
        const m = mgr();
        if (m) this.set(m.raftStatus().commit);
      },
    });
    new Gauge({
      name: `${METRIC_PREFIX}raft_applied_index`,
      help: 'Highest Raft log index applied to the store',
      registers: [r],
      collect() {
        const m = mgr();
        if (m) this.set(m.store.appliedIndex);
      },
    });
    new Counter({
      name: `${METRIC_PREFIX}raft_proposals_total`,
      help: 'Store write proposals this manager handed to Raft',
      registers: [r],
      collect() {
        const m = mgr();
        if (m) {
          this.reset();
          this.inc(m.proposalCounts.proposed);
        }
      },
    });
    new Counter({
      name: `${METRIC_PREFIX}raft_proposals_failed_total`,
      help: 'Proposals of this manager that failed (lost leadership, dropped, too large)',
      registers: [r],
      collect() {
        const m = mgr();
        if (m) {
          this.reset();
          this.inc(m.proposalCounts.failed);
        }
      },
    });
    new Gauge({
      name: `${METRIC_PREFIX}store_objects`,
      help: 'Objects in the replicated store, by table',
      labelNames: ['table'],
      registers: [r],
      collect() {
        const m = mgr();
        if (!m) return;
        const counts = m.store.view((tx) => TABLES.map((t) => [t, tx.list(t).length] as const));
        for (const [t, n] of counts) this.set({ table: t }, n);
      },
    });
    new Gauge({
      name: `${METRIC_PREFIX}tasks`,
      help: 'Tasks in the store by observed state (every state is reported, zero included)',
      labelNames: ['state'],
      registers: [r],
      collect() {
        const m = mgr();
        if (!m) return;
        const by = new Map<string, number>();
        for (const v of Object.values(TaskState)) if (typeof v === 'number') by.set(taskStateLabel(v), 0);
        m.store.view((tx) => {
          for (const t of tx.list('tasks') as Task[]) {
            const k = taskStateLabel(t.status.state);
            by.set(k, (by.get(k) ?? 0) + 1);
          }
        });
        for (const [state, n] of by) this.set({ state }, n);
      },
    });
    new Gauge({
      name: `${METRIC_PREFIX}dispatcher_sessions`,
      help: 'Agent sessions open on this manager\'s dispatcher (0 unless it leads)',
      registers: [r],
      collect() {
        this.set(self.sources.dispatcherSessions?.() ?? 0);
      },
    });
  }


  /** One heartbeat call received. */
  recordHeartbeat(): void {
    this.heartbeats.inc();
  }

  /** One session call received. */
  recordSession(): void {
    this.sessionsOpened.inc();
  }

  /** Marks a plugin version as active on this node. */
  recordPlugin(kind: string, name: string, version: string): void {
    this.pluginInfo.set({ kind, name, version }, 1);
  }

  /** One failed plugin call. */
  recordPluginFailure(kind: string, name: string): void {
    this.pluginFailures.inc({ kind, name });
  }

  /** An observer for SchedulerHost.addPassObserver: times passes (performance.now) and counts decisions. */
  schedulerObserver(): SchedulerPassObserver {
    let startedAt = 0;
    return {
      passStarted: () => {
        startedAt = performance.now();
      },
      passEnded: (info) => {
        this.passSeconds.observe((performance.now() - startedAt) / 1000);
        this.decisions.inc({ result: 'assigned' }, info.assigned);
        this.decisions.inc({ result: 'unplaceable' }, info.unplaceable);
        this.decisions.inc({ result: 'commit_failed' }, info.commitFailures);
      },
    };
  }

  /** The text exposition format (what /metrics returns). */
  async text(): Promise<string> {
    return this.registry.metrics();
  }
}

/** "127.0.0.1:9323" → host and port; a typed error names the flag and the rule otherwise. */
export function parseListenAddr(addr: string, flag: string): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(addr);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidArgumentError(`${flag} must be host:port with a port in 0..65535, got "${addr}"`);
  }
  return { host: m[1] === '' ? '0.0.0.0' : m[1]!, port };
}

/** A running `/metrics` HTTP endpoint. */
export interface MetricsServer {
  /** host:port actually bound (port 0 resolved). */
  readonly addr: string;
  close(): Promise<void>;
}

/**
 * Serves `GET /metrics` (Prometheus text format) on plain HTTP at `addr`; every other path is 404. Plain HTTP
 * because Prometheus scrapes it; bind it to loopback or a management network.
 */
export async function serveMetrics(metrics: NodeMetrics, addr: string): Promise<MetricsServer> {
  const { host, port } = parseListenAddr(addr, '--listen-metrics');
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: metrics are at GET /metrics\n');
      return;
    }
    metrics.text().then(
      (body) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body),
      (e: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics collection failed: ${String(e)}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const a = server.address();
  const bound = typeof a === 'object' && a !== null ? `${host.includes(':') ? `[${host}]` : host}:${a.port}` : addr;
  return {
    addr: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
