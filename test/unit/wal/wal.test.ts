import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DataLossError, FailedPreconditionError, InvalidArgumentError } from '../../../src/host/api/errors.js';
import { Wal, segmentFileName } from '../../../src/host/raft/wal.js';
import { EntryType } from '../../../src/host/raft/types.js';
import { RecordingLogger, entries, entry, fsKinds, makeFsEnv, type FsEnv } from './helpers.js';

const hs = (term: number, commit: number, vote = 'a1') => ({ term, commit, vote });
const meta = (index: number, term: number) => ({ index, term, conf: { voters: ['a1', 'b2'], removed: ['c3'] } });
const headerBytes = 9 + 17;
const entryRecordBytes = 9 + 17 + 64;

async function withEnv(kind: 'sim' | 'real', fn: (env: FsEnv) => Promise<void>): Promise<void> {
  const env = await makeFsEnv(kind);
  try {
    await fn(env);
  } finally {
    await env.cleanup();
  }
}

function flip(buf: Uint8Array, at: number): Uint8Array {
  const out = buf.slice();
  out[at]! ^= 0x40;
  return out;
}

for (const kind of fsKinds) {
  test(`${kind}: a fresh WAL recovers nothing, then returns exactly what was saved (entries, hard state, marker)`, async () => {
    await withEnv(kind, async ({ fs, dir }) => {
      const log = new RecordingLogger();
      const first = await Wal.open(fs, dir, {}, log);
      assert.deepEqual(first.recovered, { entries: [] });
      assert.deepEqual(first.wal.segmentNames(), [segmentFileName(0, 1)]);
      await first.wal.save(hs(1, 0), entries(1, 3, 1));
      await first.wal.save(hs(2, 3, ''), [entry(4, 2), { index: 5, term: 2, type: EntryType.ConfChange, data: new Uint8Array(0) }]);
      await first.wal.saveSnapshotMarker(meta(2, 1));
      await first.wal.save(undefined, [entry(6, 2, 1000)]);
      await first.wal.close();
      await assert.rejects(first.wal.save(undefined, [entry(7, 2)]), FailedPreconditionError);

      const { wal, recovered } = await Wal.open(fs, dir, {}, log);
      assert.deepEqual(recovered.hardState, hs(2, 3, ''));
      assert.deepEqual(recovered.snapshotMarker, meta(2, 1));
      assert.deepEqual(recovered.entries, [entry(3, 1), entry(4, 2), { index: 5, term: 2, type: EntryType.ConfChange, data: new Uint8Array(0) }, entry(6, 2, 1000)]);
      assert.deepEqual(log.warnings, []);
      await wal.close();
    });
  });

  test(`${kind}: an entry supersedes every earlier-written entry at its index or above (log truncation)`, async () => {
    await withEnv(kind, async ({ fs, dir }) => {
      const log = new RecordingLogger();
      const { wal } = await Wal.open(fs, dir, {}, log);
      await wal.save(hs(1, 0), entries(1, 10, 1));
      await wal.save(hs(2, 4), entries(6, 7, 2));
      await wal.save(undefined, entries(7, 8, 3));
      await wal.close();
      const r = await Wal.open(fs, dir, {}, log);
      assert.deepEqual(r.recovered.entries, [...entries(1, 5, 1), entry(6, 2), ...entries(7, 8, 3)]);
      await r.wal.save(undefined, entries(2, 2, 4));
      await r.wal.close();
      const r2 = await Wal.open(fs, dir, {}, log);
      assert.deepEqual(r2.recovered.entries, [entry(1, 1), entry(2, 4)]);
      await r2.wal.close();
    });
  });

  test(`${kind}: a snapshot marker with resetLog discards every entry above it, a plain marker keeps them`, async () => {
    await withEnv(kind, async ({ fs, dir }) => {
      const log = new RecordingLogger();
      const { wal } = await Wal.open(fs, dir, {}, log);
      await wal.save(hs(1, 0), entries(1, 10, 1));
      await wal.saveSnapshotMarker(meta(4, 1));
      await wal.close();
      const kept = await Wal.open(fs, dir, {}, log);
      assert.deepEqual(kept.recovered.entries, entries(5, 10, 1));
      // A snapshot received from a new leader at index 6 replaces the whole log: 7..10 were stale.
      await kept.wal.saveSnapshotMarker(meta(6, 3), { resetLog: true });
      await kept.wal.close();
      const reset = await Wal.open(fs, dir, {}, log);
      assert.deepEqual(reset.recovered.snapshotMarker, meta(6, 3));
      assert.deepEqual(reset.recovered.entries, []);
      await reset.wal.save(undefined, entries(7, 8, 3));
      await reset.wal.close();
      const after = await Wal.open(fs, dir, {}, log);
      assert.deepEqual(after.recovered.entries, entries(7, 8, 3));
      await after.wal.close();
    });
  });

  test(`${kind}: save refuses entries that would leave a gap, go non-consecutive or sit under the marker`, async () => {
    await withEnv(kind, async ({ fs, dir }) => {
      const { wal } = await Wal.open(fs, dir, {}, new RecordingLogger());
      await wal.save(undefined, entries(1, 3, 1));
      await assert.rejects(wal.save(undefined, [entry(5, 1)]), /entries\[0\]\.index must be <= lastIndex \+ 1 \(4\), got 5/);
      await assert.rejects(wal.save(undefined, [entry(4, 1), entry(6, 1)]), /entries\[1\]\.index must follow/);
      await assert.rejects(wal.save({ term: -1, commit: 0, vote: '' }, []), InvalidArgumentError);
      await wal.saveSnapshotMarker(meta(2, 1));
      await assert.rejects(wal.save(undefined, [entry(2, 1)]), /above the snapshot marker index 2/);
      await assert.rejects(wal.saveSnapshotMarker(meta(1, 1)), /must not go backwards/);
      await wal.save(undefined, [entry(3, 2)]);
      await wal.close();
    });
  });

  test(`${kind}: segments roll over at segmentSizeBytes and recovery reads them all in order`, async () => {
    await withEnv(kind, async ({ fs, dir }) => {
      const log = new RecordingLogger();
      const { wal } = await Wal.open(fs, dir, { segmentSizeBytes: 4096 }, log);
      await wal.save(hs(1, 0), []);
      for (let i = 1; i <= 200; i += 10) await wal.save(undefined, entries(i, i + 9, 1));
      await wal.save(hs(2, 150), entries(150, 160, 2));
      const names = wal.segmentNames();
      assert.ok(names.length >= 4, `expected several segments, got ${names.join(' ')}`);
      assert.deepEqual(await fs.readdir(dir), names);
      const parsed = names.map((n) => n.slice(0, -4).split('-').map((h) => parseInt(h, 16)));
      parsed.forEach(([seq], i) => assert.equal(seq, i));
      // 26-byte header + 29-byte hard state + 900 bytes per save of 10: the 5th save crosses 4096 bytes, so
      // the 6th starts segment 1, named for index 51.
      assert.equal(parsed[1]![1], 51, 'a segment is named for the index after the last one written before it');
      for (const n of names.slice(0, -1)) assert.ok((await fs.size(join(dir, n)))! <= 4096 + 900 + 100);
      await wal.close();
      const r = await Wal.open(fs, dir, { segmentSizeBytes: 4096 }, log);
      assert.deepEqual(r.recovered.entries, [...entries(1, 149, 1), ...entries(150, 160, 2)]);
      assert.deepEqual(r.recovered.hardState, hs(2, 150));
      assert.deepEqual(log.warnings, []);
      await r.wal.close();
    });
  });

  test(`${kind}: releaseTo removes only the oldest segments whose every entry is at or below the index`, async () => {
    await withEnv(kind, async ({ fs, dir }) => {
      const log = new RecordingLogger();
      const { wal } = await Wal.open(fs, dir, { segmentSizeBytes: 4096 }, log);
      await wal.save(hs(1, 0), []);
      for (let i = 1; i <= 200; i += 10) await wal.save(undefined, entries(i, i + 9, 1));
      await assert.rejects(wal.releaseTo(100), /no snapshot marker covers/);
      await wal.saveSnapshotMarker(meta(105, 1));
      const before = wal.segmentNames();
      await wal.releaseTo(105);
      const after = wal.segmentNames();
      assert.deepEqual(await fs.readdir(dir), after);
      const firstIdx = (n: string) => parseInt(n.split('-')[1]!, 16);
      const removed = before.slice(0, before.length - after.length);
      assert.deepEqual(before.slice(removed.length), after, 'only a prefix goes');
      assert.ok(removed.length >= 1);
      // The last entry of a segment is the next segment's first index minus one.
      for (let i = 0; i < removed.length; i++) assert.ok(firstIdx(before[i + 1]!) - 1 <= 105);
      assert.ok(firstIdx(before[removed.length + 1]!) - 1 > 105, 'the first kept segment holds an entry above 105');
      await wal.close();

      const r = await Wal.open(fs, dir, { segmentSizeBytes: 4096 }, log);
      assert.deepEqual(r.recovered.snapshotMarker, meta(105, 1));
      assert.deepEqual(r.recovered.entries, entries(106, 200, 1));
      assert.deepEqual(r.recovered.hardState, hs(1, 0), 'the hard state written in a released segment was carried over');
      // Releasing everything up to the marker keeps the current segment and thus the state.
      await r.wal.saveSnapshotMarker(meta(200, 1));
      await r.wal.releaseTo(200);
      assert.equal(r.wal.segmentNames().length, 1);
      await r.wal.close();
      const r2 = await Wal.open(fs, dir, { segmentSizeBytes: 4096 }, log);
      assert.deepEqual(r2.recovered, { snapshotMarker: meta(200, 1), hardState: hs(1, 0), entries: [] });
      await r2.wal.save(undefined, [entry(201, 2)]);
      await r2.wal.close();
    });
  });

  test(`${kind}: a torn last record is truncated with a warning, at every possible cut inside it`, async () => {
    await withEnv(kind, async ({ fs, dir }) => {
      const { wal } = await Wal.open(fs, dir, {}, new RecordingLogger());
      await wal.save(hs(1, 2), entries(1, 5, 1));
      const seg = join(dir, wal.segmentNames()[0]!);
      const before = (await fs.size(seg))!;
      await wal.save(undefined, [entry(6, 1)]);
      const after = (await fs.size(seg))!;
      assert.equal(after - before, entryRecordBytes);
      await wal.close();
      const full = await fs.readFile(seg);
      for (let cut = before; cut < after; cut++) {
        await fs.writeFile(seg, full.slice(0, cut));
        const log = new RecordingLogger();
        const r = await Wal.open(fs, dir, {}, log);
        assert.deepEqual(r.recovered.entries, entries(1, 5, 1), `cut at ${cut}`);
        assert.deepEqual(r.recovered.hardState, hs(1, 2));
        assert.equal(log.warnings.length, cut === before ? 0 : 1, `cut at ${cut}: ${log.warnings.join('; ')}`);
        if (cut > before) assert.match(log.warnings[0]!, new RegExp(`torn tail of .*${wal.segmentNames()[0]} at byte offset ${before}`));
        assert.equal(await fs.size(seg), before);
        await r.wal.save(undefined, [entry(6, 2)]);
        await r.wal.close();
        const r2 = await Wal.open(fs, dir, {}, log);
        assert.deepEqual(r2.recovered.entries, [...entries(1, 5, 1), entry(6, 2)]);
        await r2.wal.close();
      }
    });
  });

  test(`${kind}: a bad CRC in the last record of the last segment is a torn tail, not an error`, async () => {
    await withEnv(kind, async ({ fs, dir }) => {
      const { wal } = await Wal.open(fs, dir, {}, new RecordingLogger());
      await wal.save(undefined, entries(1, 3, 1));
      const seg = join(dir, wal.segmentNames()[0]!);
      await wal.close();
      const full = await fs.readFile(seg);
      await fs.writeFile(seg, flip(full, full.length - 1));
      const log = new RecordingLogger();
      const r = await Wal.open(fs, dir, {}, log);
      assert.deepEqual(r.recovered.entries, entries(1, 2, 1));
      assert.match(log.warnings[0]!, /bad-crc/);
      await r.wal.close();
    });
  });

  test(`${kind}: a CRC failure in the middle refuses to start with DataLossError naming file and offset`, async () => {
    await withEnv(kind, async ({ fs, dir }) => {
      const { wal } = await Wal.open(fs, dir, {}, new RecordingLogger());
      await wal.save(undefined, entries(1, 6, 1));
      const seg = join(dir, wal.segmentNames()[0]!);
      await wal.close();
      const full = await fs.readFile(seg);
      const third = headerBytes + 2 * entryRecordBytes;
      for (const at of [third + 9 + 20 /* payload */, third + 5 /* stored crc */, third + 4 /* type */]) {
        await fs.writeFile(seg, flip(full, at));
        await assert.rejects(
          Wal.open(fs, dir, {}, new RecordingLogger()),
          (err: unknown) => err instanceof DataLossError && err.message.includes(`${seg} at byte offset ${third}`),
        );
        assert.deepEqual(await fs.readFile(seg), flip(full, at), 'nothing was truncated');
      }
      // A damaged length that makes a middle record look torn is still caught: valid records follow it.
      const badLen = full.slice();
      new DataView(badLen.buffer).setUint32(third, 100_000, true);
      await fs.writeFile(seg, badLen);
      await assert.rejects(Wal.open(fs, dir, {}, new RecordingLogger()), /short-payload\) followed by a valid record/);
    });
  });

  test(`${kind}: any damage in a segment that is not the last is DataLossError, even in its last record`, async () => {
    await withEnv(kind, async ({ fs, dir }) => {
      const { wal } = await Wal.open(fs, dir, { segmentSizeBytes: 4096 }, new RecordingLogger());
      for (let i = 1; i <= 100; i += 10) await wal.save(undefined, entries(i, i + 9, 1));
      const first = join(dir, wal.segmentNames()[0]!);
      await wal.close();
      const full = await fs.readFile(first);
      await fs.writeFile(first, full.slice(0, full.length - 1));
      await assert.rejects(Wal.open(fs, dir, { segmentSizeBytes: 4096 }, new RecordingLogger()), (err: unknown) =>
        err instanceof DataLossError && err.message.includes(first) && /not the last/.test(err.message),
      );
    });
  });

  test(`${kind}: a missing segment in the sequence is DataLossError`, async () => {
    await withEnv(kind, async ({ fs, dir }) => {
      const { wal } = await Wal.open(fs, dir, { segmentSizeBytes: 4096 }, new RecordingLogger());
      for (let i = 1; i <= 150; i += 10) await wal.save(undefined, entries(i, i + 9, 1));
      const names = wal.segmentNames();
      await wal.close();
      await fs.unlink(join(dir, names[1]!));
      await assert.rejects(Wal.open(fs, dir, {}, new RecordingLogger()), /segment 1 is missing/);
    });
  });
}

test('a WAL opens with a relative dir or a tiny segment size only to refuse them', async () => {
  const env = await makeFsEnv('sim');
  await assert.rejects(Wal.open(env.fs, 'rel/wal', {}, new RecordingLogger()), /absolute/);
  await assert.rejects(Wal.open(env.fs, '/w', { segmentSizeBytes: 10 }, new RecordingLogger()), /segmentSizeBytes must be/);
});

test('recovery relative to an older snapshot ignores newer markers and keeps their entries', async () => {
  const { fs, dir } = await makeFsEnv('sim');
  const { wal } = await Wal.open(fs, dir, {}, new RecordingLogger());
  await wal.save(undefined, entries(1, 20, 1));
  await wal.saveSnapshotMarker(meta(5, 1));
  await wal.saveSnapshotMarker(meta(15, 1));
  await wal.close();
  const r = await Wal.open(fs, dir, { maxSnapshotIndex: 5 }, new RecordingLogger());
  assert.deepEqual(r.recovered.snapshotMarker, meta(5, 1));
  assert.equal(r.recovered.ignoredMarkerIndex, 15);
  assert.deepEqual(r.recovered.entries, entries(6, 20, 1));
  await r.wal.close();
});

test('overlapping calls run one at a time in call order', async () => {
  const { fs, dir } = await makeFsEnv('sim');
  const { wal } = await Wal.open(fs, dir, {}, new RecordingLogger());
  const ps: Promise<void>[] = [];
  for (let i = 1; i <= 50; i++) ps.push(wal.save(hs(1, i - 1), [entry(i, 1)]));
  await Promise.all(ps);
  await wal.close();
  const r = await Wal.open(fs, dir, {}, new RecordingLogger());
  assert.deepEqual(r.recovered.entries, entries(1, 50, 1));
  assert.deepEqual(r.recovered.hardState, hs(1, 49));
  await r.wal.close();
});

test('after a failed sync the WAL refuses further work instead of retrying the fsync', async () => {
  const { fs, dir } = await makeFsEnv('sim');
  let failSyncs = false;
  const failing: typeof fs = Object.create(fs);
  failing.openAppend = async (path: string) => {
    const h = await fs.openAppend(path);
    return {
      append: (d: Uint8Array) => h.append(d),
      sync: async () => {
        if (failSyncs) throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
        await h.sync();
      },
      size: () => h.size(),
      close: () => h.close(),
    };
  };
  const { wal } = await Wal.open(failing, dir, {}, new RecordingLogger());
  await wal.save(hs(1, 0), entries(1, 2, 1));
  failSyncs = true;
  await assert.rejects(wal.save(undefined, [entry(3, 1)]), /EIO/);
  failSyncs = false;
  await assert.rejects(wal.save(undefined, [entry(3, 1)]), /an earlier write or sync failed \(Error: EIO/);
  await assert.rejects(wal.saveSnapshotMarker(meta(1, 1)), FailedPreconditionError);
});
