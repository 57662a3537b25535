import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SeededRng, SimFs, SimulatedCrashError } from '../../../src/host/env/index.js';
import { DataLossError } from '../../../src/host/api/errors.js';
import { SnapshotStore, snapshotFileName } from '../../../src/host/raft/snapshot-store.js';
import type { Snapshot } from '../../../src/host/raft/types.js';
import { RecordingLogger, fsKinds, makeFsEnv } from './helpers.js';

function snap(index: number, term: number, bytes = 1000): Snapshot {
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) data[i] = (index + i * 13) & 0xff;
  return { metadata: { index, term, conf: { voters: ['a1', 'b2', 'c3'], removed: ['d4'] } }, data };
}

for (const kind of fsKinds) {
  test(`${kind}: a saved snapshot loads back whole, and only the newest keepOld + 1 files are kept`, async () => {
    const env = await makeFsEnv(kind);
    try {
      const dir = join(env.dir, 'snap');
      const store = await SnapshotStore.open(env.fs, dir, {}, new RecordingLogger());
      assert.equal(await store.loadLatest(), undefined);
      await store.save(snap(100, 2));
      assert.deepEqual(await store.loadLatest(), snap(100, 2));
      await store.save(snap(200, 3, 0));
      assert.deepEqual(await store.names(), [snapshotFileName(3, 200)]);
      assert.deepEqual(await env.fs.readdir(dir), [snapshotFileName(3, 200)]);
      assert.deepEqual(await store.loadLatest(), snap(200, 3, 0));

      const keep1 = await SnapshotStore.open(env.fs, dir, { keepOld: 1 }, new RecordingLogger());
      await keep1.save(snap(300, 3));
      await keep1.save(snap(400, 4));
      assert.deepEqual(await keep1.names(), [snapshotFileName(4, 400), snapshotFileName(3, 300)]);
      assert.equal(snapshotFileName(4, 400), 'snap-0000000000000004-0000000000000190.snap');
    } finally {
      await env.cleanup();
    }
  });

  test(`${kind}: a corrupt newest snapshot falls back to the previous one with a warning`, async () => {
    const env = await makeFsEnv(kind);
    try {
      const dir = join(env.dir, 'snap');
      const store = await SnapshotStore.open(env.fs, dir, { keepOld: 1 }, new RecordingLogger());
      await store.save(snap(100, 2));
      await store.save(snap(200, 2));
      const newest = join(dir, snapshotFileName(2, 200));
      const bytes = await env.fs.readFile(newest);
      bytes[500]! ^= 1;
      await env.fs.writeFile(newest, bytes);
      const log = new RecordingLogger();
      const again = await SnapshotStore.open(env.fs, dir, { keepOld: 1 }, log);
      assert.deepEqual(await again.loadLatest(), snap(100, 2));
      assert.equal(log.warnings.length, 1);
      assert.match(log.warnings[0]!, new RegExp(`skipping unreadable snapshot ${newest}`));
    } finally {
      await env.cleanup();
    }
  });

  test(`${kind}: a corrupt only snapshot is DataLossError naming the file and offset`, async () => {
    const env = await makeFsEnv(kind);
    try {
      const dir = join(env.dir, 'snap');
      const store = await SnapshotStore.open(env.fs, dir, {}, new RecordingLogger());
      await store.save(snap(100, 2));
      const path = join(dir, snapshotFileName(2, 100));
      const bytes = await env.fs.readFile(path);
      await env.fs.writeFile(path, bytes.slice(0, bytes.length - 1));
      await assert.rejects(store.loadLatest(), (e: unknown) =>
        e instanceof DataLossError && e.message.includes(`${path} at byte offset 0`) && /short-payload/.test(e.message),
      );
      await env.fs.writeFile(path, Uint8Array.from([...bytes, 0]));
      await assert.rejects(store.loadLatest(), new RegExp(`${path} at byte offset ${bytes.length}: 1 bytes after`));
    } finally {
      await env.cleanup();
    }
  });
}

test('a crash at every step of a snapshot save leaves either the old snapshot or the new one, whole', async () => {
  // Count the mutating file operations of one save, then crash after each prefix of them.
  const probe = new SimFs();
  const s0 = await SnapshotStore.open(probe, '/raft/snap', {}, new RecordingLogger());
  await s0.save(snap(100, 1));
  const before = probe.mutatingOps;
  await s0.save(snap(200, 2));
  const steps = probe.mutatingOps - before;
  assert.ok(steps >= 6, `a save is several steps (${steps})`);

  const rng = new SeededRng(9);
  const outcomes = new Set<number>();
  for (let n = 0; n <= steps; n++) {
    for (let round = 0; round < 5; round++) {
      const fs = new SimFs();
      const store = await SnapshotStore.open(fs, '/raft/snap', {}, new RecordingLogger());
      await store.save(snap(100, 1));
      fs.crashAfter(n);
      let finished = true;
      try {
        await store.save(snap(200, 2));
      } catch (err) {
        if (!(err instanceof SimulatedCrashError)) throw err;
        finished = false;
      }
      fs.crash({ tornWrites: rng });
      const log = new RecordingLogger();
      const reopened = await SnapshotStore.open(fs, '/raft/snap', {}, log);
      const got = await reopened.loadLatest();
      assert.ok(got, `crash after ${n} steps: a snapshot survives`);
      if (finished) assert.deepEqual(got, snap(200, 2), 'an acknowledged save survives');
      else assert.ok([100, 200].includes(got.metadata.index));
      assert.deepEqual(got, snap(got.metadata.index, got.metadata.index / 100));
      assert.deepEqual(log.warnings, [], 'no partial file is ever visible under a snapshot name');
      assert.ok((await fs.readdir('/raft/snap')).every((n) => !n.endsWith('.tmp')), 'temp files are cleaned up');
      outcomes.add(got.metadata.index);
    }
  }
  assert.deepEqual([...outcomes].sort(), [100, 200]);
});
