/**
 * bench:grpc — unary ProcessRaftMessage round trips per second over mutual TLS on loopback, at concurrency
 * 1, 16 and 256 with 64-byte payloads, against a baseline measured in the same run: a plain node:http2
 * server and client with the same certificates and TLS settings, doing one 64-byte POST per round trip.
 * Also: a 5 MiB raft message through StreamRaftMessage (MiB/s).
 *
 * Usage: npm run bench:grpc [-- --quick] [-- --json]
 * Prints `name: value unit` per figure; with --json, one JSON object of the same figures as the last line.
 */
import http2 from 'node:http2';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { AddressInfo } from 'node:net';
import { ServerTlsIdentity, TransportClient, TransportServer } from '../src/host/transport/index.js';
import { TestPki } from '../test/unit/transport/fixtures.js';

const quick = process.argv.includes('--quick');
const json = process.argv.includes('--json');
const RUN_MS = quick ? 1_500 : 5_000;
const WARMUP_MS = quick ? 300 : 1_000;
const CONCURRENCY = [1, 16, 256];
const PAYLOAD = randomBytes(64);
const CLUSTER = 'benchcluster';

const figures: Record<string, number> = {};
function report(name: string, value: number, unit: string): void {
  const rounded = Math.round(value * 100) / 100;
  figures[`${name}_${unit.replace(/[^a-z0-9]+/gi, '_')}`] = rounded;
  console.log(`${name}: ${rounded} ${unit}`);
}

interface RunResult {
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
}

/** Runs `concurrency` loops of `op` for runMs after a warm-up; returns throughput and latency percentiles. */
async function run(op: () => Promise<void>, concurrency: number, runMs: number): Promise<RunResult> {
  const warmEnd = performance.now() + WARMUP_MS;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < warmEnd) await op();
    }),
  );
  const lat: number[] = [];
  const start = performance.now();
  const end = start + runMs;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        await op();
        lat.push(performance.now() - t0);
      }
    }),
  );
  const elapsed = performance.now() - start;
  lat.sort((a, b) => a - b);
  const pct = (p: number): number => lat[Math.min(lat.length - 1, Math.floor((lat.length * p) / 100))] ?? 0;
  return { opsPerSec: (lat.length / elapsed) * 1000, p50Ms: pct(50), p99Ms: pct(99) };
}

async function main(): Promise<void> {
  const pki = new TestPki();
  const root = pki.root('root');
  const srv = pki.node(root, 'mgr0', 'swarm-manager', CLUSTER);
  const cli = pki.node(root, 'mgr1', 'swarm-manager', CLUSTER);

  // gRPC over mTLS with per-RPC authorization.
  let received = 0;
  const server = new TransportServer({
    security: {
      kind: 'mtls',
      identity: new ServerTlsIdentity({ rootCaPem: root.certPem, certPem: srv.certPem, keyPem: srv.keyPem }),
      clusterId: CLUSTER,
      isRemoved: () => false,
    },
    logger: { warn: (o, m) => console.error(m, o), error: (o, m) => console.error(m, o) },
    maxStreamedMessageBytes: 64 * 1024 * 1024,
  });
  server.addRaft({
    async processRaftMessage(message) {
      received += message.length;
    },
    async resolveAddress() {
      return { addr: '' };
    },
  });
  const port = await server.listen('127.0.0.1:0');
  const client = new TransportClient(`127.0.0.1:${port}`, {
    tls: { kind: 'verify', rootCaPem: root.certPem, certPem: cli.certPem, keyPem: cli.keyPem },
    raftSendTimeoutMs: 30_000,
  });

  // Baseline: node:http2 with the same certificates (client cert requested, not required).
  const h2server = http2.createSecureServer({
    ca: root.certPem,
    cert: srv.certPem,
    key: srv.keyPem,
    requestCert: true,
    rejectUnauthorized: false,
    settings: { maxConcurrentStreams: 1000 },
  });
  h2server.on('stream', (stream) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      received += Buffer.concat(chunks).length;
      stream.respond({ ':status': 200, 'content-type': 'application/octet-stream' });
      stream.end();
    });
  });
  await new Promise<void>((r) => h2server.listen(0, '127.0.0.1', r));
  const h2port = (h2server.address() as AddressInfo).port;
  const session = http2.connect(`https://127.0.0.1:${h2port}`, {
    ca: root.certPem,
    cert: cli.certPem,
    key: cli.keyPem,
    servername: 'swarm-manager',
    peerMaxConcurrentStreams: 1000,
  });
  await new Promise<void>((resolve, reject) => {
    session.once('connect', () => resolve());
    session.once('error', reject);
  });
  const h2op = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = session.request({ ':method': 'POST', ':path': '/raft', 'content-type': 'application/octet-stream' });
      req.on('response', () => undefined);
      req.on('data', () => undefined);
      req.on('end', () => resolve());
      req.on('error', reject);
      req.end(PAYLOAD);
    });
  const grpcOp = (): Promise<void> => client.processRaftMessage(PAYLOAD);

  for (const c of CONCURRENCY) {
    const g = await run(grpcOp, c, RUN_MS);
    const h = await run(h2op, c, RUN_MS);
    report(`grpc_mtls_unary_c${c}`, g.opsPerSec, 'ops/s');
    report(`grpc_mtls_unary_c${c}_p50`, g.p50Ms, 'ms');
    report(`grpc_mtls_unary_c${c}_p99`, g.p99Ms, 'ms');
    report(`http2_tls_baseline_c${c}`, h.opsPerSec, 'ops/s');
    report(`http2_tls_baseline_c${c}_p50`, h.p50Ms, 'ms');
    report(`http2_tls_baseline_c${c}_p99`, h.p99Ms, 'ms');
    report(`grpc_vs_http2_c${c}`, g.opsPerSec / h.opsPerSec, 'ratio');
  }

  // One 5 MiB snapshot through StreamRaftMessage (1 MiB chunks).
  const snap = randomBytes(5 * 1024 * 1024);
  const reps = quick ? 3 : 10;
  await client.streamRaftMessage(snap);
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) await client.streamRaftMessage(snap);
  const secs = (performance.now() - t0) / 1000;
  report('grpc_stream_5mib_snapshot', (reps * 5) / secs, 'MiB/s');

  client.close();
  session.close();
  await new Promise<void>((r) => h2server.close(() => r()));
  await server.close();
  pki.cleanup();
  if (received === 0) throw new Error('bench: no payload reached a server');
  if (json) console.log(JSON.stringify(figures));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
