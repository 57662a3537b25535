/**
 * Raft snapshots between real managers: the cluster object's raft settings apply live (a small snapshot
 * interval and few entries kept for slow followers), and a manager that was down while the others compacted
 * their logs catches up from a snapshot sent over the mutual-TLS transport, then from entries again.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeProc, startThreeManagers, teardown, waitFor } from '../support/procs.js';

const procs: NodeProc[] = [];
const dirs: string[] = [];

after(async () => {
  await teardown(procs, dirs);
});

interface Info {
  commit: number;
  applied: number;
  counts: Record<string, number>;
}

const serviceSpec = (name: string): unknown => ({
  annotations: { name },
  task: { container: { image: 'process', command: ['true'] } },
  mode: { replicated: { replicas: 0 } },
});

test('a manager down while the log was compacted catches up from a snapshot sent over mTLS, then from entries', async () => {
  const { managers: [n1, n2, n3] } = await startThreeManagers(procs, dirs, (spec) => ({
    ...spec,
    raft: { ...spec.raft, snapshotInterval: 40, logEntriesForSlowFollowers: 5 },
  }));
  await n3.kill('SIGTERM');
  // 120 writes with m3 down: the live interval of 40 makes m1 and m2 snapshot and compact their logs to 5
  // entries behind each snapshot, far ahead of m3's last index.
  for (let i = 0; i < 120; i++) await n1.control('CreateService', { spec: serviceSpec(`snap-${i}`) });
  const taken = (p: NodeProc): number => p.lines.filter((l) => l.includes('raft snapshot taken')).length;
  await waitFor('m1 and m2 took snapshots', 20_000, () => (taken(n1) >= 2 && taken(n2) >= 2 ? true : undefined), 100);
  const target = (await n1.control<Info>('NodeInfo')).commit;

  n3.start();
  await n3.waitLog(/raft snapshot restored/, 60_000);
  const caughtUp = await waitFor('m3 caught up', 60_000, async () => {
    const info = await n3.control<Info>('NodeInfo').catch(() => undefined);
    return info !== undefined && info.applied >= target && info.counts['services'] === 120 ? info : undefined;
  }, 200);
  assert.equal(caughtUp.counts['services'], 120);
  // Replication goes on with entries from the snapshot's index: a new write reaches m3's own store.
  await n1.control('CreateService', { spec: serviceSpec('after-snapshot') });
  await waitFor('the next write on m3', 30_000, async () => ((await n3.control<Info>('NodeInfo')).counts['services'] === 121 ? true : undefined), 200);
  assert.equal(n3.lines.filter((l) => l.includes('raft snapshot restored')).length, 1, 'one snapshot restored');
});
