/**
 * Watch queue: ordered events after apply, fanned out to watchers with a bounded buffer each. A watcher that
 * falls behind by more than its buffer is closed with {@link WatchOverflowError}; the store never blocks on,
 * nor buffers without bound for, a slow consumer. The consumer resynchronises with `viewAndWatch`.
 */
import { InvalidArgumentError, ResourceExhaustedError, TABLES, type ObjectsByTable, type TableName } from '../api/index.js';

/** An object event for table T. `old` is the previous object (updates only). */
export type ObjectEvent<T extends TableName = TableName> = T extends TableName
  ?
      | { kind: 'create'; table: T; object: Readonly<ObjectsByTable[T]> }
      | { kind: 'update'; table: T; object: Readonly<ObjectsByTable[T]>; old: Readonly<ObjectsByTable[T]> }
      | { kind: 'delete'; table: T; object: Readonly<ObjectsByTable[T]> }
  : never;

/**
 * What watchers receive: object events of a transaction followed by its `commit` (version = the Raft index
 * of its entry), or `restored` when the whole state was replaced from a snapshot (watchers must resync).
 */
export type StoreEvent = ObjectEvent | { kind: 'commit'; version: number } | { kind: 'restored'; version: number };

/** Default per-watcher buffer, in events. */
export const DEFAULT_WATCH_BUFFER_EVENTS = 10_000;

/** Options of `store.watch`. */
export interface WatchOptions {
  /** Only object events of these tables (commit/restored events always pass this test). */
  tables?: readonly TableName[];
  /** Keep only events for which this returns true (applied to every event except `restored`). */
  filter?: (ev: StoreEvent) => boolean;
  /** Maximum undelivered events before the watcher is closed with WatchOverflowError. Default 10,000. */
  bufferSize?: number;
}

/** The watcher fell more than `bufferSize` events behind and was closed. */
export class WatchOverflowError extends ResourceExhaustedError {
  constructor(readonly bufferSize: number) {
    super(`watcher fell behind by more than ${bufferSize} events and was closed; resync with viewAndWatch`);
  }
}

/** An ordered event stream: `for await (const ev of watcher)`; `close()` ends it. */
export interface Watcher extends AsyncIterableIterator<StoreEvent> {
  /** Stops delivery; a pending `next()` resolves done. Idempotent. */
  close(): void;
  /** True once closed (by close() or by an overflow). */
  readonly closed: boolean;
  /** The error that closed the watcher, if any. */
  readonly error: Error | undefined;
  /** Events buffered and not yet consumed. */
  readonly pending: number;
}

class WatcherImpl implements Watcher {
  private buf: StoreEvent[] = [];
  private head = 0;
  private waiter: { resolve: (r: IteratorResult<StoreEvent>) => void; reject: (e: Error) => void } | undefined;
  private errorDelivered = false;
  closed = false;
  error: Error | undefined;
  private readonly tables: ReadonlySet<TableName> | undefined;
  private readonly filter: ((ev: StoreEvent) => boolean) | undefined;
  readonly bufferSize: number;

  constructor(
    opts: WatchOptions,
    private readonly onClose: (w: WatcherImpl) => void,
  ) {
    const size = opts.bufferSize ?? DEFAULT_WATCH_BUFFER_EVENTS;
    if (!Number.isInteger(size) || size < 1) throw new InvalidArgumentError('watch.bufferSize: must be an integer >= 1');
    for (const t of opts.tables ?? []) {
      if (!TABLES.includes(t)) throw new InvalidArgumentError(`watch.tables: unknown table ${String(t)}`);
    }
    this.bufferSize = size;
    this.tables = opts.tables ? new Set(opts.tables) : undefined;
    this.filter = opts.filter;
  }

  get pending(): number {
    return this.buf.length - this.head;
  }

  /** Offers one event; returns false if the watcher overflowed (and is now closed). */
  offer(ev: StoreEvent): boolean {
    if (this.closed) return true;
    if (ev.kind !== 'restored') {
      if (this.tables && ev.kind !== 'commit' && !this.tables.has(ev.table)) return true;
      if (this.filter) {
        let keep: boolean;
        try {
          keep = this.filter(ev);
        } catch (e) {
          // A throwing filter is the watcher's bug; it ends that watcher, never the store's apply.
          this.fail(e instanceof Error ? e : new Error(String(e)));
          return false;
        }
        if (!keep) return true;
      }
    }
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve({ value: ev, done: false });
      return true;
    }
    if (this.pending >= this.bufferSize) {
      this.fail(new WatchOverflowError(this.bufferSize));
      return false;
    }
    this.buf.push(ev);
    return true;
  }

  fail(err: Error): void {
    if (this.closed) return;
    this.error = err;
    this.buf = [];
    this.head = 0;
    this.closed = true;
    this.onClose(this);
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      this.errorDelivered = true;
      w.reject(err);
    }
  }

  next(): Promise<IteratorResult<StoreEvent>> {
    if (this.head < this.buf.length) {
      const ev = this.buf[this.head++]!;
      if (this.head > 1024 && this.head * 2 > this.buf.length) {
        this.buf = this.buf.slice(this.head);
        this.head = 0;
      }
      return Promise.resolve({ value: ev, done: false });
    }
    if (this.closed) {
      if (this.error && !this.errorDelivered) {
        this.errorDelivered = true;
        return Promise.reject(this.error);
      }
      return Promise.resolve({ value: undefined, done: true });
    }
    if (this.waiter) return Promise.reject(new InvalidArgumentError('watcher: next() called while another next() is pending'));
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  return(): Promise<IteratorResult<StoreEvent>> {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.buf = [];
    this.head = 0;
    this.onClose(this);
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve({ value: undefined, done: true });
    }
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<StoreEvent> {
    return this;
  }
}

/** The set of live watchers of one store. */
export class WatchQueue {
  private readonly watchers = new Set<WatcherImpl>();

  /** Registers a new watcher; it sees every event published from now on. */
  watch(opts: WatchOptions = {}): Watcher {
    const w = new WatcherImpl(opts, (x) => this.watchers.delete(x));
    this.watchers.add(w);
    return w;
  }

  /** Delivers events, in order, to every watcher. */
  publish(events: readonly StoreEvent[]): void {
    if (events.length === 0 || this.watchers.size === 0) return;
    for (const w of [...this.watchers]) {
      for (const ev of events) if (!w.offer(ev)) break;
    }
  }

  /** Closes every watcher (store shutdown). */
  closeAll(): void {
    for (const w of [...this.watchers]) w.close();
  }

  /** Number of live watchers. */
  get size(): number {
    return this.watchers.size;
  }
}
