// Plugin versions agreed across managers: the leader records its active manager-side versions in the cluster
// object; a new leader adopts the recorded versions it still holds loaded (same content hash) and warns, and
// shows the record in ListPlugins, when it does not. Local store + PluginHost with temporary plugin modules.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { RealTimers, SeededRng, SimTimers } from '../../../src/host/env/index.js';
import type { Cluster } from '../../../src/host/api/index.js';
import { createLocalStore, type Store } from '../../../src/host/store/index.js';
import { PluginHost, PluginSlot, PluginVersionRecorder, listPlugins } from '../../../src/host/plugins/index.js';
import { clusterObject } from '../controlapi/fixtures.js';
import { runSwarmctl } from '../../../src/host/cli/swarmctl.js';
import { Scratch, fixedDelayPolicy } from './helpers.js';

const timers = new RealTimers();
const p = new Scratch();
after(() => {
  p.remove();
  timers.clearAll();
});

function storeWithCluster(): Store {
  const rng = new SeededRng(3);
  const { store } = createLocalStore({ clock: timers, rng });
  void store.update((tx) => tx.create('clusters', clusterObject(rng)));
  return store;
}

const cluster = (s: Store): Readonly<Cluster> => s.view((tx) => tx.list('clusters')[0] as Cluster);

async function until(cond: () => boolean, what: string, limitMs = 10_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${limitMs} ms waiting for: ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

/** A manager's plugin host whose restart policy is `policy-<tag>.ts`, then (in order) each of `reloads`. */
async function managerHost(dir: string, first: string, reloads: string[] = [], log?: (l: string) => void): Promise<PluginHost> {
  const cfg = (tag: string): string => p.config(`{ restartPolicy: { module: './policy-${tag}.ts' } }`, `${dir}/plugins.config.ts`);
  for (const tag of [first, ...reloads]) p.write(`${dir}/policy-${tag}.ts`, fixedDelayPolicy(tag, 1_000));
  const host = await PluginHost.start({ configFile: cfg(first), timers, typeCheckConfig: false, ...(log ? { log } : {}) });
  for (const tag of reloads) {
    cfg(tag);
    const r = await host.reload();
    assert.equal(r.slots.find((s) => s.slot === 'restartPolicy')?.outcome, 'activated', `reload to ${tag}`);
  }
  return host;
}

test('a slot serves again a retired version by its content hash, and refuses an unknown one', () => {
  const sim = new SimTimers(0);
  const changes: string[] = [];
  const s = new PluginSlot<string>('restartPolicy', { clock: sim, onActiveChange: (slot) => changes.push(slot) });
  const a = s.addCandidate({ name: 'a', hash: 'aa'.repeat(32), source: 'x', loadedAtMs: 0, impl: 'A' });
  s.promote(a);
  const b = s.addCandidate({ name: 'b', hash: 'bb'.repeat(32), source: 'y', loadedAtMs: 0, impl: 'B' });
  s.promote(b);
  assert.equal(a.state, 'retired');
  assert.equal(s.reactivate('cc'.repeat(32)), false, 'never loaded');
  assert.equal(s.current, b);
  assert.equal(s.reactivate(a.hash), true);
  assert.equal(s.current, a);
  assert.equal(a.state, 'active');
  assert.equal(b.state, 'retired', 'the superseded version is kept for rollback');
  const lease = s.acquire();
  assert.equal(lease.impl, 'A', 'new work gets the reactivated implementation');
  lease.release();
  assert.equal(s.reactivate(a.hash), true, 'already active');
  assert.deepEqual(changes, ['restartPolicy', 'restartPolicy', 'restartPolicy']);
});

test('the leader records its active manager-side versions and rewrites the record when a reload changes one', async () => {
  const store = storeWithCluster();
  const host = await managerHost('m1', 'v1');
  const rec = new PluginVersionRecorder({ store, plugins: host });
  try {
    await rec.start();
    const pv = cluster(store).pluginVersions!;
    assert.deepEqual(Object.keys(pv).sort(), ['orchestrator.global', 'orchestrator.jobs', 'orchestrator.replicated', 'restartPolicy', 'strategy']);
    assert.equal(pv.restartPolicy!.name, 'v1');
    assert.equal(pv.restartPolicy!.version, host.slots.restartPolicy.current!.hash);
    assert.equal(pv.executor, undefined, 'the executor is agent-side: never recorded');
    const v1Hash = pv.restartPolicy!.version;

    p.config(`{ restartPolicy: { module: './policy-v2.ts' } }`, 'm1/plugins.config.ts');
    p.write('m1/policy-v2.ts', fixedDelayPolicy('v2', 2_000));
    await host.reload();
    await until(() => cluster(store).pluginVersions?.restartPolicy?.name === 'v2', 'record follows the reload');
    assert.notEqual(cluster(store).pluginVersions!.restartPolicy!.version, v1Hash);

    await rec.stop();
    host.slots.restartPolicy.rollback('test: back to v1');
    assert.equal(host.slots.restartPolicy.current!.name, 'v1');
    for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r)); // let any (wrong) write apply
    assert.equal(cluster(store).pluginVersions!.restartPolicy!.name, 'v2', 'a stopped recorder (not leader) no longer follows changes');
  } finally {
    await rec.stop();
    await host.close();
  }
});

test('a new leader that holds the recorded version loaded serves it again', async () => {
  const store = storeWithCluster();
  // Same module file and options on both managers: same content hash (the hash covers the bundled code).
  const old = await managerHost('m2', 'v1');
  const rec1 = new PluginVersionRecorder({ store, plugins: old });
  await rec1.start();
  await rec1.stop();
  const recorded = cluster(store).pluginVersions!.restartPolicy!;

  // The new leader loaded v1 earlier, then moved on to v2 (v1 is kept for rollback, same content hash).
  const lines: string[] = [];
  const next = await managerHost('m2', 'v1', ['v2'], (l) => lines.push(l));
  const rec2 = new PluginVersionRecorder({ store, plugins: next });
  try {
    assert.equal(next.slots.restartPolicy.current!.name, 'v2');
    await rec2.start();
    assert.equal(next.slots.restartPolicy.current!.hash, recorded.version, 'serves the recorded version');
    const r = rec2.lastAdopt!.slots.find((s) => s.slot === 'restartPolicy')!;
    assert.equal(r.outcome, 'activated');
    assert.equal(rec2.lastAdopt!.slots.filter((s) => s.slot !== 'restartPolicy').every((s) => s.outcome === 'same'), true, 'built-ins match');
    assert.equal(lines.some((l) => l.includes('WARNING')), false);
    const row = listPlugins(next).plugins.find((x) => x.slot === 'restartPolicy' && x.state === 'active')!;
    assert.equal(row.recorded, `v1@${recorded.version.slice(0, 12)}`);
    assert.equal(`${row.name}@${row.version}`, row.recorded);
    assert.equal(cluster(store).pluginVersions!.restartPolicy!.version, recorded.version, 'record unchanged');
  } finally {
    await rec2.stop();
    await old.close();
    await next.close();
  }
});

test('a new leader without the recorded version warns, keeps its own, shows the record in ListPlugins and records its own', async () => {
  const store = storeWithCluster();
  const old = await managerHost('m3a', 'v1');
  const rec1 = new PluginVersionRecorder({ store, plugins: old });
  await rec1.start();
  await rec1.stop();
  const recorded = cluster(store).pluginVersions!.restartPolicy!;

  const lines: string[] = [];
  const next = await managerHost('m3b', 'v9', [], (l) => lines.push(l));
  const rec2 = new PluginVersionRecorder({ store, plugins: next });
  try {
    await rec2.start();
    assert.equal(next.slots.restartPolicy.current!.name, 'v9', 'keeps serving its own version');
    assert.equal(rec2.lastAdopt!.slots.find((s) => s.slot === 'restartPolicy')!.outcome, 'mismatch');
    const warning = lines.find((l) => l.includes('WARNING'));
    assert.ok(warning, 'a warning is logged');
    assert.match(warning, /restartPolicy/);
    assert.match(warning, new RegExp(`v1@${recorded.version.slice(0, 12)}`));
    const row = listPlugins(next).plugins.find((x) => x.slot === 'restartPolicy' && x.state === 'active')!;
    assert.equal(row.recorded, `v1@${recorded.version.slice(0, 12)}`);
    assert.notEqual(`${row.name}@${row.version}`, row.recorded, 'the mismatch is visible');
    assert.equal(cluster(store).pluginVersions!.restartPolicy!.name, 'v9', 'the store tells what the leader serves now');

    // swarmctl plugin ls shows a Recorded column, filled on the mismatching row only.
    let out = '';
    const code = await runSwarmctl(['plugin', 'ls'], {
      out: (x) => (out += x),
      err: () => {},
      now: () => Date.now(),
      env: {},
      connect: () => ({ call: async (m: string) => JSON.parse(JSON.stringify(m === 'ListPlugins' ? listPlugins(next) : {})) as unknown, close: () => {} }),
      readStdin: async () => '',
      readFile: () => '',
    });
    assert.equal(code, 0);
    const lines2 = out.trim().split('\n');
    assert.match(lines2[0]!, /Recorded$/);
    const withRecord = lines2.filter((l) => l.includes(`v1@${recorded.version.slice(0, 12)}`));
    assert.equal(withRecord.length, 1);
    assert.match(withRecord[0]!, /^restartPolicy\s+v9\s/);
  } finally {
    await rec2.stop();
    await old.close();
    await next.close();
  }
});
