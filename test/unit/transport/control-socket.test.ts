import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError, NotFoundError } from '../../../src/host/api/errors.js';
import { TransportClient, TransportServer, type CallContext } from '../../../src/host/transport/index.js';
import { RecordingLogger } from './helpers.js';

describe('control API on the local unix socket', () => {
  let dir: string;
  let socketPath: string;
  let server: TransportServer;
  let client: TransportClient;
  const seen: CallContext[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'swarmhost-sock-'));
    socketPath = join(dir, 'run', 'swarmd.sock');
    server = new TransportServer({ security: { kind: 'local' }, logger: new RecordingLogger(), shutdownGraceMs: 200 });
    server.addControl({
      async call(req, ctx) {
        seen.push(ctx);
        if (req.method === 'GetNode') throw new NotFoundError('node x not found');
        return { responseJson: JSON.stringify({ method: req.method }) };
      },
    });
    server.addHealth();
    await server.listenUnix(socketPath);
    client = new TransportClient(`unix://${socketPath}`, { tls: { kind: 'none' } });
  });

  after(async () => {
    client.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('creates the socket file with mode 0600 inside a 0700 directory', () => {
    assert.equal(statSync(socketPath).mode & 0o777, 0o600);
    assert.ok(statSync(socketPath).isSocket());
    assert.equal(statSync(join(dir, 'run')).mode & 0o777, 0o700);
  });

  test('serves control calls without TLS, as the local manager', async () => {
    const res = await client.control({ method: 'ListNodes', requestJson: '{}' });
    assert.deepEqual(JSON.parse(res.responseJson), { method: 'ListNodes' });
    assert.equal(seen.at(-1)!.local, true);
    assert.equal(seen.at(-1)!.peer, null);
  });

  test('carries typed errors over the socket', async () => {
    await assert.rejects(client.control({ method: 'GetNode', requestJson: '{}' }), NotFoundError);
  });

  test('answers health checks on the socket', async () => {
    assert.equal((await client.healthCheck('')).status, 'SERVING');
  });

  test('refuses to replace a regular file at the socket path', async () => {
    const stale = new TransportServer({ security: { kind: 'local' }, logger: new RecordingLogger(), shutdownGraceMs: 100 });
    const p2 = join(dir, 'other.sock');
    writeFileSync(p2, 'not a socket');
    await assert.rejects(stale.listenUnix(p2), InvalidArgumentError);
    await stale.close();
  });

  test('refuses to serve the control socket with TLS security, or TCP without it', async () => {
    const local = new TransportServer({ security: { kind: 'local' }, logger: new RecordingLogger(), shutdownGraceMs: 100 });
    await assert.rejects(local.listen('127.0.0.1:0'), InvalidArgumentError);
    await assert.rejects(local.listenUnix('relative.sock'), InvalidArgumentError);
    await local.close();
  });
});
