// Power-loss tests of the WAL on SimFs: random workloads, crashes injected after a random number of file
// operations (so inside saves, rollovers and releases), with torn writes. After every crash the recovered
// state must be exactly the state after the last acknowledged operation, after the one in flight, or (for
// a save) in between: a prefix of the in-flight save's entries. Never anything else, and never an error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRng, SimFs, SimulatedCrashError } from '../../../src/host/env/index.js';
import { Wal, type RecoveredState } from '../../../src/host/raft/wal.js';
import type { Entry, HardState, SnapshotMetadata } from '../../../src/host/raft/types.js';
import { EntryType } from '../../../src/host/raft/types.js';
import { RecordingLogger } from './helpers.js';

/** Reference model of what the WAL must return: the resolved log after the marker. */
interface Model {
  marker?: SnapshotMetadata;
  hardState?: HardState;
  entries: Entry[];
}

function lastIndex(m: Model): number {
  return m.entries.length > 0 ? m.entries[m.entries.length - 1]!.index : (m.marker?.index ?? 0);
}

function applySave(m: Model, hs: HardState | undefined, es: Entry[]): Model {
  let entries = m.entries;
  if (es.length > 0) entries = [...m.entries.filter((e) => e.index < es[0]!.index), ...es];
  return { ...m, ...(hs ? { hardState: hs } : {}), entries };
}

function applyMarker(m: Model, meta: SnapshotMetadata): Model {
  return { ...m, marker: meta, entries: m.entries.filter((e) => e.index > meta.index) };
}

function asModel(r: RecoveredState): Model {
  const out: Model = { entries: r.entries };
  if (r.snapshotMarker) out.marker = r.snapshotMarker;
  if (r.hardState) out.hardState = r.hardState;
  return out;
}

function sameState(a: Model, b: Model): boolean {
  try {
    assert.deepEqual(a, b);
    return true;
  } catch {
    return false;
  }
}

function describe(m: Model): string {
  const es = m.entries;
  return `marker ${m.marker?.index ?? '-'} hs ${JSON.stringify(m.hardState)} entries ${es.length ? `${es[0]!.index}..${es[es.length - 1]!.index}` : 'none'}`;
}

async function runSeed(seed: number): Promise<{ crashes: number; ops: number }> {
  const rng = new SeededRng(seed);
  const fs = new SimFs();
  const dir = '/var/lib/swarmhost/raft/wal';
  const opts = { segmentSizeBytes: 4096 };
  let { wal } = await Wal.open(fs, dir, opts, new RecordingLogger());
  let model: Model = { entries: [] };
  let term = 1;
  let crashes = 0;
  let ops = 0;
  let crashPending = false;
  while (ops < 400) {
    ops++;
    if (!crashPending && rng.int(6) === 0) {
      fs.crashAfter(rng.int(8));
      crashPending = true;
    }
    const kind = rng.int(10);
    /** States recovery may legitimately return if this op is interrupted; the last one is the op's result. */
    let allowed: Model[];
    let op: () => Promise<void>;
    if (kind < 7) {
      const last = lastIndex(model);
      const low = Math.max((model.marker?.index ?? 0) + 1, last - 3, 1);
      const start = low + rng.int(last + 1 - low + 1);
      if (start <= last) term++;
      const n = rng.int(12);
      const es: Entry[] = [];
      for (let i = 0; i < n; i++) {
        es.push({ index: start + i, term, type: EntryType.Normal, data: rng.bytes(rng.int(300)) });
      }
      const hs = rng.int(2) === 0 ? { term, vote: rng.int(2) ? 'b2' : '', commit: rng.int(start) } : undefined;
      // A torn save keeps a prefix of its records: entries are written first, the hard state last.
      allowed = [model];
      for (let k = 1; k <= n; k++) allowed.push(applySave(model, undefined, es.slice(0, k)));
      allowed.push(applySave(model, hs, es));
      op = () => wal.save(hs, es);
    } else if (kind < 9) {
      const last = lastIndex(model);
      const from = model.marker?.index ?? 0;
      const idx = from + rng.int(last - from + 1);
      const meta = { index: idx, term, conf: { voters: ['a1'], removed: [] } };
      allowed = [model, applyMarker(model, meta)];
      op = () => wal.saveSnapshotMarker(meta);
    } else {
      allowed = [model];
      op = model.marker ? () => wal.releaseTo(model.marker!.index) : async () => {};
    }
    try {
      await op();
      model = allowed[allowed.length - 1]!;
      continue;
    } catch (err) {
      if (!(err instanceof SimulatedCrashError)) throw err;
    }
    crashes++;
    crashPending = false;
    fs.crash({ tornWrites: rng });
    const r = await Wal.open(fs, dir, opts, new RecordingLogger());
    wal = r.wal;
    const got = asModel(r.recovered);
    const match = allowed.find((m) => sameState(got, m));
    if (!match) {
      assert.fail(
        `seed ${seed} op ${ops}: recovered ${describe(got)}; expected one of ${allowed.map(describe).join(' | ')}`,
      );
    }
    model = match;
    term = Math.max(term, ...model.entries.map((e) => e.term));
  }
  await wal.close();
  return { crashes, ops };
}

test('after a power loss at any point, the WAL recovers the acknowledged state plus at most a prefix of the in-flight save', async () => {
  let crashes = 0;
  for (let seed = 1; seed <= 12; seed++) crashes += (await runSeed(seed)).crashes;
  assert.ok(crashes > 100, `the workload crashed often enough (${crashes})`);
});
