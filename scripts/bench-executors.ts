/**
 * Executor start-up costs, each with a baseline measured in the same run:
 *  - docker: prepare+start through the docker executor vs `docker run -d` through the docker CLI (same image);
 *  - process: prepare+start through the process executor vs a bare `spawn` of the same command;
 *  - sim: tasks walked to RUNNING per second through the TaskRunner vs bare sim controller calls.
 * Usage: npm run bench:executors [-- --quick] [-- --json]
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { TaskState } from '../src/host/api/objects.js';
import { RealTimers, SimTimers } from '../src/host/env/index.js';
import { TaskRunner } from '../src/host/agent/task-runner.js';
import type { Controller } from '../src/host/agent/executor.js';
import { DockerExecutor, ProcessExecutor, SimExecutor } from '../src/plugins/executors/index.js';
import { makeTask } from '../test/support/tasks.js';

const quick = process.argv.includes('--quick');
const json = process.argv.includes('--json');
const figures: Record<string, number> = {};
const run = promisify(execFile);
const IMAGE = 'swarmhost-test/busybox:latest';
const BENCH_LABEL = `swarmhost-bench-${process.pid}`;

function fig(name: string, value: number, unit: string): void {
  const v = Math.round(value * 100) / 100;
  figures[name] = v;
  console.log(`${name}: ${v} ${unit}`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

async function benchDocker(): Promise<void> {
  const docker = new Docker();
  if (!(await DockerExecutor.available({ docker, timeoutMs: 2000 }))) {
    console.error('docker: no engine answers; docker figures skipped');
    return;
  }
  const n = quick ? 3 : 10;
  const ex = new DockerExecutor({ docker, nodeId: 'bench' });
  const ours: number[] = [];
  const cli: number[] = [];
  const made: Controller[] = [];
  try {
    for (let i = 0; i < n; i++) {
      // Interleave the two so that machine noise hits both alike.
      const c = ex.controller(makeTask({ image: IMAGE, command: ['sleep', '30'], labels: { 'com.swarmhost.bench': BENCH_LABEL } }, { nodeId: 'bench' }));
      made.push(c);
      let t0 = performance.now();
      await c.prepare();
      await c.start();
      ours.push(performance.now() - t0);
      t0 = performance.now();
      await run('docker', ['run', '-d', '--label', `com.swarmhost.bench=${BENCH_LABEL}`, IMAGE, 'sleep', '30'], { timeout: 60_000 });
      cli.push(performance.now() - t0);
    }
  } finally {
    const list = await docker.listContainers({ all: true, filters: { label: [`com.swarmhost.bench=${BENCH_LABEL}`] } });
    await Promise.all(list.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
  }
  fig('docker_executor_start_median', median(ours), 'ms');
  fig('docker_cli_run_baseline_median', median(cli), 'ms');
  fig('docker_executor_vs_cli_ratio', median(ours) / median(cli), 'x');
}

async function benchProcess(): Promise<void> {
  const n = quick ? 20 : 100;
  const stateDir = await mkdtemp(join(tmpdir(), 'bench-proc-'));
  const timers = new RealTimers();
  const ex = new ProcessExecutor({ stateDir, timers });
  const ours: number[] = [];
  const bare: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const c = ex.controller(makeTask({ command: ['sleep', '30'] }));
      let t0 = performance.now();
      await c.prepare();
      await c.start();
      ours.push(performance.now() - t0);
      await c.terminate();
      t0 = performance.now();
      const child = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' });
      await new Promise((resolve, reject) => child.once('spawn', resolve).once('error', reject));
      bare.push(performance.now() - t0);
      child.kill('SIGKILL');
    }
  } finally {
    timers.clearAll();
    await rm(stateDir, { recursive: true, force: true });
  }
  fig('process_executor_start_median', median(ours), 'ms');
  fig('process_bare_spawn_baseline_median', median(bare), 'ms');
  fig('process_executor_vs_spawn_ratio', median(ours) / median(bare), 'x');
}

async function benchSim(): Promise<void> {
  const n = quick ? 5000 : 20000;
  await simRound(n, false); // warm-up (JIT), not reported
  await simRound(n, true);
}

async function simRound(n: number, report: boolean): Promise<void> {
  const tasks = Array.from({ length: n }, () => makeTask());
  // Baseline: bare controller calls.
  let timers = new SimTimers(0);
  let ex = new SimExecutor({ timers });
  let t0 = performance.now();
  for (const t of tasks) {
    const c = ex.controller(t);
    await c.prepare();
    await c.start();
  }
  const bareMs = performance.now() - t0;
  // Through the runner (state machine, status callbacks).
  timers = new SimTimers(0);
  ex = new SimExecutor({ timers });
  let running = 0;
  const runners: TaskRunner[] = [];
  t0 = performance.now();
  await new Promise<void>((resolve) => {
    for (const t of tasks) {
      const r = new TaskRunner({
        task: t,
        controller: ex.controller(t),
        timers,
        onStatus: (s) => {
          if (s.state === TaskState.RUNNING && ++running === n) resolve();
        },
      });
      runners.push(r);
      void r.run();
    }
  });
  const runnerMs = performance.now() - t0;
  for (const r of runners) r.stop();
  if (!report) return;
  fig('sim_runner_tasks_per_s', (n / runnerMs) * 1000, 'tasks/s');
  fig('sim_bare_controller_baseline_tasks_per_s', (n / bareMs) * 1000, 'tasks/s');
  fig('sim_runner_vs_bare_ratio', bareMs / runnerMs, 'x');
}

await benchDocker();
await benchProcess();
await benchSim();
if (json) console.log(JSON.stringify(figures));
