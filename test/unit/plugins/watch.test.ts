// The watcher: a change to a plugin module named by the config (or to the config) becomes a new version
// serving, without an explicit reload; a burst of writes gives one reload.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { RealTimers } from '../../../src/host/env/index.js';
import { PluginHost, inspectPlugin } from '../../../src/host/plugins/index.js';
import { Scratch, fixedDelayPolicy } from './helpers.js';

const timers = new RealTimers();
const p = new Scratch();
after(() => {
  p.remove();
  timers.clearAll();
});

async function eventually(cond: () => boolean, deadlineMs: number, what: string): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`not within ${deadlineMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('editing a watched plugin module (and a file it imports) loads and activates a new version', async () => {
  p.write('delay.ts', 'export const DELAY_MS = 100;\n');
  p.write('policy.ts', fixedDelayPolicy('watched', 100));
  const lines: string[] = [];
  const h = await PluginHost.start({ configFile: p.config(`{ restartPolicy: { module: './policy.ts' }, watchDebounceMs: 50 }`), timers, log: (l) => lines.push(l) });
  try {
    h.watch();
    const v1 = inspectPlugin(h, { slot: 'restartPolicy' }).active!.version;
    // A burst of three writes: one reload after the debounce.
    for (const d of [200, 300, 400]) p.write('policy.ts', fixedDelayPolicy('watched', d));
    await eventually(() => inspectPlugin(h, { slot: 'restartPolicy' }).active!.version !== v1, 5_000, 'a new version from the module change');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(lines.filter((l) => l.startsWith('plugins: reload after a file change')).length, 1, 'one reload for the burst');
    // A dependency of the module is watched too.
    p.write('policy.ts', `import { DELAY_MS } from './delay.js';\n` + fixedDelayPolicy('watched', 0).replace('delayMs: 0, waitForOldTask', 'delayMs: DELAY_MS, waitForOldTask'));
    await eventually(() => lines.filter((l) => l.startsWith('plugins: reload after a file change')).length === 2, 5_000, 'reload after the import was added');
    const v3 = inspectPlugin(h, { slot: 'restartPolicy' }).active!.version;
    p.write('delay.ts', 'export const DELAY_MS = 250;\n');
    await eventually(() => inspectPlugin(h, { slot: 'restartPolicy' }).active!.version !== v3, 5_000, 'a new version from the dependency change');
  } finally {
    await h.close();
  }
});
