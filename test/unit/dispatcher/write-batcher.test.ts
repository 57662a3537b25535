import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UnavailableError } from '../../../src/host/api/errors.js';
import { TaskState } from '../../../src/host/api/objects.js';
import { SeededRng, SimTimers } from '../../../src/host/env/index.js';
import { createLocalStore } from '../../../src/host/store/index.js';
import { WriteBatcher } from '../../../src/host/dispatcher/index.js';
import { makeTask } from '../../support/tasks.js';
import { RecordingLogger, advance, settle } from './fixtures.js';

test('a task status whose write failed is written again on a later flush, not dropped', async () => {
  // Found by the orchestration simulation: during a leadership transfer the status batch was refused and the
  // RUNNING report was lost; the agent does not resend it within a session, so the task stayed STARTING.
  const timers = new SimTimers();
  const { store, proposer } = createLocalStore({ clock: timers, rng: new SeededRng(3) });
  const t = makeTask({}, { nodeId: 'n1', status: { timestamp: 1, state: TaskState.STARTING, message: 'starting', err: '', appliedBy: '', appliedAt: 0 } });
  await store.update((tx) => tx.create('tasks', t));
  let refusing = 3;
  store.setProposer({ propose: (d) => (refusing-- > 0 ? Promise.reject(new UnavailableError('raft: leadership transfer in progress')) : proposer.propose(d)) });
  const logger = new RecordingLogger();
  const w = new WriteBatcher({ store, timers, logger, intervalMs: 100, maxItems: 10_000 });
  w.queueTaskStatus(t.id, 'n1', { timestamp: 2, state: TaskState.RUNNING, message: 'started', err: '', appliedBy: '', appliedAt: 0 });
  await advance(timers, 1_000, 50);
  await settle();
  assert.equal(store.view((tx) => tx.get('tasks', t.id))!.status.state, TaskState.RUNNING);
  assert.ok(logger.entries.filter((e) => e.msg.startsWith('dispatcher: task status write failed')).length >= 1);
  assert.ok(w.batchesWritten >= 2, `batches ${w.batchesWritten}`);
  w.stop(new Error('done'));
});
