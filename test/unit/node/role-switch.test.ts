/**
 * The node side of role changes over a recording fake host on SimTimers: what it does for each observed role,
 * the order of its steps, and its waits (leader hand-off, retry after a failure).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeRole } from '../../../src/host/api/objects.js';
import { SimTimers } from '../../../src/host/env/index.js';
import { LEADER_HANDOFF_WAIT_MS, ROLE_SWITCH_RETRY_MS, RoleSwitcher, type RoleSwitchHost } from '../../../src/host/node/role-switch.js';
import { silentLogger } from '../../../src/host/node/logger.js';
import { flush } from '../orchestration/harness.js';

/** A node: certificate role, manager running or not, leader or not; renewals grant `caGrants`. */
class FakeHost implements RoleSwitchHost {
  cert = NodeRole.WORKER;
  running = false;
  leader = false;
  caGrants = NodeRole.WORKER;
  renewFails = 0;
  log: string[] = [];
  certRole(): NodeRole {
    return this.cert;
  }
  managerRunning(): boolean {
    return this.running;
  }
  managerIsLeader(): boolean {
    return this.leader;
  }
  async renewCertificate(): Promise<void> {
    if (this.renewFails > 0) {
      this.renewFails--;
      this.log.push('renew failed');
      throw new Error('CA unavailable');
    }
    this.cert = this.caGrants;
    this.log.push(`renew -> ${NodeRole[this.cert]}`);
  }
  async startManager(): Promise<void> {
    this.running = true;
    this.log.push('start manager');
  }
  async stopManager(): Promise<void> {
    this.running = false;
    this.leader = false;
    this.log.push('stop manager');
  }
}

function setup(host = new FakeHost()): { host: FakeHost; timers: SimTimers; sw: RoleSwitcher } {
  const timers = new SimTimers();
  return { host, timers, sw: new RoleSwitcher({ host, timers, logger: silentLogger }) };
}

/** Lets queued steps run (steps waiting on simulated time stay waiting). */
async function settle(_sw?: RoleSwitcher): Promise<void> {
  for (let i = 0; i < 6; i++) await flush();
}

test('observed manager on a worker: renew first, then start the manager', async () => {
  const { host, sw } = setup();
  host.caGrants = NodeRole.MANAGER;
  sw.observe(NodeRole.MANAGER);
  await settle(sw);
  assert.deepEqual(host.log, ['renew -> MANAGER', 'start manager']);
  sw.observe(NodeRole.MANAGER);
  await settle(sw);
  assert.equal(host.log.length, 2, 'nothing more to do once converged');
});

test('observed worker on a manager: stop the manager first, then renew as a worker', async () => {
  const host = new FakeHost();
  host.cert = NodeRole.MANAGER;
  host.running = true;
  const { sw } = setup(host);
  sw.observe(NodeRole.WORKER);
  await settle(sw);
  assert.deepEqual(host.log, ['stop manager', 'renew -> WORKER']);
});

test('a failed renewal is retried after 5 s', async () => {
  const { host, timers, sw } = setup();
  host.caGrants = NodeRole.MANAGER;
  host.renewFails = 1;
  sw.observe(NodeRole.MANAGER);
  await settle(sw);
  assert.deepEqual(host.log, ['renew failed']);
  timers.advance(ROLE_SWITCH_RETRY_MS - 1);
  await settle(sw);
  assert.equal(host.log.length, 1, 'no retry before 5 s');
  timers.advance(1);
  await settle(sw);
  assert.deepEqual(host.log, ['renew failed', 'renew -> MANAGER', 'start manager']);
});

test('a renewal that still grants the old role counts as a failure (the CA has not seen the new role yet)', async () => {
  const { host, timers, sw } = setup();
  host.caGrants = NodeRole.WORKER;
  sw.observe(NodeRole.MANAGER);
  await settle(sw);
  assert.deepEqual(host.log, ['renew -> WORKER']);
  host.caGrants = NodeRole.MANAGER;
  timers.advance(ROLE_SWITCH_RETRY_MS);
  await settle(sw);
  assert.deepEqual(host.log, ['renew -> WORKER', 'renew -> MANAGER', 'start manager']);
});

test('a removed leader stops its manager only once leadership has moved', async () => {
  const host = new FakeHost();
  host.cert = NodeRole.MANAGER;
  host.running = true;
  host.leader = true;
  const { timers, sw } = setup(host);
  sw.observe(NodeRole.MANAGER);
  sw.removedFromRaft();
  await settle(sw);
  timers.advance(500);
  await settle(sw);
  assert.deepEqual(host.log, [], 'still leading: the hand-off is not done');
  host.leader = false;
  timers.advance(100);
  await settle(sw);
  assert.deepEqual(host.log, ['stop manager']);
});

test('a removed leader whose hand-off never completes is stopped after the bound', async () => {
  const host = new FakeHost();
  host.cert = NodeRole.MANAGER;
  host.running = true;
  host.leader = true;
  const { timers, sw } = setup(host);
  sw.removedFromRaft();
  for (let t = 0; t < LEADER_HANDOFF_WAIT_MS + 200; t += 50) {
    timers.advance(50);
    await flush();
  }
  await settle(sw);
  assert.deepEqual(host.log, ['stop manager']);
});

test('after a raft removal the manager is not restarted while the observed role still says manager', async () => {
  const host = new FakeHost();
  host.cert = NodeRole.MANAGER;
  host.running = true;
  const { timers, sw } = setup(host);
  sw.removedFromRaft();
  await settle(sw);
  sw.observe(NodeRole.MANAGER); // a stale push from before the role manager finished
  timers.advance(ROLE_SWITCH_RETRY_MS * 2);
  await settle(sw);
  assert.deepEqual(host.log, ['stop manager']);
  sw.observe(NodeRole.WORKER);
  await settle(sw);
  assert.deepEqual(host.log, ['stop manager', 'renew -> WORKER']);
  // Promoted again later: a fresh start.
  host.caGrants = NodeRole.MANAGER;
  sw.observe(NodeRole.MANAGER);
  await settle(sw);
  assert.deepEqual(host.log, ['stop manager', 'renew -> WORKER', 'renew -> MANAGER', 'start manager']);
});

test('stopped, it ignores what it is told', async () => {
  const { host, sw } = setup();
  host.caGrants = NodeRole.MANAGER;
  await sw.stop();
  sw.observe(NodeRole.MANAGER);
  await settle(sw);
  assert.deepEqual(host.log, []);
});
