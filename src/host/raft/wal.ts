/**
 * Write-ahead log for Raft: entries, hard states and snapshot markers in CRC-checked records (see
 * wal-record.ts), in segment files named `<seq>-<firstIndex>.wal` (both 16 lowercase hex digits) that roll
 * over at `segmentSizeBytes`. Format, recovery rules and the durability argument: docs/wal.md.
 */
import { posix } from 'node:path';
import type { FileHandle, Fs } from '../env/fs.js';
import { FailedPreconditionError, InvalidArgumentError } from '../api/errors.js';
import { ensureDurableDir } from './durable-dir.js';
import { EntryType, type Entry, type HardState, type SnapshotMetadata } from './types.js';
import {
  PayloadError,
  RecordType,
  RecordWriter,
  checkU64,
  dataLoss,
  decodeEntry,
  decodeHardState,
  decodeSegmentHeader,
  decodeSnapshotMarker,
  decodeLogReset,
  putLogReset,
  frameHeaderBytes,
  maxRecordPayloadBytes,
  putEntry,
  putHardState,
  putSegmentHeader,
  putSnapshotMarker,
  readFrame,
  walFormatVersion,
} from './wal-record.js';

/** Options of {@link Wal.open}. */
export interface WalOptions {
  /**
   * A segment that has reached this many bytes is closed and the next save starts a new one. A save never
   * spans two segments, so a segment can exceed this by one save. Default 64 MiB; minimum 4 KiB.
   */
  segmentSizeBytes?: number;
  /**
   * Recover relative to a snapshot at or below this index: snapshot markers above it are ignored (their
   * entries are kept). Used when the newest snapshot file is unreadable and an older one is loaded instead;
   * recovery then fails with DataLossError if entries after that older snapshot were already released.
   */
  maxSnapshotIndex?: number;
}

/** Where the WAL reports what it repaired (a torn tail) or skipped. Compatible with pino and RaftLogger. */
export interface WalLogger {
  warn(msg: string, fields?: Record<string, unknown>): void;
}

/** What the WAL held when it was opened. */
export interface RecoveredState {
  /** The latest snapshot marker (entries up to its index were covered by a persisted snapshot). */
  snapshotMarker?: SnapshotMetadata;
  /** The latest hard state. */
  hardState?: HardState;
  /**
   * The log after the marker (or from its first surviving entry when there is none), in index order, with
   * overwritten suffixes already resolved: contiguous indexes.
   */
  entries: Entry[];
  /** Highest snapshot-marker index skipped because of {@link WalOptions.maxSnapshotIndex}, if any. */
  ignoredMarkerIndex?: number;
}

/** Default segment size in bytes (64 MiB, as etcd). */
export const defaultSegmentSizeBytes = 64 * 1024 * 1024;
const minSegmentSizeBytes = 4096;

const segmentNamePattern = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/;

/** File name of a segment: 16 hex digits of the sequence number, '-', 16 hex digits of its first index. */
export function segmentFileName(seq: number, firstIndex: number): string {
  return `${hex16(seq)}-${hex16(firstIndex)}.wal`;
}

function hex16(n: number): string {
  return n.toString(16).padStart(16, '0');
}

interface Segment {
  seq: number;
  firstIndex: number;
  name: string;
  /** Highest entry index written in this segment, or -1 when it holds no entry. */
  maxEntryIndex: number;
}

/**
 * The write-ahead log. Operations are serialized internally (callers may overlap them; they run in call
 * order). Every save/saveSnapshotMarker ends with one fdatasync of the current segment; when it starts a new
 * segment the directory is synced too. After any write or sync failure the WAL refuses all further work:
 * the process must restart and recover from what is on disk (a failed fsync is never retried).
 */
export class Wal {
  private readonly writer = new RecordWriter();
  private chain: Promise<unknown> = Promise.resolve();
  private failure: unknown;
  private closed = false;

  private constructor(
    private readonly fs: Fs,
    private readonly dir: string,
    private readonly segmentSizeBytes: number,
    private readonly segments: Segment[],
    private handle: FileHandle,
    /** Index of the last entry of the resolved log (or the marker's index when the log after it is empty); 0 if none. */
    private lastIndex: number,
    /** True once any entry or marker exists (before that, the first save may start at any index). */
    private started: boolean,
    private marker: SnapshotMetadata | undefined,
    private hardState: HardState | undefined,
  ) {}

  /**
   * Opens (or creates) the WAL in `dir`, recovers its content and only then opens the last segment for
   * append. A torn last record of the last segment is truncated (logged through `log.warn`); any other
   * unreadable record, a missing segment or a gap in the entry indexes throws DataLossError naming the file
   * and byte offset.
   */
  static async open(
    fs: Fs,
    dir: string,
    opts: WalOptions,
    log: WalLogger,
  ): Promise<{ wal: Wal; recovered: RecoveredState }> {
    const segmentSizeBytes = opts.segmentSizeBytes ?? defaultSegmentSizeBytes;
    if (!Number.isSafeInteger(segmentSizeBytes) || segmentSizeBytes < minSegmentSizeBytes) {
      throw new InvalidArgumentError(
        `wal: segmentSizeBytes must be an integer >= ${minSegmentSizeBytes}, got ${segmentSizeBytes}`,
      );
    }
    if (!posix.isAbsolute(dir)) throw new InvalidArgumentError(`wal: dir must be an absolute path, got '${dir}'`);
    if (opts.maxSnapshotIndex !== undefined) checkU64(opts.maxSnapshotIndex, 'wal: maxSnapshotIndex');

    await ensureDurableDir(fs, dir);

    const found: Segment[] = [];
    for (const name of await fs.readdir(dir)) {
      const m = segmentNamePattern.exec(name);
      if (!m) {
        if (name.endsWith('.wal')) log.warn(`wal: ignoring unexpected file ${posix.join(dir, name)}`);
        continue;
      }
      found.push({ name, seq: parseInt(m[1]!, 16), firstIndex: parseInt(m[2]!, 16), maxEntryIndex: -1 });
    }
    found.sort((a, b) => a.seq - b.seq);
    for (let i = 1; i < found.length; i++) {
      if (found[i]!.seq !== found[i - 1]!.seq + 1) {
        throw dataLoss(posix.join(dir, found[i]!.name), 0, `segment ${found[i - 1]!.seq + 1} is missing before it`);
      }
    }

    const replay = new Replay(opts.maxSnapshotIndex);
    let handle: FileHandle | undefined;
    for (let i = 0; i < found.length; i++) {
      const seg = found[i]!;
      const path = posix.join(dir, seg.name);
      const isLast = i === found.length - 1;
      const validEnd = await replaySegment(fs, path, seg, isLast, replay, log);
      if (!isLast) continue;
      replay.checkHoles();
      if (validEnd === 0) {
        // Not even a whole header survived: the segment was being created when the power went.
        if (found.length > 1) {
          log.warn(`wal: removing empty torn segment ${path}`);
          await fs.unlink(path);
          await fs.syncDir(dir);
          found.pop();
          handle = await fs.openAppend(posix.join(dir, found[found.length - 1]!.name));
        } else {
          handle = await fs.openAppend(path);
          const w = new RecordWriter(64);
          putSegmentHeader(w, seg);
          await handle.append(w.bytes());
        }
      } else {
        handle = await fs.openAppend(path);
      }
      // Makes a torn-tail truncation (or a rewritten header) durable before anything new is appended.
      await handle.sync();
    }

    const segments = found;
    if (!handle) {
      const seg: Segment = { seq: 0, firstIndex: 1, name: segmentFileName(0, 1), maxEntryIndex: -1 };
      handle = await fs.openAppend(posix.join(dir, seg.name));
      const w = new RecordWriter(64);
      putSegmentHeader(w, seg);
      await handle.append(w.bytes());
      await handle.sync();
      await fs.syncDir(dir);
      segments.push(seg);
    }

    const recovered = replay.result();
    const wal = new Wal(
      fs,
      dir,
      segmentSizeBytes,
      segments,
      handle,
      replay.lastIndex(),
      replay.started(),
      recovered.snapshotMarker,
      recovered.hardState,
    );
    return { wal, recovered };
  }

  /**
   * Appends `hardState` (if given) and `entries` as records and makes them durable with one fdatasync
   * (group commit). An entry with index i supersedes every earlier-written entry with index >= i.
   * `entries` must have consecutive indexes, the first at most lastIndex + 1 and above the snapshot marker.
   */
  save(hardState: HardState | undefined, entries: Entry[]): Promise<void> {
    return this.run(async () => {
      if (hardState) checkHardState(hardState);
      checkEntries(entries, this.lastIndex, this.started, this.marker);
      if (!hardState && entries.length === 0) return;
      const w = this.writer;
      w.reset();
      let rolled: Segment | undefined;
      if (this.handle.size() >= this.segmentSizeBytes) rolled = this.beginSegment(w);
      for (const e of entries) putEntry(w, e);
      if (hardState) putHardState(w, hardState);
      await this.write(w, rolled);
      const cur = this.segments[this.segments.length - 1]!;
      if (entries.length > 0) {
        const last = entries[entries.length - 1]!.index;
        cur.maxEntryIndex = Math.max(cur.maxEntryIndex, last);
        this.lastIndex = last;
        this.started = true;
      }
      if (hardState) this.hardState = { ...hardState };
    });
  }

  /**
   * Records that a snapshot at `meta` is durable (save the snapshot file first). Entries up to meta.index
   * become covered by it; recovery returns only the entries after it. One fdatasync.
   */
  saveSnapshotMarker(meta: SnapshotMetadata, opts: { resetLog?: boolean } = {}): Promise<void> {
    return this.run(async () => {
      checkU64(meta.index, 'wal: snapshot marker index');
      checkU64(meta.term, 'wal: snapshot marker term');
      if (this.marker && meta.index < this.marker.index) {
        throw new InvalidArgumentError(
          `wal: snapshot marker index must not go backwards (${meta.index} < ${this.marker.index})`,
        );
      }
      const w = this.writer;
      w.reset();
      let rolled: Segment | undefined;
      if (this.handle.size() >= this.segmentSizeBytes) rolled = this.beginSegment(w, meta);
      else putSnapshotMarker(w, meta);
      if (opts.resetLog === true) putLogReset(w, meta.index);
      await this.write(w, rolled);
      this.marker = cloneMeta(meta);
      if (meta.index >= this.lastIndex || opts.resetLog === true) this.lastIndex = meta.index;
      this.started = true;
    });
  }

  /**
   * Deletes the oldest segments whose every entry has index <= `index`, stopping at the first one that
   * holds a later entry; the current segment is never deleted. `index` must be covered by the snapshot
   * marker (index <= marker.index), so released entries are never needed again.
   */
  releaseTo(index: number): Promise<void> {
    return this.run(async () => {
      checkU64(index, 'wal: releaseTo index');
      if (!this.marker || index > this.marker.index) {
        throw new FailedPreconditionError(
          `wal: cannot release entries up to ${index}: no snapshot marker covers them (marker index ${this.marker?.index ?? 'none'})`,
        );
      }
      while (this.segments.length > 1 && this.segments[0]!.maxEntryIndex <= index) {
        const seg = this.segments[0]!;
        await this.fs.unlink(posix.join(this.dir, seg.name));
        // One directory sync per unlink keeps deletions in order, so a crash never leaves a gap in the
        // segment sequence (recovery treats a gap as lost data).
        await this.fs.syncDir(this.dir);
        this.segments.shift();
      }
    });
  }

  /** Names of the segment files currently in use, oldest first (for tests and status). */
  segmentNames(): string[] {
    return this.segments.map((s) => s.name);
  }

  /** Waits for queued operations and closes the current segment. Later calls throw. */
  close(): Promise<void> {
    return this.run(async () => {
      this.closed = true;
      await this.handle.close();
    });
  }

  private run<T>(op: () => Promise<T>): Promise<T> {
    const p = this.chain.then(async () => {
      if (this.closed) throw new FailedPreconditionError('wal: closed');
      if (this.failure !== undefined) {
        throw new FailedPreconditionError(
          `wal: an earlier write or sync failed (${String(this.failure)}); restart to recover from disk`,
        );
      }
      return op();
    });
    this.chain = p.catch(() => undefined);
    return p;
  }

  /**
   * Starts a new segment in `w`: header, then the latest marker (or `marker`) and hard state, so that the
   * segment is self-sufficient once older ones are released.
   */
  private beginSegment(w: RecordWriter, marker?: SnapshotMetadata): Segment {
    const prev = this.segments[this.segments.length - 1]!;
    const seg: Segment = {
      seq: prev.seq + 1,
      firstIndex: this.lastIndex + 1,
      name: segmentFileName(prev.seq + 1, this.lastIndex + 1),
      maxEntryIndex: -1,
    };
    putSegmentHeader(w, seg);
    const m = marker ?? this.marker;
    if (m) putSnapshotMarker(w, m);
    if (this.hardState) putHardState(w, this.hardState);
    return seg;
  }

  private async write(w: RecordWriter, rolled: Segment | undefined): Promise<void> {
    try {
      if (rolled) {
        const next = await this.fs.openAppend(posix.join(this.dir, rolled.name));
        await this.handle.close();
        this.handle = next;
        this.segments.push(rolled);
      }
      await this.handle.append(w.bytes());
      await this.handle.sync();
      if (rolled) await this.fs.syncDir(this.dir);
    } catch (err) {
      this.failure = err;
      throw err;
    }
  }
}

/** Resolves the log while records are replayed in write order (the same rules the writer checks). */
class Replay {
  private marker: SnapshotMetadata | undefined;
  private hardState: HardState | undefined;
  /** Index just before log[0]; -1 while nothing has been seen. */
  private base = -1;
  private log: Entry[] = [];
  private ignoredMarkerIndex: number | undefined;
  /** Entries (after, end] are missing below the current log, first noticed at (path, offset). */
  private hole: { end: number; after: number; index: number; path: string; offset: number } | undefined;
  /** Where the first entry of the replay was read (the log's start when no marker preceded it). */
  private start: { path: string; offset: number } | undefined;

  constructor(private readonly maxSnapshotIndex: number | undefined) {}

  applyMarker(m: SnapshotMetadata): void {
    if (this.maxSnapshotIndex !== undefined && m.index > this.maxSnapshotIndex) {
      this.ignoredMarkerIndex = Math.max(this.ignoredMarkerIndex ?? 0, m.index);
      return;
    }
    if (this.marker && m.index < this.marker.index) return;
    this.marker = m;
    if (this.hole && m.index >= this.hole.end) this.hole = undefined;
    if (this.base === -1 || m.index >= this.base + this.log.length) {
      this.log = [];
      this.base = m.index;
    } else if (m.index > this.base) {
      this.log = this.log.slice(m.index - this.base);
      this.base = m.index;
    }
  }

  /** Discards every entry above `index` (a snapshot from the leader replaced the whole log). */
  applyLogReset(index: number): void {
    if (this.base === -1) return;
    if (index < this.base) {
      this.log = [];
      this.base = index;
    } else if (this.base + this.log.length > index) {
      this.log.length = index - this.base;
    }
  }

  /**
   * Applies an entry read at (path, offset). A gap (index above lastIndex + 1) restarts the log at the entry
   * and is remembered as a hole: it is legitimate only if a later marker covers it (the entries in between
   * were in segments released behind that snapshot); {@link Replay.checkHoles} fails otherwise.
   */
  applyEntry(e: Entry, path: string, offset: number): void {
    if (this.marker && e.index <= this.marker.index) return;
    if (this.base === -1) {
      this.base = e.index - 1;
      this.log = [e];
      this.start = { path, offset };
      return;
    }
    const last = this.base + this.log.length;
    if (e.index > last + 1) {
      this.hole = { end: e.index - 1, after: last, index: e.index, path, offset };
      this.base = e.index - 1;
      this.log = [e];
      return;
    }
    if (e.index <= this.base) {
      if (this.hole) this.hole.end = Math.min(this.hole.end, e.index - 1);
      this.base = e.index - 1;
      this.log = [e];
      return;
    }
    this.log.length = e.index - this.base - 1;
    this.log.push(e);
  }

  /** Throws DataLossError if entries are missing below the log and no snapshot marker covers them. */
  checkHoles(): void {
    const h = this.hole;
    if (h && !(this.marker && this.marker.index >= h.end) && h.end > h.after) {
      throw dataLoss(h.path, h.offset, `entry index ${h.index} leaves a gap after index ${h.after} that no snapshot marker covers`);
    }
    // The log began (in the oldest segment kept) above the marker: the entries in between were released
    // although no kept snapshot covers them.
    if (this.marker && this.start && this.log.length > 0 && this.base > this.marker.index) {
      throw dataLoss(
        this.start.path,
        this.start.offset,
        `the log starts at index ${this.base + 1} but the snapshot marker is at ${this.marker.index}: entries in between are missing`,
      );
    }
  }

  applyHardState(hs: HardState): void {
    this.hardState = hs;
  }

  lastIndex(): number {
    return this.base === -1 ? 0 : this.base + this.log.length;
  }

  started(): boolean {
    return this.base !== -1;
  }

  result(): RecoveredState {
    const r: RecoveredState = { entries: this.log };
    if (this.marker) r.snapshotMarker = this.marker;
    if (this.hardState) r.hardState = this.hardState;
    if (this.ignoredMarkerIndex !== undefined) r.ignoredMarkerIndex = this.ignoredMarkerIndex;
    return r;
  }
}

/**
 * Replays one segment file into `replay`. Returns the byte length of its valid prefix (after truncating a
 * torn tail of the last segment). Throws DataLossError for anything that is not a torn tail.
 */
async function replaySegment(
  fs: Fs,
  path: string,
  seg: Segment,
  isLast: boolean,
  replay: Replay,
  log: WalLogger,
): Promise<number> {
  const buf = await fs.readFile(path);
  let off = 0;
  let first = true;
  while (off < buf.length) {
    const fr = readFrame(buf, off);
    if (!fr.ok) {
      if (!isLast) throw dataLoss(path, off, `unreadable record (${fr.reason}) in a segment that is not the last`);
      const later = findValidFrame(buf, off + 1);
      if (later !== -1) {
        throw dataLoss(path, off, `unreadable record (${fr.reason}) followed by a valid record at byte offset ${later}`);
      }
      log.warn(
        `wal: truncating torn tail of ${path} at byte offset ${off} (${buf.length - off} bytes dropped: ${fr.reason})`,
        { file: path, offset: off, droppedBytes: buf.length - off, reason: fr.reason },
      );
      await fs.truncate(path, off);
      return off;
    }
    try {
      if (first) {
        if (fr.type !== RecordType.SegmentHeader) throw new PayloadError('first record is not a segment header');
        const h = decodeSegmentHeader(fr.payload);
        if (h.version !== walFormatVersion) throw new PayloadError(`unsupported WAL format version ${h.version}`);
        if (h.seq !== seg.seq || h.firstIndex !== seg.firstIndex) {
          throw new PayloadError(`segment header (seq ${h.seq}, first index ${h.firstIndex}) does not match the file name`);
        }
        first = false;
      } else {
        switch (fr.type) {
          case RecordType.Entry: {
            const e = decodeEntry(fr.payload);
            replay.applyEntry(e, path, off);
            seg.maxEntryIndex = Math.max(seg.maxEntryIndex, e.index);
            break;
          }
          case RecordType.HardState:
            replay.applyHardState(decodeHardState(fr.payload));
            break;
          case RecordType.SnapshotMarker:
            replay.applyMarker(decodeSnapshotMarker(fr.payload));
            break;
          case RecordType.LogReset:
            replay.applyLogReset(decodeLogReset(fr.payload));
            break;
          default:
            throw new PayloadError(`record type ${fr.type} does not belong in a WAL segment`);
        }
      }
    } catch (err) {
      if (err instanceof PayloadError) throw dataLoss(path, off, err.message);
      throw err;
    }
    off = fr.next;
  }
  return off;
}

/**
 * Offset of the first well-formed frame (known type, fits in the buffer, CRC matches) at or after `from`, or
 * -1. A torn write only loses a suffix, so well-formed data after a bad frame means corruption, not a tear.
 */
function findValidFrame(buf: Uint8Array, from: number): number {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (let p = from; p + frameHeaderBytes <= buf.length; p++) {
    const len = view.getUint32(p, true);
    if (len > maxRecordPayloadBytes || p + frameHeaderBytes + len > buf.length) continue;
    const t = buf[p + 4]!;
    if (t < RecordType.SegmentHeader || t > RecordType.LogReset) continue;
    if (readFrame(buf, p).ok) return p;
  }
  return -1;
}

function checkHardState(hs: HardState): void {
  checkU64(hs.term, 'wal: hardState.term');
  checkU64(hs.commit, 'wal: hardState.commit');
  if (typeof hs.vote !== 'string') throw new InvalidArgumentError('wal: hardState.vote must be a string');
}

function checkEntries(
  entries: Entry[],
  lastIndex: number,
  started: boolean,
  marker: SnapshotMetadata | undefined,
): void {
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    checkU64(e.index, `wal: entries[${i}].index`);
    checkU64(e.term, `wal: entries[${i}].term`);
    if (e.index === 0) throw new InvalidArgumentError(`wal: entries[${i}].index must be >= 1`);
    if (e.type !== EntryType.Normal && e.type !== EntryType.ConfChange) {
      throw new InvalidArgumentError(`wal: entries[${i}].type must be Normal (0) or ConfChange (1), got ${e.type}`);
    }
    if (!(e.data instanceof Uint8Array)) throw new InvalidArgumentError(`wal: entries[${i}].data must be a Uint8Array`);
    if (i > 0 && e.index !== entries[i - 1]!.index + 1) {
      throw new InvalidArgumentError(
        `wal: entries[${i}].index must follow entries[${i - 1}].index (${entries[i - 1]!.index}), got ${e.index}`,
      );
    }
  }
  if (entries.length === 0) return;
  const first = entries[0]!.index;
  if (marker && first <= marker.index) {
    throw new InvalidArgumentError(
      `wal: entries[0].index must be above the snapshot marker index ${marker.index}, got ${first}`,
    );
  }
  if (started && first > lastIndex + 1) {
    throw new InvalidArgumentError(`wal: entries[0].index must be <= lastIndex + 1 (${lastIndex + 1}), got ${first}`);
  }
}

function cloneMeta(m: SnapshotMetadata): SnapshotMetadata {
  return { index: m.index, term: m.term, conf: { voters: [...m.conf.voters], removed: [...m.conf.removed] } };
}
