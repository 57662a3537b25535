import { invariant } from '../api/errors.js';

/**
 * Bounded window of App messages in flight to one follower, recorded by the last index each one carries.
 * When full, the leader stops sending until acknowledgements free slots (flow control).
 */
export class Inflights {
  private readonly lastIndexes: number[] = [];

  /** @param capacityMsgs maximum App messages in flight (RaftConfig.maxInflightMsgs). */
  constructor(readonly capacityMsgs: number) {
    invariant(capacityMsgs >= 1, 'inflight capacity must be at least 1');
  }

  get count(): number {
    return this.lastIndexes.length;
  }

  full(): boolean {
    return this.lastIndexes.length >= this.capacityMsgs;
  }

  add(lastIndex: number): void {
    invariant(!this.full(), 'inflights: add while full');
    this.lastIndexes.push(lastIndex);
  }

  /** Frees every message whose last index is <= `index` (acknowledged). */
  freeLE(index: number): void {
    let n = 0;
    while (n < this.lastIndexes.length && this.lastIndexes[n]! <= index) n++;
    if (n > 0) this.lastIndexes.splice(0, n);
  }

  /** Frees the oldest slot (a heartbeat response proves the follower is alive; lets one more message go). */
  freeFirst(): void {
    this.lastIndexes.shift();
  }

  reset(): void {
    this.lastIndexes.length = 0;
  }
}

/** Replication state of one follower as seen by the leader. */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

/**
 * The leader's view of one member: what it has (match), what to send next (next), how to send (state), and
 * when the leader last heard from it (for check-quorum, the removal safety check and reachablePeers()).
 *
 * - probe: one App at a time until the follower's position is known (after election or a rejection);
 * - replicate: stream optimistically, up to the inflight window;
 * - snapshot: a snapshot is on its way; nothing else is sent until the follower acknowledges it.
 */
export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** Probe state: an App was sent and not yet answered (or a heartbeat answered). */
  probeSent = false;
  /** Snapshot state: index of the snapshot sent. */
  pendingSnapshot = 0;
  /** Leader tick at which the snapshot was sent (to retry if the follower never answers). */
  snapshotSentTick = 0;
  /** Leader tick of the last message received from this member. */
  lastHeardTick: number;
  readonly inflights: Inflights;

  constructor(next: number, maxInflightMsgs: number, nowTick: number) {
    this.next = next;
    this.inflights = new Inflights(maxInflightMsgs);
    this.lastHeardTick = nowTick;
  }

  becomeProbe(): void {
    if (this.state === 'snapshot') {
      this.next = Math.max(this.match + 1, this.pendingSnapshot + 1);
    } else {
      this.next = this.match + 1;
    }
    this.state = 'probe';
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.inflights.reset();
  }

  becomeReplicate(): void {
    this.state = 'replicate';
    this.next = this.match + 1;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.inflights.reset();
  }

  becomeSnapshot(snapshotIndex: number, nowTick: number): void {
    this.state = 'snapshot';
    this.pendingSnapshot = snapshotIndex;
    this.snapshotSentTick = nowTick;
    this.probeSent = false;
    this.inflights.reset();
  }

  /** Records an acknowledgement of everything up to `n`; returns true if match advanced. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /**
   * Handles a rejection of the App whose previous index was `rejected`, with the leader-computed probe hint
   * `matchHint` (an index the follower's log may match). Returns false for a stale rejection.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  /** True when nothing should be sent to this follower right now. */
  paused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }
}
