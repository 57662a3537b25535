/**
 * Golden scenario scripts (test/unit/scheduler/golden/*.txt) for spread, preferences and explanations, each run
 * against the incremental WASM node table and against the reference scheduler.
 *
 * Script lines:  add-node <id> [k=v ...]   update-node <id> [k=v ...]   remove-node <id>
 *                create-service <name> replicas=<n> [cpus=] [mem=] [constraint=...]* [pref=...]* [max-replicas=] [host-port=] [platform=arch/os]*
 *                schedule        explain <service>        fail <service> <node> <count>     stop <task>
 * Lines starting with "> " are the expected output of the command above them; "#" starts a comment.
 * Node keys: cpus, mem (GiB), state=ready|down, avail=active|pause|drain, role=worker|manager, arch, os, ip,
 *            hostname, label.<k>=v, engine.<k>=v, gpu=<count>.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import type { Node, Task } from '../../../src/host/api/objects.js';
import { NodeAvailability, NodeRole, NodeStatusState, TaskState } from '../../../src/host/api/objects.js';
import { FailureTracker } from '../../../src/host/scheduler/failures.js';
import { NodeTable } from '../../../src/host/scheduler/node-table.js';
import { ReferenceScheduler, type SchedulePassResult } from '../../../src/host/scheduler/reference.js';
import { makeNode, makeSpec, makeTask, type NodeOpts } from './fixtures.js';

const DIR = new URL('./golden/', import.meta.url);
const FILTER_NAMES = ['ok', 'not available', 'insufficient resources', 'missing plugin', 'constraints not satisfied', 'unsupported platform', 'host port in use', 'max replicas'];

function words(line: string): string[] {
  // split on spaces, keeping "quoted parts" together
  return (line.match(/(?:[^\s"]+|"[^"]*")+/g) ?? []).map((w) => w.replace(/"/g, ''));
}

function kv(ws: string[]): [string, string][] {
  return ws.map((w) => {
    const i = w.indexOf('=');
    return [w.slice(0, i), w.slice(i + 1)];
  });
}

function nodeOpts(id: string, pairs: [string, string][], base?: NodeOpts): NodeOpts {
  const o: NodeOpts = base ? { ...base, labels: { ...base.labels }, engineLabels: { ...base.engineLabels } } : { id, labels: {}, engineLabels: {} };
  for (const [k, v] of pairs) {
    if (k === 'cpus') o.nanoCpus = Number(v) * 1e9;
    else if (k === 'mem') o.memoryBytes = Number(v) * 2 ** 30;
    else if (k === 'state') o.state = v === 'down' ? NodeStatusState.DOWN : NodeStatusState.READY;
    else if (k === 'avail') o.availability = v === 'drain' ? NodeAvailability.DRAIN : v === 'pause' ? NodeAvailability.PAUSE : NodeAvailability.ACTIVE;
    else if (k === 'role') o.role = v === 'manager' ? NodeRole.MANAGER : NodeRole.WORKER;
    else if (k === 'arch') o.arch = v;
    else if (k === 'os') o.os = v;
    else if (k === 'ip') o.addr = v;
    else if (k === 'hostname') o.hostname = v;
    else if (k === 'gpu') o.generic = { gpu: Number(v) };
    else if (k.startsWith('label.')) o.labels![k.slice(6)] = v;
    else if (k.startsWith('engine.')) o.engineLabels![k.slice(7)] = v;
    else throw new Error(`golden: unknown node key ${k}`);
  }
  return o;
}

interface World {
  nodeOpts: Map<string, NodeOpts>;
  tasks: Task[];
  services: Map<string, number>;
  clock: { t: number; now(): number };
  failures: FailureTracker;
}

function run(script: string, engine: 'wasm' | 'reference'): { got: string[]; want: string[] } {
  const clock = { t: 1_000_000, now() { return this.t; } };
  const w: World = { nodeOpts: new Map(), tasks: [], services: new Map(), clock, failures: new FailureTracker(clock) };
  const table = new NodeTable({ initialCapacity: 16 });
  const nodes = (): Node[] => [...w.nodeOpts.values()].map((o) => makeNode(o));
  const sync = (id: string) => {
    if (engine !== 'wasm') return;
    const o = w.nodeOpts.get(id);
    if (!o) table.removeNode(id);
    else table.upsertNode(makeNode(o), w.tasks.filter((t) => t.nodeId === id));
  };
  const got: string[] = [];
  const want: string[] = [];
  for (const raw of script.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('> ')) {
      want.push(line.slice(2));
      continue;
    }
    const [cmd, ...args] = words(line);
    got.push(`$ ${line}`);
    want.push(`$ ${line}`);
    switch (cmd) {
      case 'add-node':
      case 'update-node': {
        const id = args[0]!;
        w.nodeOpts.set(id, nodeOpts(id, kv(args.slice(1)), cmd === 'update-node' ? w.nodeOpts.get(id) : undefined));
        sync(id);
        break;
      }
      case 'remove-node':
        w.nodeOpts.delete(args[0]!);
        sync(args[0]!);
        break;
      case 'create-service': {
        const name = args[0]!;
        const o: Parameters<typeof makeSpec>[0] = { constraints: [], preferences: [], platforms: [] };
        let replicas = 1;
        let hostPorts: number[] | undefined;
        for (const [k, v] of kv(args.slice(1))) {
          if (k === 'replicas') replicas = Number(v);
          else if (k === 'cpus') o.nanoCpus = Number(v) * 1e9;
          else if (k === 'mem') o.memoryBytes = Number(v) * 2 ** 30;
          else if (k === 'gpu') o.generic = { gpu: Number(v) };
          else if (k === 'constraint') o.constraints!.push(v);
          else if (k === 'pref') o.preferences!.push(v);
          else if (k === 'platform') o.platforms!.push({ architecture: v.split('/')[0]!, os: v.split('/')[1] ?? '' });
          else if (k === 'max-replicas') o.maxReplicas = Number(v);
          else if (k === 'host-port') hostPorts = [Number(v)];
          else throw new Error(`golden: unknown service key ${k}`);
        }
        const spec = makeSpec(o);
        const first = (w.services.get(name) ?? 0) + 1;
        w.services.set(name, first - 1 + replicas);
        for (let i = first; i < first + replicas; i++) w.tasks.push(makeTask({ id: `${name}.${i}`, serviceId: name, spec, ...(hostPorts ? { hostPorts } : {}) }));
        break;
      }
      case 'schedule': {
        const pending = w.tasks.filter((t) => t.status.state === TaskState.PENDING && t.desiredState <= TaskState.RUNNING);
        let res: SchedulePassResult;
        if (engine === 'wasm') res = table.schedulePass(pending, w.failures);
        else res = new ReferenceScheduler(nodes(), w.tasks, w.failures).schedulePass(pending);
        for (const a of res.assignments) {
          const t = w.tasks.find((x) => x.id === a.taskId)!;
          t.nodeId = a.nodeId;
          t.status = { ...t.status, state: TaskState.RUNNING, err: '' };
          got.push(`${a.taskId} -> ${a.nodeId}`);
        }
        for (const u of res.unplaceable) {
          w.tasks.find((x) => x.id === u.taskId)!.status.err = u.err;
          got.push(`${u.taskId} !! ${u.err}`);
        }
        // Followers of the store would now rewrite the rows of nodes that got tasks.
        for (const id of new Set(res.assignments.map((a) => a.nodeId))) sync(id);
        break;
      }
      case 'explain': {
        const t = w.tasks.find((x) => x.serviceId === args[0]);
        if (!t) throw new Error(`golden: no service ${args[0]}`);
        const ev = engine === 'wasm' ? table.evaluate(t, w.failures) : new ReferenceScheduler(nodes(), w.tasks, w.failures).evaluate(t);
        ev.nodeIds.forEach((id, i) => got.push(`${id}: ${FILTER_NAMES[ev.codes[i]!]}`));
        break;
      }
      case 'fail': {
        const [svc, node, count] = args as [string, string, string];
        for (let i = 0; i < Number(count); i++) w.failures.record(node, svc, 0);
        break;
      }
      case 'stop': {
        const t = w.tasks.find((x) => x.id === args[0])!;
        t.status = { ...t.status, state: TaskState.SHUTDOWN };
        t.desiredState = TaskState.SHUTDOWN;
        if (t.nodeId) sync(t.nodeId);
        break;
      }
      case 'advance-ms':
        clock.t += Number(args[0]);
        break;
      default:
        throw new Error(`golden: unknown command ${cmd}`);
    }
  }
  return { got, want };
}

for (const file of readdirSync(DIR).filter((f) => f.endsWith('.txt')).sort()) {
  for (const engine of ['wasm', 'reference'] as const) {
    test(`golden ${file} (${engine})`, () => {
      const { got, want } = run(readFileSync(new URL(file, DIR), 'utf8'), engine);
      if (process.env.GOLDEN_PRINT) console.log(got.join('\n'));
      assert.deepEqual(got, want);
    });
  }
}
