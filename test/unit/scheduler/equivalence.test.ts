/**
 * Property: on random clusters (labels, platforms, resources, addresses, existing tasks), random task groups
 * (constraints, preferences, platforms, host ports, max replicas, generic resources) and recent failures, the
 * WASM pipeline and the TypeScript reference make identical decisions and identical explanations.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Node, Task } from '../../../src/host/api/objects.js';
import { NodeAvailability, NodeRole, NodeStatusState, TaskState } from '../../../src/host/api/objects.js';
import { NodeTable, schedulePass } from '../../../src/host/scheduler/node-table.js';
import { referenceSchedulePass, ReferenceScheduler } from '../../../src/host/scheduler/reference.js';
import type { RecentFailures } from '../../../src/host/scheduler/failures.js';
import { makeNode, makeSpec, makeTask } from './fixtures.js';

const CONSTRAINTS = [
  'node.labels.zone == a',
  'node.labels.zone != b',
  'node.labels.Zone == A',
  'node.labels.rack != 1',
  'node.labels.missing != x',
  'node.labels.missing == x',
  'engine.labels.disk == ssd',
  'engine.labels.disk != hdd',
  'node.role == manager',
  'node.role != WORKER',
  'node.hostname == H1',
  'node.hostname != h2',
  'node.platform.os == linux',
  'node.platform.arch == amd64',
  'node.platform.arch != x86_64',
  'node.id == n1',
  'node.id != N2',
  'node.ip == 10.0.0.2',
  'node.ip != 10.0.0.0/31',
  'node.ip == 10.0.1.0/24',
  'node.ip == 2001:db8::1',
  'node.ip == 2001:db8::/32',
  'node.ip == ::ffff:10.0.0.3',
  'node.ip == not-an-ip',
  'node.ip != not-an-ip',
  'node.unknown == x',
  'NODE.LABELS.zone == a',
];
const PREFS = ['node.labels.zone', 'node.labels.rack', 'engine.labels.disk', 'node.labels.nolabel', 'NODE.labels.zone', 'node.hostname'];
const ADDRS = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.1.7', '2001:db8::1', '2001:db9::5', 'garbage', ''];

const nodeArb = (i: number) =>
  fc
    .record({
      zone: fc.constantFrom('a', 'b', 'A', 'c', undefined),
      rack: fc.constantFrom('1', '2', undefined),
      disk: fc.constantFrom('ssd', 'hdd', 'SSD', undefined),
      role: fc.constantFrom(NodeRole.WORKER, NodeRole.MANAGER),
      state: fc.constantFrom(NodeStatusState.READY, NodeStatusState.READY, NodeStatusState.READY, NodeStatusState.DOWN),
      availability: fc.constantFrom(NodeAvailability.ACTIVE, NodeAvailability.ACTIVE, NodeAvailability.ACTIVE, NodeAvailability.DRAIN, NodeAvailability.PAUSE),
      arch: fc.constantFrom('x86_64', 'amd64', 'arm64', 'aarch64', ''),
      os: fc.constantFrom('linux', 'windows'),
      noDescription: fc.constantFrom(false, false, false, true),
      cpus: fc.constantFrom(0, 1e9, 2e9, 4e9),
      mem: fc.constantFrom(2 ** 30, 4 * 2 ** 30),
      gpu: fc.constantFrom(undefined, 0, 1, 2, 3),
      fpga: fc.constantFrom(undefined, ['f0'], ['f0', 'f1']),
      addr: fc.constantFrom(...ADDRS),
      host: fc.constantFrom('h1', 'H1', 'h2', 'h3'),
    })
    .map(
      (r): Node =>
        makeNode({
          id: `n${i}`,
          noDescription: r.noDescription,
          hostname: r.host,
          role: r.role,
          state: r.state,
          availability: r.availability,
          arch: r.arch,
          os: r.os,
          nanoCpus: r.cpus,
          memoryBytes: r.mem,
          ...(r.gpu !== undefined ? { generic: { gpu: r.gpu } } : {}),
          ...(r.fpga ? { genericNamed: { fpga: [...r.fpga] } } : {}),
          labels: Object.fromEntries(Object.entries({ zone: r.zone, rack: r.rack }).filter(([, v]) => v !== undefined)) as Record<string, string>,
          engineLabels: r.disk ? { disk: r.disk } : {},
          addr: r.addr,
        }),
    );

const specArb = fc.record({
  nanoCpus: fc.constantFrom(0, 0, 5e8, 1e9),
  memoryBytes: fc.constantFrom(0, 0, 2 ** 29),
  gpu: fc.constantFrom(0, 0, 1, 2),
  fpga: fc.constantFrom(0, 0, 1),
  constraints: fc.subarray(CONSTRAINTS, { maxLength: 3 }),
  preferences: fc.subarray(PREFS, { maxLength: 2 }),
  platforms: fc.constantFrom([], [], [{ architecture: 'amd64', os: '' }], [{ architecture: 'aarch64', os: 'linux' }, { architecture: '', os: 'windows' }]),
  maxReplicas: fc.constantFrom(0, 0, 1, 3),
  hostPort: fc.constantFrom(0, 0, 0, 8080, 9090),
});

type SpecR = typeof specArb extends fc.Arbitrary<infer T> ? T : never;

function specOf(r: SpecR) {
  const generic: Record<string, number> = {};
  if (r.gpu) generic.gpu = r.gpu;
  if (r.fpga) generic.fpga = r.fpga;
  return makeSpec({ nanoCpus: r.nanoCpus, memoryBytes: r.memoryBytes, generic, constraints: r.constraints, preferences: r.preferences, platforms: r.platforms.map((p) => ({ ...p })), maxReplicas: r.maxReplicas });
}

const clusterArb = fc.integer({ min: 1, max: 24 }).chain((nNodes) =>
  fc.record({
    nodes: fc.tuple(...Array.from({ length: nNodes }, (_, i) => nodeArb(i))),
    existing: fc.array(
      fc.record({ node: fc.integer({ min: 0, max: nNodes - 1 }), svc: fc.constantFrom('s1', 's2', 's3'), spec: specArb, state: fc.constantFrom(TaskState.ASSIGNED, TaskState.RUNNING, TaskState.COMPLETE, TaskState.PENDING), desired: fc.constantFrom(TaskState.RUNNING, TaskState.SHUTDOWN) }),
      { maxLength: 30 },
    ),
    groups: fc.array(fc.record({ svc: fc.constantFrom('s1', 's2', 's4'), version: fc.integer({ min: 0, max: 2 }), count: fc.integer({ min: 1, max: 40 }), spec: specArb }), { minLength: 1, maxLength: 3 }),
    preassigned: fc.array(fc.record({ node: fc.integer({ min: 0, max: nNodes + 1 }), svc: fc.constantFrom('g1', 'g2') }), { maxLength: 8 }),
    globalSpecs: fc.tuple(specArb, specArb),
    failures: fc.array(fc.record({ node: fc.integer({ min: 0, max: nNodes - 1 }), svc: fc.constantFrom('s1', 's2', 's4'), version: fc.integer({ min: 0, max: 2 }), count: fc.integer({ min: 1, max: 8 }) }), { maxLength: 6 }),
  }),
);

type Cluster = typeof clusterArb extends fc.Arbitrary<infer T> ? T : never;

function build(c: Cluster) {
  const nodes = c.nodes as Node[];
  const tasks: Task[] = [];
  c.existing.forEach((e, i) => {
    // A PENDING task with a node is preassigned; give each its own service so one service version keeps one spec.
    const svc = e.state === TaskState.PENDING ? `x${i}` : e.svc;
    tasks.push(makeTask({ id: `e${i}`, serviceId: svc, spec: specOf(e.spec), nodeId: `n${e.node}`, state: e.state, desired: e.desired, ...(e.spec.hostPort ? { hostPorts: [e.spec.hostPort] } : {}) }));
  });
  // Tasks of one service version share one spec, as the orchestrator creates them.
  const gspecs = { g1: c.globalSpecs[0], g2: c.globalSpecs[1] };
  c.preassigned.forEach((p, i) => {
    const r = gspecs[p.svc];
    tasks.push(makeTask({ id: `p${i}`, serviceId: p.svc, spec: specOf(r), nodeId: `n${p.node}`, ...(r.hostPort ? { hostPorts: [r.hostPort] } : {}) }));
  });
  const specByVersion = new Map<string, SpecR>();
  c.groups.forEach((g, gi) => {
    const key = `${g.svc}/${g.version}`;
    if (!specByVersion.has(key)) specByVersion.set(key, g.spec);
    const r = specByVersion.get(key)!;
    const spec = specOf(r);
    for (let k = 0; k < g.count; k++) {
      tasks.push(makeTask({ id: `g${gi}-${k}`, serviceId: g.svc, specVersion: g.version, spec, ...(r.hostPort ? { hostPorts: [r.hostPort] } : {}) }));
    }
  });
  const fmap = new Map<string, number>();
  for (const f of c.failures) fmap.set(`n${f.node}|${f.svc}|${f.version}`, f.count);
  const failures: RecentFailures = {
    count: (n, s, v) => fmap.get(`${n}|${s}|${v}`) ?? 0,
    nodesWith: (s, v) => [...fmap].filter(([k]) => k.endsWith(`|${s}|${v}`)).map(([k, n]) => [k.split('|')[0]!, n] as [string, number]),
  };
  return { nodes, tasks, failures };
}

test('WASM pipeline and reference make identical decisions and explanations on random clusters', () => {
  fc.assert(
    fc.property(clusterArb, (c) => {
      const input = build(c);
      const want = referenceSchedulePass(input);
      const got = schedulePass(input);
      if (process.env.SCHED_DEBUG && JSON.stringify(got) !== JSON.stringify(want)) {
        console.log(JSON.stringify({ nodes: input.nodes.map((n) => [n.id, n.status.state, n.spec.availability, n.description?.resources, n.spec.annotations.labels, n.description?.engine.labels, n.status.addr, n.description?.platform]), groups: c.groups, existing: c.existing.map((e) => [e.node, e.svc, e.state, e.desired, e.spec.nanoCpus, e.spec.gpu, e.spec.hostPort]), pre: c.preassigned, gs: c.globalSpecs, failures: c.failures }));
        console.log('got ', JSON.stringify(got));
        console.log('want', JSON.stringify(want));
      }
      assert.deepEqual(got, want);
    }),
    { numRuns: Number(process.env.SCHED_RUNS ?? 300) },
  );
});

test('an incrementally updated node table keeps deciding like the reference across passes', () => {
  fc.assert(
    fc.property(clusterArb, clusterArb, (c1, c2) => {
      const a = build(c1);
      const b = build(c2);
      const table = new NodeTable({ initialCapacity: 16 });
      for (const n of a.nodes) table.upsertNode(n, a.tasks.filter((t) => t.nodeId === n.id));
      // Replace the cluster with the second one through upserts/removals, then schedule.
      for (const n of a.nodes) if (!b.nodes.some((m) => m.id === n.id)) table.removeNode(n.id);
      for (const n of b.nodes) table.upsertNode(n, b.tasks.filter((t) => t.nodeId === n.id));
      const order = table.nodeOrder();
      const ordered = order.map((id) => b.nodes.find((n) => n.id === id)!);
      const want = new ReferenceScheduler(ordered, b.tasks, b.failures).schedulePass(b.tasks);
      const got = table.schedulePass(b.tasks, b.failures);
      assert.deepEqual(got, want);
      // A second pass on the same state (accounting carried over in both) still agrees.
      const more = b.tasks.filter((t) => t.nodeId === '' && t.status.state === TaskState.PENDING).map((t) => ({ ...t, id: `${t.id}-again` }));
      const ref2 = new ReferenceScheduler(ordered, b.tasks, b.failures);
      ref2.schedulePass(b.tasks);
      assert.deepEqual(table.schedulePass(more, b.failures), ref2.schedulePass(more));
    }),
    { numRuns: 100 },
  );
});
