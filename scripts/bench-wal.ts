// WAL append benchmark: saves of 64-byte entries in batches of 1, 16 and 256 per save, with real fdatasync
// in a temp dir. Baseline, measured in the same run: appending the same bytes with FileHandle.appendFile and
// datasync on a plain file. Also the CPU cost alone (WAL on the in-memory SimFs).
//
// Throughput figures divide by the time spent inside the timed calls (the WAL's includes encoding + CRC).
// Usage: npm run bench:wal [-- --quick] [-- --json]
// Prints `name: value unit` per figure; with --json the last line is one JSON object of the same figures.
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { RealFs, SimFs, type Fs } from '../src/host/env/index.js';
import { Wal } from '../src/host/raft/wal.js';
import { crc32c } from '../src/host/raft/crc32c.js';
import { RecordWriter, putEntry, putHardState } from '../src/host/raft/wal-record.js';
import { EntryType, type Entry, type HardState } from '../src/host/raft/types.js';

const quick = process.argv.includes('--quick');
const json = process.argv.includes('--json');
/** Wall-clock budget per case and round, in ms. */
const caseMs = quick ? 2000 : 10000;
const batches = [1, 16, 256];
const entryBytes = 64;

const figures: Record<string, number> = {};
function report(name: string, value: number, unit: string): void {
  const rounded = Number(value.toPrecision(4));
  figures[name] = rounded;
  console.log(`${name}: ${rounded} ${unit}`);
}

function makeBatch(first: number, n: number): Entry[] {
  const out: Entry[] = [];
  for (let i = 0; i < n; i++) {
    const data = new Uint8Array(entryBytes);
    data.fill((first + i) & 0xff);
    out.push({ index: first + i, term: 1, type: EntryType.Normal, data });
  }
  return out;
}

interface Run {
  saves: number;
  entries: number;
  latenciesMs: number[];
}

const empty = (): Run => ({ saves: 0, entries: 0, latenciesMs: [] });

/**
 * One case: WAL saves and baseline appends interleaved one for one, so that the noise of this shared
 * machine hits both alike. The baseline appends the very bytes the WAL writes for that save (encoded
 * outside its timing) with FileHandle.appendFile and then datasync on a plain file.
 */
async function runCase(fs: Fs, dir: string, rawPath: string, batch: number, budgetMs: number, withRaw: boolean): Promise<{ wal: Run; raw: Run }> {
  const { wal } = await Wal.open(fs, dir, {}, { warn: (m) => console.error(m) });
  const fh = withRaw ? await open(rawPath, 'a') : undefined;
  const w = new RecordWriter();
  const walRun = empty();
  const rawRun = empty();
  let next = 1;
  const t0 = performance.now();
  while (performance.now() - t0 < budgetMs) {
    const es = makeBatch(next, batch);
    const hs: HardState = { term: 1, vote: 'a1', commit: next - 1 };
    let s = performance.now();
    await wal.save(hs, es);
    walRun.latenciesMs.push(performance.now() - s);
    walRun.saves++;
    walRun.entries += batch;
    if (fh) {
      w.reset();
      for (const e of es) putEntry(w, e);
      putHardState(w, hs);
      const bytes = w.bytes();
      s = performance.now();
      await fh.appendFile(bytes);
      await fh.datasync();
      rawRun.latenciesMs.push(performance.now() - s);
      rawRun.saves++;
      rawRun.entries += batch;
    }
    next += batch;
  }
  await wal.close();
  await fh?.close();
  return { wal: walRun, raw: rawRun };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function reportRun(prefix: string, r: Run): { savesPerS: number } {
  const sorted = [...r.latenciesMs].sort((a, b) => a - b);
  // Throughput counts only time spent inside save (the loop also builds entries, which a driver already has).
  const busyMs = r.latenciesMs.reduce((a, b) => a + b, 0);
  const savesPerS = (r.saves / busyMs) * 1000;
  report(`${prefix}_saves_per_s`, savesPerS, 'saves/s');
  report(`${prefix}_entries_per_s`, (r.entries / busyMs) * 1000, 'entries/s');
  report(`${prefix}_p50_ms`, percentile(sorted, 50), 'ms');
  report(`${prefix}_p99_ms`, percentile(sorted, 99), 'ms');
  return { savesPerS };
}

async function main(): Promise<void> {
  const base = await mkdtemp(join(tmpdir(), 'swarmhost-bench-wal-'));
  try {
    const fs = new RealFs();
    for (const batch of batches) {
      const { wal, raw } = await runCase(fs, join(base, `wal-b${batch}`), join(base, `raw-b${batch}`), batch, caseMs, true);
      const w = reportRun(`wal_b${batch}`, wal);
      const r = reportRun(`raw_b${batch}`, raw);
      report(`ratio_b${batch}_wal_over_raw_saves`, w.savesPerS / r.savesPerS, 'x');
    }
    // CPU only: encoding, framing, CRC and bookkeeping, on the in-memory file system.
    const cpu = (await runCase(new SimFs(), '/bench/wal', '', 256, caseMs, false)).wal;
    const busyMs = cpu.latenciesMs.reduce((a, b) => a + b, 0);
    report('wal_b256_cpu_entries_per_s', (cpu.entries / busyMs) * 1000, 'entries/s');
    report('wal_b256_cpu_mb_per_s', (cpu.entries * (9 + 17 + entryBytes)) / busyMs / 1000, 'MB/s');
    // The checksum alone, over 1 MiB buffers.
    const buf = new Uint8Array(1 << 20).fill(3);
    let sink = 0;
    let n = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < (quick ? 300 : 1000)) {
      sink ^= crc32c(buf);
      n++;
    }
    report('crc32c_mb_per_s', (n * buf.length) / (performance.now() - t0) / 1000, 'MB/s');
    if (sink === -1) console.log('unreachable');
  } finally {
    await rm(base, { recursive: true, force: true });
  }
  if (json) console.log(JSON.stringify(figures));
}

await main();
