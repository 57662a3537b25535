import { posix } from 'node:path';
import type { FileHandle, Fs } from './fs.js';
import type { Rng } from './rng.js';

/**
 * In-memory {@link Fs} for the deterministic simulation and for tests, with a power-loss model:
 *
 * - a file's bytes are durable up to its last {@link FileHandle.sync}; {@link SimFs.crash} drops every byte
 *   appended after it (or, with a torn-write Rng, keeps a random prefix of those bytes, as a disk that wrote
 *   some sectors of an unfinished write would);
 * - a whole-file change that is not an append (writeFile over an existing file, truncate) is also undone by a
 *   crash unless the file was synced after it;
 * - a directory's entries (create, rename, unlink, mkdir of a child) are durable only after
 *   {@link Fs.syncDir} of that directory; a crash restores each directory to its entry set at its last
 *   syncDir (directories are independent, so a rename between two directories can be half-undone).
 *
 * This is deliberately stricter than ext4/xfs in ordered mode (where fsync of a new file usually also
 * persists its directory entry): code that survives SimFs survives POSIX. Every method completes
 * synchronously behind a resolved promise, so a simulation stays deterministic.
 */
export class SimFs implements Fs {
  private root: SimDir = newDir();
  /** Bumped by crash(): handles from an earlier generation belong to a "dead process" and refuse to work. */
  private generation = 0;
  /** Mutating operations left before an injected crash; undefined = no crash scheduled. */
  private opsUntilCrash: number | undefined;
  private crashed = false;
  /** Number of mutating operations performed so far (to size crashAfter loops in tests). */
  mutatingOps = 0;

  /**
   * Schedules a simulated power loss: the next `mutatingOps` mutating operations (append, sync, writeFile,
   * rename, unlink, mkdirp, syncDir, truncate, openAppend of a new file) succeed, and every operation after
   * them throws {@link SimulatedCrashError} until {@link SimFs.crash} is called. Used to crash "at every step".
   */
  crashAfter(mutatingOps: number): void {
    if (!Number.isInteger(mutatingOps) || mutatingOps < 0) {
      throw new RangeError(`crashAfter: mutatingOps must be an integer >= 0, got ${mutatingOps}`);
    }
    this.opsUntilCrash = mutatingOps;
  }

  /**
   * Simulates a power loss and reboot: every file reverts to its last synced content (with `opts.tornWrites`,
   * each file with unsynced appended bytes keeps a random prefix of them, possibly all or none), every
   * directory to its entry set at its last syncDir. Open handles become invalid. Clears any crashAfter.
   */
  crash(opts: { tornWrites?: Rng } = {}): void {
    this.generation++;
    this.opsUntilCrash = undefined;
    this.crashed = false;
    const seen = new Set<SimFile>();
    const revert = (dir: SimDir): void => {
      dir.entries = new Map(dir.durable);
      for (const node of dir.entries.values()) {
        if (node.kind === 'dir') revert(node);
        else if (!seen.has(node)) {
          seen.add(node);
          revertFile(node, opts.tornWrites);
        }
      }
    };
    revert(this.root);
  }

  /** Bytes of `path` that would survive a crash now (for tests). Throws ENOENT when missing. */
  durableBytes(path: string): Uint8Array {
    const f = this.lookupFile(path);
    if (f.durableCopy) return f.durableCopy.slice();
    return f.data.slice(0, f.syncedLen);
  }

  async openAppend(path: string): Promise<FileHandle> {
    this.checkAlive();
    const { parent, name } = this.parentOf(path);
    let node = parent.entries.get(name);
    if (node?.kind === 'dir') throw fsError('EISDIR', 'open', path);
    if (!node) {
      this.mutate();
      node = newFile();
      parent.entries.set(name, node);
    }
    return new SimHandle(this, node, path, this.generation);
  }

  async readFile(path: string): Promise<Uint8Array> {
    this.checkAlive();
    const f = this.lookupFile(path);
    return f.data.slice(0, f.len);
  }

  async writeFile(path: string, data: Uint8Array): Promise<void> {
    this.checkAlive();
    const { parent, name } = this.parentOf(path);
    const existing = parent.entries.get(name);
    if (existing?.kind === 'dir') throw fsError('EISDIR', 'open', path);
    this.mutate();
    const f = existing ?? newFile();
    if (existing) preserveDurable(f);
    f.data = data.slice();
    f.len = data.length;
    parent.entries.set(name, f);
  }

  async rename(from: string, to: string): Promise<void> {
    this.checkAlive();
    const src = this.parentOf(from);
    const node = src.parent.entries.get(src.name);
    if (!node) throw fsError('ENOENT', 'rename', from);
    if (node.kind === 'dir') throw fsError('EISDIR', 'rename', from);
    const dst = this.parentOf(to);
    if (dst.parent.entries.get(dst.name)?.kind === 'dir') throw fsError('EISDIR', 'rename', to);
    this.mutate();
    src.parent.entries.delete(src.name);
    dst.parent.entries.set(dst.name, node);
  }

  async unlink(path: string): Promise<void> {
    this.checkAlive();
    const { parent, name } = this.parentOf(path, true);
    const node = parent?.entries.get(name);
    if (!parent || !node) return;
    if (node.kind === 'dir') throw fsError('EISDIR', 'unlink', path);
    this.mutate();
    parent.entries.delete(name);
  }

  async readdir(dir: string): Promise<string[]> {
    this.checkAlive();
    const d = this.lookup(dir);
    if (!d) return [];
    if (d.kind !== 'dir') throw fsError('ENOTDIR', 'scandir', dir);
    return [...d.entries.keys()].sort();
  }

  async mkdirp(dir: string): Promise<void> {
    this.checkAlive();
    let cur = this.root;
    for (const part of splitPath(dir)) {
      const next = cur.entries.get(part);
      if (next?.kind === 'file') throw fsError('ENOTDIR', 'mkdir', dir);
      if (next) {
        cur = next;
        continue;
      }
      this.mutate();
      const d = newDir();
      cur.entries.set(part, d);
      cur = d;
    }
  }

  async syncDir(dir: string): Promise<void> {
    this.checkAlive();
    const d = this.lookup(dir);
    if (!d) throw fsError('ENOENT', 'open', dir);
    if (d.kind !== 'dir') throw fsError('ENOTDIR', 'open', dir);
    this.mutate();
    d.durable = new Map(d.entries);
  }

  async truncate(path: string, length: number): Promise<void> {
    this.checkAlive();
    const f = this.lookupFile(path);
    if (!Number.isInteger(length) || length < 0) throw fsError('EINVAL', 'truncate', path);
    this.mutate();
    preserveDurable(f);
    if (length <= f.len) {
      f.len = length;
    } else {
      ensureCapacity(f, length);
      f.data.fill(0, f.len, length);
      f.len = length;
    }
  }

  async size(path: string): Promise<number | undefined> {
    this.checkAlive();
    const n = this.lookup(path);
    if (!n) return undefined;
    if (n.kind === 'dir') throw fsError('EISDIR', 'stat', path);
    return n.len;
  }

  /** @internal Called by handles before every operation. */
  checkHandle(gen: number, path: string): void {
    this.checkAlive();
    if (gen !== this.generation) throw fsError('EBADF', 'write (handle from before a crash)', path);
  }

  /** @internal Counts a mutating operation, throwing when an injected crash is due. */
  mutate(): void {
    if (this.opsUntilCrash !== undefined) {
      if (this.opsUntilCrash === 0) {
        this.crashed = true;
        throw new SimulatedCrashError();
      }
      this.opsUntilCrash--;
    }
    this.mutatingOps++;
  }

  private checkAlive(): void {
    if (this.crashed) throw new SimulatedCrashError();
  }

  private lookup(path: string): SimNode | undefined {
    let cur: SimNode = this.root;
    for (const part of splitPath(path)) {
      if (cur.kind !== 'dir') return undefined;
      const next: SimNode | undefined = cur.entries.get(part);
      if (!next) return undefined;
      cur = next;
    }
    return cur;
  }

  private lookupFile(path: string): SimFile {
    const n = this.lookup(path);
    if (!n) throw fsError('ENOENT', 'open', path);
    if (n.kind === 'dir') throw fsError('EISDIR', 'read', path);
    return n;
  }

  private parentOf(path: string): { parent: SimDir; name: string };
  private parentOf(path: string, allowMissing: true): { parent: SimDir | undefined; name: string };
  private parentOf(path: string, allowMissing = false): { parent: SimDir | undefined; name: string } {
    const parts = splitPath(path);
    const name = parts.pop();
    if (name === undefined) throw fsError('EISDIR', 'open', path);
    const parent = this.lookup('/' + parts.join('/'));
    if (!parent || parent.kind !== 'dir') {
      if (allowMissing) return { parent: undefined, name };
      throw fsError('ENOENT', 'open', path);
    }
    return { parent, name };
  }
}

/** Thrown by every SimFs operation after a crash scheduled with {@link SimFs.crashAfter} has "happened". */
export class SimulatedCrashError extends Error {
  constructor() {
    super('simulated power loss: call SimFs.crash() to reboot');
    this.name = 'SimulatedCrashError';
  }
}

interface SimFile {
  kind: 'file';
  /** Backing buffer; bytes [0, len) are the current content. */
  data: Uint8Array;
  len: number;
  /** Bytes [0, syncedLen) of `data` are durable, when durableCopy is undefined. */
  syncedLen: number;
  /** Set when a non-append change (truncate, overwrite) happened since the last sync: the durable content. */
  durableCopy: Uint8Array | undefined;
}

interface SimDir {
  kind: 'dir';
  entries: Map<string, SimNode>;
  /** Entry set as of the last syncDir. */
  durable: Map<string, SimNode>;
}

type SimNode = SimFile | SimDir;

function newFile(): SimFile {
  return { kind: 'file', data: new Uint8Array(256), len: 0, syncedLen: 0, durableCopy: undefined };
}

function newDir(): SimDir {
  return { kind: 'dir', entries: new Map(), durable: new Map() };
}

function preserveDurable(f: SimFile): void {
  if (!f.durableCopy) f.durableCopy = f.data.slice(0, f.syncedLen);
}

function ensureCapacity(f: SimFile, len: number): void {
  if (len <= f.data.length) return;
  const next = new Uint8Array(Math.max(len, f.data.length * 2));
  next.set(f.data.subarray(0, f.len));
  f.data = next;
}

function revertFile(f: SimFile, torn: Rng | undefined): void {
  if (f.durableCopy) {
    f.data = f.durableCopy;
    f.len = f.durableCopy.length;
  } else {
    const unsynced = f.len - f.syncedLen;
    f.len = f.syncedLen + (torn && unsynced > 0 ? torn.int(unsynced + 1) : 0);
  }
  f.durableCopy = undefined;
  f.syncedLen = f.len;
}

function splitPath(path: string): string[] {
  return posix
    .resolve('/', path)
    .split('/')
    .filter((p) => p.length > 0);
}

function fsError(code: string, syscall: string, path: string): Error {
  return Object.assign(new Error(`${code}: ${syscall} '${path}'`), { code, syscall, path });
}

class SimHandle implements FileHandle {
  private closed = false;

  constructor(
    private readonly fs: SimFs,
    private readonly file: SimFile,
    private readonly path: string,
    private readonly gen: number,
  ) {}

  async append(data: Uint8Array): Promise<void> {
    this.check();
    this.fs.mutate();
    ensureCapacity(this.file, this.file.len + data.length);
    this.file.data.set(data, this.file.len);
    this.file.len += data.length;
  }

  async sync(): Promise<void> {
    this.check();
    this.fs.mutate();
    this.file.syncedLen = this.file.len;
    this.file.durableCopy = undefined;
  }

  size(): number {
    return this.file.len;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private check(): void {
    if (this.closed) throw fsError('EBADF', 'write (closed handle)', this.path);
    this.fs.checkHandle(this.gen, this.path);
  }
}
