/**
 * The worker's durable task table: each assigned task, its last observed status and its executor handle. An
 * agent that restarts reads it back and re-attaches to running work through `Executor.recover(handle)` instead
 * of starting it twice.
 *
 * On disk (`<stateDir>/worker/`): a snapshot `tasks.json` (`{version: 1, seq, tasks}`, replaced atomically:
 * temp file, fsync, rename, fsync of the directory) and an append-only journal `tasks.journal` of the changes
 * made since, one line per change: `<crc32 as 8 hex digits> <json>\n`, the json carrying a sequence number.
 * Recovery = snapshot + the journal lines with a higher sequence number, in order.
 *
 * Group commit: a change updates the in-memory table at once and queues its journal line; one append + one
 * fdatasync writes every line queued while the previous write was in flight (at most `maxGroupBytes` per
 * write), and each caller's promise resolves only once the write that carried its line is durable, so nothing
 * the agent reported is lost by a crash. A failed write rejects exactly the callers whose lines it carried; the
 * next write (the next change or {@link TaskDb.flush}) is then a compaction, which rewrites the whole table
 * (those changes included) and starts a fresh journal, so a half-written line never sits in the middle of one.
 * The journal is compacted the same way once it exceeds `compactJournalBytes` and 4 × the last snapshot.
 *
 * Torn tail: a crash during an append can leave a partial (or, on some file systems, garbage) last line: it
 * was never acknowledged, so it is dropped and the table compacted on open. A line that fails its checksum or
 * does not parse with more lines after it is corruption, not a torn write: DataLossError.
 */
import { crc32 } from 'node:zlib';
import { join } from 'node:path';
import { DataLossError, InvalidArgumentError } from '../api/errors.js';
import type { Task, TaskStatus } from '../api/objects.js';
import type { TaskHandle } from './executor.js';
import { RealFs, type FileHandle, type Fs } from '../env/index.js';

/** One task as the worker remembers it. */
export interface TaskRecord {
  task: Task;
  /** Last status the agent observed (and reported or will re-report). */
  status: TaskStatus;
  /** Executor handle for recover(); absent until the controller exists. */
  handle?: TaskHandle;
}

/** Size limits of the task table's files (bytes). */
export interface TaskDbLimits {
  /** Most journal bytes appended by one write (one group commit), bytes (4 MiB). A single larger line is written alone. */
  maxGroupBytes: number;
  /** The journal is compacted into the snapshot once it is larger than this and 4 × the snapshot, bytes (1 MiB). */
  compactJournalBytes: number;
}

/** Defaults of {@link TaskDbLimits}. */
export const DEFAULT_TASK_DB_LIMITS: Readonly<TaskDbLimits> = Object.freeze({
  maxGroupBytes: 4 * 1024 * 1024,
  compactJournalBytes: 1024 * 1024,
});

/** Options of {@link TaskDb.open}. */
export interface TaskDbOptions {
  /** The file-system seam (the deterministic simulation passes a SimFs); default node:fs (RealFs). */
  fs?: Fs;
  limits?: Partial<TaskDbLimits>;
}

interface SnapshotShape {
  version: 1;
  /** Sequence number of the last journal line the snapshot includes (absent in files of older versions: 0). */
  seq?: number;
  tasks: TaskRecord[];
}

/** One journal line's JSON: a put (whole record), a status update, or a delete. */
type JournalOp =
  | { q: number; put: TaskRecord }
  | { q: number; id: string; status: TaskStatus; handle?: TaskHandle }
  | { q: number; del: string };

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

/** One change waiting for the next write: its journal line's JSON ('' for a flush marker) and its callers. */
interface QueuedChange {
  taskId: string | undefined;
  kind: 'put' | 'status' | 'del' | 'flush';
  json: string;
  waiters: Waiter[];
}

/** Stats of the writes done so far (observability, tests and the benchmarks). */
export interface TaskDbStats {
  /** Journal appends (each one fdatasync) so far. */
  appends: number;
  /** Journal lines written so far. */
  lines: number;
  /** Snapshot rewrites (compactions) so far. */
  compactions: number;
}

const decoder = new TextDecoder();
const SNAPSHOT = 'tasks.json';
const JOURNAL = 'tasks.journal';

/** Persistent map taskId → {@link TaskRecord}, written with group commit to a journal. */
export class TaskDb {
  private readonly records = new Map<string, TaskRecord>();
  private readonly limits: TaskDbLimits;
  /** Lines waiting for the next write, with their callers. */
  private queue: QueuedChange[] = [];
  /** The newest queued (not yet written) change of each task, for coalescing status changes. */
  private readonly latest = new Map<string, QueuedChange>();
  private writing: Promise<void> | undefined;
  private journal: FileHandle | undefined;
  private seq = 0;
  private snapshotBytes = 0;
  /** The next write must rewrite the snapshot and start a fresh journal (a failed write, a torn tail). */
  private mustCompact = false;
  readonly stats: TaskDbStats = { appends: 0, lines: 0, compactions: 0 };

  private constructor(
    /** The snapshot's path (`<stateDir>/worker/tasks.json`); the journal is next to it. */
    readonly path: string,
    private readonly journalPath: string,
    private readonly dir: string,
    private readonly fs: Fs,
    limits: Partial<TaskDbLimits> | undefined,
  ) {
    this.limits = { ...DEFAULT_TASK_DB_LIMITS, ...limits };
    for (const [k, v] of Object.entries(this.limits)) {
      if (!Number.isInteger(v) || v <= 0) throw new InvalidArgumentError(`taskDb.limits.${k}: must be a positive integer of bytes, got ${v}`);
    }
  }

  /**
   * Opens (or creates empty) the table under `<stateDir>/worker/`: the snapshot, then the journal replayed on
   * top. A snapshot that does not parse, or a corrupt journal line before the last one, is a DataLossError.
   * `fsOrOptions`: the file-system seam (kept for callers that pass only that) or {@link TaskDbOptions}.
   */
  static async open(stateDir: string, fsOrOptions?: Fs | TaskDbOptions): Promise<TaskDb> {
    const o: TaskDbOptions = fsOrOptions === undefined ? {} : 'openAppend' in fsOrOptions ? { fs: fsOrOptions } : fsOrOptions;
    const fs = o.fs ?? new RealFs();
    const dir = join(stateDir, 'worker');
    await fs.mkdirp(dir, 0o700);
    await fs.syncDir(stateDir); // a new directory's entry is durable before anything in it is acknowledged
    const db = new TaskDb(join(dir, SNAPSHOT), join(dir, JOURNAL), dir, fs, o.limits);
    const snap = await readOptional(fs, db.path);
    if (snap !== undefined) {
      db.snapshotBytes = snap.length;
      let parsed: SnapshotShape;
      try {
        parsed = JSON.parse(decoder.decode(snap)) as SnapshotShape;
      } catch (err) {
        throw new DataLossError(`task db ${db.path}: not valid JSON (${(err as Error).message})`);
      }
      if (parsed.version !== 1 || !Array.isArray(parsed.tasks)) {
        throw new DataLossError(`task db ${db.path}: unsupported format (version ${String(parsed.version)})`);
      }
      for (const r of parsed.tasks) db.records.set(r.task.id, r);
      db.seq = typeof parsed.seq === 'number' ? parsed.seq : 0;
    }
    const journal = await readOptional(fs, db.journalPath);
    if (journal !== undefined && journal.length > 0) db.replay(journal);
    return db;
  }

  /** Applies the journal lines newer than the snapshot; a torn last line marks the table for compaction. */
  private replay(bytes: Uint8Array): void {
    const snapSeq = this.seq;
    let start = 0;
    let lineNo = 0;
    while (start < bytes.length) {
      lineNo++;
      const nl = bytes.indexOf(0x0a, start);
      const end = nl < 0 ? bytes.length : nl;
      const op = parseLine(bytes.subarray(start, end));
      const last = nl < 0 || nl === bytes.length - 1;
      if (op === undefined || nl < 0) {
        if (!last) throw new DataLossError(`task db ${this.journalPath}: line ${lineNo} is corrupt (bad checksum or JSON) and is not the last one`);
        this.mustCompact = true; // a torn tail: never acknowledged, dropped by the compaction before the next append
        break;
      }
      if (op.q > snapSeq) this.applyOp(op);
      if (op.q > this.seq) this.seq = op.q;
      start = end + 1;
    }
  }

  private applyOp(op: JournalOp): void {
    if ('put' in op) this.records.set(op.put.task.id, op.put);
    else if ('del' in op) this.records.delete(op.del);
    else {
      const r = this.records.get(op.id);
      if (!r) return;
      r.status = op.status;
      if (op.handle) r.handle = op.handle;
    }
  }

  /** The record of one task, or undefined. Do not mutate it: change it through put/updateStatus. */
  get(taskId: string): TaskRecord | undefined {
    return this.records.get(taskId);
  }

  /** All records, in insertion order. */
  list(): TaskRecord[] {
    return [...this.records.values()];
  }

  /**
   * Inserts or replaces a record; the returned promise resolves once it is on disk. The table keeps the
   * record's task, status and handle objects as given (no deep copy): callers must not mutate them afterwards.
   */
  put(record: TaskRecord): Promise<void> {
    const r: TaskRecord = { ...record };
    this.records.set(r.task.id, r);
    return this.enqueue(r.task.id, 'put', JSON.stringify({ q: ++this.seq, put: r }));
  }

  /**
   * Updates the status (and handle, when given) of a known task; unknown ids are ignored. Durable on resolve.
   * A status change of a task whose previous change is still queued (not yet being written) replaces that
   * line: only the newest status reaches the disk, and both callers resolve with the same write.
   * The objects are kept as given, like {@link TaskDb.put}.
   */
  updateStatus(taskId: string, status: TaskStatus, handle?: TaskHandle): Promise<void> {
    const r = this.records.get(taskId);
    if (!r) return Promise.resolve();
    r.status = status;
    if (handle) r.handle = handle;
    const json = JSON.stringify(r.handle ? { q: ++this.seq, id: taskId, status, handle: r.handle } : { q: ++this.seq, id: taskId, status });
    const prev = this.latest.get(taskId);
    if (prev !== undefined && prev.kind === 'status') {
      prev.json = json;
      return new Promise<void>((resolve, reject) => prev.waiters.push({ resolve, reject }));
    }
    return this.enqueue(taskId, 'status', json);
  }

  /** Forgets a task (after its controller was removed). Durable on resolve. */
  delete(taskId: string): Promise<void> {
    if (!this.records.delete(taskId)) return Promise.resolve();
    return this.enqueue(taskId, 'del', JSON.stringify({ q: ++this.seq, del: taskId }));
  }

  /**
   * Resolves when every change made so far is on disk; after a failed write it tries again (a compaction)
   * and rejects if that fails too.
   */
  async flush(): Promise<void> {
    if (this.queue.length === 0 && !this.mustCompact) {
      while (this.writing) await this.writing;
      if (!this.mustCompact) return;
    }
    await this.enqueue(undefined, 'flush', '');
  }

  /** Flushes, then releases the journal's file handle (a later change reopens it). */
  async close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      while (this.writing) await this.writing.catch(() => undefined);
      const j = this.journal;
      this.journal = undefined;
      await j?.close().catch(() => undefined);
    }
  }

  private enqueue(taskId: string | undefined, kind: QueuedChange['kind'], json: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const e: QueuedChange = { taskId, kind, json, waiters: [{ resolve, reject }] };
      this.queue.push(e);
      if (taskId !== undefined) this.latest.set(taskId, e);
      this.kick();
    });
  }

  /** Starts a write when none is in flight and something is queued. */
  private kick(): void {
    if (this.writing || this.queue.length === 0) return;
    this.writing = this.writeGroup().finally(() => {
      this.writing = undefined;
      this.kick();
    });
  }

  /** One group commit: the queued lines (up to maxGroupBytes) in one append + fdatasync, or a compaction. */
  private async writeGroup(): Promise<void> {
    let text = '';
    let bytes = 0;
    let n = 0;
    for (; n < this.queue.length; n++) {
      const e = this.queue[n]!;
      if (e.json === '') continue;
      const line = `${crc32(e.json).toString(16).padStart(8, '0')} ${e.json}\n`;
      const size = Buffer.byteLength(line);
      if (bytes > 0 && bytes + size > this.limits.maxGroupBytes) break;
      text += line;
      bytes += size;
    }
    const group = this.queue.slice(0, n);
    this.queue = this.queue.slice(n);
    for (const e of group) if (e.taskId !== undefined && this.latest.get(e.taskId) === e) this.latest.delete(e.taskId);
    try {
      const journalBytes = this.journal?.size() ?? 0;
      if (this.mustCompact || (journalBytes + bytes > this.limits.compactJournalBytes && journalBytes + bytes > 4 * this.snapshotBytes)) {
        // The snapshot holds the in-memory table, which already includes every queued change.
        await this.compact();
      } else if (bytes > 0) {
        const j = this.journal ?? (this.journal = await this.fs.openAppend(this.journalPath));
        await j.append(Buffer.from(text, 'utf8'));
        await j.sync();
        this.stats.appends++;
        this.stats.lines += group.filter((e) => e.json !== '').length;
      }
    } catch (err) {
      this.mustCompact = true;
      const e = err instanceof Error ? err : new Error(String(err));
      for (const g of group) for (const w of g.waiters) w.reject(e);
      return;
    }
    for (const g of group) for (const w of g.waiters) w.resolve();
  }

  /**
   * Rewrites the snapshot with the whole table (atomic replace, directory synced), then starts an empty
   * journal. A crash between the two leaves old journal lines whose sequence numbers the snapshot covers:
   * replay skips them.
   */
  private async compact(): Promise<void> {
    const text = Buffer.from(JSON.stringify({ version: 1, seq: this.seq, tasks: [...this.records.values()] } satisfies SnapshotShape), 'utf8');
    const tmp = `${this.path}.tmp`;
    await this.fs.unlink(tmp);
    const fh = await this.fs.openAppend(tmp);
    try {
      await fh.append(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await this.fs.rename(tmp, this.path);
    await this.fs.syncDir(this.dir);
    this.snapshotBytes = text.length;
    const old = this.journal;
    this.journal = undefined;
    await old?.close().catch(() => undefined);
    await this.fs.unlink(this.journalPath);
    this.journal = await this.fs.openAppend(this.journalPath);
    await this.fs.syncDir(this.dir);
    this.mustCompact = false;
    this.stats.compactions++;
  }
}

async function readOptional(fs: Fs, path: string): Promise<Uint8Array | undefined> {
  try {
    return await fs.readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Parses one journal line (without its newline); undefined when its checksum or JSON is bad. */
function parseLine(line: Uint8Array): JournalOp | undefined {
  if (line.length < 10 || line[8] !== 0x20) return undefined;
  const want = Number.parseInt(decoder.decode(line.subarray(0, 8)), 16);
  const body = line.subarray(9);
  if (!Number.isFinite(want) || crc32(body) !== want) return undefined;
  try {
    const op = JSON.parse(decoder.decode(body)) as JournalOp;
    return typeof op === 'object' && op !== null && typeof op.q === 'number' ? op : undefined;
  } catch {
    return undefined;
  }
}
