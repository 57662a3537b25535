/**
 * Codec benchmark: JSON (JSON.stringify + TextEncoder), v8.serialize and protobuf (protobufjs, reflection
 * from src/host/api/proto/store.proto) on realistic store payloads: one task-create entry, an entry of 200
 * task updates, and a snapshot of 10,000 tasks. Prints size, encode/decode MB/s (of that codec's own bytes)
 * and ops/s, with ratios against JSON measured in the same run. Each codec runs in its own child process:
 * measured in one process, whichever codec ran after the others was slowed by up to 15x by JIT state left
 * behind, which measured the order rather than the codec.
 * Usage: npm run bench:codec [-- --quick] [-- --json]
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import protobuf from 'protobufjs';
import { TaskState, type Task } from '../src/host/api/index.js';
import { SeededRng } from '../src/host/env/index.js';
import { decodeActions, decodeSnapshot, encodeActions, encodeSnapshot, newId, type EntryPayload } from '../src/host/store/index.js';

const quick = process.argv.includes('--quick');
const asJson = process.argv.includes('--json');
const minMs = quick ? 150 : 800;

function realisticTask(rng: SeededRng, serviceId: string, slot: number): Task {
  const id = newId(rng);
  return {
    id,
    meta: { version: 1000 + slot, createdAt: 1_764_000_000_000 + slot, updatedAt: 1_764_000_100_000 + slot },
    spec: {
      container: {
        image: 'registry.local/team/web-frontend:2.14.3@sha256:4f1d3c2b9a8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a392817060f5e',
        command: ['/usr/local/bin/web'],
        args: ['--port', '8080', '--log-level', 'info'],
        env: ['NODE_ENV=production', 'DB_HOST=db.internal', 'CACHE_TTL_MS=30000', `REPLICA=${slot}`],
        labels: { 'com.example.team': 'frontend', 'com.example.tier': 'web' },
        hostname: '',
        dir: '/app',
        user: 'app',
        tty: false,
        stopSignal: 'SIGTERM',
        stopGracePeriodMs: 10_000,
      },
      resources: {
        limits: { nanoCpus: 1_000_000_000, memoryBytes: 536_870_912 },
        reservations: { nanoCpus: 250_000_000, memoryBytes: 134_217_728 },
      },
      restart: { condition: 2, delayMs: 5000, maxAttempts: 0, windowMs: 0 },
      placement: { constraints: ['node.role==worker', 'node.labels.zone!=edge'], preferences: [{ spreadDescriptor: 'node.labels.zone' }], platforms: [], maxReplicas: 0 },
      forceUpdate: 0,
    },
    specVersion: 17,
    serviceId,
    slot,
    nodeId: newId(rng),
    annotations: { name: `web.${slot}.${id}`, labels: {} },
    serviceAnnotations: { name: 'web', labels: { 'com.example.team': 'frontend' } },
    status: {
      timestamp: 1_764_000_100_000 + slot,
      state: TaskState.RUNNING,
      message: 'started',
      err: '',
      container: { containerId: 'c'.repeat(64), pid: 4242 + slot, exitCode: 0 },
      appliedBy: newId(rng),
      appliedAt: 1_764_000_100_000 + slot,
    },
    desiredState: TaskState.RUNNING,
  };
}

const rng = new SeededRng(12345);
const serviceId = newId(rng);
const oneTask = realisticTask(rng, serviceId, 1);
const entry1: EntryPayload = { proposal: '0123456789abcdef.1', txs: [[{ op: 'create', table: 'tasks', object: oneTask }]] };
const entry200: EntryPayload = {
  proposal: '0123456789abcdef.2',
  txs: Array.from({ length: 200 }, (_, i) => [{ op: 'update' as const, table: 'tasks' as const, object: realisticTask(rng, serviceId, i + 1), expectedVersion: 999 }]),
};
const tasks10k = Array.from({ length: 10_000 }, (_, i) => realisticTask(rng, serviceId, i + 1));
const snapshotPayload = { index: 123_456, tables: { nodes: [], services: [], tasks: tasks10k, clusters: [], secrets: [], configs: [], networks: [] } };

const protoPath = fileURLToPath(new URL('../src/host/api/proto/store.proto', import.meta.url));
const root = protobuf.parse(readFileSync(protoPath, 'utf8'), { keepCase: false }).root;
const PbEntry = root.lookupType('swarmhost.store.Entry');
const PbSnapshot = root.lookupType('swarmhost.store.Snapshot');
const pbEntry = (e: EntryPayload) => ({ v: 1, p: e.proposal, t: e.txs.map((actions) => ({ actions })) });

interface Codec {
  name: string;
  encode(kind: Payload): Uint8Array;
  decode(kind: Payload, data: Uint8Array): unknown;
}
type Payload = 'task' | 'batch200' | 'snapshot10k';
const payloads: Record<Payload, () => unknown> = { task: () => entry1, batch200: () => entry200, snapshot10k: () => snapshotPayload };

const codecs: Codec[] = [
  {
    name: 'json',
    encode: (k) => (k === 'snapshot10k' ? encodeSnapshot(snapshotPayload) : encodeActions(payloads[k]() as EntryPayload)),
    decode: (k, d) => (k === 'snapshot10k' ? decodeSnapshot(d) : decodeActions(d)),
  },
  {
    name: 'v8',
    encode: (k) => v8.serialize(payloads[k]()),
    decode: (_k, d) => v8.deserialize(d),
  },
  {
    name: 'protobuf',
    encode: (k) =>
      k === 'snapshot10k'
        ? PbSnapshot.encode({ v: 1, index: snapshotPayload.index, tasks: tasks10k }).finish()
        : PbEntry.encode(pbEntry(payloads[k]() as EntryPayload)).finish(),
    // toObject gives plain objects like the other codecs return (message instances alone are not the same thing).
    decode: (k, d) =>
      k === 'snapshot10k' ? PbSnapshot.toObject(PbSnapshot.decode(d)) : PbEntry.toObject(PbEntry.decode(d)),
  },
];

function rate(fn: () => void): number {
  for (let i = 0; i < 3; i++) fn(); // warm-up
  let n = 0;
  const t0 = process.hrtime.bigint();
  let el = 0;
  do {
    fn();
    n++;
    el = Number(process.hrtime.bigint() - t0) / 1e6;
  } while (el < minMs);
  return (n * 1000) / el;
}

const childArg = process.argv.indexOf('--child');
if (childArg >= 0) {
  // Child: measure one codec on every payload, print one JSON object.
  const c = codecs.find((x) => x.name === process.argv[childArg + 1])!;
  const out: Record<string, number> = {};
  for (const p of Object.keys(payloads) as Payload[]) {
    const data = c.encode(p);
    // Sanity: every codec must round-trip the payload's transaction/task count.
    const back = c.decode(p, data) as { txs?: unknown[]; t?: unknown[]; tables?: { tasks: unknown[] }; tasks?: unknown[] };
    const count = back.txs?.length ?? back.t?.length ?? back.tables?.tasks.length ?? back.tasks?.length;
    if (count !== (p === 'snapshot10k' ? 10_000 : p === 'batch200' ? 200 : 1)) throw new Error(`${c.name} ${p}: bad round trip`);
    out[`${p}_bytes`] = data.length;
    out[`${p}_enc`] = rate(() => void c.encode(p));
    out[`${p}_dec`] = rate(() => void c.decode(p, data));
  }
  console.log(JSON.stringify(out));
} else {
  const figures: Record<string, number> = {};
  const lines: string[] = [];
  const put = (name: string, value: number, unit: string): void => {
    const v = Math.round(value * 100) / 100;
    figures[name] = v;
    lines.push(`${name}: ${v} ${unit}`);
  };
  const results: Record<string, Record<string, number>> = {};
  for (const c of codecs) {
    const args = [...process.execArgv, fileURLToPath(import.meta.url), '--child', c.name, ...(quick ? ['--quick'] : [])];
    const out = execFileSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 20 });
    results[c.name] = JSON.parse(out.trim().split('\n').pop()!) as Record<string, number>;
  }
  for (const p of Object.keys(payloads) as Payload[]) {
    const base = results.json!;
    for (const c of codecs) {
      const r = results[c.name]!;
      const bytes = r[`${p}_bytes`]!;
      const enc = r[`${p}_enc`]!;
      const dec = r[`${p}_dec`]!;
      put(`codec_${p}_${c.name}_bytes`, bytes, 'bytes');
      put(`codec_${p}_${c.name}_encode_ops`, enc, 'ops/s');
      put(`codec_${p}_${c.name}_decode_ops`, dec, 'ops/s');
      put(`codec_${p}_${c.name}_encode_mbps`, (enc * bytes) / 1e6, 'MB/s');
      put(`codec_${p}_${c.name}_decode_mbps`, (dec * bytes) / 1e6, 'MB/s');
      if (c.name !== 'json') {
        put(`codec_${p}_${c.name}_vs_json_size_ratio`, bytes / base[`${p}_bytes`]!, 'x');
        put(`codec_${p}_${c.name}_vs_json_encode_ratio`, enc / base[`${p}_enc`]!, 'x');
        put(`codec_${p}_${c.name}_vs_json_decode_ratio`, dec / base[`${p}_dec`]!, 'x');
      }
    }
  }
  for (const l of lines) console.log(l);
  if (asJson) console.log(JSON.stringify(figures));
}
