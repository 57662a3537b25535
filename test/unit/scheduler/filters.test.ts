/**
 * Table tests for each filter of the pipeline, run through both the WASM node table and the reference: a
 * single-task group on one node either lands there or is refused with the filter's explanation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Node, Task } from '../../../src/host/api/objects.js';
import { NodeAvailability, NodeStatusState, TaskState } from '../../../src/host/api/objects.js';
import { NodeTable, schedulePass } from '../../../src/host/scheduler/node-table.js';
import { referenceSchedulePass, ReferenceScheduler } from '../../../src/host/scheduler/reference.js';
import { makeNode, makeSpec, makeTask, type SpecOpts } from './fixtures.js';

interface Case {
  name: string;
  node: Partial<Parameters<typeof makeNode>[0]>;
  spec?: SpecOpts;
  hostPorts?: number[];
  existing?: { spec?: SpecOpts; hostPorts?: number[]; serviceId?: string; state?: TaskState; desired?: TaskState }[];
  /** '' = placed; otherwise the expected explanation inside "no suitable node (...)". */
  expect: string;
}

const CASES: Case[] = [
  { name: 'ready: a READY ACTIVE node takes the task', node: {}, expect: '' },
  { name: 'ready: a DOWN node is not available', node: { state: NodeStatusState.DOWN }, expect: '1 node not available for new tasks' },
  { name: 'ready: a DRAIN node is not available', node: { availability: NodeAvailability.DRAIN }, expect: '1 node not available for new tasks' },
  { name: 'ready: a PAUSE node is not available', node: { availability: NodeAvailability.PAUSE }, expect: '1 node not available for new tasks' },
  { name: 'resources: CPU within what is left fits', node: { nanoCpus: 2e9 }, spec: { nanoCpus: 2e9 }, expect: '' },
  { name: 'resources: CPU over what is left is refused', node: { nanoCpus: 2e9 }, spec: { nanoCpus: 1e9 }, existing: [{ spec: { nanoCpus: 1.5e9 } }], expect: 'insufficient resources on 1 node' },
  { name: 'resources: memory over capacity is refused', node: { memoryBytes: 2 ** 30 }, spec: { memoryBytes: 2 ** 31 }, expect: 'insufficient resources on 1 node' },
  { name: 'resources: stopped tasks release their reservations', node: { nanoCpus: 2e9 }, spec: { nanoCpus: 2e9 }, existing: [{ spec: { nanoCpus: 2e9 }, state: TaskState.SHUTDOWN }], expect: '' },
  { name: 'resources: discrete generic resources are counted', node: { generic: { gpu: 2 } }, spec: { generic: { gpu: 1 } }, existing: [{ spec: { generic: { gpu: 1 } } }], expect: '' },
  { name: 'resources: claimed discrete generic resources are gone', node: { generic: { gpu: 2 } }, spec: { generic: { gpu: 1 } }, existing: [{ spec: { generic: { gpu: 2 } } }], expect: 'insufficient resources on 1 node' },
  { name: 'resources: named generic resources count by value', node: { genericNamed: { gpu: ['g0', 'g1'] } }, spec: { generic: { gpu: 2 } }, expect: '' },
  { name: 'resources: a kind the node lacks is insufficient', node: {}, spec: { generic: { fpga: 1 } }, expect: 'insufficient resources on 1 node' },
  { name: 'constraints: a matching label passes', node: { labels: { zone: 'a' } }, spec: { constraints: ['node.labels.zone == A'] }, expect: '' },
  { name: 'constraints: a mismatch is refused', node: { labels: { zone: 'b' } }, spec: { constraints: ['node.labels.zone == a'] }, expect: 'scheduling constraints not satisfied on 1 node' },
  { name: 'constraints: an unparsable list disables the filter', node: {}, spec: { constraints: ['node.labels.zone = a'] }, expect: '' },
  { name: 'constraints: an unknown key never matches', node: {}, spec: { constraints: ['node.color != red'] }, expect: 'scheduling constraints not satisfied on 1 node' },
  { name: 'constraints: node.ip in a CIDR', node: { addr: '10.1.2.3' }, spec: { constraints: ['node.ip == 10.1.0.0/16'] }, expect: '' },
  { name: 'constraints: an IPv4 node is never inside an IPv6 network', node: { addr: '10.1.2.3' }, spec: { constraints: ['node.ip == ::/0'] }, expect: 'scheduling constraints not satisfied on 1 node' },
  { name: 'platform: x86_64 node matches amd64', node: { arch: 'x86_64', os: 'linux' }, spec: { platforms: [{ architecture: 'amd64', os: 'linux' }] }, expect: '' },
  { name: 'platform: aarch64 request matches arm64 node', node: { arch: 'arm64', os: 'linux' }, spec: { platforms: [{ architecture: 'aarch64', os: '' }] }, expect: '' },
  { name: 'platform: empty fields match anything', node: { arch: 'riscv64', os: 'plan9' }, spec: { platforms: [{ architecture: '', os: '' }] }, expect: '' },
  { name: 'platform: OS is compared exactly', node: { arch: 'amd64', os: 'Linux' }, spec: { platforms: [{ architecture: '', os: 'linux' }] }, expect: 'unsupported platform on 1 node' },
  { name: 'platform: a node without description is unsupported', node: { noDescription: true }, spec: { platforms: [{ architecture: 'amd64', os: '' }] }, expect: 'unsupported platform on 1 node' },
  { name: 'host ports: a free port passes', node: {}, hostPorts: [8080], existing: [{ hostPorts: [9090] }], expect: '' },
  { name: 'host ports: a used (protocol, port) is refused', node: {}, hostPorts: [8080], existing: [{ hostPorts: [8080] }], expect: 'host-mode port already in use on 1 node' },
  { name: 'max replicas: under the limit passes', node: {}, spec: { maxReplicas: 2 }, existing: [{ serviceId: 'web' }], expect: '' },
  { name: 'max replicas: at the limit is refused', node: {}, spec: { maxReplicas: 1 }, existing: [{ serviceId: 'web' }], expect: 'max replicas per node limit exceed' },
  { name: 'max replicas: tasks desired to stop do not count', node: {}, spec: { maxReplicas: 1 }, existing: [{ serviceId: 'web', desired: TaskState.SHUTDOWN }], expect: '' },
  { name: 'order: ready is checked before resources', node: { state: NodeStatusState.DOWN, nanoCpus: 0 }, spec: { nanoCpus: 1e9 }, expect: '1 node not available for new tasks' },
  { name: 'order: resources before constraints', node: { nanoCpus: 0, labels: {} }, spec: { nanoCpus: 1e9, constraints: ['node.labels.x == y'] }, expect: 'insufficient resources on 1 node' },
];

function scenario(c: Case): { nodes: Node[]; tasks: Task[] } {
  const node = makeNode({ id: 'n1', ...c.node });
  const tasks: Task[] = (c.existing ?? []).map((e, i) =>
    makeTask({ id: `e${i}`, serviceId: e.serviceId ?? 'other', nodeId: 'n1', state: e.state ?? TaskState.RUNNING, desired: e.desired ?? TaskState.RUNNING, spec: makeSpec(e.spec ?? {}), ...(e.hostPorts ? { hostPorts: e.hostPorts } : {}) }),
  );
  tasks.push(makeTask({ id: 'new', serviceId: 'web', spec: makeSpec(c.spec ?? {}), ...(c.hostPorts ? { hostPorts: c.hostPorts } : {}) }));
  return { nodes: [node], tasks };
}

for (const c of CASES) {
  test(c.name, () => {
    const input = scenario(c);
    const want = c.expect === '' ? { assignments: [{ taskId: 'new', nodeId: 'n1' }], unplaceable: [] } : { assignments: [], unplaceable: [{ taskId: 'new', err: `no suitable node (${c.expect})` }] };
    assert.deepEqual(schedulePass(input), want, 'wasm');
    assert.deepEqual(referenceSchedulePass(input), want, 'reference');
  });
}

test('explanations sort by count, largest first, ties in pipeline order', () => {
  const nodes = [
    makeNode({ id: 'a', labels: { zone: 'x' } }),
    makeNode({ id: 'b', labels: { zone: 'x' } }),
    makeNode({ id: 'c', nanoCpus: 0, labels: { zone: 'y' } }),
    makeNode({ id: 'd', state: NodeStatusState.DOWN }),
  ];
  const tasks = [makeTask({ id: 't', serviceId: 'web', spec: makeSpec({ nanoCpus: 1e9, constraints: ['node.labels.zone == y'] }) })];
  const want = { assignments: [], unplaceable: [{ taskId: 't', err: 'no suitable node (scheduling constraints not satisfied on 2 nodes; 1 node not available for new tasks; insufficient resources on 1 node)' }] };
  assert.deepEqual(schedulePass({ nodes, tasks }), want);
  assert.deepEqual(referenceSchedulePass({ nodes, tasks }), want);
});

test('a preassigned task is checked only against its node and its error is the bare explanation', () => {
  const nodes = [makeNode({ id: 'a', nanoCpus: 0 }), makeNode({ id: 'b' })];
  const tasks = [makeTask({ id: 'g', serviceId: 'glob', nodeId: 'a', spec: makeSpec({ nanoCpus: 1e9 }) }), makeTask({ id: 'h', serviceId: 'glob', nodeId: 'b', spec: makeSpec({ nanoCpus: 1e9 }) })];
  const want = { assignments: [{ taskId: 'h', nodeId: 'b' }], unplaceable: [{ taskId: 'g', err: 'insufficient resources on 1 node' }] };
  assert.deepEqual(schedulePass({ nodes, tasks }), want);
  assert.deepEqual(referenceSchedulePass({ nodes, tasks }), want);
});

test('PENDING tasks no longer wanted are ignored; tasks leaving RUNNING release resources', () => {
  const nodes = [makeNode({ id: 'a', nanoCpus: 1e9 })];
  const tasks = [
    makeTask({ id: 'stale', serviceId: 'web', desired: TaskState.SHUTDOWN }),
    makeTask({ id: 'done', serviceId: 'web', nodeId: 'a', state: TaskState.FAILED, spec: makeSpec({ nanoCpus: 1e9 }) }),
    makeTask({ id: 'new', serviceId: 'web', spec: makeSpec({ nanoCpus: 1e9 }) }),
  ];
  const want = { assignments: [{ taskId: 'new', nodeId: 'a' }], unplaceable: [] };
  assert.deepEqual(schedulePass({ nodes, tasks }), want);
  assert.deepEqual(referenceSchedulePass({ nodes, tasks }), want);
});

test('upsertNode rewrites a row and removeNode frees it for the next node', () => {
  const t = new NodeTable({ initialCapacity: 16 });
  t.upsertNode(makeNode({ id: 'a', nanoCpus: 1e9 }), []);
  t.upsertNode(makeNode({ id: 'b', nanoCpus: 1e9 }), [makeTask({ id: 'x', serviceId: 's', nodeId: 'b', state: TaskState.RUNNING, spec: makeSpec({ nanoCpus: 1e9 }) })]);
  const spec = makeSpec({ nanoCpus: 1e9 });
  let out = t.schedulePass([makeTask({ id: 't1', serviceId: 'web', spec }), makeTask({ id: 't2', serviceId: 'web', spec })]);
  assert.deepEqual(out.assignments, [{ taskId: 't1', nodeId: 'a' }]);
  assert.equal(out.unplaceable[0]!.err, 'no suitable node (insufficient resources on 2 nodes)');
  // The task on b stops: rewriting b's row frees its CPU.
  t.upsertNode(makeNode({ id: 'b', nanoCpus: 1e9 }), []);
  t.removeNode('a');
  t.upsertNode(makeNode({ id: 'c', nanoCpus: 1e9 }), []);
  assert.deepEqual(t.nodeOrder(), ['c', 'b']);
  out = t.schedulePass([makeTask({ id: 't3', serviceId: 'web', spec }), makeTask({ id: 't4', serviceId: 'web', spec })]);
  assert.deepEqual(out.assignments, [{ taskId: 't3', nodeId: 'c' }, { taskId: 't4', nodeId: 'b' }]);
});

test('evaluate reports the first failing filter of every node without accounting', () => {
  const t = new NodeTable();
  t.upsertNode(makeNode({ id: 'a' }), []);
  t.upsertNode(makeNode({ id: 'b', state: NodeStatusState.DOWN }), []);
  t.upsertNode(makeNode({ id: 'c', labels: { zone: 'z' } }), []);
  const ev = t.evaluate(makeTask({ id: 'q', serviceId: 'web', spec: makeSpec({ constraints: ['node.labels.zone == z'] }) }));
  assert.deepEqual(ev, { nodeIds: ['a', 'b', 'c'], codes: [4, 1, 0], feasible: 1 });
});

test('rows stay intact while the table grows its memory, columns and string table', () => {
  const t = new NodeTable({ initialCapacity: 16 });
  const nodes: Node[] = [];
  for (let i = 0; i < 600; i++) {
    const labels: Record<string, string> = { [`k${i % 40}`]: `value-${i}`, zone: `z${i % 7}` };
    const n = makeNode({ id: `node-${i}`, hostname: `host-${i}`, labels, generic: { [`kind${i % 9}`]: 2 } });
    nodes.push(n);
    t.upsertNode(n, []);
  }
  const probe = makeTask({ id: 'p', serviceId: 's', spec: makeSpec({ constraints: ['node.labels.k39 == VALUE-599', 'node.hostname != host-1'], generic: { kind5: 1 } }) });
  const ev = t.evaluate(probe);
  const ref = new ReferenceScheduler(nodes, []).evaluate(probe);
  assert.deepEqual(ev, ref);
  assert.equal(ev.feasible, 1);
  assert.equal(ev.nodeIds[ev.codes.indexOf(0)], 'node-599');
});
