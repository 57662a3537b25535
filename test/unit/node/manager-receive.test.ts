/**
 * A joining manager's Raft server answers before its Manager has opened the WAL and started Raft; the leader's
 * first messages then arrive early. They must be refused as retryable (Unavailable), not crash the handler with
 * a TypeError (seen in the walkthrough as "Cannot read properties of undefined (reading 'step')").
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnavailableError } from '../../../src/host/api/errors.js';
import { SeededRng, SimTimers } from '../../../src/host/env/index.js';
import { Manager, DEFAULT_RAFT_TIMING } from '../../../src/host/node/manager.js';
import { silentLogger } from '../../../src/host/node/logger.js';
import { encodeMessage } from '../../../src/host/raft/message-codec.js';
import { MessageType } from '../../../src/host/raft/types.js';

test('a raft message that reaches a manager before start() is refused as Unavailable', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'swarmhost-mgr-'));
  try {
    const timers = new SimTimers(0);
    const m = new Manager({
      nodeId: 'node-b',
      clusterId: 'c1',
      raftId: '2',
      advertiseAddr: '127.0.0.1:1',
      stateDir: dir,
      raftDir: join(dir, 'raft'),
      timing: DEFAULT_RAFT_TIMING,
      timers,
      clock: timers,
      rng: new SeededRng(1),
      logger: silentLogger,
      clientTls: () => {
        throw new Error('no client calls in this test');
      },
      knownMembers: [{ raftId: '1', nodeId: 'node-a', addr: '127.0.0.1:2' }],
    });
    const msg = encodeMessage({
      type: MessageType.Heartbeat, from: '1', to: '2', term: 1, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, logTermHint: 0,
    });
    const ctx = { path: '/swarmhost.api.Raft/ProcessRaftMessage', peer: null, local: false, signal: new AbortController().signal };
    await assert.rejects(m.receive(msg, ctx as never), (e: unknown) => e instanceof UnavailableError && /still starting/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
