/**
 * Snapshot files: `snap-<term>-<index>.snap` (16 lowercase hex digits each) holding one CRC-checked record
 * (wal-record.ts, type SnapshotFile) with the snapshot metadata and data. Written atomically: temp file,
 * fdatasync, rename, directory sync. See docs/wal.md.
 */
import { posix } from 'node:path';
import type { Fs } from '../env/fs.js';
import { InvalidArgumentError } from '../api/errors.js';
import type { Snapshot } from './types.js';
import { ensureDurableDir } from './durable-dir.js';
import {
  PayloadError,
  RecordType,
  RecordWriter,
  checkU64,
  dataLoss,
  decodeSnapshotFile,
  maxSnapshotPayloadBytes,
  readFrame,
  putSnapshotFile,
} from './wal-record.js';
import type { WalLogger } from './wal.js';

/** Options of a {@link SnapshotStore}. */
export interface SnapshotStoreOptions {
  /** Older snapshot files kept besides the newest (SwarmKit's keep_old_snapshots). Default 0. */
  keepOld?: number;
}

const snapNamePattern = /^snap-([0-9a-f]{16})-([0-9a-f]{16})\.snap$/;
const tmpSuffix = '.tmp';

/** File name of the snapshot at (term, index). */
export function snapshotFileName(term: number, index: number): string {
  return `snap-${term.toString(16).padStart(16, '0')}-${index.toString(16).padStart(16, '0')}.snap`;
}

interface SnapFile {
  name: string;
  term: number;
  index: number;
}

/** The directory of snapshot files. Operations must not overlap (the Raft driver calls them in sequence). */
export class SnapshotStore {
  private constructor(
    private readonly fs: Fs,
    private readonly dir: string,
    private readonly keepOld: number,
    private readonly log: WalLogger,
  ) {}

  /** Opens (creating durably if needed) the snapshot directory and removes temp files left by a crash. */
  static async open(fs: Fs, dir: string, opts: SnapshotStoreOptions, log: WalLogger): Promise<SnapshotStore> {
    if (!posix.isAbsolute(dir)) throw new InvalidArgumentError(`snapshot store: dir must be an absolute path, got '${dir}'`);
    const keepOld = opts.keepOld ?? 0;
    if (!Number.isSafeInteger(keepOld) || keepOld < 0) {
      throw new InvalidArgumentError(`snapshot store: keepOld must be an integer >= 0, got ${keepOld}`);
    }
    await ensureDurableDir(fs, dir);
    for (const name of await fs.readdir(dir)) {
      if (name.startsWith('snap-') && name.endsWith(tmpSuffix)) await fs.unlink(posix.join(dir, name));
    }
    return new SnapshotStore(fs, dir, keepOld, log);
  }

  /**
   * Writes `snapshot` atomically: after this resolves it survives a power loss, and a crash at any point
   * leaves either the previous set of files or the new one, never a partial file under a snapshot name.
   * Then deletes the oldest files beyond the newest `keepOld + 1`.
   */
  async save(snapshot: Snapshot): Promise<void> {
    const m = snapshot.metadata;
    checkU64(m.index, 'snapshot.metadata.index');
    checkU64(m.term, 'snapshot.metadata.term');
    if (!(snapshot.data instanceof Uint8Array)) throw new InvalidArgumentError('snapshot.data must be a Uint8Array');
    const name = snapshotFileName(m.term, m.index);
    const path = posix.join(this.dir, name);
    const tmp = path + tmpSuffix;
    const w = new RecordWriter(snapshot.data.length + 1024);
    putSnapshotFile(w, m, snapshot.data);
    await this.fs.unlink(tmp);
    const h = await this.fs.openAppend(tmp);
    try {
      await h.append(w.bytes());
      await h.sync();
    } finally {
      await h.close();
    }
    await this.fs.rename(tmp, path);
    await this.fs.syncDir(this.dir);

    const files = await this.list();
    const doomed = files.slice(this.keepOld + 1).filter((f) => f.name !== name);
    for (const f of doomed) await this.fs.unlink(posix.join(this.dir, f.name));
    if (doomed.length > 0) await this.fs.syncDir(this.dir);
  }

  /**
   * The newest readable snapshot, or undefined when there is none. A corrupt newest file is skipped with a
   * warning when an older one exists (and is readable); otherwise DataLossError names the file and offset.
   */
  async loadLatest(): Promise<Snapshot | undefined> {
    const files = await this.list();
    for (let i = 0; i < files.length; i++) {
      const f = files[i]!;
      const path = posix.join(this.dir, f.name);
      const result = await this.read(path, f);
      if (!(result instanceof Error)) return result;
      if (i === files.length - 1) throw result;
      this.log.warn(`snapshot store: skipping unreadable snapshot ${path} (${result.message}); trying an older one`, {
        file: path,
      });
    }
    return undefined;
  }

  /** Snapshot file names present, newest (highest index, then term) first. */
  async names(): Promise<string[]> {
    return (await this.list()).map((f) => f.name);
  }

  /** Indexes of the snapshot files present, newest first. */
  async indexes(): Promise<number[]> {
    return (await this.list()).map((f) => f.index);
  }

  private async list(): Promise<SnapFile[]> {
    const out: SnapFile[] = [];
    for (const name of await this.fs.readdir(this.dir)) {
      const m = snapNamePattern.exec(name);
      if (m) out.push({ name, term: parseInt(m[1]!, 16), index: parseInt(m[2]!, 16) });
    }
    return out.sort((a, b) => b.index - a.index || b.term - a.term);
  }

  private async read(path: string, f: SnapFile): Promise<Snapshot | Error> {
    const buf = await this.fs.readFile(path);
    const fr = readFrame(buf, 0, maxSnapshotPayloadBytes);
    if (!fr.ok) return dataLoss(path, 0, `unreadable snapshot record (${fr.reason})`);
    if (fr.type !== RecordType.SnapshotFile) return dataLoss(path, 0, `record type ${fr.type} is not a snapshot`);
    if (fr.next !== buf.length) return dataLoss(path, fr.next, `${buf.length - fr.next} bytes after the snapshot record`);
    try {
      const s = decodeSnapshotFile(fr.payload);
      if (s.metadata.index !== f.index || s.metadata.term !== f.term) {
        return dataLoss(path, 0, `metadata (term ${s.metadata.term}, index ${s.metadata.index}) does not match the file name`);
      }
      return s;
    } catch (err) {
      if (err instanceof PayloadError) return dataLoss(path, 0, err.message);
      throw err;
    }
  }
}
