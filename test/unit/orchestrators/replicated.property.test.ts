// Property: whatever the mix of task states, nodes and replicas, applying one replicated reconcile leaves exactly
// `replicas` occupied slots (restart requests keep their slot), never two creations in one slot, and never a
// creation in a slot that is still occupied.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { NodeAvailability, NodeStatusState, TaskState, type Task } from '../../../src/host/api/index.js';
import { reconcileReplicated } from '../../../src/plugins/orchestrators/index.js';
import { idGen, node, nodesById, service, task } from './fixtures.js';

const states = [TaskState.PENDING, TaskState.ASSIGNED, TaskState.RUNNING, TaskState.COMPLETE, TaskState.FAILED, TaskState.SHUTDOWN];
const desired = [TaskState.READY, TaskState.RUNNING, TaskState.RUNNING, TaskState.SHUTDOWN, TaskState.REMOVE];
const nodeIds = ['', 'n1', 'n2', 'down', 'drain'];

test('one replicated reconcile always converges the number of occupied slots to replicas', () => {
  const nodes = nodesById(node('n1'), node('n2'), node('down', { state: NodeStatusState.DOWN }), node('drain', { availability: NodeAvailability.DRAIN }));
  const arbTask = fc.record({
    slot: fc.integer({ min: 1, max: 12 }),
    state: fc.constantFrom(...states),
    desired: fc.constantFrom(...desired),
    nodeId: fc.constantFrom(...nodeIds),
    createdAt: fc.integer({ min: 0, max: 100 }),
  });
  fc.assert(
    fc.property(fc.array(arbTask, { maxLength: 20 }), fc.integer({ min: 0, max: 10 }), (specs, replicas) => {
      const svc = service({ replicas });
      const tasks: Task[] = specs.map((s, i) => task({ id: `t${i}`, svc, ...s, nodeId: s.state < TaskState.ASSIGNED ? '' : s.nodeId }));
      const plan = reconcileReplicated({ serviceId: svc.id, service: svc, tasks, nodes, nowMs: 0 }, { newId: idGen('c') });
      const removed = new Set(plan.setDesired.filter((c) => c.desiredState === TaskState.REMOVE).map((c) => c.taskId));
      const deleted = new Set(plan.remove);
      const occupied = new Set<number>();
      for (const t of tasks) if (t.desiredState <= TaskState.RUNNING && !removed.has(t.id) && !deleted.has(t.id)) occupied.add(t.slot);
      const createdSlots = plan.create.map((t) => t.slot);
      assert.equal(new Set(createdSlots).size, createdSlots.length, 'two creations in one slot');
      for (const s of createdSlots) assert.ok(!occupied.has(s), `created in occupied slot ${s}`);
      // Held slots (stopped, not restartable: none here since the policy is ANY) would count; every live slot counts.
      assert.equal(occupied.size + createdSlots.length, replicas);
      for (const r of plan.restart) assert.ok(!removed.has(r.taskId));
    }),
    { seed: 20261126, numRuns: 300 },
  );
});
