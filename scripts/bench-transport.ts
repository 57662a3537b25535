// Raft-replicated store writes through real swarmhost processes: three managers on loopback (mutual TLS
// gRPC between them, real WAL with fsync), writes = control-API CreateConfig calls with 64-byte values sent
// to the leader's control socket at concurrency 1, 16 and 256 over the multiplexed control stream; writes/s
// and p50/p99 latency. Baselines in the same run: NodeInfo calls on the same socket (a control round trip
// that writes nothing), as unary gRPC calls (one Control/Call each) and over the control stream, which bound
// what the socket path alone allows. Last point: writes at concurrency 256 on a follower's socket (each
// forwarded to the leader).
//   npm run bench:transport [-- --quick] [--json] [--seconds N]
import { TransportClient } from '../src/host/transport/index.js';
import { NodeProc, freePort, teardown, tempDir, waitFor } from '../test/support/procs.js';
import type { Cluster } from '../src/host/api/objects.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const json = args.includes('--json');
const si = args.indexOf('--seconds');
const seconds = si >= 0 ? Number(args[si + 1]) : quick ? 3 : 10;
const figures: Record<string, number> = {};
const report = (name: string, v: number, unit: string): void => {
  figures[name] = Number(v.toFixed(v < 10 ? 3 : 1));
  console.log(`${name}: ${figures[name]} ${unit}`);
};

const procs: NodeProc[] = [];
const dirs: string[] = [];
async function node(name: string, join?: { addr: string; token: string }): Promise<NodeProc> {
  const dir = await tempDir(`bench-${name}-`);
  dirs.push(dir);
  const p = new NodeProc({ name, stateDir: dir, port: await freePort(), extraArgs: ['-l', 'warn'], ...(join ? { joinAddr: join.addr, joinToken: join.token } : {}) });
  procs.push(p);
  return p.start();
}

async function load(
  sock: string,
  concurrency: number,
  ms: number,
  write: boolean,
  controlTransport: 'stream' | 'unary' = 'stream',
  tag = 'c',
): Promise<{ perSec: number; p50: number; p99: number }> {
  const c = new TransportClient(`unix://${sock}`, { tls: { kind: 'none' }, callTimeoutMs: 30_000, controlTransport });
  const data = Buffer.alloc(48, 7).toString('base64'); // 64 bytes of base64
  const lat: number[] = [];
  let n = 0;
  const end = performance.now() + ms;
  const worker = async (w: number): Promise<void> => {
    for (let i = 0; performance.now() < end; i++) {
      const t0 = performance.now();
      if (write) {
        await c.control({ method: 'CreateConfig', requestJson: JSON.stringify({ spec: { annotations: { name: `${tag}${concurrency}-${w}-${i}`, labels: {} }, data } }) });
      } else {
        await c.control({ method: 'NodeInfo', requestJson: '{}' });
      }
      lat.push(performance.now() - t0);
      n++;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  const el = (performance.now() - t0) / 1000;
  c.close();
  lat.sort((a, b) => a - b);
  return { perSec: n / el, p50: lat[Math.floor(lat.length / 2)]!, p99: lat[Math.floor(lat.length * 0.99)]! };
}

try {
  const n1 = await node('m1');
  await waitFor('m1 leader', 20_000, async () => ((await n1.control<{ raftRole: string }>('NodeInfo').catch(() => undefined))?.raftRole === 'leader' ? true : undefined));
  const cluster = await waitFor('cluster', 10_000, async () => (await n1.control<{ clusters: Cluster[] }>('ListClusters').catch(() => undefined))?.clusters[0]);
  const n2 = await node('m2', { addr: n1.addr, token: cluster.rootCA.joinTokens.manager });
  await node('m3', { addr: n1.addr, token: cluster.rootCA.joinTokens.manager });
  await waitFor('3 members', 30_000, async () => ((await n1.control<{ members: unknown[] }>('NodeInfo')).members.length === 3 ? true : undefined));
  console.log(`bench-transport: 3 swarmhost managers on loopback, fsync on, 64-byte values, ${seconds} s per point`);
  const baseMs = Math.min(seconds, 3) * 1000;
  const unary = await load(n1.socket, 16, baseMs, false, 'unary');
  report('baseline_control_roundtrip_c16', unary.perSec, 'calls/s');
  report('baseline_stream_roundtrip_c16', (await load(n1.socket, 16, baseMs, false)).perSec, 'calls/s');
  const base = await load(n1.socket, 256, baseMs, false);
  report('baseline_stream_roundtrip_c256', base.perSec, 'calls/s');
  report('baseline_stream_vs_unary_c256_ratio', base.perSec / (await load(n1.socket, 256, baseMs, false, 'unary')).perSec, 'x');
  for (const c of [1, 16, 256]) {
    const r = await load(n1.socket, c, seconds * 1000, true);
    report(`writes_c${c}`, r.perSec, 'writes/s');
    report(`writes_c${c}_p50`, r.p50, 'ms');
    report(`writes_c${c}_p99`, r.p99, 'ms');
    report(`writes_c${c}_ratio_vs_stream_baseline_c256`, r.perSec / base.perSec, 'x');
  }
  // A follower's socket: every write is forwarded to the leader (over the follower's control stream to it).
  const f = await load(n2.socket, 256, seconds * 1000, true, 'stream', 'f');
  report('writes_via_follower_c256', f.perSec, 'writes/s');
  report('writes_via_follower_c256_p50', f.p50, 'ms');
  report('writes_via_follower_c256_p99', f.p99, 'ms');
} finally {
  await teardown(procs, dirs);
}
if (json) console.log(JSON.stringify(figures));
