// The main job: a local swarm on loopback — one manager and two workers, each a real swarmhost process with
// its own state dir under .demo/ — and a demo service of 3 replicas. Uses the docker executor when a Docker
// engine answers and the local image swarmhost-test/busybox:latest exists (no registry is needed), else the
// process executor. Prints what it started and how to drive it with swarmctl; Ctrl-C removes the service and
// stops the nodes.
//   npm start                (runs until Ctrl-C)
//   npm start -- --once      (starts, shows the running service, cleans up and exits: used by the tests)
import { spawnSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import Docker from 'dockerode';
import type { Cluster, Service, Task } from '../src/host/api/objects.js';
import { NodeStatusState, TaskState } from '../src/host/api/objects.js';
import { DockerExecutor } from '../src/plugins/executors/docker/index.js';
import { NodeProc, freePort, waitFor } from '../test/support/procs.js';

const ROOT = resolve(import.meta.dirname, '..');
const DEMO = join(ROOT, '.demo');
const once = process.argv.includes('--once');
const DOCKER_IMAGE = 'swarmhost-test/busybox:latest';

function swarmctl(sock: string, ...args: string[]): string {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/swarmctl.mjs'), '-s', sock, ...args], { encoding: 'utf8' });
  return (r.stdout ?? '') + (r.stderr ?? '');
}

async function pickExecutor(): Promise<{ executor: 'docker' | 'process'; image: string; command: string[] }> {
  const docker = new Docker();
  if (await DockerExecutor.available({ docker, timeoutMs: 2000 })) {
    const hasImage = await docker.getImage(DOCKER_IMAGE).inspect().then(() => true, () => false);
    if (hasImage) return { executor: 'docker', image: DOCKER_IMAGE, command: ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'] };
    console.log(`Docker engine found, but no local image ${DOCKER_IMAGE} (make it with: bash scripts/ci-dockerd.sh): using the process executor`);
  }
  return { executor: 'process', image: 'busybox', command: ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'] };
}

const nodes: NodeProc[] = [];
let stopping = false;

async function cleanup(serviceId?: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  const m = nodes[0];
  if (m && serviceId) {
    console.log('\nRemoving the demo service...');
    await m.control('RemoveService', { serviceId }).catch(() => undefined);
    await waitFor('demo tasks stopped', 30_000, async () => {
      const { tasks } = await m.control<{ tasks: Task[] }>('ListTasks', {});
      return tasks.length === 0 ? true : undefined;
    }, 250).catch(() => console.log('(some tasks were still stopping; they stop with their nodes)'));
  }
  console.log('Stopping the nodes...');
  for (const n of [...nodes].reverse()) await n.kill('SIGTERM').catch(() => undefined);
}

async function main(): Promise<void> {
  const ex = await pickExecutor();
  await rm(DEMO, { recursive: true, force: true });
  const make = async (name: string, joinTo?: { addr: string; token: string }): Promise<NodeProc> => {
    const p = new NodeProc({
      name,
      stateDir: join(DEMO, name),
      port: await freePort(),
      extraArgs: ['--executor', ex.executor, '-l', 'warn'],
      ...(joinTo ? { joinAddr: joinTo.addr, joinToken: joinTo.token } : {}),
    });
    nodes.push(p);
    return p.start();
  };
  console.log(`Starting a local swarm (executor: ${ex.executor}) in ${DEMO}`);
  const m1 = await make('node-1');
  const cluster = await waitFor('the cluster to be created', 30_000, async () => (await m1.control<{ clusters: Cluster[] }>('ListClusters').catch(() => undefined))?.clusters[0], 200);
  await make('node-2', { addr: m1.addr, token: cluster.rootCA.joinTokens.worker });
  await make('node-3', { addr: m1.addr, token: cluster.rootCA.joinTokens.worker });
  await waitFor('3 nodes READY', 60_000, async () => {
    const { nodes: ns } = await m1.control<{ nodes: { status: { state: number } }[] }>('ListNodes');
    return ns.filter((n) => n.status.state === NodeStatusState.READY).length === 3 ? true : undefined;
  }, 250);
  const { service } = await m1.control<{ service: Service }>('CreateService', {
    spec: {
      annotations: { name: 'demo' },
      task: { container: { image: ex.image, command: ex.command } },
      mode: { replicated: { replicas: 3 } },
    },
  });
  await waitFor('the demo service to run', 60_000, async () => {
    const { tasks } = await m1.control<{ tasks: Task[] }>('ListTasks', { filters: { serviceIds: [service.id] } });
    return tasks.filter((t) => t.status.state === TaskState.RUNNING).length === 3 ? true : undefined;
  }, 250);

  console.log('\n$ swarmctl node ls');
  console.log(swarmctl(m1.socket, 'node', 'ls'));
  console.log('$ swarmctl service ls');
  console.log(swarmctl(m1.socket, 'service', 'ls'));
  console.log('$ swarmctl service inspect demo');
  console.log(swarmctl(m1.socket, 'service', 'inspect', 'demo'));
  console.log('The swarm is running. In another terminal:');
  console.log(`  export SWARM_SOCKET=${m1.socket}`);
  console.log('  npx swarmctl node ls');
  console.log('  npx swarmctl service update demo --replicas 6');
  console.log(`  npx swarmctl service create --name web --image ${ex.image} --command sleep --args 600`);
  console.log('  npx swarmctl node drain node-2');
  console.log(`Join another node: npx swarmhost -d /tmp/node-4 --listen-remote-api 127.0.0.1:4250 --join-addr ${m1.addr} --join-token ${cluster.rootCA.joinTokens.worker}`);
  console.log(`Node logs (JSON lines) go to each process's stderr; state lives in ${DEMO}/node-*.`);

  if (once) {
    await cleanup(service.id);
    return;
  }
  console.log('\nPress Ctrl-C to remove the demo service and stop the swarm.');
  await new Promise<void>((res) => {
    const stop = (): void => void cleanup(service.id).then(res);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}


try {
  await main();
  process.exit(0);
} catch (e) {
  console.error(`Error: ${e instanceof Error ? e.message : String(e)}`);
  for (const n of nodes) {
    if (n.exitCode !== undefined && n.exitCode !== 0) console.error(`${n.o.name} exited ${n.exitCode}:\n${n.lines.slice(-10).join('\n')}`);
  }
  await cleanup();
  process.exit(1);
}
