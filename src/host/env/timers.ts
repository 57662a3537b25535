import type { Clock } from './clock.js';

/** Handle returned by {@link Timers.setTimeout}; pass it to {@link Timers.clearTimeout}. */
export interface TimerHandle {
  readonly id: number;
}

/** Injected timer service: the only way host code waits. A simulated implementation drives virtual time. */
export interface Timers extends Clock {
  /** Runs `fn` once after `delayMs` milliseconds (>= 0). */
  setTimeout(fn: () => void, delayMs: number): TimerHandle;
  /** Cancels a pending timer; a no-op for a fired or cancelled one. */
  clearTimeout(handle: TimerHandle): void;
}

/**
 * `p`, or a rejection with `onTimeout()` when `p` has not settled after `ms` on `timers`. The loser is ignored
 * (`p` still runs to completion; its late result or rejection is dropped). The one way host code bounds a wait.
 */
export function withDeadline<T>(timers: Timers, p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const h = timers.setTimeout(() => reject(onTimeout()), ms);
    p.then(
      (v) => {
        timers.clearTimeout(h);
        resolve(v);
      },
      (e: unknown) => {
        timers.clearTimeout(h);
        reject(e);
      },
    );
  });
}

/** Largest delay Node's setTimeout honours, ms (2^31 - 1). */
export const MAX_NODE_TIMEOUT_MS = 2_147_483_647;

/** Timers backed by Node's event loop and Date.now(). */
export class RealTimers implements Timers {
  private next = 1;
  private readonly live = new Map<number, ReturnType<typeof setTimeout>>();

  now(): number {
    return Date.now();
  }

  setTimeout(fn: () => void, delayMs: number): TimerHandle {
    const id = this.next++;
    this.arm(id, fn, Date.now() + Math.max(0, delayMs));
    return { id };
  }

  /**
   * Node's setTimeout fires at once for delays above 2^31-1 ms (about 24.8 days), which would turn a
   * 60-day certificate renewal into a busy loop: long delays are re-armed in steps until due.
   */
  private arm(id: number, fn: () => void, dueMs: number): void {
    const left = dueMs - Date.now();
    const step = Math.min(Math.max(0, left), MAX_NODE_TIMEOUT_MS);
    const t = setTimeout(() => {
      if (dueMs - Date.now() > 0 && left > MAX_NODE_TIMEOUT_MS) {
        this.arm(id, fn, dueMs);
        return;
      }
      this.live.delete(id);
      fn();
    }, step);
    this.live.set(id, t);
  }

  clearTimeout(handle: TimerHandle): void {
    const t = this.live.get(handle.id);
    if (t !== undefined) {
      clearTimeout(t);
      this.live.delete(handle.id);
    }
  }

  /** Cancels every pending timer (used on shutdown). */
  clearAll(): void {
    for (const t of this.live.values()) clearTimeout(t);
    this.live.clear();
  }
}

interface SimTimer {
  id: number;
  at: number;
  seq: number;
  fn: () => void;
}

/**
 * Virtual time for deterministic simulation. Nothing happens until the test calls {@link SimTimers.advance}
 * or {@link SimTimers.runNext}; timers due at the same instant fire in the order they were set.
 */
export class SimTimers implements Timers {
  private nowMs: number;
  private nextId = 1;
  private seq = 0;
  private heap: SimTimer[] = [];
  private readonly cancelled = new Set<number>();

  constructor(startMs = 1_700_000_000_000) {
    this.nowMs = startMs;
  }

  now(): number {
    return this.nowMs;
  }

  setTimeout(fn: () => void, delayMs: number): TimerHandle {
    if (!(delayMs >= 0)) delayMs = 0;
    const t: SimTimer = { id: this.nextId++, at: this.nowMs + delayMs, seq: this.seq++, fn };
    this.push(t);
    return { id: t.id };
  }

  clearTimeout(handle: TimerHandle): void {
    this.cancelled.add(handle.id);
  }

  /** Number of timers not yet fired or cancelled (approximate: cancelled ones are dropped lazily). */
  get pending(): number {
    return this.heap.length;
  }

  /** Time of the next due timer, or undefined when none is pending. */
  nextDue(): number | undefined {
    this.dropCancelled();
    return this.heap[0]?.at;
  }

  /** Fires the earliest timer (moving time forward to it). Returns false when no timer is pending. */
  runNext(): boolean {
    this.dropCancelled();
    const t = this.pop();
    if (t === undefined) return false;
    if (t.at > this.nowMs) this.nowMs = t.at;
    t.fn();
    return true;
  }

  /** Moves time forward by `ms`, firing every timer due on the way, in order. */
  advance(ms: number): void {
    const until = this.nowMs + ms;
    for (;;) {
      this.dropCancelled();
      const head = this.heap[0];
      if (head === undefined || head.at > until) break;
      this.runNext();
    }
    this.nowMs = until;
  }

  private dropCancelled(): void {
    while (this.heap.length > 0 && this.cancelled.has(this.heap[0]!.id)) {
      this.cancelled.delete(this.heap[0]!.id);
      this.pop();
    }
  }

  private less(a: SimTimer, b: SimTimer): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private push(t: SimTimer): void {
    const h = this.heap;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private pop(): SimTimer | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}
