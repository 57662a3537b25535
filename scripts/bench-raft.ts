// Raft throughput and commit latency: 3 managers in one process, real WAL files on disk with real fsync
// (and, labelled, the same without fsync). Committed proposals per second and p50/p99 commit latency at
// concurrency 1, 16 and 256 with 64-byte values. Baseline measured in the same run: one fdatasync per 64-byte
// append (what a WAL without group commit could do at best).
//   npm run bench:raft [-- --quick] [--json] [--seconds N]
import { mkdtempSync, rmSync, openSync, writeSync, fdatasyncSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RealTimers, cryptoRng, type Fs } from '../src/host/env/index.js';
import { RealFs } from '../src/host/env/fs-real.js';
import { createRaftCore } from '../src/host/raft/core.js';
import { RaftNode } from '../src/host/raft/driver.js';
import { openRaftStorage } from '../src/host/raft/raft-storage.js';
import type { Message, RaftId } from '../src/host/raft/types.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const json = args.includes('--json');
const secIdx = args.indexOf('--seconds');
const seconds = secIdx >= 0 ? Number(args[secIdx + 1]) : quick ? 2 : 10;
const figures: Record<string, number> = {};
function report(name: string, value: number, unit: string): void {
  figures[name] = Number(value.toFixed(value < 10 ? 3 : 1));
  console.log(`${name}: ${figures[name]} ${unit}`);
}

/** An Fs whose syncs do nothing: the same code path without durability, for the labelled comparison. */
function withoutSync(fs: Fs): Fs {
  return {
    ...fs,
    openAppend: async (p) => {
      const h = await fs.openAppend(p);
      return { append: (d) => h.append(d), sync: async () => {}, size: () => h.size(), close: () => h.close() };
    },
    readFile: (p) => fs.readFile(p),
    writeFile: (p, d) => fs.writeFile(p, d),
    rename: (a, b) => fs.rename(a, b),
    unlink: (p) => fs.unlink(p),
    readdir: (d) => fs.readdir(d),
    mkdirp: (d, m) => fs.mkdirp(d, m),
    syncDir: async () => {},
    truncate: (p, l) => fs.truncate(p, l),
    size: (p) => fs.size(p),
  };
}

async function startCluster(dir: string, fsync: boolean): Promise<{ nodes: RaftNode[]; timers: RealTimers }> {
  const timers = new RealTimers();
  const ids: RaftId[] = ['a1', 'b2', 'c3'];
  const nodes = new Map<RaftId, RaftNode>();
  const baseFs = new RealFs();
  const fs = fsync ? baseFs : withoutSync(baseFs);
  // In-process network: deliver on the next macrotask, like a socket read would.
  const send = (msgs: Message[]): void => {
    setImmediate(() => {
      for (const m of msgs) nodes.get(m.to)?.step(m);
    });
  };
  for (const id of ids) {
    const { storage, recovered } = await openRaftStorage(fs, join(dir, id), {}, { warn: (m) => console.warn(m) });
    const bootstrap = { ...recovered, initialVoters: ids };
    const node = new RaftNode({
      config: {
        id,
        electionTick: 10,
        heartbeatTick: 1,
        preVote: true,
        checkQuorum: true,
        maxSizePerMsgBytes: 1024 * 1024,
        maxInflightMsgs: 256,
        logEntriesForSlowFollowers: 500,
      },
      bootstrap,
      createCore: createRaftCore,
      timers,
      rng: cryptoRng,
      storage,
      stateMachine: { apply: () => undefined, snapshot: () => new Uint8Array(), restore: () => {} },
      send,
      tickMs: 100,
      snapshotInterval: 1_000_000_000,
    });
    nodes.set(id, node);
  }
  for (const n of nodes.values()) n.start();
  nodes.get('a1')!.campaign();
  const deadline = Date.now() + 5_000;
  while (![...nodes.values()].some((n) => n.isLeader)) {
    if (Date.now() > deadline) throw new Error('bench: no leader elected within 5 s');
    await new Promise((r) => setTimeout(r, 10));
  }
  return { nodes: [...nodes.values()], timers };
}

async function load(
  leader: RaftNode,
  concurrency: number,
  durationMs: number,
): Promise<{ perSec: number; p50: number; p99: number }> {
  const value = new Uint8Array(64).fill(7);
  const lat: number[] = [];
  const end = performance.now() + durationMs;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const t0 = performance.now();
      await leader.propose(value);
      lat.push(performance.now() - t0);
      done++;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  return { perSec: done / elapsed, p50: lat[Math.floor(lat.length * 0.5)]!, p99: lat[Math.floor(lat.length * 0.99)]! };
}

function baselineSyncPerAppend(dir: string, durationMs: number): number {
  const fd = openSync(join(dir, 'baseline.log'), 'a');
  const buf = Buffer.alloc(64 + 9, 7);
  const end = performance.now() + durationMs;
  let n = 0;
  const t0 = performance.now();
  while (performance.now() < end) {
    writeSync(fd, buf);
    fdatasyncSync(fd);
    n++;
  }
  closeSync(fd);
  return n / ((performance.now() - t0) / 1000);
}

const root = mkdtempSync(join(tmpdir(), 'bench-raft-'));
try {
  console.log(`bench-raft: 3 managers in one process, 64-byte values, ${seconds} s per point, WAL in ${root}`);
  const baseline = baselineSyncPerAppend(root, Math.min(seconds, 3) * 1000);
  report('baseline_fdatasync_per_append', baseline, 'writes/s');
  for (const fsync of [true, false]) {
    const label = fsync ? 'fsync' : 'nofsync';
    const dir = join(root, label);
    const { nodes, timers } = await startCluster(dir, fsync);
    const leader = nodes.find((n) => n.isLeader)!;
    for (const c of [1, 16, 256]) {
      const r = await load(leader, c, seconds * 1000);
      report(`${label}_c${c}_commits`, r.perSec, 'proposals/s');
      report(`${label}_c${c}_p50`, r.p50, 'ms');
      report(`${label}_c${c}_p99`, r.p99, 'ms');
      if (fsync) report(`${label}_c${c}_ratio_vs_baseline`, r.perSec / baseline, 'x');
    }
    for (const n of nodes) n.stop();
    timers.clearAll();
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
if (json) console.log(JSON.stringify(figures));
