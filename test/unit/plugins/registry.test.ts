// The registry's version lifecycle: pinning by lease, draining, disposal, retention for rollback, automatic
// rollback after repeated failures within the window.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimTimers } from '../../../src/host/env/index.js';
import { PluginSlot, type PluginVersion } from '../../../src/host/plugins/index.js';

function slot(timers = new SimTimers(0)) {
  const disposed: string[] = [];
  const s = new PluginSlot<string>('restartPolicy', { clock: timers, failureThreshold: 3, failureWindowMs: 1_000 });
  const add = (name: string): PluginVersion<string> => {
    const v = s.addCandidate({ name, hash: name.padEnd(12, '0'), source: name, loadedAtMs: timers.now(), impl: name });
    v.dispose = async () => {
      disposed.push(name);
    };
    return v;
  };
  return { s, add, disposed, timers };
}

const flush = () => new Promise<void>((r) => setImmediate(r));

test('a lease keeps using its version across a swap; the old version drains, then is kept for rollback', async () => {
  const { s, add, disposed } = slot();
  s.promote(add('a'));
  const lease = s.acquire();
  s.promote(add('b'));
  assert.equal(lease.impl, 'a', 'work started on a stays on a');
  const onB = s.acquire();
  assert.equal(onB.impl, 'b', 'new work gets b');
  onB.release();
  assert.deepEqual(s.versions().map((v) => [v.name, v.state]), [['b', 'active'], ['a', 'draining']]);
  lease.release();
  assert.equal(s.versions()[1]!.state, 'retired');
  s.promote(add('c'));
  await flush();
  assert.deepEqual(disposed, ['a'], 'a is disposed once it is no longer the rollback target');
  assert.deepEqual(s.versions().map((v) => [v.name, v.state]), [['c', 'active'], ['b', 'retired'], ['a', 'disposed']]);
});

test('failures over the threshold within the window roll back to the previous version', async () => {
  const { s, add, timers } = slot();
  s.promote(add('good'));
  const bad = add('bad');
  s.promote(bad);
  assert.equal(s.reportFailure(bad, 'e1'), false);
  timers.advance(2_000); // e1 leaves the window
  assert.equal(s.reportFailure(bad, 'e2'), false);
  assert.equal(s.reportFailure(bad, 'e3'), false);
  assert.equal(s.current?.name, 'bad');
  assert.equal(s.reportFailure(bad, 'e4'), true);
  assert.equal(s.current?.name, 'good');
  assert.equal(bad.state, 'failed');
  assert.match(bad.lastError ?? '', /rolled back: 3 failures within 1000 ms, last: e4/);
});

test('a rollback with no previous version leaves the slot empty (callers use their built-in)', () => {
  const { s, add } = slot();
  const only = add('only');
  s.promote(only);
  s.rollback('broken');
  assert.equal(s.current, undefined);
  assert.throws(() => s.acquire(), /no active version/);
});

test('a refused candidate never becomes active', () => {
  const { s, add } = slot();
  s.promote(add('a'));
  const c = add('c');
  s.fail(c, 'init threw');
  assert.equal(s.current?.name, 'a');
  assert.throws(() => s.promote(c), /only a candidate can be promoted/);
});
