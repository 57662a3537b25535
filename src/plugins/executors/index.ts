/**
 * The built-in executors and the choice of a node's default one: docker when a Docker engine answers within a
 * bounded time, else process. `createExecutor` serves `swarmhost --executor docker|process|sim`.
 */
import Docker from 'dockerode';
import { InvalidArgumentError } from '../../host/api/errors.js';
import type { Executor } from '../../host/agent/executor.js';
import type { Timers } from '../../host/env/index.js';
import { DockerExecutor } from './docker/index.js';
import { ProcessExecutor } from './process/index.js';
import { SimExecutor } from './sim/index.js';

export { DockerExecutor } from './docker/index.js';
export type { DockerExecutorOptions, TaskContainer } from './docker/index.js';
export { ProcessExecutor } from './process/index.js';
export type { ProcessExecutorOptions } from './process/index.js';
export { SimEngine, SimExecutor, simBehaviour } from './sim/index.js';
export type { SimBehaviour, SimDelays, SimExecutorOptions } from './sim/index.js';

/** Names accepted by `--executor`. */
export const EXECUTOR_NAMES = ['docker', 'process', 'sim'] as const;
/** One of {@link EXECUTOR_NAMES}. */
export type ExecutorName = (typeof EXECUTOR_NAMES)[number];

/** What the built-in executors need from the node. */
export interface ExecutorEnv {
  /** Agent state dir (process executor files). */
  stateDir: string;
  nodeId: string;
  timers: Timers;
  /** Docker connection (default: DOCKER_HOST or /var/run/docker.sock). */
  docker?: Docker;
  /** Bound on the engine probe of {@link pickDefaultExecutor}, ms. Default 2000. */
  probeTimeoutMs?: number;
}

/** Builds the executor named `name`; an unknown name is an InvalidArgumentError naming `--executor`. */
export function createExecutor(name: string, env: ExecutorEnv): Executor {
  switch (name) {
    case 'docker':
      return new DockerExecutor({ nodeId: env.nodeId, ...(env.docker ? { docker: env.docker } : {}) });
    case 'process':
      return new ProcessExecutor({ stateDir: env.stateDir, timers: env.timers });
    case 'sim':
      return new SimExecutor({ timers: env.timers });
    default:
      throw new InvalidArgumentError(`--executor must be one of ${EXECUTOR_NAMES.join(', ')}, got "${name}"`);
  }
}

/** docker when an engine answers `/_ping` within `probeTimeoutMs`, else process. */
export async function pickDefaultExecutor(env: ExecutorEnv): Promise<Executor> {
  const docker = env.docker ?? new Docker();
  if (await DockerExecutor.available({ docker, timeoutMs: env.probeTimeoutMs ?? 2000 })) {
    return createExecutor('docker', { ...env, docker });
  }
  return createExecutor('process', env);
}
