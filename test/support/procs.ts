/**
 * Real swarmhost processes for integration tests: free loopback ports, spawning `bin/swarmhost.mjs` with its
 * own state dir, reading its JSON log lines, control calls over its unix socket, and clean teardown.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Cluster, ClusterSpec } from '../../src/host/api/objects.js';
import { SWARM_MAX_MESSAGE_BYTES, TransportClient } from '../../src/host/transport/index.js';

const ROOT = resolve(import.meta.dirname, '../..');
/** Log lines kept per process (the oldest are dropped). */
const MAX_LOG_LINES = 5_000;

/** A free TCP port on 127.0.0.1 (bound then released). */
export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => res(port));
    });
  });
}

/** A temporary directory removed by the returned cleanup. */
export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** Polls `fn` until it returns a non-undefined value or `timeoutMs` passes (then throws naming `what`). */
export async function waitFor<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined> | T | undefined, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? ` (last error: ${String(lastErr)})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Options of one swarmhost process. */
export interface NodeProcOptions {
  name: string;
  stateDir: string;
  port: number;
  joinAddr?: string;
  joinToken?: string;
  extraArgs?: string[];
  env?: Record<string, string>;
}

/** One swarmhost process. */
export class NodeProc {
  child: ChildProcess | undefined;
  readonly lines: string[] = [];
  exitCode: number | null | undefined = undefined;
  private exitWaiters: (() => void)[] = [];

  constructor(readonly o: NodeProcOptions) {}

  get addr(): string {
    return `127.0.0.1:${this.o.port}`;
  }

  get socket(): string {
    return join(this.o.stateDir, 'swarm.sock');
  }

  /** Starts the process (again, after a kill, from the same state dir). */
  start(): this {
    const args = [
      join(ROOT, 'bin/swarmhost.mjs'),
      '-d', this.o.stateDir,
      '--hostname', this.o.name,
      '--listen-remote-api', this.addr,
      '--listen-control-api', this.socket,
      ...(this.o.joinAddr ? ['--join-addr', this.o.joinAddr] : []),
      ...(this.o.joinToken ? ['--join-token', this.o.joinToken] : []),
      ...(this.o.extraArgs ?? []),
    ];
    this.exitCode = undefined;
    const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...this.o.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const onData = (buf: Buffer): void => {
      for (const l of buf.toString('utf8').split('\n')) if (l.trim() !== '') this.lines.push(l);
      // Bounded: a long-running process (the demo) must not grow this without limit.
      if (this.lines.length > MAX_LOG_LINES) this.lines.splice(0, this.lines.length - MAX_LOG_LINES);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code, signal) => {
      this.exitCode = code ?? (signal ? -1 : null);
      const w = this.exitWaiters;
      this.exitWaiters = [];
      for (const f of w) f();
    });
    return this;
  }

  /** Waits for a log line matching `re` (bounded). */
  async waitLog(re: RegExp, timeoutMs = 20_000): Promise<string> {
    return waitFor(`${this.o.name} log ${re}`, timeoutMs, () => {
      const l = this.lines.find((x) => re.test(x));
      if (l === undefined && this.exitCode !== undefined) {
        throw new Error(`${this.o.name} exited (${this.exitCode}) before logging ${re}:\n${this.lines.slice(-15).join('\n')}`);
      }
      return l;
    });
  }

  /** Waits until the process has exited (bounded); returns its exit code. */
  async waitExit(timeoutMs = 15_000): Promise<number | null> {
    if (this.exitCode !== undefined) return this.exitCode;
    await new Promise<void>((res, rej) => {
      const t = setTimeout(() => rej(new Error(`${this.o.name} did not exit within ${timeoutMs} ms`)), timeoutMs);
      this.exitWaiters.push(() => {
        clearTimeout(t);
        res();
      });
    });
    return this.exitCode ?? null;
  }

  /** Sends a signal and waits for the exit. */
  async kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.child === undefined || this.exitCode !== undefined) return;
    this.child.kill(signal);
    await this.waitExit();
  }

  /** One control API call over this node's unix socket. */
  async control<T = unknown>(method: string, request: unknown = {}, timeoutMs = 5_000): Promise<T> {
    const c = new TransportClient(`unix://${this.socket}`, { tls: { kind: 'none' }, callTimeoutMs: timeoutMs, maxMessageBytes: SWARM_MAX_MESSAGE_BYTES });
    try {
      const res = await c.control({ method, requestJson: JSON.stringify(request) });
      return JSON.parse(res.responseJson) as T;
    } finally {
      c.close();
    }
  }
}

/**
 * Starts a swarmhost process with a fresh state dir and a free port, recording both in `procs` and `dirs` so
 * that {@link teardown} cleans them up. `join` makes it join an existing swarm with a token.
 */
export async function startNode(
  procs: NodeProc[],
  dirs: string[],
  name: string,
  o: { join?: { addr: string; token: string }; extraArgs?: string[] } = {},
): Promise<NodeProc> {
  const dir = await tempDir(`swarmhost-${name}-`);
  dirs.push(dir);
  const p = new NodeProc({
    name,
    stateDir: dir,
    port: await freePort(),
    ...(o.extraArgs ? { extraArgs: o.extraArgs } : {}),
    ...(o.join ? { joinAddr: o.join.addr, joinToken: o.join.token } : {}),
  });
  procs.push(p);
  return p.start();
}

/**
 * Three manager processes (process executor): m1 initialises the swarm and gets its cluster spec changed by
 * `spec` (e.g. a 1 s heartbeat), m2 and m3 join with the manager token; returns once all three are Raft members
 * m1 has heard from recently and m3's control socket answers.
 */
export async function startThreeManagers(
  procs: NodeProc[],
  dirs: string[],
  spec: (s: ClusterSpec) => ClusterSpec,
): Promise<{ managers: [NodeProc, NodeProc, NodeProc]; cluster: Cluster }> {
  const n1 = await startNode(procs, dirs, 'm1', { extraArgs: ['--executor', 'process'] });
  await n1.waitLog(/agent started/, 30_000);
  const cluster = await waitFor('cluster', 10_000, async () => (await n1.control<{ clusters: Cluster[] }>('ListClusters').catch(() => undefined))?.clusters[0]);
  await n1.control('UpdateCluster', { clusterId: cluster.id, clusterVersion: cluster.meta.version, spec: spec(cluster.spec) });
  const asManager = { addr: n1.addr, token: cluster.rootCA.joinTokens.manager };
  const n2 = await startNode(procs, dirs, 'm2', { join: asManager, extraArgs: ['--executor', 'process'] });
  const n3 = await startNode(procs, dirs, 'm3', { join: asManager, extraArgs: ['--executor', 'process'] });
  type Members = { members: { reachable: boolean }[] };
  await waitFor('3 raft members, all reachable', 45_000, async () => {
    const info = await n1.control<Members>('NodeInfo');
    return info.members.length === 3 && info.members.every((m) => m.reachable) ? true : undefined;
  }, 200);
  await waitFor('m3 answers', 20_000, () => n3.control('NodeInfo').catch(() => undefined), 200);
  return { managers: [n1, n2, n3], cluster };
}

/**
 * Kills every process, then the task processes the process executor started under the state dirs (they run
 * in their own process groups and outlive their agent by design), and removes the directories.
 */
export async function teardown(procs: NodeProc[], dirs: string[]): Promise<void> {
  await Promise.all(procs.map((p) => p.kill('SIGKILL').catch(() => undefined)));
  for (const d of dirs) {
    for (const f of await findFiles(d, 'pid')) {
      try {
        const { pid } = JSON.parse(await readFile(f, 'utf8')) as { pid: number };
        if (pid > 1) process.kill(-pid, 'SIGKILL');
      } catch {
        // already gone, or not a pid file of ours
      }
    }
  }
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
}

async function findFiles(dir: string, name: string): Promise<string[]> {
  const out: string[] = [];
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await findFiles(p, name)));
    else if (e.name === name) out.push(p);
  }
  return out;
}
