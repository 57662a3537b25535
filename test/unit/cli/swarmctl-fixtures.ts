/**
 * swarmctl test harness (not a test file itself): a ControlClient that records each call and answers it from a
 * real ControlApi over a local store, with a JSON round trip as on the wire; and an io that captures output.
 */
import {
  NodeAvailability,
  NodeRole,
  RestartCondition,
  TaskState,
  UpdateState,
  type Node,
  type Service,
  type Task,
} from '../../../src/host/api/index.js';
import type { ControlClient } from '../../../src/host/cli/control-client.js';
import { runSwarmctl } from '../../../src/host/cli/swarmctl.js';
import { clusterObject, nodeObject, setup, taskObject } from '../controlapi/fixtures.js';

/** Records calls; answers through the real ControlApi. */
export class RecordingClient implements ControlClient {
  readonly calls: { method: string; request: unknown }[] = [];
  closed = 0;
  constructor(private readonly api: { call(m: string, r: unknown): Promise<unknown> }) {}
  async call(method: string, request: unknown): Promise<unknown> {
    const req = JSON.parse(JSON.stringify(request ?? {})) as unknown;
    this.calls.push({ method, request: req });
    return JSON.parse(JSON.stringify(await this.api.call(method, req))) as unknown;
  }
  close(): void {
    this.closed++;
  }
}

export const IDS = {
  cluster: '87d2ecpg12dfonxp3g562fru1',
  node1: '4spl3tyipofoa2iwqgabsdcve',
  node2: '3x12fpoi36eujbdkgdnbvbi6r',
  node3: 'dknwk1uqxhnyyujq66ho0h54t',
  node4: 'zw3rwfawdasdewfq66ho34eaw',
  redis: '08ecg7vc7cbf9k57qs722n2le',
};

export const WORKER_TOKEN = 'SWMTKN-1-3vi7ajem0jed8guusgvyl98nfg18ibg4pclify6wzac6ucrhg3-0117z3s2ytr6egmmnlr6gd37n';
export const MANAGER_TOKEN = 'SWMTKN-1-3vi7ajem0jed8guusgvyl98nfg18ibg4pclify6wzac6ucrhg3-d1ohk84br3ph0njyexw0wdagx';

/** The seed README's cluster: node-1 (leader) and node-4 managers, node-2 and node-3 workers. */
export async function seedCluster(opts: { withNode4?: boolean } = {}) {
  const env = await setup();
  const { store, raft, rng } = env;
  await store.update((tx) => {
    for (const n of ['m1', 'w1', 'w2']) tx.delete('nodes', n);
    for (const c of tx.list('clusters')) tx.delete('clusters', c.id);
    const c = clusterObject(rng);
    c.id = IDS.cluster;
    c.rootCA.joinTokens = { worker: WORKER_TOKEN, manager: MANAGER_TOKEN };
    tx.create('clusters', c);
    tx.create('nodes', nodeObject(IDS.node1, 'node-1', NodeRole.MANAGER));
    tx.create('nodes', nodeObject(IDS.node2, 'node-2'));
    tx.create('nodes', nodeObject(IDS.node3, 'node-3'));
    if (opts.withNode4 !== false) tx.create('nodes', nodeObject(IDS.node4, 'node-4', NodeRole.MANAGER));
  });
  raft.list = [{ raftId: '1', nodeId: IDS.node1, addr: '127.0.0.1:4242', reachable: true }];
  if (opts.withNode4 !== false) raft.list.push({ raftId: '2', nodeId: IDS.node4, addr: '127.0.0.1:4245', reachable: true });
  raft.leader = IDS.node1;
  const client = new RecordingClient(env.api);
  const sockets: string[] = [];
  async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const code = await runSwarmctl(argv, {
      out: (s) => (out += s),
      err: (s) => (err += s),
      now: () => env.clock.t,
      env: { SWARM_SOCKET: '/tmp/from-env.sock' },
      connect: (path) => {
        sockets.push(path);
        return client;
      },
      readStdin: async () => 'from stdin',
      readFile: (p) => `contents of ${p}`,
    });
    return { code, out, err };
  }
  return { ...env, client, run, sockets };
}

/** A redis service as in the seed README, with its tasks on the README's nodes, `ageMs` old. */
export function redisService(image: string, replicas: number): Service {
  return {
    id: IDS.redis,
    meta: { version: 0, createdAt: 0, updatedAt: 0 },
    spec: {
      annotations: { name: 'redis', labels: {} },
      task: {
        container: { image, command: [], args: [], env: [], labels: {}, hostname: '', dir: '', user: '', tty: false, stopSignal: '', stopGracePeriodMs: 10000 },
        resources: { limits: { nanoCpus: 0, memoryBytes: 0 }, reservations: { nanoCpus: 0, memoryBytes: 0 } },
        restart: { condition: RestartCondition.ANY, delayMs: 5000, maxAttempts: 0, windowMs: 0 },
        placement: { constraints: [], preferences: [], platforms: [], maxReplicas: 0 },
        forceUpdate: 0,
      },
      mode: { replicated: { replicas } },
    },
    specVersion: 0,
  };
}

/** A RUNNING task of redis in `slot` on `nodeId`, last changed at `timestampMs`. */
export function redisTask(id: string, slot: number, nodeId: string, image: string, timestampMs: number): Task {
  const t = taskObject(id, IDS.redis, slot, nodeId, TaskState.RUNNING);
  t.spec.container.image = image;
  t.serviceAnnotations = { name: 'redis', labels: {} };
  t.status.timestamp = timestampMs;
  return t;
}

export { NodeAvailability, UpdateState, type Node };
