import type { Rng, SimTimers } from '../../src/host/env/index.js';
import type { Message, RaftId } from '../../src/host/raft/types.js';

/** Fault settings of the simulated network. Probabilities in [0, 1]; delays in simulated ms. */
export interface NetworkFaults {
  dropRate: number;
  duplicateRate: number;
  minDelayMs: number;
  maxDelayMs: number;
}

export const calmNetwork: NetworkFaults = { dropRate: 0, duplicateRate: 0, minDelayMs: 1, maxDelayMs: 5 };

/**
 * A simulated network on virtual time: every message gets a random delay (so messages reorder), may be
 * dropped or duplicated, and never crosses a partition. Messages are deep-copied on send so that no two
 * members share mutable objects.
 */
export class SimNetwork {
  faults: NetworkFaults;
  private readonly handlers = new Map<RaftId, (m: Message) => void>();
  /** Partition group of each member; members in different groups cannot talk. Missing = group 0. */
  private readonly group = new Map<RaftId, number>();
  delivered = 0;
  dropped = 0;

  constructor(
    private readonly timers: SimTimers,
    private readonly rng: Rng,
    faults: NetworkFaults = calmNetwork,
  ) {
    this.faults = { ...faults };
  }

  /** Registers (or replaces) the receiver of messages addressed to `id`. */
  attach(id: RaftId, handler: (m: Message) => void): void {
    this.handlers.set(id, handler);
  }

  /** Removes the receiver of `id` (a crashed member): messages to it are lost. */
  detach(id: RaftId): void {
    this.handlers.delete(id);
  }

  /** Splits members into groups that cannot reach each other. */
  partition(groups: RaftId[][]): void {
    this.group.clear();
    groups.forEach((g, i) => g.forEach((id) => this.group.set(id, i + 1)));
  }

  /** Isolates one member from everyone else. */
  isolate(id: RaftId): void {
    this.group.set(id, -1 - this.group.size);
  }

  /** Removes every partition. */
  heal(): void {
    this.group.clear();
  }

  /** True when a and b can currently exchange messages. */
  connected(a: RaftId, b: RaftId): boolean {
    return (this.group.get(a) ?? 0) === (this.group.get(b) ?? 0);
  }

  /** Sends messages from one member (fire and forget). */
  send(msgs: Message[]): void {
    for (const m of msgs) {
      if (this.rng.next() < this.faults.dropRate) {
        this.dropped++;
        continue;
      }
      const copies = this.rng.next() < this.faults.duplicateRate ? 2 : 1;
      for (let c = 0; c < copies; c++) this.schedule(structuredClone(m));
    }
  }

  private schedule(m: Message): void {
    const { minDelayMs, maxDelayMs } = this.faults;
    const delay = minDelayMs + this.rng.int(Math.max(1, maxDelayMs - minDelayMs + 1));
    this.timers.setTimeout(() => {
      // Partitions are checked at delivery: a message in flight when the link is cut is lost.
      if (!this.connected(m.from, m.to)) {
        this.dropped++;
        return;
      }
      const h = this.handlers.get(m.to);
      if (h === undefined) {
        this.dropped++;
        return;
      }
      this.delivered++;
      h(m);
    }, delay);
  }
}
