/**
 * The node side of promotion and demotion: follows the node's observed role (set by the leader's role manager,
 * pushed to the agent in every session message) and the local Raft removal notice.
 *
 *   observed MANAGER, certificate WORKER ─► renew the certificate (the CA grants the observed role), then start a
 *                                            manager: join Raft, remote API, control socket
 *   observed WORKER, manager running     ─► stop the manager (and its servers), renew to a worker certificate;
 *                                            the agent goes on with another manager
 *   removed from Raft (local notice)     ─► stop the manager once leadership has been handed off; the manager is
 *                                            not started again until the node has become a worker
 *
 * One convergence step at a time; a failed step is retried after `retryMs`.
 */
import { NodeRole } from '../api/objects.js';
import type { TimerHandle, Timers } from '../env/index.js';
import type { Logger } from './logger.js';

/** Retry period of a failed role switch step, ms (SwarmKit's role manager retries every 5 s). */
export const ROLE_SWITCH_RETRY_MS = 5_000;
/** Longest wait for a removed leader to hand leadership off before its manager is stopped anyway, ms. */
export const LEADER_HANDOFF_WAIT_MS = 10_000;
/** Poll period while waiting for the hand-off, ms. */
const HANDOFF_POLL_MS = 50;

/** What the switcher drives on its node (a SwarmNode provides it). */
export interface RoleSwitchHost {
  /** The role in this node's current certificate. */
  certRole(): NodeRole;
  /** True while a manager runs in this process. */
  managerRunning(): boolean;
  /** True while this process's manager is the Raft leader. */
  managerIsLeader(): boolean;
  /** Renews the certificate now; rejects when that attempt fails. */
  renewCertificate(): Promise<void>;
  /** Starts the manager role (join Raft, servers); the certificate is already a manager's. */
  startManager(): Promise<void>;
  /** Stops the manager role (servers, Raft, store) and forgets this node's Raft membership. */
  stopManager(): Promise<void>;
}

/** Options of a {@link RoleSwitcher}. */
export interface RoleSwitcherOptions {
  host: RoleSwitchHost;
  timers: Timers;
  logger: Logger;
  /** Retry period after a failed step, ms (default {@link ROLE_SWITCH_RETRY_MS}). */
  retryMs?: number;
  /** Bound on waiting for a removed leader's hand-off, ms (default {@link LEADER_HANDOFF_WAIT_MS}). */
  handoffWaitMs?: number;
}

/** Converges this process to its observed role (see the file comment). */
export class RoleSwitcher {
  private observed: NodeRole | undefined;
  private removed = false;
  private running: Promise<void> | undefined;
  private again = false;
  private retryTimer: TimerHandle | undefined;
  private stopped = false;
  private readonly retryMs: number;
  private readonly handoffWaitMs: number;

  constructor(private readonly o: RoleSwitcherOptions) {
    this.retryMs = o.retryMs ?? ROLE_SWITCH_RETRY_MS;
    this.handoffWaitMs = o.handoffWaitMs ?? LEADER_HANDOFF_WAIT_MS;
    if (!(this.retryMs > 0)) throw new RangeError(`roleSwitcher.retryMs: must be a positive number of ms, got ${o.retryMs}`);
    if (!(this.handoffWaitMs > 0)) throw new RangeError(`roleSwitcher.handoffWaitMs: must be a positive number of ms, got ${o.handoffWaitMs}`);
  }

  /** The observed role from a pushed node object. */
  observe(role: NodeRole): void {
    if (this.stopped) return;
    this.observed = role;
    this.kick();
  }

  /** This node's manager learned that it was removed from Raft. */
  removedFromRaft(): void {
    if (this.stopped) return;
    this.removed = true;
    this.kick();
  }

  /** Stops reacting; resolves once a running step has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer !== undefined) this.o.timers.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    await this.running;
  }

  private kick(): void {
    if (this.running !== undefined) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          await this.step();
        } catch (e) {
          this.o.logger.warn({ err: e instanceof Error ? e.message : String(e), retryInMs: this.retryMs }, 'role switch step failed; will retry');
          this.scheduleRetry();
        }
      } while (this.again && !this.stopped);
    })().finally(() => (this.running = undefined));
  }

  private scheduleRetry(): void {
    if (this.stopped || this.retryTimer !== undefined) return;
    this.retryTimer = this.o.timers.setTimeout(() => {
      this.retryTimer = undefined;
      this.kick();
    }, this.retryMs);
  }

  private async step(): Promise<void> {
    const h = this.o.host;
    if (this.stopped) return;
    if (this.removed && h.managerRunning()) {
      await this.waitForHandoff();
      this.o.logger.info({}, 'removed from raft: stopping the manager');
      await h.stopManager();
    }
    const want = this.observed;
    if (want === undefined) return;
    if (want === NodeRole.WORKER) {
      if (h.managerRunning()) {
        this.o.logger.info({}, 'demoted: stopping the manager');
        await h.stopManager();
      }
      if (h.certRole() !== NodeRole.WORKER) {
        await h.renewCertificate();
        if (h.certRole() !== NodeRole.WORKER) throw new Error('the renewed certificate still names a manager');
        this.o.logger.info({}, 'demoted: now a worker');
      }
      this.removed = false;
      return;
    }
    // want MANAGER
    if (this.removed) return; // demoted in Raft already: wait for the observed role to follow
    if (h.certRole() !== NodeRole.MANAGER) {
      await h.renewCertificate();
      if (h.certRole() !== NodeRole.MANAGER) throw new Error('the renewed certificate still names a worker');
    }
    if (!h.managerRunning()) {
      this.o.logger.info({}, 'promoted: starting a manager');
      await h.startManager();
      this.o.logger.info({}, 'promoted: manager started');
    }
  }

  /** A removed leader keeps leading until its hand-off completes: wait for that (bounded). */
  private async waitForHandoff(): Promise<void> {
    const deadline = this.o.timers.now() + this.handoffWaitMs;
    while (this.o.host.managerIsLeader() && this.o.timers.now() < deadline) {
      await new Promise<void>((r) => this.o.timers.setTimeout(() => r(), HANDOFF_POLL_MS));
    }
  }
}
