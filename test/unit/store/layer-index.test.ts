import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TaskState, type Service, type StoreObject, type Task } from '../../../src/host/api/index.js';
import { SeededRng } from '../../../src/host/env/index.js';
import { LayeredSource, tablesSource } from '../../../src/host/store/transaction.js';
import { emptyTables } from '../../../src/host/store/tables.js';
import { service, task } from './fixtures.js';

const ids = (xs: readonly StoreObject[]) => xs.map((x) => x.id).sort();

describe('finds over a large uncommitted layer', () => {
  it('answer exactly like a scan of the layer while objects are added, renamed, moved and deleted', () => {
    const tables = emptyTables();
    for (let i = 0; i < 20; i++) tables.services.put(service(`s${i}`, `web${i}`));
    for (let i = 0; i < 40; i++) tables.tasks.put(task(`t${i}`, `s${i % 5}`, i, `n${i % 4}`));
    const layered = new LayeredSource(tablesSource(tables));
    const rng = new SeededRng(77);
    // Reference: the same state kept as plain maps.
    const svc = new Map([...tables.services.objects]) as Map<string, Service>;
    const tsk = new Map([...tables.tasks.objects]) as Map<string, Task>;
    for (let step = 0; step < 600; step++) {
      const r = rng.int(6);
      if (r === 0) {
        const id = `s${rng.int(60)}`;
        const o = service(id, `web${rng.int(60)}`);
        layered.set('services', id, o);
        svc.set(id, o);
      } else if (r === 1) {
        const id = `s${rng.int(60)}`;
        layered.set('services', id, null);
        svc.delete(id);
      } else if (r <= 3) {
        const id = `t${rng.int(80)}`;
        const o = { ...task(id, `s${rng.int(5)}`, rng.int(10), `n${rng.int(4)}`), desiredState: rng.next() < 0.5 ? TaskState.RUNNING : TaskState.SHUTDOWN };
        layered.set('tasks', id, o);
        tsk.set(id, o);
      } else if (r === 4) {
        const id = `t${rng.int(80)}`;
        layered.set('tasks', id, null);
        tsk.delete(id);
      }
      const name = `web${rng.int(60)}`;
      assert.deepEqual(ids(layered.find('services', { name: name.toUpperCase() })), ids([...svc.values()].filter((o) => o.spec.annotations.name === name)), `step ${step} name ${name}`);
      const node = `n${rng.int(4)}`;
      assert.deepEqual(ids(layered.find('tasks', { nodeId: node })), ids([...tsk.values()].filter((t) => t.nodeId === node)), `step ${step} node ${node}`);
      const sid = `s${rng.int(5)}`;
      const slot = rng.int(10);
      assert.deepEqual(ids(layered.find('tasks', { serviceId: sid, slot })), ids([...tsk.values()].filter((t) => t.serviceId === sid && t.slot === slot)));
      assert.deepEqual(ids(layered.find('tasks', { desiredState: TaskState.SHUTDOWN })), ids([...tsk.values()].filter((t) => t.desiredState === TaskState.SHUTDOWN)));
      assert.deepEqual(ids(layered.find('services', { namePrefix: 'WEB1' })), ids([...svc.values()].filter((o) => o.spec.annotations.name.startsWith('web1'))));
    }
  });
});
