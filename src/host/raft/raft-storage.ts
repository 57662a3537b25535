/**
 * The Raft driver's durable storage: a {@link Wal} plus a {@link SnapshotStore} in one data directory
 * (`<dir>/wal`, `<dir>/snap`). It implements the driver's `RaftStorage` contract (save with one sync;
 * saveSnapshot atomically, then release the log behind it) and recovers a consistent bootstrap state.
 */
import { posix } from 'node:path';
import type { Fs } from '../env/fs.js';
import { DataLossError } from '../api/errors.js';
import type { Entry, HardState, Snapshot } from './types.js';
import { SnapshotStore } from './snapshot-store.js';
import { Wal, type WalLogger } from './wal.js';

/** Options of {@link openRaftStorage}. */
export interface RaftStorageOptions {
  /** WAL segment size in bytes (default 64 MiB). */
  segmentSizeBytes?: number;
  /** Older snapshots kept besides the newest (SwarmKit's keep_old_snapshots, default 0). */
  keepOldSnapshots?: number;
}

/** State to restart a Raft member from: the snapshot, the hard state, and the entries after the snapshot. */
export interface RecoveredRaftState {
  snapshot?: Snapshot;
  hardState?: HardState;
  /** Contiguous entries with indexes above the snapshot's. */
  entries: Entry[];
}

/** WAL + snapshot files behind the Raft driver. */
export class DiskRaftStorage {
  /** Indexes of the snapshots kept on disk, newest first (the WAL is released up to the oldest). */
  private readonly keptSnapshotIndexes: number[] = [];

  constructor(
    private readonly wal: Wal,
    private readonly snaps: SnapshotStore,
    private readonly keepOldSnapshots: number,
    snapshotIndexesOnDisk: number[],
  ) {
    this.keptSnapshotIndexes.push(...snapshotIndexesOnDisk.slice(0, keepOldSnapshots + 1));
  }

  /** Appends entries and the hard state with one sync (group commit). */
  save(hardState: HardState | undefined, entries: Entry[]): Promise<void> {
    return this.wal.save(hardState, entries);
  }

  /**
   * Persists a snapshot: the file first (atomic), then its marker in the WAL, then releases WAL segments
   * wholly behind the oldest snapshot still kept (so a fallback to it still finds its entries). With
   * `resetLog` (a snapshot received from the leader) every entry above the snapshot is discarded too.
   */
  async saveSnapshot(snapshot: Snapshot, opts: { resetLog?: boolean } = {}): Promise<void> {
    await this.snaps.save(snapshot);
    await this.wal.saveSnapshotMarker(snapshot.metadata, opts);
    this.keptSnapshotIndexes.unshift(snapshot.metadata.index);
    this.keptSnapshotIndexes.length = Math.min(this.keptSnapshotIndexes.length, this.keepOldSnapshots + 1);
    await this.wal.releaseTo(this.keptSnapshotIndexes[this.keptSnapshotIndexes.length - 1]!);
  }

  /** WAL segment names in use (for status and tests). */
  segmentNames(): string[] {
    return this.wal.segmentNames();
  }

  /** Closes the WAL. */
  close(): Promise<void> {
    return this.wal.close();
  }
}

/**
 * Opens the storage in `dir` and recovers: loads the newest readable snapshot, then replays the WAL relative
 * to it. Throws DataLossError when the two cannot give a gap-free log (a snapshot marker without its
 * snapshot file, or entries released past the snapshot that had to be used).
 */
export async function openRaftStorage(
  fs: Fs,
  dir: string,
  opts: RaftStorageOptions,
  log: WalLogger,
): Promise<{ storage: DiskRaftStorage; recovered: RecoveredRaftState }> {
  const snaps = await SnapshotStore.open(fs, posix.join(dir, 'snap'), { keepOld: opts.keepOldSnapshots ?? 0 }, log);
  const snapshot = await snaps.loadLatest();
  const snapIndex = snapshot?.metadata.index;
  const walOpts = opts.segmentSizeBytes === undefined ? {} : { segmentSizeBytes: opts.segmentSizeBytes };
  const { wal, recovered } = await Wal.open(
    fs,
    posix.join(dir, 'wal'),
    snapIndex === undefined ? walOpts : { ...walOpts, maxSnapshotIndex: snapIndex },
    log,
  );
  const walPath = posix.join(dir, 'wal');
  if (!snapshot && recovered.snapshotMarker) {
    await wal.close();
    throw new DataLossError(
      `raft storage: the WAL in ${walPath} records a snapshot at index ${recovered.snapshotMarker.index} but no snapshot file exists`,
    );
  }
  let entries = recovered.entries;
  if (snapIndex === undefined && entries.length > 0 && entries[0]!.index !== 1) {
    await wal.close();
    throw new DataLossError(
      `raft storage: the WAL in ${walPath} starts at entry ${entries[0]!.index} and there is no snapshot: entries 1..${entries[0]!.index - 1} are missing`,
    );
  }
  if (snapIndex !== undefined) {
    const first = entries[0]?.index;
    const last = entries.length > 0 ? entries[entries.length - 1]!.index : undefined;
    const needed = recovered.ignoredMarkerIndex;
    if ((first !== undefined && first > snapIndex + 1) || (needed !== undefined && (last === undefined || last < needed))) {
      await wal.close();
      throw new DataLossError(
        `raft storage: entries after snapshot index ${snapIndex} are missing from the WAL in ${walPath}` +
          ` (WAL holds ${first === undefined ? 'none' : `${first}..${last}`}${needed !== undefined ? `, needs up to ${needed}` : ''})`,
      );
    }
    entries = entries.filter((e) => e.index > snapIndex);
  }
  const out: RecoveredRaftState = { entries };
  if (snapshot) out.snapshot = snapshot;
  if (recovered.hardState) out.hardState = recovered.hardState;
  return { storage: new DiskRaftStorage(wal, snaps, opts.keepOldSnapshots ?? 0, await snaps.indexes()), recovered: out };
}
