// Swapping the restart policy while a failing service is being restarted, on the leader orchestration over a
// local store with SimTimers: decisions before the swap follow the old policy, after it the new one, and the
// restart that was pending at the swap is kept and fires at its original time.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { RealTimers } from '../../../src/host/env/index.js';
import { TaskState } from '../../../src/host/api/index.js';
import { PluginHost, listPlugins } from '../../../src/host/plugins/index.js';
import { World, serviceObj, taskSpec } from '../orchestration/harness.js';
import { Scratch, fixedDelayPolicy } from './helpers.js';

const realTimers = new RealTimers();
const p = new Scratch();
after(() => {
  p.remove();
  realTimers.clearAll();
});

type Decision = { policy: string; taskId: string; delayMs: number };
const decisions = (): Decision[] => ((globalThis as { __policyDecisions?: Decision[] }).__policyDecisions ??= []);

test('a restart-policy swap mid-restart: old decisions old policy, new ones new policy, pending restart kept', async () => {
  decisions().length = 0;
  p.write('policy.ts', fixedDelayPolicy('v1', 1_000));
  const host = await PluginHost.start({ configFile: p.config(`{ restartPolicy: { module: './policy.ts' } }`), timers: realTimers });
  decisions().length = 0; // the conformance fixtures went through decide too
  const w = new World({ plugins: host.orchestrationPlugins() });
  try {
    await w.addNode('n1');
    w.agent.shouldFail = () => true;
    w.start();
    await w.createService(serviceObj('web', { replicas: 1, spec: taskSpec({ restart: { delayMs: 5_000 } }) }));
    const sup = w.leader.restartSupervisor;
    await w.until(() => decisions().length === 2 && sup.pendingStarts().length === 1, 30_000, 'two v1 decisions, one restart pending');
    const pending = sup.pendingStarts();
    const swapAt = w.timers.now();
    assert.equal(pending[0]!.notBeforeMs - swapAt <= 1_000, true, 'the pending start was armed by v1 (1 s delay)');

    p.write('policy.ts', fixedDelayPolicy('v2', 3_000));
    const n = decisions().length;
    const r = await host.reload();
    decisions().length = n; // drop v2's conformance-fixture decisions
    assert.equal(r.slots.find((s) => s.slot === 'restartPolicy')?.outcome, 'activated');
    assert.deepEqual(sup.pendingStarts(), pending, 'the pending restart survives the swap unchanged');
    assert.deepEqual(listPlugins(host).plugins.filter((x) => x.slot === 'restartPolicy').map((x) => [x.name, x.state]), [
      ['v2', 'active'],
      ['v1', 'retired'],
    ]);

    // The pending replacement is started at v1's time, not re-decided.
    const id = pending[0]!.taskId;
    await w.until(() => (w.tasks('web').find((t) => t.id === id)?.desiredState ?? 0) >= TaskState.RUNNING, 5_000, 'pending start fires');
    assert.ok(w.timers.now() >= pending[0]!.notBeforeMs && w.timers.now() <= pending[0]!.notBeforeMs + 20);

    const before = decisions().length;
    await w.until(() => decisions().length >= before + 2, 60_000, 'two decisions after the swap');
    const all = decisions();
    assert.deepEqual(all.slice(0, 2).map((d) => d.policy), ['v1', 'v1']);
    assert.ok(all.slice(before).every((d) => d.policy === 'v2'), 'every decision after the swap is v2');
    // And v2's delay is what the supervisor armed.
    await w.until(() => sup.pendingStarts().length === 1 && decisions().length === before + 3, 60_000, 'a third v2 decision');
    assert.equal(sup.pendingStarts()[0]!.notBeforeMs - w.timers.now(), 3_000);
  } finally {
    await w.stop();
    await host.close();
  }
});
