import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GrpcControlClient } from '../../src/host/cli/control-client.js';
import { runSwarmctl } from '../../src/host/cli/swarmctl.js';
import { controlHandlers } from '../../src/host/controlapi/index.js';
import { TransportServer } from '../../src/host/transport/index.js';
import { setup } from '../unit/controlapi/fixtures.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** Bound on one swarmctl child process (tsx start-up included), ms. */
const CHILD_TIMEOUT_MS = 30_000;

/** Runs bin/swarmctl.mjs as a child (asynchronously: the server under test lives in this process). */
function child(argv: string[], env: NodeJS.ProcessEnv): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [join(ROOT, 'bin/swarmctl.mjs'), ...argv], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`swarmctl ${argv.join(' ')}: no exit within ${CHILD_TIMEOUT_MS} ms`));
    }, CHILD_TIMEOUT_MS);
    p.on('error', reject);
    p.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

async function swarmctl(socket: string, ...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runSwarmctl(['-s', socket, ...argv], {
    out: (s) => (out += s),
    err: (s) => (err += s),
    now: () => Date.now(),
    env: {},
    connect: (p) => new GrpcControlClient(p, 5_000),
    readStdin: async () => '',
    readFile: () => '',
  });
  return { code, out, err };
}

describe('swarmctl end to end over the control socket', () => {
  let dir: string;
  let socket: string;
  let server: TransportServer;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'swarmctl-e2e-'));
    socket = join(dir, 'swarm.sock');
    const { api } = await setup();
    server = new TransportServer({ security: { kind: 'local' }, logger: { warn() {}, error() {} }, shutdownGraceMs: 200 });
    server.addControl(controlHandlers(api));
    await server.listenUnix(socket);
  });

  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('creates, lists, updates and removes a service through gRPC on the unix socket', async () => {
    const c = await swarmctl(socket, 'service', 'create', '--name', 'redis', '--image', 'redis:3.0.5', '--replicas', '2');
    assert.equal(c.err, '');
    const id = c.out.trim();
    assert.equal(id.length, 25);
    const ls = await swarmctl(socket, 'service', 'ls');
    assert.equal(ls.out, `ID                         Name   Image        Replicas\n--                         ----   -----        --------\n${id}  redis  redis:3.0.5  0/2\n`);
    assert.equal((await swarmctl(socket, 'service', 'update', 'redis', '--replicas', '6')).out, `${id}\n`);
    assert.match((await swarmctl(socket, 'service', 'ls')).out, /redis:3\.0\.5  0\/6\n$/);
    assert.deepEqual(await swarmctl(socket, 'service', 'update', 'redis', '--replicas', '6'), { code: 255, out: '', err: 'Error: no changes detected\n' });
    assert.equal((await swarmctl(socket, 'service', 'rm', 'redis')).out, `${id}\n`);
  });

  test('typed errors cross the wire with their message', async () => {
    assert.deepEqual(await swarmctl(socket, 'node', 'rm', 'node-2'), { code: 255, out: '', err: "Error: node w1 is not down and can't be removed\n" });
    assert.deepEqual(await swarmctl(socket, 'task', 'inspect', 'nope'), { code: 255, out: '', err: 'Error: task nope not found\n' });
  });

  test('the bin script runs through tsx as a real process', async () => {
    const r = await child(['node', 'ls'], { ...process.env, SWARM_SOCKET: socket });
    assert.equal(r.stderr, '');
    assert.equal(r.status, 0);
    assert.equal(
      r.stdout,
      [
        'ID  Name    Membership  Status  Availability  Manager Status',
        '--  ----    ----------  ------  ------------  --------------',
        'm1  node-1  ACCEPTED    READY   ACTIVE        REACHABLE *',
        'w1  node-2  ACCEPTED    READY   ACTIVE',
        'w2  node-3  ACCEPTED    READY   ACTIVE',
        '',
      ].join('\n'),
    );
  });

  test('a missing socket, a file that is not a socket, and a socket nobody serves are named in the error', async () => {
    const missing = join(dir, 'missing.sock');
    const r = await child(['-s', missing, 'node', 'ls'], process.env);
    assert.equal(r.status, 255);
    assert.equal(r.stderr, `Error: control socket ${missing} does not exist (set -s/--socket or SWARM_SOCKET)\n`);

    const file = join(dir, 'plain-file');
    writeFileSync(file, 'x');
    assert.equal((await swarmctl(file, 'node', 'ls')).err, `Error: ${file} is not a socket (set -s/--socket or SWARM_SOCKET)\n`);

    const dead = join(dir, 'dead.sock');
    const hangup: Server = createServer((s) => s.destroy());
    await new Promise<void>((res) => hangup.listen(dead, res));
    try {
      const d = await swarmctl(dead, 'node', 'ls');
      assert.equal(d.code, 255);
      assert.match(d.err, new RegExp(`^Error: cannot reach the control API on ${dead.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
    } finally {
      await new Promise<void>((res) => hangup.close(() => res()));
    }
  });
});
