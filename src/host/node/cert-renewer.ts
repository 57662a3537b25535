import { createPrivateKey, X509Certificate } from 'node:crypto';
import { generateKeyAndCsr, nextRenewalAt, parseNodeIdentity, renewalBackoffMs, type NodeTlsMaterial } from '../ca/index.js';
import type { Rng, TimerHandle, Timers } from '../env/index.js';
import type { Logger } from './logger.js';

/** Options of a {@link CertRenewer}. */
export interface CertRenewerOptions {
  timers: Timers;
  rng: Rng;
  logger: Logger;
  /** The node's current material. */
  current: () => NodeTlsMaterial;
  /** Sends a CSR to the CA (authenticated with the current certificate) and returns the new certificate PEM. */
  issue: (csrPem: string) => Promise<string>;
  /** Persists and installs renewed material (key files, server identity, client connections). */
  install: (m: NodeTlsMaterial) => Promise<void>;
}

/**
 * Renews this node's certificate at a random point between 50% and 80% of its validity (immediately when
 * expired, or when asked: a role change), with backoff (5 s steps, at most 1 h) after failures. A new key is
 * generated for every renewal; the certificate is installed only if it matches that key and names this node.
 */
export class CertRenewer {
  private timer: TimerHandle | undefined;
  private failures = 0;
  private running: Promise<unknown> | undefined;
  private stopped = false;

  constructor(private readonly o: CertRenewerOptions) {}

  /** Schedules the next renewal from the current certificate's validity. */
  start(): void {
    this.schedule(nextRenewalAt(this.o.current().certPem, this.o.timers.now(), this.o.rng));
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) this.o.timers.clearTimeout(this.timer);
  }

  /** Renews now (e.g. the node's desired role changed); rejects with the reason when that attempt fails. */
  async renewNow(): Promise<void> {
    if (this.timer) this.o.timers.clearTimeout(this.timer);
    const err = await this.attempt();
    if (err !== undefined) throw err;
  }

  private schedule(atMs: number): void {
    if (this.stopped) return;
    if (this.timer) this.o.timers.clearTimeout(this.timer);
    const delay = Math.max(0, atMs - this.o.timers.now());
    this.o.logger.info({ inMs: delay }, 'certificate renewal scheduled');
    this.timer = this.o.timers.setTimeout(() => void this.attempt(), delay);
  }

  /** One renewal at a time; resolves with the failure (undefined on success). */
  private attempt(): Promise<unknown> {
    if (this.running) return this.running;
    this.running = this.renew().finally(() => (this.running = undefined));
    return this.running;
  }

  private async renew(): Promise<unknown> {
    const cur = this.o.current();
    const nodeId = parseNodeIdentity(cur.certPem).nodeId;
    try {
      const { keyPem, csrPem } = generateKeyAndCsr();
      const certPem = await this.o.issue(csrPem);
      const x = new X509Certificate(certPem);
      if (!x.checkPrivateKey(createPrivateKey(keyPem))) throw new Error('the CA returned a certificate for another key');
      const id = parseNodeIdentity(certPem);
      if (id.nodeId !== nodeId) throw new Error(`the CA returned a certificate for node ${id.nodeId}, not ${nodeId}`);
      await this.o.install({ certPem, keyPem, rootPem: cur.rootPem });
      this.failures = 0;
      this.o.logger.info({ role: id.ou, notAfter: new Date(id.notAfterMs).toISOString() }, 'certificate renewed');
      this.schedule(nextRenewalAt(certPem, this.o.timers.now(), this.o.rng));
      return undefined;
    } catch (e) {
      this.failures++;
      const wait = renewalBackoffMs(this.failures);
      this.o.logger.warn({ err: String(e), retryInMs: wait }, 'certificate renewal failed');
      this.schedule(this.o.timers.now() + wait);
      return e;
    }
  }
}
