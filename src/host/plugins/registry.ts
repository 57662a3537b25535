/**
 * The registry of plugin slots. A slot holds immutable versions (id = content hash); one is active. Units of
 * work take a lease on the active version ({@link PluginSlot.acquire}) and keep using that version until they
 * release it, however many swaps happen meanwhile; a superseded version drains (no new leases) and is disposed
 * once its last lease is released — except the one kept for rollback. A promoted version that fails
 * `failureThreshold` times within `failureWindowMs` is rolled back to the previous one automatically.
 */
import type { Clock } from '../env/index.js';

/** The slots of the host. */
export const SLOT_NAMES = ['executor', 'orchestrator.replicated', 'orchestrator.global', 'orchestrator.jobs', 'restartPolicy', 'strategy'] as const;
/** One of {@link SLOT_NAMES}. */
export type SlotName = (typeof SLOT_NAMES)[number];

/** Lifecycle of a version: candidate (validating) → active → draining → retired (kept for rollback) → disposed; or failed. */
export type VersionState = 'candidate' | 'active' | 'draining' | 'retired' | 'failed' | 'disposed';

/** Default failures that roll a promoted version back. */
export const DEFAULT_FAILURE_THRESHOLD = 3;
/** Default window the failures are counted in, ms. */
export const DEFAULT_FAILURE_WINDOW_MS = 60_000;
/** Versions kept in a slot's history for `plugin ls` (failed and disposed ones included). */
export const MAX_VERSION_HISTORY = 16;

/** One immutable version of a plugin in a slot. */
export interface PluginVersion<T> {
  slot: SlotName;
  /** Plugin name (its own, or the module file name). */
  name: string;
  /** Content hash of the code and options, hex (first 12 shown by the CLI). */
  hash: string;
  /** Where it came from: a file path, or `builtin:<name>`. */
  source: string;
  state: VersionState;
  /** When it was loaded, ms since the epoch. */
  loadedAtMs: number;
  /** Why it failed or was rolled back. */
  lastError?: string;
  /** Leases (units of work) currently pinned to it. */
  leases: number;
  /** Failures reported while it served. */
  failures: number;
  /** The implementation (undefined once disposed or when it never loaded). */
  impl: T | undefined;
  /** Releases what the implementation holds (workers, connections). */
  dispose?: () => Promise<void>;
}

/** A unit of work's pin on a version. Release it exactly once when the work is done. */
export interface Lease<T> {
  impl: T;
  version: PluginVersion<T>;
  release(): void;
}

/** Registry tuning. */
export interface RegistryOptions {
  clock: Clock;
  failureThreshold?: number;
  failureWindowMs?: number;
  /** One log line per lifecycle event. */
  log?: (line: string) => void;
  /** Called with errors from dispose hooks. */
  onDisposeError?: (v: PluginVersion<unknown>, e: unknown) => void;
  /** Called after the active version changed (promote, rollback, reactivate). */
  onActiveChange?: (slot: SlotName) => void;
}

/** One slot: its versions, the active one, the one kept for rollback. */
export class PluginSlot<T> {
  private active: PluginVersion<T> | undefined;
  private previous: PluginVersion<T> | undefined;
  private readonly history: PluginVersion<T>[] = [];
  private failureTimes: number[] = [];
  private threshold: number;
  private windowMs: number;

  constructor(readonly name: SlotName, private readonly o: RegistryOptions) {
    this.threshold = o.failureThreshold ?? DEFAULT_FAILURE_THRESHOLD;
    this.windowMs = o.failureWindowMs ?? DEFAULT_FAILURE_WINDOW_MS;
  }

  /** Changes the rollback threshold and window (config reload); undefined keeps the defaults. */
  configure(o: { failureThreshold?: number | undefined; failureWindowMs?: number | undefined }): void {
    this.threshold = o.failureThreshold ?? DEFAULT_FAILURE_THRESHOLD;
    this.windowMs = o.failureWindowMs ?? DEFAULT_FAILURE_WINDOW_MS;
  }

  /** The active version, if any. */
  get current(): PluginVersion<T> | undefined {
    return this.active;
  }

  /** Every version known, newest first. */
  versions(): PluginVersion<T>[] {
    return [...this.history].reverse();
  }

  /** Pins the active version for one unit of work; throws when the slot has none. */
  acquire(): Lease<T> {
    const v = this.active;
    if (!v || v.impl === undefined) throw new Error(`plugin slot ${this.name}: no active version`);
    v.leases++;
    let released = false;
    return {
      impl: v.impl,
      version: v,
      release: () => {
        if (released) return;
        released = true;
        v.leases--;
        this.maybeRetire(v);
      },
    };
  }

  /** Runs `fn` pinned to the active version (released when `fn` settles). */
  async withLease<R>(fn: (impl: T, v: PluginVersion<T>) => Promise<R> | R): Promise<R> {
    const l = this.acquire();
    try {
      return await fn(l.impl, l.version);
    } finally {
      l.release();
    }
  }

  /** Registers a version that is being validated (shown as `candidate`). */
  addCandidate(v: Omit<PluginVersion<T>, 'state' | 'leases' | 'failures' | 'slot'>): PluginVersion<T> {
    const full: PluginVersion<T> = { ...v, slot: this.name, state: 'candidate', leases: 0, failures: 0 };
    this.history.push(full);
    this.trim();
    return full;
  }

  /** A candidate failed validation: it never serves; the reason stays visible. */
  fail(v: PluginVersion<T>, reason: string): void {
    v.state = 'failed';
    v.lastError = reason;
    this.o.log?.(`plugins: ${this.name} candidate ${v.name}@${v.hash.slice(0, 12)} refused: ${reason}`);
    void this.disposeVersion(v);
  }

  /** Makes a validated candidate active; the old active version drains, then is kept for rollback. */
  promote(v: PluginVersion<T>): void {
    if (v.state !== 'candidate') throw new Error(`plugin slot ${this.name}: only a candidate can be promoted (state ${v.state})`);
    const old = this.active;
    v.state = 'active';
    this.active = v;
    this.failureTimes = [];
    if (old) this.supersede(old);
    this.o.log?.(`plugins: ${this.name} now serves ${v.name}@${v.hash.slice(0, 12)}`);
    this.o.onActiveChange?.(this.name);
  }

  /**
   * Serves again a version this slot still holds loaded (the one kept for rollback, or one still draining), by
   * its full content hash. Used by a new leader to adopt the versions the previous leader recorded. Returns
   * false (and changes nothing) when no loaded version has that hash; true when it is, or already was, active.
   */
  reactivate(hash: string): boolean {
    if (this.active?.hash === hash) return true;
    const v = this.history.find((x) => x.hash === hash && x.impl !== undefined && (x.state === 'retired' || x.state === 'draining'));
    if (!v) return false;
    const old = this.active;
    if (this.previous === v) this.previous = undefined;
    v.state = 'active';
    this.active = v;
    this.failureTimes = [];
    if (old) this.supersede(old);
    this.o.log?.(`plugins: ${this.name} serves again ${v.name}@${v.hash.slice(0, 12)}`);
    this.o.onActiveChange?.(this.name);
    return true;
  }

  private supersede(old: PluginVersion<T>): void {
    const prevKept = this.previous;
    old.state = 'draining';
    this.previous = old;
    this.maybeRetire(old);
    if (prevKept && prevKept !== old) this.release(prevKept);
  }

  private maybeRetire(v: PluginVersion<T>): void {
    if (v.leases > 0) return;
    if (v.state === 'failed' && v.impl !== undefined) {
      void this.disposeVersion(v);
      return;
    }
    if (v.state !== 'draining') return;
    if (v === this.previous) v.state = 'retired';
    else void this.disposeVersion(v);
  }

  /** A version no longer kept for rollback: disposed once drained. */
  private release(v: PluginVersion<T>): void {
    if (v.state === 'retired') void this.disposeVersion(v);
    else if (v.state === 'draining' && v.leases === 0) void this.disposeVersion(v);
    // draining with leases: maybeRetire disposes it on the last release (it is no longer `previous`).
  }

  private async disposeVersion(v: PluginVersion<T>): Promise<void> {
    if (v.state !== 'failed') v.state = 'disposed';
    const d = v.dispose;
    v.impl = undefined;
    v.dispose = undefined;
    if (d) {
      try {
        await d();
      } catch (e) {
        this.o.onDisposeError?.(v as PluginVersion<unknown>, e);
      }
    }
  }

  /**
   * A unit of work on `v` failed (error, trap, timeout). When `v` is active and the failures within the window
   * reach the threshold, the slot rolls back to the previous version (or to nothing, when there is none: the
   * caller then uses its built-in fallback). Returns true when this report caused a rollback.
   */
  reportFailure(v: PluginVersion<T>, reason: string): boolean {
    v.failures++;
    v.lastError = reason;
    if (v !== this.active) return false;
    const now = this.o.clock.now();
    this.failureTimes = this.failureTimes.filter((t) => t > now - this.windowMs);
    this.failureTimes.push(now);
    if (this.failureTimes.length < this.threshold) return false;
    this.rollback(`${this.failureTimes.length} failures within ${this.windowMs} ms, last: ${reason}`);
    return true;
  }

  /** Rolls back now: the active version is marked failed; the previous one (if kept) serves again. */
  rollback(reason: string): void {
    const bad = this.active;
    if (!bad) return;
    const prev = this.previous;
    this.previous = undefined;
    this.failureTimes = [];
    bad.state = 'failed';
    bad.lastError = `rolled back: ${reason}`;
    if (prev && prev.impl !== undefined) {
      prev.state = 'active';
      this.active = prev;
      this.o.log?.(`plugins: ${this.name} rolled back from ${bad.name}@${bad.hash.slice(0, 12)} to ${prev.name}@${prev.hash.slice(0, 12)}: ${reason}`);
    } else {
      this.active = undefined;
      this.o.log?.(`plugins: ${this.name} rolled back from ${bad.name}@${bad.hash.slice(0, 12)} to the built-in fallback: ${reason}`);
    }
    this.maybeRetire(bad);
    this.o.onActiveChange?.(this.name);
  }

  /** Disposes every version (host shutdown). */
  async close(): Promise<void> {
    for (const v of this.history) if (v.impl !== undefined || v.dispose) await this.disposeVersion(v);
    this.active = undefined;
    this.previous = undefined;
  }

  private trim(): void {
    while (this.history.length > MAX_VERSION_HISTORY) {
      const i = this.history.findIndex((v) => v.state === 'failed' || v.state === 'disposed');
      if (i < 0) break;
      this.history.splice(i, 1);
    }
  }
}
