import { invariant } from '../api/errors.js';
import type { Entry } from './types.js';

/**
 * Fixed bytes counted per entry on top of its payload (term, index and type as they travel), so that a burst of
 * tiny or empty entries is still bounded by maxSizePerMsgBytes.
 */
export const ENTRY_OVERHEAD_BYTES = 16;

/** Bytes an entry counts for in message-size limits: its payload plus {@link ENTRY_OVERHEAD_BYTES}. */
export function entrySizeBytes(e: Entry): number {
  return e.data.byteLength + ENTRY_OVERHEAD_BYTES;
}

/**
 * The in-memory Raft log of one member: entries after a compaction point, the commit index, and the split
 * between entries already handed to the driver for persistence and those not yet handed out ("unstable").
 *
 * Indexes are 1-based. `offset` is the index of the last compacted entry (0 for a log that starts at 1), and
 * `offsetTerm` its term, so that the consistency check for the first retained entry still works.
 */
export class RaftLog {
  private offset: number;
  private offsetTerm: number;
  private ents: Entry[];
  /** Highest index known committed. */
  committed: number;
  /** First index not yet handed to the driver in a Ready (entries below it are persisted or being persisted). */
  unstableFrom: number;

  constructor(offset: number, offsetTerm: number, entries: Entry[], committed: number) {
    this.offset = offset;
    this.offsetTerm = offsetTerm;
    this.ents = [];
    let expect = offset + 1;
    for (const e of entries) {
      invariant(e.index === expect, `log entries must be contiguous: expected index ${expect}, got ${e.index}`);
      this.ents.push(e);
      expect++;
    }
    invariant(committed >= offset && committed <= this.lastIndex(), `commit ${committed} outside log [${offset}, ${this.lastIndex()}]`);
    this.committed = committed;
    this.unstableFrom = this.lastIndex() + 1;
  }

  /** First index still held in memory (the one after the compaction point). */
  firstIndex(): number {
    return this.offset + 1;
  }

  lastIndex(): number {
    return this.offset + this.ents.length;
  }

  lastTerm(): number {
    return this.term(this.lastIndex()) ?? 0;
  }

  /** Term of the entry at `i`, or undefined when `i` is compacted away or beyond the last index. */
  term(i: number): number | undefined {
    if (i === this.offset) return this.offsetTerm;
    if (i < this.offset || i > this.lastIndex()) return undefined;
    return this.ents[i - this.offset - 1]!.term;
  }

  matchTerm(i: number, t: number): boolean {
    return this.term(i) === t;
  }

  /** The entry at `i` (must be retained). */
  entry(i: number): Entry {
    invariant(i > this.offset && i <= this.lastIndex(), `entry ${i} outside retained log [${this.firstIndex()}, ${this.lastIndex()}]`);
    return this.ents[i - this.offset - 1]!;
  }

  /**
   * Entries [lo, hi) limited to `maxBytes` of payload, but always at least one entry when the range is not
   * empty (a single large entry must still be able to move).
   */
  slice(lo: number, hi: number, maxBytes = Infinity): Entry[] {
    invariant(lo >= this.firstIndex(), `slice from ${lo} below first index ${this.firstIndex()}`);
    invariant(hi <= this.lastIndex() + 1, `slice to ${hi} beyond last index ${this.lastIndex()}`);
    const out: Entry[] = [];
    let size = 0;
    for (let i = lo; i < hi; i++) {
      const e = this.ents[i - this.offset - 1]!;
      size += entrySizeBytes(e);
      if (out.length > 0 && size > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  /** True when a log ending at (lastIdx, lastTerm) is at least as up to date as this one (§5.4.1). */
  isUpToDate(lastIdx: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIdx >= this.lastIndex());
  }

  /**
   * Index of the first entry of `entries` that is not already in the log with the same term (a conflict or a
   * new entry), or 0 when all are present.
   */
  findConflict(entries: Entry[]): number {
    for (const e of entries) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * Largest index j <= index whose term is <= term (or that is compacted), with its term (0 if unknown). Used
   * on both sides of the fast back-off: skipping a whole term per round trip.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    let j = Math.min(index, this.lastIndex());
    for (;;) {
      const t = this.term(j);
      if (t === undefined) return { index: j, term: 0 };
      if (t <= term) return { index: j, term: t };
      j--;
    }
  }

  /**
   * Follower side of AppendEntries: if the entry at `index` has `logTerm`, appends `entries` (truncating a
   * conflicting uncommitted suffix), advances commit to min(committed, last new index) and returns the last
   * new index; otherwise returns undefined.
   */
  maybeAppend(index: number, logTerm: number, committed: number, entries: Entry[]): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = index + entries.length;
    const ci = this.findConflict(entries);
    if (ci !== 0) {
      invariant(ci > this.committed, `entry ${ci} conflicts with committed entry (commit ${this.committed})`);
      this.append(entries.slice(ci - index - 1));
    }
    this.commitTo(Math.min(committed, lastNew));
    return lastNew;
  }

  /** Appends entries whose first index may be at or below the last index (truncating from there). */
  append(entries: Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0]!.index;
    invariant(first > this.committed, `append at ${first} would overwrite committed entries (commit ${this.committed})`);
    invariant(first <= this.lastIndex() + 1, `append at ${first} leaves a gap after ${this.lastIndex()}`);
    invariant(first > this.offset, `append at ${first} inside the compacted prefix (offset ${this.offset})`);
    if (first <= this.lastIndex()) {
      this.ents.length = first - this.offset - 1;
      if (first < this.unstableFrom) this.unstableFrom = first;
    }
    let expect = first;
    for (const e of entries) {
      invariant(e.index === expect, `appended entries must be contiguous at ${expect}`);
      this.ents.push(e);
      expect++;
    }
  }

  /** Raises the commit index (never lowers it). */
  commitTo(i: number): void {
    if (i <= this.committed) return;
    invariant(i <= this.lastIndex(), `commit ${i} beyond last index ${this.lastIndex()}`);
    this.committed = i;
  }

  /** Entries not yet handed to the driver. */
  unstableEntries(): Entry[] {
    if (this.unstableFrom > this.lastIndex()) return [];
    return this.ents.slice(this.unstableFrom - this.offset - 1);
  }

  /** Marks everything up to the last index as handed to the driver (it will be persisted before the next step). */
  markHandedOut(): void {
    this.unstableFrom = this.lastIndex() + 1;
  }

  /** Drops entries up to and including `i` from memory (they are covered by an application snapshot). */
  compact(i: number): void {
    if (i <= this.offset) return;
    invariant(i <= this.committed, `compact ${i} beyond commit ${this.committed}`);
    invariant(i < this.unstableFrom, `compact ${i} reaches entries not yet handed out`);
    const t = this.term(i)!;
    this.ents = this.ents.slice(i - this.offset);
    this.offset = i;
    this.offsetTerm = t;
  }

  /** Replaces the whole log by the point (index, term) of a snapshot received from the leader. */
  restore(index: number, term: number): void {
    this.offset = index;
    this.offsetTerm = term;
    this.ents = [];
    this.committed = index;
    this.unstableFrom = index + 1;
  }
}
