// Benchmark: full mutual-TLS handshakes per second on loopback with P-256 node certificates versus RSA-2048
// (the baseline, measured in the same run), and node certificate issuance per second.
//
// The server runs in a worker thread (its own core), the clients in the main thread with a fixed number of
// connections in flight; every connection is a new full handshake (no session resumption: the client never
// offers a session, and the run counts any resumed, failed or non-TLS-1.3 one). The server's event-loop active time per handshake is
// its CPU cost, so 1000 / that is what one server core can sustain.
//
// Usage: npm run bench:tls [-- --quick] [-- --json]
import { Worker } from 'node:worker_threads';
import { connect, createSecureContext } from 'node:tls';
import { performance } from 'node:perf_hooks';
import { NodeRole } from '../src/host/api/index.js';
import { cryptoRng, realClock } from '../src/host/env/index.js';
import {
  DEFAULT_NODE_CERT_EXPIRY_MS,
  RootCertificateAuthority,
  createRootCA,
  generateKeyAndCsr,
  tlsClientOptions,
  tlsServerOptions,
  type KeyAlgorithm,
  type NodeTlsMaterial,
} from '../src/host/ca/index.js';

const quick = process.argv.includes('--quick');
const json = process.argv.includes('--json');
/** Measured seconds per algorithm, split over ROUNDS alternating rounds so that load drift hits both alike. */
const HANDSHAKE_SECONDS = quick ? 4 : 12;
const ROUNDS = quick ? 2 : 4;
const WARMUP_SECONDS = quick ? 0.5 : 1;
const CONCURRENCY = 8;
const ISSUE_SECONDS = quick ? 2 : 5;

const figures: Record<string, number> = {};
function report(name: string, value: number, unit: string): void {
  const v = Number(value.toFixed(value >= 100 ? 0 : 3));
  figures[name] = v;
  console.log(`${name}: ${v} ${unit}`);
}

const env = { clock: realClock, rng: cryptoRng };

function material(ca: RootCertificateAuthority, alg: KeyAlgorithm, nodeId: string, role: NodeRole): NodeTlsMaterial {
  const { keyPem, csrPem } = generateKeyAndCsr({ algorithm: alg });
  const certPem = ca.issueNodeCertificate(csrPem, { nodeId, role, clusterId: 'benchcluster', expiryMs: DEFAULT_NODE_CERT_EXPIRY_MS });
  return { certPem, keyPem, rootPem: ca.certPem };
}

// The server worker is plain JS (no TypeScript loader needed in the thread): a TLS server that requires and
// verifies client certificates, counts completed handshakes and reports its event-loop active time.
const SERVER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createServer } = require('node:tls');
const { performance } = require('node:perf_hooks');
let count = 0;
let elu0 = performance.eventLoopUtilization();
const server = createServer(workerData.options);
server.on('secureConnection', (s) => { count++; s.on('error', () => {}); s.end('k'); });
server.on('tlsClientError', () => {});
server.listen(0, '127.0.0.1', () => parentPort.postMessage({ port: server.address().port }));
parentPort.on('message', (m) => {
  if (m === 'reset') { count = 0; elu0 = performance.eventLoopUtilization(); parentPort.postMessage({ reset: true }); }
  if (m === 'report') {
    const d = performance.eventLoopUtilization(elu0);
    parentPort.postMessage({ count, activeMs: d.active });
  }
  if (m === 'stop') server.close(() => process.exit(0));
});
`;

/** Sends `msg` to the server worker and resolves with its answer. */
function request<T>(w: Worker, msg: string): Promise<T> {
  const answer = new Promise<T>((resolve) => w.once('message', resolve));
  w.postMessage(msg);
  return answer;
}

interface RoundResult {
  done: number;
  elapsedS: number;
  serverCount: number;
  serverActiveMs: number;
  anomalies: number;
  failed: number;
}

async function handshakeRound(alg: KeyAlgorithm, seconds: number): Promise<RoundResult> {
  const root = createRootCA(env, { algorithm: alg });
  const ca = new RootCertificateAuthority(root, env);
  const server = material(ca, alg, 'benchmgr', NodeRole.MANAGER);
  const client = material(ca, alg, 'benchwrk', NodeRole.WORKER);
  const options = tlsServerOptions(server, { requireClientCert: true });
  const w = new Worker(SERVER_SOURCE, {
    eval: true,
    workerData: { options: { ...options, key: server.keyPem, cert: server.certPem, ca: server.rootPem } },
  });
  const { port } = await new Promise<{ port: number }>((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
  // One SecureContext for all client connections, as a long-lived node (or grpc-js) has: building one per
  // connection re-parses the key and the trust store and would dominate the client's cost.
  const base = tlsClientOptions(client);
  const clientOpts = { secureContext: createSecureContext(base), servername: base.servername!, minVersion: base.minVersion!, host: '127.0.0.1', port };
  let done = 0;
  let anomalies = 0;
  let failed = 0;
  let stopAt = 0;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const c = connect(clientOpts);
      // In TLS 1.3 the client finishes before the server has checked the client certificate: count a handshake
      // only when the server has accepted it and said so (its one byte).
      c.once('data', () => {
        if (c.isSessionReused() || c.getProtocol() !== 'TLSv1.3') anomalies++;
        done++;
        c.destroy();
        resolve();
      });
      c.once('error', () => {
        failed++;
        c.destroy();
        resolve();
      });
    });
  const loop = async (): Promise<void> => {
    while (performance.now() < stopAt) await one();
  };
  const phase = async (seconds: number): Promise<void> => {
    stopAt = performance.now() + seconds * 1000;
    await Promise.all(Array.from({ length: CONCURRENCY }, loop));
  };
  await phase(WARMUP_SECONDS);
  await request(w, 'reset');
  done = 0; // counted by the server too; both must agree (see serverCount)
  anomalies = 0;
  failed = 0;
  const t0 = performance.now();
  await phase(seconds);
  const elapsed = (performance.now() - t0) / 1000;
  const { count, activeMs } = await request<{ count: number; activeMs: number }>(w, 'report');
  w.postMessage('stop');
  await new Promise((resolve) => w.once('exit', resolve));
  return { done, elapsedS: elapsed, serverCount: count, serverActiveMs: activeMs, anomalies, failed };
}

function issuanceRun(alg: KeyAlgorithm): number {
  const root = createRootCA(env, { algorithm: alg });
  const ca = new RootCertificateAuthority(root, env);
  // Fresh CSRs, made before timing (RSA key generation is slow and is the joining node's cost, not the CA's).
  const csrs = Array.from({ length: alg === 'p256' ? 200 : 8 }, () => generateKeyAndCsr({ algorithm: alg }).csrPem);
  let n = 0;
  const t0 = performance.now();
  const end = t0 + ISSUE_SECONDS * 1000;
  while (performance.now() < end) {
    ca.issueNodeCertificate(csrs[n % csrs.length]!, { nodeId: `node${n}`, role: NodeRole.WORKER, clusterId: 'benchcluster', expiryMs: DEFAULT_NODE_CERT_EXPIRY_MS });
    n++;
  }
  return n / ((performance.now() - t0) / 1000);
}

/** Sums rounds into handshakes per second and server ms per handshake. */
function total(rs: RoundResult[]): { perSecond: number; serverMs: number; anomalies: number } {
  const sum = (f: (r: RoundResult) => number): number => rs.reduce((a, r) => a + f(r), 0);
  return {
    perSecond: sum((r) => r.done) / sum((r) => r.elapsedS),
    serverMs: sum((r) => r.serverActiveMs) / Math.max(1, sum((r) => r.serverCount)),
    anomalies: sum((r) => r.anomalies + r.failed),
  };
}

async function main(): Promise<void> {
  console.log(`# bench-tls: ${quick ? 'quick' : 'full'} run, ${HANDSHAKE_SECONDS}s per algorithm in ${ROUNDS} alternating rounds, ${CONCURRENCY} connections in flight`);
  const pr: RoundResult[] = [];
  const rr: RoundResult[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    pr.push(await handshakeRound('p256', HANDSHAKE_SECONDS / ROUNDS));
    rr.push(await handshakeRound('rsa2048', HANDSHAKE_SECONDS / ROUNDS));
  }
  const p = total(pr);
  const r = total(rr);
  report('tls_p256_full_handshakes_per_s', p.perSecond, 'handshakes/s');
  report('tls_p256_server_cpu_per_handshake', p.serverMs, 'ms');
  report('tls_p256_server_core_capacity', 1000 / p.serverMs, 'handshakes/s');
  report('tls_rsa2048_full_handshakes_per_s', r.perSecond, 'handshakes/s');
  report('tls_rsa2048_server_cpu_per_handshake', r.serverMs, 'ms');
  report('tls_rsa2048_server_core_capacity', 1000 / r.serverMs, 'handshakes/s');
  report('tls_handshake_ratio_p256_vs_rsa2048', p.perSecond / r.perSecond, 'x');
  report('tls_server_capacity_ratio_p256_vs_rsa2048', r.serverMs / p.serverMs, 'x');
  // Should be 0: a resumed, failed or non-TLS-1.3 handshake would make the figures above mean something else.
  report('tls_resumed_failed_or_not_tls13_handshakes', p.anomalies + r.anomalies, 'count');
  const ip = issuanceRun('p256');
  report('ca_issue_p256_per_s', ip, 'certs/s');
  const ir = issuanceRun('rsa2048');
  report('ca_issue_rsa2048_per_s', ir, 'certs/s');
  report('ca_issue_ratio_p256_vs_rsa2048', ip / ir, 'x');
  if (json) console.log(JSON.stringify(figures));
}

await main();
