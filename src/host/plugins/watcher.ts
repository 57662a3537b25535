/**
 * Watching the config file and the plugin modules it pulls in. fs.watch on each file's directory (editors often
 * replace a file, which would end a watch on the file itself), filtered by file name and debounced on the
 * injected timers, so a burst of writes gives one reload.
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { TimerHandle, Timers } from '../env/index.js';

/** Most directories watched at once. */
export const MAX_WATCHED_DIRS = 64;

/** Options of the watcher. */
export interface PluginWatcherOptions {
  timers: Timers;
  /** Quiet time after the last change before `onChange`, ms. */
  debounceMs: number;
  onChange: () => void;
}

/** Debounced watcher over a set of files. */
export class PluginWatcher {
  private dirs = new Map<string, { w: FSWatcher; names: Set<string> }>();
  private timer: TimerHandle | undefined;
  private closed = false;

  constructor(private readonly o: PluginWatcherOptions) {}

  /** Replaces the watched set. */
  setFiles(files: readonly string[]): void {
    if (this.closed) return;
    const want = new Map<string, Set<string>>();
    for (const f of files) {
      const d = dirname(f);
      let s = want.get(d);
      if (!s) {
        if (want.size >= MAX_WATCHED_DIRS) continue;
        want.set(d, (s = new Set()));
      }
      s.add(basename(f));
    }
    for (const [d, e] of this.dirs) {
      if (!want.has(d)) {
        e.w.close();
        this.dirs.delete(d);
      }
    }
    for (const [d, names] of want) {
      const cur = this.dirs.get(d);
      if (cur) {
        cur.names = names;
        continue;
      }
      try {
        const entry = { w: watch(d, { persistent: false }), names };
        entry.w.on('change', (_ev, name) => {
          if (name !== null && entry.names.has(String(name))) this.bump();
        });
        entry.w.on('error', () => undefined);
        this.dirs.set(d, entry);
      } catch {
        // directory gone: nothing to watch there
      }
    }
  }

  private bump(): void {
    if (this.closed) return;
    if (this.timer !== undefined) this.o.timers.clearTimeout(this.timer);
    this.timer = this.o.timers.setTimeout(() => {
      this.timer = undefined;
      this.o.onChange();
    }, this.o.debounceMs);
  }

  /** Files being watched (for inspection). */
  files(): string[] {
    return [...this.dirs].flatMap(([d, e]) => [...e.names].map((n) => `${d}/${n}`));
  }

  /** Stops watching. */
  close(): void {
    this.closed = true;
    if (this.timer !== undefined) this.o.timers.clearTimeout(this.timer);
    for (const e of this.dirs.values()) e.w.close();
    this.dirs.clear();
  }
}
