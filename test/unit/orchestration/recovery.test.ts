import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TaskState, UpdateFailureAction, UpdateOrder, UpdateState } from '../../../src/host/api/index.js';
import { World, serviceObj, taskSpec } from './harness.js';

test('a failing update with failure action ROLLBACK rolls the service back to its previous spec', async () => {
  const w = new World();
  for (const id of ['n1', 'n2']) await w.addNode(id);
  w.agent.shouldFail = (t) => t.spec.container.image === 'broken:1';
  w.start();
  const update = { parallelism: 1, delayMs: 0, failureAction: UpdateFailureAction.ROLLBACK, monitorMs: 1_000, maxFailureRatio: 0, order: UpdateOrder.STOP_FIRST };
  const svc = serviceObj('web', { replicas: 4, update });
  svc.spec.rollback = { ...update, failureAction: UpdateFailureAction.PAUSE };
  await w.createService(svc);
  await w.until(() => w.running('web').length === 4, 5_000, '4 running');
  await w.updateService('web', (s) => (s.spec.task.container.image = 'broken:1'));
  await w.until(() => w.service('web')?.updateStatus?.state === UpdateState.ROLLBACK_COMPLETED, 60_000, 'rollback completed');
  const s = w.service('web')!;
  assert.equal(s.spec.task.container.image, 'busybox:1');
  assert.equal(s.updateStatus!.message, 'rollback completed');
  await w.until(() => w.running('web').length === 4, 10_000, '4 running again');
  for (const t of w.running('web')) assert.equal(t.spec.container.image, 'busybox:1');
  await w.stop();
});

test('a delayed restart pending at a leader change is re-armed by the next start with its remaining delay', async () => {
  const w = new World();
  await w.addNode('n1');
  let fail = true;
  w.agent.shouldFail = () => fail;
  w.start();
  await w.createService(serviceObj('web', { replicas: 1, spec: taskSpec({ restart: { delayMs: 4_000 } }) }));
  await w.until(() => w.tasks('web').some((t) => t.desiredState === TaskState.READY), 5_000, 'replacement waiting');
  const armedAt = w.timers.now();
  fail = false;
  await w.advance(1_000);
  await w.leader.stop();
  await w.advance(1_000);
  w.leader.start();
  await w.until(() => w.running('web').length === 1, 10_000, 'replacement running');
  const waited = w.timers.now() - armedAt;
  assert.ok(waited >= 3_900 && waited < 5_000, `the replacement started after the policy delay, not from scratch (${waited} ms)`);
  await w.stop();
});

test('a watcher overflow resynchronises from a full read and still converges', async () => {
  const w = new World({ watchBufferEvents: 8 });
  for (const id of ['n1', 'n2', 'n3']) await w.addNode(id);
  w.start();
  await w.createService(serviceObj('web', { replicas: 30 }));
  await w.until(() => w.running('web').length === 30, 10_000, '30 running');
  assert.ok(w.leader.stats.resyncs >= 1, 'the small buffer overflowed at least once');
  assert.deepEqual(w.spread('web'), { n1: 10, n2: 10, n3: 10 });
  await w.stop();
});
