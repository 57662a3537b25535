/**
 * The worker's durable task table: each assigned task, its last observed status and its executor handle, in
 * `<stateDir>/worker/tasks.json`. Written atomically (temp file, fsync, rename, fsync of the directory), so a
 * crash leaves either the old or the new table. An agent that restarts reads it back and re-attaches to running
 * work through `Executor.recover(handle)` instead of starting it twice. Writes are coalesced: while one write is
 * in flight, later changes are batched into the next one.
 */
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { DataLossError } from '../api/errors.js';
import type { Task, TaskStatus } from '../api/objects.js';
import type { TaskHandle } from './executor.js';
import type { Fs } from '../env/fs.js';

/** One task as the worker remembers it. */
export interface TaskRecord {
  task: Task;
  /** Last status the agent observed (and reported or will re-report). */
  status: TaskStatus;
  /** Executor handle for recover(); absent until the controller exists. */
  handle?: TaskHandle;
}

interface FileShape {
  version: 1;
  tasks: TaskRecord[];
}

/** Persistent map taskId → {@link TaskRecord}. */
export class TaskDb {
  private readonly records = new Map<string, TaskRecord>();
  private writing: Promise<void> | undefined;
  private dirty = false;

  private constructor(
    readonly path: string,
    private readonly fs: Fs | undefined,
  ) {}

  /**
   * Opens (or creates empty) `<stateDir>/worker/tasks.json`. A file that does not parse is a DataLossError.
   * `fs`: the file-system seam to use (the deterministic simulation passes a SimFs); default node:fs.
   */
  static async open(stateDir: string, fs?: Fs): Promise<TaskDb> {
    const dir = join(stateDir, 'worker');
    if (fs) await fs.mkdirp(dir, 0o700);
    else await mkdir(dir, { recursive: true, mode: 0o700 });
    const db = new TaskDb(join(dir, 'tasks.json'), fs);
    let text: string | undefined;
    try {
      text = fs ? new TextDecoder().decode(await fs.readFile(db.path)) : await readFile(db.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (text !== undefined) {
      let parsed: FileShape;
      try {
        parsed = JSON.parse(text) as FileShape;
      } catch (err) {
        throw new DataLossError(`task db ${db.path}: not valid JSON (${(err as Error).message})`);
      }
      if (parsed.version !== 1 || !Array.isArray(parsed.tasks)) {
        throw new DataLossError(`task db ${db.path}: unsupported format (version ${String(parsed.version)})`);
      }
      for (const r of parsed.tasks) db.records.set(r.task.id, r);
    }
    return db;
  }

  /** The record of one task, or undefined. */
  get(taskId: string): TaskRecord | undefined {
    return this.records.get(taskId);
  }

  /** All records, in insertion order. */
  list(): TaskRecord[] {
    return [...this.records.values()];
  }

  /** Inserts or replaces a record; the returned promise resolves once it is on disk. */
  put(record: TaskRecord): Promise<void> {
    this.records.set(record.task.id, structuredClone(record));
    return this.schedule();
  }

  /** Updates the status (and handle, when given) of a known task; unknown ids are ignored. Durable on resolve. */
  updateStatus(taskId: string, status: TaskStatus, handle?: TaskHandle): Promise<void> {
    const r = this.records.get(taskId);
    if (!r) return Promise.resolve();
    r.status = structuredClone(status);
    if (handle) r.handle = structuredClone(handle);
    return this.schedule();
  }

  /** Forgets a task (after its controller was removed). Durable on resolve. */
  delete(taskId: string): Promise<void> {
    if (!this.records.delete(taskId)) return Promise.resolve();
    return this.schedule();
  }

  /** Resolves when every change made so far is on disk. */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private schedule(): Promise<void> {
    this.dirty = true;
    if (!this.writing) {
      this.writing = this.writeLoop().finally(() => {
        this.writing = undefined;
      });
    }
    return this.flush();
  }

  private async writeLoop(): Promise<void> {
    while (this.dirty) {
      this.dirty = false;
      const body: FileShape = { version: 1, tasks: [...this.records.values()] };
      try {
        if (this.fs) await atomicWriteFs(this.fs, this.path, JSON.stringify(body));
        else await atomicWrite(this.path, JSON.stringify(body));
      } catch (err) {
        this.dirty = true; // the next change (or flush caller) tries again
        throw err;
      }
    }
  }
}

async function atomicWrite(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(text, 'utf8');
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  const dir = await open(join(path, '..'), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** The same atomic replace through the Fs seam: fresh temp file, append, sync, rename, sync of the directory. */
async function atomicWriteFs(fs: Fs, path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp`;
  await fs.unlink(tmp);
  const fh = await fs.openAppend(tmp);
  try {
    await fh.append(new TextEncoder().encode(text));
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.rename(tmp, path);
  await fs.syncDir(join(path, '..'));
}
