// The executor slot through the plugin host: a changed executor module on reload is swapped in by recovering
// every running task (pids unchanged); a version whose recover fails is refused, visible in ListPlugins, and
// the old version keeps every task.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RealTimers } from '../../src/host/env/index.js';
import type { Controller, ExitResult } from '../../src/host/agent/executor.js';
import { PluginHost, listPlugins } from '../../src/host/plugins/index.js';
import { makeTask } from '../support/tasks.js';
import { ROOT, Scratch } from '../unit/plugins/helpers.js';

const timers = new RealTimers();
const p = new Scratch();
const stateDir = await mkdtemp(join(tmpdir(), 'plugins-exec-reload-'));
const started: Controller[] = [];
after(async () => {
  for (const c of started) await c.terminate().catch(() => undefined);
  timers.clearAll();
  p.remove();
  await rm(stateDir, { recursive: true, force: true });
});

const builtin = JSON.stringify(join(ROOT, 'src/plugins/executors/plugin.ts'));
/** An executor module wrapping the built-in process executor; `recoverBody` replaces recover when given. */
function wrapper(tag: string, recoverBody?: string): string {
  return `import builtin from ${builtin};
import { definePlugin } from 'swarmhost/config';
export default definePlugin({ kind: 'executor', init(o, ctx) {
  ctx.log('executor wrapper ${tag}');
  const ex = builtin.init({ name: 'process' }, ctx);
  ${recoverBody ? `ex.recover = async () => { ${recoverBody} };` : ''}
  return ex;
} });
`;
}

test('an executor module changed on reload takes over running tasks by recover; a broken one is refused', async () => {
  p.write('exec.ts', wrapper('v1'));
  const h = await PluginHost.start({ configFile: p.config(`{ executor: { module: './exec.ts' } }`), timers });
  try {
    const ex = await h.attachAgent({ stateDir, nodeId: 'node-1' });
    const v1 = ex.version;
    const tasks: { c: Controller; pid: number; exit: Promise<ExitResult> }[] = [];
    for (let i = 0; i < 3; i++) {
      const c = ex.controller(makeTask({ command: ['sleep', '30'] }));
      await c.prepare();
      await c.start();
      started.push(c);
      tasks.push({ c, pid: (await c.inspect()).pid!, exit: c.wait() });
    }
    p.write('exec.ts', wrapper('v2'));
    const r = await h.reload();
    assert.equal(r.slots.find((s) => s.slot === 'executor')?.outcome, 'activated');
    assert.notEqual(ex.version, v1);
    for (const t of tasks) assert.equal((await t.c.inspect()).pid, t.pid);

    const v2 = ex.version;
    p.write('exec.ts', wrapper('v3', "throw new Error('lost track of it');"));
    const r3 = await h.reload();
    const slot = r3.slots.find((s) => s.slot === 'executor')!;
    assert.equal(slot.outcome, 'refused');
    assert.match(slot.error ?? '', /executor swap aborted: 3 running task\(s\) could not be recovered by the new version .*lost track of it/);
    assert.equal(ex.version, v2);
    const rows = listPlugins(h).plugins.filter((x) => x.slot === 'executor');
    assert.deepEqual(rows.map((x) => x.state), ['failed', 'active', 'retired']);
    for (const t of tasks) assert.equal((await t.c.inspect()).pid, t.pid);
    for (const t of tasks) await t.c.terminate();
    for (const t of tasks) assert.equal((await t.exit).exitCode, 137);
  } finally {
    await h.close();
  }
});
