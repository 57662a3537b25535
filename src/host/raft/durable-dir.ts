import { posix } from 'node:path';
import type { Fs } from '../env/fs.js';

/**
 * Creates `dir` (and missing parents) so that it survives a power loss: after mkdir, the parent of every
 * directory that had to be created is synced, top-down. A no-op (no sync) when `dir` already exists.
 * `dir` must be absolute.
 */
export async function ensureDurableDir(fs: Fs, dir: string): Promise<void> {
  const missing: string[] = [];
  let cur = posix.normalize(dir);
  while (cur !== '/') {
    const parent = posix.dirname(cur);
    if ((await fs.readdir(parent)).includes(posix.basename(cur))) break;
    missing.push(cur);
    cur = parent;
  }
  if (missing.length === 0) return;
  await fs.mkdirp(dir);
  for (let i = missing.length - 1; i >= 0; i--) await fs.syncDir(posix.dirname(missing[i]!));
}
