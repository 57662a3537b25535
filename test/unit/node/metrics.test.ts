import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TaskState } from '../../../src/host/api/objects.js';
import { NodeMetrics, parseListenAddr, serveMetrics, taskStateLabel } from '../../../src/host/node/metrics.js';
import type { Manager } from '../../../src/host/node/manager.js';

/** A manager-shaped fake with just what the metrics read. */
function fakeManager(o: { leader: boolean; term: number; commit: number; applied: number; tasks: TaskState[] }): Manager {
  const tables: Record<string, unknown[]> = {
    tasks: o.tasks.map((s, i) => ({ id: `t${i}`, status: { state: s } })),
    services: [{}],
    nodes: [{}, {}],
  };
  return {
    isLeader: o.leader,
    raftStatus: () => ({ term: o.term, commit: o.commit }),
    proposalCounts: { proposed: 7, failed: 1 },
    store: { appliedIndex: o.applied, view: (fn: (tx: unknown) => unknown) => fn({ list: (t: string) => tables[t] ?? [] }) },
  } as unknown as Manager;
}

function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('reads raft, store and task figures from the manager at scrape time', async () => {
  const m = new NodeMetrics({ defaultMetrics: false });
  let mgr = fakeManager({ leader: true, term: 3, commit: 40, applied: 39, tasks: [TaskState.RUNNING, TaskState.RUNNING, TaskState.PENDING] });
  m.setSources({ manager: () => mgr, dispatcherSessions: () => 2 });
  let t = await m.text();
  assert.equal(value(t, 'swarmhost_raft_term'), 3);
  assert.equal(value(t, 'swarmhost_raft_leader'), 1);
  assert.equal(value(t, 'swarmhost_raft_commit_index'), 40);
  assert.equal(value(t, 'swarmhost_raft_applied_index'), 39);
  assert.equal(value(t, 'swarmhost_raft_proposals_total'), 7);
  assert.equal(value(t, 'swarmhost_raft_proposals_failed_total'), 1);
  assert.equal(value(t, 'swarmhost_store_objects{table="nodes"}'), 2);
  assert.equal(value(t, 'swarmhost_store_objects{table="secrets"}'), 0);
  assert.equal(value(t, 'swarmhost_tasks{state="running"}'), 2);
  assert.equal(value(t, 'swarmhost_tasks{state="pending"}'), 1);
  assert.equal(value(t, 'swarmhost_tasks{state="failed"}'), 0);
  assert.equal(value(t, 'swarmhost_dispatcher_sessions'), 2);
  mgr = fakeManager({ leader: false, term: 4, commit: 41, applied: 41, tasks: [] });
  t = await m.text();
  assert.equal(value(t, 'swarmhost_raft_leader'), 0);
  assert.equal(value(t, 'swarmhost_raft_term'), 4);
});

test('a worker (no manager) exposes no raft figures but still its counters', async () => {
  const m = new NodeMetrics({ defaultMetrics: false });
  m.recordPlugin('executor', 'process', 'builtin');
  m.recordPluginFailure('executor', 'process');
  m.recordPluginFailure('executor', 'process');
  const t = await m.text();
  assert.equal(value(t, "swarmhost_raft_term"), undefined);
  assert.equal(value(t, "swarmhost_dispatcher_sessions"), undefined);
  assert.equal(value(t, 'swarmhost_plugin_info{kind="executor",name="process",version="builtin"}'), 1);
  assert.equal(value(t, 'swarmhost_plugin_failures_total{kind="executor",name="process"}'), 2);
});

test('the scheduler observer times passes and counts decisions by result', async () => {
  const m = new NodeMetrics({ defaultMetrics: false });
  const obs = m.schedulerObserver();
  obs.passStarted();
  obs.passEnded({ tasks: 5, assigned: 4, unplaceable: 1, commitFailures: 0 });
  obs.passStarted();
  obs.passEnded({ tasks: 1, assigned: 0, unplaceable: 0, commitFailures: 1 });
  m.recordHeartbeat();
  m.recordSession();
  const t = await m.text();
  assert.equal(value(t, 'swarmhost_scheduler_pass_duration_seconds_count'), 2);
  assert.equal(value(t, 'swarmhost_scheduler_decisions_total{result="assigned"}'), 4);
  assert.equal(value(t, 'swarmhost_scheduler_decisions_total{result="unplaceable"}'), 1);
  assert.equal(value(t, 'swarmhost_scheduler_decisions_total{result="commit_failed"}'), 1);
  assert.equal(value(t, 'swarmhost_dispatcher_heartbeats_total'), 1);
  assert.equal(value(t, 'swarmhost_dispatcher_session_requests_total'), 1);
});

test('serves GET /metrics over HTTP and 404 elsewhere', async () => {
  const m = new NodeMetrics();
  const srv = await serveMetrics(m, '127.0.0.1:0');
  try {
    assert.match(srv.addr, /^127\.0\.0\.1:\d+$/);
    const ok = await fetch(`http://${srv.addr}/metrics`, { signal: AbortSignal.timeout(5_000) });
    assert.equal(ok.status, 200);
    const body = await ok.text();
    assert.match(body, /# HELP swarmhost_scheduler_decisions_total /);
    assert.match(body, /^swarmhost_process_cpu_user_seconds_total /m);
    const nf = await fetch(`http://${srv.addr}/`, { signal: AbortSignal.timeout(5_000) });
    assert.equal(nf.status, 404);
    await nf.text();
  } finally {
    await srv.close();
  }
});

test('listen addresses must be host:port', () => {
  assert.deepEqual(parseListenAddr('127.0.0.1:9323', '--listen-metrics'), { host: '127.0.0.1', port: 9323 });
  assert.deepEqual(parseListenAddr('[::1]:0', '--listen-metrics'), { host: '::1', port: 0 });
  assert.throws(() => parseListenAddr('9323', '--listen-metrics'), /--listen-metrics must be host:port with a port in 0..65535, got "9323"/);
  assert.throws(() => parseListenAddr('h:70000', '--listen-metrics'), /port in 0..65535/);
  assert.equal(taskStateLabel(TaskState.RUNNING), 'running');
});
