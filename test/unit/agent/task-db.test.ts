import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TaskDb, type TaskRecord } from '../../../src/host/agent/index.js';
import { DataLossError } from '../../../src/host/api/errors.js';
import { TaskState, type TaskStatus } from '../../../src/host/api/objects.js';
import { SeededRng, SimFs, SimulatedCrashError, type FileHandle } from '../../../src/host/env/index.js';
import { makeTask } from '../../support/tasks.js';

const STATE = '/state';
const JOURNAL = '/state/worker/tasks.journal';

function status(state: TaskState, message = ''): TaskStatus {
  return { timestamp: state, state, message, err: '', appliedBy: '', appliedAt: 0 };
}

function record(id: string, state = TaskState.ASSIGNED): TaskRecord {
  const task = makeTask({}, { id });
  return { task, status: status(state) };
}

/** A SimFs whose journal appends/syncs can be held at a gate, and failed on demand, recording what was written. */
class GatedFs extends SimFs {
  /** Bytes of every journal append, in order. */
  readonly appends: string[] = [];
  /** While set, journal syncs wait for it. */
  gate: Promise<void> | undefined;
  /** Journal appends left to fail (with EIO). */
  failAppends = 0;

  override async openAppend(path: string): Promise<FileHandle> {
    const h = await super.openAppend(path);
    if (path !== JOURNAL) return h;
    return {
      append: async (data: Uint8Array) => {
        if (this.failAppends > 0) {
          this.failAppends--;
          await h.append(data.subarray(0, Math.floor(data.length / 2))); // a half-written group
          throw Object.assign(new Error('EIO: injected write failure'), { code: 'EIO' });
        }
        this.appends.push(new TextDecoder().decode(data));
        await h.append(data);
      },
      sync: async () => {
        if (this.gate) await this.gate;
        await h.sync();
      },
      size: () => h.size(),
      close: () => h.close(),
    };
  }
}

/** A gate to hold journal syncs: `open()` releases them. */
function makeGate(fs: GatedFs): { open: () => void } {
  let release!: () => void;
  fs.gate = new Promise<void>((r) => (release = r));
  return {
    open: () => {
      fs.gate = undefined;
      release();
    },
  };
}

/** A table holding tasks `a` and `busy`, with a status write of `busy` in flight behind a closed gate. */
async function tableWithWriteInFlight(): Promise<{ fs: GatedFs; db: TaskDb; gate: { open: () => void }; inFlight: Promise<void> }> {
  const fs = simDisk(new GatedFs());
  const db = await TaskDb.open(STATE, fs);
  await db.put(record('a'));
  await db.put(record('busy'));
  const gate = makeGate(fs);
  const inFlight = db.updateStatus('busy', status(TaskState.ACCEPTED));
  await settle();
  return { fs, db, gate, inFlight };
}

/** A SimFs with the state directory already created and durable (the node layer makes it before the agent). */
function simDisk<T extends SimFs>(fs: T): T {
  void fs.mkdirp(STATE).then(() => fs.syncDir('/'));
  return fs;
}

/** The changes of journal frames (`<crc> <len>\n` + JSON lines), in order, from one append's text. */
function frameOps(text: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  let rest = text;
  while (rest.length > 0) {
    const nl = rest.indexOf('\n');
    const len = Number(rest.slice(0, nl).split(' ')[1]);
    const payload = rest.slice(nl + 1, nl + 1 + len); // ASCII in these tests: chars = bytes
    for (const l of payload.split('\n')) if (l !== '') out.push(JSON.parse(l) as Record<string, unknown>);
    rest = rest.slice(nl + 1 + len);
  }
  return out;
}

/** Settles pending microtasks and SimFs operations (each resolves behind a promise). */
async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r));
}

/** Tracks whether a promise has settled. */
function track(p: Promise<void>): { done: boolean; failed: unknown; p: Promise<void> } {
  const t = { done: false, failed: undefined as unknown, p };
  p.then(
    () => (t.done = true),
    (e: unknown) => {
      t.done = true;
      t.failed = e;
    },
  );
  return t;
}

test('changes made while a write is in flight are coalesced into the next single journal write', async () => {
  const fs = simDisk(new GatedFs());
  const db = await TaskDb.open(STATE, fs);
  const gate = makeGate(fs);
  const first = db.put(record('a'));
  await settle();
  assert.equal(fs.appends.length, 1, 'the first change is being written');
  const later = ['b', 'c', 'd'].map((id) => db.put(record(id)));
  await settle();
  assert.equal(fs.appends.length, 1, 'nothing else is written while the first write is in flight');
  gate.open();
  await Promise.all([first, ...later]);
  assert.equal(fs.appends.length, 2, 'b, c and d went out in one append');
  assert.deepEqual(frameOps(fs.appends[1]!).map((o) => (o.put as TaskRecord).task.id), ['b', 'c', 'd']);
  assert.equal(db.stats.appends, 2);
});

test('each caller resolves only once the write carrying its change is durable', async () => {
  const fs = simDisk(new GatedFs());
  const db = await TaskDb.open(STATE, fs);
  const gate = makeGate(fs);
  const a = track(db.put(record('a')));
  await settle();
  const b = track(db.put(record('b')));
  await settle();
  assert.equal(a.done, false, 'a is not acknowledged before its fdatasync');
  assert.equal(fs.durableBytes(JOURNAL).length, 0, 'and indeed nothing is durable yet');
  // Let a's sync through but hold b's: the gate is re-armed before the second write reaches its sync.
  const releaseFirst = fs.gate!;
  let releaseSecond!: () => void;
  const second = new Promise<void>((r) => (releaseSecond = r));
  gate.open();
  fs.gate = second;
  await releaseFirst;
  await a.p;
  await settle();
  assert.equal(b.done, false, 'b waits for the write that carries it');
  const durable = new TextDecoder().decode(fs.durableBytes(JOURNAL));
  assert.match(durable, /"a"/);
  assert.doesNotMatch(durable, /"b"/);
  fs.gate = undefined;
  releaseSecond();
  await b.p;
  assert.match(new TextDecoder().decode(fs.durableBytes(JOURNAL)), /"b"/);
});

test('status changes of a task queued behind an in-flight write reach the disk as one line, and every caller resolves', async () => {
  const { fs, db, gate, inFlight } = await tableWithWriteInFlight();
  const calls = [TaskState.ACCEPTED, TaskState.PREPARING, TaskState.READY, TaskState.STARTING, TaskState.RUNNING].map((s) =>
    db.updateStatus('a', status(s), { executor: 'sim', taskId: 'a', data: { pid: s } }),
  );
  gate.open();
  await Promise.all([inFlight, ...calls]);
  const ops = frameOps(fs.appends.at(-1)!);
  assert.equal(ops.length, 1, 'one change for five status changes of the same task');
  const op = ops[0] as { id: string; status: TaskStatus; handle: { data: { pid: number } } };
  assert.equal(op.status.state, TaskState.RUNNING);
  assert.equal(op.handle.data.pid, TaskState.RUNNING);
  const again = await TaskDb.open(STATE, fs);
  assert.equal(again.get('a')!.status.state, TaskState.RUNNING);
  assert.equal(again.get('busy')!.status.state, TaskState.ACCEPTED);
});

test('a failed write rejects exactly the callers it carried, and the next write retries them (as a compaction)', async () => {
  const fs = simDisk(new GatedFs());
  const db = await TaskDb.open(STATE, fs);
  await db.put(record('ok'));
  fs.failAppends = 1;
  const failed = track(db.put(record('x')));
  await settle();
  assert.ok(failed.failed instanceof Error, 'the caller whose change was in the failed write is told');
  assert.match(String(failed.failed), /EIO/);
  // The next change is written by a compaction: the whole table (x included), then a fresh journal, so the
  // half-written line of the failed append never sits in the middle of the journal.
  await db.updateStatus('ok', status(TaskState.RUNNING));
  assert.equal(db.stats.compactions, 1);
  fs.crash();
  const again = await TaskDb.open(STATE, fs);
  assert.deepEqual(again.list().map((r) => r.task.id).sort(), ['ok', 'x']);
  assert.equal(again.get('ok')!.status.state, TaskState.RUNNING);
});

test('flush after a failed write retries it (as a compaction)', async () => {
  const fs = simDisk(new GatedFs());
  const db = await TaskDb.open(STATE, fs);
  fs.failAppends = 1;
  await assert.rejects(db.put(record('x')), /EIO/);
  await db.flush(); // retried by a compaction
  fs.crash();
  assert.ok((await TaskDb.open(STATE, fs)).get('x'), 'the retried change is durable');
});

test('restart after a crash recovers every acknowledged change (random torn writes, many seeds)', async () => {
  for (let seed = 1; seed <= 40; seed++) {
    const rng = new SeededRng(seed);
    const fs = simDisk(new SimFs());
    const db = await TaskDb.open(STATE, { fs, limits: { compactJournalBytes: 4096 } });
    // Per op: its task and the task's value right after it ('gone' after a delete, else the state).
    const ops: { id: string; after: TaskState | 'gone' }[] = [];
    const ackedUpTo = new Map<string, number>();
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < 60; i++) {
      const id = `t${rng.int(8)}`;
      const roll = rng.int(10);
      let p: Promise<void>;
      if (!db.get(id) || roll === 0) {
        p = db.put(record(id));
        ops.push({ id, after: TaskState.ASSIGNED });
      } else if (roll === 1) {
        p = db.delete(id);
        ops.push({ id, after: 'gone' });
      } else {
        const st = (db.get(id)!.status.state + 1) as TaskState;
        p = db.updateStatus(id, status(st));
        ops.push({ id, after: st });
      }
      pending.push(p.then(() => ackedUpTo.set(id, Math.max(ackedUpTo.get(id) ?? -1, i)), () => undefined));
      if (rng.int(3) === 0) await settle(rng.int(4));
    }
    // Crash with changes still in flight: acknowledged ones survive; an unacknowledged one may or may not.
    const acked = new Map(ackedUpTo);
    fs.crash({ tornWrites: rng });
    await Promise.all(pending);
    const again = await TaskDb.open(STATE, fs);
    for (const [id, upTo] of acked) {
      const r = again.get(id);
      const got: TaskState | 'gone' = r === undefined ? 'gone' : r.status.state;
      const allowed = ops.filter((o, j) => o.id === id && j >= upTo).map((o) => o.after);
      assert.ok(allowed.includes(got), `seed ${seed}: task ${id} recovered as ${String(got)}, acknowledged op ${upTo} allows ${allowed.join('/')}`);
    }
  }
});

test('a crash at every step of a compaction loses nothing acknowledged and replays nothing twice', async () => {
  for (let k = 0; k < 30; k++) {
    const fs = simDisk(new SimFs());
    const db = await TaskDb.open(STATE, { fs, limits: { compactJournalBytes: 1 } }); // every write compacts
    await db.put(record('a'));
    await db.updateStatus('a', status(TaskState.RUNNING));
    await db.put(record('b'));
    fs.crashAfter(k);
    const late = db.delete('a').catch((e: unknown) => e);
    const late2 = db.updateStatus('b', status(TaskState.PREPARING)).catch((e: unknown) => e);
    const [r1, r2] = await Promise.all([late, late2]);
    fs.crash();
    const again = await TaskDb.open(STATE, fs);
    if (r1 === undefined) assert.equal(again.get('a'), undefined, `k=${k}: acknowledged delete holds`);
    else {
      assert.ok(r1 instanceof SimulatedCrashError, `k=${k}: ${String(r1)}`);
      if (again.get('a')) assert.equal(again.get('a')!.status.state, TaskState.RUNNING, `k=${k}: a as acknowledged`);
    }
    assert.ok(again.get('b'), `k=${k}: b survives`);
    if (r2 === undefined) assert.equal(again.get('b')!.status.state, TaskState.PREPARING, `k=${k}: acknowledged status holds`);
  }
});

test('a torn last journal frame is dropped on open; a corrupt frame before the end is DataLossError', async () => {
  const fs = simDisk(new SimFs());
  const db = await TaskDb.open(STATE, fs);
  await db.put(record('a'));
  await db.put(record('b'));
  const bytes = fs.durableBytes(JOURNAL);
  const text = new TextDecoder().decode(bytes);
  // Torn: the second frame cut short.
  const firstFrameEnd = text.indexOf('\n') + 1 + Number(text.slice(0, text.indexOf('\n')).split(' ')[1]);
  await fs.truncate(JOURNAL, firstFrameEnd + 30);
  const torn = await TaskDb.open(STATE, fs);
  assert.deepEqual(torn.list().map((r) => r.task.id), ['a']);
  await torn.put(record('c')); // the torn tail is compacted away before anything is appended
  assert.deepEqual((await TaskDb.open(STATE, fs)).list().map((r) => r.task.id), ['a', 'c']);
  // Corrupt middle: flip a byte in the payload of the first of two complete frames.
  const fs2 = simDisk(new SimFs());
  const db2 = await TaskDb.open(STATE, fs2);
  await db2.put(record('a'));
  await db2.put(record('b'));
  const good = fs2.durableBytes(JOURNAL);
  const bad = good.slice();
  bad[40] = bad[40] === 0x41 ? 0x42 : 0x41;
  await fs2.unlink(JOURNAL);
  await fs2.writeFile(JOURNAL, bad);
  await assert.rejects(TaskDb.open(STATE, fs2), (e: unknown) => e instanceof DataLossError && /frame 1 is corrupt/.test(e.message));
});

test('a journal larger than compactJournalBytes is folded into the snapshot, and recovery reads both', async () => {
  const fs = simDisk(new SimFs());
  const db = await TaskDb.open(STATE, { fs, limits: { compactJournalBytes: 2048 } });
  for (let i = 0; i < 20; i++) await db.put(record(`t${i}`));
  assert.ok(db.stats.compactions >= 1, 'compacted at least once');
  await db.delete('t3');
  const again = await TaskDb.open(STATE, fs);
  assert.equal(again.list().length, 19);
  assert.equal(again.get('t3'), undefined);
});

test('reads a tasks.json written by the previous format (whole table, no journal, no seq) and keeps it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'task-db-'));
  try {
    await mkdir(join(dir, 'worker'));
    const old = record('legacy', TaskState.RUNNING);
    await writeFile(join(dir, 'worker', 'tasks.json'), JSON.stringify({ version: 1, tasks: [old] }));
    const db = await TaskDb.open(dir);
    assert.equal(db.get('legacy')!.status.state, TaskState.RUNNING);
    await db.updateStatus('legacy', status(TaskState.COMPLETE));
    await db.close();
    assert.equal((await TaskDb.open(dir)).get('legacy')!.status.state, TaskState.COMPLETE);
    assert.match(await readFile(join(dir, 'worker', 'tasks.journal'), 'utf8'), /^[0-9a-f]{8} \d+\n\{"q":1,/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('rejects limits that are not positive integers of bytes', async () => {
  await assert.rejects(TaskDb.open(STATE, { fs: new SimFs(), limits: { maxGroupBytes: 0 } }), /taskDb\.limits\.maxGroupBytes: must be a positive integer/);
});

test('a put with its source JSON journals that text verbatim, and a reopen reads the same task back', async () => {
  const fs = simDisk(new GatedFs());
  const db = await TaskDb.open(STATE, fs);
  const task = makeTask({ labels: { k: 'é ✓' } }, { id: 'src1' }); // non-ASCII: bytes ≠ characters
  const source = JSON.stringify({ task });
  await db.put({ task: JSON.parse(source).task as TaskRecord['task'], status: status(TaskState.ASSIGNED) }, source);
  await db.updateStatus('src1', status(TaskState.RUNNING), { executor: 'sim', taskId: 'src1', data: { pid: 7 } });
  const line = new TextDecoder().decode(fs.durableBytes(JOURNAL)).split('\n')[1]!;
  assert.ok(line.endsWith(`"src":${source}}`), 'the source text is embedded as is');
  const bytes = fs.durableBytes(JOURNAL);
  const nl = bytes.indexOf(0x0a);
  const payloadBytes = Number(new TextDecoder().decode(bytes.subarray(0, nl)).split(' ')[1]);
  assert.equal(payloadBytes, Buffer.byteLength(`${line}\n`), 'the frame length counts UTF-8 bytes');
  const again = await TaskDb.open(STATE, fs);
  assert.deepEqual(again.get('src1')!.task, task);
  assert.equal(again.get('src1')!.status.state, TaskState.RUNNING);
  assert.equal(again.get('src1')!.handle!.data.pid, 7);
  // And it survives a compaction (the snapshot holds the task object).
  const small = await TaskDb.open(STATE, { fs, limits: { compactJournalBytes: 1 } });
  await small.put({ task: makeTask({}, { id: 'other' }), status: status(TaskState.ASSIGNED) });
  assert.equal(small.stats.compactions, 1);
  assert.deepEqual((await TaskDb.open(STATE, fs)).get('src1')!.task, task);
});

test('a source text with line breaks (pretty-printed JSON) is not embedded: the task is serialised and reads back', async () => {
  const fs = simDisk(new GatedFs());
  const db = await TaskDb.open(STATE, fs);
  const task = makeTask({}, { id: 'pretty1' });
  const source = JSON.stringify({ task }, null, 2);
  await db.put({ task: JSON.parse(source).task as TaskRecord['task'], status: status(TaskState.ASSIGNED) }, source);
  const line = new TextDecoder().decode(fs.durableBytes(JOURNAL)).split('\n')[1]!;
  assert.ok(!line.includes('"src"'), 'no embedded source');
  assert.deepEqual((await TaskDb.open(STATE, fs)).get('pretty1')!.task, task);
});

test('a journal written by the previous version (puts of whole records, status lines) still opens', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'task-db-'));
  try {
    await mkdir(join(dir, 'worker'));
    const rec = record('old', TaskState.ASSIGNED);
    const lines = [
      JSON.stringify({ q: 1, put: rec }),
      JSON.stringify({ q: 2, put: record('gone') }),
      JSON.stringify({ q: 3, id: 'old', status: status(TaskState.RUNNING), handle: { executor: 'sim', taskId: 'old', data: { pid: 9 } } }),
      JSON.stringify({ q: 4, del: 'gone' }),
    ];
    const payload = Buffer.from(lines.map((l) => `${l}\n`).join(''));
    const { crc32 } = await import('node:zlib');
    const frameText = Buffer.concat([Buffer.from(`${crc32(payload).toString(16).padStart(8, '0')} ${payload.length}\n`), payload]);
    await writeFile(join(dir, 'worker', 'tasks.journal'), frameText);
    const db = await TaskDb.open(dir);
    assert.deepEqual(db.list().map((r) => r.task.id), ['old']);
    assert.deepEqual(db.get('old')!.task, rec.task);
    assert.equal(db.get('old')!.status.state, TaskState.RUNNING);
    assert.equal(db.get('old')!.handle!.data.pid, 9);
    await db.updateStatus('old', status(TaskState.COMPLETE));
    await db.close();
    assert.equal((await TaskDb.open(dir)).get('old')!.status.state, TaskState.COMPLETE);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('updateStatusThen tells the status the write carried, once per callback per write, and the error of a failed write', async () => {
  const { fs, db, gate, inFlight } = await tableWithWriteInFlight();
  const told: [string | undefined, TaskState | undefined][] = [];
  const done = (err: Error | undefined, written: TaskStatus | undefined): void => {
    told.push([err?.message, written?.state]);
  };
  const other: (TaskState | undefined)[] = [];
  db.updateStatusThen('a', status(TaskState.ACCEPTED), undefined, done);
  db.updateStatusThen('a', status(TaskState.PREPARING), undefined, (_e, w) => other.push(w?.state));
  db.updateStatusThen('a', status(TaskState.RUNNING), undefined, done);
  gate.open();
  await inFlight;
  await db.flush();
  assert.deepEqual(told, [[undefined, TaskState.RUNNING]], 'called once, with the newest status, which is what was written');
  assert.deepEqual(other, [TaskState.RUNNING]);
  const unknown: unknown[] = [];
  db.updateStatusThen('nope', status(TaskState.RUNNING), undefined, (e, w) => unknown.push(e, w));
  assert.deepEqual(unknown, [undefined, undefined], 'an unknown task is told at once, with nothing written');
  fs.failAppends = 1;
  told.length = 0;
  db.updateStatusThen('a', status(TaskState.COMPLETE), undefined, done);
  await settle();
  assert.deepEqual(told, [['EIO: injected write failure', undefined]]);
  await db.flush(); // the retry (a compaction) makes it durable
  assert.equal((await TaskDb.open(STATE, fs)).get('a')!.status.state, TaskState.COMPLETE);
});
