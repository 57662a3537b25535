/**
 * A manager demoted while its process was down: when it comes back it must not act as a Raft member with its
 * old id; it must run on as a worker (worker certificate, no Raft log), and the managers keep working.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { NodeRole, NodeStatusState, type Node } from '../../src/host/api/objects.js';
import { NodeProc, startThreeManagers, teardown, waitFor } from '../support/procs.js';

const procs: NodeProc[] = [];
const dirs: string[] = [];

after(async () => {
  await teardown(procs, dirs);
});

interface Info {
  nodeId: string;
  role: string;
  leaderNodeId: string;
  members: { nodeId: string; reachable: boolean }[];
}

async function certOU(p: NodeProc): Promise<string> {
  const pem = await readFile(join(p.o.stateDir, 'certificates', 'swarm-node.crt'), 'utf8');
  return /OU=([^\n]+)/.exec(new X509Certificate(pem).subject)?.[1] ?? '';
}

test('a manager demoted while down comes back as a worker, out of Raft, and the cluster keeps working', async () => {
  // All three in Raft and in recent contact with m1: demoting m3 once it is down needs m1 and m2 (a quorum of
  // the rest) reachable, or the control API refuses it ("would result in a loss of quorum").
  const { managers: [n1, n2, n3] } = await startThreeManagers(procs, dirs, (spec) => ({ ...spec, dispatcher: { heartbeatPeriodMs: 1_000 } }));
  const id3 = (await waitFor('m3 answers', 20_000, () => n3.control<Info>('NodeInfo').catch(() => undefined), 200)).nodeId;
  assert.equal(await certOU(n3), 'swarm-manager');

  await n3.kill('SIGTERM');
  await waitFor('m3 demoted', 20_000, async () => {
    const node3 = (await n1.control<{ nodes: Node[] }>('ListNodes')).nodes.find((n) => n.id === id3)!;
    try {
      await n1.control('UpdateNode', { nodeId: id3, nodeVersion: node3.meta.version, spec: { ...node3.spec, desiredRole: NodeRole.WORKER } });
      return true;
    } catch (e) {
      if (/loss of quorum/.test(String(e))) return undefined; // m2 not seen recently yet: try again
      throw e;
    }
  }, 200);
  await waitFor('m3 out of raft', 30_000, async () => {
    await waitFor('m3 control socket closed', 20_000, async () => ((await n3.control('NodeInfo').then(() => false, () => true)) ? true : undefined), 200);
  const info = await n1.control<Info>('NodeInfo');
    return info.members.length === 2 && !info.members.some((m) => m.nodeId === id3) ? true : undefined;
  }, 200);

  n3.start();
  await waitFor('m3 READY as a worker', 60_000, async () => {
    const n = (await n1.control<{ nodes: Node[] }>('ListNodes')).nodes.find((x) => x.id === id3);
    return n && n.role === NodeRole.WORKER && n.status.state === NodeStatusState.READY ? true : undefined;
  }, 200);
  await waitFor('m3 worker certificate', 30_000, async () => ((await certOU(n3)) === 'swarm-worker' ? true : undefined), 200).catch((e: unknown) => {
    console.log(n3.lines.slice(-40).join('\n')); // what m3 did instead
    throw e;
  });
  await waitFor('m3 has no raft log', 30_000, async () => ((await stat(join(n3.o.stateDir, 'raft')).then(() => false, () => true)) ? true : undefined), 200);
  await waitFor('m3 control socket closed', 20_000, async () => ((await n3.control('NodeInfo').then(() => false, () => true)) ? true : undefined), 200);
  const info = await n1.control<Info>('NodeInfo');
  assert.deepEqual(info.members.map((m) => m.nodeId).sort(), [info.nodeId, (await n2.control<Info>('NodeInfo')).nodeId].sort());
  assert.equal(n3.exitCode, undefined, 'm3 keeps running');
  // The two managers still commit writes.
  await n2.control('CreateConfig', { spec: { annotations: { name: 'after-m3', labels: {} }, data: Buffer.from('x').toString('base64') } });
});
