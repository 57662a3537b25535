/** Builders for Task objects used by agent and executor tests. */
import { TaskState } from '../../src/host/api/objects.js';
import { taskSpec } from './objects.js';
import type { ContainerSpec, Task } from '../../src/host/api/objects.js';

let counter = 0;

/** A task assigned to `node-1`, desired RUNNING, with container fields overridable. */
export function makeTask(container: Partial<ContainerSpec> = {}, over: Partial<Task> = {}): Task {
  counter++;
  const id = over.id ?? `task${String(counter).padStart(4, '0')}${Math.random().toString(36).slice(2, 10)}`;
  return {
    id,
    meta: { version: 1, createdAt: 0, updatedAt: 0 },
    spec: (() => {
      const spec = taskSpec({ image: 'swarmhost-test/busybox:latest' });
      return { ...spec, container: { ...spec.container, ...container } };
    })(),
    specVersion: 0,
    serviceId: 'svc1',
    slot: 1,
    nodeId: 'node-1',
    annotations: { name: '', labels: {} },
    serviceAnnotations: { name: 'web', labels: {} },
    status: { timestamp: 0, state: TaskState.ASSIGNED, message: 'scheduler assigned task to node', err: '', appliedBy: '', appliedAt: 0 },
    desiredState: TaskState.RUNNING,
    ...over,
  };
}

/** Polls `cond` every `everyMs` until it is true; throws after `deadlineMs`. */
export async function eventually(cond: () => boolean | Promise<boolean>, deadlineMs = 10_000, what = 'condition', everyMs = 20): Promise<void> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
