/** Recent-failure tracking over an injected clock: 5-minute window, per node and service version. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FAILURE_WINDOW_MS, FailureTracker } from '../../../src/host/scheduler/failures.js';

test('counts failures of a service version per node inside the 5-minute window only', () => {
  const clock = { t: 10_000_000, now() { return this.t; } };
  const f = new FailureTracker(clock);
  f.record('n1', 'web', 3);
  clock.t += 1000;
  f.record('n1', 'web', 3);
  f.record('n1', 'web', 4);
  f.record('n2', 'web', 3);
  assert.equal(f.count('n1', 'web', 3), 2);
  assert.equal(f.count('n1', 'web', 4), 1);
  assert.equal(f.count('n3', 'web', 3), 0);
  assert.deepEqual([...f.nodesWith('web', 3)].sort(), [['n1', 2], ['n2', 1]]);
  // The first failure leaves the window exactly FAILURE_WINDOW_MS after it happened.
  clock.t += FAILURE_WINDOW_MS - 1000;
  assert.equal(f.count('n1', 'web', 3), 1);
  clock.t += 1000;
  assert.equal(f.count('n1', 'web', 3), 0);
  assert.deepEqual([...f.nodesWith('web', 3)], []);
});

test('forgetting a node drops its failures', () => {
  const clock = { now: () => 0 };
  const f = new FailureTracker(clock);
  f.record('n1', 'web', 0);
  f.forgetNode('n1');
  assert.equal(f.count('n1', 'web', 0), 0);
});
