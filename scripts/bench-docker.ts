// Time to run N busybox containers as a replicated service: swarmhost (one node, docker executor, real
// swarmhost process) against Docker's own swarm mode on the same engine in the same run (the baseline), when
// the engine allows it (this script joins the engine to a one-node swarm for the measurement and leaves it
// afterwards if it was not in a swarm before).
//   npm run bench:docker [-- --quick] [--json] [--replicas N]
import { spawnSync } from 'node:child_process';
import Docker from 'dockerode';
import type { Service, Task } from '../src/host/api/objects.js';
import { TaskState } from '../src/host/api/objects.js';
import { DockerExecutor, LABEL_SERVICE_ID } from '../src/plugins/executors/docker/index.js';
import { NodeProc, freePort, teardown, tempDir, waitFor } from '../test/support/procs.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const json = args.includes('--json');
const ri = args.indexOf('--replicas');
const replicas = ri >= 0 ? Number(args[ri + 1]) : quick ? 10 : 50;
const IMAGE = 'swarmhost-test/busybox:latest';
const figures: Record<string, number> = {};
const report = (name: string, v: number, unit: string): void => {
  figures[name] = Number(v.toFixed(v < 10 ? 3 : 1));
  console.log(`${name}: ${figures[name]} ${unit}`);
};

const docker = new Docker();
if (!(await DockerExecutor.available({ docker, timeoutMs: 3000 }))) {
  console.error('Error: no Docker engine answers on the default socket (start dockerd, then bash scripts/ci-dockerd.sh)');
  process.exit(2);
}
const hasImage = await docker.getImage(IMAGE).inspect().then(() => true, () => false);
if (!hasImage) {
  console.error(`Error: the local image ${IMAGE} is missing: make it with bash scripts/ci-dockerd.sh`);
  process.exit(2);
}
const cmd = ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'];

async function swarmhost(): Promise<number> {
  const dir = await tempDir('bench-docker-');
  const p = new NodeProc({ name: 'bench-docker', stateDir: dir, port: await freePort(), extraArgs: ['--executor', 'docker', '-l', 'warn'] });
  p.start();
  try {
    await waitFor('swarmhost ready', 60_000, async () => ((await p.control<{ raftRole: string }>('NodeInfo').catch(() => undefined))?.raftRole === 'leader' ? true : undefined), 100);
    await waitFor('node READY', 30_000, async () => ((await p.control<{ nodes: { status: { state: number } }[] }>('ListNodes')).nodes[0]?.status.state === 2 ? true : undefined), 100);
    const t0 = performance.now();
    const { service } = await p.control<{ service: Service }>('CreateService', {
      spec: { annotations: { name: 'bench' }, task: { container: { image: IMAGE, command: cmd } }, mode: { replicated: { replicas } } },
    });
    await waitFor(`${replicas} running`, 300_000, async () => {
      const { tasks } = await p.control<{ tasks: Task[] }>('ListTasks', { filters: { serviceIds: [service.id] } });
      return tasks.filter((t) => t.status.state === TaskState.RUNNING).length === replicas ? true : undefined;
    }, 100);
    const ms = performance.now() - t0;
    await p.control('RemoveService', { serviceId: service.id });
    await waitFor('containers removed', 120_000, async () => ((await docker.listContainers({ all: true, filters: { label: [`${LABEL_SERVICE_ID}=${service.id}`] } })).length === 0 ? true : undefined), 250);
    return ms;
  } finally {
    await teardown([p], [dir]);
  }
}

function swarmMode(): number | undefined {
  const info = spawnSync('docker', ['info', '--format', '{{.Swarm.LocalNodeState}}'], { encoding: 'utf8' });
  const wasActive = info.stdout.trim() === 'active';
  if (!wasActive) {
    const init = spawnSync('docker', ['swarm', 'init', '--advertise-addr', '127.0.0.1'], { encoding: 'utf8' });
    if (init.status !== 0) {
      console.log(`docker swarm mode not available here: ${init.stderr.trim()}`);
      return undefined;
    }
  }
  try {
    const t0 = performance.now();
    const c = spawnSync('docker', ['service', 'create', '--detach', '--name', 'bench-swarm', '--replicas', String(replicas), IMAGE, ...cmd], { encoding: 'utf8' });
    if (c.status !== 0) {
      console.log(`docker service create failed: ${c.stderr.trim()}`);
      return undefined;
    }
    const deadline = Date.now() + 300_000;
    for (;;) {
      const ps = spawnSync('docker', ['service', 'ps', 'bench-swarm', '--filter', 'desired-state=running', '--format', '{{.CurrentState}}'], { encoding: 'utf8' });
      const running = ps.stdout.split('\n').filter((l) => l.startsWith('Running')).length;
      if (running === replicas) break;
      if (Date.now() > deadline) throw new Error('docker swarm mode did not run the service within 300 s');
      spawnSync('sleep', ['0.1']);
    }
    return performance.now() - t0;
  } finally {
    spawnSync('docker', ['service', 'rm', 'bench-swarm']);
    if (!wasActive) spawnSync('docker', ['swarm', 'leave', '--force']);
  }
}

console.log(`bench-docker: ${replicas} busybox containers as one replicated service, same engine, same run`);
const ours = await swarmhost();
report(`swarmhost_${replicas}_containers_running`, ours / 1000, 's');
const theirs = swarmMode();
if (theirs !== undefined) {
  report(`docker_swarm_mode_${replicas}_containers_running`, theirs / 1000, 's');
  report('swarmhost_speedup_vs_swarm_mode', theirs / ours, 'x');
}
if (json) console.log(JSON.stringify(figures));
