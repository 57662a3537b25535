/**
 * The worker's durable task table: each assigned task, its last observed status and its executor handle. An
 * agent that restarts reads it back and re-attaches to running work through `Executor.recover(handle)` instead
 * of starting it twice.
 *
 * On disk (`<stateDir>/worker/`): a snapshot `tasks.json` (`{version: 1, seq, tasks}`, replaced atomically:
 * temp file, fsync, rename, fsync of the directory) and an append-only journal `tasks.journal` of the changes
 * made since. The journal is a sequence of frames, one per write: a header line `<crc32 of the payload as 8 hex
 * digits> <payload bytes>\n`, then the payload, one JSON change per line (each with a sequence number).
 * Recovery = snapshot + the journal changes with a higher sequence number, in order.
 *
 * Group commit: a change updates the in-memory table at once and queues itself; one append + one fdatasync
 * writes every change queued while the previous write was in flight (at most `maxGroupBytes` per write), and
 * each caller's promise resolves only once the write that carried its change is durable, so nothing the agent
 * reported is lost by a crash. A status change of a task whose previous change is still queued replaces it
 * (only the newest status of a task is written; both callers resolve with that write). A failed write rejects
 * exactly the callers whose changes it carried; the next write (the next change or {@link TaskDb.flush}) is then
 * a compaction, which rewrites the whole table (those changes included) and starts a fresh journal, so a
 * half-written frame never sits in the middle of one. The journal is compacted the same way once it exceeds
 * `compactJournalBytes` and 4 × the last snapshot.
 *
 * Torn tail: a crash during an append can leave the last frame incomplete: it was never acknowledged, so it is
 * dropped, and the table compacted before the next append. A frame that fails its checksum with more bytes after
 * it is corruption, not a torn write: DataLossError.
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
  /**
   * Most journal payload per write (one group commit), bytes (4 MiB; counted as JSON characters, which is
   * bytes for ASCII). A single larger change is written alone.
   */
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

/**
 * One journal line's JSON: a put (whole record), a status update, or a delete. A put whose task came with its
 * source text is written as `{q, status, handle?, src}`, `src` being that text verbatim (an object whose member
 * `task` is the task: the assignment it was parsed from), so the task is not serialised a second time; replay
 * parses the same text, so it reads back the same task. (In memory, the queued put carries the text in `src`.)
 */
type JournalOp =
  | { q: number; put: TaskRecord; src?: string }
  | { q: number; id: string; status: TaskStatus; handle?: TaskHandle }
  | { q: number; del: string };

/** A put as read back from a journal line written with its source text. */
interface SourcedPut {
  q: number;
  status: TaskStatus;
  handle?: TaskHandle;
  src: { task: TaskRecord['task'] };
}

/**
 * Told once the write carrying a change is durable (`err` undefined) or failed (the error). `written`: for a
 * status change, the status that write carried (the task's newest, which may be newer than the caller's).
 */
export type TaskDbDone = (err: Error | undefined, written: TaskStatus | undefined) => void;
type Waiter = TaskDbDone;

/** A Waiter that settles a promise. */
function promised(): { promise: Promise<void>; waiter: Waiter } {
  let waiter!: Waiter;
  const promise = new Promise<void>((resolve, reject) => {
    waiter = (err) => (err === undefined ? resolve() : reject(err));
  });
  return { promise, waiter };
}

/**
 * One change waiting for the next write, with its callers. The journal op is serialised only when written, so
 * a status that is replaced before then costs no JSON; its objects are immutable by contract (see put).
 */
interface QueuedChange {
  taskId: string | undefined;
  /** undefined: a flush marker (writes nothing, resolves with the write it joins). */
  op: JournalOp | undefined;
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

  /** Applies the journal's changes newer than the snapshot; a torn last frame marks the table for compaction. */
  private replay(bytes: Uint8Array): void {
    const snapSeq = this.seq;
    let at = 0;
    let frameNo = 0;
    while (at < bytes.length) {
      frameNo++;
      const frame = readFrame(bytes, at);
      if (frame === 'torn') {
        this.mustCompact = true; // never acknowledged: dropped by the compaction before the next append
        return;
      }
      if (frame === 'corrupt') throw new DataLossError(`task db ${this.journalPath}: frame ${frameNo} is corrupt (bad header, checksum or JSON) and is not the last one`);
      for (const op of frame.ops) {
        if (op.q > snapSeq) this.applyOp(op);
        if (op.q > this.seq) this.seq = op.q;
      }
      at = frame.end;
    }
  }

  private applyOp(op: JournalOp | SourcedPut): void {
    if ('src' in op && !('put' in op)) {
      const r: TaskRecord = { task: op.src.task, status: op.status };
      if (op.handle) r.handle = op.handle;
      this.records.set(r.task.id, r);
    } else if ('put' in op) this.records.set(op.put.task.id, op.put);
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
   * `sourceJson`, optional: the JSON text the task was parsed from, an object whose member `task` is exactly
   * `record.task` (the agent passes the assignment's text): the journal embeds it verbatim instead of
   * serialising the task again (see JournalOp); a text with a line break is not embedded.
   */
  put(record: TaskRecord, sourceJson?: string): Promise<void> {
    const r: TaskRecord = { ...record };
    this.records.set(r.task.id, r);
    // A text with a raw line break (pretty-printed JSON) would split its journal line: the task is serialised instead.
    const src = sourceJson === undefined || sourceJson.includes('\n') ? undefined : sourceJson;
    return this.enqueue(r.task.id, src === undefined ? { q: ++this.seq, put: r } : { q: ++this.seq, put: r, src });
  }

  /**
   * Updates the status (and handle, when given) of a known task; unknown ids are ignored. Durable on resolve.
   * A status change of a task whose previous change is still queued (not yet being written) replaces it: only
   * the newest status reaches the disk, and both callers resolve with the same write. The objects are kept as
   * given, like {@link TaskDb.put}.
   */
  updateStatus(taskId: string, status: TaskStatus, handle?: TaskHandle): Promise<void> {
    if (!this.records.has(taskId)) return Promise.resolve();
    const { promise, waiter } = promised();
    this.updateStatusThen(taskId, status, handle, waiter);
    return promise;
  }

  /**
   * {@link TaskDb.updateStatus} with a callback instead of a promise (the agent's path: one callback per task,
   * made once, rather than a promise and its reactions per status): `done(undefined, written)` once durable,
   * with the status that write carried (this one or a newer one of the same task that replaced it while
   * queued); `done(err)` if the write failed. The same `done` given for changes that end up in one write is
   * called once. For an unknown id, `done(undefined, undefined)` at once.
   */
  updateStatusThen(taskId: string, status: TaskStatus, handle: TaskHandle | undefined, done: TaskDbDone): void {
    const r = this.records.get(taskId);
    if (!r) {
      done(undefined, undefined);
      return;
    }
    r.status = status;
    if (handle) r.handle = handle;
    const prev = this.latest.get(taskId);
    if (prev !== undefined && prev.op !== undefined && 'status' in prev.op) {
      // Not serialised yet: the queued op (ours, never shared) takes the newest status in place.
      prev.op.q = ++this.seq;
      prev.op.status = status;
      if (r.handle) prev.op.handle = r.handle;
      // The same callback given again for the same write is called once (with the newest status).
      if (!prev.waiters.includes(done)) prev.waiters.push(done);
      return;
    }
    const op: JournalOp = r.handle ? { q: ++this.seq, id: taskId, status, handle: r.handle } : { q: ++this.seq, id: taskId, status };
    this.push(taskId, op, done);
  }

  /** Forgets a task (after its controller was removed). Durable on resolve. */
  delete(taskId: string): Promise<void> {
    if (!this.records.delete(taskId)) return Promise.resolve();
    return this.enqueue(taskId, { q: ++this.seq, del: taskId });
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
    await this.enqueue(undefined, undefined);
  }

  /**
   * Opens the journal for appending now, so that the first change does not pay for it (the agent calls it at
   * start). Optional: a change opens it when needed.
   */
  async openJournal(): Promise<void> {
    if (this.journal === undefined && !this.mustCompact) this.journal = await this.fs.openAppend(this.journalPath);
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

  private enqueue(taskId: string | undefined, op: JournalOp | undefined): Promise<void> {
    const { promise, waiter } = promised();
    this.push(taskId, op, waiter);
    return promise;
  }

  private push(taskId: string | undefined, op: JournalOp | undefined, waiter: Waiter): void {
    const e: QueuedChange = { taskId, op, waiters: [waiter] };
    this.queue.push(e);
    if (taskId !== undefined) this.latest.set(taskId, e);
    this.kick();
  }

  /**
   * Starts a write when none is in flight and something is queued. The write begins one event-loop turn later
   * (setImmediate: after the current I/O callbacks and microtasks), so that changes made together share it: an
   * assignment message's tasks, and a task's quick succession of states (ACCEPTED..RUNNING when the executor
   * answers at once), of which only the newest is then written and reported.
   */
  private kick(): void {
    if (this.writing || this.queue.length === 0) return;
    this.writing = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.writeGroup())
      .finally(() => {
        this.writing = undefined;
        this.kick();
      });
  }

  /** One group commit: the queued changes (up to maxGroupBytes) as one frame, one append + fdatasync; or a compaction. */
  private async writeGroup(): Promise<void> {
    // Each line as pieces (a sourced put: its head, then the source text as is, then '}\n'), written one after
    // the other into the frame: no piece is copied into a bigger string first.
    const pieces: string[] = [];
    let payloadBytes = 0;
    let n = 0;
    const queue = this.queue;
    for (; n < queue.length; n++) {
      const op = queue[n]!.op;
      if (op === undefined) continue;
      const from = pieces.length;
      journalLine(op, pieces);
      let bytes = 0;
      for (let i = from; i < pieces.length; i++) bytes += Buffer.byteLength(pieces[i]!, 'utf8');
      if (payloadBytes > 0 && payloadBytes + bytes > this.limits.maxGroupBytes) {
        pieces.length = from;
        break;
      }
      payloadBytes += bytes;
    }
    const group = n === queue.length ? queue : queue.slice(0, n);
    this.queue = n === queue.length ? [] : queue.slice(n);
    for (const e of group) if (e.taskId !== undefined && this.latest.get(e.taskId) === e) this.latest.delete(e.taskId);
    try {

      const journalBytes = this.journal?.size() ?? 0;
      if (this.mustCompact || (journalBytes + payloadBytes > this.limits.compactJournalBytes && journalBytes + payloadBytes > 4 * this.snapshotBytes)) {
        // The snapshot holds the in-memory table, which already includes every queued change.
        await this.compact();
      } else if (payloadBytes > 0) {
        const j = this.journal ?? (this.journal = await this.fs.openAppend(this.journalPath));
        await j.append(frame(pieces, payloadBytes));
        await j.sync();
        this.stats.appends++;
        this.stats.lines += group.filter((e) => e.op !== undefined).length;
      }
    } catch (err) {
      this.mustCompact = true;
      const e = err instanceof Error ? err : new Error(String(err));
      for (const g of group) for (const w of g.waiters) w(e, undefined);
      return;
    }
    for (const g of group) {
      const written = g.op !== undefined && 'status' in g.op ? g.op.status : undefined;
      for (const w of g.waiters) w(undefined, written);
    }
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

/**
 * Appends the journal line of a queued change to `out`, as pieces whose concatenation is the line and its
 * '\n'; a put with its source text embeds that text verbatim, as a piece of its own.
 */
function journalLine(op: JournalOp, out: string[]): void {
  if (!('src' in op) || op.src === undefined) {
    out.push(JSON.stringify(op), '\n');
    return;
  }
  const { status, handle } = op.put;
  const h = handle === undefined ? '' : `,"handle":${JSON.stringify(handle)}`;
  out.push(`{"q":${op.q},"status":${JSON.stringify(status)}${h},"src":`, op.src, '}\n');
}

/**
 * One journal frame in one Buffer: the header `<crc32 8 hex> <payloadBytes>\n`, then the pieces (UTF-8),
 * `payloadBytes` in all. The payload is encoded once, in place, and its checksum taken there.
 */
function frame(pieces: readonly string[], payloadBytes: number): Buffer {
  const len = String(payloadBytes);
  const headerBytes = 8 + 1 + len.length + 1;
  const buf = Buffer.allocUnsafe(headerBytes + payloadBytes);
  let at = headerBytes;
  for (const piece of pieces) at += buf.write(piece, at, 'utf8');
  const crc = crc32(buf.subarray(headerBytes)).toString(16).padStart(8, '0');
  buf.write(`${crc} ${len}\n`, 0, 'latin1');
  return buf;
}

/** Most bytes of a frame header (`<8 hex> <decimal length>\n`). */
const MAX_HEADER_BYTES = 32;

/**
 * Reads the frame at `at`: its changes and where the next frame starts; 'torn' when it is the incomplete or
 * damaged last write (nothing valid can follow it), 'corrupt' when it is damaged and more data follows.
 */
function readFrame(bytes: Uint8Array, at: number): { ops: (JournalOp | SourcedPut)[]; end: number } | 'torn' | 'corrupt' {
  const rest = bytes.length - at;
  const nl = bytes.subarray(at, at + Math.min(rest, MAX_HEADER_BYTES)).indexOf(0x0a);
  // A bad frame is a torn write only if it reaches the end of the file (or all that follows is zeros, which
  // some file systems leave after a crash that extended the file).
  const tornOr = (end: number): 'torn' | 'corrupt' => (end >= bytes.length || bytes.subarray(end).every((b) => b === 0) ? 'torn' : 'corrupt');
  if (nl < 0) return tornOr(rest < MAX_HEADER_BYTES ? bytes.length : at + MAX_HEADER_BYTES);
  const m = /^([0-9a-f]{8}) (\d+)$/.exec(decoder.decode(bytes.subarray(at, at + nl)));
  if (!m) return tornOr(at + nl + 1);
  const start = at + nl + 1;
  const end = start + Number(m[2]);
  if (end > bytes.length) return 'torn';
  const payload = bytes.subarray(start, end);
  if (crc32(payload) !== Number.parseInt(m[1]!, 16)) return tornOr(end);
  const ops: (JournalOp | SourcedPut)[] = [];
  try {
    for (const line of decoder.decode(payload).split('\n')) {
      if (line === '') continue;
      const op = JSON.parse(line) as JournalOp | SourcedPut;
      if (typeof op !== 'object' || op === null || typeof op.q !== 'number') return tornOr(end);
      if ('src' in op && !('put' in op) && typeof (op as SourcedPut).src?.task?.id !== 'string') return tornOr(end);
      ops.push(op);
    }
  } catch {
    return tornOr(end);
  }
  return { ops, end };
}
