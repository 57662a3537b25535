import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimFs } from '../../../src/host/env/index.js';
import { DataLossError } from '../../../src/host/api/errors.js';
import { openRaftStorage } from '../../../src/host/raft/raft-storage.js';
import { SnapshotStore, snapshotFileName } from '../../../src/host/raft/snapshot-store.js';
import { Wal } from '../../../src/host/raft/wal.js';
import type { Snapshot } from '../../../src/host/raft/types.js';
import { RecordingLogger, entries } from './helpers.js';

const dir = '/var/lib/swarmhost/raft';
const opts = { segmentSizeBytes: 4096 };
const hs = { term: 3, vote: 'a1', commit: 120 };

function snap(index: number, term = 1): Snapshot {
  return { metadata: { index, term, conf: { voters: ['a1'], removed: [] } }, data: new TextEncoder().encode(`state@${index}`) };
}

async function fill(fs: SimFs, keepOldSnapshots = 0) {
  const { storage } = await openRaftStorage(fs, dir, { ...opts, keepOldSnapshots }, new RecordingLogger());
  for (let i = 1; i <= 150; i += 10) await storage.save(i === 1 ? hs : undefined, entries(i, i + 9, 1));
  return storage;
}

test('raft storage restarts from the snapshot plus the entries after it, with the WAL released behind it', async () => {
  const fs = new SimFs();
  const storage = await fill(fs);
  const segmentsBefore = storage.segmentNames().length;
  await storage.saveSnapshot(snap(100));
  assert.ok(storage.segmentNames().length < segmentsBefore, 'segments behind the snapshot were released');
  await storage.close();
  const { storage: again, recovered } = await openRaftStorage(fs, dir, opts, new RecordingLogger());
  assert.deepEqual(recovered, { snapshot: snap(100), hardState: hs, entries: entries(101, 150, 1) });
  await again.close();
});

test('a crash between writing the snapshot file and its WAL marker still recovers a gap-free state', async () => {
  const fs = new SimFs();
  const storage = await fill(fs);
  await storage.close();
  const snaps = await SnapshotStore.open(fs, `${dir}/snap`, {}, new RecordingLogger());
  await snaps.save(snap(100));
  const { storage: again, recovered } = await openRaftStorage(fs, dir, opts, new RecordingLogger());
  assert.deepEqual(recovered.snapshot, snap(100));
  assert.deepEqual(recovered.entries, entries(101, 150, 1));
  await again.close();
});

test('a WAL snapshot marker without its snapshot file is DataLossError', async () => {
  const fs = new SimFs();
  const storage = await fill(fs);
  await storage.saveSnapshot(snap(100));
  await storage.close();
  await fs.unlink(`${dir}/snap/${snapshotFileName(1, 100)}`);
  await assert.rejects(openRaftStorage(fs, dir, opts, new RecordingLogger()), (e: unknown) =>
    e instanceof DataLossError && /records a snapshot at index 100 but no snapshot file exists/.test(e.message),
  );
});

test('with keepOldSnapshots 1 a corrupt newest snapshot falls back to the older one and its WAL entries', async () => {
  const fs = new SimFs();
  const storage = await fill(fs, 1);
  await storage.saveSnapshot(snap(50));
  await storage.saveSnapshot(snap(100));
  await storage.close();
  const newest = `${dir}/snap/${snapshotFileName(1, 100)}`;
  const bytes = await fs.readFile(newest);
  bytes[12]! ^= 0xff;
  await fs.writeFile(newest, bytes);
  const log = new RecordingLogger();
  const { storage: again, recovered } = await openRaftStorage(fs, dir, { ...opts, keepOldSnapshots: 1 }, log);
  assert.deepEqual(recovered.snapshot, snap(50));
  assert.deepEqual(recovered.entries, entries(51, 150, 1));
  assert.equal(log.warnings.length, 1);
  await again.close();
});

test('falling back to an older snapshot whose entries were released is DataLossError, not a silent gap', async () => {
  const fs = new SimFs();
  const storage = await fill(fs, 1);
  await storage.saveSnapshot(snap(50));
  await storage.close();
  // Release past the older snapshot behind the storage's back (as keepOldSnapshots 0 would).
  const snaps = await SnapshotStore.open(fs, `${dir}/snap`, { keepOld: 1 }, new RecordingLogger());
  await snaps.save(snap(140));
  const { wal } = await Wal.open(fs, `${dir}/wal`, opts, new RecordingLogger());
  await wal.saveSnapshotMarker(snap(140).metadata);
  await wal.releaseTo(140);
  await wal.close();
  await fs.writeFile(`${dir}/snap/${snapshotFileName(1, 140)}`, new Uint8Array(3));
  await assert.rejects(openRaftStorage(fs, dir, { ...opts, keepOldSnapshots: 1 }, new RecordingLogger()), (e: unknown) =>
    e instanceof DataLossError && /entries after snapshot index 50 are missing|entries in between are missing/.test(e.message),
  );
});
