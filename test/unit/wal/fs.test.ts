import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRng, SimFs, SimulatedCrashError } from '../../../src/host/env/index.js';
import { fsKinds, makeFsEnv } from './helpers.js';

const bytes = (...xs: number[]): Uint8Array => Uint8Array.from(xs);

test('sim fs: a crash keeps exactly the bytes appended up to the last sync', async () => {
  const fs = new SimFs();
  await fs.mkdirp('/d');
  await fs.syncDir('/');
  const h = await fs.openAppend('/d/f');
  await fs.syncDir('/d');
  await h.append(bytes(1, 2, 3));
  await h.sync();
  await h.append(bytes(4, 5));
  assert.equal(h.size(), 5);
  assert.deepEqual(fs.durableBytes('/d/f'), bytes(1, 2, 3));
  fs.crash();
  assert.deepEqual(await fs.readFile('/d/f'), bytes(1, 2, 3));
  await assert.rejects(h.append(bytes(9)), /EBADF/, 'a handle from before the crash is dead');
});

test('sim fs: a torn write keeps a prefix of the unsynced bytes, never more and never other bytes', async () => {
  const rng = new SeededRng(3);
  const lengths = new Set<number>();
  for (let i = 0; i < 200; i++) {
    const fs = new SimFs();
    const h = await fs.openAppend('/f');
    await fs.syncDir('/');
    await h.append(bytes(1, 2));
    await h.sync();
    await h.append(bytes(3, 4, 5, 6));
    fs.crash({ tornWrites: rng });
    const got = await fs.readFile('/f');
    assert.ok(got.length >= 2 && got.length <= 6);
    assert.deepEqual(got, bytes(1, 2, 3, 4, 5, 6).subarray(0, got.length));
    lengths.add(got.length);
  }
  assert.deepEqual([...lengths].sort(), [2, 3, 4, 5, 6], 'every prefix length occurs');
});

test('sim fs: creates, renames and unlinks are lost unless the directory was synced after them', async () => {
  const fs = new SimFs();
  await fs.mkdirp('/d');
  await fs.syncDir('/');
  const a = await fs.openAppend('/d/a');
  await a.append(bytes(1));
  await a.sync();
  fs.crash();
  assert.deepEqual(await fs.readdir('/d'), [], 'a synced file without a synced directory entry is gone');

  const b = await fs.openAppend('/d/b');
  await b.append(bytes(2));
  await b.sync();
  await fs.syncDir('/d');
  await fs.rename('/d/b', '/d/c');
  await fs.writeFile('/d/x', bytes(7));
  fs.crash();
  assert.deepEqual(await fs.readdir('/d'), ['b'], 'rename and create undone');
  assert.deepEqual(await fs.readFile('/d/b'), bytes(2));

  await fs.rename('/d/b', '/d/c');
  await fs.syncDir('/d');
  await fs.unlink('/d/c');
  fs.crash();
  assert.deepEqual(await fs.readdir('/d'), ['c'], 'rename kept, unlink undone');
});

test('sim fs: a directory made by mkdirp is lost unless its parent is synced', async () => {
  const fs = new SimFs();
  await fs.mkdirp('/a/b');
  await fs.syncDir('/a');
  fs.crash();
  assert.deepEqual(await fs.readdir('/'), []);
});

test('sim fs: truncate and overwrite are undone by a crash unless the file is synced afterwards', async () => {
  const fs = new SimFs();
  const h = await fs.openAppend('/f');
  await fs.syncDir('/');
  await h.append(bytes(1, 2, 3, 4));
  await h.sync();
  await fs.truncate('/f', 2);
  assert.deepEqual(await fs.readFile('/f'), bytes(1, 2));
  fs.crash();
  assert.deepEqual(await fs.readFile('/f'), bytes(1, 2, 3, 4));
  await fs.truncate('/f', 2);
  const h2 = await fs.openAppend('/f');
  await h2.append(bytes(9));
  await h2.sync();
  fs.crash();
  assert.deepEqual(await fs.readFile('/f'), bytes(1, 2, 9));
  await fs.writeFile('/f', bytes(5));
  fs.crash();
  assert.deepEqual(await fs.readFile('/f'), bytes(1, 2, 9));
});

test('sim fs: crashAfter lets exactly n mutating operations through, then refuses everything until crash()', async () => {
  const fs = new SimFs();
  const h = await fs.openAppend('/f');
  await fs.syncDir('/');
  fs.crashAfter(2);
  await h.append(bytes(1));
  await h.sync();
  await assert.rejects(h.append(bytes(2)), SimulatedCrashError);
  await assert.rejects(fs.readFile('/f'), SimulatedCrashError);
  fs.crash();
  assert.deepEqual(await fs.readFile('/f'), bytes(1));
});

for (const kind of fsKinds) {
  test(`${kind} fs: files, directories, sizes and missing paths behave as the Fs contract says`, async () => {
    const env = await makeFsEnv(kind);
    try {
      const { fs, dir } = env;
      assert.deepEqual(await fs.readdir(dir), [], 'a missing directory lists as empty');
      await fs.mkdirp(dir);
      await fs.mkdirp(dir);
      assert.equal(await fs.size(`${dir}/f`), undefined);
      await assert.rejects(fs.readFile(`${dir}/f`), (e: { code?: string }) => e.code === 'ENOENT');
      const h = await fs.openAppend(`${dir}/f`);
      assert.equal(h.size(), 0);
      await h.append(bytes(1, 2, 3));
      await h.append(bytes(4));
      await h.sync();
      assert.equal(h.size(), 4);
      await h.close();
      const h2 = await fs.openAppend(`${dir}/f`);
      assert.equal(h2.size(), 4, 'reopening for append starts at the end');
      await h2.append(bytes(5));
      await h2.sync();
      await h2.close();
      assert.deepEqual(await fs.readFile(`${dir}/f`), bytes(1, 2, 3, 4, 5));
      await fs.truncate(`${dir}/f`, 2);
      assert.equal(await fs.size(`${dir}/f`), 2);
      await fs.writeFile(`${dir}/b`, bytes(8));
      await fs.rename(`${dir}/f`, `${dir}/a`);
      await fs.syncDir(dir);
      assert.deepEqual(await fs.readdir(dir), ['a', 'b']);
      await fs.unlink(`${dir}/a`);
      await fs.unlink(`${dir}/a`);
      assert.deepEqual(await fs.readdir(dir), ['b']);
    } finally {
      await env.cleanup();
    }
  });
}
