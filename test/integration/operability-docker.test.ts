/**
 * `swarmctl service logs` with the docker executor: a real Docker engine, containers of the local busybox test
 * image, their stdout and stderr read back through the node's log server. With CI set and no engine, this
 * fails (never skips).
 */
import { dockerGate } from '../support/docker.js';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { GrpcControlClient } from '../../src/host/cli/control-client.js';
import { runSwarmctl } from '../../src/host/cli/swarmctl.js';
import { LABEL_SERVICE_ID } from '../../src/plugins/executors/docker/index.js';
import { NodeProc, freePort, teardown, tempDir, waitFor } from '../support/procs.js';

const IMAGE = 'swarmhost-test/busybox:latest';
const { docker, engine, needEngine } = await dockerGate();
const procs: NodeProc[] = [];
const dirs: string[] = [];
let m1: NodeProc;
let serviceId = '';


async function swarmctl(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runSwarmctl(['-s', m1.socket, ...argv], {
    out: (s) => (out += s),
    err: (s) => (err += s),
    now: () => Date.now(),
    env: {},
    connect: (p) => new GrpcControlClient(p, 15_000),
    readStdin: async () => '',
    readFile: () => '',
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  });
  return { code, out, err };
}

before(async () => {
  if (!engine) return;
  const dir = await tempDir('swarmhost-opsdocker-');
  dirs.push(dir);
  m1 = new NodeProc({ name: 'docker-logs-1', stateDir: dir, port: await freePort(), extraArgs: ['--executor', 'docker'] });
  procs.push(m1);
  m1.start();
  await m1.waitLog(/agent started/, 30_000);
});

after(async () => {
  if (engine && serviceId !== '') {
    // The node is killed below; its containers are not (they outlive agents by design): remove them here.
    for (const c of await docker.listContainers({ all: true, filters: { label: [`${LABEL_SERVICE_ID}=${serviceId}`] } })) {
      await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
    }
  }
  await teardown(procs, dirs);
});

test('service logs reads the containers\' stdout and stderr, prefixed <service>.<slot>@<node>', async (t) => {
  if (!needEngine(t)) return;
  const created = await swarmctl([
    'service', 'create', '--name', 'dlog', '--image', IMAGE, '--replicas', '2',
    '--command', 'sh', '--command', '-c', '--command', 'echo "out line"; echo "err line" >&2; trap "exit 0" TERM; while true; do sleep 1; done',
    '--detach=false', '--timeout', '60s',
  ]);
  serviceId = created.out.split('\n')[0] ?? '';
  assert.equal(created.code, 0, created.out + created.err);
  assert.match(created.out, /verify: Service converged/);
  const r = await waitFor('4 log lines', 20_000, async () => {
    const x = await swarmctl(['service', 'logs', 'dlog']);
    return x.out.trimEnd().split('\n').length >= 4 ? x : undefined;
  }, 300);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(r.out.trimEnd().split('\n').sort(), [
    'dlog.1@docker-logs-1❯ err line',
    'dlog.1@docker-logs-1❯ out line',
    'dlog.2@docker-logs-1❯ err line',
    'dlog.2@docker-logs-1❯ out line',
  ]);
});
