import { open, readFile, writeFile, rename, unlink, readdir, mkdir, truncate, stat } from 'node:fs/promises';
import type { FileHandle as NodeFileHandle } from 'node:fs/promises';
import type { FileHandle, Fs } from './fs.js';

/**
 * The production {@link Fs}: node:fs/promises with real durability calls. {@link FileHandle.sync} is
 * fdatasync (`FileHandle.datasync`), which flushes the data and the size but skips timestamps;
 * {@link Fs.syncDir} opens the directory read-only and fsyncs it, the POSIX way to make creates, renames and
 * unlinks in it durable. A failed sync is reported and never retried here: after an fsync error the kernel
 * may have dropped the dirty pages, so the caller must treat the file as lost (see docs/wal.md).
 */
export class RealFs implements Fs {
  async openAppend(path: string): Promise<FileHandle> {
    const fh = await open(path, 'a');
    try {
      const st = await fh.stat();
      return new RealHandle(fh, st.size);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  async readFile(path: string): Promise<Uint8Array> {
    const buf = await readFile(path);
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  async writeFile(path: string, data: Uint8Array): Promise<void> {
    await writeFile(path, data);
  }

  async rename(from: string, to: string): Promise<void> {
    await rename(from, to);
  }

  async unlink(path: string): Promise<void> {
    try {
      await unlink(path);
    } catch (err) {
      if (errCode(err) !== 'ENOENT') throw err;
    }
  }

  async readdir(dir: string): Promise<string[]> {
    try {
      return (await readdir(dir)).sort();
    } catch (err) {
      if (errCode(err) === 'ENOENT') return [];
      throw err;
    }
  }

  async mkdirp(dir: string, mode?: number): Promise<void> {
    await mkdir(dir, mode === undefined ? { recursive: true } : { recursive: true, mode });
  }

  async syncDir(dir: string): Promise<void> {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  async truncate(path: string, length: number): Promise<void> {
    await truncate(path, length);
  }

  async size(path: string): Promise<number | undefined> {
    try {
      return (await stat(path)).size;
    } catch (err) {
      if (errCode(err) === 'ENOENT') return undefined;
      throw err;
    }
  }
}

class RealHandle implements FileHandle {
  constructor(
    private readonly fh: NodeFileHandle,
    private bytes: number,
  ) {}

  async append(data: Uint8Array): Promise<void> {
    // O_APPEND: every write lands at the end; loop because write() may be partial.
    let off = 0;
    while (off < data.length) {
      const { bytesWritten } = await this.fh.write(data, off, data.length - off);
      off += bytesWritten;
      this.bytes += bytesWritten;
    }
  }

  async sync(): Promise<void> {
    await this.fh.datasync();
  }

  size(): number {
    return this.bytes;
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

function errCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}
