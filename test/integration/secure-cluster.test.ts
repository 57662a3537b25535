/**
 * Issue 3 end to end with real processes on 127.0.0.1, real mutual TLS and real disks: create a swarm, join a
 * manager and a worker with tokens, check certificates with openssl, refusals, rotation, leader failover under
 * a write load with no acknowledged write lost, and restarts that keep identity and log.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Cluster, Config, Node } from '../../src/host/api/objects.js';
import { NodeRole } from '../../src/host/api/objects.js';
import { PermissionDeniedError, UnavailableError } from '../../src/host/api/errors.js';
import { encodeMessage } from '../../src/host/raft/message-codec.js';
import { MessageType } from '../../src/host/raft/types.js';
import { TransportClient, type ClientTls } from '../../src/host/transport/index.js';
import { NodeProc, teardown, waitFor, startNode } from '../support/procs.js';

const procs: NodeProc[] = [];
const dirs: string[] = [];
let n1: NodeProc;
let n2: NodeProc;
let n3: NodeProc;
let cluster: Cluster;

function newNode(name: string, join?: { addr: string; token: string }): Promise<NodeProc> {
  return startNode(procs, dirs, name, join ? { join } : {});
}

async function getCluster(p: NodeProc): Promise<Cluster> {
  const { clusters } = await p.control<{ clusters: Cluster[] }>('ListClusters');
  assert.equal(clusters.length, 1);
  return clusters[0]!;
}

async function nodes(p: NodeProc): Promise<Node[]> {
  return (await p.control<{ nodes: Node[] }>('ListNodes')).nodes;
}

function tlsOf(dir: string, root?: string): Promise<ClientTls> {
  return (async () => ({
    kind: 'verify',
    rootCaPem: await readFile(root ?? join(dir, 'certificates/swarm-root-ca.crt')),
    certPem: await readFile(join(dir, 'certificates/swarm-node.crt')),
    keyPem: await readFile(join(dir, 'certificates/swarm-node.key')),
  }))();
}

const heartbeat = (from: string, to: string): Uint8Array =>
  encodeMessage({ type: MessageType.Heartbeat, from, to, term: 1, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, logTermHint: 0 });

before(async () => {
  n1 = await newNode('node-1');
  await n1.waitLog(/became leader/);
  cluster = await waitFor('cluster object', 10_000, async () => (await getCluster(n1).catch(() => undefined)));
  n2 = await newNode('node-2', { addr: n1.addr, token: cluster.rootCA.joinTokens.manager });
  await n2.waitLog(/node started/, 30_000);
  n3 = await newNode('node-3', { addr: n1.addr, token: cluster.rootCA.joinTokens.worker });
  await n3.waitLog(/joined the cluster/, 30_000);
});

after(async () => {
  await teardown(procs, dirs);
});

test('a created swarm has a default cluster with SwarmKit-format join tokens and never returns the CA key', async () => {
  assert.equal(cluster.spec.annotations.name, 'default');
  assert.match(cluster.rootCA.joinTokens.worker, /^SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}$/);
  assert.match(cluster.rootCA.joinTokens.manager, /^SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}$/);
  assert.equal(cluster.rootCA.joinTokens.worker.split('-')[2], cluster.rootCA.joinTokens.manager.split('-')[2]);
  assert.ok(!cluster.rootCA.caKey, 'the CA key must be redacted');
  assert.equal(cluster.spec.caConfig.nodeCertExpiryMs, 2160 * 3_600_000);
});

test('three nodes with the right roles and one leader: two managers in raft, one worker', async () => {
  const list = await waitFor('3 nodes', 10_000, async () => {
    const ns = await nodes(n1);
    return ns.length === 3 ? ns : undefined;
  });
  const managers = list.filter((n) => n.role === NodeRole.MANAGER);
  const workers = list.filter((n) => n.role === NodeRole.WORKER);
  assert.equal(managers.length, 2);
  assert.equal(workers.length, 1);
  const leaders = list.filter((n) => n.managerStatus?.leader);
  assert.equal(leaders.length, 1);
  const info1 = await n1.control<{ members: unknown[]; leaderNodeId: string }>('NodeInfo');
  const info2 = await n2.control<{ members: unknown[]; leaderNodeId: string }>('NodeInfo');
  assert.equal(info1.members.length, 2);
  assert.equal(info2.leaderNodeId, info1.leaderNodeId, 'both managers agree on the leader');
});

test('openssl verifies every node certificate against the root CA, with CN=node id, OU=role, O=cluster id', async () => {
  const all = await nodes(n1);
  for (const [p, ou] of [[n1, 'swarm-manager'], [n2, 'swarm-manager'], [n3, 'swarm-worker']] as const) {
    const cert = join(p.o.stateDir, 'certificates/swarm-node.crt');
    const out = execFileSync('openssl', ['verify', '-CAfile', join(p.o.stateDir, 'certificates/swarm-root-ca.crt'), cert]).toString();
    assert.match(out, /: OK/);
    const subject = execFileSync('openssl', ['x509', '-in', cert, '-noout', '-subject', '-nameopt', 'RFC2253']).toString();
    assert.match(subject, new RegExp(`OU=${ou}`));
    assert.match(subject, new RegExp(`O=${cluster.id}`));
    const cn = /CN=([0-9a-z]{25})/.exec(subject)![1]!;
    assert.ok(all.some((n) => n.id === cn), `CN ${cn} is a node id`);
    const mode = (await import('node:fs')).statSync(join(p.o.stateDir, 'certificates/swarm-node.key')).mode & 0o777;
    assert.equal(mode, 0o600);
  }
});

test('raft RPCs are refused without a client certificate, with a worker certificate, and with a foreign CA', async () => {
  const target = n1.addr;
  const info = await n1.control<{ raftId: string }>('NodeInfo');
  const rootOnly: Extract<ClientTls, { kind: 'verify' }> = { kind: 'verify', rootCaPem: await readFile(join(n1.o.stateDir, 'certificates/swarm-root-ca.crt')) };
  const noCert = new TransportClient(target, { tls: rootOnly });
  await assert.rejects(noCert.processRaftMessage(heartbeat('1', info.raftId)), PermissionDeniedError);
  noCert.close();
  const worker = new TransportClient(target, { tls: await tlsOf(n3.o.stateDir) });
  await assert.rejects(worker.processRaftMessage(heartbeat('1', info.raftId)), (e: unknown) => e instanceof PermissionDeniedError);
  worker.close();
  // A node of another swarm: its certificate is signed by another CA, so the TLS handshake or the check fails.
  const other = await newNode('other-1');
  await other.waitLog(/node started/);
  const otherTls = (await tlsOf(other.o.stateDir)) as Extract<ClientTls, { kind: 'verify' }>;
  const foreign = new TransportClient(target, { tls: { ...otherTls, rootCaPem: rootOnly.rootCaPem }, callTimeoutMs: 3_000 });
  await assert.rejects(foreign.processRaftMessage(heartbeat('1', info.raftId)), (e: unknown) => e instanceof PermissionDeniedError || e instanceof UnavailableError);
  foreign.close();
  // The CA's root fetch works without any certificate.
  const anon = new TransportClient(target, { tls: { kind: 'insecureSkipVerify' } });
  const root = await anon.getRootCACertificate();
  anon.close();
  assert.equal(root.certificate.toString(), (await readFile(join(n1.o.stateDir, 'certificates/swarm-root-ca.crt'))).toString());
});

test('wrong, malformed, rotated and foreign tokens are refused with a clear message and leave no node behind', async () => {
  const before = (await nodes(n1)).length;
  const tokens = cluster.rootCA.joinTokens;
  const wrong = tokens.worker.slice(0, -5) + 'zzzzz';
  const cases: [string, string, RegExp][] = [
    ['bad-1', wrong, /A valid join token is necessary to join this cluster/],
    ['bad-2', 'SWMTKN-1-abc', /invalid join token/],
  ];
  const otherCluster = await getCluster(procs.find((p) => p.o.name === 'other-1')!);
  cases.push(['bad-3', otherCluster.rootCA.joinTokens.worker, /remote CA does not match fingerprint/]);
  // Rotate the worker token: the old one stops working for new joins at once.
  const fresh = await getCluster(n1);
  await n1.control('UpdateCluster', {
    clusterId: fresh.id,
    clusterVersion: fresh.meta.version,
    spec: fresh.spec,
    rotation: { workerJoinToken: true },
  });
  const rotated = await getCluster(n1);
  assert.notEqual(rotated.rootCA.joinTokens.worker, tokens.worker);
  assert.equal(rotated.rootCA.joinTokens.manager, tokens.manager, 'only the worker token rotated');
  cases.push(['bad-4', tokens.worker, /A valid join token is necessary to join this cluster/]);
  for (const [name, token, re] of cases) {
    const p = await newNode(name, { addr: n1.addr, token });
    const code = await p.waitExit(30_000);
    assert.notEqual(code, 0, `${name} must fail`);
    assert.ok(p.lines.some((l) => re.test(l)), `${name}: expected ${re} in:\n${p.lines.slice(-5).join('\n')}`);
  }
  assert.equal((await nodes(n1)).length, before, 'refused joins leave no node object');
  // The already-joined worker is unaffected by the rotation: its certificate still works.
  const w = new TransportClient(n1.addr, { tls: await tlsOf(n3.o.stateDir) });
  await assert.rejects(w.processRaftMessage(heartbeat('1', '2')), PermissionDeniedError, 'still authenticated (refused for its role only)');
  w.close();
  cluster = rotated;
});

test('kill -9 of the leader under a write load: a new leader takes over, writes resume, no acknowledged write is lost, the old leader catches up', async () => {
  // A third manager so that two survive the leader's death.
  const n4 = await newNode('node-4', { addr: n1.addr, token: cluster.rootCA.joinTokens.manager });
  await n4.waitLog(/node started/, 30_000);
  const managers = [n1, n2, n4];
  await waitFor('3 raft members', 10_000, async () => ((await n1.control<{ members: unknown[] }>('NodeInfo')).members.length === 3 ? true : undefined));
  const leaderId = (await n1.control<{ leaderNodeId: string }>('NodeInfo')).leaderNodeId;
  const leader = (await Promise.all(managers.map(async (p) => [p, (await p.control<{ nodeId: string }>('NodeInfo')).nodeId] as const))).find(([, id]) => id === leaderId)![0];
  const others = managers.filter((p) => p !== leader);

  const acked: string[] = [];
  let n = 0;
  let stop = false;
  let killedAt = 0;
  let firstAfterKill = 0;
  const writer = async (): Promise<void> => {
    while (!stop) {
      const name = `w-${n++}`;
      const via = killedAt ? others[n % others.length]! : managers[n % managers.length]!;
      const startedAt = Date.now();
      try {
        await via.control('CreateConfig', { spec: { annotations: { name, labels: {} }, data: 'eA==' } }, 2_000);
        acked.push(name);
        // Only a write sent after the kill shows that writes resumed.
        if (killedAt && startedAt >= killedAt && !firstAfterKill) firstAfterKill = Date.now();
      } catch {
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  };
  const writers = [writer(), writer(), writer(), writer()];
  await waitFor('writes flowing', 10_000, () => (acked.length > 20 ? true : undefined));
  leader.child!.kill('SIGKILL');
  killedAt = Date.now();
  await leader.waitExit();
  await waitFor('writes resuming after the leader was killed', 15_000, () => (firstAfterKill ? true : undefined), 20);
  const resumeMs = firstAfterKill - killedAt;
  await waitFor('more writes', 10_000, () => (acked.length > 50 ? true : undefined));
  stop = true;
  await Promise.all(writers);
  console.log(`# leader killed: writes resumed after ${resumeMs} ms (${acked.length} acknowledged writes)`);

  const survivor = others[0]!;
  const names = new Set((await survivor.control<{ configs: Config[] }>('ListConfigs')).configs.map((c) => c.spec.annotations.name));
  for (const a of acked) assert.ok(names.has(a), `acknowledged write ${a} lost`);

  // The killed manager restarts from its state dir and catches up.
  leader.start();
  await leader.waitLog(/node started/, 30_000);
  const target = (await survivor.control<{ counts: { configs: number } }>('NodeInfo')).counts.configs;
  await waitFor('old leader catches up', 20_000, async () => {
    const info = await leader.control<{ counts: { configs: number } }>('NodeInfo');
    return info.counts.configs >= target ? true : undefined;
  });
});

test('a restarted manager keeps its node id, certificate and raft log', async () => {
  const before = await n2.control<{ nodeId: string; raftId: string; applied: number }>('NodeInfo');
  const cert = await readFile(join(n2.o.stateDir, 'certificates/swarm-node.crt'), 'utf8');
  await n2.kill('SIGTERM');
  assert.equal(n2.exitCode, 0, 'clean shutdown on SIGTERM');
  n2.start();
  await n2.waitLog(/node started/, 30_000);
  const afterInfo = await waitFor('n2 replayed its log', 20_000, async () => {
    const i = await n2.control<{ nodeId: string; raftId: string; applied: number }>('NodeInfo');
    return i.applied >= before.applied ? i : undefined;
  });
  assert.equal(afterInfo.nodeId, before.nodeId);
  assert.equal(afterInfo.raftId, before.raftId);
  assert.equal(await readFile(join(n2.o.stateDir, 'certificates/swarm-node.crt'), 'utf8'), cert);
  assert.equal(n2.lines.filter((l) => /joined the cluster/.test(l)).length, 1, 'the restart did not join again');
});

test('a certificate renewal installs a new key and certificate without a restart, and the manager keeps working', async () => {
  const certPath = join(n2.o.stateDir, 'certificates/swarm-node.crt');
  const before = await readFile(certPath, 'utf8');
  await waitFor('n2 knows the leader', 15_000, async () => ((await n2.control<{ leaderNodeId: string }>('NodeInfo')).leaderNodeId ? true : undefined));
  const res = await n2.control<{ serial: string }>('RenewCertificate', {}, 15_000);
  const after = await readFile(certPath, 'utf8');
  assert.notEqual(after, before);
  const out = execFileSync('openssl', ['verify', '-CAfile', join(n2.o.stateDir, 'certificates/swarm-root-ca.crt'), certPath]).toString();
  assert.match(out, /: OK/);
  const serial = execFileSync('openssl', ['x509', '-in', certPath, '-noout', '-serial']).toString().trim().split('=')[1]!.toLowerCase();
  assert.equal(serial.replace(/^0+/, ''), res.serial.replace(/^0+/, ''));
  // New connections to n2 use the new certificate; raft keeps flowing (a write through n2 commits).
  await n2.control('CreateConfig', { spec: { annotations: { name: 'after-renewal', labels: {} }, data: 'eA==' } }, 10_000);
  const names = (await n1.control<{ configs: Config[] }>('ListConfigs')).configs.map((c) => c.spec.annotations.name);
  assert.ok(names.includes('after-renewal'));
});

test('control answers larger than gRPC\'s 4 MiB default work on the socket and when forwarded to the leader', async () => {
  const data = Buffer.alloc(600_000, 'a').toString(); // 600 KB each: 8 make a 4.8 MB answer
  for (let i = 0; i < 8; i++) {
    await n1.control('CreateConfig', { spec: { annotations: { name: `big-${i}`, labels: {} }, data } }, 15_000);
  }
  await waitFor('n2 knows the leader', 15_000, async () => ((await n2.control<{ leaderNodeId: string }>('NodeInfo')).leaderNodeId ? true : undefined));
  for (const p of [n1, n2]) {
    const { configs } = await p.control<{ configs: Config[] }>('ListConfigs', {}, 15_000);
    assert.equal(configs.filter((c) => c.spec.annotations.name.startsWith('big-')).length, 8);
  }
});
