/**
 * The one gate of the tests that need a Docker engine. With an engine they run. Without one they fail when `CI`
 * is set (CI installs and starts dockerd, so a missing engine there is a broken setup, never a pass) and are
 * skipped, with the reason, elsewhere: `npm test` must work on a machine with only Node.js.
 */
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import Docker from 'dockerode';
import { DockerExecutor } from '../../src/plugins/executors/docker/index.js';

/** A Docker client, whether its engine answered (3 s bound), and the gate to call first in every Docker test. */
export interface DockerGate {
  docker: Docker;
  engine: boolean;
  /** True when the test may use the engine; fails the test in CI without one, skips it elsewhere. */
  needEngine(t: TestContext): boolean;
}

/** Probes the engine on the default socket once. */
export async function dockerGate(): Promise<DockerGate> {
  const docker = new Docker();
  const engine = await DockerExecutor.available({ docker, timeoutMs: 3000 });
  return {
    docker,
    engine,
    needEngine(t: TestContext): boolean {
      if (engine) return true;
      if (process.env.CI) assert.fail('CI is set but no Docker engine answers (DOCKER_HOST, else the default socket): the Docker tests must run in CI');
      t.skip('no Docker engine answers on this machine (set CI to make this a failure)');
      return false;
    },
  };
}
