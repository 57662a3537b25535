import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RestartCondition, TaskState, type Service } from '../../../src/host/api/index.js';
import { builtinOrchestrators, replicatedOrchestrator, type OrchestratorPlugin } from '../../../src/plugins/orchestrators/index.js';
import type { RestartPolicyPlugin } from '../../../src/plugins/contracts.js';
import { World, serviceObj, taskSpec } from './harness.js';

test('orchestrator and restart-policy plugins passed at construction are the ones used', async () => {
  const seen: string[] = [];
  const recording: OrchestratorPlugin = {
    ...replicatedOrchestrator,
    name: 'recording',
    reconcile: (input, caps) => {
      seen.push(input.serviceId);
      return replicatedOrchestrator.reconcile(input, caps);
    },
  };
  const decisions: string[] = [];
  const never: RestartPolicyPlugin = {
    name: 'never',
    version: '1',
    decide: (i) => {
      decisions.push(i.task.id);
      return { restart: false, reason: 'policy plugin says no' };
    },
  };
  const w = new World({ plugins: { orchestrators: [recording, ...builtinOrchestrators.slice(1)], restartPolicy: never } });
  await w.addNode('n1');
  w.agent.shouldFail = () => true;
  w.start();
  await w.createService(serviceObj('web', { replicas: 1, spec: taskSpec({ restart: { condition: RestartCondition.ANY, delayMs: 0 } }) }));
  await w.until(() => w.tasks('web').some((t) => t.status.state === TaskState.FAILED), 5_000, 'failed');
  await w.advance(1_000);
  assert.ok(seen.includes('web'), 'the recording orchestrator reconciled the service');
  assert.equal(decisions.length, 1, 'the plugin policy decided the one restart');
  assert.equal(w.tasks('web').length, 1, 'and its "no" was obeyed: no replacement');
  await w.stop();
});

test('a plan whose service changed underneath is re-run ("update out of sequence")', async () => {
  let w!: World;
  let bumped = false;
  const meddling: OrchestratorPlugin = {
    ...replicatedOrchestrator,
    reconcile: (input, caps) => {
      if (!bumped && input.service) {
        bumped = true;
        // Another writer (the control API) changes the service before this plan is applied.
        void w.store.update((tx) => {
          const s = structuredClone(tx.get('services', 'web')) as Service;
          s.spec.mode = { replicated: { replicas: 4 } };
          tx.update('services', s);
        });
      }
      return replicatedOrchestrator.reconcile(input, caps);
    },
  };
  w = new World({ plugins: { orchestrators: [meddling, ...builtinOrchestrators.slice(1)] } });
  await w.addNode('n1');
  w.start();
  await w.createService(serviceObj('web', { replicas: 2 }));
  await w.until(() => w.running('web').length === 4, 5_000, '4 running');
  assert.ok(w.leader.stats.outOfSequence >= 1, 'the stale plan was refused');
  await w.advance(1_000);
  assert.equal(w.tasks('web').length, 4, 'no stale plan created extra tasks');
  await w.stop();
});
