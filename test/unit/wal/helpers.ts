// Shared fixtures for the WAL tests: a file system (simulated or real in a temp dir), a recording logger,
// and entry builders.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RealFs, SimFs, type Fs } from '../../../src/host/env/index.js';
import { EntryType, type Entry } from '../../../src/host/raft/types.js';

/** A file system under test plus a directory to use and a cleanup. */
export interface FsEnv {
  kind: 'sim' | 'real';
  fs: Fs;
  /** An absolute directory that does not exist yet. */
  dir: string;
  cleanup(): Promise<void>;
}

/** Both implementations, so every behaviour is checked on the simulation and on the real disk. */
export const fsKinds = ['sim', 'real'] as const;

export async function makeFsEnv(kind: 'sim' | 'real'): Promise<FsEnv> {
  if (kind === 'sim') {
    return { kind, fs: new SimFs(), dir: '/data/wal', cleanup: async () => {} };
  }
  const base = await mkdtemp(join(tmpdir(), 'swarmhost-wal-'));
  return { kind, fs: new RealFs(), dir: join(base, 'wal'), cleanup: () => rm(base, { recursive: true, force: true }) };
}

/** A logger that records warnings. */
export class RecordingLogger {
  readonly warnings: string[] = [];
  warn(msg: string): void {
    this.warnings.push(msg);
  }
}

/** Entry with deterministic content derived from (index, term). */
export function entry(index: number, term: number, bytes = 64): Entry {
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) data[i] = (index * 31 + term * 7 + i) & 0xff;
  return { index, term, type: EntryType.Normal, data };
}

/** Entries [from, to] in `term`. */
export function entries(from: number, to: number, term: number, bytes = 64): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push(entry(i, term, bytes));
  return out;
}
