/**
 * A caller's AbortSignal usually outlives many calls (an agent session heartbeats on one signal for hours): the
 * client must drop its abort listener when a call settles, or every finished call stays reachable from the
 * signal (Node warns "MaxListenersExceededWarning ... abort listeners added to [AbortSignal]" after 10).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NotFoundError } from '../../../src/host/api/errors.js';
import { TransportClient, TransportServer } from '../../../src/host/transport/index.js';
import { RecordingLogger } from './helpers.js';

let dir: string;
let server: TransportServer;
let client: TransportClient;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'swarmhost-sig-'));
  const socketPath = join(dir, 'swarmd.sock');
  server = new TransportServer({ security: { kind: 'local' }, logger: new RecordingLogger(), shutdownGraceMs: 200 });
  server.addControl({
    async call(req) {
      if (req.method === 'Fail') throw new NotFoundError('x not found');
      if (req.method === 'Hang') await new Promise((r) => setTimeout(r, 10_000));
      return { responseJson: '{}' };
    },
  });
  await server.listenUnix(socketPath);
  client = new TransportClient(`unix://${socketPath}`, { tls: { kind: 'none' } });
});

after(async () => {
  client.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

test('unary calls that succeed or fail leave no abort listener on the caller signal', async () => {
  const ac = new AbortController();
  for (let i = 0; i < 20; i++) {
    await client.control({ method: 'Ok', requestJson: '{}' }, { signal: ac.signal });
    await assert.rejects(client.control({ method: 'Fail', requestJson: '{}' }, { signal: ac.signal }), NotFoundError);
  }
  assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
});

test('aborting the signal still cancels a call in flight', async () => {
  const ac = new AbortController();
  const p = client.control({ method: 'Hang', requestJson: '{}' }, { signal: ac.signal, timeoutMs: 5_000 });
  assert.equal(getEventListeners(ac.signal, 'abort').length, 1, 'linked while in flight');
  ac.abort();
  await assert.rejects(p);
  assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
});
