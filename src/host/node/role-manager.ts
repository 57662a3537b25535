/**
 * The role manager (leader only): turns a node's desired role into its observed role and its Raft membership.
 *
 *   desired MANAGER, observed WORKER ─► observed MANAGER at once (the node then renews its certificate as a
 *                                        manager, starts a manager and joins Raft by itself)
 *   desired WORKER, observed MANAGER ─► remove the member from Raft, then observed WORKER; when the member is
 *                                        this leader itself, leadership is transferred first and the next
 *                                        leader's role manager does the removal (as SwarmKit does)
 *   node deleted, still in Raft      ─► remove the member
 *
 * Work is driven by node events and retried every `retryMs` (SwarmKit: 5 s) while anything is unfinished
 * (a removal refused for quorum, a write that lost leadership). One membership change at a time.
 * SwarmKit's refusals (last manager, quorum) are the control API's business; here they only delay.
 */
import { NodeRole, type Node } from '../api/objects.js';
import type { TimerHandle, Timers } from '../env/index.js';
import type { RaftId } from '../raft/types.js';
import type { Store, Watcher } from '../store/index.js';
import type { Logger } from './logger.js';
import type { LeaderComponent } from './manager.js';

/** How often unfinished role changes are retried, ms (SwarmKit's role manager: 5 s). */
export const ROLE_MANAGER_RETRY_MS = 5_000;

/** The Raft membership calls the role manager needs (a Manager provides them). */
export interface RoleManagerRaft {
  /** Current Raft members with the swarm node each one is. */
  members(): readonly { raftId: RaftId; nodeId: string }[];
  /** Removes a member (leader only; refused when quorum would be at risk). Resolves once applied. */
  removeMember(raftId: RaftId): Promise<void>;
  /** This (leader) manager's Raft id. */
  readonly raftId: RaftId;
  /** Hands leadership to another voter; resolves once this manager no longer leads. */
  transferLeadership(): Promise<unknown>;
}

/** Options of a {@link RoleManager}. */
export interface RoleManagerOptions {
  store: Store;
  timers: Timers;
  raft: RoleManagerRaft;
  logger: Logger;
  /** Retry period for unfinished work, ms (default {@link ROLE_MANAGER_RETRY_MS}). */
  retryMs?: number;
}

/** What one reconcile step of a node did. */
type Outcome = 'done' | 'retry';

/** Leader component reconciling node roles with Raft membership (see the file comment). */
export class RoleManager implements LeaderComponent {
  readonly name = 'role-manager';
  private readonly retryMs: number;
  private watcher: Watcher | undefined;
  private watchLoop: Promise<void> | undefined;
  private readonly queue = new Set<string>();
  private readonly pending = new Set<string>();
  private worker: Promise<void> | undefined;
  private retryTimer: TimerHandle | undefined;
  private running = false;
  /** Role changes completed so far (observability and tests). */
  completed = 0;

  constructor(private readonly o: RoleManagerOptions) {
    this.retryMs = o.retryMs ?? ROLE_MANAGER_RETRY_MS;
    if (!Number.isFinite(this.retryMs) || this.retryMs <= 0) {
      throw new RangeError(`roleManager.retryMs: must be a positive number of ms, got ${o.retryMs}`);
    }
  }

  /** Starts watching nodes; every node (and every Raft member without a node) is checked once at start. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.subscribe();
    this.armRetry();
  }

  /** Stops watching and retrying; resolves once an in-flight step has ended. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.watcher?.close();
    this.watcher = undefined;
    if (this.retryTimer !== undefined) this.o.timers.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.queue.clear();
    this.pending.clear();
    await this.watchLoop;
    await this.worker;
  }

  /** Node ids whose role change is not finished yet (observability and tests). */
  unfinished(): string[] {
    return [...new Set([...this.pending, ...this.queue])].sort();
  }

  private subscribe(): void {
    const { result, watcher } = this.o.store.viewAndWatch((tx) => (tx.list('nodes') as readonly Node[]).map((n) => n.id), {
      tables: ['nodes'],
    });
    this.watcher = watcher;
    for (const id of result) this.enqueue(id);
    this.enqueueOrphanMembers();
    this.watchLoop = this.consume(watcher);
  }

  private async consume(watcher: Watcher): Promise<void> {
    try {
      for await (const ev of watcher) {
        if (ev.kind === 'restored') {
          for (const id of this.o.store.view((tx) => tx.list('nodes').map((n) => n.id))) this.enqueue(id);
          this.enqueueOrphanMembers();
        } else if (ev.kind !== 'commit' && ev.table === 'nodes') {
          const n = ev.object as Readonly<Node>;
          if (ev.kind === 'delete' || n.spec.desiredRole !== n.role) this.enqueue(n.id);
        }
      }
    } catch {
      // handled below
    }
    if (this.running && watcher.error !== undefined) {
      // Overflow: start again from a full read.
      this.o.logger.warn({ err: watcher.error.message }, 'role manager watcher fell behind; resyncing');
      this.subscribe();
    }
  }

  /** Raft members whose node object is gone are queued for removal. */
  private enqueueOrphanMembers(): void {
    const members = this.o.raft.members();
    const missing = this.o.store.view((tx) => members.filter((m) => m.nodeId !== '' && tx.get('nodes', m.nodeId) === undefined));
    for (const m of missing) this.enqueue(m.nodeId);
  }

  private enqueue(nodeId: string): void {
    if (!this.running) return;
    this.queue.add(nodeId);
    this.kick();
  }

  private kick(): void {
    if (this.worker !== undefined) return;
    this.worker = this.drain().finally(() => {
      this.worker = undefined;
      if (this.running && this.queue.size > 0) this.kick();
    });
  }

  /** Processes queued nodes one at a time (membership changes must not overlap). */
  private async drain(): Promise<void> {
    // Let the events of one commit gather before working.
    await Promise.resolve();
    while (this.running && this.queue.size > 0) {
      const id = this.queue.values().next().value as string;
      this.queue.delete(id);
      let outcome: Outcome;
      try {
        outcome = await this.reconcile(id);
      } catch (e) {
        this.o.logger.warn({ nodeId: id, err: e instanceof Error ? e.message : String(e), retryInMs: this.retryMs }, 'role change not finished; will retry');
        outcome = 'retry';
      }
      if (outcome === 'retry') this.pending.add(id);
      else this.pending.delete(id);
    }
  }

  private armRetry(): void {
    if (!this.running) return;
    this.retryTimer = this.o.timers.setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.running) return;
      for (const id of this.pending) this.enqueue(id);
      this.enqueueOrphanMembers();
      this.armRetry();
    }, this.retryMs);
  }

  /** One step for one node; throws (⇒ retry) when Raft or the store refuses. */
  private async reconcile(nodeId: string): Promise<Outcome> {
    const node = this.o.store.view((tx) => tx.get('nodes', nodeId) as Readonly<Node> | undefined);
    const member = this.o.raft.members().find((m) => m.nodeId === nodeId);
    if (node === undefined) {
      if (member === undefined) return 'done';
      this.o.logger.info({ nodeId, raftId: member.raftId }, 'removing the raft member of a deleted node');
      await this.o.raft.removeMember(member.raftId);
      this.completed++;
      return 'done';
    }
    if (node.spec.desiredRole === NodeRole.MANAGER && node.role !== NodeRole.MANAGER) {
      const changed = await this.setObservedRole(nodeId, NodeRole.MANAGER);
      if (changed) {
        this.completed++;
        this.o.logger.info({ nodeId }, 'node promoted: observed role is now manager');
      }
      return 'done';
    }
    if (node.spec.desiredRole === NodeRole.WORKER && node.role === NodeRole.MANAGER) {
      if (member !== undefined && member.raftId === this.o.raft.raftId) {
        // The leader itself: hand leadership off first; the next leader's role manager removes this member.
        this.o.logger.info({ nodeId, raftId: member.raftId }, 'this leader is demoted: handing leadership off first');
        await this.o.raft.transferLeadership();
        return 'retry';
      }
      if (member !== undefined) {
        this.o.logger.info({ nodeId, raftId: member.raftId }, 'node demoted: removing it from raft');
        await this.o.raft.removeMember(member.raftId);
      }
      const changed = await this.setObservedRole(nodeId, NodeRole.WORKER);
      if (changed) {
        this.completed++;
        this.o.logger.info({ nodeId }, 'node demoted: observed role is now worker');
      }
      return 'done';
    }
    return 'done';
  }

  /** Sets the observed role if the desired role still asks for it; false when nothing was to change. */
  private setObservedRole(nodeId: string, role: NodeRole): Promise<boolean> {
    return this.o.store.update((tx) => {
      const cur = tx.get('nodes', nodeId) as Readonly<Node> | undefined;
      if (cur === undefined || cur.spec.desiredRole !== role || cur.role === role) return false;
      const next = structuredClone(cur) as Node;
      delete next.managerStatus;
      next.role = role;
      tx.update('nodes', next);
      return true;
    });
  }
}
