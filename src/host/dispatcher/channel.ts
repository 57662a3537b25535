/**
 * A small bounded async channel between the dispatcher's event routing (synchronous pushes) and one gRPC
 * server stream (an async consumer). The producer never blocks: the channel holds at most `capacity` items,
 * and what happens when it is full is the producer's choice (session streams keep only the latest message;
 * assignment streams collapse their backlog into one COMPLETE set). A channel ends normally (`end`) or with an
 * error (`fail`), and a consumer stops early when its AbortSignal fires.
 */
import { InvalidArgumentError } from '../api/errors.js';

/** A bounded FIFO with an async iterator for one consumer. */
export class Channel<T> {
  private items: T[] = [];
  private waiter: ((r: IteratorResult<T>) => void) | undefined;
  private failWaiter: ((e: Error) => void) | undefined;
  private ended = false;
  private error: Error | undefined;

  /** @param capacity most items held before {@link push} reports the channel full. */
  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new InvalidArgumentError(`channel.capacity: must be an integer >= 1, got ${capacity}`);
  }

  /** Items waiting for the consumer. */
  get size(): number {
    return this.items.length;
  }

  /** True once ended or failed. */
  get closed(): boolean {
    return this.ended;
  }

  /** Appends an item; returns false (and drops it) when the channel is full or closed. */
  push(item: T): boolean {
    if (this.ended) return false;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = this.failWaiter = undefined;
      w({ value: item, done: false });
      return true;
    }
    if (this.items.length >= this.capacity) return false;
    this.items.push(item);
    return true;
  }

  /** Drops every waiting item and queues `item` alone (the "replace the backlog" policies). */
  replaceAll(item: T): void {
    if (this.ended) return;
    this.items = [];
    this.push(item);
  }

  /** Ends the stream after the queued items. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.waiter && this.items.length === 0) {
      const w = this.waiter;
      this.waiter = this.failWaiter = undefined;
      w({ value: undefined, done: true });
    }
  }

  /** Ends the stream with `err` at once (queued items are dropped): the consumer's next read throws it. */
  fail(err: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.error = err;
    this.items = [];
    if (this.failWaiter) {
      const f = this.failWaiter;
      this.waiter = this.failWaiter = undefined;
      f(err);
    }
  }

  /** Iterates until the channel ends (or fails: the error is thrown), or `signal` aborts (returns). */
  async *iterate(signal: AbortSignal): AsyncGenerator<T, void, undefined> {
    while (!signal.aborted) {
      const r = await this.next(signal);
      if (r.done === true) return;
      yield r.value;
    }
  }

  private next(signal: AbortSignal): Promise<IteratorResult<T>> {
    if (this.items.length > 0) return Promise.resolve({ value: this.items.shift()!, done: false });
    if (this.error) return Promise.reject(this.error);
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise<IteratorResult<T>>((resolve, reject) => {
      const onAbort = (): void => {
        this.waiter = this.failWaiter = undefined;
        resolve({ value: undefined, done: true });
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiter = (r) => {
        signal.removeEventListener('abort', onAbort);
        resolve(r);
      };
      this.failWaiter = (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      };
    });
  }
}
