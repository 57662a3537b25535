import { SeededRng } from '../src/host/env/index.js';
import { createLocalStore } from '../src/host/store/index.js';
import { task } from '../test/unit/store/fixtures.js';
const { store } = createLocalStore({ clock: { now: () => 1 }, rng: new SeededRng(1) });
const ids = Array.from({ length: 10000 }, (_, i) => `t${i}`);
await store.batch((b) => { for (const id of ids) b.update((tx) => void tx.create('tasks', task(id, 's', 1))); });
for (let r = 0; r < 3; r++) {
  const t0 = performance.now();
  for (let i = 0; i < 10000; i++) await store.update((tx) => void tx.update('tasks', { ...tx.get('tasks', ids[i]!)!, nodeId: 'n' + r }));
  console.log('c1 10k ms', performance.now() - t0);
}
